"""Evaluation suites as data: ``domain_suites/<name>/suite.yaml`` + ``cases.jsonl``.

A user adds a suite by adding a folder. Loading checks both files against
their schemas and reports file, line and key for every problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from llmops_ci.config import canonical_sha256, find_suite
from llmops_ci.errors import BadInput, ConfigProblems, Problem
from llmops_ci.schemacheck import apply_defaults, load_schema, schema_problems
from llmops_ci.shipped import shipped_dir
from llmops_ci.yamlfile import load_yaml


@dataclass
class Suite:
    name: str
    folder: Path
    spec: dict
    cases: list[dict]
    extras: dict = field(default_factory=dict)  # judge id etc. that enter the evaluation hash
    domain: object = None  # llmops_ci.evaluation.domain.Domain

    @property
    def template(self) -> str:
        return self.spec["prompt"].get("template") or (self.domain.template if self.domain else "{{ input }}")

    @property
    def is_performance(self) -> bool:
        return self.spec.get("kind") == "performance"

    @property
    def display(self) -> str:
        return str(self.folder / "suite.yaml")

    @property
    def metric_names(self) -> list[str]:
        return [m["name"] for m in self.spec["metrics"]]

    def eval_hash(self) -> str:
        """What makes two evaluations comparable: cases, template, decoding, metrics, judge, seed."""
        return canonical_sha256({
            "suite": self.name, "version": self.spec.get("version"), "cases": self.cases,
            "prompt": self.spec["prompt"], "template": self.template,
            "generation": {k: v for k, v in self.spec["generation"].items() if k != "batch_size"},
            "metrics": self.spec["metrics"], "seed": self.spec["seed"],
            **({"performance": self.spec["performance"]} if self.is_performance else {}),
            "domain": self.domain.spec if self.domain else None, **self.extras,
        })

    def hash_parts(self) -> dict:
        """Per-component hashes, so a refused comparison can say what differs."""
        gen = {k: v for k, v in self.spec["generation"].items() if k != "batch_size"}
        return {"cases": canonical_sha256(self.cases), "prompt": canonical_sha256([self.spec["prompt"], self.template]),
                "domain": canonical_sha256(self.domain.spec if self.domain else None),
                "generation": canonical_sha256(gen), "metrics": canonical_sha256(self.spec["metrics"]),
                "performance": canonical_sha256(self.spec["performance"] if self.is_performance else None),
                "seed": str(self.spec["seed"]), "judge": canonical_sha256(self.extras.get("judge"))}


def installed_suites() -> list[tuple[str, Path]]:
    root = shipped_dir("domain_suites")
    if not root.is_dir():
        return []
    return sorted((p.name, p) for p in root.iterdir() if (p / "suite.yaml").is_file())


def _read_cases(path: Path) -> list[dict]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema("case.schema.json"))
    if not path.is_file():
        raise BadInput(f"{path}: cases file not found (expected one JSON case per line)")
    cases, problems, seen = [], [], {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem(where, "", f"malformed JSON at column {exc.colno}: {exc.msg}"))
                continue
            errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
            if errors:
                err = errors[0]
                key = ".".join(str(p) for p in err.absolute_path) or (err.message.split("'")[1] if err.validator == "required" else "")
                what = "missing required field" if err.validator == "required" else err.message
                problems.append(Problem(where, key, what))
                continue
            if obj["id"] in seen:
                problems.append(Problem(where, "id", f"duplicate case id {obj['id']!r} (first at line {seen[obj['id']]})"))
                continue
            seen[obj["id"]] = lineno
            cases.append(obj)
    if problems:
        raise ConfigProblems(problems)
    if not cases:
        raise BadInput(f"{path}: suite has no cases (expected one JSON case per line)")
    return cases


def judge_id(spec: dict | None) -> str | None:
    """What identifies the judge in the evaluation hash (never the key). Here, not in judge.py,
    so that reading a suite's hash (promote, model cards) needs no deepeval."""
    if not spec:
        return None
    return f"{spec['type']}:{spec['model']}@{spec.get('base_url', '')}"


def load_configured_suite(name: str, config) -> "Suite":
    """A suite as this llmops.yaml runs it: its evaluation hash includes the configured judge.

    Only its identity is needed here (promote, model cards), so its metrics are not checked
    against DeepEval's catalogue: evaluate did that, and this path must run without deepeval."""
    return load_suite(name, config.root, {"judge": judge_id(config.data.get("evaluation", {}).get("judge"))},
                      check_metrics=False)


def load_suite(name_or_path: str, root: Path | None = None, extras: dict | None = None,
               check_metrics: bool = True) -> Suite:
    """A checked suite by name (shipped or under ``root``) or folder path."""
    folder = find_suite(name_or_path, root or Path.cwd())
    if folder is None:
        installed = [n for n, _ in installed_suites()]
        from llmops_ci.schemacheck import suggest

        raise BadInput(f"suite {name_or_path!r} not found (installed: {', '.join(installed) or 'none'}; "
                       f"or a folder with suite.yaml){suggest(name_or_path, installed)}")
    doc = load_yaml(folder / "suite.yaml")
    problems = schema_problems(doc, "suite.schema.json")
    if problems:
        raise ConfigProblems(problems)
    spec = apply_defaults(doc.data, load_schema("suite.schema.json"))
    names = [m["name"] for m in spec["metrics"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"{doc.file}: metrics: duplicate metric name {dupes[0]!r} (each name once)")
    from llmops_ci.evaluation.domain import load_domain

    if spec["kind"] == "performance" and check_metrics:
        from llmops_ci.evaluation.performance import check_performance_metrics

        check_performance_metrics(spec["metrics"], doc.file)
    elif check_metrics:
        from llmops_ci.evaluation.metrics import check_metric_specs

        check_metric_specs(spec["metrics"], doc.file, extras or {})
    cases = _read_cases(folder / spec["cases"])
    domain = load_domain(spec["domain"], folder) if spec.get("domain") else None
    return Suite(spec["name"], folder, spec, cases, dict(extras or {}), domain)


def case_matches(case: dict, when: dict | None) -> bool:
    """``when``/``slice`` filters: every key must match (lists: membership, e.g. tags)."""
    for key, want in (when or {}).items():
        have = case.get(key)
        wants = want if isinstance(want, list) else [want]
        if isinstance(have, list):
            if not any(w in have for w in wants):
                return False
        elif have not in wants:
            return False
    return True
