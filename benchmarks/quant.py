"""onnxruntime int8 vs fp32: latency, size and accuracy of MiniLM and the digits CNN, one process.

    .venv/bin/python benchmarks/quant.py                       # every variant, 1 and 2 threads
    .venv/bin/python benchmarks/quant.py --json quant.json     # also write the results
    .venv/bin/python benchmarks/quant.py --quick               # a few variants, ~20 s (the test)

What is measured, for each variant (a graph + a quantization recipe, onnxruntime CPU):

- latency: MiniLM (all-MiniLM-L6-v2) on batch 8 x 128 tokens of real sentences, the digits CNN
  on batch 64 test images; every variant of a model in one process, interleaved round after
  round (the order rotates; each timed call right after an untimed one of the same session, so
  that the spinning thread pool of the session before does not steal the cores), on 1 and 2
  intra-op threads. Reported: median and best (min) per variant, and the speed-up over the fp32
  baseline *of the same graph* (median / median, with a 95 % bootstrap interval) and over the
  best fp32 graph;
- size: fp32 bytes / quantized bytes, of the .onnx file and of its weights (the initializers);
- accuracy: MiniLM mean-pooled sentence embeddings (attention-masked, as sentence-transformers
  pools) against fp32's, cosine mean and min over 24 sentences (the 8 timed ones, 128 tokens
  each, and 16 short padded ones); CNN top-1 on the 359-image digits test split, and the
  fraction of images where the int8 model agrees with fp32.

Graphs ("graph" column), each given to fp32 *and* int8 so the comparison is fair:

- ``raw``: the exported encoder (``inferlab.reference.export.export_onnx``); onnxruntime applies
  its own graph optimisations at load (``ORT_ENABLE_ALL``);
- ``pre``: ``onnxruntime.quantization.shape_inference.quant_pre_process`` (symbolic shapes and
  onnxruntime's basic optimisations written back to the file);
- ``opt``: the transformer optimizer, ``onnxruntime.transformers.optimizer.optimize_model(
  model_type="bert")``: fused Attention, EmbedLayerNormalization, SkipLayerNormalization,
  BiasGelu. Its attention pattern expects ``QK^T / sqrt(d)`` (a Div) but transformers 5 exports
  ``QK^T * scale`` (a Mul, which the matcher then confuses with the mask's Mul), so first
  ``_div_scale`` rewrites that Mul into the equivalent Div; without it nothing but the
  LayerNorms and Gelu fuses.

Quantized files and prepared graphs are cached in ``inferlab.reference.export.cache_dir() /
"quant"`` (about 0.5 GB; keyed on the source file, the recipe, this script and the onnxruntime
version, stale versions removed); nothing is downloaded.

The goal (issue 5): int8 MiniLM >= 1.8x faster than fp32 at 8 x 128, weights 4x smaller, a
cosine >= 0.99 to fp32. The headline is the int8 variant with weights >= 3.8x smaller and mean
cosine >= 0.99 that has the best best-of speed-up over the fastest fp32 graph (geometric mean
over the thread counts; best-of because other programs on a shared machine only ever add time);
variants within 5 % of it are a tie, won by the most accurate. Then, for fp32 and the headline:
the same pair under onnxruntime's graph optimisation levels and with the intra-op thread pool
spinning or not; and a profile (``enable_profiling``, one thread) that splits their time into
matrix products and the rest, which bounds the speed-up int8 can give (Amdahl).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BATCH, SEQ, CNN_BATCH = 8, 128, 64
GOAL_SPEEDUP, GOAL_COSINE, GOAL_SIZE = 1.8, 0.99, 4.0

# Real sentences, one topic each, every one longer than 128 tokens (so the timed batch is 8 x 128
# with no padding). TIMED is the benchmark input (and half of the accuracy check); CALIBRATION
# only feeds quantize_static's activation ranges; SHORT are padded, to check masked pooling too.
TIMED = [
    "The storm moved in from the west late in the afternoon, and by six o'clock the sky over the "
    "harbour had turned the colour of slate. Fishermen hurried to tie down their boats, doubling "
    "the ropes and checking the fenders, while the harbour master walked along the quay and "
    "warned the tourists to stay away from the sea wall. Within an hour the rain was falling so "
    "hard that the street lights looked like blurred candles, and the wind was strong enough to "
    "rattle every window in the old town. By midnight the worst had passed, leaving torn "
    "branches, flooded cellars and a long line of seaweed across the promenade. In the morning "
    "the children of the town ran down to the beach to see what the sea had thrown up.",
    "To make a good risotto, warm the stock in one pan while you soften a chopped onion in "
    "butter in another. Add the rice and stir it for a minute or two until the grains turn "
    "translucent at the edges, then pour in a glass of dry white wine and let it evaporate. Now "
    "add the hot stock one ladle at a time, stirring gently and waiting until each ladle has "
    "been absorbed before adding the next. After about eighteen minutes the rice should be "
    "creamy but still slightly firm in the centre. Take it off the heat, beat in cold butter and "
    "grated parmesan, and let it rest for two minutes before serving. A few leaves of fresh sage "
    "fried in butter make a simple and beautiful garnish.",
    "The Roman road network grew over several centuries into more than eighty thousand "
    "kilometres of paved highways that connected the provinces to the capital. Engineers laid a "
    "foundation of large stones, covered it with layers of gravel and sand, and topped it with "
    "tightly fitted paving slabs that shed rainwater to drains on either side. Milestones marked "
    "the distances, and way stations every few hours offered fresh horses to official "
    "messengers. The roads carried armies, merchants and ideas, and many modern European routes "
    "still follow the lines that the Romans surveyed two thousand years ago. Some of the "
    "original bridges are still in use today, carrying cars and lorries that their builders "
    "could never have imagined.",
    "Astronomers announced on Tuesday that a small rocky planet orbits a quiet red dwarf about "
    "forty light years from the Sun. The planet is slightly larger than the Earth and completes "
    "an orbit every twelve days, which places it close to the inner edge of its star's habitable "
    "zone. The discovery was made by measuring tiny, regular dips in the star's brightness as "
    "the planet passed in front of it, and was later confirmed by measuring the wobble of the "
    "star. The team now hopes to use a space telescope to look for water vapour and other gases "
    "in the planet's atmosphere during the next transit. If it finds them, the planet will "
    "become one of the most studied worlds outside the solar system.",
    "The home side dominated the first half but could not find a way through a well organised "
    "defence, and the teams went into the break without a goal. Ten minutes after the restart "
    "the visitors scored against the run of play when a long clearance bounced over the last "
    "defender and their striker lifted the ball over the advancing goalkeeper. The crowd grew "
    "restless as chance after chance went wide, until a header from a corner in the final minute "
    "of stoppage time earned a draw that felt like a victory. The coach praised the spirit of "
    "his young players but admitted that the finishing needed work. The two teams meet again in "
    "the cup next month, this time in front of the visiting supporters.",
    "Central banks raised interest rates again this quarter in an effort to bring inflation back "
    "towards their targets, and markets reacted with a mixture of relief and concern. Bond "
    "yields climbed to their highest level in more than a decade, mortgage costs rose for "
    "millions of households, and several large technology companies saw their share prices fall "
    "as investors reconsidered the value of profits expected far in the future. Economists "
    "remain divided on whether the tightening will cause a recession, but most agree that the "
    "labour market is cooling slowly rather than collapsing. Governments, meanwhile, face "
    "difficult choices about spending as the cost of their own debts rises along with everyone "
    "else's, and voters are watching closely.",
    "Doctors recommend that adults get at least one hundred and fifty minutes of moderate "
    "exercise every week, such as brisk walking, cycling or swimming, spread over several days. "
    "Regular activity lowers blood pressure, improves the way the body handles sugar, "
    "strengthens bones and muscles, and reduces the risk of heart disease, stroke and some "
    "cancers. It also helps with sleep and mood, and studies suggest that it may slow the "
    "decline of memory with age. People who have been inactive for a long time should start "
    "gently, increase the effort gradually, and talk to their doctor if they have a chronic "
    "illness. Even short walks after meals bring measurable benefits, and climbing stairs "
    "instead of taking the lift is a good start.",
    "We took the night train from Vienna and woke up to mountains covered in fresh snow. The "
    "small station where we got off had a wooden waiting room with a stove, and the owner of our "
    "guesthouse was waiting outside with a sledge for the luggage. For a week we walked between "
    "villages on paths that wound through pine forests and across frozen meadows, stopping at "
    "farms that sold cheese, bread and hot soup to passing hikers. On the last evening the "
    "clouds cleared and we watched the sun set behind the glacier, turning the whole valley pink "
    "and then deep blue. Nobody wanted to take the train home the next morning, and we promised "
    "ourselves that we would come back the following winter.",
]
CALIBRATION = [
    "Tomatoes need at least six hours of direct sunlight a day, deep and regular watering, and a "
    "rich soil that drains well. Plant them after the last frost, bury the stems deeper than "
    "they grew in the pot so that they form extra roots, and put in a strong stake or cage at "
    "the same time so that you do not damage the roots later. Pinch out the side shoots that "
    "appear between the main stem and the leaves, feed the plants every week once the first "
    "fruits have set, and water at the base rather than over the leaves to avoid disease. Pick "
    "the fruits as soon as they colour, and the plants will keep producing until the autumn.",
    "The orchestra opened the concert with an overture that the composer wrote in just three "
    "days, and the strings played it with a lightness that made the fast passages sound "
    "effortless. After the interval the soloist joined them for the violin concerto, and her "
    "slow movement was so quiet and so carefully shaped that the whole hall seemed to hold its "
    "breath. The evening ended with a symphony full of brass fanfares and thundering timpani, "
    "and the audience called the conductor back to the stage four times before the lights came "
    "up. Critics described it the next morning as the finest performance of the season, and the "
    "recording sold out within a week.",
    "A hash table stores values in an array and uses a hash function to turn each key into an "
    "index. When two keys land on the same index, the table must resolve the collision, either "
    "by keeping a short list at every slot or by probing for the next free slot. As long as the "
    "table is kept less than about three quarters full, lookups, insertions and deletions take "
    "constant time on average. When it grows fuller, the table allocates a larger array and "
    "moves every entry to its new position, which is expensive but happens rarely enough. Most "
    "programming languages provide such a table in their standard library under the name "
    "dictionary or map.",
    "The canyon walls expose nearly two billion years of the planet's history in layers of "
    "sandstone, limestone and shale. The oldest rocks at the bottom are dark schists formed deep "
    "underground, while the younger layers above were laid down in shallow seas, deserts and "
    "river deltas. Fossils of shells, ferns and the footprints of early reptiles appear in the "
    "upper layers. The river cut through all of this in only a few million years as the whole "
    "region was slowly lifted, and it continues to deepen the canyon a little every year. "
    "Visitors who hike down to the river and back need two days and plenty of water, especially "
    "in summer.",
    "The new library is built around a tall central hall lit from above by a glass roof, with "
    "reading rooms arranged on galleries that step back as they rise. The architects chose pale "
    "timber for the floors and shelves and left the concrete walls bare, so that the building "
    "feels calm and warm at the same time. Large windows face the park on the south side, while "
    "the north side, where the rare books are kept, has only narrow slits to protect them from "
    "the light. The building uses a quarter of the energy of the old one. On the roof, solar "
    "panels and a garden of wild flowers share the space with a small café that opens in summer.",
    "Deep below the surface of the ocean, where sunlight never reaches, strange animals survive "
    "in cold water under enormous pressure. Some fish carry lights on their heads to attract "
    "prey, others have huge mouths and stomachs that can swallow animals larger than themselves. "
    "Around hot springs on the sea floor, entire communities of worms, crabs and mussels live on "
    "bacteria that draw energy from chemicals rather than from the sun. Scientists believe that "
    "many species in these depths have never been seen by anyone. Every expedition with a new "
    "submersible brings back animals that have no name yet, and some that nobody expected to "
    "find alive.",
    "The first railways were built to carry coal from the mines to the rivers and the ports, and "
    "the early engines were slow, noisy and unreliable. Within a few decades, however, railways "
    "had spread across whole continents, cutting journeys that once took weeks down to a day or "
    "two. Towns grew up around the stations, fresh food could reach the cities before it "
    "spoiled, and the need for a common timetable led countries to adopt standard time zones so "
    "that every station clock showed the same hour. The railway also changed how people spent "
    "their holidays, as crowds of workers travelled to the seaside for the first time, and whole "
    "resort towns grew up at the end of the line.",
    "In the opening, each player tries to control the centre of the board, develop the knights "
    "and bishops quickly, and move the king to safety by castling. The middle game is about "
    "plans: attacking a weak pawn, opening a file for the rooks, or building pressure against "
    "the enemy king. When most of the pieces have been exchanged, the endgame begins, and the "
    "king becomes an active piece that helps to push a passed pawn towards promotion. Strong "
    "players study all three phases, but many games are decided by a single tactical mistake. "
    "Computers now play far better than any human, yet the game has never been more popular, and "
    "millions of people play online every day.",
]
SHORT = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A cheetah is running behind its prey.",
    "The new movie is awesome.",
    "The cat sits outside.",
    "I love pasta.",
    "Do you like pizza?",
    "The weather is lovely today, so we are going for a walk along the river after lunch.",
    "Stock markets fell sharply after the announcement.",
    "Please remember to switch off the lights when you leave the office.",
    "How many people live in the largest city of the country?",
    "Quantization stores each weight in eight bits instead of thirty-two.",
]

MATMUL_OPS = {  # the operators that do matrix products (for the profile split)
    "MatMul",
    "Gemm",
    "FusedMatMul",
    "FusedGemm",
    "MatMulInteger",
    "MatMulIntegerToFloat",
    "DynamicQuantizeMatMul",
    "QLinearMatMul",
    "MatMulNBits",
    "Attention",
    "QAttention",
    "Conv",
    "FusedConv",
    "ConvInteger",
    "QLinearConv",
}


@dataclass
class Variant:
    """One row: a graph (raw/pre/opt), how it is quantized (None: fp32) and session options."""

    name: str
    graph: str
    method: str | None = None  # None, "dynamic", "static", "nbits"
    options: dict = field(default_factory=dict)  # the quantizer's keyword arguments
    note: str = ""

    def recipe(self) -> str:
        return repr((self.graph, self.method, sorted(self.options.items(), key=str)))


def minilm_variants(quick: bool) -> list[Variant]:
    from onnxruntime.quantization import QuantFormat, QuantType

    pc = {"per_channel": True}
    static = {
        "quant_format": QuantFormat.QDQ,
        "per_channel": True,
        "activation_type": QuantType.QUInt8,
        "weight_type": QuantType.QInt8,
        "op_types_to_quantize": ["MatMul", "Gather"],
        "extra_options": {"MatMulConstBOnly": True},
    }
    nbits = {"bits": 4, "block_size": 32, "is_symmetric": True, "accuracy_level": 4}
    v = [
        Variant("fp32", "raw", note="exported graph, onnxruntime's own fusions"),
        Variant("int8 dynamic per-channel", "raw", "dynamic", pc, note="MatMulInteger, u8 x s8"),
    ]
    if quick:
        return v
    return v + [
        Variant("int8 dynamic per-tensor", "raw", "dynamic", {}, note="one scale per weight"),
        Variant(
            "int8 dynamic per-channel, reduce_range",
            "raw",
            "dynamic",
            {**pc, "reduce_range": True},
            note="7-bit weights",
        ),
        Variant(
            "int8 dynamic per-channel, asym weights",
            "raw",
            "dynamic",
            {**pc, "extra_options": {"WeightSymmetric": False}},
            note="int8 weights with zero points",
        ),
        Variant(
            "int8 dynamic per-channel, +QK/AV MatMuls",
            "raw",
            "dynamic",
            {**pc, "extra_options": {"MatMulConstBOnly": False}},
            note="activation x activation products too",
        ),
        Variant(
            "int8 dynamic per-channel, u8 weights",
            "raw",
            "dynamic",
            {**pc, "weight_type": QuantType.QUInt8},
            note="u8 x u8: no VNNI kernel",
        ),
        Variant(
            "int8 static QDQ per-channel, u8 act",
            "raw",
            "static",
            static,
            note="MinMax on 8 other paragraphs",
        ),
        Variant(
            "int8 static QDQ per-channel, s8 act",
            "raw",
            "static",
            {**static, "activation_type": QuantType.QInt8},
            note="s8 x s8",
        ),
        Variant(
            "int8 static QOperator per-channel",
            "raw",
            "static",
            {**static, "quant_format": QuantFormat.QOperator},
            note="QLinearMatMul",
        ),
        Variant(
            "int4 MatMulNBits blk32, int8 compute",
            "raw",
            "nbits",
            nbits,
            note="weight-only, accuracy_level 4",
        ),
        Variant(
            "int4 MatMulNBits blk32, fp32 compute",
            "raw",
            "nbits",
            {**nbits, "accuracy_level": 0},
            note="weight-only, accuracy_level 0",
        ),
        Variant(
            "int8 MatMulNBits blk32, int8 compute",
            "raw",
            "nbits",
            {**nbits, "bits": 8},
            note="weight-only, accuracy_level 4",
        ),
        Variant("fp32", "pre", note="quant_pre_process"),
        Variant("int8 dynamic per-channel", "pre", "dynamic", pc),
        Variant("fp32", "opt", note="transformer optimizer: fused attention, LN, gelu"),
        Variant("int8 dynamic per-tensor", "opt", "dynamic", {}, note="QAttention"),
        Variant("int8 dynamic per-channel", "opt", "dynamic", pc, note="QAttention"),
    ]


def cnn_variants(quick: bool) -> list[Variant]:
    from onnxruntime.quantization import QuantFormat, QuantType

    static = {
        "quant_format": QuantFormat.QDQ,
        "per_channel": True,
        "activation_type": QuantType.QUInt8,
        "weight_type": QuantType.QInt8,
    }
    v = [
        Variant("fp32", "raw"),
        Variant("int8 static QDQ per-channel, u8 act", "raw", "static", static, note="QLinearConv"),
    ]
    if quick:
        return v
    return v + [
        Variant(
            "int8 static QDQ per-channel, s8 act",
            "raw",
            "static",
            {**static, "activation_type": QuantType.QInt8},
        ),
        Variant(
            "int8 static QOperator per-channel",
            "raw",
            "static",
            {**static, "quant_format": QuantFormat.QOperator},
        ),
        Variant("int8 dynamic per-channel", "raw", "dynamic", {"per_channel": True}, "ConvInteger"),
    ]


# ---- inputs -------------------------------------------------------------------------------------


def minilm_inputs(quick: bool):
    """(timed feeds 8 x 128, calibration feed batches, accuracy batches)."""
    from inferlab.models import minilm

    tok = minilm.load().tokenizer
    timed = dict(tok(TIMED, max_length=SEQ, padding="max_length"))
    assert timed["attention_mask"].all(), "every timed paragraph should fill all 128 tokens"
    calib = dict(tok(CALIBRATION, max_length=SEQ, padding="max_length"))
    calib_batches = [
        {k: v[i : i + 2] for k, v in calib.items()} for i in range(0, len(CALIBRATION), 2)
    ]
    short = SHORT[:4] if quick else SHORT
    accuracy = [timed, dict(tok(short, max_length=SEQ))]  # short ones padded to the longest
    return timed, calib_batches, accuracy


def cnn_inputs():
    from inferlab import data

    split = data.digits_split()
    x_test = np.ascontiguousarray(split.x_test[:, None], dtype=np.float32)
    timed = {"x": x_test[:CNN_BATCH]}
    x_train = np.ascontiguousarray(split.x_train[:256, None], dtype=np.float32)
    calib = [{"x": x_train[i : i + 64]} for i in range(0, 256, 64)]
    return timed, calib, (x_test, split.y_test)


# ---- building the graphs and quantized files (cached) --------------------------------------------


def _key(*parts) -> str:
    import onnxruntime

    h = hashlib.sha256(f"ort {onnxruntime.__version__}".encode())
    h.update(Path(__file__).read_bytes())
    for p in parts:
        h.update(str(p).encode())
    return h.hexdigest()[:12]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def cached(folder: Path, stem: str, key: str, build) -> Path:
    """``folder/stem-key.onnx``, built by ``build(tmp_path)`` on first use (atomically); older
    files of the same stem are removed."""
    path = folder / f"{stem}-{key}.onnx"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        out = Path(tmp) / "model.onnx"
        root = logging.getLogger()
        level, root.level = root.level, logging.ERROR  # the quantizers' "consider pre-processing"
        try:
            build(out)
        finally:
            root.setLevel(level)
        os.replace(out, path)
    for old in folder.glob(f"{stem}-*.onnx"):  # the same stem with another key: stale
        if old != path and re.fullmatch(re.escape(stem) + r"-[0-9a-f]{12}\.onnx", old.name):
            old.unlink(missing_ok=True)
    return path


def _div_scale(model):
    """Rewrite ``MatMul(Q, K^T) * c`` (c a scalar constant) into ``MatMul(Q, K^T) / (1/c)``: the
    pattern the transformer optimizer's attention fusion knows. Returns the number rewritten."""
    import onnx
    from onnx import numpy_helper

    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    constants = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    initializers = {i.name: i for i in g.initializer}
    users: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)

    def scalar(name):
        if name in initializers:
            return numpy_helper.to_array(initializers[name])
        if name in constants:
            return numpy_helper.to_array(constants[name].attribute[0].t)
        return None

    rewritten = 0
    for n in g.node:
        if n.op_type != "Mul":
            continue
        feeds_softmax = any(
            u.op_type == "Add" and any(w.op_type == "Softmax" for w in users.get(u.output[0], []))
            for u in users.get(n.output[0], [])
        )
        if not feeds_softmax:
            continue
        for j in (0, 1):
            value, other = scalar(n.input[j]), n.input[1 - j]
            if value is None or value.size != 1 or producer.get(other) is None:
                continue
            if producer[other].op_type != "MatMul":
                continue
            name = f"{n.name or n.output[0]}_reciprocal_scale"
            recip = np.asarray(1.0 / value, dtype=value.dtype).reshape(value.shape)
            g.initializer.append(numpy_helper.from_array(recip, name))
            n.op_type = "Div"
            del n.input[:]
            n.input.extend([other, name])
            rewritten += 1
            break
    onnx.checker.check_model(model)
    return rewritten


