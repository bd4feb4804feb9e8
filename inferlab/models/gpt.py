"""A tiny character-level GPT in NumPy, on inferlab.ops; trained on three Shakespeare plays.

    >>> model = load()                          # 4 layers, d_model 96, 4 heads, context 128
    >>> ids = model.encode("ROMEO.")            # (6,) int64 character ids
    >>> logits = model(ids[None])               # (B, T) int64 -> (B, T, vocab) float32
    >>> print(model.generate("MACBETH.\\n", n_tokens=200, temperature=0.8, seed=0))

The forward pass, as in GPT-2 (pre-LayerNorm blocks):

    x = tok_emb[ids] + pos_emb[:T]                                    (B, T, C)
    for each of n_layer blocks:
        q, k, v = split(linear(layer_norm(x), qkv))                   3 x (B, T, C)
        x = x + linear(causal_attention(q, k, v) over n_head heads)   (B, T, C)
        x = x + linear(gelu(linear(layer_norm(x), fc)), proj)         via (B, T, d_ff)
    logits = linear(layer_norm(x), head)                              (B, T, vocab)

Token t only attends to tokens 0..t, so ``logits[:, t]`` is the model's guess for character t+1.
``generate`` recomputes the whole window for every new character (simple and slow: a KV cache,
in a later chapter, removes that waste). Weights: ``datasets/weights/gpt.npz`` (names in
:mod:`inferlab.reference.gpt`, which trains it with ``scripts/train_gpt.py``).
"""

from __future__ import annotations

import numpy as np

from inferlab import data, ops
from inferlab.errors import DTypeError, InferlabError, InvalidValueError, ShapeError, describe

__all__ = ["GPT", "Vocab", "load"]

CONFIG_KEYS = ("vocab_size", "context", "d_model", "n_layer", "n_head", "d_ff")
BLOCK_PARAMS = tuple(
    f"{layer}.{p}"
    for layer in ("ln1", "attn.qkv", "attn.proj", "ln2", "fc", "proj")
    for p in ("weight", "bias")
)


