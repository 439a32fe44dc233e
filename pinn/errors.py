"""Exceptions that the CLI turns into one-line messages instead of tracebacks."""

from __future__ import annotations

import os


class PinnError(Exception):
    """Base class of every error a user can cause (bad input, bad config)."""


class InputError(PinnError):
    """A data file is unreadable or inconsistent; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{self.path}: {problem}")


class ConfigError(PinnError):
    """An invalid configuration key or value; the message names the key."""


class TrainingDiverged(PinnError):
    """Training produced a non-finite loss; the last good checkpoint is left intact."""


class InputWarning(UserWarning):
    """A data file was read after a documented repair or after masking bad pixels; names the file."""


class TrainingWarning(UserWarning):
    """A trained state that the forecast uses although it ended far from convergence; names the rotation."""


class OutputError(PinnError):
    """An output path cannot be written (an existing file where a folder is needed, no permission)."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
