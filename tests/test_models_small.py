"""The digits MLP and CNN and the tiny GPT: inferlab's NumPy models == their torch references ==
onnxruntime on the exported ONNX files (rtol 1e-4); accuracy; generation; clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from inferlab import data, ops
from inferlab.errors import DTypeError, InferlabError, InvalidValueError, ShapeError
from inferlab.models import cnn, gpt, mlp
from inferlab.reference import digits, export
from inferlab.reference import gpt as ref_gpt

RTOL, ATOL = 1e-4, 1e-5
ROOT = Path(__file__).resolve().parents[1]
# The operators the inferlab ONNX importer promises (contract of issue 3): exported files of the
# small models must stay inside this set.
ENGINE_OPS = set(
    "Gemm MatMul Add Sub Mul Div Pow Sqrt Relu Gelu Erf Tanh Sigmoid Softmax LayerNormalization "
    "Conv MaxPool AveragePool GlobalAveragePool Flatten Reshape Transpose Concat Gather Slice "
    "Squeeze Unsqueeze Shape Cast Where Equal Expand ReduceMean Constant ConstantOfShape".split()
)
NUMPY_MODELS = {"mlp": mlp, "cnn": cnn}


@pytest.fixture(scope="module")
def split():
    return data.digits_split()


@pytest.fixture(scope="module")
def tiny_gpt():
    return gpt.load()


@pytest.fixture(scope="module")
def torch_gpt():
    return ref_gpt.load_torch()[0]


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_digits_numpy_matches_torch_and_is_accurate(name, split):
    model = NUMPY_MODELS[name].load()
    x = digits.model_inputs(name, split.x_test)
    ours = model(x)
    assert ours.shape == (359, 10) and ours.dtype == np.float32
    with torch.no_grad():
        theirs = digits.load_torch(name)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    accuracy = (model.predict(x) == split.y_test).mean()
    assert accuracy >= {"mlp": 0.95, "cnn": 0.97}[name]
    assert model.n_params == {"mlp": 17_226, "cnn": 13_706}[name]


def test_gpt_numpy_matches_torch(tiny_gpt, torch_gpt):
    rng = np.random.default_rng(0)
    text = data.text_split(data.load_text())[1]
    cases = [tiny_gpt.encode(text[:128])[None], rng.integers(0, 75, (3, 37)), np.array([[5]])]
    for ids in cases:
        ours = tiny_gpt(ids)
        assert ours.shape == (*ids.shape, 75) and ours.dtype == np.float32
        with torch.no_grad():
            theirs = torch_gpt(torch.from_numpy(ids)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-4)
    # causal: the logits at position t do not depend on later characters
    ids = cases[0].copy()
    ids[0, 64:] = 0
    np.testing.assert_allclose(
        tiny_gpt(ids)[0, :64], tiny_gpt(cases[0])[0, :64], rtol=1e-5, atol=1e-5
    )


def test_gpt_learned_the_text(tiny_gpt):
    """Validation loss (nats/char) on held-out text: far below uniform guessing (ln 75 = 4.3)."""
    val = tiny_gpt.encode(data.text_split(data.load_text())[1][: 8 * 129])
    windows = val[: 8 * 129].reshape(8, 129)
    logp = ops.log_softmax(tiny_gpt(windows[:, :-1]).astype(np.float64))
    loss = -np.take_along_axis(logp, windows[:, 1:, None], axis=-1).mean()
    assert loss < 1.9, loss
    assert tiny_gpt.n_params == 474_240


def test_gpt_generate_is_seeded_and_uses_the_vocab(tiny_gpt):
    out = tiny_gpt.generate("MACBETH.\n", n_tokens=40, temperature=0.8, seed=0)
    assert out.startswith("MACBETH.\n") and len(out) == 9 + 40
    assert set(out) <= set(tiny_gpt.vocab.chars)
    assert out == tiny_gpt.generate("MACBETH.\n", n_tokens=40, temperature=0.8, seed=0)
    assert out != tiny_gpt.generate("MACBETH.\n", n_tokens=40, temperature=0.8, seed=1)
    greedy = tiny_gpt.generate("To be", n_tokens=10, temperature=0, seed=None)
    assert greedy == tiny_gpt.generate("To be", n_tokens=10, temperature=0, seed=5)
    assert tiny_gpt.generate("ab", n_tokens=0) == "ab"
    # a prompt longer than the context is cropped to its last 128 characters, not refused
    long_prompt = data.load_text()[:300]
    assert tiny_gpt.generate(long_prompt, n_tokens=2, seed=0).startswith(long_prompt)
    assert tiny_gpt.decode(tiny_gpt.encode("Thunder!")) == "Thunder!"


@pytest.mark.parametrize("name", ["mlp", "cnn", "gpt"])
def test_onnx_export_runs_in_onnxruntime_and_matches(name, split, tiny_gpt):
    path = export.export_onnx(name)
    assert path == export.export_onnx(name)  # cached: same file, not exported twice
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert {n.op_type for n in model.graph.node} <= ENGINE_OPS
    (graph_input,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert dims == list(export.SIGNATURES[name]["inputs"][graph_input.name])
    sess = export.ort_session(path, threads=1)
    if name == "gpt":
        rng = np.random.default_rng(1)
        inputs = [rng.integers(0, 75, shape) for shape in ((1, 1), (2, 50), (3, 128))]
        numpy_model = tiny_gpt
    else:
        x = digits.model_inputs(name, split.x_test)
        inputs = [x[:1], x[:7], x]
        numpy_model = NUMPY_MODELS[name].load()
    for x in inputs:  # dynamic batch (and sequence) axes
        (ours,) = sess.run(None, {graph_input.name: x})
        np.testing.assert_allclose(numpy_model(x), ours, rtol=RTOL, atol=1e-4)
    unoptimised = export.ort_session(path, threads=1, optimize=False)
    np.testing.assert_allclose(
        unoptimised.run(None, {graph_input.name: x})[0], ours, rtol=RTOL, atol=1e-4
    )


def test_export_to_a_path_and_concurrent_exports(tmp_path):
    """Two processes exporting the same model into an empty cache at once (as two pytest-xdist
    workers do) both get the same complete file."""
    given = export.export_onnx("mlp", tmp_path / "given.onnx")
    assert given == tmp_path / "given.onnx" and onnx.load(str(given)).graph.node
    code = "from inferlab.reference.export import export_onnx; print(export_onnx('cnn'))"
    env = {**os.environ, "INFERLAB_CACHE": str(tmp_path / "cache")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    paths = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    (path,) = paths
    assert Path(path).parent == tmp_path / "cache" / "onnx"
    leftovers = [p.name for p in Path(path).parent.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers  # no temporary files left behind
    x = np.zeros((4, 1, 8, 8), np.float32)
    np.testing.assert_allclose(
        export.ort_session(path).run(None, {"x": x})[0], cnn.load()(x), rtol=RTOL, atol=ATOL
    )


def test_bad_inputs_raise_inferlab_errors(tiny_gpt, split):
    model_mlp, model_cnn = mlp.load(), cnn.load()
    with pytest.raises(ShapeError, match=r"reshape\(len\(x\), 64\)"):
        model_mlp(split.x_test)  # (N, 8, 8) images, not flattened
    with pytest.raises(DTypeError, match="float"):
        model_mlp(np.zeros((2, 64), np.int64))
    with pytest.raises(ShapeError, match=r"x\[:, None\]"):
        model_cnn(split.x_test)
    with pytest.raises(ShapeError, match=r"\(N, 1, 8, 8\)"):
        model_cnn(np.zeros((2, 1, 9, 9), np.float32))
    with pytest.raises(DTypeError, match="integer token ids"):
        tiny_gpt(np.zeros((1, 4), np.float32))
    with pytest.raises(ShapeError, match=r"ids\[None\]"):
        tiny_gpt(np.array([1, 2, 3]))
    with pytest.raises(ShapeError, match="1 to 128 tokens"):
        tiny_gpt(np.zeros((1, 129), np.int64))
    with pytest.raises(ShapeError, match="1 to 128 tokens"):
        tiny_gpt(np.zeros((1, 0), np.int64))
    with pytest.raises(InvalidValueError, match=r"\[0, 75\)"):
        tiny_gpt(np.array([[1, 75]]))
    with pytest.raises(InvalidValueError, match="never saw"):
        tiny_gpt.encode("café #1")
    with pytest.raises(InvalidValueError, match=r"\[0, 75\)"):
        tiny_gpt.decode([3, -1])
    for kwargs in ({"n_tokens": -1}, {"temperature": -0.5}, {"prompt": ""}):
        with pytest.raises(InvalidValueError):
            tiny_gpt.generate(**kwargs)
    with pytest.raises(InvalidValueError, match="knows the models"):
        export.export_onnx("resnet")
    with pytest.raises(InvalidValueError, match="optimize"):
        export.ort_session("x.onnx", optimize="max")
    with pytest.raises(InferlabError, match="no ONNX file"):
        export.ort_session(ROOT / "missing.onnx")


def test_bad_weight_files_raise_inferlab_errors(tmp_path):
    with pytest.raises(InferlabError, match="could not read"):
        (tmp_path / "junk.npz").write_bytes(b"not a zip file")
        mlp.load(tmp_path / "junk.npz")
    arrays = data.load_npz(data.dataset_path("weights/gpt.npz"))
    del arrays["config.context"]
    data.save_npz(tmp_path / "gpt.npz", arrays)
    with pytest.raises(InferlabError, match="missing"):
        gpt.load(tmp_path / "gpt.npz")
    arrays = data.load_npz(data.dataset_path("weights/gpt.npz"))
    del arrays["blocks.2.fc.bias"]
    data.save_npz(tmp_path / "gpt.npz", arrays)
    with pytest.raises(InferlabError, match=r"blocks\.2\.fc\.bias"):
        gpt.load(tmp_path / "gpt.npz")
    cnn_arrays = data.load_npz(data.dataset_path("weights/cnn.npz"))
    del cnn_arrays["fc2.bias"]
    data.save_npz(tmp_path / "cnn.npz", cnn_arrays)
    with pytest.raises(InferlabError, match="fc2.bias"):
        cnn.load(tmp_path / "cnn.npz")


def test_weights_files_have_documented_names_and_fp32():
    mlp_arrays = data.load_npz(data.dataset_path("weights/mlp.npz"))
    assert mlp_arrays["config.sizes"].tolist() == [64, 128, 64, 10]
    cnn_arrays = data.load_npz(data.dataset_path("weights/cnn.npz"))
    assert cnn_arrays["conv1.weight"].shape == (16, 1, 3, 3)
    assert cnn_arrays["fc1.weight"].shape == (64, 128)
    gpt_arrays = data.load_npz(data.dataset_path("weights/gpt.npz"))
    assert "".join(map(chr, gpt_arrays["vocab"])) == "".join(sorted(set(data.load_text())))
    assert gpt_arrays["blocks.3.attn.qkv.weight"].shape == (288, 96)
    for arrays in (mlp_arrays, cnn_arrays, gpt_arrays):
        weights = [v for k, v in arrays.items() if not k.startswith("config.") and k != "vocab"]
        assert all(w.dtype == np.float32 for w in weights)
