"""The references inferlab is checked against: torch versions of the course's models, ONNX
export, onnxruntime sessions, sentence-transformers. Importing these needs torch / onnxruntime
(the ``ref`` extra); the engine itself (``inferlab.ops``, ``graph``, ``onnx``, ``models``) never
imports this package.
"""
