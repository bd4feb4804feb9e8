"""Train the digits MLP and CNN with torch and save their weights to datasets/weights/.

    .venv/bin/python scripts/train_digits.py             # both models, ~10 s on 2 CPU cores
    .venv/bin/python scripts/train_digits.py --model cnn

Seeded: a rerun on the same machine and torch version writes the same files (the sha256 printed
must match datasets/README.md; a different CPU or torch may round differently). The test split
(inferlab.data.digits_split, seed 0) is never trained on; its accuracy is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from inferlab.data import sha256_of  # noqa: E402
from inferlab.reference import digits  # noqa: E402

THRESHOLDS = {"mlp": 0.95, "cnn": 0.97}  # test accuracy the course promises (tests check them)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn", "both"], default="both")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=digits.WEIGHTS_DIR)
    args = parser.parse_args()
    torch.set_num_threads(2)  # results depend on the thread count: fix it
    for name in ("mlp", "cnn") if args.model == "both" else (args.model,):
        model, report = digits.train(name, epochs=args.epochs, seed=args.seed)
        path = digits.save(model, name, args.out / f"{name}.npz")
        print(
            f"{name}: {report['params']} params, trained in {report['seconds']:.1f} s, "
            f"train accuracy {report['train_accuracy']:.4f}, "
            f"test accuracy {report['test_accuracy']:.4f}\n"
            f"  -> {path} ({path.stat().st_size} bytes, sha256 {sha256_of(path)})"
        )
        if report["test_accuracy"] < THRESHOLDS[name]:
            raise SystemExit(f"{name}: test accuracy below {THRESHOLDS[name]}")


if __name__ == "__main__":
    main()
