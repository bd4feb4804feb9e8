"""Elementwise activations: ReLU, sigmoid, SiLU, tanh, GELU (any shape, keeps the dtype).

Each returns a new array of x's shape and dtype and matches ``torch.nn.functional``. Two
numerical points, both about *cancellation* (subtracting nearly equal numbers):

- sigmoid: ``1 / (1 + exp(-x))`` overflows exp for x < -88 (float32). The stable form uses
  ``e = exp(-|x|)`` (always <= 1): ``1 / (1 + e)`` for x >= 0 and ``e / (1 + e)`` for x < 0.
- GELU: ``0.5 * x * (1 + erf(x / sqrt(2)))`` loses all digits for x < -4 because 1 + erf(...)
  cancels; ``0.5 * x * erfc(-x / sqrt(2))`` with an accurate erfc does not (see erf.py).
  torch's own float32 GELU uses the cancelling form, so for x < -4 it is the less accurate one.
"""

from __future__ import annotations

import math

import numpy as np

from inferlab.ops._elementwise import blockwise, select
from inferlab.ops._validate import as_float, as_shape, check_choice
from inferlab.ops.cost import Cost, numel
from inferlab.ops.erf import erfc_nonneg

# FLOPs per element, counting each +, -, *, /, comparison, exp, tanh or erf as 1.
FLOPS_PER_ELEMENT = {
    "relu": 1,  # max(x, 0)
    "sigmoid": 4,  # negate, exp, add, divide
    "silu": 5,  # sigmoid, then multiply by x
    "tanh": 1,
    "erf": 1,
    "erfc": 1,
    "gelu": 5,  # x / sqrt(2), erf, + 1, * x, * 0.5
    "gelu_tanh": 9,  # x*x*x (2), * 0.044715, + x, * sqrt(2/pi), tanh, + 1, * x, * 0.5
}


def relu(x) -> np.ndarray:
    """``max(x, 0)`` elementwise. NaN stays NaN (like torch)."""
    x = as_float(x, "relu")
    return np.maximum(x, 0)


def _sigmoid_kernel(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    e = np.abs(x)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|x|) in (0, 1]: never overflows
    r = e + 1.0
    np.reciprocal(r, out=r)  # 1 / (1 + e)
    e *= r  # e / (1 + e)
    return select(x >= 0, r, e, out)


def sigmoid(x) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-x))``, computed without overflow."""
    return blockwise(_sigmoid_kernel, as_float(x, "sigmoid"))


def _silu_kernel(x: np.ndarray, out: np.ndarray) -> None:
    _sigmoid_kernel(x, out)
    out *= x


def silu(x) -> np.ndarray:
    """SiLU (a.k.a. swish) ``x * sigmoid(x)``, the activation of Llama-style MLPs."""
    return blockwise(_silu_kernel, as_float(x, "silu"))


def tanh(x) -> np.ndarray:
    """Hyperbolic tangent, elementwise (NumPy's ``np.tanh``)."""
    return np.tanh(as_float(x, "tanh"))


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _gelu_kernel(x: np.ndarray, out: np.ndarray) -> None:
    # gelu(x) = 0.5 * x * erfc(-x / sqrt(2)) = max(x, 0) - 0.5 * |x| * erfc(|x| / sqrt(2))
    # (for x < 0 both read 0.5 * x * erfc(|x| / sqrt(2)); for x >= 0 use erfc(-z) = 2 - erfc(z)).
    # erfc of a non-negative number is accurate even when tiny: no cancellation anywhere.
    a = np.abs(x)
    e = erfc_nonneg(a, np.empty_like(x), square_scale=0.5)  # erfc(|x| / sqrt(2))
    np.minimum(a, 60.0, out=a)  # erfc(60 / sqrt(2)) is 0: this keeps inf * 0 out
    a *= 0.5
    a *= e
    np.maximum(x, 0.0, out=out)
    out -= a


def _gelu_tanh_kernel(x: np.ndarray, out: np.ndarray) -> None:
    # 0.5 * x * (1 + tanh(u)) = x * sigmoid(2u): the same function, without 1 + tanh cancelling.
    u = x * x
    u *= 0.044715
    u += 1.0
    u *= x
    u *= 2.0 * _SQRT_2_OVER_PI  # 2u = 2 * sqrt(2/pi) * (x + 0.044715 x^3)
    _sigmoid_kernel(u, out)
    out *= x


def gelu(x, approximate: str = "none") -> np.ndarray:
    """GELU, ``x * Phi(x)`` with Phi the standard normal CDF, like ``F.gelu``.

    approximate="none": exact, ``0.5 * x * erfc(-x / sqrt(2))`` (BERT, GPT-2 in torch);
    approximate="tanh": ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``, computed as
    the identical ``x * sigmoid(2 * sqrt(2/pi) * (x + 0.044715 x^3))``.
    """
    x = as_float(x, "gelu")
    check_choice(approximate, ("none", "tanh"), "gelu", "approximate")
    return blockwise(_gelu_kernel if approximate == "none" else _gelu_tanh_kernel, x)


def elementwise_cost(shape, flops_per_element: int = 1, itemsize: int = 4) -> Cost:
    """Cost of an elementwise op on an array of ``shape``.

    flops = flops_per_element * elements;  bytes = 2 * elements * itemsize (read x, write y)
    """
    n = numel(as_shape(shape, "elementwise_cost"))
    return Cost(flops_per_element * n, 2 * n * itemsize)


def relu_cost(shape, itemsize: int = 4) -> Cost:
    """``elementwise_cost`` with 1 FLOP per element."""
    return elementwise_cost(shape, FLOPS_PER_ELEMENT["relu"], itemsize)


def sigmoid_cost(shape, itemsize: int = 4) -> Cost:
    """``elementwise_cost`` with 4 FLOPs per element."""
    return elementwise_cost(shape, FLOPS_PER_ELEMENT["sigmoid"], itemsize)


def silu_cost(shape, itemsize: int = 4) -> Cost:
    """``elementwise_cost`` with 5 FLOPs per element."""
    return elementwise_cost(shape, FLOPS_PER_ELEMENT["silu"], itemsize)


def tanh_cost(shape, itemsize: int = 4) -> Cost:
    """``elementwise_cost`` with 1 FLOP per element."""
    return elementwise_cost(shape, FLOPS_PER_ELEMENT["tanh"], itemsize)


def erf_cost(shape, itemsize: int = 4) -> Cost:
    """``elementwise_cost`` with 1 FLOP per element (for erf and erfc)."""
    return elementwise_cost(shape, FLOPS_PER_ELEMENT["erf"], itemsize)


def gelu_cost(shape, approximate: str = "none", itemsize: int = 4) -> Cost:
    """``elementwise_cost`` with 5 FLOPs per element (9 for approximate="tanh")."""
    check_choice(approximate, ("none", "tanh"), "gelu_cost", "approximate")
    key = "gelu" if approximate == "none" else "gelu_tanh"
    return elementwise_cost(shape, FLOPS_PER_ELEMENT[key], itemsize)
