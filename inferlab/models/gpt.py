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
``generate`` recomputes the whole window for every new character (simple and slow). A KV cache
(:mod:`inferlab.models.kvcache`, chapter 08) removes that waste: the keys and values of earlier
tokens never change, so they are computed once and kept.

    >>> logits, cache = model.prefill(ids[None])              # (1, 6, vocab); cache holds 6
    >>> nxt = model.decode_step(logits[:, -1].argmax(-1), cache)   # (1, vocab); cache holds 7
    >>> model.extend(cache, [0], [model.encode("ab")])        # any chunk per sequence, batched

Weights: ``datasets/weights/gpt.npz`` (names in :mod:`inferlab.reference.gpt`, which trains it
with ``scripts/train_gpt.py``).
"""

from __future__ import annotations

import numpy as np

from inferlab import data, ops
from inferlab.errors import DTypeError, InferlabError, InvalidValueError, ShapeError, describe
from inferlab.models.kvcache import KVCache

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

    def _block(self, x: np.ndarray, i: int, attend=None) -> np.ndarray:
        """Block i on x (B, T, C). ``attend(q, k, v, i)`` does the attention (default: causal
        over these T tokens; the cached path stores k, v and attends to the cache instead)."""
        w, p = self.w, f"blocks.{i}."
        B, T, C = x.shape
        H = self.n_head
        h = ops.layer_norm(x, (C,), w[p + "ln1.weight"], w[p + "ln1.bias"])
        qkv = ops.linear(h, w[p + "attn.qkv.weight"], w[p + "attn.qkv.bias"])  # (B, T, 3C)
        # (B, T, 3, H, C/H) -> (3, B, H, T, C/H): one head per slice of C/H channels
        q, k, v = qkv.reshape(B, T, 3, H, C // H).transpose(2, 0, 3, 1, 4)
        if attend is None:
            y = ops.scaled_dot_product_attention(q, k, v, causal=True)  # (B, H, T, C/H)
        else:
            y = attend(q, k, v, i)
        y = y.transpose(0, 2, 1, 3).reshape(B, T, C)  # heads side by side again
        x = x + ops.linear(y, w[p + "attn.proj.weight"], w[p + "attn.proj.bias"])
        h = ops.layer_norm(x, (C,), w[p + "ln2.weight"], w[p + "ln2.bias"])
        h = ops.gelu(ops.linear(h, w[p + "fc.weight"], w[p + "fc.bias"]))  # (B, T, d_ff)
        return x + ops.linear(h, w[p + "proj.weight"], w[p + "proj.bias"])

    def _head(self, x: np.ndarray) -> np.ndarray:
        x = ops.layer_norm(x, (self.d_model,), self.w["ln_f.weight"], self.w["ln_f.bias"])
        return ops.linear(x, self.w["head.weight"])

    def __call__(self, ids) -> np.ndarray:
        """ids (B, T) integer, 1 <= T <= context -> logits (B, T, vocab) float32."""
        ids = self._check_ids(ids)
        T = ids.shape[1]
        x = ops.embedding(ids, self.w["tok_emb.weight"]) + self.w["pos_emb.weight"][:T]
        for i in range(self.n_layer):
            x = self._block(x, i)
        return self._head(x)

    # ---- the KV cache: prefill once, then one token per step ---------------------------------

    def new_cache(self, max_seqs: int = 16) -> KVCache:
        """An empty :class:`KVCache` for this model with room for ``max_seqs`` sequences."""
        return KVCache(
            self.n_layer, self.n_head, self.d_model // self.n_head, self.context, max_seqs
        )

    def extend(self, cache: KVCache, seq_ids, chunks, n_pad=None) -> list[np.ndarray]:
        """Append ``chunks[b]`` (n_b,) token ids to sequence ``seq_ids[b]`` of the cache, all in
        one batched pass; returns their logits, a list of (n_b, vocab) float32.

        The one primitive under ``prefill`` (n_b = the prompt) and ``decode_step`` (n_b = 1); a
        step of continuous batching mixes both (a prefill chunk for one sequence, one token for
        the others). Sequence b's new tokens take positions L_b .. L_b + n_b - 1 (L_b: tokens it
        already holds). The N = sum n_b tokens go through the layers packed, as one (1, N, C)
        sequence (vLLM's flattened batch: no work on padding); only attention unpacks them, to
        (B, H, T, d_head) with T = max n_b, where a mask (B, 1, T, Tk) lets query r of sequence
        b see its keys 0 .. L_b + r (Tk = max(L_b + n_b)).

        ``n_pad`` (B,) int, for static padded batching: the first n_pad[b] tokens of an *empty*
        sequence's chunk are padding (left padding, as FasterTransformer pads a batch of prompts
        to one length). They are computed and stored like any token (they cost the same) but no
        query ever sees them and the real tokens' positions count from 0 after them, so the
        logits are those of the unpadded sequence.
        """
        seq_ids, chunks = list(seq_ids), [self._check_chunk(c) for c in chunks]
        if len(seq_ids) != len(chunks) or not chunks:
            raise ShapeError(
                f"extend needs one chunk of ids per sequence (at least one); got "
                f"{len(seq_ids)} sequence ids and {len(chunks)} chunks"
            )
        n = np.array([len(c) for c in chunks], np.int64)  # (B,)
        cache.check_room(seq_ids, n)
        slots = cache.slots(seq_ids)
        start = cache.lengths[slots]  # (B,) tokens already stored
        if n_pad is not None:
            self._set_padding(cache, seq_ids, slots, n, n_pad)
        first = cache.start[slots]  # (B,) first real (not padding) position
        B, T, Tk = len(chunks), int(n.max()), int((start + n).max())
        rows, cols = np.nonzero(np.arange(T) < n[:, None])  # token i: sequence rows[i], col[i]
        pos = start[rows] + cols  # (N,) position of each token in its sequence's cache
        x = ops.embedding(np.concatenate(chunks)[None], self.w["tok_emb.weight"])  # (1, N, C)
        x = x + self.w["pos_emb.weight"][np.maximum(pos - first[rows], 0)]
        q_pos = start[:, None] + np.arange(T)  # (B, T)
        keys = np.arange(Tk)
        mask = (keys <= q_pos[:, :, None]) & (keys >= first[:, None, None])
        mask = mask[:, None]  # (B, 1, T, Tk): one mask for every head
        H, D = self.n_head, self.d_model // self.n_head

        def attend(q, k, v, layer):  # q, k, v: (1, H, N, D) packed
            q, k, v = (a[0].transpose(1, 0, 2) for a in (q, k, v))  # (N, H, D)
            cache.write(layer, slots[rows], pos, k, v)
            padded = np.zeros((B, H, T, D), np.float32)
            padded[rows, :, cols] = q
            k_all, v_all = cache.window(layer, slots, Tk)  # (B, H, Tk, D)
            y = ops.scaled_dot_product_attention(padded, k_all, v_all, mask=mask)
            return y[rows, :, cols].transpose(1, 0, 2)[None]  # (1, H, N, D) packed again

        for i in range(self.n_layer):
            x = self._block(x, i, attend)
        cache.advance(slots, n)
        logits = self._head(x)[0]  # (N, vocab)
        return np.split(logits, np.cumsum(n)[:-1])

    @staticmethod
    def _set_padding(cache: KVCache, seq_ids, slots, n, n_pad) -> None:
        n_pad = np.asarray(n_pad)
        if n_pad.shape != n.shape or n_pad.dtype.kind not in "iu" or (n_pad < 0).any():
            raise ShapeError(
                f"extend needs n_pad (B,) ints >= 0, B = {len(n)}; got {describe(n_pad)}"
            )
        bad = (n_pad > 0) & ((cache.lengths[slots] > 0) | (n_pad >= n))
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidValueError(
                f"padding goes first, before at least one real token: sequence "
                f"{seq_ids[i]!r} holds {cache.lengths[slots[i]]} tokens and its chunk has "
                f"{n[i]}, of which n_pad = {n_pad[i]}"
            )
        cache.start[slots] = np.where(n_pad > 0, n_pad, cache.start[slots])

    def prefill(self, ids, cache: KVCache | None = None, seq_ids=None):
        """Run prompts ids (B, T) and keep their keys and values: -> (logits (B, T, vocab), cache).

        The sequences are added to ``cache`` (a new one with room for B when None) under
        ``seq_ids`` (default 0 .. B-1). The logits equal ``model(ids)``.
        """
        ids = self._check_ids(ids)
        seq_ids = list(range(len(ids)) if seq_ids is None else seq_ids)
        if len(seq_ids) != len(ids):
            raise ShapeError(
                f"prefill needs one sequence id per row of ids {ids.shape}; got {len(seq_ids)}"
            )
        cache = self.new_cache(max(len(ids), 1)) if cache is None else cache
        added = []
        try:
            for s in seq_ids:
                cache.add(s)
                added.append(s)
            logits = self.extend(cache, seq_ids, list(ids))
        except Exception:
            for s in added:  # leave the cache as it was
                cache.remove(s)
            raise
        return np.stack(logits), cache

    def decode_step(self, ids, cache: KVCache, seq_ids=None) -> np.ndarray:
        """One new token per sequence: ids (B,) integer -> logits (B, vocab) for the next one.

        ``seq_ids`` (default: every sequence of the cache, in the order added) may be at
        different positions; each one's token goes after the tokens it holds.
        """
        seq_ids = cache.seq_ids if seq_ids is None else list(seq_ids)
        ids = np.asarray(ids)
        if ids.ndim != 1 or len(ids) != len(seq_ids):
            raise ShapeError(
                f"decode_step needs ids (B,), one token for each of the B = {len(seq_ids)} "
                f"sequences; got {describe(ids)}"
            )
        return np.stack([g[0] for g in self.extend(cache, seq_ids, ids[:, None])])

    def _check_chunk(self, chunk) -> np.ndarray:
        chunk = np.asarray(chunk)
        if chunk.ndim != 1 or not len(chunk):
            raise ShapeError(
                f"a chunk of token ids must be (n,) with n >= 1; got {describe(chunk)}"
            )
        return self._check_ids(chunk[None])[0]

    def generate(
        self,
        prompt: str = "\n",
        n_tokens: int = 200,
        temperature: float = 1.0,
        seed: int | None = 0,
        use_cache: bool = False,
    ) -> str:
        """The prompt followed by ``n_tokens`` sampled characters.

        Each step runs the model on the last ``context`` characters and samples the next one
        from ``softmax(logits / temperature)``; temperature 0 always takes the most likely
        character (greedy). The same seed gives the same text (None: fresh randomness).

        ``use_cache=True`` computes the same logits with a :class:`KVCache`: one prefill of the
        prompt, then one token per step. Past ``context`` characters the window slides, every
        position changes and the cache no longer applies: each of those steps is a fresh
        prefill of the window (what the default path does every step).
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
        cache = None
        for _ in range(n_tokens):
            window = np.array([ids[-self.context :]])
            if not use_cache:
                logits = self(window)[0, -1]
            elif cache is not None and len(ids) <= self.context:  # cache holds ids[:-1]
                logits = self.decode_step(window[:, -1], cache)[0]
            else:
                step_logits, cache = self.prefill(window)
                logits = step_logits[0, -1]
            ids.append(self._pick(logits.astype(np.float64), temperature, rng))
        return self.decode(ids)

    @staticmethod
    def _pick(logits: np.ndarray, temperature: float, rng) -> int:
        """The next id from logits (vocab,) float64: argmax at temperature 0, else sampled."""
        if temperature == 0:
            return int(logits.argmax())
        probs = ops.softmax(logits / temperature)
        # inverse CDF: the first id whose cumulative probability exceeds a uniform draw
        cdf = np.cumsum(probs)
        return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(probs) - 1))

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
