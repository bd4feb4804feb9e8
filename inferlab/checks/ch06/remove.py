"""Exercise 06, task 5: ``remove_filters`` — its fresh cases, known mistakes and diagnosis.

Removing a layer's output channels for real (a smaller tensor, not zeros in a big one) means
every reader of those channels loses the matching INPUT channels, or the shapes no longer
agree. For ``conv1 -> ReLU -> conv2`` (or two Linear layers, torch's ``(out, in)`` layout):

    w1[keep]        conv1's filters           (C1, C_in, kh, kw) -> (K, C_in, kh, kw)
    b1[keep]        conv1's bias              (C1,) -> (K,)
    w2[:, keep]     conv2's input channels    (C2, C1, kh, kw) -> (C2, K, kh, kw)

with ``keep`` sorted, so the surviving channels keep their original order. The reference is
:func:`inferlab.prune.structured.prune_channels` on a two-layer engine graph built from the
case, which follows the dependency from conv1 through the ReLU to conv2 itself. ``keep`` arrives
sorted, unsorted (the order of an importance ranking), as a list and as int32; conv2 always has
more output channels than conv1 (as in the digits CNN, 16 -> 32), so slicing its first axis by
mistake gives an answer, not an IndexError.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch06._common import (
    _rng,
    arrays_symptom,
    encode_arrays,
    mistakes,
    several_slips,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.graph.ir import Graph, Node, Value
from inferlab.prune import structured

_NAMES = ("w1", "b1", "w2")
_UNSORTED = frozenset({"unsorted"})


def _layers(rng, c1, c_in, c2, k=(3, 3), dtype=np.float32):
    w1 = rng.normal(0, 0.2, (c1, c_in, *k)).astype(dtype)
    b1 = rng.normal(0, 0.1, c1).astype(dtype)
    w2 = rng.normal(0, 0.2, (c2, c1, *k)).astype(dtype)
    return w1, b1, w2


def _remove_cases() -> list[Case]:
    rng = _rng(5)
    return [
        Case(
            (*_layers(rng, 16, 1, 32), np.array([0, 2, 3, 6, 9, 10, 13, 15])),
            note="the digits CNN's conv1 (16 filters) -> conv2 (32), half kept",
        ),
        Case(
            (*_layers(rng, 8, 3, 12), np.array([6, 1, 4, 0])),
            note="keep in order of importance: [6, 1, 4, 0]",
            tags=_UNSORTED,
        ),
        Case(
            (*_layers(rng, 6, 3, 10, k=(5, 5)), [5, 0, 2]),
            note="keep as a list [5, 0, 2]",
            tags=_UNSORTED,
        ),
        Case((*_layers(rng, 5, 2, 7), np.array([3])), note="a single channel kept"),
        Case((*_layers(rng, 4, 2, 6), np.arange(4)), note="every channel kept"),
        Case(
            (*_layers(rng, 12, 7, 20, k=()), np.array([11, 3, 7, 0, 5, 8], np.int32)),
            note="two Linear layers (out, in): w1 (12, 7), w2 (20, 12), int32 keep",
            tags=_UNSORTED,
        ),
        Case(
            (*_layers(rng, 10, 4, 16, k=(1, 1), dtype=np.float64), np.array([1, 2, 4, 7, 8])),
            note="1×1 convs, float64",
        ),
    ]


def _graph(w1, b1, w2) -> Graph:
    """x -> conv1 (w1, b1) -> ReLU -> conv2 (w2), or the same with two Gemm (transB) layers."""
    conv = w1.ndim == 4
    op, attrs = ("Conv", {}) if conv else ("Gemm", {"transB": 1})
    shape = (1, w1.shape[1], 9, 9) if conv else (1, w1.shape[1])
    return Graph(
        nodes=[
            Node(op, ["x", "w1", "b1"], ["h"], attrs, name="layer1"),
            Node("Relu", ["h"], ["r"], name="relu"),
            Node(op, ["r", "w2"], ["y"], attrs, name="layer2"),
        ],
        inputs=[Value("x", shape, w1.dtype)],
        outputs=[Value("y", None, w1.dtype)],
        initializers={"w1": w1, "b1": b1, "w2": w2},
    )


def _reference(w1, b1, w2, keep):
    small = structured.prune_channels(_graph(w1, b1, w2), {"layer1": np.asarray(keep)})
    return tuple(small.initializers[n] for n in _NAMES)


def _student(w1, b1, w2, keep, *, w2_axis=1, bias="slice", order="sorted", removal="slice"):
    """A student's filter removal with switches for their mistakes."""
    keep = np.asarray(keep)
    if order == "sorted":
        keep = np.sort(keep)
    if removal == "zero":  # a mask: the pruned channels zeroed, nothing removed
        gone = np.setdiff1d(np.arange(len(w1)), keep)
        w1, b1, w2 = w1.copy(), b1.copy(), w2.copy()
        w1[gone] = 0
        if bias == "slice":
            b1[gone] = 0
        return w1, b1, w2
    new_w2 = w2[:, keep] if w2_axis == 1 else w2[keep]
    return w1[keep], (b1[keep] if bias == "slice" else b1), new_w2


