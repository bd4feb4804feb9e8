"""Elementwise activations: ReLU, sigmoid, SiLU, tanh, GELU (any shape, keeps the dtype).

Each returns a new array of x's shape and dtype and matches ``torch.nn.functional``. Two
numerical points, both about *cancellation* (subtracting nearly equal numbers):

- sigmoid: ``1 / (1 + exp(-x))`` overflows exp for x < -88 (float32). The stable form uses
  ``e = exp(-|x|)`` (always <= 1): ``1 / (1 + e)`` for x >= 0 and ``e / (1 + e)`` for x < 0.
- GELU: ``0.5 * x * (1 + erf(x / sqrt(2)))`` loses all digits for x < -4 because 1 + erf(...)
  cancels; ``0.5 * x * erfc(-x / sqrt(2))`` with an accurate erfc does not (see erf.py).
  torch's own float32 GELU uses the cancelling form, so for x < -4 it is the less accurate one.

Exact GELU is also the slowest op of a BERT layer in NumPy, where every ``+`` or ``*`` is one
pass over the data: the erfc formula takes ~40 passes. So |x| <= 3 (97% of the inputs in
MiniLM) takes a 20-pass shortcut, ``x * sigmoid(u(x))`` with u an odd polynomial of degree 15; only
the rest goes through erfc (see ``_gelu_core``).
"""

from __future__ import annotations

import math

import numpy as np

from inferlab.errors import DTypeError, ShapeError, describe
from inferlab.ops._elementwise import blockwise, select
from inferlab.ops._validate import as_float, as_shape, check_choice
from inferlab.ops.cost import Cost, numel
from inferlab.ops.erf import core_then_exact, erfc_nonneg

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


# The fast path: Phi(x) = sigmoid(u(x)) with u = logit(Phi) = log(Phi(x) / Phi(-x)), which is odd
# and smooth, so on |x| <= 3 it is x * P(x^2) with P of degree 7, fitted (minimax, Lawson's
# iteration on math.erfc) to |error of u| < 1e-7. Then gelu = x * Phi(x) = x / (1 + exp(-u)):
# for x < 0, Phi's *relative* error is u's absolute error, so the negative tail stays accurate,
# and no 1 + erf cancels. Evaluated in float32 the result is within 1e-6 (relative) of exact.
# P's first two terms are the tanh approximation's 2 * sqrt(2/pi) * (1 + 0.044715 x^2): that
# "approximate" GELU is this expansion cut after the x^3 term.
_GELU_CORE = 3.0
_LOGIT_PHI = (  # coefficients of P(s), s = x^2, constant term first
    1.5957696097452807,
    0.07266851225743788,
    -6.963072420905264e-05,
    -0.00010744397050283206,
    6.891204643627374e-06,
    -9.690500378007907e-08,
    -9.424449729122488e-09,
    3.811810631092299e-10,
)
_NEG_P = tuple(-c for c in reversed(_LOGIT_PHI))  # -P, highest power first, for Horner


def _gelu_core(x: np.ndarray, out: np.ndarray, tail: np.ndarray, s: np.ndarray) -> None:
    """``out = gelu(x)`` for |x| <= 3 (20 passes); ``tail`` marks the other entries, whose
    ``out`` is garbage (maybe inf or NaN: the caller silences warnings and recomputes them)."""
    np.multiply(x, x, out=s)
    np.greater(s, _GELU_CORE * _GELU_CORE, out=tail)  # NaN compares False: it stays NaN
    p = out  # Horner's rule for -P(s), in the output buffer
    np.multiply(s, _NEG_P[0], out=p)
    p += _NEG_P[1]
    for c in _NEG_P[2:]:
        p *= s
        p += c
    p *= x  # -u
    np.exp(p, out=p)
    p += 1.0
    np.divide(x, p, out=out)  # x / (1 + exp(-u)) = x * sigmoid(u)


def _gelu_tanh_kernel(x: np.ndarray, out: np.ndarray) -> None:
    # 0.5 * x * (1 + tanh(u)) = x * sigmoid(2u): the same function, without 1 + tanh cancelling.
    u = x * x
    u *= 0.044715
    u += 1.0
    u *= x
    u *= 2.0 * _SQRT_2_OVER_PI  # 2u = 2 * sqrt(2/pi) * (x + 0.044715 x^3)
    _sigmoid_kernel(u, out)
    out *= x


def gelu(x, approximate: str = "none", *, out: np.ndarray | None = None) -> np.ndarray:
    """GELU, ``x * Phi(x)`` with Phi the standard normal CDF, like ``F.gelu``.

    approximate="none": exact, ``0.5 * x * erfc(-x / sqrt(2))`` (BERT, GPT-2 in torch);
    relative error < 1e-6 (float32) everywhere, also deep in the negative tail.
    approximate="tanh": ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``, computed as
    the identical ``x * sigmoid(2 * sqrt(2/pi) * (x + 0.044715 x^3))``.
    out: an optional floating array of x's shape to write the result into (no allocation when
    it is contiguous and of x's dtype); it is returned.
    """
    x = as_float(x, "gelu")
    check_choice(approximate, ("none", "tanh"), "gelu", "approximate")
    if out is not None:
        if not isinstance(out, np.ndarray) or out.dtype.kind != "f":
            raise DTypeError(f"gelu needs out to be a floating array; got {describe(out)}")
        if out.shape != x.shape:
            raise ShapeError(f"gelu needs out of x's shape {x.shape}; got {out.shape}")
    if approximate == "none":  # |x| <= 3 by the polynomial, the rest by erfc
        return core_then_exact(x, _gelu_core, _gelu_kernel, out)
    result = blockwise(_gelu_tanh_kernel, x)
    if out is None:
        return result
    out[...] = result
    return out


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
