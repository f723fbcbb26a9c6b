"""The one module that imports SkyPilot: validate a task, submit it as a managed job,
stream its logs, wait, cancel.

Errors become llmops-ci errors: SkyPilot's own schema errors (with its
did-you-mean) name the llmops.yaml key they came from (exit 2); a missing
cloud or an unreachable API server is an outside failure (exit 3).
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import io
import os
import re
import signal
import sys

from llmops_ci.errors import BadInput, ExternalFailure
from llmops_ci.secrets import redact

KEY = "training.skypilot"
# Used only when SkyPilot's accelerator catalog cannot be fetched (no network):
# the accelerators SkyPilot's catalogs list most often. With the catalog
# reachable, SkyPilot itself decides.
KNOWN_ACCELERATORS = (
    "A10", "A10G", "A100", "A100-80GB", "A100-80GB-SXM", "A40", "A6000", "B100", "B200", "GB200", "H100",
    "H100-MEGA", "H100-SXM", "H200", "K80", "L4", "L40", "L40S", "M60", "MI300X", "MI325X", "P100", "P4",
    "P40", "RTX3060", "RTX3090", "RTX4000", "RTX4090", "RTX5090", "RTX6000", "RTXA4000", "RTXA5000",
    "RTXA6000", "T4", "T4g", "V100", "V100-32GB", "Gaudi", "Gaudi2", "Inferentia", "Inferentia2",
    "Trainium", "Trainium2",
)
TERMINAL = ("SUCCEEDED", "FAILED", "FAILED_SETUP", "FAILED_PRECHECKS", "FAILED_NO_RESOURCE",
            "FAILED_CONTROLLER", "CANCELLED")


def _sky():
    os.environ.setdefault("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
    import sky

    return sky


def _key_for(message: str) -> str:
    m = re.search(r"\$\.([A-Za-z0-9_.\[\]]+)", message)
    if m:
        return f"{KEY}.resources.{m.group(1)}"
    m = re.search(r"Instead of '([^']+)'", message)
    if m and "resources" in message.lower():
        return f"{KEY}.resources.{m.group(1)}"
    if "job_recovery" in message:
        return f"{KEY}.job_recovery"
    return f"{KEY}"


def _parse_accelerators(value) -> dict[str, float]:
    if isinstance(value, dict):
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(value, list):
        out = {}
        for item in value:
            out.update(_parse_accelerators(item))
        return out
    name, _, count = str(value).partition(":")
    return {name: float(count or 1)}


def _check_accelerators(resources: dict, display: str) -> None:
    """Unknown accelerator names are refused before any job is submitted."""
    accelerators = resources.get("accelerators")
    if not accelerators:
        return
    for name in _parse_accelerators(accelerators):
        if name.lower().startswith("tpu-"):
            continue
        canonical = _canonical(name)
        if canonical is None:
            close = difflib.get_close_matches(name.upper(), [a.upper() for a in KNOWN_ACCELERATORS], n=1, cutoff=0.5)
            hint = ""
            if close:
                real = next(a for a in KNOWN_ACCELERATORS if a.upper() == close[0])
                hint = f"; did you mean `{real}`?"
            raise BadInput(f"{display}: {KEY}.resources.accelerators: unknown accelerator {name!r}{hint} "
                           "(`sky show-gpus` lists them)")


def _canonical(name: str) -> str | None:
    """SkyPilot's canonical name for an accelerator, or None when unknown."""
    from sky.utils import accelerator_registry

    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return accelerator_registry.canonicalize_accelerator_name(name, None)
    except ValueError:
        return None
    except Exception:  # the catalog could not be fetched (offline): use the shipped list
        for known in KNOWN_ACCELERATORS:
            if known.lower() == name.lower():
                return known
        return None


