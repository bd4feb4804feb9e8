"""Errors a reader can act on.

Every error inferlab raises is an :class:`InferlabError`. Its message says what was expected and
what was given, e.g. ``ShapeError: matmul needs (..., M, K) @ (..., K, N); got (2, 3) @ (4, 5)``.
The subclasses also inherit from the matching built-in (``ValueError``, ``TypeError``, ...) so code
that already catches those keeps working.
"""

from __future__ import annotations


class InferlabError(Exception):
    """Base class of every error inferlab raises on purpose."""


class ShapeError(InferlabError, ValueError):
    """An array has the wrong number of dimensions or incompatible sizes."""


class DTypeError(InferlabError, TypeError):
    """An array has a dtype the operation does not accept."""


class InvalidValueError(InferlabError, ValueError):
    """An argument is out of its allowed range (a negative tile size, an unknown mode, ...)."""


class CheckFailed(InferlabError, AssertionError):
    """An exercise check found a wrong answer; the message is the hint."""


class NotebookError(InferlabError):
    """A notebook could not be read, generated or graded."""


def describe(x) -> str:
    """A short description of an argument for error messages: shape and dtype of arrays."""
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is not None and dtype is not None:
        return f"array of shape {tuple(shape)} and dtype {dtype}"
    return f"{type(x).__name__} {x!r}"[:120]
