"""Quantization (chapter 05): affine int8/uint8/int4 mappings, calibration, integer kernels,
weight-only int4 and llama.cpp blocks, and post-training quantization of engine graphs.

(The lead fills in the re-exports once the modules land; import submodules directly meanwhile.)
"""
