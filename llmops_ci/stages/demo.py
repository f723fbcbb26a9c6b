"""``llmops-ci demo``: the whole ladder on this machine, no cloud, no forge.

It copies the shipped example into a work folder of its own (a git repository, so every version
has a commit), then runs the same stage functions the CLI runs, in order:

  v1: finetune → evaluate (four domain suites) → register → promote to staging
      → a local approval → promote to production
  v2: a changed training config (fewer epochs, to save compute) → finetune → evaluate, which
      compares it with production on paired cases → register as the new candidate

and ends by saying where the reports are and how to look at it all in ``mlflow ui``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from llmops_ci.errors import BadInput, VerdictNo
from llmops_ci.shipped import shipped_dir

MARKER = ".llmops-demo"  # a folder holding it was made by the demo and may be made again
V2_EPOCHS = 4  # the second version's change: a quarter of the training, as a team cutting cost might


def _git(workdir: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "llmops-ci demo", "GIT_AUTHOR_EMAIL": "demo@llmops-ci.invalid",
           "GIT_COMMITTER_NAME": "llmops-ci demo", "GIT_COMMITTER_EMAIL": "demo@llmops-ci.invalid"}
    try:
        subprocess.run(["git", *args], cwd=workdir, env=env, check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        pass  # no git here: versions then carry no commit, and approvals bind to none


def prepare_workdir(workdir: Path) -> Path:
    """A fresh copy of the shipped example in ``workdir`` (re-made if an earlier demo left it)."""
    workdir = workdir.resolve()
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).is_file():
            raise BadInput(f"demo --workdir {workdir}: the folder exists and was not made by the demo; "
                           "pass a new or empty folder")
        shutil.rmtree(workdir)
    shutil.copytree(shipped_dir("examples"), workdir, dirs_exist_ok=True)
    (workdir / MARKER).write_text("made by `llmops-ci demo`; the next demo in this folder replaces it\n")
    (workdir / ".gitignore").write_text(".llmops/\n")
    _git(workdir, "init", "-q")
    _git(workdir, "add", "-A")
    _git(workdir, "commit", "-q", "-m", "llmops-ci demo: the shipped example pipeline")
    return workdir


def _approver(env: dict, author: str) -> str:
    """Someone the rung ``env`` accepts who is not the version's author."""
    people = [a for a in (env.get("requires") or {}).get("approvers", []) if not a.startswith("team:") and a != author]
    return people[0] if people else "reviewer"


def run_demo(workdir: str | None = None, progress=print) -> dict:
    from llmops_ci.governance.ladder import Governance
    from llmops_ci.provenance import actor
    from llmops_ci.stages.evaluate import run_evaluate
    from llmops_ci.stages.finetune import run_finetune
    from llmops_ci.stages.register import run_register

    started = time.monotonic()
    root = prepare_workdir(Path(workdir or "llmops-demo"))
    config = str(root / "llmops.yaml")
    steps = 10

    def step(n: int, text: str) -> None:
        progress(f"\n[{n}/{steps}] {text}  ({time.monotonic() - started:.0f} s)")

    step(1, f"fine-tuning version 1 on this machine in {root}")
    run_finetune(config, progress=progress)
    step(2, "evaluating version 1 on the medical, finance, multilingual and safety suites")
    v1_eval = run_evaluate(config, report_dir=str(root / "reports" / "v1"), progress=progress)
    step(3, "registering version 1 in the local MLflow store")
    v1 = run_register(config, None, None, progress=progress)

    gov = Governance(config, progress=progress)
    step(4, "promoting version 1 to staging (checks the stored gate verdicts)")
    gov.promote("staging", v1["version"])
    author = actor()
    approver = _approver(gov.env("production")[1], author)
    step(5, f"recording {approver}'s approval of version 1 for production (the local forge)")
    gov.approve("production", v1["version"], approver, "approved in the demo")
    step(6, "promoting version 1 to production")
    gov.promote("production")

    step(7, f"changing the training config for version 2 (epochs → {V2_EPOCHS}) and committing it")
    path = root / "llmops.yaml"
    text = path.read_text()
    path.write_text(text.replace("  epochs: 16\n", f"  epochs: {V2_EPOCHS}\n", 1))
    _git(root, "commit", "-q", "-am", f"train for {V2_EPOCHS} epochs")
    step(8, "fine-tuning version 2")
    run_finetune(config, progress=progress)
    step(9, "evaluating version 2 against production (paired, on the same cases)")
    try:
        v2_eval = run_evaluate(config, report_dir=str(root / "reports" / "v2"), progress=progress)
        v2_refusal = None
    except VerdictNo as exc:  # the gate doing its job is part of the demo, not a failure of it
        v2_eval, v2_refusal = None, "; ".join(exc.lines)
    step(10, "registering version 2 as the new candidate")
    v2 = run_register(config, None, None, progress=progress)

    v2_results = json.loads((root / "reports" / "v2" / "results.json").read_text())
    comparisons = [(name, g) for name, dom in v2_results["domains"].items() for g in dom["gates"]
                   if g.get("kind") == "compare"]
    return {
        "workdir": str(root), "seconds": round(time.monotonic() - started, 1),
        "v1": {"version": v1["version"], "verdict": v1_eval["verdict"], "report": str(root / "reports" / "v1" / "report.html")},
        "v2": {"version": v2["version"], "verdict": v2_results["verdict"], "refused": v2_refusal,
               "passed": v2_eval is not None, "report": str(root / "reports" / "v2" / "report.html"),
               "baseline_version": (v2_results.get("baseline") or {}).get("version"),
               "comparisons": [{"domain": name, "gate": g["id"], "verdict": g["verdict"],
                                "difference": g.get("difference")} for name, g in comparisons]},
        "aliases": gov.registry.aliases(),
        "model_card": str(root / ".llmops" / "model_cards" / f"v{v1['version']}.md"),
        "tracking_uri": gov.registry.tracking_uri,
        "config": str(path),
    }
