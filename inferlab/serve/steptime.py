"""How long one LLM serving step takes: a roofline model or a measured table.

An iteration-level scheduler (:mod:`inferlab.serve.llm`) runs one *step* at a time: some
sequences process a prefill chunk (many tokens each), others decode one token each. A step-time
model maps the step's shape to seconds:

    step_time(n_prefill_tokens, n_decode, kv_tokens, prefill_pairs=0) -> seconds

n_prefill_tokens: prompt tokens processed this step (all prefill chunks together);
n_decode: sequences decoding one token each; kv_tokens: KV-cache tokens the decoding sequences
read (the sum of their contexts); prefill_pairs: query-key pairs of the prefill chunks,
``sum(chunk * (context + chunk))`` (``S**2`` for a whole prompt of S tokens): the quadratic part.
Any callable with the first three arguments works as a step time (tests use constants).

:class:`RooflineStep` (LLM-Viewer / GenZ style, via :mod:`inferlab.hw`) splits a step into

1. the weight matmuls of all ``T = n_prefill_tokens + n_decode`` tokens, plus the prefill
   attention: ``flops = 2 * P * T + 4 * L * d * prefill_pairs``, ``bytes = weights +
   n_prefill_tokens * kv_bytes_per_token`` (the new KV written), time ``max(compute, memory)``;
2. the decode attention over the cache: ``flops = 4 * L * d * kv_tokens``, ``bytes = kv_tokens *
   kv_bytes_per_token``, time ``max(compute, memory)``, memory-bound;

the same two terms as :func:`inferlab.hw.decode_step` (pure decode) and :func:`inferlab.hw.prefill`
(pure prefill), which it equals to rounding. Below the ridge point (~153 tokens on an A100) a
step costs one read of the weights whatever its size: that is why batching decode is nearly free.

:class:`TableStep` (Vidur style) interpolates a *measured* time of the linear layers against the
number of tokens in the step (``np.interp``), and adds the attention terms from the roofline.
:meth:`TableStep.vidur_a100_llama2_7b` loads Vidur's A100 profile of Llama-2-7B shipped in
``datasets/``: it sits 1.3-1.5x above the ideal roofline, flat to ~128 tokens, with its knee
between 128 and 256 tokens (research notes, serving.md section 2).

Course simplifications: no tensor/pipeline-parallel communication, no CPU scheduling overhead
unless you pass ``overhead_s``, no padding of token counts to multiples of 8, the KV of a
prefill chunk's earlier chunks is not counted as bytes read (prefill is compute-bound anyway).
"""

from __future__ import annotations

import bisect
import csv
import math
from numbers import Integral, Real
from typing import Protocol

import numpy as np

from inferlab import hw
from inferlab.errors import InvalidValueError
from inferlab.hw.estimate import DEFAULT_EFFICIENCY, Efficiency, compute_dtype

__all__ = ["OPT_13B", "RooflineStep", "StepTime", "TableStep", "constant_step"]

# OPT-13B (facebook/opt-13b config.json: 40 layers, d_model 5120, 40 heads): the model of the
# vLLM paper's Fig. 13; 12.85e9 parameters.
OPT_13B = hw.Transformer("OPT-13B", 12.85e9, 40, 5120, 40, 40)


class StepTime(Protocol):
    """Seconds one step takes (see the module docstring for the arguments)."""

    def __call__(
        self, n_prefill_tokens: int, n_decode: int, kv_tokens: int, prefill_pairs: float = 0.0
    ) -> float: ...


def _efficiency(efficiency) -> Efficiency:
    if efficiency is None:
        return DEFAULT_EFFICIENCY["ideal"]
    if isinstance(efficiency, Efficiency):
        return efficiency
    if isinstance(efficiency, str) and efficiency in DEFAULT_EFFICIENCY:
        return DEFAULT_EFFICIENCY[efficiency]
    raise InvalidValueError(
        f"efficiency must be None, an Efficiency or one of {sorted(DEFAULT_EFFICIENCY)}; "
        f"got {efficiency!r}"
    )


def _nonneg(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) or v < 0:
        raise InvalidValueError(f"{name} must be a finite number >= 0 seconds; got {v!r}")
    return float(v)


_ARANGE = np.arange(0)


def _arange(m: int) -> np.ndarray:
    """np.arange(m) as float64, from a cached buffer (read-only view)."""
    global _ARANGE
    if m > _ARANGE.size:
        _ARANGE = np.arange(max(2 * m, 1024), dtype=np.float64)
        _ARANGE.flags.writeable = False
    return _ARANGE[:m]


