"""Exercise 06, task 3: ``wanda_mask`` — its fresh cases, known mistakes and diagnosis.

Wanda (Sun et al. 2023, ``locuslab/wanda`` ``lib/prune.py``) prunes by weight magnitude times
the norm of the input feature the weight multiplies, measured on calibration activations
``x (tokens, in)``, and compares the scores **within each output row**:

    score[i, j] = |w[i, j]| · ‖x[:, j]‖₂           # one norm per input feature j
    each row i loses its int(in · sparsity) lowest scores   # int(): Wanda truncates

(Wanda stores ``‖X_j‖² / nsamples``; a positive factor per layer changes no ranking.) The cases
have a few outlier input features 20-60× larger than the rest, as LLM activations do: there
small weights on loud inputs survive and magnitude pruning goes wrong. Scores are tie-free and
at least 1e-4 apart (relatively) within each row, so float32 and float64 rankings agree. The
reference is :func:`inferlab.prune.wanda.wanda_mask` on :func:`inferlab.prune.wanda.wanda_stats`.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch06._common import (
    _rng,
    encode_mask,
    mask_symptom,
    mistakes,
    several_slips,
    tie_free,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.prune import wanda

_NOTHING = frozenset({"nothing"})


def _separated(w: np.ndarray, x: np.ndarray) -> bool:
    """Every ranking a student might use (Wanda's score, |w| · ‖x_j‖², |w| · ‖x_j‖₁, |w|)
    has no two entries of a row within 1e-4 of each other, relatively."""
    x64 = x.astype(np.float64)
    norms = [np.sqrt((x64**2).sum(0)), (x64**2).sum(0), np.abs(x64).sum(0), np.ones(x.shape[1])]
    for norm in norms:
        s = np.sort(np.abs(w.astype(np.float64)) * norm, axis=1)
        if np.any(np.diff(s, axis=1) <= 1e-4 * s[:, 1:]):
            return False
    return True


def _pair(rng, out, inp, tokens, *, loud=(), dtype=np.float32):
    """(w, x) with distinct, well-separated scores; ``loud`` input features 20-60× larger."""
    while True:
        w = tie_free(rng, out, inp).astype(dtype)
        x = rng.normal(0.0, 1.0, (tokens, inp)) * rng.uniform(0.5, 2.0, inp)
        for j in loud:
            x[:, j] *= rng.uniform(20, 60)
        x = x.astype(dtype)
        if _separated(w, x):
            return w, x


def _wanda_cases() -> list[Case]:
    rng = _rng(3)
    return [
        Case((*_pair(rng, 8, 16, 32, loud=(3, 11)), 0.5), note="50 %, two outlier features"),
        Case((*_pair(rng, 6, 10, 20), 0.37), note="in · sparsity = 3.7: int() gives 3"),
        Case((*_pair(rng, 4, 12, 5, loud=(0,)), 0.6), note="5 calibration tokens, 7.2 per row"),
        Case((*_pair(rng, 16, 8, 64, loud=(7,)), 0.75), note="(16, 8) weight, 75 %"),
        Case((*_pair(rng, 5, 24, 16, loud=(2, 9, 20)), 0.25), note="three outlier features"),
        Case((*_pair(rng, 3, 20, 12), 0.42), note="in · sparsity = 8.4"),
        Case((*_pair(rng, 10, 6, 40), 0.5), note="more rows than inputs"),
        Case(
            (*_pair(rng, 4, 9, 8), 0.05), note="in · sparsity = 0.45: nothing pruned", tags=_NOTHING
        ),
        Case(
            (*_pair(rng, 6, 12, 24, loud=(5,), dtype=np.float64), 0.5),
            note="float64 weights and activations",
        ),
    ]


def _reference(w, x, sparsity):
    return wanda.wanda_mask(w, wanda.wanda_stats(x), sparsity)


_NORM = {
    "l2": lambda x: np.sqrt((x.astype(np.float64) ** 2).sum(axis=0)),
    "squared": lambda x: (x.astype(np.float64) ** 2).sum(axis=0),
    "l1": lambda x: np.abs(x.astype(np.float64)).sum(axis=0),
}


def _student(w, x, sparsity, *, score="wanda", norm="l2", scope="row", count="int", keep="largest"):
    """A student's Wanda mask with switches for their mistakes."""
    w = np.asarray(w)
    xn = _NORM[norm](np.asarray(x))
    s = {
        "wanda": lambda: np.abs(w) * xn,
        "magnitude": lambda: np.abs(w).astype(np.float64),
        "signed": lambda: w * xn,
    }[score]()
    if keep == "smallest":
        s = -s
    if scope == "column":
        s = s.T
    rows = s.reshape(1, -1) if scope == "tensor" else s
    k = {"int": int, "round": round}[count](rows.shape[1] * sparsity)
    kept = np.ones(rows.shape, bool)
    if k:
        order = np.argsort(rows, axis=1, kind="stable")
        np.put_along_axis(kept, order[:, :k], False, axis=1)
    kept = kept.reshape(s.shape)
    return kept.T if scope == "column" else kept


_SLIPS = {
    "score": [
        ("wanda", None),
        (
            "magnitude",
            "Wanda's score is |w| TIMES the norm of the input feature: "
            "np.abs(w) * np.linalg.norm(x, axis=0). |w| alone is magnitude pruning, which "
            "prunes small weights on loud (outlier) inputs that matter most.",
        ),
        (
            "signed",
            "take the magnitude of the weight, np.abs(w) * norm: a weight of -0.9 on a loud "
            "input is important, not the least important.",
        ),
    ],
    "norm": [
        ("l2", None),
        (
            "squared",
            "multiply by the L2 NORM ‖x_j‖₂ = sqrt(sum over tokens of x_j²), not by its "
            "square: the square changes which weights of a row rank lowest (Wanda keeps "
            "‖X_j‖² and takes its square root in the score).",
        ),
        (
            "l1",
            "the norm is L2: np.linalg.norm(x, axis=0) = sqrt((x ** 2).sum(axis=0)), not the "
            "sum of |x|.",
        ),
    ],
    "scope": [
        ("row", None),
        (
            "tensor",
            "Wanda compares scores WITHIN EACH OUTPUT ROW: every row i loses its own "
            "int(in · sparsity) lowest scores (np.argsort(score, axis=1)). Ranking the whole "
            "matrix at once can strip some rows almost bare.",
        ),
        (
            "column",
            "compare within each output ROW (axis=1, across the input features of w[i]), not "
            "within each input column: an output neuron keeps the same number of inputs.",
        ),
    ],
    "count": [
        ("int", None),
        (
            "round",
            "Wanda prunes int(in · sparsity) per row (it truncates: 3.7 -> 3), unlike torch's "
            "round(amount · n) in magnitude_mask.",
        ),
    ],
    "keep": [
        ("largest", None),
        (
            "smallest",
            "prune the LOWEST scores of each row and keep the highest: np.argsort sorts "
            "ascending, so the first int(in · sparsity) indices of each row go.",
        ),
    ],
}


def _score_detail(o: Outcome, idx: tuple) -> str:
    w, x = np.asarray(o.case.args[0]), np.asarray(o.case.args[1])
    norm = float(np.sqrt((x.astype(np.float64) ** 2).sum(0))[idx[1]])
    return f" (‖x[:, {idx[1]}]‖ = {norm:.4g}, score {abs(float(w[idx])) * norm:.4g})"


def _wanda_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, ValueError):
        if "broadcast" in str(o.error):
            return (
                "there is one norm per INPUT feature j: reduce x (tokens, in) over its tokens, "
                "np.linalg.norm(x, axis=0), shape (in,); it then broadcasts along each row of "
                "w (out, in)."
            )
    if o.problem == "exception" and "nothing" in o.case.tags:
        return "when int(in · sparsity) is 0 nothing is pruned: the mask is all True."
    if o.got is None or o.got.shape != o.expected.shape:
        return None
    hint = several_slips(WANDA, _student, _SLIPS, outcomes)
    if hint is not None:
        return hint
    failing = [f for f in outcomes if not f.ok and f.got is not None]
    if all(f.got.shape == f.expected.shape for f in failing):
        if all(np.array_equal((f.got != 0).sum(1), (f.expected != 0).sum(1)) for f in failing):
            return (
                "every row keeps the right number of weights but not the right ones: score = "
                "np.abs(w) * np.linalg.norm(x, axis=0), and each row prunes its lowest scores."
            )
    return None


