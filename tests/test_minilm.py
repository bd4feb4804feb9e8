"""MiniLM in NumPy against its references: sentence-transformers (embeddings), the torch
BertModel (last hidden state), onnxruntime on the exported encoder; plus the safetensors
reader, semantic search, and clear errors for bad input and corrupt weights.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from inferlab.errors import DTypeError, InferlabError, InvalidValueError, ShapeError
from inferlab.models import minilm
from inferlab.models.safetensors import SafetensorsError, load, loads, read_header
from inferlab.reference import minilm as reference

torch.set_num_threads(1)  # pytest-xdist runs 2 workers on 2 cores: do not oversubscribe

# Different lengths (so batches are padded), languages, punctuation, an empty string, and one
# longer than sentence-transformers' 256-token limit (so truncation is compared too).
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A cheetah is running behind its prey.",
    "Café au lait, naïve résumé — 東京は日本の首都です。",
    "",
    "3.14159 is π; 2^10 = 1024!",
    "Inference engines fuse operators and plan memory. " * 40,
]


@pytest.fixture(scope="module")
def model():
    return minilm.load()


@pytest.fixture(scope="module")
def expected():
    """sentence-transformers' embeddings of SENTENCES (loads the reference once)."""
    return reference.encode(SENTENCES)


@pytest.fixture(scope="module")
def batch(model):
    return model.tokenizer(SENTENCES, max_length=model.max_seq_length)


def test_embeddings_match_sentence_transformers(model, expected):
    ours = model.encode(SENTENCES, batch_size=4)
    assert ours.shape == (len(SENTENCES), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-6)
    cosine = np.sum(ours * expected, axis=1)
    assert cosine.min() >= 0.9999, f"cosine per sentence: {cosine}"
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_tokenisation_matches_sentence_transformers(model, batch):
    theirs = reference.tokenize(SENTENCES)
    for key, value in theirs.items():
        np.testing.assert_array_equal(batch[key], value, err_msg=key)


def test_hidden_state_matches_torch(model, batch):
    ours = model.forward(**batch)
    theirs = reference.last_hidden_state(**batch)
    real = batch["attention_mask"].astype(bool)  # padding positions are not outputs anyone uses
    # atol: float32 rounding through 6 layers on values up to ~7 (measured max diff ~5e-6)
    np.testing.assert_allclose(ours[real], theirs[real], rtol=1e-4, atol=2e-5)
    full = model.tokenizer(SENTENCES[:4], max_length=8, padding="max_length")  # no padding
    assert full["attention_mask"].all()
    np.testing.assert_allclose(
        model.forward(**full), reference.last_hidden_state(**full), rtol=1e-4, atol=2e-5
    )


def test_any_attention_mask_matches_torch(model, batch):
    """Masks that are not "tokens then padding" take BERT's additive-mask path."""
    ids = batch["input_ids"][:3, :12].copy()
    mask = np.ones_like(ids)
    mask[0, [3, 7]] = 0  # holes
    mask[1, :4] = 0  # padding on the left
    mask[2, 5:] = 0  # ordinary padding, for comparison
    ours, theirs = model.forward(ids, mask), reference.last_hidden_state(ids, mask)
    real = mask.astype(bool)
    np.testing.assert_allclose(ours[real], theirs[real], rtol=1e-4, atol=2e-5)


@pytest.fixture(scope="session")
def onnx_path(tmp_path_factory):
    return reference.export_onnx(tmp_path_factory.mktemp("minilm") / "minilm.onnx")


