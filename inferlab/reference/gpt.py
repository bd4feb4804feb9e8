"""The tiny character-level GPT in torch: the reference for :mod:`inferlab.models.gpt` and the
code that trains it (``scripts/train_gpt.py``).

    >>> model, vocab = load_torch()             # shipped weights, eval mode
    >>> logits = model(ids)                     # ids (B, T) int64, T <= context -> (B, T, vocab)

A decoder-only transformer in the GPT-2 layout (pre-LayerNorm blocks, GELU MLP, learned positional
embeddings, no weight tying):

    x = tok_emb[ids] + pos_emb[:T]
    for each block:  x = x + attn(ln1(x));  x = x + mlp(ln2(x))     (attn: causal, n_head heads)
    logits = head(ln_f(x))

It is written with ops the ONNX exporter turns into plain ONNX operators: positions are a slice
of ``pos_emb`` (not ``torch.arange``) and the causal mask is a sliced additive buffer (0 / -inf),
so the exported graph needs no Range, Trilu or attention kernels.

Weights file ``datasets/weights/gpt.npz``: torch ``state_dict`` names (``tok_emb.weight``,
``pos_emb.weight``, ``blocks.<i>.ln1.weight`` ... ``head.weight``), ``config.*`` scalars and
``vocab`` (the characters as int32 code points, in id order).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from inferlab import data


@dataclass(frozen=True)
class Config:
    vocab_size: int = 75
    context: int = 128  # longest sequence the model reads (positions it has embeddings for)
    d_model: int = 96
    n_layer: int = 4
    n_head: int = 4
    d_ff: int = 384  # MLP hidden width, 4 * d_model as in GPT-2


class Attention(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)  # q, k, v in one matmul
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        mask = torch.full((cfg.context, cfg.context), float("-inf")).triu(1)  # -inf above diag
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        qkv = self.qkv(x)  # sliced, not .split(): the exported graph gets Slice, not Split
        q, k, v = qkv[..., :C], qkv[..., C : 2 * C], qkv[..., 2 * C :]
        # (B, T, C) -> (B, H, T, C/H): each head attends in its own C/H-dim subspace
        q, k, v = (
            t.reshape(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)
        )
        scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(C // self.n_head))
        scores = scores + self.mask[:T, :T]  # token t sees tokens 0..t only
        y = torch.softmax(scores, dim=-1) @ v  # (B, H, T, C/H)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.proj(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.context, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: shrink what each block adds to x
            if name.endswith("proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb.weight[:T]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def save(model: GPT, vocab: str, path=None) -> Path:
    """Weights (fp32) + ``config.*`` + ``vocab`` as one .npz (default datasets/weights/gpt.npz)."""
    path = Path(path) if path is not None else data.DATASETS_DIR / "weights" / "gpt.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    arrays.update(
        {f"config.{k}": np.asarray(v, dtype=np.int64) for k, v in asdict(model.cfg).items()}
    )
    arrays["vocab"] = np.array([ord(c) for c in vocab], dtype=np.int32)
    return data.save_npz(path, arrays)


def load_torch(path=None) -> tuple[GPT, str]:
    """(model in eval mode, vocab string) from the shipped or given weights file."""
    path = data.dataset_path("weights/gpt.npz") if path is None else Path(path)
    arrays = data.load_npz(path)
    cfg = Config(**{k[7:]: int(v) for k, v in arrays.items() if k.startswith("config.")})
    vocab = "".join(map(chr, arrays["vocab"]))
    model = GPT(cfg)
    weights = {k: torch.from_numpy(v) for k, v in arrays.items() if "." in k and k[:7] != "config."}
    model.load_state_dict(weights)
    return model.eval(), vocab


@torch.no_grad()
def evaluate(model: GPT, ids: torch.Tensor, batch_size: int = 32, seed: int = 1) -> float:
    """Mean cross-entropy (nats/char) over non-overlapping context-length windows of ids."""
    model.eval()
    T = model.cfg.context
    n = (len(ids) - 1) // T
    x = ids[: n * T].view(n, T)
    y = ids[1 : n * T + 1].view(n, T)
    total = 0.0
    for i in range(0, n, batch_size):
        logits = model(x[i : i + batch_size])
        total += F.cross_entropy(
            logits.flatten(0, 1), y[i : i + batch_size].flatten(), reduction="sum"
        ).item()
    return total / (n * T)


def train(
    cfg: Config | None = None,
    steps: int = 2000,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> tuple[GPT, str, dict]:
    """Train on the Shakespeare text (first 90 %); returns (model, vocab, report).

    AdamW, linear warm-up then cosine decay, random context-length windows. report: seconds,
    params, train and val loss (nats/char; val = the last 10 % of the text).
    """
    from tqdm.auto import tqdm

    text = data.load_text("shakespeare")
    vocab = "".join(sorted(set(text)))
    cfg = cfg or Config(vocab_size=len(vocab))
    lookup = {c: i for i, c in enumerate(vocab)}
    train_text, val_text = data.text_split(text)
    train_ids = torch.tensor([lookup[c] for c in train_text], dtype=torch.int64)
    val_ids = torch.tensor([lookup[c] for c in val_text], dtype=torch.int64)

    torch.manual_seed(seed)
    model = GPT(cfg)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.99),
    )
    warmup = max(1, steps // 20)

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    generator = torch.Generator().manual_seed(seed)
    T = cfg.context
    start = time.perf_counter()
    bar = tqdm(range(steps), desc="train gpt", disable=not progress)
    smooth = None
    for _ in bar:
        model.train()
        starts = torch.randint(len(train_ids) - T - 1, (batch_size,), generator=generator)
        x = torch.stack([train_ids[s : s + T] for s in starts])
        y = torch.stack([train_ids[s + 1 : s + T + 1] for s in starts])
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        bar.set_postfix(loss=f"{smooth:.3f}")
    seconds = time.perf_counter() - start
    report = {
        "seconds": seconds,
        "params": sum(p.numel() for p in model.parameters()),
        "train_loss": evaluate(model, train_ids[: len(val_ids)]),
        "val_loss": evaluate(model, val_ids),
    }
    return model.eval(), vocab, report