WANDA = Task(
    name="wanda_mask",
    arg_names=("w", "x", "sparsity"),
    reference=_reference,
    cases=_wanda_cases,
    covers="outlier input features, in · sparsity above and below .5, a sparsity that prunes "
    "nothing, few and many calibration tokens, and float64",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_wanda_diagnose,
    encode=encode_mask,
    symptom=lambda o: mask_symptom(o, _score_detail),
    shape_hint="the mask has w's shape (out, in): one True (keep) or False (prune) per weight.",
    fallback_hint="score = np.abs(w) * np.linalg.norm(x, axis=0); k = int(w.shape[1] * "
    "sparsity); order = np.argsort(score, axis=1); mask = np.ones(w.shape, bool); "
    "np.put_along_axis(mask, order[:, :k], False, axis=1).",
    forbidden=(wanda.wanda_mask, wanda.wanda_stats, wanda.WandaStats.add_batch),
    forbidden_hint="compute the norms and the per-row ranking yourself: "
    "inferlab.prune.wanda_mask is the reference the check compares with (use it to test your "
    "function in a cell of your own).",
)


def check_wanda_mask(fn) -> None:
    """Check your ``wanda_mask(w, x, sparsity)`` against ``inferlab.prune.wanda.wanda_mask``
    (Wanda's |w| · ‖x_j‖₂, lowest int(in · sparsity) of each row pruned)."""
    __tracebackhide__ = True
    run(WANDA, fn)