class RooflineStep:
    """Roofline step time of ``model`` on ``device`` (agrees with hw.decode_step / hw.prefill).

    model: an :class:`inferlab.hw.Transformer` with layers, width and KV heads (hw.LLAMA2_7B,
    :data:`OPT_13B`, ...); device: an :class:`inferlab.hw.Device` (``hw.device("H100 SXM")``);
    dtype: weight format (activations and KV in bf16 for 8/4-bit weights, else the same);
    kv_dtype: KV format if different; efficiency: None (ideal), an :class:`hw.Efficiency` or a
    preset name ("kernel", "llm_serving"); chips: tensor-parallel chips (bandwidth and FLOP/s
    times ``chips``, no communication); overhead_s: seconds added to every step (CPU side).
    """

    def __init__(self, model, device, dtype: str = "bf16", kv_dtype: str | None = None,
                 efficiency=None, chips: int = 1, overhead_s: float = 0.0):  # fmt: skip
        if not isinstance(model, hw.Transformer) or None in (model.n_layers, model.d_model):
            raise InvalidValueError(
                f"model must be an hw.Transformer with n_layers and d_model (e.g. hw.LLAMA2_7B); "
                f"got {model!r}"
            )
        if not isinstance(device, hw.Device):
            raise InvalidValueError(
                f"device must be an hw.Device (e.g. hw.device('H100 SXM')); got {device!r}"
            )
        if isinstance(chips, bool) or not isinstance(chips, Integral) or chips < 1:
            raise InvalidValueError(f"chips must be an int >= 1; got {chips!r}")
        act = "bf16" if dtype in ("int4", "int8", "fp4") else dtype
        self.model, self.device, self.dtype = model, device, dtype
        self.kv_dtype = kv_dtype or act
        self.efficiency = eff = _efficiency(efficiency)
        self.overhead_s = _nonneg("overhead_s", overhead_s)
        self.chips = int(chips)
        peak = chips * device.peak_for(compute_dtype(dtype, act)) * eff.compute
        bw = chips * device.mem_bw * eff.memory
        self.kv_bytes_per_token = model.kv_bytes_per_token(self.kv_dtype)
        # seconds per unit, so that a call is a few float multiplications
        self._s_per_token = 2 * model.n_params / peak
        self._s_per_pair = 4 * model.n_layers * model.d_model / peak
        self._s_weights = model.weight_bytes(dtype) / bw
        self._s_kv_write = self.kv_bytes_per_token / bw
        self._s_kv_read = self.kv_bytes_per_token / bw
        self._fixed = eff.overhead_s + self.overhead_s
        self._ov = eff.overlap

    def __call__(self, n_prefill_tokens, n_decode, kv_tokens, prefill_pairs=0.0) -> float:
        ov = self._ov
        c = (n_prefill_tokens + n_decode) * self._s_per_token + prefill_pairs * self._s_per_pair
        m = self._s_weights + n_prefill_tokens * self._s_kv_write
        t = (c if c > m else m) + (1.0 - ov) * (m if c > m else c) + self._fixed
        if kv_tokens:
            c = kv_tokens * self._s_per_pair
            m = kv_tokens * self._s_kv_read
            t += (c if c > m else m) + (1.0 - ov) * (m if c > m else c)
        return t

    def decode_times(self, n_decode: int, kv_tokens: int, m: int) -> np.ndarray:
        """(m,) seconds of ``m`` pure-decode steps of ``n_decode`` sequences, the first reading
        ``kv_tokens`` of KV and each next one ``n_decode`` more (every context one longer)."""
        ov = self._ov
        c, w = n_decode * self._s_per_token, self._s_weights
        t = max(c, w) + (1.0 - ov) * min(c, w) + self._fixed
        a, b = self._s_per_pair, self._s_kv_read
        per_kv = max(a, b) + (1.0 - ov) * min(a, b)
        return t + (kv_tokens + n_decode * _arange(m)) * per_kv

    def decode(self, batch: int, context: int) -> float:
        """A pure decode step: ``batch`` sequences of ``context`` tokens (hw.decode_step)."""
        return self(0, batch, batch * context)

    def prefill(self, batch: int, prompt_len: int) -> float:
        """A pure prefill step of ``batch`` prompts of ``prompt_len`` tokens (hw.prefill)."""
        return self(batch * prompt_len, 0, 0, batch * prompt_len**2)

    def __repr__(self) -> str:
        return f"RooflineStep({self.model.name}, {self.device.name}, {self.dtype})"


