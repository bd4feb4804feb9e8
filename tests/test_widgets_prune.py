"""inferlab.widgets.prune: the scenario against the library, closed forms and an independent
NumPy model, and the explorer's callbacks driven headless (setting a control runs the callback a
browser would). No timing thresholds: latencies are only checked to be sane numbers."""

import math
import subprocess
import sys

import ipywidgets
import numpy as np
import pytest
import scipy.sparse
import torch
import torch.nn.utils.prune as torch_prune
from matplotlib.figure import Figure

from inferlab import data
from inferlab.errors import InvalidValueError
from inferlab.models.cnn import CNN
from inferlab.prune import masks as M
from inferlab.prune.structured import prune_channels
from inferlab.prune.wanda import wanda_mask
from inferlab.widgets import prune as pw

CNN_LAYERS = ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight")
CNN_SHAPES = {"conv1.weight": (16, 1, 3, 3), "conv2.weight": (32, 16, 3, 3),
              "fc1.weight": (64, 128), "fc2.weight": (10, 64)}  # fmt: skip
N_WEIGHTS = 144 + 4608 + 8192 + 640  # 13 584; + 122 biases = 13 706 parameters
N_BIASES = 16 + 32 + 64 + 10


def dense_weights() -> dict:
    g = pw._dense("cnn")["graph"]
    return {k: np.asarray(g.initializers[k]) for k in CNN_LAYERS}


def weights_of(s: dict) -> dict:
    return {k: np.asarray(v) for k, v in s["graph"].initializers.items()}


def numpy_accuracy(weights: dict) -> float:
    """The scenario's weights in the NumPy CNN (inferlab.models.cnn, not the engine)."""
    split = data.digits_split()
    return 100.0 * float(np.mean(CNN(weights).predict(split.x_test[:, None]) == split.y_test))


def csr_bytes_closed_form(weights: dict) -> int:
    """8 bytes per nonzero (float32 value + int32 column) + 4 per row + 4, per weight."""
    total = 0
    for w in weights.values():
        w2 = w.reshape(len(w), -1)
        total += 8 * np.count_nonzero(w2) + 4 * (w2.shape[0] + 1)
    return total


# ---- the dense model ----------------------------------------------------------------------------


def test_dense_model_and_layers():
    d = pw._dense("cnn")
    assert list(d["layers"]) == list(CNN_LAYERS)
    assert d["structured_layers"] == ["/conv1/Conv", "/conv2/Conv", "/fc1/Gemm"]  # not fc2
    assert {k: v.shape for k, v in dense_weights().items()} == CNN_SHAPES
    assert d["accuracy"] == pytest.approx(98.6, abs=0.1)  # models/cnn.py's figure
    assert pw._dense("mlp")["structured_layers"] == ["/layers.0/Gemm", "/layers.1/Gemm"]


@pytest.mark.parametrize("method", pw.PRUNE_METHODS)
def test_sparsity_zero_is_the_dense_model(method):
    s = pw.prune_scenario(method, 0.0)
    assert s["accuracy"] == s["dense_accuracy"] == pw._dense("cnn")["accuracy"]
    assert s["nonzero_weights"] == s["n_weights"] == N_WEIGHTS
    assert s["weight_sparsity"] == 0 and s["n_params"] == N_WEIGHTS + N_BIASES
    assert s["bytes_dense"] == 4 * (N_WEIGHTS + N_BIASES)
    # CSR of a dense matrix costs twice the bytes: an int32 index next to every float32 value
    assert s["bytes_csr"] == 8 * N_WEIGHTS + 4 * (16 + 32 + 64 + 10 + 4) + 4 * N_BIASES


# ---- each method against the library and closed forms -------------------------------------------


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.85])
def test_magnitude_is_l1_unstructured_per_layer(sparsity):
    s = pw.prune_scenario("magnitude", sparsity)
    got = weights_of(s)
    for k, w in dense_weights().items():
        want = M.apply_mask(w, M.l1_unstructured(w, sparsity))
        np.testing.assert_array_equal(got[k], want, err_msg=k)
        # torch: round(amount * n) weights pruned (Python's round: half to even)
        assert s["layers"][k]["nonzero"] == w.size - round(sparsity * w.size), k
    assert s["nonzero_weights"] == sum(w.size - round(sparsity * w.size)
                                       for w in dense_weights().values())  # fmt: skip
    assert s["accuracy"] == pytest.approx(numpy_accuracy(got))  # the engine agrees with NumPy


