"""Fusion patterns: find a chain of nodes that one kernel can run, replace it by that node.

Each ``fuse_*`` function walks a :class:`Rewriter` (a working copy of the graph with
producer/consumer lookups). A chain is fused only when every intermediate value has exactly
one reader and is not a graph output, so nothing else can notice it is gone. The fused node
writes the chain's last output name, so readers further on need no change.

- ``fuse_conv``: Conv + BatchNormalization (folded into the weights) [+ Relu/...] -> FusedConv
- ``fuse_gelu``: the erf formula of GELU (5 nodes, either order of the * 0.5) -> Gelu
- ``fuse_matmul``: MatMul/Gemm [+ bias Add] [+ activation] [+ residual Add] -> FusedMatMul
- ``fuse_attention``: MatMul(q, k^T) [* or / scale] [+ mask or Where(mask)] -> Softmax ->
  MatMul(., v) -> FusedAttention, which never holds the whole (B, H, T, T) score tensor
"""

from __future__ import annotations

import numpy as np

from inferlab.graph.ir import Graph, Node

_ACTIVATIONS = {"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}


class Rewriter:
    """Producer/consumer lookups over a working copy, and node replacement by position."""

    def __init__(self, graph: Graph):
        self.g = graph.copy()
        self.producers = self.g.producers()
        self.consumers = self.g.consumer_map()
        self.outputs = {v.name for v in self.g.outputs}
        self.removed: set[int] = set()

    def only_reader(self, value: str) -> Node | None:
        """The single node reading ``value`` (None if 0 or several readers, or a graph output)."""
        readers = self.consumers.get(value, [])
        if len(readers) != 1 or value in self.outputs or id(readers[0]) in self.removed:
            return None
        return readers[0]

    def const(self, name: str):
        """The value of an initializer or of a Constant node's output, else None."""
        if name in self.g.initializers:
            return self.g.initializers[name]
        node = self.producers.get(name)
        if node is not None and node.op == "Constant" and "value" in node.attrs:
            return np.asarray(node.attrs["value"])
        return None

    def replace(self, chain: list[Node], fused: Node) -> None:
        """Remove ``chain`` and put ``fused`` (writing the last node's outputs) in its place."""
        ids = {id(n) for n in chain}
        i = next(k for k, n in enumerate(self.g.nodes) if n is chain[-1])
        self.g.nodes[i] = fused
        self.removed |= ids
        for name in fused.outputs:
            self.producers[name] = fused
        for name in dict.fromkeys(fused.inputs):
            readers = [c for c in self.consumers.get(name, []) if id(c) not in ids]
            self.consumers[name] = readers + [fused]

    def graph(self) -> Graph:
        self.g.nodes = [n for n in self.g.nodes if id(n) not in self.removed]
        return self.g


def _scalar(array, value: float, tol: float = 1e-4) -> bool:
    return array is not None and array.size == 1 and abs(float(array.reshape(-1)[0]) - value) < tol


def _other(node: Node, name: str) -> str:
    a, b = node.inputs
    return b if a == name else a


def fuse_gelu(rw: Rewriter, shapes: dict) -> None:
    """x / sqrt(2) (or x * 0.7071) -> Erf -> + 1 -> * x -> * 0.5 (either order): Gelu."""
    for erf in [n for n in rw.g.nodes if n.op == "Erf"]:
        pre = rw.producers.get(erf.inputs[0])
        if pre is None or pre.op not in ("Div", "Mul") or rw.only_reader(pre.outputs[0]) is not erf:
            continue
        x = pre.inputs[0]
        c = rw.const(pre.inputs[1])
        if not (_scalar(c, 2**0.5) if pre.op == "Div" else _scalar(c, 0.5**0.5)):
            continue
        add = rw.only_reader(erf.outputs[0])
        if (
            add is None
            or add.op != "Add"
            or not _scalar(rw.const(_other(add, erf.outputs[0])), 1.0)
        ):
            continue
        m1 = rw.only_reader(add.outputs[0])
        if m1 is None or m1.op != "Mul":
            continue
        other = _other(m1, add.outputs[0])
        if other == x:  # (x * (1 + erf)) * 0.5
            m2 = rw.only_reader(m1.outputs[0])
            if (
                m2 is None
                or m2.op != "Mul"
                or not _scalar(rw.const(_other(m2, m1.outputs[0])), 0.5)
            ):
                continue
            chain = [pre, erf, add, m1, m2]
        else:  # (x * 0.5) * (1 + erf)
            half = rw.producers.get(other)
            if (
                half is None
                or half.op != "Mul"
                or x not in half.inputs
                or rw.only_reader(other) is not m1
            ):
                continue
            if not _scalar(rw.const(_other(half, x)), 0.5):
                continue
            chain, m2 = [half, pre, erf, add, m1], m1
        rw.replace(chain, Node("Gelu", [x], [m2.outputs[0]], {}, name=f"{m2.name}_gelu"))


def fuse_matmul(rw: Rewriter, shapes: dict) -> None:
    """MatMul/Gemm [+ bias] [+ activation] [+ residual] -> FusedMatMul."""
    for mm in [n for n in rw.g.nodes if n.op in ("MatMul", "Gemm")]:
        if id(mm) in rw.removed:
            continue
        chain, attrs = [mm], dict(mm.attrs)
        inputs = list(mm.inputs) + [""] * (3 - len(mm.inputs))
        out = mm.outputs[0]
        nxt = rw.only_reader(out)
        out_shape = shapes.get(out)
        n = out_shape[-1] if out_shape else None  # the bias must be a (N,) vector
        if mm.op == "MatMul" and nxt is not None and nxt.op == "Add" and isinstance(n, int):
            bias = rw.const(_other(nxt, out))
            if bias is not None and bias.shape == (n,):
                inputs[2] = _other(nxt, out)
                chain.append(nxt)
                out = nxt.outputs[0]
                nxt = rw.only_reader(out)
        if nxt is not None and (nxt.op in _ACTIVATIONS or nxt.op == "Gelu"):
            act = (
                nxt.op
                if nxt.op != "Gelu"
                else ("GeluTanh" if nxt.attrs.get("approximate") == "tanh" else "Gelu")
            )
            attrs["activation"] = act
            chain.append(nxt)
            out = nxt.outputs[0]
            nxt = rw.only_reader(out)
        if nxt is not None and nxt.op == "Add" and len(chain) > 1:
            res = _other(nxt, out)
            if res != out and shapes.get(res) is not None and shapes.get(res) == shapes.get(out):
                inputs = inputs[:3] + [res]
                chain.append(nxt)
                out = nxt.outputs[0]
        if len(chain) == 1:
            continue
        while inputs and inputs[-1] == "":
            inputs.pop()
        rw.replace(chain, Node("FusedMatMul", inputs, [out], attrs, name=f"{mm.name}_fused"))


def fuse_conv(rw: Rewriter, shapes: dict) -> None:
    """Conv + BatchNormalization -> Conv with scaled weights; Conv + Relu -> FusedConv."""
    for conv in [n for n in rw.g.nodes if n.op == "Conv"]:
        chain, inputs, attrs = [conv], list(conv.inputs), dict(conv.attrs)
        out = conv.outputs[0]
        nxt = rw.only_reader(out)
        w = rw.const(conv.inputs[1])
        if (
            nxt is not None
            and nxt.op == "BatchNormalization"
            and w is not None
            and len(nxt.outputs) == 1
        ):
            stats = [rw.const(i) for i in nxt.inputs[1:5]]
            b = (
                rw.const(inputs[2])
                if len(inputs) > 2 and inputs[2]
                else np.zeros(w.shape[0], w.dtype)
            )
            if all(s is not None for s in stats) and b is not None:
                scale, shift, mean, var = stats
                k = scale / np.sqrt(var + nxt.attrs.get("epsilon", 1e-5))
                name = f"{conv.name}_bnfold"
                rw.g.initializers[name + "_w"] = (w * k.reshape(-1, 1, 1, 1)).astype(w.dtype)
                rw.g.initializers[name + "_b"] = ((b - mean) * k + shift).astype(w.dtype)
                inputs = [inputs[0], name + "_w", name + "_b"]
                chain.append(nxt)
                out = nxt.outputs[0]
                nxt = rw.only_reader(out)
        op = "Conv"
        if nxt is not None and nxt.op in _ACTIVATIONS:
            attrs["activation"], op = nxt.op, "FusedConv"
            chain.append(nxt)
            out = nxt.outputs[0]
        if len(chain) > 1:
            rw.replace(chain, Node(op, inputs, [out], attrs, name=f"{conv.name}_fused"))


def _score_chain(rw: Rewriter, name: str):
    """``name`` = [Mul|Div by a scalar constant](MatMul(q, k_t)), each read only once:
    returns (nodes, q, k_t, scale_op, scale), or None."""
    node, nodes, op, scale = rw.producers.get(name), [], "", 1.0
    if node is not None and node.op in ("Mul", "Div") and rw.only_reader(name) is not None:
        c = rw.const(node.inputs[1])
        if c is not None and c.size == 1 and rw.only_reader(node.inputs[0]) is node:
            nodes, op, scale = [node], node.op, float(c.reshape(-1)[0])
            name, node = node.inputs[0], rw.producers.get(node.inputs[0])
    if node is None or node.op != "MatMul" or rw.only_reader(name) is None:
        return None
    return [node, *nodes], node.inputs[0], node.inputs[1], op, scale


def fuse_attention(rw: Rewriter, shapes: dict) -> None:
    """MatMul(q, k_t) [scale] [+ mask | Where(mask, fill, .)] -> Softmax(-1) -> MatMul(., v)."""
    if rw.g.opset is not None and rw.g.opset < 13:
        return  # old Softmax flattens to 2-D: a different operation
    for sm in [n for n in rw.g.nodes if n.op == "Softmax"]:
        rank = len(shapes.get(sm.inputs[0]) or ())
        axis = sm.attrs.get("axis", -1)
        pv = rw.only_reader(sm.outputs[0])
        if axis not in (-1, rank - 1) or pv is None or pv.op != "MatMul":
            continue
        if pv.inputs[0] != sm.outputs[0] or rw.only_reader(sm.inputs[0]) is not sm:
            continue
        pre, attrs, mask, found = rw.producers.get(sm.inputs[0]), {}, "", None
        if pre is not None and pre.op == "Add":
            for i, cand in enumerate(pre.inputs):
                found = _score_chain(rw, cand)
                if found:
                    mask, attrs["mask"] = pre.inputs[1 - i], "add"
                    break
        elif pre is not None and pre.op == "Where":
            for i, kind in ((2, "where_true"), (1, "where_false")):
                fill = rw.const(pre.inputs[3 - i])
                found = (
                    _score_chain(rw, pre.inputs[i]) if fill is not None and fill.size == 1 else None
                )
                if found:
                    mask, attrs["mask"], attrs["fill"] = (
                        pre.inputs[0],
                        kind,
                        float(fill.reshape(-1)[0]),
                    )
                    break
        masked = found is not None
        if not masked:
            found = _score_chain(rw, sm.inputs[0])
        if not found:
            continue
        nodes, q, k_t, attrs["scale_op"], attrs["scale"] = found
        chain = [*nodes, *([pre] if masked else []), sm, pv]
        inputs = [q, k_t, pv.inputs[1]] + ([mask] if mask else [])
        rw.replace(
            chain, Node("FusedAttention", inputs, pv.outputs, attrs, name=f"{pv.name}_attention")
        )