def test_matches_onnxruntime(model, batch, onnx_path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == ["input_ids", "attention_mask", "token_type_ids"]
    theirs, ours = session.run(None, batch)[0], model.forward(**batch)
    real = batch["attention_mask"].astype(bool)
    np.testing.assert_allclose(ours[real], theirs[real], rtol=1e-4, atol=2e-5)
    # The export masks padding as inferlab does (an additive float32-min mask), so even the
    # padding positions agree, if less tightly (their queries mix far-apart keys).
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_semantic_search(model):
    corpus = [
        "The cat sleeps on the sofa.",
        "Stock markets fell sharply on Monday.",
        "The recipe needs flour, eggs and sugar.",
        "The football team won the championship.",
        "A new smartphone was released this week.",
    ]
    queries = {
        "A kitten is napping on the couch.": 0,
        "How do I bake a cake?": 2,
        "Shares dropped at the start of the week.": 1,
        "Which club won the league?": 3,
        "the latest mobile phone launch": 4,
    }
    docs = model.encode(corpus)
    found = np.argmax(model.encode(list(queries)) @ docs.T, axis=1)
    assert found.tolist() == list(queries.values())


def test_encode_keeps_order_whatever_the_batch_size(model):
    one = model.encode(SENTENCES[:6], batch_size=1)
    np.testing.assert_allclose(model.encode(SENTENCES[:6], batch_size=32), one, atol=2e-6)
    np.testing.assert_allclose(model.encode(SENTENCES[2:3])[0], one[2], atol=2e-6)


@pytest.mark.parametrize(
    ("sentences", "error", "match"),
    [
        ([], InvalidValueError, "at least one sentence"),
        (["fine", 42], DTypeError, "item 1 is int"),
        ([None], DTypeError, "item 0 is NoneType"),
        ("a lone string", DTypeError, "wrap it"),
        (7, DTypeError, "list of strings"),
    ],
)
def test_bad_sentences_are_clear_errors(model, sentences, error, match):
    with pytest.raises(error, match=match):
        model.encode(sentences)
    assert issubclass(error, InferlabError)


def test_bad_forward_inputs_are_clear_errors(model):
    ids = np.full((2, 5), 1000)
    with pytest.raises(DTypeError, match="integer input_ids"):
        model.forward(ids.astype(np.float32))
    with pytest.raises(ShapeError, match=r"\(B, T\)"):
        model.forward(ids[0])
    with pytest.raises(ShapeError, match="at most 512 tokens"):
        model.forward(np.ones((1, 513), dtype=np.int64))
    with pytest.raises(InvalidValueError, match=r"ids in \[0, 30522\)"):
        model.forward(ids + 30000)
    with pytest.raises(ShapeError, match="attention_mask"):
        model.forward(ids, np.ones((2, 4), dtype=np.int64))
    with pytest.raises(InvalidValueError, match=r"token_type_ids in \[0, 2\)"):
        model.forward(ids, None, np.full((2, 5), 2))
    with pytest.raises(InvalidValueError, match="batch_size"):
        model.encode(["a"], batch_size=0)


# -- weights: the safetensors reader and the checksum --------------------------------------------


def test_safetensors_reader_matches_the_library():
    from safetensors.numpy import load_file

    path = minilm.model_path() / "model.safetensors"
    ours, theirs = load(path, sha256=minilm.SHA256), load_file(str(path))
    assert ours.keys() == theirs.keys()
    for name, array in theirs.items():
        assert ours[name].dtype == array.dtype and ours[name].shape == array.shape, name
        np.testing.assert_array_equal(ours[name], array, err_msg=name)
    header = read_header(path)
    assert header["embeddings.word_embeddings.weight"]["shape"] == [30522, 384]


def test_corrupt_weights_are_refused(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(minilm.model_path(), folder)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the middle of the tensors
    weights.write_bytes(bytes(data))
    with pytest.raises(SafetensorsError, match=r"sha256 is [0-9a-f]{64}, expected 53aa5117"):
        minilm.load(folder)
    minilm.load(folder, verify=False)  # the format itself is intact: only the checksum knows
    weights.write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(SafetensorsError, match="truncated"):
        minilm.load(folder, verify=False)


def st_file(header: str, data: bytes = b"") -> bytes:
    """A safetensors file: header length, JSON header, data."""
    return len(header.encode()).to_bytes(8, "little") + header.encode() + data


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"\x01\x02", "too short"),
        ((1 << 40).to_bytes(8, "little") + b"{}", "does not fit"),
        (st_file("{no}"), "JSON header is corrupt"),
        (st_file("[]"), "JSON object"),
        (st_file('{"x": {"dtype": "F32", "shape": [2]}}'), "bad header entry"),
        (st_file('{"x": {"dtype": "Q77", "shape": [2], "data_offsets": [0, 8]}}'), "bad header"),
        (
            st_file('{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', b"\0" * 4),
            "trunc",
        ),
        (st_file('{"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}', b"\0" * 8), "12"),
    ],
)
def test_bad_safetensors_bytes(blob, match):
    with pytest.raises(SafetensorsError, match=match):
        loads(blob)


