"""Published workloads and results: what the cost models are checked against.

A :class:`Workload` is a model reduced to what the roofline needs: FLOPs per item, parameters
(weights), and the elements each item reads and writes. :func:`workload_estimate` treats the
whole model as one fused kernel (activations between layers stay on chip): a lower bound on
time, as every roofline is. ``published_results()`` reads ``datasets/published_results.csv``:
MLPerf Inference and vendor figures, each with its source file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from inferlab import data
from inferlab.errors import InvalidValueError
from inferlab.hw.device import Device, dtype_bytes
from inferlab.hw.estimate import _efficiency, compute_dtype
from inferlab.hw.roofline import Estimate, roofline_time

__all__ = ["CNNS", "Result", "Workload", "published_results", "workload_estimate"]


@dataclass(frozen=True)
class Workload:
    """flops: FLOPs per item (2 per multiply-add); params: weights; io: elements read + written
    per item (input image and output scores); source: where the counts come from."""

    name: str
    flops: float
    params: float
    io: float
    source: str


# MAC counts doubled to FLOPs (torchvision's "GFLOPS" column counts multiply-adds).
CNNS = {
    "resnet50": Workload(
        "ResNet-50", 8.18e9, 25.56e6, 224 * 224 * 3 + 1000,
        "torchvision ResNet50_Weights.IMAGENET1K_V1: 4.09 GMAC, 25.6 M params",
    ),
    "inception_v4": Workload(
        "Inception-v4", 2 * 12.28e9, 42.68e6, 299 * 299 * 3 + 1001,
        "timm inception_v4: 12.28 GMAC, 42.68 M params (299x299 input)",
    ),
    "mobilenet_v1": Workload(
        "MobileNet-v1", 2 * 0.569e9, 4.23e6, 224 * 224 * 3 + 1001,
        "Howard et al. 2017, Table 8: 569 M mult-adds, 4.2 M params",
    ),
    "mobilenet_v2": Workload(
        "MobileNet-v2", 2 * 0.300e9, 3.47e6, 224 * 224 * 3 + 1001,
        "Sandler et al. 2018, Table 4: 300 M mult-adds, 3.4 M params",
    ),
}  # fmt: skip


def workload_estimate(
    workload: Workload, batch: int, device: Device, weight_dtype="int8", act_dtype=None,
    efficiency=None, chips: int = 1,
) -> Estimate:  # fmt: skip
    """One batch of ``workload`` on ``chips`` devices (data parallel: each gets batch / chips).

    Weights are read once per batch per chip unless they fit in the device's on-chip ``sram``
    (then they cost nothing after the first load); the batch's inputs and outputs are read and
    written once. ``efficiency.overhead_s`` is added once per batch.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidValueError(f"batch must be an int >= 1; got {batch!r}")
    act_dtype = act_dtype or weight_dtype
    eff = _efficiency(efficiency)
    w_bytes = workload.params * dtype_bytes(weight_dtype)
    on_chip = device.sram is not None and w_bytes <= device.sram
    per_chip = batch / chips
    moved = (0.0 if on_chip else w_bytes) + per_chip * workload.io * dtype_bytes(act_dtype)
    peak = device.peak_for(compute_dtype(weight_dtype, act_dtype))
    return roofline_time(
        per_chip * workload.flops, moved, peak, device.mem_bw, eff.compute, eff.memory,
        eff.overhead_s, eff.overlap,
    )  # fmt: skip


@dataclass(frozen=True)
class Result:
    """One published measurement (a row of ``datasets/published_results.csv``)."""

    workload: str
    system: str
    device: str
    chips: int
    scenario: str
    batch: int | None
    dtype: str
    value: float
    unit: str
    source: str


def published_results(workload: str | None = None) -> list[Result]:
    """The published results, optionally only those of one ``workload`` ("resnet50", ...)."""
    with open(data.dataset_path("published_results.csv"), newline="") as f:
        rows = [
            Result(
                r["workload"],
                r["system"],
                r["device"],
                int(r["chips"]),
                r["scenario"],
                int(r["batch"]) if r["batch"] else None,
                r["dtype"],
                float(r["value"]),
                r["unit"],
                r["source"],
            )  # fmt: skip
            for r in csv.DictReader(f)
        ]
    if workload is not None:
        rows = [r for r in rows if r.workload == workload]
        if not rows:
            raise InvalidValueError(f"no published results for workload {workload!r}")
    return rows
