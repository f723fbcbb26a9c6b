"""The promotion ladder: promote, rollback and approve, under one lock per registered model.

Every change goes the same way:
  1. take the lock in the registry's store (two pipelines never interleave);
  2. repair a promotion that crashed between moving the alias and writing its audit entry;
  3. check every requirement, by name; refuse with one line per unmet requirement;
  4. write the intent, move the alias (re-checking it did not move meanwhile), append the
     audit entry, clear the intent; record the deployment on the forge; refresh the model card.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from llmops_ci.config import CANDIDATE_ALIAS, load_config
from llmops_ci.errors import BadInput, ExternalFailure, VerdictNo
from llmops_ci.governance import audit
from llmops_ci.provenance import actor as current_actor

ALIAS_ACTIONS = ("promote", "rollback")


@dataclass
class Requirement:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"(\d+)([smhdw])", text)
    if not m:
        raise BadInput(f"duration {text!r}: expected a number and a unit s, m, h, d or w (e.g. 7d)")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]


def _fault(point: str) -> None:
    """Fault injection for the crash-repair tests: die here, as a killed CI job would."""
    if os.environ.get("LLMOPS_FAULT") == point:
        os._exit(70)


APPROVE_HOW = {
    "github": "a required reviewer approves the deployment to the environment, or an approving review of the "
              "pull request that merged the commit",
    "gitlab": "an approver of the protected environment approves the blocked deployment",
}


def _epoch(iso: str) -> float:
    """Seconds since the epoch of an ISO time: ours (``…Z``) or a forge's (fractions, offsets)."""
    import datetime as dt

    when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


