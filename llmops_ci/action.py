"""The program behind ``action.yml`` and ``actions/*/action.yml``: install llmops-ci, run one
stage in a GitHub Actions job, and speak the runner's language — step outputs, the job summary,
``::error`` annotations on the file and line.

The action YAML passes every input as an environment variable (``LLMOPS_*``), never into the
shell's text, so an input cannot inject commands. Free-form ``args`` are split with ``shlex``
and handed to the CLI as a list: no shell sees them either.

    python llmops_ci/action.py install   # stdlib only: runs before llmops-ci is installed
    python -m llmops_ci.action run
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

COMMANDS = ("validate", "finetune", "evaluate", "register", "promote", "rollback", "report")
# What each stage needs beyond the light core (the `extras` input overrides it).
# evaluate publishes its checks and promote/rollback record deployments on GitHub: github3.py.
DEFAULT_EXTRAS = {"validate": "", "finetune": "train", "evaluate": "eval,github", "register": "", "promote": "github",
                  "rollback": "github", "report": "github"}
# Stage inputs of actions/<stage>/action.yml -> CLI flags. A list value repeats the flag per word.
STAGE_FLAGS = {
    "finetune": {"backend": "--backend"},
    "evaluate": {"model": "--model", "suites": ["--suite"], "baseline": "--baseline", "report-dir": "--report-dir",
                 "backend": "--backend"},
    "register": {"model": "--model"},
    "promote": {"to": "--to", "version": "--version"},
    "rollback": {"env": "--env", "to": "--to"},
}
SWITCHES = {"finetune": {"detach": "--detach"}}


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _input(name: str) -> str:
    return _env("LLMOPS_INPUT_" + name.upper().replace("-", "_"))


def fail(message: str, code: int = 2) -> int:
    print(f"::error title=llmops-ci::{escape_data(message)}")
    return code


# -- workflow commands (https://docs.github.com/actions/reference/workflow-commands) -------------

def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(message: str, file: str | None = None, line: int | None = None, title: str = "llmops-ci") -> str:
    props = [f"title={escape_property(title)}"]
    if file:
        props.insert(0, f"file={escape_property(file)}")
        if line:
            props.insert(1, f"line={line}")
    return f"::error {','.join(props)}::{escape_data(message)}"


def write_outputs(outputs: dict[str, str]) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    lines = [f"{k}={str(v).replace(chr(10), ' ')}" for k, v in outputs.items()]
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))
    else:  # outside Actions: show them
        for line in lines:
            print(f"output {line}")


def append_summary(markdown: str) -> None:
    # Imported here: `action.py install` runs before llmops-ci is installed, with the stdlib only.
    from llmops_ci.scm.base import append_job_summary

    append_job_summary(markdown)


# -- install ---------------------------------------------------------------------------------------

def install() -> int:
    """pip-install llmops-ci from the action's own folder with the extras the stage needs."""
    command = _env("LLMOPS_COMMAND")
    if command not in COMMANDS:
        return fail(f"input command: expected one of {', '.join(COMMANDS)}, got {command!r}")
    extras = _env("LLMOPS_EXTRAS") or DEFAULT_EXTRAS[command]
    extras = ",".join(e.strip() for e in extras.replace(" ", ",").split(",") if e.strip())
    source = Path(_env("LLMOPS_ACTION_PATH") or Path(__file__).resolve().parent.parent)
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
    index = _env("LLMOPS_TORCH_INDEX_URL")
    if index and any(e in ("train", "eval", "all") for e in extras.split(",")):
        print(f"installing torch from {index}", flush=True)
        if subprocess.run([*pip, "--index-url", index, "torch"]).returncode != 0:
            return fail(f"pip could not install torch from {index} (input torch-index-url)", 3)
    target = f"{source}[{extras}]" if extras else str(source)
    print(f"installing llmops-ci from {target}", flush=True)
    if subprocess.run([*pip, target]).returncode != 0:
        return fail(f"pip could not install llmops-ci from {target}", 3)
    return 0


# -- run -------------------------------------------------------------------------------------------

def stage_args(command: str) -> list[str]:
    out: list[str] = []
    for name, flag in STAGE_FLAGS.get(command, {}).items():
        value = _input(name)
        if not value:
            continue
        if isinstance(flag, list):
            for word in value.replace(",", " ").split():
                out += [flag[0], word]
        else:
            out += [flag, value]
    for name, flag in SWITCHES.get(command, {}).items():
        if _input(name).lower() == "true":
            out.append(flag)
    return out


