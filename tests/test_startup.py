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
    """Every command, and every action of a command group (registry, audit), has help and --config."""
    import argparse

    from llmops_ci.cli import build_parser

    def leaves(parser, path=()):
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups:
            yield path
            return
        for name, sub in groups[0].choices.items():
            yield from leaves(sub, path + (name,))

    commands = list(leaves(build_parser()))
    assert ("audit", "verify") in commands and ("registry", "card") in commands and ("demo",) in commands
    for path in commands:
        proc = subprocess.run([sys.executable, "-m", "llmops_ci", *path, "--help"], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "--config" in proc.stdout or path == ("demo",), path  # the demo makes its own config
        assert "exit codes" in proc.stdout, path


def test_version():
    from llmops_ci import __version__

    proc = subprocess.run([sys.executable, "-m", "llmops_ci", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == f"llmops-ci {__version__}"
