"""Exception and warning hierarchy shared by every touchline package.

Every message says what was wrong, what was found and what to do, on one line, so the
CLI can print it as ``Error: ...`` and exit with code 2.
"""

from __future__ import annotations

__all__ = [
    "NotFittedError",
    "OutputPathError",
    "ParameterError",
    "SchemaError",
    "TouchlineError",
    "TouchlineWarning",
    "UnknownModelError",
]


class TouchlineError(Exception):
    """Base class of every error touchline raises on purpose."""


class SchemaError(TouchlineError, ValueError):
    """Input data does not follow the store contract (DESIGN §2).

    Parameters
    ----------
    message : str
        One line naming the file, the column and the first offending values.
    failure_cases : list, optional
        The offending values (or rows), for programmatic inspection.
    """

    def __init__(self, message: str, failure_cases: list | None = None) -> None:
        super().__init__(message)
        self.failure_cases = list(failure_cases or [])


class ParameterError(TouchlineError, ValueError):
    """A parameter outside its allowed range.

    The message names the parameter, the allowed range and the value received.
    """


class UnknownModelError(TouchlineError, KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotFittedError(TouchlineError, RuntimeError):
    """A model's ``credit`` was called before ``fit``."""


class OutputPathError(TouchlineError):
    """An output path that touchline must not write to."""


class TouchlineWarning(UserWarning):
    """Base class of touchline's warnings."""
