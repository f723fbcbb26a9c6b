"""`llmops-ci demo` end to end, as a newcomer runs it: two versions through the real stages on
this machine, the second judged against production. Asserts on what the demo left behind (the
registry, the audit chain, the reports), not only on its exit code."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import run_cli


@pytest.mark.slow
def test_demo_walks_the_ladder_and_judges_v2_against_production(tmp_path):
    workdir = tmp_path / "demo"
    proc = run_cli("demo", "--workdir", str(workdir), "--format", "json", cwd=tmp_path, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout)
    assert "[10/10] registering version 2" in proc.stderr  # progress, step by step

    assert out["aliases"] == {"candidate": 2, "staging": 1, "production": 1}
    assert out["v1"]["verdict"] == "PASS"
    v2 = json.loads((workdir / "reports" / "v2" / "results.json").read_text())
    # v2 was compared with production (v1) on paired cases, reusing v1's stored results.
    assert v2["baseline"]["alias"] == "production" and v2["baseline"]["version"] == 1
    assert v2["generation"]["baseline"] is None
    compares = [g for dom in v2["domains"].values() for g in dom["gates"] if g["kind"] == "compare"]
    assert compares and all(g["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE") for g in compares)
    assert all(g["difference"] is not None for g in compares)
    assert out["v2"]["verdict"] == v2["verdict"]
    assert (workdir / "reports" / "v2" / "report.html").is_file()
    assert (workdir / ".llmops" / "model_cards" / "v1.md").is_file()

    cfg = ("--config", str(workdir / "llmops.yaml"))
    chain = [json.loads(x) for x in run_cli("audit", "export", *cfg, cwd=tmp_path).stdout.splitlines()]
    assert [(e["action"], e["outcome"], e["environment"], e["version"]) for e in chain] == [
        ("promote", "done", "staging", 1), ("approve", "recorded", "production", 1),
        ("promote", "done", "production", 1)]
    assert run_cli("audit", "verify", *cfg, cwd=tmp_path).returncode == 0

    # Each version carries its own commit of the demo's repository.
    versions = {v["version"]: v for v in json.loads(run_cli("registry", "show", *cfg, "--format", "json",
                                                             cwd=tmp_path).stdout)}
    commits = subprocess.run(["git", "log", "--format=%H"], cwd=workdir, capture_output=True, text=True).stdout.split()
    assert versions[1]["provenance"]["git_commit"] == commits[1]
    assert versions[2]["provenance"]["git_commit"] == commits[0]

    # Running it again in the same folder starts over; a folder it did not make is refused.
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    refused = run_cli("demo", "--workdir", str(foreign), cwd=tmp_path)
    assert refused.returncode == 2 and "was not made by the demo" in refused.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"
