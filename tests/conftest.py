"""Shared fixtures: an example project, tiny real models, and real servers.

Servers (PostgreSQL, `mlflow server`) start once per test session on free
loopback ports and stop at the end; if one cannot start, the tests that use it
error with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The tests choose their store explicitly; a developer's own must not leak in.
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("LLMOPS_RUN_RECORD", None)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real `llmops-ci` entry point in a subprocess."""
    # A test that used MLflow in-process may have exported MLFLOW_TRACKING_URI;
    # the CLI must see only what the test passes explicitly.
    full_env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "llmops_ci", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


GIT_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git_commit_all(root: Path, message: str = "pipeline", init: bool = True) -> str:
    """Commit everything in ``root`` (a new repository on `main` when ``init``); the commit's sha."""
    env = {**os.environ, **GIT_IDENTITY}
    steps = ([["git", "init", "-q", "-b", "main"]] if init else []) + [["git", "add", "-A"], ["git", "commit", "-q", "-m", message]]
    for cmd in steps:
        subprocess.run(cmd, cwd=root, check=True, env=env, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped example project (llmops.yaml + data) in a temp folder."""
    dest = tmp_path / "project"
    shutil.copytree(REPO / "examples", dest)
    return dest


def make_tiny_model(path: Path, seed: int = 0, n_embd: int = 32) -> Path:
    """A tiny GPT-2 built from a config (no hub) and saved with save_pretrained."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=n_embd, n_positions=64, vocab_size=128,
                        bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(path)
    return path


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return make_tiny_model(tmp_path / "tiny-model")


@pytest.fixture(scope="session")
def postgres():
    from servers import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_server(postgres, tmp_path_factory):
    """A real `mlflow server` backed by PostgreSQL."""
    from servers import MlflowServer

    base = tmp_path_factory.mktemp("mlflow-server")
    server = MlflowServer(postgres.createdb("mlflow"), base / "artifacts", base / "server.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """The example fine-tuned once per session with the real `llmops-ci finetune` (about 30 s)."""
    dest = tmp_path_factory.mktemp("trained") / "project"
    shutil.copytree(REPO / "examples", dest)
    proc = run_cli("finetune", "--config", "llmops.yaml", cwd=dest)
    if proc.returncode != 0:
        raise RuntimeError(f"training the example failed: {proc.stderr[-3000:]}")
    return dest / ".llmops" / "model" / "final"


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory) -> Path:
    """The same preset and tokenizer, never trained: what a broken fine-tune would ship."""
    import json

    from llmops_ci.training.presets import build_preset

    texts = []
    with open(REPO / "examples" / "data" / "train.jsonl") as fh:
        for line in fh:
            rec = json.loads(line)
            texts.append(rec["prompt"] + rec["completion"])
    tokenizer, model = build_preset("tiny-gpt2", texts, 64, seed=1)
    dest = tmp_path_factory.mktemp("untrained") / "model"
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


# -- a governed ladder, shared by test_governance and test_github ---------------------------------

AUTHOR = "alice"  # who registers the versions (their provenance `author`)


def cli(project: Path, *args: str, actor: str = "release-bot", env: dict | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, "--config", "llmops.yaml", cwd=project,
                   env={"LLMOPS_ACTOR": actor, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **(env or {})})


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def edit_config(project: Path, change) -> None:
    path = project / "llmops.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def governed_ladder(data: dict) -> None:
    """Staging needs the safety gates; production needs them too plus one approval."""
    data["evaluation"]["suites"] = ["safety"]
    data["evaluation"]["gates"] = ["safety"]
    data["environments"] = [
        {"name": "staging", "requires": {"gates": ["safety"]}},
        {"name": "production", "requires": {"gates": ["safety"], "approvals": 1,
                                            "approvers": [AUTHOR, "bob", "team:release"],
                                            "prevent_self_review": True, "max_approval_age": "1h"}},
    ]
    data["forge"] = {"type": "local", "teams": {"release": ["carol"]}}


@pytest.fixture(scope="session")
def evaluated_store(tmp_path_factory, trained_model, untrained_model) -> Path:
    """A git-tracked project whose sqlite registry holds, each evaluated on safety by the real CLI:
    v1 untrained (FAIL), v2 trained (PASS), v3 trained plus a notes file (PASS; `candidate`)."""
    project = tmp_path_factory.mktemp("ladder") / "project"
    shutil.copytree(REPO / "examples", project)
    edit_config(project, governed_ladder)
    (project / ".gitignore").write_text(".llmops/\n")
    git_commit_all(project)
    copy = tmp_path_factory.mktemp("v3") / "model"
    shutil.copytree(trained_model, copy)
    (copy / "NOTES.md").write_text("same weights, one more file: another content hash\n")
    for model, want in ((untrained_model, 1), (trained_model, 0), (copy, 0)):
        ok(cli(project, "register", "--model", str(model), actor=AUTHOR))
        proc = cli(project, "evaluate", "--model", str(model), "--suite", "safety")
        assert proc.returncode == want, proc.stderr[-3000:]
    return project


@pytest.fixture
def ladder(evaluated_store, tmp_path) -> Path:
    """A private copy of the evaluated project (its registry, aliases and audit chain are its own)."""
    dest = tmp_path / "project"
    shutil.copytree(evaluated_store, dest, symlinks=True)
    return dest
