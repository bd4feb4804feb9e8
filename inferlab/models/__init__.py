"""The course's models, run by inferlab's own NumPy code (chapter 02 onwards).

- ``mlp``, ``cnn``: small classifiers trained on the shipped 8×8 digits
  (``scripts/train_digits.py``);
- ``gpt``: a tiny character-level GPT trained on a public-domain text (``scripts/train_gpt.py``),
  with ``kvcache``: the keys and values it keeps per sequence so decoding is incremental
  (chapter 08);
- ``minilm``: the real pretrained all-MiniLM-L6-v2 sentence encoder, with its WordPiece tokenizer.

Weights load without pickle (``np.load(allow_pickle=False)``, safetensors). torch is not needed
here: the torch versions of the same models live in :mod:`inferlab.reference`.
"""