def prepare_graph(name: str, graph: str, src: Path, folder: Path) -> Path:
    """The fp32 graph ``graph`` ("raw", "pre", "opt") of model ``name``."""
    if graph == "raw":
        return src

    def build_pre(out):
        from onnxruntime.quantization.shape_inference import quant_pre_process

        quant_pre_process(str(src), str(out), auto_merge=True)

    def build_opt(out):
        import onnx
        from onnxruntime.transformers.optimizer import optimize_model

        model = onnx.load(str(src))
        n = _div_scale(model)
        assert n == 6, f"expected 6 attention scales to rewrite, found {n}"
        with tempfile.TemporaryDirectory() as tmp:
            onnx.save(model, f"{tmp}/div.onnx")
            opt = optimize_model(
                f"{tmp}/div.onnx", model_type="bert", num_heads=12, hidden_size=384
            )
        stats = opt.get_fused_operator_statistics()
        assert stats["Attention"] == 6 and stats["EmbedLayerNormalization"] == 1, stats
        opt.save_model_to_file(str(out))

    build = {"pre": build_pre, "opt": build_opt}[graph]
    return cached(folder, f"{src.stem}-{graph}", _key(src.name, graph), build)


def quantize(v: Variant, fp32: Path, folder: Path, calib, src: Path) -> Path:
    """The quantized file of variant ``v``, built from the fp32 graph file ``fp32`` (the graph
    ``v.graph`` of the exported model ``src``)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, quantize_dynamic, quantize_static

    class Reader(CalibrationDataReader):  # quantize_static's calibration data: feed dicts
        def __init__(self, batches):
            self.batches = iter(batches)

        def get_next(self):
            return next(self.batches, None)

    def build(out):
        if v.method == "dynamic":
            extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}  # for contrib ops (opt graph)
            extra.update(v.options.get("extra_options", {}))
            quantize_dynamic(str(fp32), str(out), **{**v.options, "extra_options": extra})
        elif v.method == "static":
            quantize_static(str(fp32), str(out), Reader(calib), **v.options)
        elif v.method == "nbits":
            from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

            ops = ("MatMul", "Gather") if v.options["bits"] == 4 else ("MatMul",)  # Gather: 4 only
            q = MatMulNBitsQuantizer(onnx.load(str(fp32)), op_types_to_quantize=ops, **v.options)
            q.process()
            q.model.save_model_to_file(str(out))
        else:
            raise ValueError(v.method)

    graph = "" if v.graph == "raw" else f"-{v.graph}"
    stem = f"{src.stem}{graph}-{_slug(v.name)}"
    return cached(folder, stem, _key(fp32.name, v.recipe()), build)


# ---- measuring ----------------------------------------------------------------------------------


def session(path: Path, threads: int, level: str = "ORT_ENABLE_ALL", spinning: bool = True):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def sizes(path: Path) -> tuple[int, int]:
    """(file bytes, bytes of the initializers and Constant nodes: the weights, as stored: 4-bit
    types count half a byte per element)."""
    import onnx
    from onnx import numpy_helper

    def nbytes(t) -> int:
        if t.raw_data:
            return len(t.raw_data)
        n = numpy_helper.to_array(t)
        four_bit = {onnx.TensorProto.INT4, onnx.TensorProto.UINT4}
        return (n.size + 1) // 2 if t.data_type in four_bit else n.nbytes

    model = onnx.load(str(path))
    weights = sum(nbytes(t) for t in model.graph.initializer)
    for n in model.graph.node:
        if n.op_type == "Constant":
            weights += sum(nbytes(a.t) for a in n.attribute if a.name == "value")
    return path.stat().st_size, weights


def pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling: the average of the real (unmasked) tokens."""
    m = mask[..., None].astype(np.float64)
    return (hidden.astype(np.float64) * m).sum(1) / m.sum(1)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def time_rounds(runners: dict, repeat: int) -> dict[str, list[float]]:
    """Interleaved rounds: each runner once untimed, then once timed; the order rotates."""
    names, times = list(runners), {k: [] for k in runners}
    for r in range(repeat):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            runners[name]()
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
    return times


