"""Kernels that reshape, move or index tensors (ONNX semantics), in plain NumPy.

Reshape, Transpose, Squeeze, Unsqueeze, Flatten, Slice, Split and Expand return *views*
(no data copied), which is why the memory planner treats their outputs as aliases of their
input. Shape tensors (the ``shape`` of Reshape, the ``axes`` of Squeeze since opset 13, ...)
arrive as int64 arrays, often computed in the graph from a ``Shape`` node.
"""

from __future__ import annotations

import math

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError
from inferlab.graph.registry import VIEWS, attr_int, check_size, ints, kernel, norm_axis, require

VIEWS.update({"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Split"})
VIEWS.add("Expand")


def _opt(inputs, i):
    return inputs[i] if i < len(inputs) else None


@kernel("Reshape")
def reshape(inputs, attrs):
    """0 copies the input's dim (unless allowzero=1), -1 is inferred; a view when possible."""
    x, dims = inputs[0], ints(inputs[1], "Reshape shape")
    if not attrs.get("allowzero", 0):
        if any(d == 0 and i >= x.ndim for i, d in enumerate(dims)):
            raise ShapeError(f"Reshape: shape {dims} copies a dim (0) that x {x.shape} lacks")
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        raise ShapeError(f"Reshape: shape {dims} is invalid (at most one -1, no other negatives)")
    try:
        return [x.reshape(dims)]
    except ValueError:
        raise ShapeError(f"Reshape cannot turn x of shape {x.shape} into shape {dims}") from None


@kernel("Flatten")
def flatten(inputs, attrs):
    """(d0..d_{axis-1}, d_axis..) -> 2-D (prod before axis, prod from axis)."""
    x = inputs[0]
    axis = int(attrs.get("axis", 1))
    if not -x.ndim <= axis <= x.ndim:
        raise InvalidValueError(f"Flatten: axis {axis} is out of range for x of shape {x.shape}")
    axis = axis + x.ndim if axis < 0 else axis
    return [x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))]


@kernel("Transpose")
def transpose(inputs, attrs):
    perm = attrs.get("perm")
    return [np.transpose(inputs[0], None if perm is None else tuple(perm))]


def _axes(inputs, attrs, op):
    """Axes as input 1 (opset >= 13) or attribute 'axes' (before); None when absent."""
    given = _opt(inputs, 1)
    return ints(given, f"{op} axes") if given is not None else attrs.get("axes")


@kernel("Squeeze")
def squeeze(inputs, attrs):
    x, axes = inputs[0], _axes(inputs, attrs, "Squeeze")
    if axes is None or len(axes) == 0:
        return [np.squeeze(x)]
    axes = tuple(norm_axis(int(a), x.ndim, "Squeeze") for a in axes)
    if any(x.shape[a] != 1 for a in axes):
        raise ShapeError(f"Squeeze: axes {list(axes)} of x {x.shape} are not all of size 1")
    return [np.squeeze(x, axis=axes)]


@kernel("Unsqueeze")
def unsqueeze(inputs, attrs):
    x, axes = inputs[0], _axes(inputs, attrs, "Unsqueeze")
    if axes is None:
        raise ShapeError("Unsqueeze needs axes (input 1 since opset 13, attribute before)")
    rank = x.ndim + len(axes)
    axes = sorted(norm_axis(int(a), rank, "Unsqueeze") for a in axes)  # of the OUTPUT's rank
    if len(set(axes)) != len(axes):
        raise ShapeError(f"Unsqueeze: repeated axes {axes}")
    return [np.expand_dims(x, tuple(axes))]


def _prepare_concat(node, opset):
    require(node, "axis")
    return {**node.attrs, "axis": attr_int(node, "axis")}


@kernel("Concat", prepare=_prepare_concat)
def concat(inputs, attrs):
    first = inputs[0]
    axis = norm_axis(attrs["axis"], first.ndim, "Concat")
    return [np.concatenate(inputs, axis=axis)]


@kernel("Split")
def split(inputs, attrs):
    """Sizes from input 1 (opset >= 13) or attribute 'split'; else equal parts (num_outputs)."""
    x, n = inputs[0], attrs.get("_n_out", 1)
    axis = norm_axis(int(attrs.get("axis", 0)), x.ndim, "Split")
    dim = x.shape[axis]
    given = _opt(inputs, 1)
    sizes = ints(given, "Split split") if given is not None else attrs.get("split")
    if sizes is None:
        parts = int(attrs.get("num_outputs", n))
        chunk = -(-dim // parts)
        sizes = [chunk] * (parts - 1) + [dim - chunk * (parts - 1)]
    if len(sizes) != n or sum(sizes) != dim or min(sizes) < 0:
        raise ShapeError(f"Split: sizes {list(sizes)} do not split {dim} into {n} outputs")
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


@kernel("Gather")
def gather(inputs, attrs):
    """``np.take``: negative indices count from the end; out of range -> IndexError."""
    data, idx = inputs
    if idx.dtype.kind not in "iu":
        raise ShapeError(f"Gather indices must be integers; got {idx.dtype}")
    axis = norm_axis(int(attrs.get("axis", 0)), data.ndim, "Gather")
    return [np.take(data, idx, axis=axis)]


@kernel("GatherElements")
def gather_elements(inputs, attrs):
    data, idx = inputs
    axis = norm_axis(int(attrs.get("axis", 0)), data.ndim, "GatherElements")
    idx = np.where(idx < 0, idx + data.shape[axis], idx)
    return [np.take_along_axis(data, idx, axis=axis)]


@kernel("Slice")
def slice_(inputs, attrs):
    """Starts/ends/axes/steps as inputs (opset >= 10) or attributes; clamped as ONNX says."""
    x = inputs[0]
    if len(inputs) > 1:
        starts, ends = ints(inputs[1], "Slice starts"), ints(inputs[2], "Slice ends")
        axes = _opt(inputs, 3)
        axes = ints(axes, "Slice axes") if axes is not None else list(range(len(starts)))
        steps = _opt(inputs, 4)
        steps = ints(steps, "Slice steps") if steps is not None else [1] * len(starts)
    else:
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes, steps = list(attrs.get("axes", range(len(starts)))), [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ShapeError(f"Slice: starts {starts}, ends {ends}, axes {axes}, steps {steps} differ")
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = norm_axis(axis, x.ndim, "Slice")
        dim = x.shape[axis]
        if step == 0:
            raise InvalidValueError("Slice: a step of 0 is not allowed")
        start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
        if step > 0:
            index[axis] = slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
        else:
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
            index[axis] = slice(start, None if end < 0 else end, step)
    return [x[tuple(index)]]


@kernel("Shape")
def shape(inputs, attrs):
    dims = inputs[0].shape
    start, end = attrs.get("start", 0), attrs.get("end")
    return [np.array(dims[start:end], dtype=np.int64)]


@kernel("Size")
def size(inputs, attrs):
    return [np.array(inputs[0].size, dtype=np.int64)]


@kernel("Expand")
def expand(inputs, attrs):
    """Broadcast x to ``np.broadcast_shapes(x.shape, shape)``: a read-only view."""
    x, dims = inputs[0], ints(inputs[1], "Expand shape")
    try:
        out = np.broadcast_shapes(x.shape, tuple(dims))
    except ValueError:
        raise ShapeError(f"Expand cannot broadcast x of shape {x.shape} to {dims}") from None
    return [np.broadcast_to(x, check_size(out, "Expand"))]
