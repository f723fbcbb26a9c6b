"""Run a task's `setup` and `run` on this machine, exactly as a SkyPilot job would.

Same environment variables, same working directory (the task's workdir), the
same shell commands, so a local run rehearses what the cloud will run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from llmops_ci.errors import LlmopsError


class StageFailed(LlmopsError):
    """The task's own command failed; its exit code is passed through (2 bad input, 3 outside failure)."""

    def __init__(self, step: str, code: int):
        self.exit_code = code if code in (1, 2, 3) else 3
        super().__init__(f"task {step} failed with exit code {code} (see the log above)")


def run_task(task: dict) -> None:
    """Run ``setup`` then ``run`` in a shell; raise StageFailed on a non-zero exit.

    SIGTERM (a cancelled CI job) is passed on to the running command.
    """
    env = {**os.environ, **{k: str(v) for k, v in task.get("envs", {}).items()}}
    # `python` in the task means this interpreter here (a cloud VM has only one).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    cwd = Path(task["workdir"])
    for step in ("setup", "run"):
        command = task.get(step)
        if not command:
            continue
        # Output goes to stderr (fd 2): it is the log; stdout stays for the CLI's result.
        # Same process group as llmops-ci: whatever kills the CI job's group kills training too.
        proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=2, stderr=2)
        previous = signal.getsignal(signal.SIGTERM)

        def forward(signum, frame, proc=proc):
            proc.terminate()

        try:
            signal.signal(signal.SIGTERM, forward)
        except ValueError:  # not the main thread: nothing to forward from
            previous = None
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        if code != 0:
            raise StageFailed(step, code)
