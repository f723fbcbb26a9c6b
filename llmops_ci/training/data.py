"""Training data: JSONL records, checked line by line before anything trains.

Accepted records (``data.format: auto`` detects per record):
  prompt-completion  {"prompt": "...", "completion": "..."}
  chat               {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", ...}]}
  classifier         {"text": "...", "label": "..."}   (model.kind: classifier)
Any other keys (e.g. ``tags``) are kept and ignored by training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from llmops_ci.errors import BadInput

ROLES = ("system", "user", "assistant", "tool")


@dataclass
class Example:
    prompt: str = ""
    completion: str = ""
    messages: list | None = None
    label: str | None = None
    source: str = ""  # "file:line", for error messages
    fields: dict | None = None  # the record's other keys (domain, category, tags, …)


def _check_record(obj, where: str, fmt: str, kind: str) -> Example:
    if not isinstance(obj, dict):
        raise BadInput(f"{where}: expected a JSON object per line, got {type(obj).__name__}")
    if kind == "classifier":
        missing = [k for k in ("text", "label") if k not in obj]
        if missing:
            raise BadInput(f"{where}: missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                           "(classifier records need \"text\" and \"label\")")
        if not isinstance(obj["text"], str) or not obj["text"].strip():
            raise BadInput(f"{where}: \"text\" must be a non-empty string")
        return Example(prompt=obj["text"], label=str(obj["label"]), source=where, fields=_extra(obj, ("text", "label")))
    is_chat = "messages" in obj
    if fmt == "chat" or (fmt == "auto" and is_chat):
        msgs = obj.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise BadInput(f"{where}: missing field messages (chat records need a non-empty \"messages\" list)")
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise BadInput(f"{where}: messages[{i}] must be {{\"role\": one of {', '.join(ROLES)}, \"content\": string}}")
        if msgs[-1]["role"] != "assistant":
            raise BadInput(f"{where}: the last message must be the assistant's answer (role \"assistant\"), got {msgs[-1]['role']!r}")
        return Example(messages=msgs, source=where, fields=_extra(obj, ("messages",)))
    missing = [k for k in ("prompt", "completion") if k not in obj]
    if missing:
        raise BadInput(f"{where}: missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                       "(expected {\"prompt\": ..., \"completion\": ...} or {\"messages\": [...]})")
    for key in ("prompt", "completion"):
        if not isinstance(obj[key], str):
            raise BadInput(f"{where}: \"{key}\" must be a string, got {type(obj[key]).__name__}")
    if not obj["completion"].strip():
        raise BadInput(f"{where}: \"completion\" is empty (nothing to learn from this record)")
    return Example(prompt=obj["prompt"], completion=obj["completion"], source=where,
                   fields=_extra(obj, ("prompt", "completion")))


def _extra(obj: dict, content: tuple) -> dict:
    return {k: v for k, v in obj.items() if k not in content}


def read_examples(path: Path, display: str | None = None, fmt: str = "auto", kind: str = "causal-lm") -> list[Example]:
    """Every record of a JSONL file; the first bad line raises BadInput with file and line."""
    display = display or str(path)
    if not path.is_file():
        raise BadInput(f"{display}: dataset not found")
    examples = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{display}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{where}: malformed JSON at column {exc.colno}: {exc.msg}") from None
            examples.append(_check_record(obj, where, fmt, kind))
    if not examples:
        raise BadInput(f"{display}: dataset is empty (expected one JSON record per line)")
    return examples


def load_split(config, split: str) -> list[Example]:
    """All local files of one split (``train`` or ``eval``) of the config's data."""
    from llmops_ci.config import is_remote

    out: list[Example] = []
    for item in config.datasets().get(split, []):
        if is_remote(item):
            raise BadInput(f"{config.display}: data.{split}: {item!r} is remote; the job's setup must download it "
                           "to a local path (use a SkyPilot file mount and point data at the mount)")
        out += read_examples(config.resolve(item), item, config.data["data"]["format"], config.data["model"]["kind"])
    return out


def adapt_to_domains(examples: list[Example], root: Path, config_display: str) -> list[Example]:
    """``training.domain_adaptation``: format each record that names a ``domain`` with that
    domain's prompt template and answer guardrails (``domain_suites/<domain>/domain.yaml``),
    exactly as evaluation formats the domain's prompts and answers. Records without a
    ``domain`` field are left as they are."""
    from jinja2 import TemplateError

    from llmops_ci.evaluation.domain import known_domains, load_domain
    from llmops_ci.schemacheck import suggest

    known = known_domains(root)
    domains: dict = {}
    out = []
    for ex in examples:
        name = (ex.fields or {}).get("domain")
        if name is None or ex.label is not None:
            out.append(ex)
            continue
        if name not in domains:
            if name not in known:
                raise BadInput(f"{ex.source}: domain: no domain {name!r} (known: {', '.join(known) or 'none'}; "
                               f"a domain is domain_suites/<name>/domain.yaml){suggest(name, known)}")
            local = root / "domain_suites" / name
            domains[name] = load_domain(name, local if (local / "domain.yaml").is_file() else None)
        domain, fields = domains[name], ex.fields or {}
        try:
            if ex.messages is not None:
                msgs = [dict(m) for m in ex.messages]
                users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
                if users:
                    msgs[users[-1]]["content"] = domain.render(msgs[users[-1]]["content"], fields)
                msgs[-1]["content"] = domain.guard(msgs[-1]["content"], fields)
                out.append(Example(messages=msgs, source=ex.source, fields=fields))
            else:
                out.append(Example(prompt=domain.render(ex.prompt, fields), completion=domain.guard(ex.completion, fields),
                                   source=ex.source, fields=fields))
        except TemplateError as exc:
            raise BadInput(f"{ex.source}: domain {name}: its template needs a field this record lacks ({exc}); "
                           f"add the field or turn training.domain_adaptation off in {config_display}") from None
    return out
