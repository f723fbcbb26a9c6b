"""Metrics: DeepEval's classes where they exist, llmops-ci's own as ``BaseMetric`` subclasses.

A suite names a metric by class (``ExactMatchMetric``, ``PatternMatchMetric``,
``GEval``, or one registered here). Arguments may read the case's fields
(``pattern: "{{ pattern }}"``). Metrics that need an LLM judge are refused
unless ``evaluation.judge`` is configured.
"""

from __future__ import annotations

import os
import re
from llmops_ci.errors import BadInput

os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "1")
os.environ.setdefault("DEEPEVAL_UPDATE_WARNING_OPT_IN", "0")

# DeepEval metrics that score without any model call.
OFFLINE_DEEPEVAL = ("ExactMatchMetric", "PatternMatchMetric")
# llmops-ci's own metrics: class name -> class (DeepEval BaseMetric subclasses).
_OWN: dict[str, type] = {}


def register_metric(cls: type) -> type:
    """Class decorator: make an llmops-ci metric available to suites by its class name."""
    _OWN[cls.__name__] = cls
    return cls


def own_metric_names() -> list[str]:
    _load_domain_metrics()
    return sorted(_OWN)


def _load_domain_metrics() -> None:
    # Domain metrics register themselves on import.
    import llmops_ci.evaluation.domain_metrics  # noqa: F401


def deepeval_metric_names() -> list[str]:
    import deepeval.metrics as dm

    return sorted(n for n in dir(dm) if n.endswith("Metric") and not n.startswith("Base") or n == "GEval")


def metric_class(type_name: str):
    _load_domain_metrics()
    if type_name in _OWN:
        return _OWN[type_name]
    import deepeval.metrics as dm

    return getattr(dm, type_name, None)


def needs_judge(type_name: str) -> bool:
    return type_name not in OFFLINE_DEEPEVAL and type_name not in _OWN


def check_metric_specs(specs: list[dict], display: str, extras: dict) -> None:
    """Every metric exists, and judge metrics have a judge; one error naming the metric otherwise."""
    from llmops_ci.schemacheck import suggest

    _load_domain_metrics()
    known = set(deepeval_metric_names()) | set(_OWN)
    for i, spec in enumerate(specs):
        cls = metric_class(spec["type"])
        if cls is None or spec["type"] not in known:
            raise BadInput(f"{display}: metrics[{i}].type: unknown metric {spec['type']!r}"
                           f"{suggest(spec['type'], sorted(known))} (DeepEval metrics and llmops-ci's: "
                           "`llmops-ci evaluate --list-metrics`)")
        if needs_judge(spec["type"]) and not extras.get("judge"):
            raise BadInput(f"{display}: metrics[{i}]: {spec['type']} needs an LLM judge; configure evaluation.judge "
                           "in llmops.yaml (an OpenAI-compatible endpoint or a local transformers model)")


_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _render_args(args: dict, case: dict, suite_name: str, metric_name: str) -> dict:
    def render(value):
        if isinstance(value, str):
            def sub(m):
                if m.group(1) not in case:
                    raise BadInput(f"{suite_name}: case {case.get('id')!r}: metric {metric_name} reads field "
                                   f"{m.group(1)!r}, which the case does not have")
                return str(case[m.group(1)])
            return _FIELD.sub(sub, value)
        if isinstance(value, list):
            return [render(v) for v in value]
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        return value
    return render(args)


def is_per_case(spec: dict) -> bool:
    return bool(_FIELD.search(repr(spec.get("args") or {})))


def build_metric(spec: dict, case: dict | None, suite_name: str, judge=None, knowledge: dict | None = None):
    """An instance of the metric; ``case`` fills ``{{ field }}`` arguments; domain metrics get the knowledge."""
    cls = metric_class(spec["type"])
    args = dict(spec.get("args") or {})
    if getattr(cls, "uses_knowledge", False):
        args.setdefault("knowledge", knowledge or {})
    if case is not None:
        args = _render_args(args, case, suite_name, spec["name"])
    if spec["type"] == "GEval":
        from deepeval.test_case import SingleTurnParams

        args.setdefault("name", spec["name"])
        params = args.pop("evaluation_params", ["input", "actual_output"])
        args["evaluation_params"] = [SingleTurnParams(p) if isinstance(p, str) else p for p in params]
        args.setdefault("async_mode", False)
    if needs_judge(spec["type"]):
        args["model"] = judge
    try:
        return cls(**args)
    except TypeError as exc:
        raise BadInput(f"{suite_name}: metric {spec['name']} ({spec['type']}): bad args: {exc}") from None


def measure(metric, spec: dict, case: dict, prompt: str, output: str, suite_name: str) -> dict:
    """Score one case: ``{"score", "passed", "reason"}``."""
    from deepeval.test_case import LLMTestCase

    test_case = LLMTestCase(input=prompt, actual_output=output, expected_output=case.get("expected"),
                            context=case.get("context"), additional_metadata={"case": case})
    try:
        score = metric.measure(test_case)
    except Exception as exc:
        name = type(exc).__name__
        if "MissingTestCaseParams" in name or "expected_output" in str(exc) or isinstance(exc, ValueError):
            raise BadInput(f"{suite_name}: case {case['id']!r}: metric {spec['name']} ({spec['type']}) needs a field "
                           f"the case lacks ({str(exc).strip().splitlines()[0]})") from None
        raise
    score = float(metric.score if metric.score is not None else score or 0.0)
    passed = bool(metric.success if metric.success is not None else metric.is_successful())
    return {"score": score, "passed": passed, "reason": getattr(metric, "reason", None)}
