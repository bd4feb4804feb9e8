"""Hardware cost models (chapter 04): devices, the roofline, op / model / LLM cost, energy, money.

    >>> from inferlab import hw
    >>> h100 = hw.device("H100")                       # from datasets/devices.csv
    >>> h100.ridge_point("bf16")                       # ~295 FLOP/byte
    >>> hw.matmul_estimate(1, 8192, 8192, h100, "bf16").bound        # 'memory'
    >>> hw.decode_step(hw.LLAMA2_70B, 8, 4096, h100, chips=8).seconds
    >>> hw.cost_per_million(price_per_hour=6.88, items_per_second=3000)
    >>> me = hw.this_machine()                         # this CPU, measured

Modules, one idea each: ``device`` (what a chip can do), ``catalog`` (the shipped device table),
``roofline`` (time = max(compute, memory)), ``estimate`` (dtype-aware op and model cost),
``llm`` (prefill and decode with a KV cache), ``workloads`` (published models and MLPerf
results), ``energy`` (power and per-operation energy), ``cloud`` (cost per 1M), ``calibrate``
(efficiency factors from measurements), ``measure`` (this machine's peak and bandwidth).
"""

from inferlab.hw.calibrate import fit_efficiency, median_abs_error, predict
from inferlab.hw.catalog import CatalogError, device, load_catalog
from inferlab.hw.cloud import cost_per_million, items_per_kwh, joules_per_item
from inferlab.hw.device import BITS, DTYPES, Device, dtype_bytes
from inferlab.hw.energy import HOROWITZ_PJ, bottom_up_j, energy_j, power_w
from inferlab.hw.estimate import (
    DEFAULT_EFFICIENCY,
    Efficiency,
    ModelEstimate,
    compute_dtype,
    matmul_estimate,
    model_estimate,
    op_estimate,
)
from inferlab.hw.llm import (
    LLAMA2_7B,
    LLAMA2_70B,
    LLAMA3_8B,
    Transformer,
    decode_step,
    decode_throughput,
    prefill,
)
from inferlab.hw.measure import measure_bandwidth, measure_matmul_flops, this_machine
from inferlab.hw.roofline import (
    Estimate,
    attainable,
    matmul_intensity,
    plot_roofline,
    ridge_point,
    roofline_time,
)
from inferlab.hw.workloads import CNNS, Workload, published_results, workload_estimate

__all__ = [
    "BITS",
    "CNNS",
    "DEFAULT_EFFICIENCY",
    "DTYPES",
    "HOROWITZ_PJ",
    "LLAMA2_70B",
    "LLAMA2_7B",
    "LLAMA3_8B",
    "CatalogError",
    "Device",
    "Efficiency",
    "Estimate",
    "ModelEstimate",
    "Transformer",
    "Workload",
    "attainable",
    "bottom_up_j",
    "compute_dtype",
    "cost_per_million",
    "decode_step",
    "decode_throughput",
    "device",
    "dtype_bytes",
    "energy_j",
    "fit_efficiency",
    "items_per_kwh",
    "joules_per_item",
    "load_catalog",
    "matmul_estimate",
    "matmul_intensity",
    "measure_bandwidth",
    "measure_matmul_flops",
    "median_abs_error",
    "model_estimate",
    "op_estimate",
    "plot_roofline",
    "power_w",
    "predict",
    "prefill",
    "published_results",
    "ridge_point",
    "roofline_time",
    "this_machine",
    "workload_estimate",
]
