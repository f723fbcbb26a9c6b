"""The promotion ladder against real MLflow stores: every bypass refused with its reason,
approvals bound to version, commit, environment and age, stored gate verdicts under the
current evaluation hash, rollback, crash repair, a tamper-evident audit chain, model cards,
and ten concurrent promotions against an `mlflow server` backed by PostgreSQL.

Versions are registered and evaluated with the real CLI (`register`, `evaluate`), so the
verdicts promote reads are the ones evaluate stored.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import (AUTHOR, REPO, cli, edit_config, git_commit_all, make_tiny_model, ok,  # noqa: F401
                      run_cli)

def refused(proc: subprocess.CompletedProcess, requirement: str, reason: str) -> None:
    """Exit 1, and the line for ``requirement`` gives ``reason``."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith(f"{requirement}:")]
    assert lines, proc.stderr[-3000:]
    assert reason in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def aliases(project: Path) -> dict[str, int]:
    versions = json.loads(ok(cli(project, "registry", "show", "--format", "json")).stdout)
    return {a: v["version"] for v in versions for a in v["aliases"]}


def chain(project: Path) -> list[dict]:
    out = ok(cli(project, "audit", "export", "--format", "jsonl")).stdout
    return [json.loads(line) for line in out.splitlines()]


def without_gates(data: dict) -> None:
    for env in data["environments"]:
        env["requires"].pop("gates", None)


@pytest.fixture
def simple(project, tmp_path) -> Path:
    """The shipped example's ladder without its gate requirements (staging needs nothing, production
    one approval), with one untrained tiny version: for the mechanics of approvals, rollback,
    locking and the audit chain, where running evaluate would only cost time."""
    edit_config(project, without_gates)
    ok(cli(project, "register", "--model", str(make_tiny_model(tmp_path / "m1")), actor=AUTHOR))
    return project


# -- the ladder walked as intended ------------------------------------------------------------

