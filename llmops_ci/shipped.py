"""Where the data that ships with llmops-ci lives (domain suites, gate policies, the example).

In a wheel the folders are copied into the package (``llmops_ci/_shipped``);
in a source checkout or an editable install they sit at the repository root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The shipped folder ``name`` (``domain_suites``, ``gates`` or ``examples``)."""
    inside = _PACKAGE / "_shipped" / name
    if inside.is_dir():
        return inside
    return _PACKAGE.parent / name


def schema_path(name: str) -> Path:
    return _PACKAGE / "schemas" / name
