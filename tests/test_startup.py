"""`llmops-ci validate` must not import heavy libraries (speed itself is measured in benchmarks/)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

HEAVY = ("mlflow", "torch", "transformers", "sky", "deepeval", "onnxruntime", "github3", "gitlab", "peft")

PROBE = """
import json, sys
from llmops_ci.cli import main
for argv in (["validate", "--help"], ["validate", "--config", sys.argv[1]], ["--version"]):
    try:
        main(argv)
    except SystemExit:
        pass
print("MODULES=" + json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""


def test_validate_path_imports_nothing_heavy():
    proc = subprocess.run([sys.executable, "-c", PROBE, str(REPO / "examples" / "llmops.yaml")],
                          capture_output=True, text=True, timeout=60)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("MODULES="))
    loaded = set(json.loads(line[len("MODULES="):]))
    assert "jsonschema" in loaded and "yaml" in loaded  # the probe really validated
    assert not loaded & set(HEAVY), f"heavy modules imported on the validate path: {sorted(loaded & set(HEAVY))}"


def test_help_of_every_command_works():
    from llmops_ci.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in commands:
        proc = subprocess.run([sys.executable, "-m", "llmops_ci", name, "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "--config" in proc.stdout or name == "registry"
        assert "exit codes" in proc.stdout


def test_version():
    from llmops_ci import __version__

    proc = subprocess.run([sys.executable, "-m", "llmops_ci", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == f"llmops-ci {__version__}"
