"""MiniLM (all-MiniLM-L6-v2) encoder: inferlab (NumPy) vs onnxruntime fp32 vs torch, one process.

    .venv/bin/python benchmarks/minilm.py                 # batch 8 x 128 tokens, all cores
    .venv/bin/python benchmarks/minilm.py --threads 1 --repeat 30

Same input for all (8 real sentences, truncated to exactly 128 tokens), same thread count
(NumPy's BLAS via OPENBLAS_NUM_THREADS, set before NumPy loads; inferlab's own threads;
onnxruntime's intra-op threads; torch.set_num_threads). Engines: inferlab's MiniLM,
onnxruntime on the exported encoder, torch's BertModel, and the same encoder written as a plain
composition of inferlab.ops (the baseline before the model-level speed work). They are timed in
turns, round after round (each timed call right after an untimed one of the same engine), so
that a burst of load on the machine hits all of them alike; each gets the median of its
rounds, and "paired" is the median of its per-round ratio to onnxruntime. Outputs are first
checked to agree. Then a breakdown of inferlab's time per step explains the ratio.
The goal (issue 3): inferlab within 1.5x of onnxruntime at batch 8 x 128.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

BATCH, SEQ = 8, 128
TEXT = (
    "Inference engines turn a trained network into a fast program: they fuse operators, plan "
    "memory and pick kernels for the hardware at hand, so that every request is answered in "
    "milliseconds instead of seconds, whatever the batch size or the length of the sequence. "
)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for all engines")
    p.add_argument("--repeat", type=int, default=15, help="timed rounds (each runs every engine)")
    p.add_argument("--batch", type=int, default=BATCH)
    p.add_argument("--seq", type=int, default=SEQ)
    p.add_argument("--onnx", type=Path, default=None, help="exported model (default: export)")
    return p.parse_args()


def main() -> None:
    args = parse()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before NumPy loads its BLAS
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch's threads: no spinning after ops
    import numpy as np
    import onnxruntime as ort
    import torch

    from inferlab import bench, ops
    from inferlab.models import minilm
    from inferlab.models.safetensors import load as load_safetensors
    from inferlab.reference import minilm as reference

    torch.set_num_threads(args.threads)
    model = minilm.load()
    texts = [f"Sentence {i}. " + TEXT * (1 + args.seq // 40) for i in range(args.batch)]
    feeds = model.tokenizer(texts, max_length=args.seq, padding="max_length")
    assert feeds["attention_mask"].all(), "every sentence should fill the whole sequence"

    onnx_path = args.onnx
    if onnx_path is None:
        onnx_path = Path(tempfile.mkdtemp()) / "minilm.onnx"
        reference.export_onnx(onnx_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    bert = reference.bert_model()
    tensors = {k: torch.from_numpy(v) for k, v in feeds.items()}

    def run_inferlab():  # data parallel: a share of the batch per thread, BLAS on one thread
        model.threads = args.threads
        with bench.threads(1):
            return model.forward(**feeds)

    def run_inferlab_blas():  # one thread of Python, BLAS on all the threads
        model.threads = 1
        return model.forward(**feeds)

    def run_ort():
        return session.run(None, feeds)[0]

    def run_torch():
        with torch.inference_mode():
            return bert(**tensors).last_hidden_state.numpy()

    plain = PlainOps(ops, load_safetensors(minilm.model_path() / "model.safetensors"))
    runners = {
        "inferlab": run_inferlab,
        "onnxruntime": run_ort,
        "torch": run_torch,
        "inferlab, BLAS threads": run_inferlab_blas,
        "inferlab, plain ops": lambda: plain.forward(**feeds),
    }
    outputs = {name: fn() for name, fn in runners.items()}  # also the warm-up
    for name in list(runners)[1:]:
        diff = float(np.abs(outputs["inferlab"] - outputs[name]).max())
        assert diff < 1e-3, f"inferlab and {name} disagree: max |diff| {diff}"
        print(f"inferlab vs {name}: max |diff| {diff:.2e}")

    times = {name: [] for name in runners}
    names = list(runners)
    for r in range(args.repeat):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate who goes first
            # An untimed call first: the thread pools of the engine before (OpenBLAS's, torch's,
            # onnxruntime's) spin for a while after their last op and would steal the cores.
            runners[name]()
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
    med = {name: float(np.median(t)) for name, t in times.items()}
    print(
        f"\nMiniLM encoder, batch {args.batch} x {args.seq} tokens, {args.threads} threads, "
        f"median of {args.repeat} rounds (numpy {np.__version__}, onnxruntime {ort.__version__}, "
        f"torch {torch.__version__})"
    )
    # Paired: the median over rounds of (this round's time / onnxruntime's time this round),
    # robust to load that comes and goes on a shared machine.
    ort_times = np.array(times["onnxruntime"])
    print(f"{'engine':<20} {'median ms':>10} {'min ms':>8} {'vs onnxruntime':>15} {'paired':>7}")
    for name in names:
        ratio = med[name] / med["onnxruntime"]
        paired = float(np.median(np.array(times[name]) / ort_times))
        print(
            f"{name:<20} {med[name] * 1e3:>10.1f} {min(times[name]) * 1e3:>8.1f} "
            f"{ratio:>14.2f}x {paired:>6.2f}x"
        )
    goal = med["inferlab"] / med["onnxruntime"]
    verdict = "met" if goal <= 1.5 else "NOT met"
    print(f"goal: inferlab within 1.5x of onnxruntime -> {goal:.2f}x ({verdict})")

    breakdown(model, feeds, args, np, ops, torch)


class PlainOps:
    """The same encoder as a plain composition of inferlab.ops, no model-level tricks: the
    baseline that shows what the fused layout of inferlab.models.minilm buys."""

    def __init__(self, ops, weights):
        self.ops = ops
        self.w = {k: v for k, v in weights.items() if v.dtype.kind == "f"}

    def forward(self, input_ids, attention_mask, token_type_ids):
        ops, w = self.ops, self.w
        batch, t = input_ids.shape
        e = "embeddings."
        x = ops.embedding(input_ids, w[e + "word_embeddings.weight"])
        x = x + w[e + "position_embeddings.weight"][:t]
        x = x + ops.embedding(token_type_ids, w[e + "token_type_embeddings.weight"])
        x = ops.layer_norm(x, (384,), w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], 1e-12)
        mask = attention_mask.astype(bool)[:, None, None, :]
        for i in range(6):
            p = f"encoder.layer.{i}."

            def linear(name, h, p=p):
                return ops.linear(h, w[p + name + ".weight"], w[p + name + ".bias"])

            def heads(h):
                return h.reshape(batch, t, 12, 32).transpose(0, 2, 1, 3)

            q, k, v = (heads(linear("attention.self." + n, x)) for n in ("query", "key", "value"))
            a = ops.scaled_dot_product_attention(q, k, v, mask=mask)
            a = linear("attention.output.dense", a.transpose(0, 2, 1, 3).reshape(batch, t, 384))
            ln = p + "attention.output.LayerNorm."
            x = ops.layer_norm(a + x, (384,), w[ln + "weight"], w[ln + "bias"], 1e-12)
            h = linear("output.dense", ops.gelu(linear("intermediate.dense", x)))
            ln = p + "output.LayerNorm."
            x = ops.layer_norm(h + x, (384,), w[ln + "weight"], w[ln + "bias"], 1e-12)
        return x


def breakdown(model, feeds, args, np, ops, torch) -> None:
    """Where inferlab's time goes: the layer's steps timed in place, during real forwards (as
    in the table: a share of the batch per thread, BLAS on one thread)."""
    import threading

    from inferlab import bench
    from inferlab.models.minilm import _layer_norm

    clock, spent, lock = time.perf_counter, {}, threading.Lock()

    def timed(name, fn, *a):
        start = clock()
        result = fn(*a)
        with lock:
            spent[name] = spent.get(name, 0.0) + clock() - start
        return result

    def layer(ws, w, batch, t, mask):  # MiniLM._layer, step by step
        eps, x, x1 = model.config.layer_norm_eps, ws["x"], ws["x1"]
        timed("matmul QKV", np.matmul, x, w.w_qkv, ws["qkv"])
        timed("attention (scores, softmax, @V)", model._attention, ws, batch, t, mask)
        h = timed("matmul out", np.matmul, ws["ctx"], w.w_out, ws["h"])
        timed("LayerNorm + residual/bias adds", np.add, h, x[:, :-1], h)
        timed("LayerNorm + residual/bias adds", _layer_norm, h, *w.ln1, eps, x1[:, :-1])
        up = timed("matmul up", np.matmul, x1, w.w_up, ws["up"])
        g = timed("GELU (exact)", lambda: ops.gelu(up, out=ws["g"]))
        h = timed("matmul down", np.matmul, g, w.w_down, ws["h"])
        timed("LayerNorm + residual/bias adds", np.add, h, w.b_down, h)
        timed("LayerNorm + residual/bias adds", np.add, h, x1[:, :-1], h)
        timed("LayerNorm + residual/bias adds", _layer_norm, h, *w.ln2, eps, x[:, :-1])

    model._layer, model.threads, totals = layer, args.threads, []
    rounds = max(5, args.repeat // 2)
    with bench.threads(1):
        for _ in range(rounds):
            start = clock()
            model.forward(**feeds)
            totals.append(clock() - start)
    del model._layer  # back to the class's method
    total, shards = sum(totals), min(args.threads, args.batch)
    spent = {name: seconds / shards for name, seconds in spent.items()}  # per thread
    spent["other (embeddings, checks, copies)"] = total - sum(spent.values())
    print(
        f"\ninferlab forward, {shards} thread(s): where each thread's time goes (mean of {rounds}):"
    )
    for name, seconds in spent.items():
        print(f"  {name:<36} {seconds / rounds * 1e3:>7.1f} ms  {seconds / total:>5.0%}")
    up = np.random.default_rng(0).standard_normal((len(feeds["input_ids"]) * args.seq, 1536))
    up = (2 * up - 1).astype(np.float32)  # like the real pre-GELU values: mostly in [-5, 3]
    n = model.config.num_hidden_layers
    torch.set_num_threads(1)  # one core each: the kernels, not the threading
    ours = measure_median(lambda: ops.gelu(up), args.repeat) * n
    theirs = measure_median(lambda: torch.nn.functional.gelu(torch.from_numpy(up)), args.repeat) * n
    torch.set_num_threads(args.threads)
    print(f"  GELU alone, 1 thread, x {n} layers: inferlab {ours * 1e3:.1f} ms, ", end="")
    print(f"torch {theirs * 1e3:.1f} ms")


def measure_median(fn, repeat: int) -> float:
    from inferlab.bench import measure

    return measure(fn, repeat=max(5, repeat)).median


if __name__ == "__main__":
    sys.exit(main())