class Governance:
    """The ladder of one ``llmops.yaml`` against its registry."""

    def __init__(self, config_path: str | None, tracking_uri: str | None = None, progress=print):
        from llmops_ci.registry import open_registry
        from llmops_ci.registry.ledger import Ledger
        self.config = load_config(config_path)
        self.registry = open_registry(self.config, tracking_uri)
        self.ledger = Ledger(self.registry)
        self._forge = None
        self._teams: dict[str, list[str]] = {}
        self.progress = progress
        self.mirror = self.config.root / ".llmops" / "audit.jsonl"
        self._verdicts: dict[tuple[str, str], tuple] = {}

    # -- lookups ---------------------------------------------------------------------
    def env(self, name: str) -> tuple[int, dict]:
        envs = self.config.environments
        for i, env in enumerate(envs):
            if env["name"] == name:
                return i, env
        from llmops_ci.schemacheck import suggest

        known = [e["name"] for e in envs]
        raise BadInput(f"{self.config.display}: environments: no environment {name!r} "
                       f"(the ladder is: {' → '.join(known) or 'empty'}){suggest(name, known)}")

    def chain(self) -> list[dict]:
        """The verified audit chain (a broken chain stops every governance action)."""
        stored, head = self.ledger.state()
        problem = audit.verify(stored, head)
        if problem:
            raise VerdictNo(f"{self.ledger.audit_name}: {problem}; governance actions stop until the chain is "
                            "restored (see `llmops-ci audit verify`)")
        entries, _ = audit.parse(stored)
        return audit.clean(entries)

    def verify_audit(self) -> str:
        """One line saying the chain in the registry's store is intact; VerdictNo naming the first bad entry."""
        stored, head = self.ledger.state()
        problem = audit.verify(stored, head)
        if problem:
            raise VerdictNo(f"{self.ledger.audit_name}: {problem}")
        return f"{self.ledger.audit_name}: {len(stored)} entries, chain intact"

    def entries(self, env: str | None = None, version: int | None = None) -> list[dict]:
        """Audit entries as stored (for show and export; ``verify_audit`` judges them)."""
        entries, _ = audit.parse(self.ledger.entries())
        return audit.filtered(entries, env, version)

    def _append(self, chain: list[dict], **fields) -> dict:
        entry = audit.make_entry(chain, **fields)
        self.ledger.write_entry(entry["seq"], audit.canonical(entry), entry["hash"])
        chain.append(entry)
        audit.write_mirror(self.mirror, chain)
        return entry

    # -- the lock and crash repair ------------------------------------------------------
    def _locked(self, fn):
        self.ledger.acquire(on_wait=self.progress)
        try:
            chain = self.chain()
            self._repair(chain)
            return fn(chain)
        finally:
            self.ledger.release()

    def _repair(self, chain: list[dict]) -> None:
        """A promotion that died between moving the alias and writing its entry is finished or undone."""
        intent = self.ledger.pending()
        if not intent:
            return
        now_at = self.registry.aliases().get(intent["alias"])
        if now_at == intent["version"]:
            self._append(chain, **intent["entry"], detail=(intent["entry"].get("detail") or "")
                         + " [repaired: the alias had moved, the audit entry was missing]")
            self.progress(f"repaired an interrupted {intent['entry']['action']} of {intent['alias']} to version "
                          f"{intent['version']}: audit entry written")
        else:
            self._append(chain, actor="llmops-ci", action=intent["entry"]["action"], outcome="aborted",
                         environment=intent["entry"].get("environment"), version=intent["version"],
                         detail=f"an interrupted {intent['entry']['action']} never moved the alias; nothing changed")
            self.progress(f"an interrupted {intent['entry']['action']} never moved {intent['alias']}; recorded as aborted")
        self.ledger.clear_pending()

    # -- requirements ---------------------------------------------------------------------
    def check_integrity(self, info) -> Requirement:
        from llmops_ci.provenance import sha256_tree

        want = info.tags.get("llmops.content_sha256")
        if not want:
            return Requirement("artifacts", False, f"version {info.version} has no llmops.content_sha256 tag: "
                                                   "not registered by llmops-ci, cannot verify its files")
        with tempfile.TemporaryDirectory() as tmp:
            got = sha256_tree(self.registry.download(info, Path(tmp)))
        if got != want:
            return Requirement("artifacts", False, f"version {info.version}'s files hash to {got[:12]}, but it was "
                                                   f"registered as {want[:12]}: the artifacts were altered")
        return Requirement("artifacts", True, f"content {want[:12]} intact")

    def stored_verdict(self, content_sha256: str, name: str):
        """(suite as configured now, the verdict evaluate stored for this content under its current
        evaluation hash, or None). Remembered for the command: promote's checks and the model card
        it refreshes ask for the same ones."""
        from llmops_ci.evaluation.suite import load_configured_suite

        key = (content_sha256, name)
        if key not in self._verdicts:
            suite = load_configured_suite(name, self.config)
            self._verdicts[key] = (suite, self.registry.find_evaluation(content_sha256, suite.name, suite.eval_hash(),
                                                                        with_verdict=True))
        return self._verdicts[key]

    def check_gates(self, info, env: dict) -> list[Requirement]:
        from llmops_ci.evaluation import gates as gate_lib

        wanted = (env.get("requires") or {}).get("gates") or []
        ev = self.config.data.get("evaluation", {})
        if "all" in wanted:
            wanted = list(ev.get("suites") or [])
        if not wanted:
            return []
        content = info.tags.get("llmops.content_sha256", "")
        policies = [gate_lib.load_policy(g, self.config.root) for g in ev.get("gates", [])]
        out = []
        for name in wanted:
            suite, stored = self.stored_verdict(content, name)
            current = {p.name: p.sha256 for p in policies if p.suite == suite.name}
            label = f"gates:{suite.name}"
            if stored is None:
                older = self.registry.evaluation_hashes(content, suite.name)
                if older:
                    out.append(Requirement(label, False, f"version {info.version} was evaluated under evaluation hash "
                                                         f"{older[0][:12]}, the current {suite.name} suite is "
                                                         f"{suite.eval_hash()[:12]}: re-run evaluate"))
                else:
                    out.append(Requirement(label, False, f"version {info.version} has no stored {suite.name} verdict: run evaluate"))
                continue
            if stored.get("policies", {}) != current:
                out.append(Requirement(label, False, f"the {suite.name} verdict was decided under other gate policies "
                                                     "than the current ones: re-run evaluate"))
                continue
            verdict = stored.get("verdict")
            if verdict == "PASS":
                out.append(Requirement(label, True, f"PASS (evaluation {suite.eval_hash()[:12]})"))
            else:
                bad = [g["id"] for g in stored.get("gates", []) if g.get("required") and g.get("verdict") != "PASS"
                       and g.get("verdict") != "SKIPPED"]
                out.append(Requirement(label, False, f"{verdict}: required gate{'s' if len(bad) != 1 else ''} "
                                                     f"{', '.join(bad) or '?'} did not pass"))
        return out

    def check_ladder(self, index: int, env: dict, version: int) -> Requirement | None:
        if index == 0:
            return None
        prev = self.config.environments[index - 1]
        at = self.registry.aliases().get(prev["alias"])
        if at == version:
            return Requirement("ladder", True, f"version {version} is on {prev['name']}")
        if env.get("allow_skip"):
            return Requirement("ladder", True, f"{env['name']} allows skipping {prev['name']}")
        where = f"version {at}" if at is not None else "no version"
        return Requirement("ladder", False, f"version {version} is not on {prev['name']} ({prev['name']} has {where}); "
                                            f"promote it to {prev['name']} first")

    @property
    def forge(self):
        """Opened on first use: audit and card commands never need a forge token."""
        if self._forge is None:
            from llmops_ci.scm import open_forge

            self._forge = open_forge(self.config, say=self.progress)
        return self._forge

    def team(self, name: str) -> list[str]:
        """Members of ``team:NAME``: the forge answers (GitHub teams, GitLab groups; locally forge.teams)."""
        if name not in self._teams:
            self._teams[name] = self.forge.team_members(name)
        return self._teams[name]

    def allowed(self, who: str, approvers: list[str]) -> bool:
        if not approvers or who in approvers:
            return True
        return any(a.startswith("team:") and who in self.team(a[5:]) for a in approvers)

    def check_approvals(self, chain: list[dict], env: dict, info, needed: int, label: str = "approvals") -> Requirement | None:
        if needed <= 0:
            return None
        req = env.get("requires") or {}
        approvers = req.get("approvers") or []
        max_age = parse_duration(req.get("max_approval_age", "7d"))
        author = info.tags.get("llmops.author")
        commit = info.tags.get("llmops.git_commit")
        counted, rejected = set(), []
        for a in self.forge.approvals(chain, env["name"], info.version, commit):
            who = a["actor"]
            why = None
            if a.get("environment") != env["name"]:
                why = f"for {a.get('environment')}, not {env['name']}"
            elif a.get("version") != info.version:
                why = f"for version {a.get('version')}, not {info.version}"
            elif commit and a.get("commit") != commit:
                why = f"for commit {str(a.get('commit'))[:12]}, not {commit[:12]}"
            elif req.get("prevent_self_review", True) and author and who == author:
                why = f"self-approval by the version's author ({author})"
            elif not self.allowed(who, approvers):
                why = f"not an allowed approver (allowed: {', '.join(approvers)})"
            elif time.time() - _epoch(a["time"]) > max_age:
                why = f"older than {req.get('max_approval_age', '7d')} (given {a['time']})"
            if why:
                rejected.append(f"{who}: {why}")
            else:
                counted.add(who)
        ok = len(counted) >= needed
        detail = f"{len(counted)} of {needed} approval{'s' if needed != 1 else ''}"
        if counted:
            detail += f" ({', '.join(sorted(counted))})"
        if rejected and not ok:
            detail += "; not counted: " + "; ".join(rejected)
        if not ok and not rejected:
            how = (f"`llmops-ci approve --env {env['name']} --version {info.version} --by NAME`"
                   if self.forge.name == "local" else APPROVE_HOW.get(self.forge.name, self.forge.name))
            detail += f": none for version {info.version} on {env['name']} ({how})"
        return Requirement(label, ok, detail)

    # -- actions -----------------------------------------------------------------------------
    def promote(self, env_name: str, version: int | None = None, actor: str | None = None) -> dict:
        index, env = self.env(env_name)
        if version is None:
            source = self.config.environments[index - 1]["alias"] if index > 0 else CANDIDATE_ALIAS
            version = self.registry.aliases().get(source)
            if version is None:
                raise BadInput(f"promote --to {env_name}: no version has alias `{source}` yet; pass --version N")
        info = self.registry.version(version)  # BadInput when it does not exist
        actor = actor or current_actor()

        def act(chain):
            before = self.registry.aliases().get(env["alias"])
            reqs = [self.check_integrity(info)] + self.check_gates(info, env)
            for extra in (self.check_ladder(index, env, version),
                          self.check_approvals(chain, env, info, (env.get("requires") or {}).get("approvals", 0))):
                if extra is not None:
                    reqs.append(extra)
            return self._move(chain, "promote", env, info, before, reqs, actor)

        return self._locked(act)

    def rollback(self, env_name: str, to: int | None = None, actor: str | None = None) -> dict:
        _, env = self.env(env_name)
        actor = actor or current_actor()

        def act(chain):
            before = self.registry.aliases().get(env["alias"])
            if before is None:
                raise BadInput(f"rollback --env {env_name}: no version is on {env_name} (alias `{env['alias']}` unset)")
            target = to if to is not None else self.previous_version(chain, env["name"], before)
            if target is None:
                raise BadInput(f"rollback --env {env_name}: no earlier version on record for {env_name}; pass --to N")
            if target == before:
                raise BadInput(f"rollback --env {env_name}: version {target} is already on {env_name}")
            info = self.registry.version(target)
            reqs = [self.check_integrity(info)]
            needed = (env.get("requires") or {}).get("rollback_approvals", 0)
            extra = self.check_approvals(chain, env, info, needed, "rollback approvals")
            if extra is not None:
                reqs.append(extra)
            return self._move(chain, "rollback", env, info, before, reqs, actor)

        return self._locked(act)

    def approve(self, env_name: str, version: int, by: str, comment: str | None = None, commit: str | None = None) -> dict:
        _, env = self.env(env_name)
        if self.forge.name != "local":
            raise BadInput(f"approve: on {self.forge.name} approvals come from {self.forge.name} itself "
                           f"({APPROVE_HOW[self.forge.name]}); `llmops-ci approve` records them for the local forge only")
        info = self.registry.version(version)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@-]*", by or ""):
            raise BadInput(f"approve --by {by!r}: expected a user name (letters, digits, . _ - @)")
        bound = commit or info.tags.get("llmops.git_commit")
        req = env.get("requires") or {}
        if req.get("prevent_self_review", True) and by == info.tags.get("llmops.author"):
            self.progress(f"note: {by} is the author of version {info.version}; {env['name']} prevents self-review, "
                          "so this approval is recorded but will not count")
        elif req.get("approvers") and not self.allowed(by, req["approvers"]):
            self.progress(f"note: {by} is not among {env['name']}'s approvers ({', '.join(req['approvers'])}); "
                          "this approval is recorded but will not count")

        def act(chain):
            entry = self._append(chain, actor=by, action="approve", outcome="recorded", environment=env["name"],
                                 version=info.version, commit=bound, detail=comment)
            return {"approved": True, "environment": env["name"], "version": info.version, "by": by,
                    "commit": bound, "audit_seq": entry["seq"]}

        return self._locked(act)

    def card(self, version: int | None = None) -> dict:
        """Build, store and log the model card of ``version`` (default: the one behind `candidate`)."""
        from llmops_ci.governance.card import publish_card

        if version is None:
            version = self.registry.aliases().get(CANDIDATE_ALIAS)
            if version is None:
                raise BadInput(f"registry card: no version has alias `{CANDIDATE_ALIAS}`; pass --version N")
        return publish_card(self, self.registry.version(version), self.chain())

    def previous_version(self, chain: list[dict], env_name: str, current: int) -> int | None:
        """The version the environment had before ``current``, skipping versions rolled back from."""
        history, rolled_back = [], set()
        for e in chain:
            if e.get("environment") == env_name and e.get("action") in ALIAS_ACTIONS and e.get("outcome") == "done":
                if e["action"] == "rollback" and e.get("previous_version") is not None:
                    rolled_back.add(e["previous_version"])
                if e.get("previous_version") is not None:
                    history.append(e["previous_version"])
                history.append(e["version"])
        for v in reversed(history):
            if v != current and v not in rolled_back:
                return v
        return None

    def _move(self, chain, action: str, env: dict, info, before: int | None, reqs: list[Requirement], actor: str) -> dict:
        failed = [r for r in reqs if not r.ok]
        base = dict(actor=actor, action=action, environment=env["name"], version=info.version,
                    commit=info.tags.get("llmops.git_commit"), previous_version=before,
                    requirements=[r.as_dict() for r in reqs])
        result = {"action": action, "environment": env["name"], "alias": env["alias"], "version": info.version,
                  "previous_version": before, "requirements": [r.as_dict() for r in reqs]}
        if failed:
            entry = self._append(chain, **base, outcome="refused")
            raise VerdictNo(f"{action} of version {info.version} to {env['name']} refused "
                            f"(audit entry {entry['seq']}):", *[f"  {r.name}: {r.detail}" for r in failed])
        if before == info.version:
            result.update(changed=False)
            self.progress(f"{env['name']}: version {info.version} is already there; nothing to do")
            return result
        if self.registry.aliases().get(env["alias"]) != before:  # moved behind our back (not through llmops-ci)
            raise VerdictNo(f"{action} refused: alias `{env['alias']}` moved during the checks; run it again")
        forge = self.forge
        # The deployment opens before the alias moves: a token that may not deploy stops here, unchanged.
        deployment = forge.start_deployment(env["name"], info.version, info.tags.get("llmops.git_commit"), action)
        try:
            self.ledger.set_pending({"alias": env["alias"], "version": info.version, "entry": {**base, "outcome": "done"}})
            _fault("before-alias")
            self.registry.set_alias(env["alias"], info.version)
            _fault("after-alias")
            entry = self._append(chain, **base, outcome="done")
            self.ledger.clear_pending()
        except BaseException:
            try:
                forge.finish_deployment(deployment, "failure")
            except Exception:  # the original error is the one to report
                pass
            raise
        self.progress(f"{env['name']}: alias `{env['alias']}` moved to version {info.version} "
                      f"(was {before if before is not None else 'unset'}); audit entry {entry['seq']}")
        try:
            result["deployment"] = forge.finish_deployment(deployment, "success")
        except ExternalFailure as exc:
            raise ExternalFailure(f"version {info.version} is on {env['name']} (audit entry {entry['seq']}), but "
                                  f"marking its deployment on {forge.name} done failed:", *exc.lines) from None
        try:
            from llmops_ci.governance.card import publish_card

            publish_card(self, info, chain)
        except Exception as exc:  # the card is documentation: its failure must not undo a promotion
            self.progress(f"model card for version {info.version} not refreshed: {exc}")
        result.update(changed=True, audit_seq=entry["seq"])
        return result
