"""The course's own models, exported from torch to ONNX, run in the inferlab engine.

For each model: `inferlab.onnx.load` → `graph.optimize` → `Executor(memory="plan")` equals
onnxruntime on the same file and inferlab's hand-written NumPy model (rtol 1e-4). This is the
chain chapter 02 teaches, on every model the course ships.
"""

from __future__ import annotations

import numpy as np
import pytest

from inferlab import data, graph
from inferlab import onnx as il_onnx
from inferlab.models import cnn, gpt, mlp

export = pytest.importorskip("inferlab.reference.export")


def _engine_and_ort(name: str, feeds: dict[str, np.ndarray]):
    path = export.export_onnx(name)
    g = graph.optimize(il_onnx.load(path))
    ours = graph.Executor(g, memory="plan").run(feeds)
    session = export.ort_session(path, threads=1)
    theirs = session.run(None, feeds)
    return [ours[v.name] for v in g.outputs], theirs


@pytest.mark.parametrize(
    ("name", "model", "shape"),
    [("mlp", mlp, (-1, 64)), ("cnn", cnn, (-1, 1, 8, 8))],
)
def test_digits_models_in_the_engine(name, model, shape):
    x = np.ascontiguousarray(data.digits_split().x_test[:64].reshape(shape), dtype=np.float32)
    path = export.export_onnx(name)
    input_name = il_onnx.load(path).inputs[0].name
    (ours,), (theirs,) = _engine_and_ort(name, {input_name: x})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours, model.load()(x), rtol=1e-4, atol=1e-5)
    assert (ours.argmax(1) == theirs.argmax(1)).all()


def test_tiny_gpt_in_the_engine():
    rng = np.random.default_rng(0)
    model = gpt.load()
    ids = rng.integers(0, model.config["vocab_size"], size=(2, 32), dtype=np.int64)
    path = export.export_onnx("gpt")
    input_name = il_onnx.load(path).inputs[0].name
    (ours,), (theirs,) = _engine_and_ort("gpt", {input_name: ids})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours, model(ids), rtol=1e-4, atol=1e-4)
