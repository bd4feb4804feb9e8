"""Weight-only int4 in MatMulNBits layout: ORT's quantizer byte for byte; its kernel reads it."""

from __future__ import annotations

import copy

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.capi._pybind_state import quantize_matmul_4bits

from inferlab.errors import DTypeError, InvalidValueError, ShapeError
from inferlab.quant.blockwise import (
    BLOCK_SIZES,
    bits_per_weight,
    dequantize_4bits,
    matmul_4bits,
    pack_nibbles,
    quantize_4bits,
    unpack_nibbles,
)


def ort_quantize(w: np.ndarray, block_size: int, symmetric: bool):
    """Call ORT's C++ quantizer exactly as matmul_nbits_quantizer.qbits_block_quant does."""
    K, N = w.shape
    kb = -(-K // block_size)
    padded = np.pad(w, ((0, kb * block_size - K), (0, 0)))
    packed = np.zeros((N, kb, block_size // 2), np.uint8)
    zero_points = np.zeros((N, (kb + 1) // 2), np.uint8)
    scales = np.zeros((N, kb), np.float32)
    quantize_matmul_4bits(packed, padded, scales, zero_points, block_size, N, K, symmetric)
    return packed, scales, zero_points


def assert_same_as_ort(w, block_size, symmetric):
    packed, scales, zp = quantize_4bits(w, block_size, symmetric)
    o_packed, o_scales, o_zp = ort_quantize(w, block_size, symmetric)
    where = f"K, N = {w.shape}, block_size {block_size}, symmetric={symmetric}"
    # compare scales as bits: -0.0 vs 0.0 or a 1-ulp difference must fail too
    np.testing.assert_array_equal(
        scales.view(np.uint32), o_scales.view(np.uint32), err_msg=f"scales differ ({where})"
    )
    np.testing.assert_array_equal(packed, o_packed, err_msg=f"packed codes differ ({where})")
    if symmetric:
        assert zp is None, "symmetric MatMulNBits has no zero-point input (implicit 8)"
    else:
        np.testing.assert_array_equal(zp, o_zp, err_msg=f"packed zero points differ ({where})")


SHAPES = [(256, 64), (100, 7), (17, 9), (33, 5), (129, 2), (300, 11), (1, 4)]


@pytest.mark.parametrize("symmetric", [False, True], ids=["affine", "symmetric"])
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"K{s[0]}xN{s[1]}")
def test_bytes_equal_ort_quantize_matmul_4bits(shape, block_size, symmetric):
    rng = np.random.default_rng(shape[0] * 1000 + block_size)
    w = rng.standard_normal(shape).astype(np.float32)
    for case in (w, 50 * w, 1e-3 * w, np.abs(w), -np.abs(w)):
        assert_same_as_ort(case, block_size, symmetric)
    zero_half = w.copy()
    zero_half[: shape[0] // 2] = 0  # all-zero blocks: scale 0 (or -0.0), no division by zero
    assert_same_as_ort(zero_half, block_size, symmetric)


def test_ties_round_half_away_from_zero_not_to_even():
    # Affine block with min -6.5, max 8.5 -> scale exactly 1, zp = roundf(6.5) = 7 (rint: 6);
    # every other value sits on a .5 tie after adding zp.
    block = np.concatenate([[-6.5, 8.5], np.arange(-6.0, 8.0, 0.5)])[:32].astype(np.float32)
    w = np.stack([block, block / 4], axis=1)  # (32, 2); column 1: scale 0.25
    assert_same_as_ort(w, 32, symmetric=False)
    packed, scales, zp = quantize_4bits(w, 32)
    assert scales[0, 0] == 1.0 and unpack_nibbles(zp, 1)[0, 0] == 7, "zp must be roundf(6.5)=7"
    q = unpack_nibbles(packed[0, 0], 32).astype(int)
    # v = -2.5: -2.5 + 7 = 4.5 -> 5 (away from zero); NumPy's rint would give 4
    assert q[np.flatnonzero(block == -2.5)[0]] == 5
    assert not np.array_equal(q, np.clip(np.rint(block + 7), 0, 15)), "the test has no ties left"

    # Symmetric: largest magnitude -8 -> scale 1; -1.5 + 8 = 6.5 -> 7 (rint: 6)
    sym = np.concatenate([[-8.0], np.arange(-7.5, 8.0, 0.5)])[:32].astype(np.float32)
    assert_same_as_ort(sym[:, None], 32, symmetric=True)
    q = unpack_nibbles(quantize_4bits(sym[:, None], 32, True)[0][0, 0], 32)
    assert q[np.flatnonzero(sym == -1.5)[0]] == 7


def test_symmetric_scale_is_signed_and_a_tie_picks_the_negative_end():
    w = np.zeros((32, 3), np.float32)
    w[:4, 0] = [1.0, -2.0, 2.0, 0.5]  # |max| == |min| == 2: range2scale keeps min = -2
    w[:2, 1] = [3.0, -1.0]  # positive end larger: scale = 3 / -8 < 0
    w[:2, 2] = [-4.0, 1.0]
    packed, scales, _ = quantize_4bits(w, 32, symmetric=True)
    np.testing.assert_array_equal(scales[:, 0], [0.25, -0.375, 0.5])
    assert_same_as_ort(w, 32, symmetric=True)
    # the kept end is exactly code 0; its mirror image would need 16 and saturates at 15 = +7
    w_hat = dequantize_4bits(packed, scales, None, 32, 32)
    assert w_hat[1, 0] == -2.0 and w_hat[2, 0] == 1.75, "+2 clips to 7 * 0.25 in symmetric int4"


def test_odd_K_padding_nibble_and_odd_block_count_zero_point():
    rng = np.random.default_rng(1)
    # K = 33, block 16: three blocks, so two zp bytes and the last one's high nibble is unused;
    # ORT leaves it at its default 8. Rows 33..47 are padding: zero bytes.
    w = rng.standard_normal((33, 3)).astype(np.float32)
    packed, scales, zp = quantize_4bits(w, 16)
    assert packed.shape == (3, 3, 8) and scales.shape == (3, 3) and zp.shape == (3, 2)
    assert (zp[:, 1] >> 4 == 8).all(), "the unused high zero-point nibble is ORT's default 8"
    assert (packed[:, 2, 1:] == 0).all() and (packed[:, 2, 0] >> 4 == 0).all()
    assert_same_as_ort(w, 16, symmetric=False)
    # K = 17: row 16's byte also holds pad row 17, which ORT leaves holding a stale code (row
    # 15's, left in its pack buffer). quantize_4bits copies the quirk to stay byte-equal.
    w = rng.standard_normal((17, 3)).astype(np.float32)
    packed, scales, zp = quantize_4bits(w, 16)
    codes = unpack_nibbles(packed.reshape(3, -1), 32)
    np.testing.assert_array_equal(codes[:, 17], codes[:, 15])
    assert_same_as_ort(w, 16, symmetric=False)
    # ... and none of it reaches the numbers: dequantize drops the padding rows
    w_hat = dequantize_4bits(packed, scales, zp, 17, 16)
    assert w_hat.shape == (17, 3) and np.abs(w - w_hat).max() <= np.abs(scales).max() / 2 * 1.001


def test_same_initializers_as_matmul_nbits_quantizer_on_a_model():
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    K, N = 100, 24
    w = np.random.default_rng(2).standard_normal((K, N)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, N])],
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for symmetric in (False, True):
        quantizer = MatMulNBitsQuantizer(
            copy.deepcopy(model), block_size=32, is_symmetric=symmetric
        )
        quantizer.process()
        out = quantizer.model.model
        (node,) = out.graph.node
        assert node.op_type == "MatMulNBits" and node.domain == "com.microsoft"
        inits = {t.name: numpy_helper.to_array(t) for t in out.graph.initializer}
        packed, scales, zp = quantize_4bits(w, 32, symmetric)
        np.testing.assert_array_equal(inits["W_Q4"], packed)
        np.testing.assert_array_equal(inits["W_scales"], scales)
        if symmetric:
            assert "W_zero_points" not in inits and len(node.input) == 3
        else:
            np.testing.assert_array_equal(inits["W_zero_points"], zp)


def run_matmul_nbits(x, packed, scales, zp, K, N, block_size):
    inits = [numpy_helper.from_array(packed, "B"), numpy_helper.from_array(scales, "scales")]
    inputs = ["x", "B", "scales"]
    if zp is not None:
        inits.append(numpy_helper.from_array(zp, "zero_points"))
        inputs.append("zero_points")
    node = helper.make_node(
        "MatMulNBits",
        inputs,
        ["y"],
        domain="com.microsoft",
        K=K,
        N=N,
        bits=4,
        block_size=block_size,
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, N])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    )
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize(
    "K, N, block_size, symmetric",
    [(256, 64, 32, False), (100, 7, 16, True), (129, 5, 128, False), (33, 3, 32, True),
     (300, 11, 64, False), (512, 16, 256, True)],
)  # fmt: skip
def test_matmul_nbits_kernel_reads_our_layout(K, N, block_size, symmetric):
    rng = np.random.default_rng(K + N)
    w = rng.standard_normal((K, N)).astype(np.float32)
    x = rng.standard_normal((5, K)).astype(np.float32)
    packed, scales, zp = quantize_4bits(w, block_size, symmetric)
    y = run_matmul_nbits(x, packed, scales, zp, K, N, block_size)
    ours = matmul_4bits(x, packed, scales, zp, K, block_size)
    np.testing.assert_array_equal(ours, x @ dequantize_4bits(packed, scales, zp, K, block_size))
    atol = 1e-5 * np.abs(ours).max()
    np.testing.assert_allclose(y, ours, rtol=1e-5, atol=atol, err_msg="MatMulNBits != x @ w_hat")
    # the check has teeth: the same bytes read with neighbours swapped give another product
    swapped = (packed >> 4) | (packed << 4)
    assert not np.allclose(run_matmul_nbits(x, swapped, scales, zp, K, N, block_size), ours)


def test_dequantize_error_is_at_most_half_a_step():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((256, 32)).astype(np.float32)
    for symmetric in (False, True):
        packed, scales, zp = quantize_4bits(w, 64, symmetric)
        w_hat = dequantize_4bits(packed, scales, zp, 256, 64)
        step = np.repeat(np.abs(scales).T, 64, axis=0)  # (K, N): each element's block step
        err = np.abs(w - w_hat)
        # affine: rounding only (<= step/2); symmetric: the block's mirror extreme clips by 1 step
        bound = step * (1.0 if symmetric else 0.5) * (1 + 1e-5)
        assert (err <= bound).all(), f"symmetric={symmetric}: max err/step {(err / step).max()}"


def test_smaller_blocks_give_smaller_error():
    # A realistic weight: heavy-tailed values (Student-t, df=4) and input channels whose scale
    # varies (log-normal), as in a trained linear layer. K = 256, so block 256 == per-column.
    rng = np.random.default_rng(4)
    K, N = 256, 256
    w = (rng.standard_t(4, (K, N)) * np.exp(rng.normal(0, 0.5, (K, 1))) * 0.02).astype(np.float32)

    def rel_err(block_size):
        packed, scales, zp = quantize_4bits(w, block_size)
        w_hat = dequantize_4bits(packed, scales, zp, K, block_size)
        return float(np.linalg.norm(w - w_hat) / np.linalg.norm(w))

    errs = {bs: rel_err(bs) for bs in (32, 64, 128, 256)}
    assert errs[32] < errs[64] < errs[128] < errs[256], errs
    assert errs[256] > 1.3 * errs[32], f"per-column should be clearly worse than g32: {errs}"


def test_pack_nibbles_low_nibble_is_even_index():
    np.testing.assert_array_equal(pack_nibbles(np.array([1, 2, 3])), [0x21, 0x03])
    q = np.random.default_rng(5).integers(0, 16, (3, 4, 9))
    np.testing.assert_array_equal(unpack_nibbles(pack_nibbles(q), 9), q)


def test_bits_per_weight():
    assert bits_per_weight(32) == 4 + 32 / 32 + 4 / 32  # 5.125
    assert bits_per_weight(128, symmetric=True) == 4.25
    packed, scales, zp = quantize_4bits(np.ones((1024, 8), np.float32), 128)
    assert packed.nbytes + scales.nbytes + zp.nbytes == 1024 * 8 * bits_per_weight(128) / 8


W = np.ones((64, 4), np.float32)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: quantize_4bits(W, block_size=48), InvalidValueError, "power of two"),
        (lambda: quantize_4bits(W, block_size=8), InvalidValueError, "got 8"),
        (lambda: quantize_4bits(W[0]), ShapeError, "(K, N)"),
        (lambda: quantize_4bits(np.ones((2, 3, 4), np.float32)), ShapeError, "got (2, 3, 4)"),
        (lambda: quantize_4bits(np.where(W > 0, np.nan, W)), InvalidValueError, "NaN/Inf"),
        (lambda: quantize_4bits(np.full((64, 4), np.inf, np.float32)), InvalidValueError, "NaN"),
        (lambda: quantize_4bits(W.astype(np.int32)), DTypeError, "floating-point"),
        (lambda: dequantize_4bits(*quantize_4bits(W, 32), K=100, block_size=32), InvalidValueError,
         "33 <= K <= 64"),
        (lambda: dequantize_4bits(*quantize_4bits(W, 32), K=64, block_size=64), ShapeError,
         "(N, k_blocks, 32)"),
        (lambda: dequantize_4bits(quantize_4bits(W, 32)[0], np.ones((4, 3), np.float32), None,
                                  64, 32), ShapeError, "(4, 2)"),
        (lambda: dequantize_4bits(*quantize_4bits(W, 32)[:2], np.zeros((4, 2), np.uint8), 64, 32),
         ShapeError, "(4, 1)"),
        (lambda: matmul_4bits(np.ones((2, 63), np.float32), *quantize_4bits(W, 32), 64, 32),
         ShapeError, "K=64"),
        (lambda: pack_nibbles(np.array([3, 16])), InvalidValueError, "[0, 15]"),
        (lambda: pack_nibbles(np.array([0.5])), DTypeError, "integer"),
        (lambda: unpack_nibbles(np.array([1, 2], np.uint8), 5), InvalidValueError, "[0, 4]"),
        (lambda: bits_per_weight(100), InvalidValueError, "power of two"),
    ],
)  # fmt: skip
def test_bad_input_says_what_was_expected(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value), str(info.value)
