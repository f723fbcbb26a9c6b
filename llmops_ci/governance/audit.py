"""The audit trail: append-only, hash-chained entries kept in the registry's store.

Each entry is canonical JSON holding ``seq``, ``prev_hash`` (the previous entry's ``hash``) and
its own ``hash`` = sha256 of the entry without ``hash``. Editing, removing or reordering any
entry breaks the chain at that entry, and ``verify`` names it. A local mirror
(``.llmops/audit.jsonl``) is rewritten from the store after every append.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

GENESIS = "0" * 64
FIELDS = ("seq", "time", "actor", "action", "outcome", "environment", "version", "commit", "previous_version",
          "requirements", "detail", "prev_hash", "hash")


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"}).encode()).hexdigest()


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Problem:
    seq: int | str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"audit entry {self.seq} ({self.key}): {self.reason}"


def parse(stored: list[tuple[str, str]]) -> tuple[list[dict], Problem | None]:
    """Entries from (key, text) pairs; the first unreadable one is a problem."""
    out = []
    for key, text in stored:
        try:
            entry = json.loads(text)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            return out, Problem(key.rsplit(".", 1)[-1].lstrip("0") or "0", key, f"not valid JSON ({exc}): edited?")
        entry["_key"] = key
        out.append(entry)
    return out, None


def verify(stored: list[tuple[str, str]], head: dict | None = None) -> Problem | None:
    """The first entry that was edited, removed or reordered, or None when the chain holds.

    ``head`` (``{"seq", "hash"}`` of the newest entry, kept beside the chain) catches what a chain
    alone cannot: the newest entries removed from the end.
    """
    entries, problem = parse(stored)
    if problem:
        return problem
    seqs = [e.get("seq") for e in entries]
    prev = GENESIS
    for expected_seq, entry in enumerate(entries, start=1):
        key = entry.pop("_key")
        seq = entry.get("seq")
        if key != f"entry.{expected_seq:06d}" or seq != expected_seq:
            moved = expected_seq in seqs[expected_seq:]  # the entry that belongs here sits further on
            what = (f"expected entry {expected_seq} here, found {key} holding seq {seq}: "
                    + ("entries were reordered" if moved else "an entry was removed"))
            return Problem(expected_seq, key, what)
        if entry.get("hash") != entry_hash(entry):
            return Problem(seq, key, "its content does not match its hash: the entry was edited")
        if entry.get("prev_hash") != prev:
            return Problem(seq, key, "it does not follow the previous entry (prev_hash differs): entries were removed or reordered")
        prev = entry["hash"]
    if head:
        last, recorded = len(entries), head.get("seq")
        if isinstance(recorded, int) and recorded > last:
            gone = f"entry {recorded} was" if recorded == last + 1 else f"entries {last + 1} to {recorded} were"
            return Problem(last + 1, "head", f"the chain ends at entry {last} but its head records entry {recorded}: "
                                             f"{gone} removed from the end")
        if recorded != last or (last and head.get("hash") != prev):
            return Problem(last, "head", f"the recorded head (entry {recorded}) does not match the newest entry "
                                         f"{last}: the head or the newest entry was edited")
    return None


def make_entry(entries: list[dict], **fields) -> dict:
    """The next entry after ``entries`` (already verified), with its hash."""
    prev = entries[-1]["hash"] if entries else GENESIS
    entry = {"seq": len(entries) + 1, "time": now_iso(), "prev_hash": prev}
    entry.update({k: v for k, v in fields.items() if v is not None})
    entry["hash"] = entry_hash(entry)
    return entry


def clean(entries: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "_key"} for e in entries]


def write_mirror(path: Path, entries: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    tmp.write_text("".join(canonical(e) + "\n" for e in clean(entries)))
    tmp.replace(path)


def read_file(path: Path) -> list[tuple[str, str]]:
    """A mirror or a JSONL export as (key, text) pairs, keyed by line order."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [(f"entry.{i:06d}", line) for i, line in enumerate(lines, start=1)]


def verify_file(path: Path) -> str:
    """``audit verify --file``: a mirror or a full JSONL export checked on its own."""
    from llmops_ci.errors import BadInput, VerdictNo

    if not path.is_file():
        raise BadInput(f"{path}: no such audit file (the mirror is .llmops/audit.jsonl beside llmops.yaml)")
    stored = read_file(path)
    problem = verify(stored)
    if problem:
        raise VerdictNo(f"{path}: {problem}")
    return f"{path}: {len(stored)} entries, chain intact"


def filtered(entries: list[dict], env: str | None = None, version: int | None = None) -> list[dict]:
    return [e for e in clean(entries)
            if (env is None or e.get("environment") == env) and (version is None or e.get("version") == version)]


def export(entries: list[dict], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(canonical(e) + "\n" for e in entries)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(FIELDS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for e in entries:
        writer.writerow({k: (canonical(e[k]) if isinstance(e.get(k), (dict, list)) else e.get(k)) for k in FIELDS})
    return buf.getvalue()