def test_magnitude_equals_torch_prune():
    """torch.nn.utils.prune.l1_unstructured on each layer gives the same zeros (tie-free)."""
    s = pw.prune_scenario("magnitude", 0.6)
    got = weights_of(s)
    for k, w in dense_weights().items():
        layer = torch.nn.Linear(1, 1, bias=False)
        layer.weight = torch.nn.Parameter(torch.from_numpy(w.copy()))
        torch_prune.l1_unstructured(layer, "weight", amount=0.6)
        np.testing.assert_array_equal(got[k] != 0, layer.weight_mask.numpy().astype(bool), k)


def test_global_is_one_threshold():
    s = pw.prune_scenario("global", 0.8)
    got = weights_of(s)
    want = M.global_unstructured(dense_weights(), 0.8)
    for k in CNN_LAYERS:
        np.testing.assert_array_equal(got[k] != 0, want[k], err_msg=k)
    assert s["nonzero_weights"] == N_WEIGHTS - round(0.8 * N_WEIGHTS)
    # one threshold: every kept weight is at least as large as every pruned one
    kept = np.concatenate([np.abs(w[got[k] != 0]) for k, w in dense_weights().items()])
    gone = np.concatenate([np.abs(w[got[k] == 0]) for k, w in dense_weights().items()])
    assert kept.min() >= gone.max()
    # ... so the layers end up with different densities (conv1's 3x3 filters keep more)
    densities = [v["density"] for v in s["layers"].values()]
    assert max(densities) - min(densities) > 0.1


@pytest.mark.parametrize("sparsity", [0.25, 0.5, 0.75])
def test_structured_removes_channels(sparsity):
    s = pw.prune_scenario("structured", sparsity)
    c1, c2, h = (n - round(sparsity * n) for n in (16, 32, 64))
    want = {"conv1.weight": (c1, 1, 3, 3), "conv2.weight": (c2, c1, 3, 3),
            "fc1.weight": (h, 4 * c2), "fc2.weight": (10, h)}  # fmt: skip
    assert {k: v["shape"] for k, v in s["layers"].items()} == want
    n_params = sum(math.prod(v) for v in want.values()) + c1 + c2 + h + 10
    assert s["n_params"] == n_params
    assert s["bytes_structured"] == 4 * n_params
    assert s["nonzero_weights"] == sum(math.prod(v) for v in want.values())
    assert s["bytes_dense"] == 4 * (N_WEIGHTS + N_BIASES)
    plan = dict.fromkeys(["/conv1/Conv", "/conv2/Conv", "/fc1/Gemm"], sparsity)
    lib = prune_channels(pw._dense("cnn")["graph"], plan)
    for k, a in lib.initializers.items():
        np.testing.assert_array_equal(s["graph"].initializers[k], a, err_msg=k)
    assert s["accuracy"] == pytest.approx(numpy_accuracy(weights_of(s)))


def test_wanda_norms_are_the_mean_squares_of_each_layers_input():
    norms = pw._wanda_norms("cnn")
    x = torch.from_numpy(pw._dense("cnn")["x_train"][: pw.N_CALIBRATION])
    patches = torch.nn.functional.unfold(x, 3, padding=1)  # (N, 9, 64): conv1's input patches
    want = (patches.double() ** 2).mean(dim=(0, 2)).numpy()
    np.testing.assert_allclose(norms["conv1.weight"], want, rtol=1e-6)
    assert {k: v.shape for k, v in norms.items()} == {
        "conv1.weight": (9,), "conv2.weight": (144,), "fc1.weight": (128,), "fc2.weight": (64,)
    }  # fmt: skip


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_wanda_prunes_the_same_count_in_every_row(sparsity):
    s = pw.prune_scenario("wanda", sparsity)
    got, norms = weights_of(s), pw._wanda_norms("cnn")
    for k, w in dense_weights().items():
        w2 = w.reshape(len(w), -1)
        per_row = np.count_nonzero(got[k].reshape(len(w), -1), axis=1)
        assert (per_row == w2.shape[1] - int(w2.shape[1] * sparsity)).all(), k
        want = M.apply_mask(w2, wanda_mask(w2, norms[k], sparsity)).reshape(w.shape)
        np.testing.assert_array_equal(got[k], want, err_msg=k)


