"""Memory planning: how many bytes of activations a run needs, and how to need fewer.

An activation (a node's output) is *live* from the step that writes it to the last step that
reads it (or one of its views: Reshape/Transpose/... outputs share their input's memory).
Three ways to run, three peaks:

- keep everything until the end (a naive engine): the sum of all activations;
- free each activation after its last reader: the largest sum of live activations at any step;
- plan: place every output at an offset in one arena, so that values alive at the same time
  never overlap while dead values' bytes are reused (greedy by size, largest first, each at
  the lowest offset that fits: TensorFlow Lite's arena planner). An elementwise op whose input
  dies right there writes its output over that input ("in place"). The arena is allocated
  once and reused by every run.

    >>> plan = plan_memory(graph, {"x": (64, 1, 8, 8)})
    >>> print(plan.summary())
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inferlab.graph.ir import Graph, format_shape
from inferlab.graph.kernels import INPLACE, KERNELS, OUT_KERNELS, VIEWS
from inferlab.graph.shapes import infer_shapes

# Ops that may return one of their inputs itself (a single-input Max, a no-op reduction):
# their output is treated like a view, so that nothing ever writes into it.
_MAY_ALIAS = (
    VIEWS | {"Max", "Min", "Sum", "Einsum"} | {op for op in KERNELS if op.startswith("Reduce")}
)
ALIGN = 64  # bytes: every arena offset is a multiple (a cache line; enough for any dtype)


@dataclass
class MemoryPlan:
    """Liveness and buffer assignment for one set of input shapes (bytes throughout)."""

    order: list  # node names, in run order
    sizes: dict  # activation (non-view node output) -> bytes
    root: dict  # value -> the activation whose memory it uses (itself, or what it views)
    first: dict  # activation -> step that writes it
    last: dict  # activation -> last step that reads it or a view of it
    shapes: dict  # value -> (shape, dtype)
    offsets: dict = field(default_factory=dict)  # activation -> byte offset in the arena
    pool_bytes: int = 0  # size of the arena
    inplace: list = field(default_factory=list)  # activations written over a dead input

    @property
    def naive_peak_bytes(self) -> int:
        """Every activation held until the run ends (``Executor(memory="keep")``)."""
        return sum(self.sizes.values())

    def live_bytes(self) -> list[int]:
        """Bytes of live activations at each step, freeing after the last reader."""
        live = [0] * len(self.order)
        for name, size in self.sizes.items():
            for i in range(self.first[name], self.last[name] + 1):
                live[i] += size
        return live

    @property
    def freed_peak_bytes(self) -> int:
        """Peak when each activation is freed after its last reader (``memory="free"``)."""
        return max(self.live_bytes(), default=0)

    @property
    def planned_peak_bytes(self) -> int:
        """The pool plus the peak of activations outside it (``memory="plan"``)."""
        live = [0] * len(self.order)
        for name, size in self.sizes.items():
            if name not in self.offsets:
                for i in range(self.first[name], self.last[name] + 1):
                    live[i] += size
        return self.pool_bytes + max(live, default=0)

    def summary(self) -> str:
        mb = 1e6
        return "\n".join(
            [
                f"{len(self.sizes)} activations over {len(self.order)} steps",
                f"  keep all (naive):       {self.naive_peak_bytes / mb:8.3f} MB",
                f"  free after last use:    {self.freed_peak_bytes / mb:8.3f} MB",
                f"  planned (pool + rest):  {self.planned_peak_bytes / mb:8.3f} MB "
                f"(arena {self.pool_bytes / mb:.3f} MB for {len(self.offsets)} values, "
                f"{len(self.inplace)} in place)",
            ]
        )

    def __repr__(self) -> str:
        return (
            f"MemoryPlan(naive={self.naive_peak_bytes:,} B, freed={self.freed_peak_bytes:,} B, "
            f"planned={self.planned_peak_bytes:,} B)"
        )


def plan_memory(graph: Graph, input_shapes: dict | None = None) -> MemoryPlan:
    """Liveness of every activation and a buffer-reuse plan for these input shapes."""
    shapes = infer_shapes(graph, input_shapes)
    order = graph.topological_order()
    outputs = {v.name for v in graph.outputs}
    root, sizes, first, last = {}, {}, {}, {}
    for i, node in enumerate(order):
        for k, name in enumerate(node.outputs):
            if not name:
                continue
            src = node.inputs[0] if node.inputs else ""
            if node.op in _MAY_ALIAS and src and (k == 0 or node.op == "Split"):
                root[name] = root.get(src, src)  # a view: same memory as its input
                continue
            root[name] = name
            shape, dtype = shapes.get(name, (None, None))
            known = (
                shape is not None and dtype is not None and all(isinstance(d, int) for d in shape)
            )
            sizes[name] = int(np.prod(shape)) * np.dtype(dtype).itemsize if known else 0
            first[name] = last[name] = i
        for name in node.inputs:
            r = root.get(name)
            if r in last:
                last[r] = i
    escape = {root.get(o, o) for o in outputs}
    for r in escape & set(last):
        last[r] = len(order) - 1
    plan = MemoryPlan([n.name for n in order], sizes, root, first, last, shapes)
    _assign_offsets(plan, order, escape)
    return plan


def _assign_offsets(plan: MemoryPlan, order, escape: set) -> None:
    """Arena offsets for the outputs of ops that can write into a given buffer."""
    planned = {}  # value -> its group (values sharing bytes: an in-place chain)
    for i, node in enumerate(order):
        outs = [o for o in node.outputs if o]
        name = outs[0] if len(outs) == 1 else None
        if not (
            name is not None
            and node.op in OUT_KERNELS
            and plan.sizes.get(name, 0) > 0
            and name not in escape
            and plan.root.get(name) == name
        ):
            continue
        planned[name] = name
        if node.op in INPLACE:
            src = _inplace_input(plan, node, i, name, planned)
            if src is not None:
                planned[name] = planned[src]
                plan.inplace.append(name)
    groups: dict[str, list] = {}
    for name, group in planned.items():
        groups.setdefault(group, []).append(name)
    items = [
        (
            max(plan.sizes[n] for n in names),
            min(plan.first[n] for n in names),
            max(plan.last[n] for n in names),
            names,
        )
        for names in groups.values()
    ]
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
    for size, first, last, names in sorted(items, key=lambda t: (-t[0], t[1])):
        offset = 0
        busy = sorted((o, s) for o, s, f, l in placed if f <= last and first <= l)
        for o, s in busy:  # lowest gap between values alive at the same time that fits
            if o >= offset + size:
                break
            offset = max(offset, -(-(o + s) // ALIGN) * ALIGN)
        placed.append((offset, size, first, last))
        for n in names:
            plan.offsets[n] = offset
        plan.pool_bytes = max(plan.pool_bytes, offset + size)


def _inplace_input(plan: MemoryPlan, node, step: int, out: str, planned: dict):
    """An input that dies at this step, lives in the arena and matches the output exactly."""
    for name in node.inputs:
        if (
            name in planned
            and plan.last.get(name) == step
            and plan.shapes.get(name) == plan.shapes.get(out)
            and node.inputs.count(name) == 1
        ):
            return name
    return None


def allocate(plan: MemoryPlan, nodes) -> list:
    """The arena, as the output array of each step whose kernel writes into it (or None)."""
    arena = np.empty(plan.pool_bytes, dtype=np.uint8)
    outs = []
    for node in nodes:
        name = node.outputs[0] if node.outputs else None
        if name in plan.offsets:
            shape, dtype = plan.shapes[name]
            start = plan.offsets[name]
            outs.append(arena[start : start + plan.sizes[name]].view(dtype).reshape(shape))
        else:
            outs.append(None)
    return outs


def describe(plan: MemoryPlan, top: int = 10) -> str:
    """The ``top`` largest activations with their lifetimes (steps) and buffers."""
    rows = sorted(plan.sizes.items(), key=lambda kv: -kv[1])[:top]
    lines = [f"{'value':30s} {'shape':>20s} {'bytes':>12s} {'live':>9s} offset"]
    for name, size in rows:
        shape = format_shape(plan.shapes[name][0])
        live = f"{plan.first[name]}-{plan.last[name]}"
        lines.append(
            f"{name[:30]:30s} {shape:>20s} {size:12,d} {live:>9s} {plan.offsets.get(name, '-')}"
        )
    return "\n".join(lines)


def measure_peak(executor, feeds: dict, warmup: bool = True) -> int:
    """Peak bytes traced by ``tracemalloc`` during one run, above what was allocated before.

    The warm-up run (the memory plan's pool is allocated there, and kept) is included in the
    baseline, so a planned executor is charged for its pool.
    """
    import tracemalloc

    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        if warmup:
            executor.run(feeds)
        tracemalloc.reset_peak()
        result = executor.run(feeds)
        peak = tracemalloc.get_traced_memory()[1] - base
        del result
    finally:
        if started:
            tracemalloc.stop()
    return peak
