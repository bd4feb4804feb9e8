"""The inferlab graph engine vs onnxruntime on the course's models, one process, same threads.

    .venv/bin/python benchmarks/engine.py                  # every core
    .venv/bin/python benchmarks/engine.py --threads 1 --repeat 15

Each model is exported from torch to ONNX (``inferlab.reference.export``, cached) and run two
ways on the same input:

- inferlab: ``inferlab.onnx.load`` -> ``graph.optimize`` (constant folding, fusion, dead-node
  elimination) -> ``Executor(memory="plan")``, NumPy's BLAS limited to n threads
  (``bench.threads(n)``);
- onnxruntime: the same file, default graph optimisation (all), ``intra_op_num_threads = n``.

Outputs are first checked to agree (rtol 1e-4 on the digits models, 1e-3 absolute on the
transformers). Times are medians of interleaved repeats (``bench.compare``: A, B, B, A, ...,
so a busy moment on the machine hits both engines alike); the ratio is inferlab / onnxruntime
with a 95 % bootstrap interval (2.0 = inferlab takes twice as long). Peak activation memory is
what ``tracemalloc`` sees during one planned run (``graph.measure_peak``; the arena counts).

Goals (issue 3): MiniLM batch 8 x 128 tokens within 1.5x of onnxruntime; CNN batch 64 within
2x. About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from inferlab import bench, data
from inferlab import graph as G
from inferlab import onnx as inferlab_onnx
from inferlab.reference.export import export_onnx, ort_session

GOALS = {("minilm", 8): 1.5, ("cnn", 64): 2.0}  # issue 3: inferlab / onnxruntime at most
SEQ = 128  # tokens per sentence for the transformers
TEXT = (
    "Inference engines turn a trained network into a fast program: they fuse operators, plan "
    "memory and pick kernels for the hardware at hand, so that every request is answered fast. "
)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both engines")
    p.add_argument("--repeat", type=int, default=15, help="timed samples per engine")
    p.add_argument("--models", default="mlp,cnn,gpt,minilm", help="comma-separated subset to run")
    return p.parse_args()


def feeds_for(name: str, batch: int) -> tuple[dict, float]:
    """The input of ``name`` at this batch size, and the tolerance its outputs must meet."""
    if name in ("mlp", "cnn"):
        x = data.digits_split().x_test[:batch]  # real test images, [0, 1]
        x = x.reshape(batch, 64) if name == "mlp" else x.reshape(batch, 1, 8, 8)
        return {"x": np.ascontiguousarray(x, dtype=np.float32)}, 1e-4
    if name == "gpt":
        rng = np.random.default_rng(0)
        return {"ids": rng.integers(0, 60, (batch, SEQ), dtype=np.int64)}, 1e-3
    from inferlab.models import minilm

    texts = [f"Sentence {i}. " + TEXT * 4 for i in range(batch)]
    feeds = minilm.load().tokenizer(texts, max_length=SEQ, padding="max_length")
    assert feeds["attention_mask"].all(), "every sentence should fill all 128 tokens"
    return dict(feeds), 1e-3


def cases(models: list[str]):
    batches = {"mlp": (1, 64, 256), "cnn": (1, 64, 256), "gpt": (1, 8), "minilm": (1, 8)}
    return [(m, b) for m in models for b in batches[m]]


def run_case(name: str, batch: int, graph, session, repeat: int) -> dict:
    feeds, tol = feeds_for(name, batch)
    shapes = {k: v.shape for k, v in feeds.items()}
    executor = G.Executor(G.optimize(graph, shapes), memory="plan")
    peak = G.measure_peak(executor, feeds)  # first: the arena is allocated (and counted) here
    ours = executor.run(feeds)[graph.outputs[0].name]
    ref = session.run(None, feeds)[0]
    if name in ("mlp", "cnn"):
        np.testing.assert_allclose(ours, ref, rtol=tol, atol=1e-5)
    else:
        diff = float(np.abs(ours - ref).max())
        assert diff < tol, f"{name}: inferlab and onnxruntime differ by {diff}"
    result = bench.compare(
        {
            "inferlab": lambda: executor.run(feeds),
            "onnxruntime": lambda: session.run(None, feeds),
        },
        baseline="onnxruntime",
        warmup=2,
        repeat=repeat,
    )
    ratio = result.ratio("inferlab")
    return {
        "model": name,
        "batch": batch if name in ("mlp", "cnn") else f"{batch}x{SEQ}",
        "inferlab_ms": result.timings["inferlab"].median * 1e3,
        "ort_ms": result.timings["onnxruntime"].median * 1e3,
        "ratio": ratio.estimate,
        "ci": (ratio.low, ratio.high),
        "peak_mb": peak / 1e6,
        "goal": GOALS.get((name, batch)),
    }


def main() -> None:
    args = parse()
    import onnxruntime

    start = time.perf_counter()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    print(
        "inferlab engine (optimize + Executor(memory='plan')) vs onnxruntime "
        f"{onnxruntime.__version__} (graph optimisation 'all'), {args.threads} threads each, "
        f"numpy {np.__version__}, "
        f"median of {args.repeat} interleaved samples, load average before "
        f"{os.getloadavg()[0]:.1f} (on a busy machine, expect noise)"
    )
    head = (
        f"{'model':<7} {'batch':>7} {'inferlab ms':>12} {'ort ms':>9} {'ratio':>7} "
        f"{'95% CI':>14} {'peak act MB':>12}  goal"
    )
    print(head)
    print("-" * len(head))
    rows = []
    with bench.threads(args.threads):
        for name in models:
            path = export_onnx(name)
            graph = inferlab_onnx.load(path)
            session = ort_session(path, threads=args.threads)
            for model, batch in cases([name]):
                r = run_case(model, batch, graph, session, args.repeat)
                rows.append(r)
                goal = ""
                if r["goal"] is not None:
                    met = "met" if r["ratio"] <= r["goal"] else "NOT met"
                    goal = f"<= {r['goal']:.1f}x: {met}"
                ci = f"[{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]"
                print(
                    f"{r['model']:<7} {r['batch']!s:>7} {r['inferlab_ms']:12.3f} "
                    f"{r['ort_ms']:9.3f} {r['ratio']:6.2f}x {ci:>14} {r['peak_mb']:12.2f}  {goal}",
                    flush=True,
                )
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
