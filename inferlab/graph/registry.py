"""The kernel registry: op type -> the NumPy function that runs it, plus what the engine needs
to know about each op to run it fast and plan its memory.

A kernel is ``fn(inputs: list[np.ndarray | None], attrs: dict) -> list[np.ndarray]`` with ONNX
semantics (``None`` = an omitted optional input). Besides ``KERNELS``:

- ``PREPARE[op](node, opset) -> attrs``: checks and normalises a node's attributes once, when
  an executor is built (not on every run), e.g. fills opset-dependent defaults;
- ``OUT_KERNELS[op](inputs, attrs, out)``: a variant writing its single output into a given
  buffer ``out`` (NumPy's ``out=``), so a memory plan can reuse buffers;
- ``INPLACE``: ops whose ``out`` may be one of their inputs (elementwise: each output element
  depends only on the input element at the same place), so they can overwrite a dead input;
- ``VIEWS``: ops whose output may share memory with input 0 (Reshape, Transpose, ...).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError
from inferlab.graph.ir import BadAttributeError, Node

KERNELS: dict[str, Callable] = {}
PREPARE: dict[str, Callable] = {}
OUT_KERNELS: dict[str, Callable] = {}
INPLACE: set[str] = set()
VIEWS: set[str] = set()

# Largest tensor a shape-making op (ConstantOfShape, Expand, Tile, Range, ...) may create: a
# corrupt shape tensor must give an error, not try to allocate terabytes.
MAX_ELEMENTS = 1 << 28  # 268M elements: 1 GiB of float32


def kernel(*ops: str, prepare: Callable | None = None, out: Callable | None = None):
    """Decorator registering ``fn`` as the kernel of each op in ``ops``."""

    def register(fn):
        for op in ops:
            KERNELS[op] = fn
            if prepare is not None:
                PREPARE[op] = prepare
            if out is not None:
                OUT_KERNELS[op] = out
        return fn

    return register


def prepare_attrs(node: Node, opset: int | None = None) -> dict:
    """The node's attributes checked and normalised for its kernel (BadAttributeError if not)."""
    fn = PREPARE.get(node.op)
    attrs = dict(node.attrs) if fn is None else fn(node, opset)
    # Some kernels (Split, Dropout, LayerNormalization) need to know how many outputs to make.
    attrs["_n_out"] = len(node.outputs)
    return attrs


def require(node: Node, *names: str) -> None:
    """Each attribute in ``names`` must be present on ``node``."""
    for name in names:
        if name not in node.attrs:
            raise BadAttributeError(
                f"node '{node.name}' ({node.op}) needs attribute '{name}'; "
                f"it has {sorted(node.attrs) or 'none'}"
            )


def attr_ints(node: Node, name: str, default=None, length: int | None = None):
    """An attribute that must be a list of ints (or absent: ``default``) as a tuple."""
    value = node.attrs.get(name, default)
    if value is None:
        return None
    try:
        ints = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise BadAttributeError(
            f"node '{node.name}' ({node.op}) needs attribute '{name}' as a list of ints; "
            f"got {value!r}"
        ) from None
    if length is not None and len(ints) != length:
        raise BadAttributeError(
            f"node '{node.name}' ({node.op}) needs attribute '{name}' with {length} values; "
            f"got {list(ints)}"
        )
    return ints


def attr_choice(node: Node, name: str, default: str, choices: tuple) -> str:
    value = node.attrs.get(name, default)
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if value not in choices:
        raise BadAttributeError(
            f"node '{node.name}' ({node.op}) needs attribute '{name}' to be one of "
            f"{', '.join(choices)}; got {value!r}"
        )
    return value


def attr_int(node: Node, name: str, default: int | None = None) -> int | None:
    value = node.attrs.get(name, default)
    if value is None:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise BadAttributeError(
            f"node '{node.name}' ({node.op}) needs attribute '{name}' to be an int; got {value!r}"
        )
    return int(value)


def ints(array, what: str) -> list[int]:
    """A 0-d or 1-d integer tensor (shape, axes, pads, ...) as a list of Python ints."""
    a = np.asarray(array)
    if a.dtype.kind not in "iu" or a.ndim > 1:
        raise ShapeError(f"{what} must be a 1-D integer tensor; got {a.dtype} {a.shape}")
    return [int(v) for v in a.reshape(-1)]


def check_size(shape, op: str) -> tuple[int, ...]:
    """A shape to allocate: non-negative dims, at most MAX_ELEMENTS elements."""
    shape = tuple(int(d) for d in shape)
    n = 1
    for d in shape:
        if d < 0:
            raise ShapeError(f"{op} got a negative dimension in shape {shape}")
        n *= d
    if n > MAX_ELEMENTS:
        raise InvalidValueError(
            f"{op} would create a tensor of shape {shape} ({n:,} elements), more than "
            f"the {MAX_ELEMENTS:,} allowed; the shape input is probably corrupt"
        )
    return shape


def norm_axis(axis: int, rank: int, op: str) -> int:
    """An ONNX axis in [-rank, rank) made non-negative."""
    if not -rank <= axis < max(rank, 1):
        raise InvalidValueError(f"{op}: axis {axis} is out of range for a rank-{rank} tensor")
    return axis % max(rank, 1)