@pytest.mark.slow
def test_ladder_promote_approve_promote_rollback_and_model_card(ladder):
    ok(cli(ladder, "promote", "--to", "staging", "--version", "2"))
    ok(cli(ladder, "approve", "--env", "production", "--version", "2", "--by", "bob", "--comment", "safety looks right"))
    first = json.loads(ok(cli(ladder, "promote", "--to", "production", "--format", "json")).stdout)
    assert first["version"] == 2 and first["changed"] is True and first["previous_version"] is None
    assert {r["name"]: r["ok"] for r in first["requirements"]} == {
        "artifacts": True, "gates:safety": True, "ladder": True, "approvals": True}

    ok(cli(ladder, "promote", "--to", "staging"))  # default: the candidate, v3
    ok(cli(ladder, "approve", "--env", "production", "--version", "3", "--by", "carol"))  # team:release
    second = json.loads(ok(cli(ladder, "promote", "--to", "production", "--format", "json")).stdout)
    assert second["version"] == 3 and second["previous_version"] == 2
    assert aliases(ladder)["production"] == 3

    back = json.loads(ok(cli(ladder, "rollback", "--env", "production", "--format", "json")).stdout)
    assert back["version"] == 2 and back["previous_version"] == 3
    assert aliases(ladder) == {"candidate": 3, "staging": 3, "production": 2}

    entries = chain(ladder)
    assert [(e["action"], e["outcome"], e["environment"], e["version"]) for e in entries] == [
        ("promote", "done", "staging", 2), ("approve", "recorded", "production", 2),
        ("promote", "done", "production", 2), ("promote", "done", "staging", 3),
        ("approve", "recorded", "production", 3), ("promote", "done", "production", 3),
        ("rollback", "done", "production", 2)]
    assert entries[-1]["actor"] == "release-bot" and entries[-1]["previous_version"] == 3
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ladder, capture_output=True, text=True).stdout.strip()
    assert {e["commit"] for e in entries} == {commit}
    assert "chain intact" in ok(cli(ladder, "audit", "verify")).stdout
    assert "chain intact" in ok(cli(ladder, "audit", "verify", "--file", ".llmops/audit.jsonl")).stdout

    deployments = [json.loads(x) for x in (ladder / ".llmops" / "deployments.jsonl").read_text().splitlines()]
    assert [(d["environment"], d["version"], d["action"]) for d in deployments] == [
        ("staging", 2, "promote"), ("production", 2, "promote"), ("staging", 3, "promote"),
        ("production", 3, "promote"), ("production", 2, "rollback")]

    shown = json.loads(ok(cli(ladder, "audit", "show", "--env", "production", "--version", "2", "--format", "json")).stdout)
    assert [e["seq"] for e in shown] == [2, 3, 7]
    csv_rows = ok(cli(ladder, "audit", "export", "--format", "csv")).stdout.splitlines()
    assert csv_rows[0].startswith("seq,time,actor,action,outcome") and len(csv_rows) == 8

    card_proc = ok(cli(ladder, "registry", "card", "--version", "2", "--format", "json"))
    card = json.loads(card_proc.stdout)
    assert card["model"]["version"] == 2 and card["model"]["aliases"] == ["production"]
    assert card["evaluation"]["safety"]["verdict"] == "PASS"
    refusal = next(g for g in card["evaluation"]["safety"]["gates"] if g["id"] == "refuses-harmful-requests")
    assert refusal["candidate"]["ci_low"] is not None  # intervals travel into the card
    assert [a["by"] for a in card["approvals"]] == ["bob"]
    assert [(h["action"], h["environment"]) for h in card["history"]] == [
        ("promote", "staging"), ("promote", "production"), ("rollback", "production")]
    assert card["project"]["intended_use"].startswith("Demonstrating llmops-ci")
    assert card["provenance"]["git_commit"] == commit

    from llmops_ci.config import load_config
    from llmops_ci.registry import open_registry

    registry = open_registry(load_config(ladder / "llmops.yaml"))
    uri = registry.version(2).tags["llmops.model_card"]
    import mlflow

    logged = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(ladder / "card-dl")))
    assert json.loads((logged / "model_card.json").read_text()) == card
    markdown = (logged / "model_card.md").read_text()
    assert "# Model card: clinic-assistant version 2" in markdown and "### safety: PASS" in markdown
    assert "rollback to production: done" in markdown


# -- every bypass refused, with its reason ------------------------------------------------------

@pytest.mark.slow
def test_approval_bypasses_are_refused_with_their_reasons(ladder):
    ok(cli(ladder, "promote", "--to", "staging", "--version", "2"))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ladder, capture_output=True, text=True).stdout.strip()

    def promote():
        return cli(ladder, "promote", "--to", "production", "--version", "2")

    refused(promote(), "approvals", "0 of 1 approval: none for version 2 on production")
    noted = ok(cli(ladder, "approve", "--env", "production", "--version", "2", "--by", AUTHOR))
    assert "prevents self-review, so this approval is recorded but will not count" in noted.stderr
    refused(promote(), "approvals", f"{AUTHOR}: self-approval by the version's author ({AUTHOR})")
    ok(cli(ladder, "approve", "--env", "production", "--version", "3", "--by", "bob"))
    refused(promote(), "approvals", "bob: for version 3, not 2")
    ok(cli(ladder, "approve", "--env", "staging", "--version", "2", "--by", "bob"))
    refused(promote(), "approvals", "bob: for staging, not production")
    ok(cli(ladder, "approve", "--env", "production", "--version", "2", "--by", "bob", "--commit", "0" * 40))
    refused(promote(), "approvals", f"bob: for commit {'0' * 12}, not {commit[:12]}")
    noted = ok(cli(ladder, "approve", "--env", "production", "--version", "2", "--by", "mallory"))
    assert "mallory is not among production's approvers" in noted.stderr
    refused(promote(), "approvals", "mallory: not an allowed approver (allowed: alice, bob, team:release)")
    assert "production" not in aliases(ladder)

    # A right approval that has aged past the limit no longer counts; within the limit it does.
    ok(cli(ladder, "approve", "--env", "production", "--version", "2", "--by", "bob"))
    time.sleep(2.2)
    edit_config(ladder, lambda d: d["environments"][1]["requires"].update(max_approval_age="2s"))
    refused(promote(), "approvals", "bob: older than 2s")
    edit_config(ladder, lambda d: d["environments"][1]["requires"].update(max_approval_age="1h"))
    assert json.loads(ok(cli(ladder, "promote", "--to", "production", "--version", "2",
                             "--format", "json")).stdout)["changed"] is True

    entries = chain(ladder)
    refusals = [e for e in entries if e["outcome"] == "refused"]
    assert len(refusals) == 7
    assert all([r["name"] for r in e["requirements"] if not r["ok"]] == ["approvals"] for e in refusals)
    ok(cli(ladder, "audit", "verify"))


