"""Per-layer sensitivity scans: prune one layer at a time, at several sparsities, and measure.

    >>> acc = lambda g: accuracy_of(g)                  # any Graph -> float, e.g. test top-1
    >>> scan = sensitivity_scan(graph, acc, sparsities=(0.2, 0.5, 0.8))
    >>> scan["/conv1/Conv"]                             # [0.986, 0.97, 0.61]: one per sparsity

The curves say which layers tolerate pruning (flat curve: prune hard) and which do not (steep:
prune gently or not at all), the first step of MIT 6.5940 lab 1 ("sensitivity scan") and of Han
et al. 2015, who choose each layer's threshold from such curves. Each point prunes only that
layer, from the original weights, and leaves every other layer dense.

method ``"l1"``: the weight's smallest-|w| share zeroed (torch's ``l1_unstructured``, via
:func:`inferlab.prune.masks.l1_unstructured`); ``"channels"``: that share of the layer's output
channels physically removed (:func:`inferlab.prune.structured.prune_channels`, Ln norm).
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import numpy as np

from inferlab.errors import InvalidValueError, describe
from inferlab.graph.ir import Graph, GraphError
from inferlab.prune.masks import apply_mask, l1_unstructured
from inferlab.prune.structured import LAYERS, _find_node, _layer, prune_channels

METHODS = ("l1", "channels")
DEFAULT_SPARSITIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def prunable_layers(graph: Graph, method: str = "l1") -> list[str]:
    """Names of the nodes a scan prunes by default: every Conv/Gemm/MatMul with a constant
    weight; for ``"channels"`` only those whose channels :func:`prune_channels` can follow
    (not the output layer, not a layer feeding an Add of two branches, ...)."""
    _check_args(graph, method)
    names = []
    for node in graph.nodes:
        if node.op not in LAYERS:
            continue
        try:
            _layer(graph, node)
            if method == "channels":
                prune_channels(graph, {node.name: 0.0})  # keeps all: only follows the chain
        except GraphError:
            continue
        names.append(node.name)
    return names


def _check_args(graph, method) -> None:
    if not isinstance(graph, Graph):
        raise InvalidValueError(
            f"sensitivity_scan needs an inferlab.graph.Graph; got {describe(graph)}"
        )
    if method not in METHODS:
        raise InvalidValueError(f"sensitivity_scan method must be one of {METHODS}; got {method!r}")


def _check_sparsities(sparsities) -> tuple[float, ...]:
    try:
        values = tuple(sparsities)
    except TypeError:
        values = None
    bad = (
        values is None
        or not values
        or not all(
            isinstance(s, Real) and not isinstance(s, bool) and 0.0 <= s < 1.0 for s in values
        )
    )
    if bad:
        raise InvalidValueError(
            f"sparsities must be a non-empty sequence of floats in [0, 1); got {sparsities!r}"
        )
    return tuple(float(s) for s in values)


def _pruned(graph: Graph, key: str, sparsity: float, method: str, norm) -> Graph:
    if method == "channels":
        return prune_channels(graph, {key: sparsity}, norm=norm)
    weight = _layer(graph, _find_node(graph, key)).weight
    w = graph.initializers[weight]
    g = graph.copy()
    g.initializers[weight] = apply_mask(w, l1_unstructured(w, sparsity))
    return g


def sensitivity_scan(
    graph: Graph,
    evaluate: Callable[[Graph], float],
    layers=None,
    sparsities=DEFAULT_SPARSITIES,
    method: str = "l1",
    norm=2,
) -> dict[str, list[float]]:
    """Layer -> [evaluate(graph with only that layer pruned to s) for s in sparsities].

    evaluate: a function of a Graph returning a number (e.g. test accuracy); layers: node names
    (or weight names) to scan, default :func:`prunable_layers`; sparsities: floats in [0, 1);
    method: "l1" (unstructured, smallest |w|) or "channels" (structured, smallest Ln norm
    ``norm``). The input graph is never modified.
    """
    _check_args(graph, method)
    if not callable(evaluate):
        raise InvalidValueError(
            f"evaluate must be a function Graph -> float; got {describe(evaluate)}"
        )
    values = _check_sparsities(sparsities)
    if layers is None:
        layers = prunable_layers(graph, method)
    elif isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise InvalidValueError(
            f"sensitivity_scan found no layers to prune in graph '{graph.name}'"
        )
    for key in layers:
        _layer(graph, _find_node(graph, key))  # unknown names / non-prunable layers, up front
    out: dict[str, list[float]] = {}
    for key in layers:
        row = []
        for s in values:
            score = evaluate(_pruned(graph, key, s, method, norm))
            if isinstance(score, bool) or not isinstance(score, Real | np.number):
                raise InvalidValueError(
                    f"evaluate must return a number; got {describe(score)} for layer {key!r}"
                )
            row.append(float(score))
        out[key] = row
    return out
