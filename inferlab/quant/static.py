"""Static post-training quantization of an engine graph in QDQ format, as onnxruntime's
``quantize_static`` does it: calibration runs, then Q/DQ pairs placed per operator (see
:mod:`inferlab.quant.ptq` for the rules)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from inferlab.errors import DTypeError, InferlabError, InvalidValueError, describe
from inferlab.graph.executor import Executor
from inferlab.graph.ir import Graph, GraphError, Node, Value
from inferlab.quant._graph_edit import (
    _FLOATS,
    _FOLDED,
    _SAME_AS_INPUT,
    _SYMMETRIC_WEIGHTS,
    STATIC_OP_TYPES,
    _check_choice,
    _check_graph,
    _check_op_types,
    _dq,
    _drop_unused,
    _dtypes,
    _largest_suffix,
    _rename,
    _topo,
    _weight_qparams,
)
from inferlab.quant.affine import quantize
from inferlab.quant.calibrate import METHODS, calibrate
from inferlab.quant.params import QParams, qparams


# ---- calibration --------------------------------------------------------------------------
def _batches(graph: Graph, calibration_inputs, op: str) -> list[dict]:
    """The calibration feeds as a list of {input name: array}, every graph input present."""
    if isinstance(calibration_inputs, Mapping):
        calibration_inputs = [calibration_inputs]
    try:  # (not list(): ORT's CalibrationDataReader.__len__ raises NotImplementedError)
        batches = [feed for feed in calibration_inputs]  # noqa: C416
    except TypeError:
        raise InvalidValueError(
            f"{op} needs calibration_inputs as an iterable of {{input name: array}} dicts (or "
            f"an ORT CalibrationDataReader); got {describe(calibration_inputs)}"
        ) from None
    names = [v.name for v in graph.inputs]
    if not batches:
        raise InvalidValueError(
            f"{op} needs at least one calibration batch feeding {names}; got an empty iterable"
        )
    for i, feed in enumerate(batches):
        if not isinstance(feed, Mapping):
            raise InvalidValueError(
                f"{op}: calibration batch {i} must be a dict {{input name: array}} for the "
                f"inputs {names}; got {describe(feed)}"
            )
        missing = [k for k in names if k not in feed]
        unknown = [k for k in feed if k not in names]
        if missing or unknown:
            raise InvalidValueError(
                f"{op}: calibration batch {i} must feed the graph inputs {names}; got keys "
                f"{list(feed)} (missing {missing}, unknown {unknown})"
            )
    return [{k: np.asarray(feed[k]) for k in names} for feed in batches]


def _runner(graph: Graph, names: list[str], runner) -> Callable[[dict], dict]:
    """feeds -> {name: array} for ``names`` (graph inputs are passed through)."""
    inputs = {v.name for v in graph.inputs}
    wanted = [n for n in names if n not in inputs]
    if runner in ("engine", "onnxruntime") and not wanted:  # only graph inputs: nothing to run
        return dict
    if callable(runner):
        return lambda feeds: {**feeds, **runner(feeds, wanted)}
    if runner == "engine":
        g = graph.copy()
        g.outputs = [Value(n) for n in wanted]
        ex = Executor(g)
        return lambda feeds: {**feeds, **ex.run(feeds)}
    if runner == "onnxruntime":
        import onnx
        import onnxruntime as ort

        from inferlab.onnx.writer import to_model

        model = to_model(graph)
        del model.graph.output[:]
        model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in wanted)
        options = ort.SessionOptions()  # calibrate.py create_inference_session: no fusions
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        return lambda feeds: {**feeds, **dict(zip(wanted, sess.run(wanted, feeds), strict=True))}
    raise InvalidValueError(
        f"runner must be 'engine', 'onnxruntime' or a function (feeds, names) -> dict; got "
        f"{runner!r}"
    )


def _candidates(graph: Graph, op_types, dtypes) -> list[str]:
    """calibrate.py select_tensors_to_calibrate: the float, non-constant inputs and outputs
    of every node whose op is quantized."""
    out = {}
    for n in graph.nodes:
        if n.op in op_types:
            for name in n.inputs + n.outputs:
                if name and name not in graph.initializers and dtypes.get(name) in _FLOATS:
                    out[name] = None
    return list(out)


def tensor_ranges(
    graph: Graph,
    calibration_inputs,
    names: list[str],
    *,
    method: str = "minmax",
    runner="engine",
    **options,
) -> dict[str, tuple[np.float32, np.float32]]:
    """Calibrate the tensors ``names``: run ``graph`` on each batch and give each tensor's
    values to a ``method`` calibrator (:func:`inferlab.quant.calibrate.calibrate`: histogram
    methods see all batches at once, as in ORT). Returns name -> (rmin, rmax) float32.

    runner: "engine" (inferlab's Executor), "onnxruntime" (ORT_DISABLE_ALL session, the
    activations ORT's own calibration sees) or a function ``(feeds, names) -> {name: array}``.
    """
    op = "tensor_ranges"
    _check_choice(method, tuple(METHODS), "method", op)
    batches = _batches(graph, calibration_inputs, op)
    run = _runner(graph, list(names), runner)
    values: dict[str, list] = {n: [] for n in names}
    for feeds in batches:
        result = run(feeds)
        for n in names:
            values[n].append(result[n])
    ranges = {}
    for n in names:
        try:
            ranges[n] = calibrate(values[n], method, **options)
        except InferlabError as e:  # e.g. -inf in an attention mask: say which tensor
            raise type(e)(f"calibrating tensor '{n}': {e}") from None
    return ranges


# ---- static QDQ ---------------------------------------------------------------------------
class _QDQ:
    """qdq_quantizer.QDQQuantizer on an engine graph (state and passes under ORT's names)."""

    def __init__(self, graph, ranges, dtypes, op_types, exclude, per_channel, reduce_range, dts):
        self.g, self.nodes, self.inits = graph, graph.nodes, graph.initializers
        self.dtypes, self.op_types, self.exclude = dtypes, op_types, exclude
        self.per_channel, self.reduce_range = per_channel, reduce_range
        self.adt, self.wdt = dts  # activation and weight dtypes
        self.inputs = {v.name for v in graph.inputs}
        self.outputs = {v.name for v in graph.outputs}
        self.to_quantize: dict[str, tuple] = {}  # name -> (is_weight, provider, axis)
        self.bias: dict[str, tuple] = {}  # name -> (node name, input, weight, beta)
        self.removed: list[Node] = []
        self.qvalue: dict[str, tuple] = {}  # quantized_value_map: name -> (scale, zp) names
        self.act_qp = self._activation_qparams(dict(ranges))

    def _readers(self, name: str) -> int:
        return sum(i == name for n in self.nodes for i in n.inputs)

    def _quantized(self, n: Node) -> bool:  # should_quantize_node
        return n.op in self.op_types and n.name not in self.exclude

    def _activation_qparams(self, ranges) -> dict:
        # base_quantizer.adjust_tensor_ranges: a folded Relu/Clip's input takes its output's
        # range (when it has no other reader); Softmax outputs are [0, 1].
        for n in self.nodes:
            if n.op in _FOLDED and self._quantized(n) and self._readers(n.inputs[0]) == 1:
                if n.inputs[0] in ranges and n.outputs[0] in ranges:
                    ranges[n.inputs[0]] = ranges[n.outputs[0]]
            elif n.op == "Softmax" and self._quantized(n):
                ranges[n.outputs[0]] = (np.float32(0), np.float32(1))
        # calc_quant_params: asymmetric, full range (activations never reduce_range).
        return {t: qparams(lo, hi, self.adt, convention="ort") for t, (lo, hi) in ranges.items()}

    # -- marking (operators/*.py QDQ* classes) --
    def _float(self, name) -> bool:  # _is_tensor_quantizable
        dtype = self.inits[name].dtype if name in self.inits else self.dtypes.get(name)
        return dtype in _FLOATS

    def act(self, name, provider=None):
        if not self._float(name):
            return
        if provider is not None:  # quantize_output_same_as_input overwrites any earlier entry
            self.to_quantize[name] = (False, provider, None)
        elif name not in self.to_quantize:
            self.to_quantize[name] = (False, None, None)

    def weight(self, name, default_axis):
        w = self.inits.get(name)
        if w is None or not self._float(name):
            return
        if self.per_channel and -w.ndim <= default_axis < w.ndim:  # is_tensor_per_channel
            self.to_quantize[name] = (True, None, default_axis % w.ndim)
        elif name not in self.to_quantize:
            self.to_quantize[name] = (True, None, None)

    def bias_of(self, node, name, beta=1.0):  # quantize_bias_tensor
        if name not in self.inits or not self._float(name):
            return
        if name in self.bias:  # one bias, two nodes: each gets its own copy (_dup_initializer)
            new = f"{name}{_largest_suffix(self.inits, name) + 1}"
            self.inits[new] = self.inits[name]
            _rename([node], name, new, outputs=False)
            name = new
        self.bias[name] = (node.name, node.inputs[0], node.inputs[1], float(beta))

    def try_fold(self, upstream, output) -> bool:  # try_replacing_upstream_output
        if (
            output in self.act_qp
            and self._readers(upstream) == 1
            and upstream not in self.outputs
            and upstream not in self.inputs
        ):
            _rename(self.nodes, upstream, output, outputs=True)
            self.to_quantize.pop(upstream, None)
            return True
        return False

    def mark(self, n: Node):
        x, out = n.inputs[0], n.outputs[0]
        if n.op in ("Conv", "Gemm"):  # conv.py QDQConv, gemm.py QDQGemm
            self.act(x)
            self.act(out)
            trans_b = int(n.attrs.get("transB", 0)) == 1
            self.weight(n.inputs[1], 0 if n.op == "Conv" or trans_b else 1)
            if len(n.inputs) == 3 and n.inputs[2] in self.inits:
                self.bias_of(n, n.inputs[2], n.attrs.get("beta", 1.0) if n.op == "Gemm" else 1.0)
                if "beta" in n.attrs:  # gemm.py set_default_beta: beta now lives in the scale
                    n.attrs["beta"] = 1.0
        elif n.op == "MatMul":  # matmul.py QDQMatMul
            for name in n.inputs + n.outputs:
                if name in self.inits:
                    self.weight(name, 1)
                else:
                    self.act(name)
        elif n.op in _FOLDED:  # activation.py QDQRemovableActivation
            if x not in self.to_quantize and x not in self.bias:
                return
            if self.try_fold(x, out):
                self.removed.append(n)
            else:
                self.act(x)
            self.act(out)
        elif n.op in _SAME_AS_INPUT:  # direct_q8.py QDQDirect8BitOp, maxpool.py
            if (x in self.to_quantize or x in self.bias) and not (
                n.op == "MaxPool" and (self.g.opset or 99) < 12
            ):
                self.act(out, provider=x)
        else:  # qdq_base_operator.py QDQOperatorBase: everything in and out
            for name in n.inputs + n.outputs:
                self.act(name)

    # -- inserting Q/DQ (QDQQuantizer.quantize_model's passes) --
    def weight_qparams(self) -> dict:  # _calc_initializer_quant_params
        out = {}
        for name, (is_weight, _, axis) in self.to_quantize.items():
            if name in self.inits:
                dtype = self.wdt if is_weight else self.adt
                symmetric = axis is not None or (is_weight and dtype in _SYMMETRIC_WEIGHTS)
                out[name] = _weight_qparams(
                    self.inits[name],
                    dtype,
                    symmetric=symmetric,
                    reduce_range=self.reduce_range,
                    axis=axis,
                )
        return out

    def adjust_for_bias(self, wqp: dict) -> None:
        """_adjust_weight_quant_params_for_bias_tensors: if s_x * s_w is too small for the
        bias to fit int32, grow the weight's scale (only symmetric int8 weights)."""
        qrange = np.float64(np.iinfo(np.int32).max) - np.float64(np.iinfo(np.int32).min + 1)
        for bias, (_, x, w, _) in self.bias.items():
            if x not in self.act_qp or x not in self.to_quantize or w not in wqp:
                continue
            qp = wqp[w]
            if qp.dtype not in ("int8", "int16") or qp.zero_point.any():
                continue
            b, sx = self.inits[bias], np.float64(self.act_qp[x].scale)
            # The bias's own smallest valid scale, 2 |b| / (2**32 - 2) (+0.01 %): per tensor
            # in float64; per channel ORT takes |b[i]| in float32, so 1.0001 * (2 * |b|) is
            # float32 arithmetic until the division.
            if qp.axis is None:
                amax = max(abs(min(np.float64(b.min()), 0.0)), abs(max(np.float64(b.max()), 0.0)))
                need = np.array([1.0001 * (2.0 * amax) / qrange])
            else:
                need = 1.0001 * (2.0 * np.abs(b.reshape(-1))) / qrange
            s = qp.scale.reshape(-1).astype(np.float64)
            small = (sx * s < need) & (sx * s > 0)
            if small.any():
                scale = np.where(small, s * (need / (sx * s)), s).astype(np.float32)
                wqp[w] = QParams(
                    scale.reshape(qp.scale.shape),
                    qp.zero_point,
                    qp.dtype,
                    qp.axis,
                    None,
                    qp.qmin,
                    qp.qmax,
                    "ort",
                )

    def add_weight(self, name, qp: QParams):  # _add_qdq_nodes_for_initializer
        q, s, zp = name + "_quantized", name + "_scale", name + "_zero_point"
        self.inits[q] = quantize(self.inits[name], qp)
        self.inits[s], self.inits[zp] = qp.scale, qp.zero_point
        out = name + "_DequantizeLinear_Output"
        _rename(self.nodes, name, out, outputs=False)
        self.nodes.append(_dq([q, s, zp], out, name, qp.axis))
        self.qvalue[name] = (s, zp)

    def add_pair(self, name, s, zp):  # _add_qdq_pair_for_activation
        q_in, q_out, dq_out = (
            name,
            f"{name}_QuantizeLinear_Output",
            f"{name}_DequantizeLinear_Output",
        )
        if name in self.outputs:  # the graph output keeps its name: it is now DQ's output
            q_in, dq_out = name + "_QuantizeLinear_Input", name
            _rename(self.nodes, name, q_in, outputs=True)
        else:
            _rename(self.nodes, name, dq_out, outputs=False)
        self.nodes.append(
            Node("QuantizeLinear", [q_in, s, zp], [q_out], {}, f"{name}_QuantizeLinear")
        )
        self.nodes.append(_dq([q_out, s, zp], dq_out, name))
        self.qvalue[name] = (s, zp)

    def add_bias(self, name, x, w, beta):  # quantize_bias_static(_impl), _quantize_bias_tensors
        sx = self.inits[self.qvalue[x][0]]
        sw = self.inits[self.qvalue[w][0]]
        scale = sx * sw * beta  # float32
        b = self.inits.pop(name)
        if beta == 0:  # base_quantizer.quantize_bias_static_impl: the bias is unused
            scale = sx * sw
            b = np.zeros_like(b)
        q = np.asarray(b, np.float64) / np.asarray(scale, np.float64)
        lo, hi = np.float64(np.iinfo(np.int32).min), np.float64(np.iinfo(np.int32).max)
        q = np.clip(q.round(), lo, hi).astype(np.int32).reshape(b.shape)  # half to even
        qn, sn, zn = name + "_quantized", name + "_quantized_scale", name + "_quantized_zero_point"
        self.inits[qn] = q
        self.inits[sn] = np.asarray(scale, b.dtype).reshape(-1)  # (1,) even per tensor, as ORT
        self.inits[zn] = np.zeros(np.shape(scale), np.int32)  # () per tensor, (C,) per channel
        self.nodes.append(_dq([qn, sn, zn], name, name, 0 if scale.size > 1 else None))

    def run(self) -> None:
        for n in list(self.nodes):  # QDQQuantizer.quantize_model
            if self._quantized(n):
                self.mark(n)
        wqp = self.weight_qparams()
        self.adjust_for_bias(wqp)
        for name, (_, provider, _) in list(self.to_quantize.items()):  # _quantize_normal_tensors
            if name in self.qvalue or provider is not None:
                continue
            if name in self.inits:
                self.add_weight(name, wqp[name])
            else:
                if name not in self.act_qp:
                    raise GraphError(f"tensor '{name}' must be quantized but was not calibrated")
                qp, s, zp = self.act_qp[name], name + "_scale", name + "_zero_point"
                self.inits[s], self.inits[zp] = qp.scale, qp.zero_point
                self.add_pair(name, s, zp)
            del self.to_quantize[name]
        while self.to_quantize:  # _quantize_sharing_param_tensors
            done = 0
            for t, (_, p, _) in list(self.to_quantize.items()):
                if p in self.qvalue:
                    del self.to_quantize[t]
                    self.add_pair(t, *self.qvalue[p])
                    done += 1
            if not done:  # (ORT would loop forever here)
                raise GraphError(f"tensors {list(self.to_quantize)} share an unquantized input")
        for name, (_, x, w, beta) in self.bias.items():
            self.add_bias(name, x, w, beta)
        for n in self.removed:
            self.nodes.remove(n)


def quantize_static(
    graph: Graph,
    calibration_inputs,
    *,
    method: str = "minmax",
    per_channel: bool = False,
    op_types=STATIC_OP_TYPES,
    activation_dtype: str = "uint8",
    weight_dtype: str = "int8",
    reduce_range: bool = False,
    runner="engine",
    calibrator_options: dict | None = None,
    nodes_to_exclude: Iterable[str] = (),
) -> Graph:
    """A QDQ copy of ``graph``: ORT's ``quantize_static(quant_format=QDQ,
    activation_type=QUInt8, weight_type=QInt8, calibrate_method=...)`` (see module doc).

    calibration_inputs: an iterable of ``{input name: array}`` feeds (or one dict; an ORT
    CalibrationDataReader works too). method: "minmax", "percentile" (99.999 %, symmetric,
    2048 bins), "entropy" (128 bins), which are ORT's CalibrationMethod defaults, or ours,
    "moving_average" and "mse" (``calibrator_options`` override the calibrator's arguments).
    per_channel: weight scales per output channel (Conv/Gemm axis 0, MatMul axis 1).
    op_types: which operators to quantize; ORT's default (all it knows) equals
    STATIC_OP_TYPES on models made of these operators only. runner: see :func:`tensor_ranges`.
    """
    op = "quantize_static"
    _check_graph(graph, op)
    _check_choice(method, tuple(METHODS), "method", op)
    op_types = _check_op_types(op_types, STATIC_OP_TYPES, op)
    _check_choice(activation_dtype, ("uint8", "int8"), "activation_dtype", op)
    _check_choice(weight_dtype, ("int8", "uint8"), "weight_dtype", op)
    if activation_dtype == "int8" and weight_dtype == "uint8":  # check_static_quant_arguments
        raise DTypeError(f"{op}: ORT has no int8 activations with uint8 weights; use int8 weights")
    options = dict(calibrator_options or {})
    if method == "mse":
        options.setdefault("dtype", activation_dtype)
    dtypes = _dtypes(graph)
    names = _candidates(graph, op_types, dtypes)
    ranges = tensor_ranges(
        graph, calibration_inputs, names, method=method, runner=runner, **options
    )
    g = graph.copy()  # copies the nodes (the passes edit them), shares the arrays
    exclude = set(nodes_to_exclude)
    dts = (activation_dtype, weight_dtype)
    _QDQ(g, ranges, dtypes, op_types, exclude, per_channel, reduce_range, dts).run()
    _drop_unused(g)
    return _topo(g)