def test_random_is_seeded_and_counts_like_magnitude():
    s = pw.prune_scenario("random", 0.5)
    mag = pw.prune_scenario("magnitude", 0.5)
    assert s["nonzero_weights"] == mag["nonzero_weights"]
    again = pw._scenario.__wrapped__("random", 0.5, "cnn", False)  # recomputed, not cached
    for k in CNN_LAYERS:
        np.testing.assert_array_equal(weights_of(s)[k], weights_of(again)[k])
    # the baseline: random zeros hurt far more than the smallest-magnitude ones
    assert s["accuracy"] < mag["accuracy"] - 20


@pytest.mark.parametrize("method", ["magnitude", "global", "wanda", "random", "structured"])
def test_csr_bytes_are_the_closed_form_and_scipys(method):
    s = pw.prune_scenario(method, 0.7)
    w = {k: v for k, v in weights_of(s).items() if k in CNN_LAYERS}
    biases = 4 * sum(v.size for k, v in weights_of(s).items() if k not in CNN_LAYERS)
    assert s["bytes_csr"] == csr_bytes_closed_form(w) + biases
    ref = 0
    for a in w.values():
        c = scipy.sparse.csr_matrix(a.reshape(len(a), -1))
        ref += c.data.nbytes + c.indices.nbytes + c.indptr.nbytes  # float32, int32, int32
    assert s["bytes_csr"] == ref + biases
    if method != "structured":  # a masked model stores every zero: dense bytes do not change
        assert s["bytes_structured"] is None
        assert s["bytes_dense"] == 4 * (N_WEIGHTS + N_BIASES)


def test_mlp():
    s = pw.prune_scenario("structured", 0.5, model="mlp")
    assert {k: v["shape"] for k, v in s["layers"].items()} == {
        "layers.0.weight": (64, 64), "layers.1.weight": (32, 64), "layers.2.weight": (10, 32)
    }  # fmt: skip
    w = pw.prune_scenario("wanda", 0.5, model="mlp")
    assert w["n_weights"] == 128 * 64 + 64 * 128 + 10 * 64
    assert w["nonzero_weights"] == w["n_weights"] // 2  # every row has an even input count
    assert w["dense_accuracy"] == pytest.approx(98.1, abs=0.2)


# ---- fine-tuning --------------------------------------------------------------------------------


def test_finetune_recovers_accuracy_and_keeps_the_zeros():
    before = pw.prune_scenario("magnitude", 0.8)
    after = pw.prune_scenario("magnitude", 0.8, finetune=True)
    assert after["accuracy"] > before["accuracy"] + 30  # 15 % -> ~97 %
    for k in CNN_LAYERS:
        np.testing.assert_array_equal(weights_of(after)[k] != 0, weights_of(before)[k] != 0)
    assert after["nonzero_weights"] == before["nonzero_weights"]
    assert after["accuracy"] == pytest.approx(numpy_accuracy(weights_of(after)))


def test_finetune_structured_is_deterministic():
    s = pw.prune_scenario("structured", 0.5, model="mlp", finetune=True)
    again = pw._scenario.__wrapped__("structured", 0.5, "mlp", True)
    assert (
        s["accuracy"] == again["accuracy"] > pw.prune_scenario("structured", 0.5, "mlp")["accuracy"]
    )
    for k, a in weights_of(s).items():
        np.testing.assert_array_equal(a, weights_of(again)[k], err_msg=k)


# ---- latency, caching ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["magnitude", "structured"])
def test_latency_is_a_sane_measurement(method):
    s = pw.prune_scenario(method, 0.5)
    assert s["latency_batch"] == pw.LATENCY_BATCH == 64
    for key in ("latency_ms", "dense_latency_ms", "speedup"):
        assert math.isfinite(s[key]) and s[key] > 0, key
    assert s["speedup"] == pytest.approx(s["dense_latency_ms"] / s["latency_ms"])
    low, high = s["speedup_ci"]
    assert 0 < low <= high


