"""inferlab's WordPiece tokenizer against the Hugging Face ``tokenizers`` library, on the same
tokenizer.json (all-MiniLM-L6-v2): ids and attention masks must be identical.

Covers a hand-made corpus (punctuation, accents, CJK, numbers, special tokens written in the
text, words too long for the vocabulary, empty and overlong texts), every Unicode code point of
the BMP one by one, and random Unicode text from hypothesis.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from inferlab.errors import DTypeError, InferlabError, InvalidValueError
from inferlab.models import tokenizer as tokmod
from inferlab.models.minilm import model_path
from inferlab.models.tokenizer import WordPieceTokenizer

TOKENIZER_JSON = model_path() / "tokenizer.json"

CORPUS = [
    "Hello, world!",
    "",
    "   ",
    "A man is eating food.",
    "Don't stop-believing... (really?) [yes] {no} <maybe> #hash $5 @user 100% a+b=c ^_^ `x` | ~",
    "Café au lait, naïve résumé, façade, Ångström, Øresund, Straße, İstanbul, ΣΊΣΥΦΟΣ",
    "東京は日本の首都です。北京欢迎你！한국어 텍스트도 있습니다",
    "3.14159 is π; 2^10 = 1024; 1,000,000 and 42nd 7th",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
    "x" * 100,  # 100 characters: WordPiece still tries
    "y" * 101,  # over max_input_chars_per_word: [UNK]
    "tabs\tand\nnewlines\r\nand\u00a0no-break\u2003em\u3000ideographic spaces",
    "zero\u200bwidth\u200djoiner\ufeffbom and control\x00\x07\x1f chars\ufffd",
    "emoji 😀🚀👍🏽 and symbols © ® ™ € £ ¥ § ¶ • → ∞ ≠ ≤",
    "The [MASK] sat on the [SEP] mat [CLS] x[PAD]y [UNK] [mask]",
    "Mixed CASE WoRdS and ALLCAPS, e.g. NASA, U.S.A., iPhone",
    "Ελληνικά, русский язык, עברית, العربية, हिन्दी, ไทย",
    "combining: e\u0301 a\u0308 o\u0302 n\u0303 and precomposed é ä ô ñ",
    "a" + "\u0301" * 20 + "b",
    "https://example.com/path?query=1&x=y#frag user@example.org",
    "The quick brown fox jumps over the lazy dog. " * 60,  # truncated
]


@pytest.fixture(scope="module")
def hf():
    t = Tokenizer.from_file(str(TOKENIZER_JSON))
    t.no_padding()  # the file asks for fixed padding to 128; each test sets its own
    t.no_truncation()
    return t


@pytest.fixture(scope="module")
def ours():
    return WordPieceTokenizer.from_file(TOKENIZER_JSON)


def reference(hf, texts, max_length=128):
    """The `tokenizers` batch: truncated to max_length, padded to the longest, as arrays."""
    hf.enable_truncation(max_length)
    hf.enable_padding(pad_id=0, pad_token="[PAD]")
    try:
        encodings = hf.encode_batch(list(texts))
    finally:
        hf.no_truncation()
        hf.no_padding()
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def assert_same(ours, hf, texts, max_length=128):
    got, want = ours(texts, max_length=max_length), reference(hf, texts, max_length)
    for key in want:
        assert got[key].dtype == np.int64, key
        if not np.array_equal(got[key], want[key]):
            row = int(np.flatnonzero((got[key] != want[key]).any(axis=1))[0])
            pytest.fail(
                f"{key} differ for {texts[row]!r}:\n ours {got[key][row].tolist()}\n "
                f"tokenizers {want[key][row].tolist()}"
            )


@pytest.mark.parametrize("max_length", [128, 256, 512, 8, 2])
def test_corpus_matches_tokenizers(ours, hf, max_length):
    assert_same(ours, hf, CORPUS, max_length)


@pytest.mark.parametrize("text", CORPUS)
def test_each_text_alone_matches_tokenizers(ours, hf, text):
    assert_same(ours, hf, [text], 512)


def test_every_bmp_code_point_matches_tokenizers(ours, hf):
    """Each character of the Basic Multilingual Plane alone, and inside a word: classifying it
    (control, whitespace, punctuation, accent, CJK) and lowercasing it as `tokenizers` does."""
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    for template in ("{}", "ab{}cd e"):
        texts = [template.format(c) for c in chars]
        ids = [e.ids for e in hf.encode_batch(texts)]
        bad = [(t, i) for t, i in zip(texts, ids, strict=True) if ours.encode(t) != i]
        assert not bad, f"{len(bad)} differ, e.g. {bad[:3]}"


def test_unicode8_exceptions_and_other_planes_match_tokenizers(ours, hf):
    """The code points whose category `tokenizers` (Unicode 8.0 tables) sees differently from
    Python's unicodedata, and a sample of the supplementary planes."""
    codes = {ord(c) for c in tokmod._UNICODE8_CHANGED} | set(range(0x10000, 0x110000, 97))
    for lo, hi in tokmod._UNASSIGNED_RANGES:
        codes.update(range(lo - 1, hi + 2))
    texts = [f"ab{chr(c)}cd e" for c in sorted(codes)]
    ids = [e.ids for e in hf.encode_batch(texts)]
    bad = [t for t, i in zip(texts, ids, strict=True) if ours.encode(t) != i]
    assert not bad, f"{len(bad)} differ, e.g. {[ascii(t) for t in bad[:3]]}"


