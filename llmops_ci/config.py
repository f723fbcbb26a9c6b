"""``llmops.yaml``: load, check against the schema, check what it refers to.

``load_config`` is what every stage calls; it raises :class:`ConfigProblems`
listing every problem at once. ``check_config`` returns the problems instead,
for ``llmops-ci validate``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from llmops_ci.errors import BadInput, ConfigProblems, Problem
from llmops_ci.schemacheck import apply_defaults, load_schema, schema_problems, suggest
from llmops_ci.shipped import shipped_dir
from llmops_ci.yamlfile import YamlDocument, key_path, load_yaml

SCHEMA = "llmops.schema.json"
DEFAULT_CONFIG = "llmops.yaml"
# The alias `register` points at every new version; environments may not use it.
CANDIDATE_ALIAS = "candidate"
# Presets the training module can build without a hub (see llmops_ci/training).
BUILTIN_PRESETS = ("tiny-gpt2",)
REMOTE_SCHEMES = ("s3", "gs", "gcs", "r2", "az", "abfs", "abfss", "http", "https", "hf", "dbfs", "models")
TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "postgresql+psycopg2", "mysql", "mssql", "file", "databricks", "")


@dataclass
class Config:
    """A checked llmops.yaml with defaults applied."""

    path: Path
    data: dict

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def display(self) -> str:
        return _display(self.path)

    def resolve(self, relative: str) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.root / p)

    @property
    def sha256(self) -> str:
        """Hash of the effective configuration (canonical JSON, sorted keys)."""
        return canonical_sha256(self.data)

    @property
    def project(self) -> str:
        return self.data["project"]["name"]

    @property
    def model_name(self) -> str:
        return self.data["registry"].get("model_name") or self.project

    @property
    def experiment(self) -> str:
        return self.data["registry"].get("experiment") or f"llmops/{self.project}"

    @property
    def tracking_uri(self) -> str:
        return resolve_tracking_uri(self.data["registry"]["tracking_uri"], self.root)

    @property
    def environments(self) -> list[dict]:
        return [
            {**env, "alias": env.get("alias") or env["name"]}
            for env in self.data.get("environments", [])
        ]

    def datasets(self) -> dict[str, list[str]]:
        """``{"train": [...], "eval": [...]}`` with each entry a path or URI as written."""
        out = {}
        for split in ("train", "eval"):
            value = self.data["data"].get(split)
            if value:
                out[split] = value if isinstance(value, list) else [value]
        return out


def canonical_sha256(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def resolve_tracking_uri(uri: str, root: Path) -> str:
    """Make a relative ``sqlite:///`` path relative to the config's folder."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        rel = uri[len("sqlite:///"):]
        return "sqlite:///" + str((root / rel).resolve())
    return uri


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def is_remote(location: str) -> bool:
    scheme = urlparse(location).scheme
    return scheme in REMOTE_SCHEMES


def mlflow_alias_problem(alias: str) -> str | None:
    """Why ``alias`` cannot be an MLflow registered-model alias, or None."""
    # MLflow refuses `latest` and version-like names (v1, V2) and limits length.
    if not alias:
        return "empty alias"
    if alias.lower() == "latest":
        return "`latest` is reserved by MLflow"
    if re.fullmatch(r"[vV]\d+", alias):
        return f"`{alias}` looks like a version number, which MLflow refuses as an alias"
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", alias):
        return "expected letters, digits, '_' and '-' only"
    return None


def find_suite(name: str, root: Path) -> Path | None:
    """A suite folder (with suite.yaml): a path relative to the config, else a shipped suite."""
    for candidate in (root / name, root / "domain_suites" / name, shipped_dir("domain_suites") / name):
        if (candidate / "suite.yaml").is_file():
            return candidate
    return None