def test_results_are_cached_copies():
    s = pw.prune_scenario("global", 0.4)
    s["accuracy"] = -1.0
    again = pw.prune_scenario("global", 0.4000000001)  # rounded to the same key
    assert again["accuracy"] > 0 and again["latency_ms"] == s["latency_ms"]
    assert pw.prune_scenario("global", np.float64(0.4))["latency_ms"] == s["latency_ms"]


# ---- text, figure, bad input --------------------------------------------------------------------


def test_text_and_figure():
    s = pw.prune_scenario("structured", 0.5)
    text = pw.prune_scenario_text("structured", 0.5)
    assert text.startswith(f"accuracy {s['accuracy']:.1f} % (dense 98.6 %")
    assert f"{s['nonzero_weights']:,} of 13,584 weights nonzero" in text
    assert f"structured {s['bytes_structured'] / 1e3:.1f} kB" in text and "batch 64" in text
    assert "structured n/a" in pw.prune_scenario_text("magnitude", 0.5)
    fig = pw.plot_prune_scenario("structured", 0.5)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([v["density"] for v in s["layers"].values()])
    sizes = [p.get_height() * 1e3 for p in fig.axes[1].patches]
    assert sizes == pytest.approx([s["bytes_dense"], s["bytes_csr"], s["bytes_structured"]])
    assert f"accuracy {s['accuracy']:.1f} %" in fig._suptitle.get_text()
    masked = pw.plot_prune_scenario("wanda", 0.5)
    assert any(t.get_text() == "n/a" for t in masked.axes[1].texts)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "l2"}, "method must be one of"),
        ({"sparsity": -0.1}, r"sparsity must be in \[0, 0.95\]"),
        ({"sparsity": 0.96}, r"sparsity must be in \[0, 0.95\]"),
        ({"sparsity": 1.0}, r"sparsity must be in \[0, 0.95\]"),
        ({"sparsity": float("nan")}, r"sparsity must be in \[0, 0.95\]"),
        ({"sparsity": "0.5"}, "sparsity must be a number"),
        ({"sparsity": True}, "sparsity must be a number"),
        ({"model": "gpt"}, "model must be one of"),
        ({"finetune": "yes"}, "finetune must be True or False"),
    ],
)
def test_bad_args_raise(kwargs, match):
    with pytest.raises(InvalidValueError, match=match):
        pw.prune_scenario(**kwargs)
    args = {"method": "magnitude", "sparsity": 0.5, "model": "cnn", "finetune": False, **kwargs}
    assert pw.prune_scenario_text(**args).startswith("cannot compute: ")


# ---- the explorer -------------------------------------------------------------------------------


def test_explorer_callbacks_update_the_label():
    ui = pw.prune_explorer()
    controls, label, out = ui.children
    method, sparsity, model, finetune = controls.children
    assert isinstance(sparsity, ipywidgets.FloatSlider) and isinstance(out, ipywidgets.Output)
    assert (sparsity.min, sparsity.max) == (0.0, pw.MAX_SPARSITY)
    assert list(method.options) == list(pw.PRUNE_METHODS)
    assert isinstance(finetune, ipywidgets.Checkbox)
    assert "inferlab-prune-text" in label._dom_classes and "inferlab-prune-ui" in ui._dom_classes
    assert label.value == pw.prune_scenario_text()
    method.value = "structured"
    assert label.value == pw.prune_scenario_text("structured", 0.5, "cnn", False)
    sparsity.value = 0.75
    assert label.value == pw.prune_scenario_text("structured", 0.75, "cnn", False)
    model.value = "mlp"
    assert label.value == pw.prune_scenario_text("structured", 0.75, "mlp", False)
    finetune.value = True
    assert label.value == pw.prune_scenario_text("structured", 0.75, "mlp", True)
    assert label.value.startswith("accuracy")


def test_explorer_bad_args():
    with pytest.raises(InvalidValueError, match="method must be one of"):
        pw.prune_explorer(method="l0")
    with pytest.raises(InvalidValueError, match="sparsity must be in"):
        pw.prune_explorer(sparsity=0.99)


def test_import_displays_nothing():
    out = subprocess.run(
        [sys.executable, "-c", "import inferlab.widgets.prune"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == ""
