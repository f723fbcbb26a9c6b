"""The error types every stage raises, and the exit code each one means.

The CLI turns these into one line each and an exit code; nothing else in the
package calls ``sys.exit``. Exit codes are part of the public contract:

    0  success
    1  a verdict said no (a gate failed, a promotion was refused)
    2  bad input or usage (config, suite, gate file, flag, model directory)
    3  an outside system failed (MLflow, the forge, the cloud)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_VERDICT = 1
EXIT_BAD_INPUT = 2
EXIT_EXTERNAL = 3


class LlmopsError(Exception):
    """Base class: carries the exit code and one or more problem lines."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, *lines: str):
        self.lines = [line for line in lines if line]
        super().__init__("\n".join(self.lines))


class BadInput(LlmopsError):
    """The user's input is wrong; the message says where and how to fix it."""

    exit_code = EXIT_BAD_INPUT


class VerdictNo(LlmopsError):
    """A gate or a promotion requirement said no."""

    exit_code = EXIT_VERDICT


class ExternalFailure(LlmopsError):
    """An outside system (MLflow, forge, cloud) failed or could not be reached."""

    exit_code = EXIT_EXTERNAL
    forbidden = False  # the forge refused for want of a permission (not because it failed)


class Problem:
    """One problem found in a file: ``FILE: key.path: message``."""

    __slots__ = ("file", "path", "message", "line")

    def __init__(self, file: str, path: str, message: str, line: int | None = None):
        self.file = file
        self.path = path
        self.message = message
        self.line = line  # 1-based line in FILE when known (for annotations)

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "key": self.path, "line": self.line, "message": self.message}


class ConfigProblems(BadInput):
    """Several problems in one or more input files, all reported at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(*(str(p) for p in problems))