class TableStep:
    """Measured step time: linear layers from a table, attention from the roofline.

    tokens: increasing token counts (ints >= 1); seconds: measured time of the step's linear
    layers at each count (same length). Between points: linear interpolation (``np.interp``);
    beyond the last point: proportional (compute-bound). model, device (optional): add the
    attention terms of :class:`RooflineStep` (decode KV reads, prefill quadratic FLOPs) with
    ``efficiency``; without them attention is free. overhead_s: added to every step.
    """

    def __init__(self, tokens, seconds, model=None, device=None, dtype: str = "bf16",
                 efficiency="kernel", overhead_s: float = 0.0):  # fmt: skip
        xs, ys = [float(t) for t in tokens], [float(s) for s in seconds]
        if len(xs) != len(ys) or len(xs) < 2:
            raise InvalidValueError(
                f"TableStep needs tokens and seconds of the same length >= 2; got {len(xs)} "
                f"token counts and {len(ys)} times"
            )
        if any(b <= a for a, b in zip(xs, xs[1:], strict=False)) or xs[0] < 1:
            raise InvalidValueError(f"tokens must be increasing counts >= 1; got {xs[:6]}...")
        if not all(math.isfinite(y) and y > 0 for y in ys):
            raise InvalidValueError(f"seconds must be positive and finite; got {ys[:6]}...")
        self.tokens, self.seconds = xs, ys
        self.overhead_s = _nonneg("overhead_s", overhead_s)
        self._attn = None
        if model is not None or device is not None:
            self._attn = RooflineStep(model, device, dtype, efficiency=efficiency)

    def linear(self, n_tokens: float) -> float:
        """Interpolated time of the linear layers for ``n_tokens`` tokens (0 for none)."""
        xs, ys = self.tokens, self.seconds
        if n_tokens <= 0:
            return 0.0
        if n_tokens <= xs[0]:
            return ys[0]
        if n_tokens >= xs[-1]:
            return ys[-1] * n_tokens / xs[-1]
        i = bisect.bisect_right(xs, n_tokens)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (y1 - y0) * (n_tokens - x0) / (x1 - x0)

    def __call__(self, n_prefill_tokens, n_decode, kv_tokens, prefill_pairs=0.0) -> float:
        t = self.linear(n_prefill_tokens + n_decode) + self.overhead_s
        a = self._attn
        if a is not None:
            t += prefill_pairs * a._s_per_pair
            if kv_tokens:
                t += max(kv_tokens * a._s_per_pair, kv_tokens * a._s_kv_read)
        return t

    def decode_times(self, n_decode: int, kv_tokens: int, m: int) -> np.ndarray:
        """(m,) seconds of ``m`` pure-decode steps (see :meth:`RooflineStep.decode_times`)."""
        kv = kv_tokens + n_decode * _arange(m)
        t = self.linear(n_decode) + self.overhead_s
        a = self._attn
        return t + (kv * max(a._s_per_pair, a._s_kv_read) if a is not None else 0.0 * kv)

    @classmethod
    def vidur_a100_llama2_7b(cls, attention: bool = True, **kw) -> TableStep:
        """Vidur's measured A100 profile of Llama-2-7B's linear layers (32 layers, TP1, bf16).

        From ``datasets/vidur_a100_llama2_7b_linear.csv`` (microsoft/vidur, MIT); attention
        terms from the roofline of hw.LLAMA2_7B on ``hw.device("A100 80GB SXM")`` if
        ``attention``.
        """
        from inferlab import data

        with open(data.dataset_path("vidur_a100_llama2_7b_linear.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        tokens = [int(r["num_tokens"]) for r in rows]
        seconds = [float(r["measured_matmul_ms_32layers"]) / 1e3 for r in rows]
        if attention:
            kw.setdefault("model", hw.LLAMA2_7B)
            kw.setdefault("device", hw.device("A100 80GB SXM"))
        return cls(tokens, seconds, **kw)

    def __repr__(self) -> str:
        return (
            f"TableStep({len(self.tokens)} points, {self.tokens[0]:g}-{self.tokens[-1]:g} tokens)"
        )


def constant_step(seconds: float):
    """A step time that ignores the step's shape (for queueing checks and tests)."""
    s = _nonneg("seconds", seconds)
    if s == 0:
        raise InvalidValueError("a step must take > 0 seconds; got 0")

    def step_time(n_prefill_tokens, n_decode, kv_tokens, prefill_pairs=0.0):
        return s

    step_time.decode_times = lambda n_decode, kv_tokens, m: np.full(m, s)
    return step_time
