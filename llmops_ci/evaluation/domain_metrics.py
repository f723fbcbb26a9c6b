"""llmops-ci's own metrics, as DeepEval ``BaseMetric`` subclasses (registered by class name).

Each is deterministic and runs offline. ``OfflineMetric`` holds what they
share; a metric implements ``score_case`` only.
"""

from __future__ import annotations

from deepeval.metrics import BaseMetric

from llmops_ci.evaluation.metrics import register_metric


class OfflineMetric(BaseMetric):
    """A metric computed from the test case alone (no model call)."""

    def __init__(self, threshold: float = 1.0):
        self.threshold = threshold
        self.score = None
        self.success = None
        self.reason = None
        self.async_mode = False
        self.strict_mode = False
        self.include_reason = True
        self.evaluation_model = None
        self.error = None

    def score_case(self, test_case) -> tuple[float, str]:
        raise NotImplementedError

    def measure(self, test_case, *args, **kwargs) -> float:
        self.score, self.reason = self.score_case(test_case)
        self.success = self.score >= self.threshold
        return self.score

    async def a_measure(self, test_case, *args, **kwargs) -> float:
        return self.measure(test_case)

    def is_successful(self) -> bool:
        return bool(self.success)

    @property
    def __name__(self):
        return type(self).__name__.removesuffix("Metric")


@register_metric
class ContainsMetric(OfflineMetric):
    """Passes when the answer contains ``text`` (default: the case's ``expected``); case-insensitive by default."""

    def __init__(self, text: str | None = None, ignore_case: bool = True, threshold: float = 1.0):
        super().__init__(threshold)
        self.text, self.ignore_case = text, ignore_case

    def score_case(self, test_case):
        needle = (self.text if self.text is not None else (test_case.expected_output or "")).strip()
        hay = test_case.actual_output or ""
        if self.ignore_case:
            needle, hay = needle.lower(), hay.lower()
        found = bool(needle) and needle in hay
        return (1.0 if found else 0.0), f"{'found' if found else 'did not find'} {needle!r}"
