"""BERT's WordPiece tokenizer (uncased), in plain Python: text -> token ids for MiniLM.

It reproduces the Hugging Face ``tokenizers`` pipeline described by a ``tokenizer.json``:

1. **special tokens** written in the text (``[MASK]``, ``[SEP]``, ...) are matched first, on the
   raw text, and become their ids directly;
2. **normalise** (BertNormalizer): drop control characters, turn every whitespace into a space,
   put spaces around CJK ideographs (Chinese has no spaces: each ideograph is a word), strip
   accents (NFD, then drop the combining marks: "café" -> "cafe"), lowercase;
3. **pre-tokenise** (BertPreTokenizer): split on whitespace, and cut every punctuation character
   out as a word of its own ("don't" -> "don", "'", "t");
4. **WordPiece**: split each word greedily into the longest pieces found in the vocabulary,
   continuation pieces prefixed with "##" ("tokenization" -> "token", "##ization"); a word
   that cannot be split, or longer than 100 characters, becomes ``[UNK]``;
5. **post-process**: ``[CLS] tokens [SEP]``, truncated to ``max_length``, then padded with
   ``[PAD]`` (attention mask 0) to the longest sequence of the batch.

    >>> tok = WordPieceTokenizer.from_file(folder / "tokenizer.json")
    >>> tok(["Hello, world!"])["input_ids"]          # [[101, 7592, 1010, 2088, 999, 102]]
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np

from inferlab.errors import DTypeError, InferlabError, InvalidValueError

__all__ = ["WordPieceTokenizer"]

# Unicode White_Space (what Rust's char::is_whitespace, used by `tokenizers`, means). Python's
# str.isspace() differs: it also counts the separators U+001C..U+001F.
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# CJK ideograph blocks that BERT surrounds with spaces (as in the original BERT code).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
_OTHER = frozenset({"Cc", "Cf", "Co", "Cs"})  # control, format, private use, surrogate

# `tokenizers` classifies characters with the Unicode 8.0 tables of the Rust crate
# unicode_categories, while Python 3.11's unicodedata is Unicode 14.0. These code points (hex
# ranges), combining marks, punctuation and format characters added in Unicode 9-14 (Adlam,
# Newa, Marchen, ...), are still unassigned there: ordinary characters, kept inside words. Three
# more changed category since 8.0. Found by tokenizing every code point with both libraries;
# tests/test_tokenizer.py checks them.
_UNICODE8_UNASSIGNED = (
    "61d 7fd 890-891 898-89f 8ca-8e2 9fd-9fe a76 afa-aff b55 c04 c3c c77 c84 d00 d3b-d3c d81 "
    "eba 180f 1885-1886 1abf-1ace 1b7d-1b7e 1df6-1dfb 2e43-2e4f 2e52-2e5d a82c a8c5 a8ff a9bd "
    "10d24-10d27 10eab-10ead 10f46-10f50 10f55-10f59 10f82-10f89 11070 11073-11074 110c2 110cd "
    "111cf 1123e 1133b 11438-1143f 11442-11444 11446 1144b-1144f 1145a-1145b 1145d-1145e "
    "11660-1166c 116b9 1182f-11837 11839-1183b 1193b-1193c 1193e 11943-11946 119d4-119d7 "
    "119da-119db 119e0 119e2 11a01-11a0a 11a33-11a38 11a3b-11a47 11a51-11a56 11a59-11a5b "
    "11a8a-11a96 11a98-11a9c 11a9e-11aa2 11c30-11c36 11c38-11c3d 11c3f 11c41-11c45 11c70-11c71 "
    "11c92-11ca7 11caa-11cb0 11cb2-11cb3 11cb5-11cb6 11d31-11d36 11d3a 11d3c-11d3d 11d3f-11d45 "
    "11d47 11d90-11d91 11d95 11d97 11ef3-11ef4 11ef7-11ef8 11fff 12ff1-12ff2 13430-13438 "
    "16e97-16e9a 16f4f 16fe2 16fe4 1cf00-1cf2d 1cf30-1cf46 1e000-1e006 1e008-1e018 1e01b-1e021 "
    "1e023-1e024 1e026-1e02a 1e130-1e136 1e2ae 1e2ec-1e2ef 1e944-1e94a 1e95e-1e95f"
)
_UNICODE8_CHANGED = {"\u166d": "Po", "\u1734": "Mn", "\U000111c9": "Po"}
_UNASSIGNED_RANGES = [
    (int(lo, 16), int(hi, 16))
    for lo, _, hi in (r.partition("-") for r in _UNICODE8_UNASSIGNED.split())
    for hi in [hi or lo]
]


def category(c: str) -> str:
    """The Unicode general category of ``c`` as `tokenizers` sees it (Unicode 8.0 tables)."""
    if c in _UNICODE8_CHANGED:
        return _UNICODE8_CHANGED[c]
    code = ord(c)
    if code >= 0x61D and any(lo <= code <= hi for lo, hi in _UNASSIGNED_RANGES):
        return "Cn"
    return unicodedata.category(c)


def is_cjk(c: str) -> bool:
    """A CJK ideograph (one of CJK_RANGES)."""
    code = ord(c)
    return any(lo <= code <= hi for lo, hi in CJK_RANGES)


def is_punctuation(c: str) -> bool:
    """BERT's punctuation: any ASCII punctuation (incl. $ + < = > ^ ` | ~) or Unicode P*."""
    return (c.isascii() and not c.isalnum() and c.isprintable() and c != " ") or (
        category(c).startswith("P")
    )