def find_gate(name: str, root: Path) -> Path | None:
    """A gate policy file: a path relative to the config, else a shipped policy."""
    for candidate in (root / name, root / "gates" / f"{name}.yaml", shipped_dir("gates") / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    return None


def _installed(kind: str) -> list[str]:
    folder = shipped_dir(kind)
    if not folder.is_dir():
        return []
    if kind == "gates":
        return sorted(p.stem for p in folder.glob("*.yaml"))
    return sorted(p.name for p in folder.iterdir() if (p / "suite.yaml").is_file())


def _check_data(data: dict, root: Path, add) -> None:
    """Data files that live on disk must exist."""
    for split in ("train", "eval"):
        value = data["data"].get(split)
        items = value if isinstance(value, list) else ([value] if value else [])
        for i, item in enumerate(items):
            path = ("data", split) + ((i,) if isinstance(value, list) else ())
            if is_remote(item):
                continue
            p = (root / item) if not Path(item).is_absolute() else Path(item)
            if not p.exists():
                add(path, f"dataset not found (expected a file relative to the config, got {item!r})")
            elif p.is_dir():
                add(path, f"is a directory (expected a JSONL file, got {item!r})")


def _check_model(data: dict, root: Path, add) -> None:
    """The base model: a preset, a local directory with config.json, or a hub id."""
    base = data["model"]["base"]
    if base.startswith("builtin:"):
        preset = base.split(":", 1)[1]
        if preset not in BUILTIN_PRESETS:
            add(("model", "base"), f"unknown preset (expected one of {', '.join('builtin:' + p for p in BUILTIN_PRESETS)}, got {base!r})")
        return
    local = (root / base) if not Path(base).is_absolute() else Path(base)
    if base.startswith((".", "/", "~")) or local.exists():
        if not local.is_dir():
            add(("model", "base"), f"model directory not found (expected a folder with config.json, got {base!r})")
        elif not (local / "config.json").is_file():
            add(("model", "base"), f"not a model directory: no config.json in {base!r} (expected a folder saved with save_pretrained)")


def _check_registry(data: dict, root: Path, add) -> None:
    uri = data["registry"]["tracking_uri"]
    if urlparse(uri).scheme not in TRACKING_SCHEMES:
        add(("registry", "tracking_uri"), f"unsupported scheme (expected sqlite:///, http(s)://, postgresql://, file://, databricks, got {uri!r})")


def _check_evaluation(data: dict, root: Path, add) -> None:
    evaluation = data.get("evaluation", {})
    for i, name in enumerate(evaluation.get("suites", [])):
        if find_suite(name, root) is None:
            installed = _installed("domain_suites")
            hint = f" (installed: {', '.join(installed)})" if installed else ""
            add(("evaluation", "suites", i), f"suite not found: no suite.yaml in {name!r}{hint}{suggest(name, installed)}")
    for i, name in enumerate(evaluation.get("gates", [])):
        if find_gate(name, root) is None:
            installed = _installed("gates")
            hint = f" (installed: {', '.join(installed)})" if installed else ""
            add(("evaluation", "gates", i), f"gate policy not found: {name!r} is neither a file nor a shipped policy{hint}{suggest(name, installed)}")
    if "baseline_alias" in evaluation:
        why = mlflow_alias_problem(evaluation["baseline_alias"])
        if why:
            add(("evaluation", "baseline_alias"), f"invalid MLflow alias: {why}")


def _check_environments(data: dict, root: Path, add) -> None:
    suites = set(data.get("evaluation", {}).get("suites", []))
    names: dict[str, int] = {}
    aliases: dict[str, int] = {}
    for i, env in enumerate(data.get("environments", [])):
        name = env["name"]
        alias = env.get("alias") or name
        alias_key = ("environments", i, "alias" if "alias" in env else "name")
        if name in names:
            add(("environments", i, "name"), f"duplicate environment name (already used by environments[{names[name]}])")
        names.setdefault(name, i)
        why = mlflow_alias_problem(alias)
        if why:
            add(alias_key, f"invalid MLflow alias {alias!r}: {why}")
        elif alias == CANDIDATE_ALIAS:
            add(alias_key, f"alias `{CANDIDATE_ALIAS}` is reserved for newly registered versions (choose another)")
        if alias in aliases:
            add(alias_key, f"duplicate alias {alias!r} (already used by environments[{aliases[alias]}])")
        aliases.setdefault(alias, i)
        req = env.get("requires", {})
        for j, gate in enumerate(req.get("gates", [])):
            if gate != "all" and gate not in suites:
                add(("environments", i, "requires", "gates", j),
                    f"not a configured suite (expected `all` or one of evaluation.suites: {', '.join(sorted(suites)) or 'none configured'}, got {gate!r})")
        approvers = req.get("approvers")
        need = req.get("approvals", 0)
        if approvers is not None and need > 0 and not any(a.startswith("team:") for a in approvers) and len(set(approvers)) < need:
            add(("environments", i, "requires", "approvers"),
                f"too few approvers (expected at least {need} for approvals: {need}, got {len(set(approvers))})")


_MEANING_CHECKS = (_check_data, _check_model, _check_registry, _check_evaluation, _check_environments)


def _meaning_problems(doc: YamlDocument, data: dict, root: Path) -> list[Problem]:
    """Checks a schema cannot express: files exist, names unique, aliases valid.

    Each check runs on its own, so a malformed section (already reported by
    the schema) does not hide the problems of the others.
    """
    problems: list[Problem] = []

    def add(path: tuple, msg: str) -> None:
        problems.append(Problem(doc.file, key_path(path), msg, doc.line_of(path)))

    for check in _MEANING_CHECKS:
        try:
            check(data, root, add)
        except (KeyError, TypeError, AttributeError, IndexError):
            continue  # that section is malformed; the schema already said how
    return problems


def check_config(path: Path) -> tuple[Config | None, list[Problem]]:
    """Load and check ``path``; return the config (if usable) and every problem found."""
    display = _display(path)
    try:
        doc = load_yaml(path, display)
    except BadInput as exc:
        return None, [Problem(display, "", line.split(": ", 1)[1] if ": " in line else line) for line in exc.lines]
    problems = schema_problems(doc, SCHEMA)
    data = apply_defaults(doc.data, load_schema(SCHEMA))
    seen = {(p.path, p.message) for p in problems}
    problems += [p for p in _meaning_problems(doc, data, path.parent) if (p.path, p.message) not in seen]
    problems.sort(key=lambda p: (p.line or 0, p.path))
    if problems:
        return None, problems
    return Config(path.resolve(), data), []


def load_config(path: str | Path | None = None) -> Config:
    """The checked config at ``path`` (default ./llmops.yaml); raises ConfigProblems."""
    path = Path(path or DEFAULT_CONFIG)
    config, problems = check_config(path)
    if problems:
        raise ConfigProblems(problems)
    return config