class Vocab:
    """The characters the model knows; a character's id is its index in ``chars``."""

    def __init__(self, chars: str):
        self.chars = chars
        self.ids = {c: i for i, c in enumerate(chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """text -> (len(text),) int64 ids; InferlabError naming any character not in the vocab."""
        if not isinstance(text, str):
            raise DTypeError(f"encode needs a str; got {describe(text)}")
        unknown = sorted(set(text) - self.ids.keys())
        if unknown:
            raise InvalidValueError(
                f"the text has characters the model never saw: {''.join(unknown)!r}; "
                f"its vocabulary is {self.chars!r}"
            )
        return np.array([self.ids[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        """ids (any 1-D integer sequence) -> text."""
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ShapeError(f"decode needs a 1-D sequence of ids; got {describe(ids)}")
        if ids.size and ids.dtype.kind not in "iu":
            raise DTypeError(f"decode needs integer ids; got {describe(ids)}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.chars)):
            raise InvalidValueError(
                f"decode needs ids in [0, {len(self.chars)}); got {ids.min()}..{ids.max()}"
            )
        return "".join(self.chars[i] for i in ids)


class GPT:
    """Decoder-only transformer; ``weights`` uses the torch state_dict names."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, vocab: str):
        self.config = {k: int(config[k]) for k in CONFIG_KEYS}
        self.vocab = Vocab(vocab)
        self.context, self.d_model = self.config["context"], self.config["d_model"]
        self.n_layer, self.n_head = self.config["n_layer"], self.config["n_head"]
        if len(vocab) != self.config["vocab_size"] or self.d_model % self.n_head:
            raise InferlabError(f"GPT config does not fit: {self.config}, {len(vocab)} characters")
        self.w = weights
        expected = {
            "tok_emb.weight": (len(vocab), self.d_model),
            "pos_emb.weight": (self.context, self.d_model),
            "head.weight": (len(vocab), self.d_model),
        }
        names = [f"blocks.{i}.{n}" for i in range(self.n_layer) for n in BLOCK_PARAMS]
        missing = [n for n in [*names, "ln_f.weight", "ln_f.bias"] if n not in weights]
        if missing:
            raise InferlabError(
                f"GPT weights: missing {missing[:4]}{' ...' if len(missing) > 4 else ''}"
            )
        for name, shape in expected.items():
            if name not in weights or weights[name].shape != shape:
                got = weights[name].shape if name in weights else "missing"
                raise InferlabError(f"GPT weights: {name} should be {shape}; got {got}")

    @property
    def n_params(self) -> int:
        return sum(v.size for v in self.w.values())

    def encode(self, text: str) -> np.ndarray:
        return self.vocab.encode(text)

    def decode(self, ids) -> str:
        return self.vocab.decode(ids)

    def _check_ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise DTypeError(
                f"GPT needs integer token ids (B, T); got {describe(ids)}; "
                f"make them with model.encode(text)"
            )
        if ids.ndim != 2:
            hint = "; add a batch axis with ids[None]" if ids.ndim == 1 else ""
            raise ShapeError(f"GPT needs ids of shape (B, T); got {ids.shape}{hint}")
        if not 1 <= ids.shape[1] <= self.context:
            raise ShapeError(
                f"GPT reads 1 to {self.context} tokens (its context length); got T = "
                f"{ids.shape[1]}; keep the last {self.context} with ids[:, -{self.context}:]"
            )
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise InvalidValueError(
                f"GPT needs ids in [0, {len(self.vocab)}) (its vocabulary); "
                f"got ids from {ids.min()} to {ids.max()}"
            )
        return ids

    def _block(self, x: np.ndarray, i: int) -> np.ndarray:
        w, p = self.w, f"blocks.{i}."
        B, T, C = x.shape
        H = self.n_head
        h = ops.layer_norm(x, (C,), w[p + "ln1.weight"], w[p + "ln1.bias"])
        qkv = ops.linear(h, w[p + "attn.qkv.weight"], w[p + "attn.qkv.bias"])  # (B, T, 3C)
        # (B, T, 3, H, C/H) -> (3, B, H, T, C/H): one head per slice of C/H channels
        q, k, v = qkv.reshape(B, T, 3, H, C // H).transpose(2, 0, 3, 1, 4)
        y = ops.scaled_dot_product_attention(q, k, v, causal=True)  # (B, H, T, C/H)
        y = y.transpose(0, 2, 1, 3).reshape(B, T, C)  # heads side by side again
        x = x + ops.linear(y, w[p + "attn.proj.weight"], w[p + "attn.proj.bias"])
        h = ops.layer_norm(x, (C,), w[p + "ln2.weight"], w[p + "ln2.bias"])
        h = ops.gelu(ops.linear(h, w[p + "fc.weight"], w[p + "fc.bias"]))  # (B, T, d_ff)
        return x + ops.linear(h, w[p + "proj.weight"], w[p + "proj.bias"])

    def __call__(self, ids) -> np.ndarray:
        """ids (B, T) integer, 1 <= T <= context -> logits (B, T, vocab) float32."""
        ids = self._check_ids(ids)
        T = ids.shape[1]
        x = ops.embedding(ids, self.w["tok_emb.weight"]) + self.w["pos_emb.weight"][:T]
        for i in range(self.n_layer):
            x = self._block(x, i)
        x = ops.layer_norm(x, (self.d_model,), self.w["ln_f.weight"], self.w["ln_f.bias"])
        return ops.linear(x, self.w["head.weight"])

    def generate(
        self,
        prompt: str = "\n",
        n_tokens: int = 200,
        temperature: float = 1.0,
        seed: int | None = 0,
    ) -> str:
        """The prompt followed by ``n_tokens`` sampled characters.

        Each step runs the model on the last ``context`` characters and samples the next one
        from ``softmax(logits / temperature)``; temperature 0 always takes the most likely
        character (greedy). The same seed gives the same text (None: fresh randomness).
        """
        if (
            not isinstance(n_tokens, (int, np.integer))
            or isinstance(n_tokens, bool)
            or n_tokens < 0
        ):
            raise InvalidValueError(f"generate needs n_tokens, an int >= 0; got {n_tokens!r}")
        if not isinstance(temperature, (int, float)) or not temperature >= 0:
            raise InvalidValueError(f"generate needs temperature >= 0; got {temperature!r}")
        ids = list(self.encode(prompt))
        if not ids:
            raise InvalidValueError("generate needs a non-empty prompt; use '\\n' to start afresh")
        rng = np.random.default_rng(seed)
        for _ in range(n_tokens):
            logits = self(np.array([ids[-self.context :]]))[0, -1].astype(np.float64)
            if temperature == 0:
                ids.append(int(logits.argmax()))
            else:
                probs = ops.softmax(logits / temperature)
                # inverse CDF: the first id whose cumulative probability exceeds a uniform draw
                cdf = np.cumsum(probs)
                ids.append(
                    int(
                        min(
                            np.searchsorted(cdf, rng.random() * cdf[-1], side="right"),
                            len(probs) - 1,
                        )
                    )
                )
        return self.decode(ids)

    def __repr__(self) -> str:
        return (
            f"GPT({', '.join(f'{k}={v}' for k, v in self.config.items())}, params={self.n_params})"
        )


def load(path=None) -> GPT:
    """The shipped tiny GPT (``datasets/weights/gpt.npz``), or the weights file at ``path``."""
    path = data.dataset_path("weights/gpt.npz") if path is None else path
    arrays = data.load_npz(path)
    missing = [k for k in CONFIG_KEYS if f"config.{k}" not in arrays] + (
        ["vocab"] if "vocab" not in arrays else []
    )
    if missing:
        raise InferlabError(f"{path} is not a GPT weights file: missing {missing}")
    config = {k: arrays[f"config.{k}"] for k in CONFIG_KEYS}
    vocab = "".join(map(chr, arrays["vocab"].tolist()))
    weights = {k: v for k, v in arrays.items() if not k.startswith("config.") and k != "vocab"}
    return GPT(weights, config, vocab)
