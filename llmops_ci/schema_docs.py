"""Generate the README's llmops.yaml reference table from the JSON Schema.

    python -m llmops_ci.schema_docs          # print the table
    python -m llmops_ci.schema_docs --write  # replace it in README.md between the markers
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from llmops_ci.schemacheck import load_schema

BEGIN = "<!-- config-reference:begin -->"
END = "<!-- config-reference:end -->"


def _type(node: dict, root: dict) -> str:
    if "$ref" in node:
        node = {**root["$defs"][node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    if "oneOf" in node:
        return " or ".join(_type(n, root) for n in node["oneOf"])
    t = node.get("type", "")
    if t == "array":
        return f"list of {_type(node.get('items', {}), root)}"
    return {"object": "mapping"}.get(t, t) if isinstance(t, str) else " or ".join(t)


def rows(node: dict, root: dict, prefix: str = "") -> list[tuple[str, str, str, str]]:
    out = []
    if "$ref" in node:
        node = {**root["$defs"][node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    required = set(node.get("required", []))
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        resolved = sub
        if "$ref" in sub:
            resolved = {**root["$defs"][sub["$ref"].split("/")[-1]], **{k: v for k, v in sub.items() if k != "$ref"}}
        default = resolved.get("default")
        shown = "required" if key in required else ("" if default is None else f"`{json.dumps(default)}`")
        desc = resolved.get("description", "").replace("|", "\\|").replace("\n", " ")
        out.append((f"`{path}`", _type(sub, root), shown, desc))
        if resolved.get("type") == "object" and "properties" in resolved:
            out += rows(resolved, root, path + ".")
        items = resolved.get("items")
        if resolved.get("type") == "array" and isinstance(items, dict):
            item = items
            if "$ref" in item:
                item = root["$defs"][item["$ref"].split("/")[-1]]
            if "properties" in item:
                out += rows(item, root, path + "[].")
    return out


def table() -> str:
    schema = load_schema("llmops.schema.json")
    lines = ["| key | type | default | what it means |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(schema, schema)]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = table()
    if "--write" not in argv:
        print(text, end="")
        return 0
    readme = Path(__file__).resolve().parent.parent / "README.md"
    content = readme.read_text()
    start, end = content.index(BEGIN) + len(BEGIN), content.index(END)
    readme.write_text(content[:start] + "\n" + text + content[end:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
