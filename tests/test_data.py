"""The shipped data files: they load without pickle, have the documented shapes and hashes, and
every file in datasets/ is listed in datasets/README.md with its sha256."""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pytest

from inferlab import data
from inferlab.errors import InferlabError, InvalidValueError

DATASETS = data.DATASETS_DIR


def readme_rows() -> dict[str, str]:
    """file name -> sha256, from the table rows of datasets/README.md (`name` ... `sha256`)."""
    text = (DATASETS / "README.md").read_text()
    rows = {}
    for line in text.splitlines():
        name = re.match(r"\|\s*`([^`]+)`", line)
        sha = re.search(r"\b([0-9a-f]{64})\b", line)
        if name and sha:
            rows[name.group(1)] = sha.group(1)
    return rows


def shipped_files() -> list[str]:
    return sorted(
        p.relative_to(DATASETS).as_posix()
        for p in DATASETS.rglob("*")
        if p.is_file() and p.name != "README.md" and not p.name.startswith(".")
    )


def test_every_file_is_documented_with_its_sha256():
    rows = readme_rows()
    files = shipped_files()
    assert {
        "digits.npz",
        "shakespeare.txt",
        "weights/mlp.npz",
        "weights/cnn.npz",
        "weights/gpt.npz",
    } <= set(files)
    assert sorted(rows) == files, "datasets/README.md must list exactly the files in datasets/"
    for name in files:
        assert data.sha256_of(DATASETS / name) == rows[name], f"README sha256 of {name} is stale"
    for name, sha in data.SHA256.items():
        assert rows[name] == sha


def test_files_are_small_and_pickle_free():
    for name in shipped_files():
        path = DATASETS / name
        assert path.stat().st_size < 2_100_000, name  # the repo stays light
        if name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as f:
                for key in f.files:
                    assert not f[key].dtype.hasobject, (name, key)


def test_digits_file_layout():
    with np.load(DATASETS / "digits.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["images", "labels"]
        images, labels = f["images"], f["labels"]
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert labels.shape == (1797,) and labels.dtype == np.uint8
    assert images.max() == 16 and images.min() == 0
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_load_digits():
    images, labels = data.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert labels[:10].tolist() == list(range(10))  # sklearn's order
    with pytest.raises(ValueError):
        images[0, 0, 0] = 1.0  # shared and read-only


def test_digits_split_is_seeded_disjoint_and_scaled():
    split = data.digits_split()
    assert split.x_train.shape == (1438, 8, 8) and split.x_test.shape == (359, 8, 8)
    assert split.y_train.shape == (1438,) and split.y_test.shape == (359,)
    assert (
        split.x_train.dtype == np.float32
        and 0.0 <= split.x_train.min() <= split.x_train.max() <= 1.0
    )
    train, test = data.split_indices(1797)
    assert not set(train) & set(test) and len(train) + len(test) == 1797
    again = data.digits_split()
    np.testing.assert_array_equal(split.x_test, again.x_test)
    other = data.digits_split(seed=1)
    assert not np.array_equal(split.y_test, other.y_test)
    assert set(split.y_test.tolist()) == set(range(10))
    with pytest.raises(InvalidValueError, match="test_fraction"):
        data.digits_split(test_fraction=1.5)


def test_shakespeare_text():
    text = data.load_text("shakespeare")
    assert 100_000 <= len(text) <= 300_000 and text.isascii()
    assert "gutenberg" not in text.lower() and "\r" not in text
    assert text.startswith("MACBETH") and "PROSPERO" in text and "PUCK" in text
    assert len(set(text)) == 75
    train, val = data.text_split(text)
    assert train + val == text and abs(len(val) / len(text) - 0.1) < 1e-3
    with pytest.raises(InvalidValueError, match="knows"):
        data.load_text("moby dick")


def test_save_npz_is_reproducible_and_loads_without_pickle(tmp_path):
    arrays = {"b": np.arange(5, dtype=np.int64), "a.weight": np.ones((2, 3), np.float32)}
    one, two = (
        data.save_npz(tmp_path / "one.npz", arrays),
        data.save_npz(tmp_path / "two.npz", arrays),
    )
    assert one.read_bytes() == two.read_bytes()
    loaded = data.load_npz(one)
    assert sorted(loaded) == ["a.weight", "b"]
    np.testing.assert_array_equal(loaded["a.weight"], arrays["a.weight"])
    with pytest.raises(InvalidValueError, match="object"):
        data.save_npz(tmp_path / "bad.npz", {"x": np.array([{}], dtype=object)})
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_missing_changed_or_corrupt_files_fail_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DATASETS_DIR", tmp_path)
    with pytest.raises(InferlabError, match="missing"):
        data.dataset_path("digits.npz")
    (tmp_path / "digits.npz").write_bytes((DATASETS / "digits.npz").read_bytes()[:-10])
    with pytest.raises(InferlabError, match="sha256"):
        data.dataset_path("digits.npz")
    with pytest.raises(InferlabError, match="could not read"):
        data.load_npz(tmp_path / "digits.npz")
    pickled = tmp_path / "pickled.npz"
    with zipfile.ZipFile(pickled, "w") as zf, zf.open("x.npy", "w") as f:
        # np.save pickles object arrays by default: a file a careless script could have written
        np.save(f, np.array([{}], dtype=object))
    with pytest.raises(InferlabError, match="could not read"):
        data.load_npz(pickled)
