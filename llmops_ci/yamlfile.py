"""Read a YAML file into plain data, keeping where each key stood.

Every input file llmops-ci reads (llmops.yaml, suite.yaml, gate policies) goes
through here, so every error can name the file, the key path and the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmops_ci.errors import BadInput, Problem


@dataclass
class YamlDocument:
    file: str
    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)  # key path -> 1-based line
    duplicates: list[Problem] = field(default_factory=list)

    def line_of(self, path: tuple) -> int | None:
        """Line of the deepest known key on ``path``."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def key_path(path) -> str:
    """``('environments', 1, 'name')`` -> ``environments[1].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def load_yaml(path: Path, display: str | None = None, expect_mapping: bool = True) -> YamlDocument:
    """Parse ``path``; raise :class:`BadInput` with line and column on syntax errors."""
    display = display or str(path)
    if not path.exists():
        raise BadInput(f"{display}: file not found (create it, or pass --config PATH)")
    if path.is_dir():
        raise BadInput(f"{display}: is a directory, expected a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{display}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        what = exc.problem or exc.context or "syntax error"
        raise BadInput(f"{display}: {where}: YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises marked errors for text input
        raise BadInput(f"{display}: YAML syntax error: {exc}") from None
    if node is None or data is None:
        raise BadInput(f"{display}: file is empty (expected a mapping of keys such as `project:`)")
    if expect_mapping and not isinstance(data, dict):
        kind = type(data).__name__
        kind = {"list": "a list", "str": "a string", "int": "a number", "float": "a number"}.get(kind, kind)
        raise BadInput(f"{display}: top level is {kind}, expected a mapping of keys (`key: value`)")
    doc = YamlDocument(display, data)
    _walk(node, (), doc)
    return doc


def _walk(node, path: tuple, doc: YamlDocument) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                doc.duplicates.append(
                    Problem(doc.file, key_path(path + (key,)),
                            f"duplicate key (first at line {seen[key]}, again at line {key_node.start_mark.line + 1}): keep one",
                            key_node.start_mark.line + 1))
            seen[key] = key_node.start_mark.line + 1
            doc.lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), doc)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), doc)