def test_safetensors_round_trip_of_every_dtype():
    from safetensors.numpy import save

    arrays = {
        "f64": np.arange(6, dtype=np.float64).reshape(2, 3),
        "f16": np.float16([1.5, -2.0]),
        "i8": np.int8([-1, 2]),
        "u8": np.uint8([255]),
        "b": np.array([True, False]),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "scalar": np.array(3.0, dtype=np.float32),
    }
    back = loads(save(arrays))
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)


def test_forward_is_thread_safe(model, batch):
    """Each thread gets its own activation buffers: concurrent calls do not mix."""
    from concurrent.futures import ThreadPoolExecutor

    inputs = [{k: v[:2, :12] for k, v in batch.items()}, {k: v[2:5, :7] for k, v in batch.items()}]
    expected = [model.forward(**inputs[0]), model.forward(**inputs[1])]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda i: model.forward(**inputs[i % 2]), range(6)))
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, expected[i % 2])


def test_threads_split_the_batch(model, batch):
    """threads=2: each thread encodes a share of the sequences (BLAS on one thread)."""
    from inferlab import bench

    small = {k: v[:5, :40] for k, v in batch.items()}
    expected = model.forward(**small)
    try:
        model.threads = 2
        with bench.threads(1):
            np.testing.assert_allclose(model.forward(**small), expected, atol=1e-5)
            np.testing.assert_allclose(
                model.encode(SENTENCES[:5], batch_size=5), model.encode(SENTENCES[:5]), atol=1e-6
            )
    finally:
        model.threads = 1


# -- the kernels MiniLM's speed relies on (inferlab.ops) ---------------------------------------


def test_gelu_writes_into_out():
    from inferlab import ops

    x = np.linspace(-8, 8, 3000, dtype=np.float32).reshape(3, 1000)
    expected = ops.gelu(x)
    out = np.empty_like(x)
    assert ops.gelu(x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    inplace = x.copy()
    ops.gelu(inplace, out=inplace)  # out may be x itself
    np.testing.assert_array_equal(inplace, expected)
    strided = np.empty((1000, 3), dtype=np.float32).T
    np.testing.assert_array_equal(ops.gelu(x, out=strided), expected)
    with pytest.raises(ShapeError, match="out of x's shape"):
        ops.gelu(x, out=np.empty((3, 999), dtype=np.float32))
    with pytest.raises(DTypeError, match="floating array"):
        ops.gelu(x, out=np.empty(x.shape, dtype=np.int32))


@pytest.mark.parametrize("edge", [2.0, 3.0])
def test_fast_paths_agree_with_exact_at_their_edges(edge):
    """The polynomial shortcuts (GELU for |x| <= 3, erf for |x| <= 2) hand over to the erfc
    formulas at their edge: both sides match the float64 references."""
    import math

    from inferlab import ops

    x = np.float32(edge) + np.float32(1e-3) * np.arange(-50, 51, dtype=np.float32)
    x = np.concatenate([x, -x])
    gelu = [0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x.astype(np.float64)]
    np.testing.assert_allclose(ops.gelu(x), gelu, rtol=1e-6)
    np.testing.assert_allclose(ops.erf(x), [math.erf(v) for v in x.astype(np.float64)], rtol=1e-6)
