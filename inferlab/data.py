"""The course's small datasets, shipped in ``datasets/`` and loaded without pickle or network.

    >>> images, labels = load_digits()        # (1797, 8, 8) float32 in [0, 16], (1797,) int64
    >>> split = digits_split()                # x_train (1438, 8, 8) in [0, 1], ..., y_test (359,)
    >>> text = load_text("shakespeare")       # ~290 000 characters of three plays

Files (source, licence and how each was made: ``datasets/README.md``; regenerate them with
``scripts/make_datasets.py``):

- ``digits.npz``: scikit-learn's copy of the UCI 8x8 handwritten digits (CC BY 4.0), arrays
  ``images`` (1797, 8, 8) uint8 in [0, 16] (each pixel counts the set pixels of a 4x4 block of the
  original 32x32 bitmap) and ``labels`` (1797,) uint8 in [0, 9];
- ``shakespeare.txt``: Macbeth, The Tempest and A Midsummer Night's Dream (public domain), ASCII.

Each data file's sha256 is checked on load (:data:`SHA256`), so a damaged or hand-edited file
fails loudly instead of silently changing every number in the course. ``save_npz`` writes ``.npz``
files byte-for-byte reproducibly (fixed zip timestamps), so a regenerated file has the same hash.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from inferlab.errors import InferlabError, InvalidValueError

__all__ = [
    "DATASETS_DIR",
    "SHA256",
    "Split",
    "dataset_path",
    "digits_split",
    "load_digits",
    "load_npz",
    "load_text",
    "save_npz",
    "sha256_of",
    "split_indices",
    "text_split",
]

# The repo's datasets/ folder; INFERLAB_DATASETS points elsewhere (e.g. an installed copy).
DATASETS_DIR = Path(
    os.environ.get("INFERLAB_DATASETS", Path(__file__).resolve().parents[1] / "datasets")
)

# sha256 of each shipped data file (the models' weights are listed in datasets/README.md).
SHA256 = {
    "digits.npz": "db6200e789d19e68dbb4f816a9f35b8eb50a83abe92d8ab85423fbef930b9d6a",
    "shakespeare.txt": "ae15a87591c36c7ae854b4497a30d8f122fef4a7115b7196912877033ab30f5a",
    "chat_lengths.csv": "c763b29208ec26aa8f091e7bbf6570d4ecb20466ca4b9a43dcbdfedd998f22da",
}

TEXTS = {"shakespeare": "shakespeare.txt"}


class Split(NamedTuple):
    """A train/test split: images (N, 8, 8) float32 in [0, 1] and labels (N,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def sha256_of(path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dataset_path(name: str, check: bool = True) -> Path:
    """Path of ``datasets/<name>``; InferlabError if it is missing or (check) its hash is wrong."""
    path = DATASETS_DIR / name
    if not path.is_file():
        raise InferlabError(
            f"dataset file {path} is missing; it ships with the repo (git checkout datasets/) "
            f"or can be rebuilt with scripts/make_datasets.py / the training scripts"
        )
    if check and name in SHA256 and sha256_of(path) != SHA256[name]:
        raise InferlabError(
            f"dataset file {path} has sha256 {sha256_of(path)}, expected {SHA256[name]}: "
            f"the file was changed; restore it with git checkout or scripts/make_datasets.py"
        )
    return path


def load_npz(path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read without pickle (object arrays are refused)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InferlabError(f"could not read {path} as an .npz file: {exc}") from None


def save_npz(path, arrays: dict[str, np.ndarray], compress: bool = False) -> Path:
    """Write ``arrays`` as an ``.npz`` that ``np.load`` reads, byte-for-byte reproducibly.

    ``np.savez`` stamps each member with the current time, so saving the same arrays twice gives
    two different files (and hashes). Here every member gets a fixed 1980-01-01 timestamp and the
    file is written to a temporary name, then renamed (a reader never sees half a file).
    """
    path = Path(path)
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    for key, array in arrays.items():
        if array.dtype.hasobject:
            raise InvalidValueError(f"save_npz refuses object arrays (pickle); got {key!r}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    try:
        with zipfile.ZipFile(tmp, "w", compression=method) as zf:
            for key in sorted(arrays):
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = method
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arrays[key], allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    arrays = load_npz(dataset_path("digits.npz"))
    images = arrays["images"].astype(np.float32)
    labels = arrays["labels"].astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False  # shared by every caller
    return images, labels


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 8x8 digits: images (1797, 8, 8) float32 with values in [0, 16] and labels
    (1797,) int64 in [0, 9]. The arrays are read-only (copy them to modify)."""
    return _digits()


def split_indices(n: int, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A seeded random permutation of range(n) cut into (train, test) index arrays."""
    if not 0.0 < test_fraction < 1.0:
        raise InvalidValueError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def digits_split(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """The digits cut into train (1438) and test (359) images, scaled to [0, 1] (pixels / 16).

    This exact split (seed 0) trained the shipped MLP and CNN: their test accuracy is measured on
    ``x_test``, which they never saw. Images are (N, 8, 8): flatten to (N, 64) for the MLP, add a
    channel axis (N, 1, 8, 8) for the CNN.
    """
    images, labels = load_digits()
    train, test = split_indices(len(labels), test_fraction, seed)
    x = images / np.float32(16.0)
    return Split(x[train], labels[train], x[test], labels[test])


@lru_cache(maxsize=4)
def load_text(name: str = "shakespeare") -> str:
    """A shipped text corpus as one string (ASCII, ``\\n`` line ends)."""
    if name not in TEXTS:
        raise InvalidValueError(f"load_text knows {sorted(TEXTS)}; got {name!r}")
    return dataset_path(TEXTS[name]).read_text(encoding="ascii")


def text_split(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """(train, val): the first 90 % of the text and the last 10 % (a contiguous tail, so the
    validation text is prose the model never saw, not sentences interleaved with training ones)."""
    if not 0.0 < val_fraction < 1.0:
        raise InvalidValueError(f"val_fraction must be in (0, 1); got {val_fraction!r}")
    cut = int(len(text) * (1.0 - val_fraction))
    return text[:cut], text[cut:]
