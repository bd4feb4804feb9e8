"""A per-node profiler: where does a model's time go, and is each op compute- or memory-bound?

    >>> prof = profile(graph, {"x": x}, repeat=5)
    >>> print(prof.table(by="op"))          # time, share, FLOPs, bytes, GFLOP/s per op type
    >>> fig = plot_profile(prof)            # a matplotlib Figure

Time is the median over ``repeat`` runs of each node's wall time. FLOPs and bytes come from
the cost functions of :mod:`inferlab.ops` (``ops.COSTS``) applied to the node's input shapes
(from :func:`~inferlab.graph.shapes.infer_shapes`); ops without one in ``ops`` count their
elementwise work and the bytes they read and write. View ops (Reshape, Transpose, ...) move
no data: 0 FLOPs, 0 bytes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from inferlab import ops
from inferlab.graph.executor import Executor
from inferlab.graph.ir import Graph
from inferlab.graph.kernels import VIEWS
from inferlab.graph.shapes import infer_shapes

_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Erf": "erf", "Gelu": "gelu"}
_ACT = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Gelu": "gelu", "GeluTanh": "gelu"}


@dataclass(frozen=True)
class ProfileRecord:
    """One node (or one op type, aggregated): seconds, share of the total, FLOPs, bytes."""

    name: str
    op: str
    seconds: float
    share: float
    flops: int
    bytes: int
    count: int = 1

    @property
    def gflops_per_s(self) -> float:
        return self.flops / self.seconds / 1e9 if self.seconds > 0 else 0.0

    @property
    def intensity(self) -> float:
        """FLOP per byte moved (the x-axis of a roofline)."""
        return self.flops / self.bytes if self.bytes else math.inf


@dataclass
class Profile:
    """Per-node records in run order, and the total time of a run (sum of the nodes)."""

    records: list
    graph_name: str = "graph"

    @property
    def total_seconds(self) -> float:
        return sum(r.seconds for r in self.records)

    def by_op(self) -> list[ProfileRecord]:
        """Records aggregated per op type, slowest first."""
        groups: dict[str, list] = {}
        for r in self.records:
            groups.setdefault(r.op, []).append(r)
        out = [
            ProfileRecord(
                op,
                op,
                sum(r.seconds for r in rs),
                sum(r.share for r in rs),
                sum(r.flops for r in rs),
                sum(r.bytes for r in rs),
                len(rs),
            )
            for op, rs in groups.items()
        ]
        return sorted(out, key=lambda r: -r.seconds)

    def to_records(self, by: str = "node") -> list[dict]:
        """Plain dicts (for a DataFrame or JSON)."""
        rows = self.records if by == "node" else self.by_op()
        return [asdict(r) | {"gflops_per_s": r.gflops_per_s} for r in rows]

    def table(self, by: str = "op", top: int | None = 15) -> str:
        """A text table, slowest first: ``by="op"`` (aggregated) or ``by="node"``."""
        rows = self.by_op() if by == "op" else sorted(self.records, key=lambda r: -r.seconds)
        first = "op" if by == "op" else "node"
        head = (
            f"{first:34s} {'n':>4s} {'ms':>9s} {'share':>6s} {'MFLOP':>10s} {'MB':>8s} "
            f"{'GFLOP/s':>8s}"
        )
        lines = [head, "-" * len(head)]
        for r in rows[:top]:
            label = r.op if by == "op" else f"{r.name[:24]} ({r.op[:8]})"
            lines.append(
                f"{label:34s} {r.count:4d} {r.seconds * 1e3:9.3f} {r.share:6.1%} "
                f"{r.flops / 1e6:10.2f} {r.bytes / 1e6:8.2f} {r.gflops_per_s:8.2f}"
            )
        if top is not None and len(rows) > top:
            rest = rows[top:]
            more, ms = f"({len(rest)} more)", sum(r.seconds for r in rest) * 1e3
            lines.append(f"{more:34s} {'':4s} {ms:9.3f} {sum(r.share for r in rest):6.1%}")
        flops = sum(r.flops for r in self.records)
        moved = sum(r.bytes for r in self.records) / 1e6
        rate = flops / max(self.total_seconds, 1e-12) / 1e9
        lines.append(
            f"{'total':34s} {len(self.records):4d} {self.total_seconds * 1e3:9.3f} {1:6.1%} "
            f"{flops / 1e6:10.2f} {moved:8.2f} {rate:8.2f}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def node_cost(node, shapes: dict) -> ops.Cost:
    """FLOPs and bytes of one node from its input/output shapes (see the module docstring)."""

    def shape(name):
        return shapes.get(name, (None, None))[0] if name else None

    def nbytes(name):
        s, d = shapes.get(name, (None, None)) if name else (None, None)
        if s is None or d is None or not all(isinstance(v, int) for v in s):
            return 0
        return int(np.prod(s)) * np.dtype(d).itemsize

    ins = [shape(i) for i in node.inputs]
    out = shape(node.outputs[0]) if node.outputs else None
    if node.op in VIEWS or any(s is None for s in ins[:1]) or out is None:
        return ops.Cost(0, 0)
    if not all(isinstance(d, int) for s in [*ins, out] if s is not None for d in s):
        return ops.Cost(0, 0)
    moved = sum(nbytes(i) for i in node.inputs) + sum(nbytes(o) for o in node.outputs)
    n_out = int(np.prod(out))
    op, a = node.op, node.attrs
    if op in ("MatMul", "Gemm", "FusedMatMul"):
        x, w = ins[0], ins[1]
        if a.get("transA") or a.get("trans_a"):
            x = x[:-2] + x[-2:][::-1]
        if a.get("transB") or a.get("trans_b"):
            w = w[:-2] + w[-2:][::-1]
        flops = ops.matmul_cost(x, w).flops + (n_out if len(ins) > 2 and ins[2] else 0)
        act = _ACT.get(a.get("activation", ""))
        flops += ops.COSTS[act](out).flops if act else 0
        flops += n_out if len(ins) > 3 else 0  # residual add
        return ops.Cost(flops, moved)
    if op == "FusedAttention":
        scores = ins[0][:-1] + ins[1][-1:]
        flops = ops.matmul_cost(ins[0], ins[1]).flops + ops.matmul_cost(scores, ins[2]).flops
        return ops.Cost(flops + ops.softmax_cost(scores).flops + 2 * int(np.prod(scores)), moved)
    if op in ("Conv", "FusedConv") and len(ins[0]) == 4:
        k = ins[1][2:]
        flops = 2 * n_out * int(np.prod(k)) * ins[1][1] + (n_out if len(ins) > 2 else 0)
        return ops.Cost(flops, moved)
    if op in ("MaxPool", "AveragePool"):
        return ops.Cost(n_out * int(np.prod(a.get("kernel_shape", (1,)))), moved)
    if op in _UNARY:
        return ops.Cost(ops.COSTS[_UNARY[op]](out).flops, moved)
    if op in ("Softmax", "LogSoftmax"):
        return ops.Cost(ops.softmax_cost(out).flops, moved)
    if op == "LayerNormalization":
        axis = a.get("axis", -1) % len(ins[0])
        return ops.Cost(ops.layer_norm_cost(ins[0], ins[0][axis:]).flops, moved)
    if op.startswith("Reduce") or op.startswith("Global"):
        return ops.Cost(int(np.prod(ins[0])), moved)
    if op in (
        "Gather",
        "Concat",
        "Slice",
        "Cast",
        "Expand",
        "Shape",
        "Constant",
        "Split",
        "Tile",
        "Pad",
    ):
        return ops.Cost(0, moved)
    return ops.Cost(n_out, moved)  # elementwise: one operation per output element


def profile(graph: Graph, feeds: dict, repeat: int = 5, memory: str = "free") -> Profile:
    """Run ``graph`` ``repeat`` times (after one warm-up) and profile every node."""
    executor = Executor(graph, memory=memory)
    executor.run(feeds)  # warm-up: first-touch of memory, caches, lazy imports
    times: dict[str, list] = {}
    for _ in range(max(1, repeat)):
        _, recs = executor.run(feeds, profile=True)
        for r in recs:
            times.setdefault(r.name, []).append(r.seconds)
    shapes = infer_shapes(graph, {k: np.shape(v) for k, v in feeds.items()})
    medians = {name: float(np.median(ts)) for name, ts in times.items()}
    total = sum(medians.values()) or 1.0
    records = []
    for node in executor.order:
        cost = node_cost(node, shapes)
        t = medians[node.name]
        records.append(ProfileRecord(node.name, node.op, t, t / total, cost.flops, cost.bytes))
    return Profile(records, graph.name)


def plot_profile(prof: Profile, by: str = "op", top: int = 12):
    """A horizontal bar chart of time per op type (or per node), labelled with GFLOP/s."""
    import matplotlib.pyplot as plt

    rows = prof.by_op() if by == "op" else sorted(prof.records, key=lambda r: -r.seconds)
    rows = rows[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    ms = [r.seconds * 1e3 for r in rows]
    bars = ax.barh([r.op if by == "op" else r.name[:28] for r in rows], ms, color="tab:blue")
    for bar, r in zip(bars, rows, strict=True):
        label = f" {r.share:.0%}" + (f", {r.gflops_per_s:.1f} GFLOP/s" if r.flops else "")
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, label, va="center", fontsize=8)
    ax.set_xlabel("time per run (ms, median)")
    ax.set_title(f"Where the time goes: {prof.graph_name} ({prof.total_seconds * 1e3:.2f} ms)")
    ax.set_xlim(0, max(ms, default=1) * 1.35)
    fig.tight_layout()
    return fig