class _CharMap(dict):
    """A ``str.translate`` table computed lazily: ``fn(char)`` the first time a char is seen.

    ``text.translate(table)`` then runs at C speed over characters it has met before.
    """

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def __missing__(self, code: int):
        self[code] = value = self.fn(chr(code))
        return value


class WordPieceTokenizer:
    """BERT WordPiece tokenizer; same ids and masks as ``tokenizers`` on the same tokenizer.json.

    vocab: token -> id. special_tokens: tokens matched verbatim in the raw text (``[MASK]``...).
    """

    def __init__(
        self,
        vocab: dict[str, int],
        *,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        clean_text: bool = True,
        handle_chinese_chars: bool = True,
        unk_token: str = "[UNK]",
        cls_token: str = "[CLS]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        special_tokens: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
        continuing_prefix: str = "##",
        max_input_chars_per_word: int = 100,
    ):
        self.vocab = dict(vocab)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        for token in (unk_token, cls_token, sep_token, pad_token, *special_tokens):
            if token not in self.vocab:
                raise InvalidValueError(f"tokenizer: special token {token!r} is not in the vocab")
        self.unk_id, self.cls_id = self.vocab[unk_token], self.vocab[cls_token]
        self.sep_id, self.pad_id = self.vocab[sep_token], self.vocab[pad_token]
        self.prefix = continuing_prefix
        self.max_chars = max_input_chars_per_word
        self.lowercase = lowercase
        # BertNormalizer: strip_accents None means "follow lowercase" (uncased models strip).
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self.clean_text, self.handle_chinese_chars = clean_text, handle_chinese_chars
        self.special_ids = {t: self.vocab[t] for t in special_tokens}
        # Longest first, so that a special token that contains another one wins.
        alternatives = sorted(special_tokens, key=len, reverse=True)
        self._special_re = re.compile("|".join(map(re.escape, alternatives)))
        self._clean = _CharMap(self._clean_char)  # steps of the normaliser, one table each
        self._fold = _CharMap(self._fold_char)
        self._split = _CharMap(self._split_char)
        self._words: dict[str, list[int]] = {}  # WordPiece cache: word -> ids

    @classmethod
    def from_file(cls, path) -> WordPieceTokenizer:
        """Read a Hugging Face ``tokenizer.json`` (BertNormalizer + WordPiece model)."""
        path = Path(path)
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
            model, norm = spec["model"], spec.get("normalizer") or {}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InferlabError(f"cannot read a tokenizer from {path}: {e}") from None
        if model.get("type") != "WordPiece" or norm.get("type", "BertNormalizer") != (
            "BertNormalizer"
        ):
            raise InvalidValueError(
                f"{path}: needs a WordPiece model with a BertNormalizer; got model "
                f"{model.get('type')!r}, normalizer {norm.get('type')!r}"
            )
        special = tuple(t["content"] for t in spec.get("added_tokens", []))
        return cls(
            model["vocab"],
            lowercase=norm.get("lowercase", True),
            strip_accents=norm.get("strip_accents"),
            clean_text=norm.get("clean_text", True),
            handle_chinese_chars=norm.get("handle_chinese_chars", True),
            unk_token=model.get("unk_token", "[UNK]"),
            special_tokens=special,
            continuing_prefix=model.get("continuing_subword_prefix", "##"),
            max_input_chars_per_word=model.get("max_input_chars_per_word", 100),
        )

    # -- 2. normalise ---------------------------------------------------------------------------
    def _clean_char(self, c: str) -> str:
        if self.clean_text:
            if c in "\x00\ufffd" or (c not in "\t\n\r" and category(c) in _OTHER):
                return ""  # control / format / unassigned characters are dropped
            if c in WHITESPACE:
                return " "
        if self.handle_chinese_chars and is_cjk(c):
            return f" {c} "
        return c

    def _fold_char(self, c: str) -> str:
        # Accents were split off by NFD before this runs; here they (category Mn) are dropped.
        if self.strip_accents and category(c) == "Mn":
            return ""
        # Char by char, like `tokenizers` (str.lower() would turn a final Σ into ς, not σ).
        return c.lower() if self.lowercase else c

    def normalize(self, text: str) -> str:
        """BertNormalizer: clean, space out CJK, strip accents, lowercase."""
        text = text.translate(self._clean)
        if self.strip_accents:
            text = unicodedata.normalize("NFD", text)
        return text.translate(self._fold) if (self.strip_accents or self.lowercase) else text

    # -- 3. pre-tokenise ------------------------------------------------------------------------
    def _split_char(self, c: str) -> str:
        if c in WHITESPACE:
            return " "
        return f" {c} " if is_punctuation(c) else c

    def pre_tokenize(self, text: str) -> list[str]:
        """Split a normalised text into words: on whitespace, and around each punctuation mark."""
        return [w for w in text.translate(self._split).split(" ") if w]

    # -- 4. WordPiece ---------------------------------------------------------------------------
    def _wordpiece(self, word: str) -> list[int]:
        """Greedy longest-match-first split of one word into vocabulary ids ([UNK] if none)."""
        if len(word) > self.max_chars:
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):  # the longest piece first
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    start = end
                    break
            else:  # no piece of the rest is in the vocabulary: the whole word is unknown
                return [self.unk_id]
        return ids

    def _word_ids(self, word: str) -> list[int]:
        ids = self._words.get(word)
        if ids is None:
            if len(self._words) > 200_000:  # bound the cache on endless streams of new words
                self._words.clear()
            ids = self._words[word] = self._wordpiece(word)
        return ids

    def encode_plain(self, text: str) -> list[int]:
        """Token ids of ``text`` without [CLS]/[SEP] and without truncation."""
        ids: list[int] = []
        start = 0
        for match in self._special_re.finditer(text) if self.special_ids else ():
            ids += self._encode_segment(text[start : match.start()])
            ids.append(self.special_ids[match.group()])
            start = match.end()
        ids += self._encode_segment(text[start:])
        return ids

    def _encode_segment(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in self.pre_tokenize(self.normalize(text)):
            ids += self._word_ids(word)
        return ids

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of ``text`` (no [CLS]/[SEP]), e.g. ["token", "##ization"]."""
        return self.convert_ids_to_tokens(self.encode_plain(_check_text(text, 0)))

    # -- 5. post-process ------------------------------------------------------------------------
    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """``[CLS] ids [SEP]`` of one text, the ids truncated so the total is <= max_length."""
        ids = self.encode_plain(_check_text(text, 0))
        if max_length is not None:
            ids = ids[: max(_check_max_length(max_length) - 2, 0)]
        return [self.cls_id, *ids, self.sep_id]

    def __call__(self, texts, max_length: int = 128, padding=True) -> dict[str, np.ndarray]:
        """Tokenise a batch -> dict of int64 (B, T) arrays: input_ids, attention_mask,
        token_type_ids (all 0: one segment).

        texts: a list of strings (a single string is a batch of one). max_length: truncate each
        sequence to at most this many tokens, [CLS] and [SEP] included (None: no truncation).
        padding: True / "longest" pads to the longest sequence of the batch, "max_length" to
        max_length, False requires every sequence to have the same length.
        """
        texts = _check_texts(texts)
        if padding not in (True, False, "longest", "max_length"):
            raise InvalidValueError(
                f"tokenizer needs padding True, False, 'longest' or 'max_length'; got {padding!r}"
            )
        if max_length is not None:
            max_length = _check_max_length(max_length)
        encoded = [self.encode(t, max_length) for t in texts]
        lengths = [len(ids) for ids in encoded]
        width = max(lengths)
        if padding == "max_length":
            if max_length is None:
                raise InvalidValueError("tokenizer: padding='max_length' needs a max_length")
            width = max_length
        elif padding is False and min(lengths) != width:
            raise InvalidValueError(
                f"tokenizer: sequences have lengths {min(lengths)} to {width}; "
                "pass padding=True to pad them to one length"
            )
        ids = np.full((len(texts), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, seq in enumerate(encoded):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    # -- the way back ---------------------------------------------------------------------------
    def convert_ids_to_tokens(self, ids) -> list[str]:
        """Ids -> token strings ([UNK] for an id outside the vocabulary)."""
        return [self.ids_to_tokens.get(int(i), self.ids_to_tokens[self.unk_id]) for i in ids]

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Ids -> readable text: pieces joined, "##" continuations glued to the word before.

        Lossy by design (lowercased, accents gone, spaces around punctuation normalised); the
        same text as ``tokenizers``' WordPiece decoder.
        """
        special = set(self.special_ids.values()) if skip_special_tokens else set()
        tokens = self.convert_ids_to_tokens(int(i) for i in ids if int(i) not in special)
        pieces = []
        for i, token in enumerate(tokens):
            if i and token.startswith(self.prefix):  # a continuation: glue it on
                token = token[len(self.prefix) :]
            elif i:
                token = " " + token
            for before, after in _CLEANUP:  # per token, as `tokenizers` does: " ," -> ","
                token = token.replace(before, after)
            pieces.append(token)
        return "".join(pieces)

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(vocab={len(self)}, lowercase={self.lowercase})"


# The WordPiece decoder's clean-up of `tokenizers`, applied to each " token" in turn (so only
# the first four can ever match: "hello , world" -> "hello, world", but "isn ' t" stays).
_CLEANUP = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" do not", " don't"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


def _check_text(text, index: int) -> str:
    if not isinstance(text, str):
        raise DTypeError(
            f"tokenizer needs strings; item {index} is {type(text).__name__} {text!r:.60}"
        )
    return text


def _check_texts(texts) -> list[str]:
    """A non-empty list of strings (a lone string is a batch of one)."""
    if isinstance(texts, str):
        return [texts]
    try:
        texts = list(texts)
    except TypeError:
        raise DTypeError(
            f"tokenizer needs a list of strings; got {type(texts).__name__} {texts!r:.60}"
        ) from None
    if not texts:
        raise InvalidValueError("tokenizer needs at least one text; got an empty list")
    return [_check_text(t, i) for i, t in enumerate(texts)]


def _check_max_length(max_length) -> int:
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise InvalidValueError(f"tokenizer needs max_length an int >= 2; got {max_length!r}")
    if max_length < 2:
        raise InvalidValueError(
            f"tokenizer needs max_length >= 2 (room for [CLS] and [SEP]); got {max_length}"
        )
    return int(max_length)