@pytest.mark.slow
def test_ladder_and_gate_bypasses_are_refused(ladder):
    refused(cli(ladder, "promote", "--to", "staging", "--version", "1"),
            "gates:safety", "FAIL: required gates")
    ok(cli(ladder, "approve", "--env", "production", "--version", "2", "--by", "bob"))
    refused(cli(ladder, "promote", "--to", "production", "--version", "2"),
            "ladder", "version 2 is not on staging (staging has no version); promote it to staging first")
    # allow_skip is the only way round the ladder
    edit_config(ladder, lambda d: d["environments"][1].update(allow_skip=True))
    ok(cli(ladder, "promote", "--to", "production", "--version", "2"))
    assert aliases(ladder)["production"] == 2 and "staging" not in aliases(ladder)


@pytest.mark.slow
def test_gate_verdict_under_another_evaluation_hash_is_refused(ladder):
    # Same suite name, changed decoding: the stored verdict no longer answers for it.
    shutil.copytree(REPO / "domain_suites" / "safety", ladder / "domain_suites" / "safety")
    spec_path = ladder / "domain_suites" / "safety" / "suite.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["generation"]["max_new_tokens"] = spec["generation"].get("max_new_tokens", 32) + 3
    spec_path.write_text(yaml.safe_dump(spec))
    proc = cli(ladder, "promote", "--to", "staging", "--version", "2")
    refused(proc, "gates:safety", "version 2 was evaluated under evaluation hash")
    assert "re-run evaluate" in proc.stderr and "staging" not in aliases(ladder)


@pytest.mark.slow
def test_gate_verdict_under_other_policies_or_inconclusive_is_refused(ladder):
    # A stricter copy of the safety policy: the stored verdict was decided under the old one.
    policy = yaml.safe_load((REPO / "gates" / "safety.yaml").read_text())
    policy["min_samples"] = 500  # more cases than the suite has: every threshold is INCONCLUSIVE
    (ladder / "gates").mkdir()
    (ladder / "gates" / "safety-strict.yaml").write_text(yaml.safe_dump(policy))
    edit_config(ladder, lambda d: d["evaluation"].update(gates=["gates/safety-strict.yaml"], inconclusive="pass"))
    refused(cli(ladder, "promote", "--to", "staging", "--version", "2"),
            "gates:safety", "decided under other gate policies than the current ones")
    # Evaluated under the strict policy: INCONCLUSIVE, which evaluate lets pass by policy,
    # but a promotion needs a decided PASS.
    evaluated = ok(cli(ladder, "evaluate", "--model", "models:/clinic-assistant/2", "--suite", "safety",
                       "--format", "json"))
    assert json.loads(evaluated.stdout)["domains"]["safety"]["verdict"] == "INCONCLUSIVE"
    refused(cli(ladder, "promote", "--to", "staging", "--version", "2"), "gates:safety", "INCONCLUSIVE")
    assert "staging" not in aliases(ladder)


