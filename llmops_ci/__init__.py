"""llmops-ci: take a language model from a pull request to production."""

__version__ = "0.1.0"
