"""Real ONNX files exported from torch, run by inferlab, onnxruntime and torch (rtol 1e-4).

Four small modules cover the course's model families: an MLP (Linear + GELU), a CNN
(Conv + BatchNorm + ReLU + MaxPool + AvgPool + Flatten + Linear), a transformer block
(LayerNorm, attention through MatMul/Softmax, a padding mask through Equal/Where/Expand,
Reshape/Transpose) and a causal char-GPT (Gather embedding, Slice of a causal buffer, Trilu).
Each is exported twice: by the TorchScript exporter (``dynamo=False``, opset 17, with a
dynamic batch axis) and by torch's default exporter (``dynamo=True``, opset 18+).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from inferlab.graph import Executor
from inferlab.onnx import load

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
nn = torch.nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, 48), nn.GELU(), nn.Linear(48, 32), nn.GELU(), nn.Linear(32, 10)
        )

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 2 * 2, 10))

    def forward(self, x):
        return self.head(self.features(x))


class Block(nn.Module):
    """Pre-LN transformer block with a key-padding mask (mask == 0 -> -inf)."""

    def __init__(self, d=32, heads=4):
        super().__init__()
        self.h = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.f1, self.f2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.reshape(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / (C // self.h) ** 0.5
        pad = (mask[:, None, None, :] == 0).expand(B, self.h, T, T)
        att = att.masked_fill(pad, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.o(y)
        return x + self.f2(nn.functional.gelu(self.f1(self.ln2(x))))


class TinyGPT(nn.Module):
    def __init__(self, vocab=20, d=32, t_max=16):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(t_max, d)
        self.register_buffer("causal", torch.tril(torch.ones(t_max, t_max)))
        self.qkv, self.ln, self.head = nn.Linear(d, 3 * d), nn.LayerNorm(d), nn.Linear(d, vocab)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(T))
        q, k, v = self.qkv(self.ln(x)).chunk(3, dim=-1)
        att = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
        att = att.masked_fill(self.causal[:T, :T] == 0, float("-inf")).softmax(-1)
        return self.head(x + att @ v)


def _inputs(name, batch, rng):
    if name == "mlp":
        return {"x": rng.standard_normal((batch, 64)).astype(np.float32)}
    if name == "cnn":
        return {"x": rng.uniform(0, 1, (batch, 1, 8, 8)).astype(np.float32)}
    if name == "gpt":
        return {"ids": rng.integers(0, 20, (batch, 7)).astype(np.int64)}
    mask = np.ones((batch, 6), np.int64)
    mask[0, 4:] = 0
    return {"x": rng.standard_normal((batch, 6, 32)).astype(np.float32), "mask": mask}


MODELS = {"mlp": MLP, "cnn": CNN, "block": Block, "gpt": TinyGPT}


def _module(name):
    torch.manual_seed(0)
    m = MODELS[name]()
    if name == "cnn":  # non-trivial BatchNorm statistics, so folding it matters
        bn = m.features[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return m.eval()


def _export(name, dynamo):
    m = _module(name)
    feeds = _inputs(name, 2, np.random.default_rng(0))
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    names = list(feeds)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(
                m, args, buf, input_names=names, output_names=["out"], dynamo=True, verbose=False
            )
        else:
            axes = {k: {0: "batch"} for k in names} | {"out": {0: "batch"}}
            torch.onnx.export(
                m,
                args,
                buf,
                input_names=names,
                output_names=["out"],
                dynamo=False,
                opset_version=17,
                dynamic_axes=axes,
            )
    return m, buf.getvalue()


@pytest.fixture(scope="module", params=["torchscript", "dynamo"])
def exported(request):
    """name -> (torch module, onnx bytes) for all four models, per exporter."""
    dynamo = request.param == "dynamo"
    return {name: _export(name, dynamo) for name in MODELS}, dynamo


@pytest.mark.parametrize("name", list(MODELS))
def test_matches_onnxruntime_and_torch(exported, name):
    models, dynamo = exported
    module, data = models[name]
    graph = load(data)
    ex = Executor(graph)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    batches = [2] if dynamo else [1, 2, 5]  # the TorchScript export has a dynamic batch axis
    for batch in batches:
        feeds = _inputs(name, batch, np.random.default_rng(batch))
        got = ex.run(feeds)["out"]
        want = sess.run(None, feeds)[0]
        with torch.no_grad():
            ref = module(*(torch.from_numpy(v) for v in feeds.values())).numpy()
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_exporters_use_expected_ops(exported):
    models, dynamo = exported
    ops = set()
    for _, data in models.values():
        ops |= set(load(data).op_counts())
    assert {"MatMul", "Softmax", "Conv", "MaxPool", "LayerNormalization"} <= ops
    assert ("Gelu" in ops) if dynamo else ({"Erf", "Where", "Equal", "Expand"} <= ops)


def test_graph_inputs_carry_symbolic_batch(exported):
    models, dynamo = exported
    graph = load(models["mlp"][1])
    assert graph.inputs[0].dtype == np.float32
    assert graph.inputs[0].shape == ((2, 64) if dynamo else ("batch", 64))
