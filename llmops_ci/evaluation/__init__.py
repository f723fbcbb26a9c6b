"""Evaluation and validation layer: suites as data, batched generation with a cache,
DeepEval metrics, and gate verdicts against thresholds and the production model."""
