"""Shared argument checks for the ops, so each op states its rules in one line.

Every check raises an :mod:`inferlab.errors` exception whose message says what the op needed and
what it was given, e.g. ``ShapeError: conv2d needs x of shape (N, C, H, W); got (3, 4)``.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import DTypeError, InvalidValueError, ShapeError, describe


def as_float(x, op: str, name: str = "x") -> np.ndarray:
    """``x`` as a floating NumPy array (float16/32/64); lists become arrays, nothing is copied."""
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise DTypeError(
            f"{op} needs a floating-point {name} (float16, float32 or float64); "
            f"got {describe(arr)}; convert with {name}.astype(np.float32)"
        )
    return arr


def check_ndim(x: np.ndarray, ndim: int, op: str, name: str, layout: str) -> None:
    """Exactly ``ndim`` dimensions, e.g. ``check_ndim(x, 4, "conv2d", "x", "(N, C, H, W)")``."""
    if x.ndim != ndim:
        raise ShapeError(f"{op} needs {name} of shape {layout}; got {x.shape}")


def check_min_ndim(x: np.ndarray, ndim: int, op: str, name: str, layout: str) -> None:
    """At least ``ndim`` dimensions (leading batch dimensions are allowed)."""
    if x.ndim < ndim:
        raise ShapeError(f"{op} needs {name} of shape {layout}; got {x.shape}")


def broadcast_batch(a_batch: tuple, b_batch: tuple, message: str) -> tuple:
    """Broadcast two tuples of batch dimensions the NumPy way; ``message`` explains a failure."""
    try:
        return np.broadcast_shapes(tuple(a_batch), tuple(b_batch))
    except ValueError:
        raise ShapeError(message) from None


def is_int(value) -> bool:
    """A Python or NumPy integer, but not a bool (True is an int to Python, not a size)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def pair(value, op: str, name: str, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair as a pair of ints, each at least ``minimum``."""
    given = value
    if isinstance(value, (int, np.integer)):
        value = (value, value)
    try:
        h, w = value
        ok = all(is_int(v) and v >= minimum for v in (h, w))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidValueError(
            f"{op} needs {name} to be an int >= {minimum} or a pair of them; got {given!r}"
        )
    return int(h), int(w)


def check_axis(axis, ndim: int, op: str, shape: tuple) -> int:
    """A valid axis of an array with ``ndim`` dimensions, made non-negative."""
    if not is_int(axis) or not -ndim <= axis < max(ndim, 1):
        raise InvalidValueError(f"{op}: axis {axis!r} is out of range for x of shape {shape}")
    return int(axis) % max(ndim, 1)


def check_choice(value, choices: tuple, op: str, name: str) -> None:
    """``value`` is one of ``choices`` (e.g. GELU's approximate="none" | "tanh")."""
    if value not in choices:
        options = " | ".join(repr(c) for c in choices)
        raise InvalidValueError(f"{op} needs {name} to be {options}; got {value!r}")


def as_shape(shape, op: str, name: str = "shape") -> tuple[int, ...]:
    """A shape given to a cost function (a tuple, a list, an int, or an array's ``.shape``)."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise InvalidValueError(f"{op} needs {name} as a tuple of ints; got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise InvalidValueError(f"{op} needs {name} with non-negative sizes; got {dims}")
    return dims