def run() -> int:
    command = _env("LLMOPS_COMMAND")
    if command not in COMMANDS:
        return fail(f"input command: expected one of {', '.join(COMMANDS)}, got {command!r}")
    config = _env("LLMOPS_CONFIG", "llmops.yaml") or "llmops.yaml"
    try:
        extra = shlex.split(_env("LLMOPS_ARGS"))
    except ValueError as exc:
        return fail(f"input args: cannot split {_env('LLMOPS_ARGS')!r} like a shell would ({exc})")
    env = dict(os.environ)
    if _env("LLMOPS_TRACKING_URI"):
        env["MLFLOW_TRACKING_URI"] = _env("LLMOPS_TRACKING_URI")
    if _env("LLMOPS_GITHUB_TOKEN"):
        env.setdefault("GITHUB_TOKEN", _env("LLMOPS_GITHUB_TOKEN"))
    with tempfile.TemporaryDirectory() as tmp:
        error_file = Path(tmp) / "error.json"
        env["LLMOPS_ERROR_FILE"] = str(error_file)
        argv = [sys.executable, "-m", "llmops_ci", command, "--config", config, "--format", "json",
                *stage_args(command), *extra]
        print(f"llmops-ci {' '.join(shlex.quote(a) for a in argv[3:])}", flush=True)
        proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, text=True)  # stderr streams to the log
        error = json.loads(error_file.read_text()) if error_file.is_file() else None
    try:
        result = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        result = {}
        print(proc.stdout)
    if error is None and result.get("problems"):  # validate reports its problems in its JSON
        error = {"exit_code": proc.returncode, "problems": result["problems"],
                 "lines": [": ".join(x for x in (p.get("file"), p.get("key"), p["message"]) if x)
                           for p in result["problems"]]}
    code = proc.returncode
    outputs = collect_outputs(command, config, code, result)
    if command == "evaluate" and _input("publish").lower() != "false" and outputs.get("summary-path"):
        # Checks per domain and the pull request comment; also when the gates failed (exit 1).
        published = publish_report(config, str(Path(outputs["summary-path"]).parent), env)
        if published and code == 0:
            code = published["exit_code"]
            outputs["exit-code"] = str(code)
            error = error or published
        elif published:
            for line in annotations(published):
                print(line)
    write_outputs(outputs)
    summarize(command, code, outputs, error)
    if command == "register" and code == 0 and outputs["model-version"]:
        # The new version's model card joins the pull request's report.
        card = subprocess.run([sys.executable, "-m", "llmops_ci", "registry", "card", "--config", config, "--version",
                               outputs["model-version"]], env=env, stdout=subprocess.PIPE, text=True)
        if card.returncode == 0:
            append_summary(card.stdout)
    if error:
        for line in annotations(error):
            print(line)
    return code


def publish_report(config: str, report_dir: str, env: dict) -> dict | None:
    """``llmops-ci report`` after evaluate; None when it worked, else its error (as the CLI wrote it).
    The job summary is left to this program, which writes it once for evaluate."""
    env = {k: v for k, v in env.items() if k != "GITHUB_STEP_SUMMARY"}
    with tempfile.TemporaryDirectory() as tmp:
        error_file = Path(tmp) / "error.json"
        env["LLMOPS_ERROR_FILE"] = str(error_file)
        argv = [sys.executable, "-m", "llmops_ci", "report", "--config", config, "--report-dir", report_dir]
        print(f"llmops-ci {' '.join(shlex.quote(a) for a in argv[3:])}", flush=True)
        proc = subprocess.run(argv, env=env)
        if proc.returncode == 0:
            return None
        if error_file.is_file():
            return json.loads(error_file.read_text())
        return {"exit_code": proc.returncode, "lines": [f"llmops-ci report exited {proc.returncode}"]}


def _config_root(config: str) -> Path:
    return Path(config).resolve().parent


def collect_outputs(command: str, config: str, code: int, result: dict) -> dict[str, str]:
    root = _config_root(config)
    record = Path(os.environ.get("LLMOPS_RUN_RECORD") or root / ".llmops" / "run.json")
    out = {"exit-code": str(code), "verdict": "", "model-version": "", "report-path": "",
           "run-record": str(record) if record.is_file() else ""}
    if command == "validate":
        out["verdict"] = "valid" if code == 0 else "invalid"
    elif command == "evaluate":
        report_dir = Path(_input("report-dir") or root / ".llmops" / "report")
        results = result
        if not results and (report_dir / "results.json").is_file():  # exit 1 prints no JSON: read the report
            results = json.loads((report_dir / "results.json").read_text())
        out["verdict"] = results.get("verdict", "") or ("ERROR" if code else "")
        out["model-version"] = str((results.get("model") or {}).get("version") or "")
        html = (results.get("report") or {}).get("html") or report_dir / "report.html"
        out["report-path"] = str(html) if Path(html).is_file() else ""
        out["summary-path"] = str(report_dir / "summary.md") if (report_dir / "summary.md").is_file() else ""
    elif command == "register":
        out["model-version"] = str(result.get("version", ""))
        out["verdict"] = "registered" if code == 0 else "error"
    elif command in ("promote", "rollback"):
        out["model-version"] = str(result.get("version", ""))
        out["verdict"] = {0: ("done" if result.get("changed") else "unchanged"), 1: "refused"}.get(code, "error")
    elif command == "report":
        out["verdict"] = "published" if code == 0 else "error"
    elif command == "finetune":
        out["verdict"] = (result.get("status") or ("succeeded" if code == 0 else "failed")).lower()
        out["model-path"] = str(result.get("model_uri") or result.get("model_dir") or "")
    return out


def summarize(command: str, code: int, outputs: dict[str, str], error: dict | None) -> None:
    if command == "evaluate" and outputs.get("summary-path"):
        append_summary(Path(outputs["summary-path"]).read_text())
        return
    lines = [f"### llmops-ci {command}: {outputs.get('verdict') or ('ok' if code == 0 else 'failed')}", ""]
    if outputs.get("model-version"):
        lines.append(f"model version: `{outputs['model-version']}`")
    if error:
        lines += ["", "```", *error.get("lines", []), "```"]
    append_summary("\n".join(lines))


def annotations(error: dict) -> list[str]:
    """One ::error per problem, on its file and line when the CLI knows them."""
    if error.get("problems"):
        return [annotation(p["message"] if not p.get("key") else f"{p['key']}: {p['message']}",
                           p.get("file"), p.get("line")) for p in error["problems"]]
    out = []
    for line in error.get("lines", []):
        file = None
        head = line.split(": ", 1)[0].strip()
        if head and " " not in head and Path(head).suffix in (".yaml", ".yml", ".jsonl", ".json"):
            file = head
        out.append(annotation(line.strip(), file))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["install"]:
        return install()
    if argv == ["run"]:
        return run()
    print("usage: python -m llmops_ci.action install|run", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