# Random text: hypothesis' unicode strategy (all planes, no surrogates), mixed with pieces that
# exercise the tricky paths: special tokens in the text, accents, CJK, long words, punctuation.
PIECES = st.sampled_from(
    ["[MASK]", "[SEP]", "[CLS]", " ", "\u0301", "é", "東京", "x" * 101, "##", "'", "...", "İ"]
)
TEXTS = st.lists(st.one_of(st.text(max_size=30), PIECES), max_size=8).map("".join)


@settings(
    max_examples=200, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
@given(st.lists(TEXTS, min_size=1, max_size=4), st.sampled_from([4, 16, 128]))
def test_random_unicode_matches_tokenizers(ours, hf, texts, max_length):
    assert_same(ours, hf, texts, max_length)


# -- behaviour ----------------------------------------------------------------------------------


def test_wordpiece_pieces_and_unknown_words(ours):
    assert ours.tokenize("Tokenization") == ["token", "##ization"]
    assert ours.tokenize("Hello, world!") == ["hello", ",", "world", "!"]
    assert ours.tokenize("y" * 101) == ["[UNK]"]  # longer than max_input_chars_per_word
    assert ours.tokenize("東京") == ["東", "京"]  # each CJK ideograph is a word
    assert ours.tokenize("naïve café") == ["naive", "cafe"]  # accents stripped
    assert ours.encode("") == [101, 102]  # [CLS] [SEP]


def test_truncation_and_padding(ours):
    long = "word " * 500
    batch = ours([long, "short"], max_length=16)
    assert batch["input_ids"].shape == (2, 16)
    assert batch["input_ids"][0, -1] == ours.sep_id  # [SEP] is kept after truncation
    assert batch["attention_mask"][1].tolist() == [1, 1, 1] + [0] * 13
    assert (batch["input_ids"][1, 3:] == ours.pad_id).all()
    assert not batch["token_type_ids"].any()
    fixed = ours(["a", "b c"], max_length=10, padding="max_length")
    assert fixed["input_ids"].shape == (2, 10)
    same = ours(["a b", "c d"], padding=False)
    assert same["input_ids"].shape == (2, 4)
    assert ours(["a " * 600], max_length=None)["input_ids"].shape == (1, 602)


def test_decode_is_readable_and_matches_tokenizers(ours, hf):
    ids = ours.encode("Tokenization is not hard, is it?")
    assert ours.decode(ids) == "tokenization is not hard, is it?"
    assert ours.decode(ids, skip_special_tokens=False).startswith("[CLS] tokenization")
    for text in CORPUS:
        ids = ours.encode(text)
        assert ours.decode(ids) == hf.decode(ids), text


@pytest.mark.parametrize(
    ("texts", "kwargs", "error", "match"),
    [
        ([], {}, InvalidValueError, "at least one text"),
        (["ok", 3], {}, DTypeError, "item 1 is int"),
        ([b"bytes"], {}, DTypeError, "item 0 is bytes"),
        (None, {}, DTypeError, "list of strings"),
        (["a"], {"max_length": 1}, InvalidValueError, "max_length >= 2"),
        (["a"], {"max_length": 2.5}, InvalidValueError, "max_length"),
        (["a"], {"padding": "longest-ish"}, InvalidValueError, "padding"),
        (["a", "b c"], {"padding": False}, InvalidValueError, "padding=True"),
        (["a"], {"max_length": None, "padding": "max_length"}, InvalidValueError, "max_length"),
    ],
)
def test_bad_input_is_a_clear_error(ours, texts, kwargs, error, match):
    with pytest.raises(error, match=match):
        ours(texts, **kwargs)


def test_bad_tokenizer_file(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(InferlabError, match="cannot read a tokenizer"):
        WordPieceTokenizer.from_file(bad)
    bad.write_text('{"model": {"type": "BPE", "vocab": {}}}')
    with pytest.raises(InvalidValueError, match="WordPiece"):
        WordPieceTokenizer.from_file(bad)