def build(task: dict, display: str, secrets: dict[str, str] | None = None):
    """A validated ``sky.Task`` from the task dict; SkyPilot's errors name the llmops.yaml key."""
    sky = _sky()
    from sky import exceptions

    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):
            # from_yaml_config consumes the dict it is given: hand it a copy.
            sky_task = sky.Task.from_yaml_config(copy.deepcopy(task), secrets_overrides=list((secrets or {}).items()) or None)
    except (exceptions.InvalidSkyPilotConfigError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = re.sub(r"\x1b\[[0-9;]*m", "", message)
        raise BadInput(f"{display}: {_key_for(message)}: SkyPilot refused the task: {message}") from None
    _check_accelerators(task.get("resources", {}), display)
    return sky_task


def round_trip(task: dict, display: str) -> dict:
    """SkyPilot's own serialisation of the task (what `sky jobs launch` would read back)."""
    return build(task, display).to_yaml_config()


def _secrets_from_env(task: dict) -> dict[str, str]:
    missing = [name for name in task.get("secrets", {}) if name not in os.environ]
    if missing:
        raise BadInput(f"{KEY}.secrets: {', '.join(missing)} not set in the environment (set them as CI secrets)")
    return {name: os.environ[name] for name in task.get("secrets", {})}


def _no_cloud(exc) -> ExternalFailure:
    return ExternalFailure("no cloud is enabled for SkyPilot: run `sky check` to see which clouds are configured, "
                           f"then set up credentials for one ({redact(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__})")


def launch(task: dict, display: str, detach: bool, log=print) -> dict:
    """Submit as a managed job; unless ``detach``, stream logs and wait for the end.

    Returns ``{"job_id": int, "status": str}``. A SIGTERM while waiting (the CI
    job was cancelled) cancels the managed job before exiting.
    """
    sky = _sky()
    from sky import exceptions

    sky_task = build(task, display, _secrets_from_env(task))
    try:
        request = sky.jobs.launch(sky_task, name=task["name"])
        job_ids, _handle = sky.stream_and_get(request)
    except exceptions.NoCloudAccessError as exc:
        raise _no_cloud(exc) from None
    except exceptions.ApiServerConnectionError as exc:
        raise ExternalFailure(f"SkyPilot API server cannot be reached: {redact(str(exc))}") from None
    except Exception as exc:
        # Any other SkyPilot error (catalog unreachable, quota, no resources) is an outside failure.
        if not type(exc).__module__.startswith("sky"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExternalFailure(f"SkyPilot could not launch the job: {type(exc).__name__}: {redact(first)[:300]}") from None
    job_id = int(job_ids[0]) if job_ids else None
    if job_id is None:
        raise ExternalFailure("SkyPilot accepted the job but returned no job id")
    log(f"submitted SkyPilot managed job {job_id} ({task['name']})")
    if detach:
        return {"job_id": job_id, "status": "SUBMITTED"}
    return {"job_id": job_id, "status": wait(job_id, log=log)}


def status(job_id: int) -> str:
    sky = _sky()
    records = sky.get(sky.jobs.queue(refresh=True, job_ids=[job_id]))
    if isinstance(records, tuple):
        records = records[0]
    for rec in records:
        rid = rec.get("job_id") if isinstance(rec, dict) else getattr(rec, "job_id", None)
        if rid == job_id:
            st = rec.get("status") if isinstance(rec, dict) else getattr(rec, "status", None)
            return getattr(st, "value", str(st))
    raise BadInput(f"no SkyPilot managed job {job_id}")


def cancel(job_id: int) -> None:
    sky = _sky()
    sky.get(sky.jobs.cancel(job_ids=[job_id]))


def wait(job_id: int, log=print) -> str:
    """Stream the job's logs until it ends; cancel it if this process is terminated."""
    sky = _sky()

    def on_term(signum, frame):
        log(f"cancelled: cancelling SkyPilot managed job {job_id}")
        cancel(job_id)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        sky.jobs.tail_logs(job_id=job_id, follow=True, output_stream=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return status(job_id)
