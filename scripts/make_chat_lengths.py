"""Write datasets/chat_lengths.csv: a synthetic table of chat request lengths shaped like ShareGPT.

Not real data: 500 (prompt_len, output_len) token pairs drawn from two independent lognormals with
a fixed seed, targeting the commonly quoted ShareGPT statistics (means of roughly 160-340 prompt
tokens, depending on the filter and tokenizer, and about 340 output tokens; vLLM's paper, Kwon et
al. SOSP'23, Fig. 11, shows both long-tailed, with outputs longer than inputs on average) and cut
with the filter vLLM's benchmark applies to ShareGPT (4 <= each length, prompt <= 1024,
prompt + output <= 2048; rows failing it are redrawn). Run:

    .venv/bin/python scripts/make_chat_lengths.py

It is deterministic (numpy default_rng(2023)); the summary it prints is quoted in
datasets/README.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROWS = 500
PROMPT = {"mean": 250.0, "sigma": 1.0}  # lognormal: mean of the lengths, sigma of their log
OUTPUT = {"mean": 365.0, "sigma": 0.9}
OUT = Path(__file__).resolve().parents[1] / "datasets" / "chat_lengths.csv"


def draw(rng, mean, sigma, n):
    return np.rint(rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, n)).astype(np.int64)


def main() -> None:
    rng = np.random.default_rng(2023)
    rows: list[tuple[int, int]] = []
    while len(rows) < ROWS:
        p = draw(rng, PROMPT["mean"], PROMPT["sigma"], ROWS)
        o = draw(rng, OUTPUT["mean"], OUTPUT["sigma"], ROWS)
        keep = (p >= 4) & (o >= 4) & (p <= 1024) & (p + o <= 2048)
        rows.extend(zip(p[keep].tolist(), o[keep].tolist(), strict=True))
    table = np.array(rows[:ROWS], dtype=np.int64)
    with open(OUT, "w", newline="\n") as f:
        f.write("prompt_len,output_len\n")
        f.writelines(f"{a},{b}\n" for a, b in table)
    for name, col in (("prompt", table[:, 0]), ("output", table[:, 1])):
        q = np.percentile(col, [50, 90, 99])
        print(
            f"{name}: mean {col.mean():.1f}, median {q[0]:.0f}, p90 {q[1]:.0f}, "
            f"p99 {q[2]:.0f}, min {col.min()}, max {col.max()}"
        )
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
