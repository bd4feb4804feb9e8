"""Widgets: thin interactive layers over pure functions that return data or figures.

Every widget here has a pure function under it, which tests (and a static notebook run) call
directly:

    softmax_temperature(logits, T)          probabilities at temperature T
    entropy(p)                              Shannon entropy in nats
    softmax_temperature_figure(logits, T)   bar chart of those probabilities -> Figure
    tiling_stats(m, n, k, tile)             tile counts, working set, bytes moved, intensity
    matmul_tiling_figure(m, n, k, tile)     the tile grid and working set vs cache -> Figure
    repeats_ci(times, n)                    median and p99 CIs of the first n samples
    repeats_ci_figure(times, n)             their histogram with both CIs shaded -> Figure
    scenario(device, model, batch, dtype)   latency, throughput, J and $ per item (chapter 04)
    plot_scenario(...)                      bars and the point on the device's roofline -> Figure
    quant_scenario(bits, granularity, method, model)   quantization error and accuracy (ch. 05)
    plot_quant_scenario(...)                weight and activation error histograms -> Figure
    prune_scenario(method, sparsity, model, finetune)  accuracy, bytes, measured latency (ch. 06)
    plot_prune_scenario(...)                kept share per layer, bytes, latency -> Figure
    batching_scenario(rate, max_batch, max_delay_ms, policy)   latency, throughput, goodput (ch. 07)
    plot_batching_scenario(...)             latency CDF, batch sizes, load vs goodput -> Figure
    llm_serving_scenario(policy, rate, device)   TTFT/TPOT, goodput, $ per 1M tokens (ch. 08)
    plot_llm_serving_scenario(...)          KV memory and latency against the SLO -> Figure

and a UI builder that wires sliders to it with ``ipywidgets.interactive_output``:

    softmax_temperature_ui()                a temperature slider, an entropy label, the figure
    matmul_tiling_ui()                      size and tile sliders, a stats label, the figure
    repeats_ci_ui(times)                    a repeats slider, a CI label, the figure
    hardware_explorer()                     device, model, batch and dtype pickers, the figure
    quant_explorer()                        bits, granularity, calibration and model pickers
    prune_explorer()                        method, sparsity, model and fine-tune pickers
    batching_explorer()                     arrival rate, max batch, max delay and policy
    llm_serving_explorer()                  policy, device, model, SLO and rate pickers

The builders return the container without displaying it (a notebook cell shows it by ending with
it); nothing is displayed at import. Figures are ``matplotlib.figure.Figure`` objects made
without pyplot, so they never pile up in pyplot's global figure list.

One module per widget (``softmax``, ``tiling``, ``repeats``, ``hardware``, ``quant``);
everything is re-exported here, so ``from inferlab import widgets; widgets.matmul_tiling_ui()``
works.
"""

from inferlab.widgets.batching import (
    BATCHING_POLICIES,
    DEFAULT_SERVICE,
    batching_explorer,
    batching_scenario,
    batching_scenario_text,
    plot_batching_scenario,
)
from inferlab.widgets.hardware import (
    MODELS,
    course_graph,
    hardware_explorer,
    plot_scenario,
    scenario,
    scenario_text,
)
from inferlab.widgets.llm_serving import (
    kv_capacity_tokens,
    llm_serving_explorer,
    llm_serving_scenario,
    llm_serving_text,
    max_rate_under_slo,
    plot_llm_serving_scenario,
)
from inferlab.widgets.prune import (
    plot_prune_scenario,
    prune_explorer,
    prune_scenario,
    prune_scenario_text,
)
from inferlab.widgets.quant import (
    plot_quant_scenario,
    quant_explorer,
    quant_scenario,
    quant_scenario_text,
)
from inferlab.widgets.repeats import (
    repeats_ci,
    repeats_ci_figure,
    repeats_ci_text,
    repeats_ci_ui,
)
from inferlab.widgets.softmax import (
    DEFAULT_LOGITS,
    DEFAULT_TOKENS,
    entropy,
    softmax_temperature,
    softmax_temperature_figure,
    softmax_temperature_text,
    softmax_temperature_ui,
)
from inferlab.widgets.tiling import (
    TilingStats,
    cache_sizes,
    matmul_tiling_figure,
    matmul_tiling_text,
    matmul_tiling_ui,
    tiling_stats,
)

__all__ = [
    "BATCHING_POLICIES",
    "DEFAULT_SERVICE",
    "batching_explorer",
    "batching_scenario",
    "batching_scenario_text",
    "kv_capacity_tokens",
    "llm_serving_explorer",
    "llm_serving_scenario",
    "llm_serving_text",
    "max_rate_under_slo",
    "plot_llm_serving_scenario",
    "plot_batching_scenario",
    "DEFAULT_LOGITS",
    "DEFAULT_TOKENS",
    "MODELS",
    "TilingStats",
    "cache_sizes",
    "course_graph",
    "entropy",
    "hardware_explorer",
    "matmul_tiling_figure",
    "matmul_tiling_text",
    "matmul_tiling_ui",
    "plot_prune_scenario",
    "plot_quant_scenario",
    "plot_scenario",
    "prune_explorer",
    "prune_scenario",
    "prune_scenario_text",
    "quant_explorer",
    "quant_scenario",
    "quant_scenario_text",
    "repeats_ci",
    "repeats_ci_figure",
    "repeats_ci_text",
    "repeats_ci_ui",
    "scenario",
    "scenario_text",
    "softmax_temperature",
    "softmax_temperature_figure",
    "softmax_temperature_text",
    "softmax_temperature_ui",
    "tiling_stats",
]