_SLIPS = {
    "w2_axis": [
        (1, None),
        (
            0,
            "conv2 loses its INPUT channels, w2[:, keep] (axis 1 of (C2, C1, kh, kw)): they "
            "are what conv1's removed filters used to feed. w2[keep] removed conv2's own "
            "filters instead.",
        ),
    ],
    "bias": [
        ("slice", None),
        (
            "keep",
            "slice conv1's bias too, b1[keep]: each filter has one bias, and a removed "
            "filter's bias must go with it (otherwise it no longer lines up with w1's rows).",
        ),
    ],
    "order": [
        ("sorted", None),
        (
            "as given",
            "keep the surviving channels in their ORIGINAL order: slice with np.sort(keep). "
            "keep may come in order of importance; the pruned layers then compute the same "
            "thing, but their channels are shuffled.",
        ),
    ],
    "removal": [
        ("slice", None),
        (
            "zero",
            "REMOVE the channels: index with keep, so the arrays get smaller (w1[keep] has "
            "len(keep) filters). Zeroing them leaves every shape, and the cost, unchanged.",
        ),
    ],
}


def _remove_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, IndexError):
        return (
            "index the CHANNEL axes with keep: conv1's filters are w1's axis 0 (w1[keep], "
            "b1[keep]) and conv2's inputs are w2's axis 1 (w2[:, keep])."
        )
    if o.got is None:
        return None
    return several_slips(REMOVE, _student, _SLIPS, outcomes)


REMOVE = Task(
    name="remove_filters",
    arg_names=("w1", "b1", "w2", "keep"),
    reference=_reference,
    cases=_remove_cases,
    covers="the digits CNN's shapes, keep unsorted, as a list and as int32, a single and every "
    "channel kept, 1×1 and 5×5 kernels, two Linear layers and float64",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_remove_diagnose,
    encode=encode_arrays(_NAMES),
    symptom=arrays_symptom(_NAMES),
    fallback_hint="keep = np.sort(keep); return w1[keep], b1[keep], w2[:, keep].",
    forbidden=(structured.prune_channels, structured.masked_channels),
    forbidden_hint="slice the arrays yourself: inferlab.prune.prune_channels is the reference "
    "the check compares with (use it to test your function in a cell of your own).",
    mutation_hint="return new arrays and leave the caller's weights alone: w1[keep] is already "
    "a new array; zeroing w1[gone] = 0 writes into the model's weights.",
)


def check_remove_filters(fn) -> None:
    """Check your ``remove_filters(w1, b1, w2, keep)`` against
    ``inferlab.prune.structured.prune_channels`` on a conv1 -> ReLU -> conv2 graph."""
    __tracebackhide__ = True
    run(REMOVE, fn)