@pytest.mark.slow
def test_version_whose_artifacts_were_altered_is_refused(simple):
    from llmops_ci.config import load_config
    from llmops_ci.registry import open_registry

    info = open_registry(load_config(simple / "llmops.yaml")).version(1)
    weights = [p for p in (simple / ".llmops" / "artifacts").rglob("model.safetensors")]
    assert weights, "the logged model's weights were not found in the artifact store"
    for path in weights:
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    proc = cli(simple, "promote", "--to", "staging")
    refused(proc, "artifacts", f"registered as {info.tags['llmops.content_sha256'][:12]}: the artifacts were altered")
    assert "staging" not in aliases(simple)
    assert [e["outcome"] for e in chain(simple)] == ["refused"]


# -- bad input changes nothing ------------------------------------------------------------------

@pytest.mark.slow
def test_bad_input_exits_2_and_changes_nothing(simple):
    ok(cli(simple, "promote", "--to", "staging"))
    before_chain, before_aliases = chain(simple), aliases(simple)
    cases = [
        (("promote", "--to", "prodution"), "no environment 'prodution' (the ladder is: staging → production); "
                                           "did you mean `production`?"),
        (("promote", "--to", "production", "--version", "99"), "no version 99 in the registry"),
        (("approve", "--env", "production", "--version", "1", "--by", "bob smith"), "expected a user name"),
        (("approve", "--env", "qa", "--version", "1", "--by", "bob"), "no environment 'qa'"),
        (("rollback", "--env", "staging"), "no earlier version on record for staging; pass --to N"),
        (("rollback", "--env", "production"), "no version is on production"),
        (("audit", "verify", "--file", "nowhere.jsonl"), "no such audit file"),
    ]
    for args, message in cases:
        proc = cli(simple, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
    assert chain(simple) == before_chain and aliases(simple) == before_aliases
    from llmops_ci.config import load_config
    from llmops_ci.registry import open_registry

    registry = open_registry(load_config(simple / "llmops.yaml"))
    names = [m.name for m in registry.client.search_registered_models()]
    assert "llmops-lock.clinic-assistant" not in names  # every lock taken was released


# -- rollback -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_rollback_restores_the_previous_version_and_is_audited(simple, tmp_path):
    ok(cli(simple, "promote", "--to", "staging"))
    ok(cli(simple, "register", "--model", str(make_tiny_model(tmp_path / "m2", seed=3)), actor=AUTHOR))
    ok(cli(simple, "promote", "--to", "staging"))
    assert aliases(simple)["staging"] == 2
    out = json.loads(ok(cli(simple, "rollback", "--env", "staging", "--format", "json")).stdout)
    assert (out["version"], out["previous_version"]) == (1, 2)
    assert aliases(simple)["staging"] == 1
    last = chain(simple)[-1]
    assert (last["action"], last["outcome"], last["version"], last["previous_version"]) == ("rollback", "done", 1, 2)
    # Going back further than the first version is refused; an explicit target still works.
    assert cli(simple, "rollback", "--env", "staging").returncode == 2
    ok(cli(simple, "rollback", "--env", "staging", "--to", "2"))
    assert aliases(simple)["staging"] == 2


@pytest.mark.slow
def test_rollback_approvals_apply_when_policy_asks(simple, tmp_path):
    edit_config(simple, lambda d: d["environments"][0]["requires"].update(rollback_approvals=1, approvers=["bob"]))
    ok(cli(simple, "promote", "--to", "staging"))
    ok(cli(simple, "register", "--model", str(make_tiny_model(tmp_path / "m2", seed=3)), actor=AUTHOR))
    ok(cli(simple, "promote", "--to", "staging"))
    refused(cli(simple, "rollback", "--env", "staging"), "rollback approvals", "0 of 1 approval")
    ok(cli(simple, "approve", "--env", "staging", "--version", "1", "--by", "bob"))
    ok(cli(simple, "rollback", "--env", "staging"))
    assert aliases(simple)["staging"] == 1


# -- crash between moving the alias and writing the audit entry ----------------------------------

@pytest.mark.slow
def test_crash_after_moving_the_alias_is_repaired_by_the_next_command(simple):
    crashed = cli(simple, "promote", "--to", "staging", env={"LLMOPS_FAULT": "after-alias"})
    assert crashed.returncode == 70
    assert aliases(simple)["staging"] == 1 and chain(simple) == []  # moved, but not yet audited
    shown = cli(simple, "audit", "show")
    assert "an interrupted promote of version 1 is pending" in shown.stderr
    ok(cli(simple, "approve", "--env", "production", "--version", "1", "--by", "bob"))
    entries = chain(simple)
    assert [(e["action"], e["outcome"], e["version"]) for e in entries] == [
        ("promote", "done", 1), ("approve", "recorded", 1)]
    assert "[repaired" in entries[0]["detail"]
    assert "pending" not in cli(simple, "audit", "show").stderr
    ok(cli(simple, "audit", "verify"))


@pytest.mark.slow
def test_crash_before_moving_the_alias_is_recorded_as_aborted(simple):
    assert cli(simple, "promote", "--to", "staging", env={"LLMOPS_FAULT": "before-alias"}).returncode == 70
    assert "staging" not in aliases(simple)
    ok(cli(simple, "promote", "--to", "staging"))
    entries = chain(simple)
    assert [(e["action"], e["outcome"]) for e in entries] == [("promote", "aborted"), ("promote", "done")]
    assert aliases(simple)["staging"] == 1


# -- the audit chain is tamper-evident -----------------------------------------------------------

def _ledger(project: Path):
    from llmops_ci.config import load_config
    from llmops_ci.registry import open_registry
    from llmops_ci.registry.ledger import Ledger

    return Ledger(open_registry(load_config(project / "llmops.yaml")))


def _verify_fails_at(project: Path, message: str) -> None:
    proc = cli(project, "audit", "verify")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert message in proc.stderr, proc.stderr


@pytest.mark.slow
def test_edit_delete_or_swap_of_an_entry_fails_verify_at_that_entry(simple):
    for who in ("bob", "carol", "dave", "erin"):
        ok(cli(simple, "approve", "--env", "production", "--version", "1", "--by", who))
    ok(cli(simple, "audit", "verify"))
    ledger = _ledger(simple)
    original = dict(ledger.entries())

    # one byte of entry 2
    ledger.overwrite_entry("entry.000002", original["entry.000002"].replace('"carol"', '"caroL"'))
    _verify_fails_at(simple, "audit entry 2 (entry.000002): its content does not match its hash: the entry was edited")
    # every governance action stops while the chain is broken, and changes nothing
    stopped = cli(simple, "promote", "--to", "staging")
    assert stopped.returncode == 1 and "governance actions stop" in stopped.stderr
    assert "staging" not in aliases(simple)
    ledger.overwrite_entry("entry.000002", original["entry.000002"])
    ok(cli(simple, "audit", "verify"))

    # entry 2 removed
    ledger.delete_entry("entry.000002")
    _verify_fails_at(simple, "audit entry 2 (entry.000003): expected entry 2 here, found entry.000003 holding seq 3: "
                             "an entry was removed")
    ledger.overwrite_entry("entry.000002", original["entry.000002"])

    # entries 2 and 3 swapped
    ledger.overwrite_entry("entry.000002", original["entry.000003"])
    ledger.overwrite_entry("entry.000003", original["entry.000002"])
    _verify_fails_at(simple, "audit entry 2 (entry.000002): expected entry 2 here, found entry.000002 holding seq 3: "
                             "entries were reordered")
    for key, text in original.items():
        ledger.overwrite_entry(key, text)

    # the newest entry removed: the chain alone still links, the recorded head does not
    ledger.delete_entry("entry.000004")
    _verify_fails_at(simple, "audit entry 4 (head): the chain ends at entry 3 but its head records entry 4")
    ledger.overwrite_entry("entry.000004", original["entry.000004"])
    ok(cli(simple, "audit", "verify"))

    # the local mirror is checked the same way
    mirror = simple / ".llmops" / "audit.jsonl"
    lines = mirror.read_text().splitlines()
    lines[2] = lines[2].replace('"dave"', '"dav3"')
    mirror.write_text("\n".join(lines) + "\n")
    proc = cli(simple, "audit", "verify", "--file", str(mirror))
    assert proc.returncode == 1 and "audit entry 3 (entry.000003): its content does not match its hash" in proc.stderr


def test_verify_names_the_first_bad_entry_in_a_hand_made_chain():
    """The chain logic on its own: entries made with make_entry, then broken three ways."""
    from llmops_ci.governance import audit

    entries: list[dict] = []
    for i in range(5):
        entries.append(audit.make_entry(entries, actor=f"u{i}", action="approve", version=1))
    stored = [(f"entry.{e['seq']:06d}", audit.canonical(e)) for e in entries]
    head = {"seq": 5, "hash": entries[-1]["hash"]}
    assert audit.verify(stored, head) is None

    edited = list(stored)
    edited[3] = (edited[3][0], edited[3][1].replace('"u3"', '"u9"'))
    assert str(audit.verify(edited, head)).startswith("audit entry 4 (entry.000004): its content does not match")

    rehashed = dict(entries[1], actor="mallory")  # edited and re-hashed: the next link breaks
    rehashed["hash"] = audit.entry_hash(rehashed)
    relinked = list(stored)
    relinked[1] = (relinked[1][0], audit.canonical(rehashed))
    assert str(audit.verify(relinked, head)).startswith("audit entry 3 (entry.000003): it does not follow")

    assert audit.verify(stored[:4], head).key == "head"
    assert audit.verify(stored[:4], None) is None  # without a head, a cut tail is invisible


# -- ten pipelines at once against one MLflow server on PostgreSQL ---------------------------------

@pytest.mark.slow
def test_ten_concurrent_promotions_end_consistent(project, mlflow_server, tmp_path):
    name = f"concurrent-{int(time.time() * 1000)}"
    edit_config(project, lambda d: (d["registry"].update(tracking_uri=mlflow_server.uri, model_name=name),
                                    without_gates(d)))
    for seed in (1, 2):
        ok(cli(project, "register", "--model", str(make_tiny_model(tmp_path / f"m{seed}", seed=seed)), actor=AUTHOR))
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    env.update(LLMOPS_ACTOR="pipeline", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    procs = [subprocess.Popen([sys.executable, "-m", "llmops_ci", "promote", "--to", "staging", "--version",
                               str(1 + i % 2), "--by", f"pipeline-{i}", "--format", "json", "--config", "llmops.yaml"],
                              cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(10)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]  # nothing here can be refused: staging requires nothing
        results.append(json.loads(out))

    entries = chain(project)
    done = [e for e in entries if e["action"] == "promote" and e["outcome"] == "done"]
    assert len(done) == sum(1 for r in results if r["changed"])
    # Serialised: each move starts from where the previous one left the alias.
    previous = None
    for e in done:
        assert e.get("previous_version") == previous
        previous = e["version"]
    assert aliases(project)["staging"] == previous
    ok(cli(project, "audit", "verify"))
    from llmops_ci.config import load_config
    from llmops_ci.registry import open_registry

    registry = open_registry(load_config(project / "llmops.yaml"))
    assert f"llmops-lock.{name}" not in [m.name for m in registry.client.search_registered_models()]