def profile_pair(paths: dict[str, Path], feeds: dict, runs: int = 5) -> dict:
    """onnxruntime's profile on one thread, the sessions run in turns: for each, the fastest of
    ``runs`` runs (the least disturbed by other programs), split into matrix products and the
    rest (ms), with its top operator types."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for name, path in paths.items():
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.enable_profiling = True
            options.profile_file_prefix = f"{tmp}/{name}"
            options.log_severity_level = 3
            sessions[name] = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        for _ in range(runs + 1):  # the first is a warm-up
            for s in sessions.values():
                s.run(None, feeds)
        events = {k: json.loads(Path(s.end_profiling()).read_text()) for k, s in sessions.items()}
    result = {}
    for name, evs in events.items():
        runs_ = [e for e in evs if e.get("cat") == "Session" and e["name"] == "model_run"][1:]
        best = min(runs_, key=lambda e: e["dur"])
        by_op: dict[str, float] = {}
        for e in evs:
            inside = best["ts"] <= e["ts"] <= best["ts"] + best["dur"]
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and inside:
                op = e["args"]["op_name"]
                by_op[op] = by_op.get(op, 0.0) + e["dur"] / 1e3
        total = best["dur"] / 1e3
        matmul = sum(ms for op, ms in by_op.items() if op in MATMUL_OPS)
        top = sorted(by_op.items(), key=lambda kv: -kv[1])[:6]
        result[name] = {
            "total_ms": total,
            "matmul_ms": matmul,
            "other_ms": total - matmul,
            "top": top,
        }
    return result


def run_model(model: str, variants, feeds, calib, evaluate, args, folder: Path) -> list[dict]:
    """Build every variant, check its accuracy, time all of them together per thread count."""
    from inferlab.bench.stats import ratio_ci
    from inferlab.reference.export import export_onnx

    src = export_onnx(model)
    paths, rows = {}, []
    for v in variants:
        start = time.perf_counter()
        fp32 = prepare_graph(model, v.graph, src, folder)
        q = None if v.method is None else quantize(v, fp32, folder, calib, src)
        paths[v.name, v.graph] = fp32 if q is None else q
        build_s = time.perf_counter() - start
        file_b, weight_b = sizes(paths[v.name, v.graph])
        rows.append(
            {
                "model": model,
                "variant": v.name,
                "graph": v.graph,
                "method": v.method or "fp32",
                "note": v.note,
                "file_bytes": file_b,
                "weight_bytes": weight_b,
                "build_s": round(build_s, 2),
                "timing": {},
            }
        )
    fp32_of = {r["graph"]: r for r in rows if r["method"] == "fp32"}
    ref = evaluate(session(src, 1), None)  # the exported fp32 model is the reference for all
    for r, v in zip(rows, variants, strict=True):
        base = fp32_of[r["graph"]]
        r["file_ratio"] = base["file_bytes"] / r["file_bytes"]
        r["weight_ratio"] = base["weight_bytes"] / r["weight_bytes"]
        r.update(evaluate(session(paths[v.name, v.graph], 1), ref))

    for threads in args.threads:
        sessions = {(v.name, v.graph): session(paths[v.name, v.graph], threads) for v in variants}
        runners = {k: (lambda s=s: s.run(None, feeds)) for k, s in sessions.items()}
        times = time_rounds(runners, args.repeat)
        fp32_keys = [k for k in times if k[0] == "fp32"]
        best_fp32 = min(fp32_keys, key=lambda k: np.median(times[k]))
        best_fp32_min = min(min(times[k]) for k in fp32_keys)
        for r, v in zip(rows, variants, strict=True):
            t = times[v.name, v.graph]
            base = times["fp32", v.graph]
            speed = ratio_ci(base, t)  # fp32 median / this median: > 1 is faster
            paired = np.median(np.asarray(base) / np.asarray(t))
            r["timing"][str(threads)] = {
                "median_ms": float(np.median(t)) * 1e3,
                "min_ms": min(t) * 1e3,
                "speedup": speed.estimate,
                "speedup_ci": [speed.low, speed.high],
                "speedup_paired": float(paired),
                "speedup_min": min(base) / min(t),
                "speedup_vs_best_fp32": float(np.median(times[best_fp32]) / np.median(t)),
                "best_fp32": f"fp32 [{best_fp32[1]}]",
                "speedup_min_vs_best_fp32": best_fp32_min / min(t),
                "times_ms": [x * 1e3 for x in t],
            }
        del sessions, runners
    return rows


def minilm_evaluate(batches):
    def evaluate(sess, ref):
        embeddings = np.concatenate(
            [pooled(sess.run(None, b)[0], b["attention_mask"]) for b in batches]
        )
        if ref is None:
            return embeddings
        c = cosines(embeddings, ref)
        return {"cos_mean": float(c.mean()), "cos_min": float(c.min()), "sentences": len(c)}

    return evaluate


def cnn_evaluate(test):
    x, y = test

    def evaluate(sess, ref):
        top1 = sess.run(None, {"x": x})[0].argmax(1)
        if ref is None:
            return top1
        return {
            "accuracy": float((top1 == y).mean()),
            "fp32_accuracy": float((ref == y).mean()),
            "agreement": float((top1 == ref).mean()),
            "images": len(y),
        }

    return evaluate


# ---- report -------------------------------------------------------------------------------------


def print_table(rows: list[dict], threads: list[int]) -> None:
    model = rows[0]["model"]
    acc = "cos mean / min" if model == "minilm" else "top-1 / agree"
    head = f"{'variant':<40} {'graph':<5} {'file':>8} {'w ratio':>7} {acc:>15}"
    for t in threads:
        head += f" | {t}T median  best  speed-up [95% CI]    best-of  vs best fp32"
    print(head)
    print("-" * len(head))
    for r in rows:
        if model == "minilm":
            a = f"{r['cos_mean']:.4f} / {r['cos_min']:.4f}"
        else:
            a = f"{r['accuracy']:.3f} / {r['agreement']:.3f}"
        line = (
            f"{r['variant']:<40} {r['graph']:<5} {r['file_bytes'] / 1e6:7.2f}M "
            f"{r['weight_ratio']:6.2f}x {a:>15}"
        )
        for t in threads:
            m = r["timing"][str(t)]
            ci = f"[{m['speedup_ci'][0]:.2f}, {m['speedup_ci'][1]:.2f}]"
            line += (
                f" | {m['median_ms']:9.2f} {m['min_ms']:6.2f} {m['speedup']:5.2f}x {ci:<12} "
                f"{m['speedup_min']:7.2f}x {m['speedup_vs_best_fp32']:12.2f}x"
            )
        print(line, flush=True)


def headline(rows: list[dict], threads: list[int], strict: bool = False) -> dict | None:
    """The int8 MiniLM variant to report. Candidates: weights at least 3.8x smaller and a
    pooled-embedding cosine to fp32 >= 0.99 (mean over the sentences; ``strict``: the worst
    sentence too). Score: the best-of speed-up over the fastest fp32 graph (best-of times are the
    least disturbed by other programs), geometric mean over the thread counts. Scores within 5 %
    of the top one are a tie on a shared machine: the most accurate of those wins."""
    key = "cos_min" if strict else "cos_mean"
    ok = [
        r
        for r in rows
        if r["method"] != "fp32" and r[key] >= GOAL_COSINE and r["weight_ratio"] >= 3.8
    ]
    if not ok:
        return None

    def score(r):
        speed = [r["timing"][str(t)]["speedup_min_vs_best_fp32"] for t in threads]
        return float(np.exp(np.mean(np.log(speed))))

    top = max(score(r) for r in ok)
    return max((r for r in ok if score(r) >= 0.95 * top), key=lambda r: r["cos_mean"])


def report_headline(best: dict, strict: dict | None, threads: list[int]) -> dict:
    per_thread, met = {}, True
    for t in threads:
        m = best["timing"][str(t)]
        per_thread[str(t)] = {
            k: m[k]
            for k in ("median_ms", "min_ms", "speedup", "speedup_ci", "speedup_min")
            + ("speedup_vs_best_fp32", "best_fp32", "speedup_min_vs_best_fp32")
        }
        met &= min(m["speedup"], m["speedup_min_vs_best_fp32"]) >= GOAL_SPEEDUP
    met &= best["weight_ratio"] >= 0.95 * GOAL_SIZE
    print(
        f"\nheadline: {best['variant']} [{best['graph']}] (the fastest int8, best-of, with "
        f"weights >= 3.8x smaller and mean cosine >= {GOAL_COSINE}; within 5 %, the most "
        f"accurate): weights {best['weight_ratio']:.2f}x smaller, cosine mean "
        f"{best['cos_mean']:.4f} min {best['cos_min']:.4f}"
    )
    for t, m in per_thread.items():
        print(
            f"  {t} thread(s): {m['median_ms']:.1f} ms, {m['speedup']:.2f}x vs fp32 of the same "
            f"graph [{m['speedup_ci'][0]:.2f}, {m['speedup_ci'][1]:.2f}] (best-of "
            f"{m['speedup_min']:.2f}x), vs the fastest fp32 {m['speedup_vs_best_fp32']:.2f}x "
            f"({m['best_fp32']}; best-of {m['speedup_min_vs_best_fp32']:.2f}x)"
        )
    verdict = "met" if met else "NOT met"
    print(
        f"  goal (>= {GOAL_SPEEDUP}x at every thread count: median vs the same graph's fp32 and "
        f"best-of vs the fastest fp32; ~{GOAL_SIZE:.0f}x smaller): {verdict}"
    )
    if strict is not None and strict is not best:
        print(
            f"  with the worst sentence >= {GOAL_COSINE} too: {strict['variant']} "
            f"[{strict['graph']}]"
        )
    elif strict is None:
        print(f"  no int8 variant keeps the worst sentence's cosine >= {GOAL_COSINE}")
    keys = ("variant", "graph", "weight_ratio", "file_ratio", "cos_mean", "cos_min")
    return {**{k: best[k] for k in keys}, "timing": per_thread, "goal_met": bool(met)}


def headline_paths(best: dict, calib, folder: Path) -> tuple[Path, Path]:
    """(fp32 file of the headline's graph, the headline's int8 file) (both cached)."""
    from inferlab.reference.export import export_onnx

    src = export_onnx("minilm")
    fp32 = prepare_graph("minilm", best["graph"], src, folder)
    v = next(
        x
        for x in minilm_variants(quick=False)
        if x.name == best["variant"] and x.graph == best["graph"]
    )
    return fp32, quantize(v, fp32, folder, calib, src)


def session_table(fp32: Path, int8: Path, feeds, threads: list[int], repeat: int) -> list[dict]:
    """fp32 and the headline int8 under onnxruntime's graph optimisation levels and with the
    intra-op pool spinning or not (``session.intra_op.allow_spinning``), interleaved together."""
    from inferlab.bench.stats import ratio_ci

    print(f"\nsession options, fp32 vs {int8.stem} (median ms, speed-up = fp32 / int8):")
    rows = []
    for n in threads:
        configs = [
            (level, spin)
            for level in ("ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL")
            for spin in ((True, False) if n > 1 else (True,))
        ]
        runners = {}
        for level, spin in configs:
            for kind, path in (("fp32", fp32), ("int8", int8)):
                s = session(path, n, level, spin)
                runners[kind, level, spin] = lambda s=s: s.run(None, feeds)
        times = time_rounds(runners, max(3, repeat // 2))
        for level, spin in configs:
            f, q = times["fp32", level, spin], times["int8", level, spin]
            speed = ratio_ci(f, q)
            row = {
                "threads": n,
                "level": level,
                "spinning": spin,
                "fp32_ms": float(np.median(f)) * 1e3,
                "int8_ms": float(np.median(q)) * 1e3,
                "speedup": speed.estimate,
                "speedup_ci": [speed.low, speed.high],
            }
            rows.append(row)
            print(
                f"  {n}T {level[4:]:<16} spinning {'on ' if spin else 'off'}  fp32 "
                f"{row['fp32_ms']:7.1f}  int8 {row['int8_ms']:6.1f}  {speed.estimate:5.2f}x "
                f"[{speed.low:.2f}, {speed.high:.2f}]",
                flush=True,
            )
    return rows


def profile_report(fp32: Path, int8: Path, feeds, graph: str) -> dict:
    prof = profile_pair({"fp32": fp32, "int8": int8}, feeds)
    f, q = prof["fp32"], prof["int8"]
    print(f"\nprofile, 1 thread, ms per run (onnxruntime kernel times, graph {graph}):")
    for name, p in prof.items():
        tops = ", ".join(f"{op} {ms:.1f}" for op, ms in p["top"])
        print(
            f"  {name:<5} total {p['total_ms']:7.1f}  matrix products {p['matmul_ms']:7.1f} "
            f"({p['matmul_ms'] / p['total_ms']:.0%})  other {p['other_ms']:6.1f}   top: {tops}"
        )
    bound = f["total_ms"] / q["other_ms"]
    print(
        f"  matrix products {f['matmul_ms'] / q['matmul_ms']:.2f}x faster in int8, the rest "
        f"{f['other_ms'] / q['other_ms']:.2f}x; if int8 products took no time at all, the "
        f"speed-up would be at most {bound:.2f}x"
    )
    prof["bound"] = bound
    return prof


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    p.add_argument("--repeat", type=int, default=None, help="timed rounds (default 12, quick 3)")
    p.add_argument("--models", default="minilm,cnn", help="comma-separated subset")
    p.add_argument("--quick", action="store_true", help="2 variants per model, 1 thread, 3 rounds")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--no-profile", action="store_true", help="skip the onnxruntime profile")
    args = p.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",") if t.strip()]
    if args.quick and args.threads == [1, 2]:
        args.threads = [1]
    if args.repeat is None:
        args.repeat = 3 if args.quick else 12
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    return args


def main(argv=None) -> dict:
    args = parse(argv)
    import onnxruntime

    from inferlab.reference.export import cache_dir

    start = time.perf_counter()
    folder = cache_dir() / "quant"
    print(
        f"onnxruntime {onnxruntime.__version__} int8 vs fp32, threads {args.threads}, median of "
        f"{args.repeat} interleaved rounds, load average before {os.getloadavg()[0]:.1f}"
        f"{' (quick)' if args.quick else ''}; files cached in {folder}"
    )
    result = {
        "onnxruntime": onnxruntime.__version__,
        "threads": args.threads,
        "repeat": args.repeat,
        "quick": args.quick,
        "load_before": os.getloadavg()[0],
        "models": {},
    }
    if "minilm" in args.models:
        feeds, calib, batches = minilm_inputs(args.quick)
        rows = run_model(
            "minilm",
            minilm_variants(args.quick),
            feeds,
            calib,
            minilm_evaluate(batches),
            args,
            folder,
        )
        print(
            f"\nMiniLM encoder, batch {BATCH} x {SEQ} tokens ('speed-up': fp32 of the same "
            "graph / this, medians; 'w ratio': fp32 weight bytes / these)"
        )
        print_table(rows, args.threads)
        result["models"]["minilm"] = rows
        best = headline(rows, args.threads)
        strict = headline(rows, args.threads, strict=True)
        if strict is not None:
            result["headline_strict"] = {"variant": strict["variant"], "graph": strict["graph"]}
        if best is not None:
            result["headline"] = report_headline(best, strict, args.threads)
            if not args.quick:
                fp32_path, int8_path = headline_paths(best, calib, folder)
                result["session_options"] = session_table(
                    fp32_path, int8_path, feeds, args.threads, args.repeat
                )
            if not args.no_profile:
                fp32_path, int8_path = headline_paths(best, calib, folder)
                result["profile"] = profile_report(fp32_path, int8_path, feeds, best["graph"])
    if "cnn" in args.models:
        feeds, calib, test = cnn_inputs()
        rows = run_model(
            "cnn", cnn_variants(args.quick), feeds, calib, cnn_evaluate(test), args, folder
        )
        print(f"\ndigits CNN, batch {CNN_BATCH} (accuracy on the {len(test[1])} test images)")
        print_table(rows, args.threads)
        result["models"]["cnn"] = rows
    result["seconds"] = time.perf_counter() - start
    print(f"\n({result['seconds']:.0f} s, load average after {os.getloadavg()[0]:.1f})")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
