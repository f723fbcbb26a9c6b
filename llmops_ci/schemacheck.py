"""JSON Schema validation that speaks the user's language.

Turns jsonschema's errors into one ``Problem`` each: the key path, what was
expected and what was found, and a did-you-mean for misspelt keys and values.
"""

from __future__ import annotations

import difflib
import functools
import json
from typing import Any

from llmops_ci.errors import Problem
from llmops_ci.shipped import schema_path
from llmops_ci.yamlfile import YamlDocument, key_path


@functools.lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    return json.loads(schema_path(name).read_text(encoding="utf-8"))


def _validator(schema: dict):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _json_type(value)
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def _expected_types(schema: dict) -> str:
    if "type" in schema:
        t = schema["type"]
        names = t if isinstance(t, list) else [t]
        return " or ".join({"object": "mapping", "array": "list"}.get(n, n) for n in names)
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    return "a valid value"


def _message(error) -> tuple[tuple, str]:
    """(path, message) for one jsonschema error."""
    path = tuple(error.absolute_path)
    v, inst, sch = error.validator, error.instance, error.schema
    if v == "additionalProperties":
        allowed = sorted(sch.get("properties", {}))
        extras = [k for k in inst if k not in sch.get("properties", {})]
        key = extras[0] if extras else "?"
        hint = suggest(key, allowed) or f" (allowed: {', '.join(allowed)})"
        return path + (key,), f"unknown key{hint}"
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        return path + (missing,), "missing required key"
    if v == "type":
        return path, f"wrong type (expected {_expected_types(sch)}, got {_json_type(inst)} {_show(inst)})"
    if v == "enum":
        return path, f"not allowed (expected one of {', '.join(map(str, error.validator_value))}, got {_show(inst)}){suggest(inst, error.validator_value)}"
    if v == "const":
        return path, f"not allowed (expected {_show(error.validator_value)}, got {_show(inst)})"
    if v == "pattern":
        return path, f"badly formed (expected to match {error.validator_value}, got {_show(inst)})"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return path, f"out of range (expected {op} {error.validator_value}, got {_show(inst)})"
    if v in ("minLength", "minItems"):
        return path, f"too short (expected at least {error.validator_value} {'characters' if v == 'minLength' else 'items'}, got {_show(inst)})"
    if v == "uniqueItems":
        return path, "has repeated items (expected each item once)"
    if v in ("oneOf", "anyOf"):
        kinds = " or ".join(_expected_types(s) for s in error.validator_value)
        return path, f"wrong type (expected {kinds}, got {_json_type(inst)} {_show(inst)})"
    return path, error.message


def schema_problems(doc: YamlDocument, schema_name: str) -> list[Problem]:
    """Every schema problem in ``doc``, one Problem each, in file order."""
    problems = list(doc.duplicates)
    validator = _validator(load_schema(schema_name))
    for error in validator.iter_errors(doc.data):
        path, msg = _message(error)
        problems.append(Problem(doc.file, key_path(path), msg, doc.line_of(path)))
    problems.sort(key=lambda p: (p.line or 0, p.path))
    return problems


def apply_defaults(data: Any, schema: dict, root: dict | None = None) -> Any:
    """A copy of ``data`` with the schema's ``default`` values filled in for absent keys."""
    root = root or schema
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        schema = {**root["$defs"][ref], **{k: v for k, v in schema.items() if k != "$ref"}}
    if isinstance(data, dict) and "properties" in schema:
        out = dict(data)
        for key, sub in schema["properties"].items():
            if key in out:
                out[key] = apply_defaults(out[key], sub, root)
            elif "default" in sub:
                out[key] = apply_defaults(json.loads(json.dumps(sub["default"])), sub, root)
        return out
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"], root) for item in data]
    return data
