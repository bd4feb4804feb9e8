"""The device catalog: the shipped datasets/devices.csv (sources, dense vs sparse, dated prices,
published ridge points), every validation error on a tiny file, lookup and the display table."""

from __future__ import annotations

import csv

import pytest

from inferlab import data
from inferlab.errors import InvalidValueError
from inferlab.hw import catalog
from inferlab.hw.catalog import CatalogError, device, load_catalog

HEADER = "device,kind,quantity,value,unit,as_of,source,note"
GOOD = [  # one valid device: the rows a test file starts from (lines 2-3)
    "Tiny,cpu,peak_fp32,2,TFLOP/s,,tiny datasheet,",
    "Tiny,cpu,mem_bw,100,GB/s,,tiny datasheet,",
]


def write(tmp_path, *rows, header=HEADER, good=True):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *(GOOD if good else []), *rows]) + "\n")
    return path


def shipped_rows() -> list[dict]:
    with open(data.dataset_path("devices.csv"), newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- the shipped catalog


def test_catalog_covers_every_kind_of_device():
    cat = load_catalog()
    assert len(cat) >= 19
    kinds = {d.kind for d in cat.values()}
    assert {"datacenter_gpu", "custom_asic", "cpu"} <= kinds
    assert kinds & {"edge_gpu", "edge_cpu", "edge_soc", "phone_npu", "edge_asic"}
    assert kinds <= set(catalog.KINDS)
    for name in ("H100", "H200", "B200", "A100", "L4", "T4", "MI300X", "v5e", "v6e"):
        device(name)
    for name in ("Inferentia2", "trn1", "Trainium2", "8480", "Apple M4 Max", "Orin Nano"):
        device(name)
    for name in ("Raspberry Pi 5", "Snapdragon", "Coral"):
        device(name)
    assert catalog.names() == list(cat)


def test_every_row_has_a_source_and_every_price_a_date():
    rows = shipped_rows()
    assert rows and all(r["source"].strip() for r in rows)
    prices = [r for r in rows if r["quantity"] == "price_per_hour"]
    assert len(prices) >= 5 and all(r["as_of"] for r in prices)
    for d in load_catalog().values():
        assert set(d.sources) >= {"mem_bw", *(f"peak_{t}" for t in d.peak)}
        assert (d.price_per_hour is None) == (d.price_as_of is None)


def test_h100_dense_peak_and_published_ridge_points():
    h100 = device("H100 SXM")
    assert h100.peak["bf16"] == pytest.approx(989.4e12)
    assert h100.sparse_peak["bf16"] == pytest.approx(1978.9e12)  # kept, flagged, not a peak
    assert h100.mem_bw == pytest.approx(3.35e12)
    assert h100.price_per_hour == pytest.approx(55.04 / 8) and h100.price_as_of == "2025-06"
    for name, ridge in [("H100", 295), ("A100", 153), ("L4", 403), ("TPU v5e", 240)]:
        assert device(name).ridge_point("bf16") == pytest.approx(ridge, rel=0.01), name


def test_no_dense_peak_is_a_sparse_headline():
    for d in load_catalog().values():
        for dtype, sparse in d.sparse_peak.items():
            if dtype in d.peak:
                assert d.peak[dtype] < sparse, (d.name, dtype)
    # the raw file too: no dense row repeats a sparse row's number for the same device and format
    rows = shipped_rows()
    sparse = {
        (r["device"], r["quantity"].removeprefix("peak_").removesuffix("_sparse")): r["value"]
        for r in rows
        if r["quantity"].endswith("_sparse")
    }
    for r in rows:
        key = (r["device"], r["quantity"][5:])
        if r["quantity"].startswith("peak_") and key in sparse:
            assert float(r["value"]) != float(sparse[key]), key


def test_units_are_converted_to_si():
    inf2 = device("Inferentia2")
    assert inf2.mem_bw == 820 * 2**30  # recorded as GiB/s, as AWS's page says
    assert inf2.mem_capacity == 32 * 2**30
    assert device("Coral").sram == 8e6 and device("Coral").mem_bw == 0.5e9
    assert device("Raspberry Pi 5").peak["fp32"] == pytest.approx(153.6e9)  # GFLOP/s
    assert not device("T4").has("bf16") and device("A100").has("bf16")
    assert "DERIVED" in device("Orin Nano").notes


def test_default_catalog_is_cached_but_callers_get_fresh_dicts():
    one = load_catalog()
    one.clear()
    two = load_catalog()
    assert len(two) >= 19 and two["H100 SXM"] is load_catalog()["H100 SXM"]


def test_table_lists_devices_in_display_units():
    text = catalog.table()
    assert "H100 SXM" in text and "989.4" in text and "295.3" in text
    assert "8000*" in text and "int8 peak" in text  # Coral: ridge from int8, flagged
    rows = catalog.to_rows([device("L4")])
    assert rows[0]["tflops_16bit"] == pytest.approx(121) and rows[0]["ridge"] == pytest.approx(
        403.3, rel=1e-3
    )
    assert catalog.to_rows({"x": device("Coral")})[0]["ridge_dtype"] == "int8"


# ---------------------------------------------------------------- lookup


def test_lookup_exact_substring_ambiguous_unknown(tmp_path):
    assert device("h100").name == "H100 SXM"
    assert device("h100-sxm").name == "H100 SXM"  # case, spaces, punctuation ignored
    assert device("L4").name == "L4" and device("T4").name == "T4"
    assert device("apple m4").name == "Apple M4"  # exact beats substring
    with pytest.raises(CatalogError, match=r"'M4' matches several devices: Apple M4, Apple M4 Max"):
        device("M4")
    with pytest.raises(CatalogError, match="several devices.*TPU v5e.*Coral Edge TPU"):
        device("tpu")
    with pytest.raises(CatalogError, match=r"no device matches 'H900'; expected one of: H100 SXM"):
        device("H900")
    with pytest.raises(InvalidValueError, match="no device matches"):
        device("")
    tiny = load_catalog(write(tmp_path))
    assert device("tin", catalog=tiny).name == "Tiny"


# ---------------------------------------------------------------- validation


def test_a_valid_tiny_file_loads(tmp_path):
    path = write(
        tmp_path,
        "",  # blank lines are skipped
        "Tiny,cpu,peak_bf16,4000,GFLOP/s,,tiny datasheet,DERIVED",
        "Tiny,cpu,peak_bf16_sparse,8,TFLOP/s,,tiny datasheet,2:4",
        "Tiny,cpu,sram,2,MiB,,tiny datasheet,",
        "Tiny,cpu,mem_capacity,16,KiB,,tiny datasheet,",
        "Tiny,cpu,price_per_hour,0.5,USD/h,2025-06,tiny cloud,",
        "Other,edge_asic,peak_int8,4,TOPS,,x,",
        "Other,edge_asic,mem_bw,1,TB/s,,x,",
    )
    cat = load_catalog(path)
    assert list(cat) == ["Tiny", "Other"]
    tiny = cat["Tiny"]
    assert tiny.peak == {"fp32": 2e12, "bf16": 4e12} and tiny.sparse_peak == {"bf16": 8e12}
    assert tiny.sram == 2 * 2**20 and tiny.mem_capacity == 16 * 2**10
    assert tiny.price_per_hour == 0.5 and tiny.price_as_of == "2025-06"
    assert tiny.sources["price_per_hour"] == "tiny cloud" and "peak_bf16: DERIVED" in tiny.notes
    assert cat["Other"].mem_bw == 1e12


@pytest.mark.parametrize(
    "row, message",
    [
        ("Tiny,cpu,tdp,300,,,src,", r"bad\.csv:4: 'Tiny' tdp: missing unit; expected one of W"),
        (
            "Tiny,cpu,mem_bw2,1,GB/s,,src,",
            r":4: 'Tiny' mem_bw2: unknown quantity; expected peak_<dtype>.*got 'mem_bw2'",
        ),
        ("Tiny,cpu,peak_fp64,1,TFLOP/s,,src,", r"unknown quantity.*got 'peak_fp64'"),
        (
            "Tiny,cpu,tdp,300,TFLOP/s,,src,",
            r":4: 'Tiny' tdp: unit 'TFLOP/s' is not a unit of tdp; expected one of W",
        ),
        ("Tiny,cpu,sram,1,GB/s,,src,", r"unit 'GB/s' is not a unit of sram; expected one of GB"),
        ("Tiny,cpu,tdp,-5,W,,src,", r"tdp: value must be a positive number; got '-5'"),
        ("Tiny,cpu,tdp,0,W,,src,", r"value must be a positive number; got '0'"),
        ("Tiny,cpu,tdp,fast,W,,src,", r"value must be a positive number; got 'fast'"),
        ("Tiny,cpu,tdp,nan,W,,src,", r"value must be a positive number; got 'nan'"),
        ("Tiny,cpu,tdp,300,W,,,", r":4: 'Tiny' tdp: missing source"),
        (
            "Tiny,cpu,price_per_hour,1.5,USD/h,,aws,",
            r"price_per_hour: a price needs its date; expected as_of YYYY-MM, got nothing",
        ),
        ("Tiny,cpu,price_per_hour,1.5,USD/h,June 2025,aws,", r"as_of must be YYYY-MM; got 'June"),
        ("Tiny,gpu,tdp,300,W,,src,", r"unknown kind; expected one of datacenter_gpu.*got 'gpu'"),
        (
            "Tiny,edge_cpu,tdp,300,W,,src,",
            r":4: 'Tiny' tdp: kind 'edge_cpu' disagrees with 'cpu' given on line 2",
        ),
        (
            "Tiny,cpu,mem_bw,200,GB/s,,src,",
            r":4: 'Tiny' mem_bw: duplicate quantity; already given on line 3",
        ),
        (
            "Tiny,cpu,peak_fp32_sparse,2,TFLOP/s,,src,",
            r":2: 'Tiny' peak_fp32: a dense peak must be below the sparse figure",
        ),
        ("Tiny,cpu,tdp,300,W,,src", r":4: expected 8 fields.*got 7"),
        ("tiny,cpu,tdp,300,W,,src,", r":4: 'tiny' tdp: device name clashes with 'Tiny'"),
        (",cpu,tdp,300,W,,src,", r"missing device name"),
    ],
)
def test_each_validation_error_names_file_line_and_what(tmp_path, row, message):
    with pytest.raises(CatalogError, match=message):
        load_catalog(write(tmp_path, row))


def test_devices_without_a_dense_peak_or_bandwidth_are_refused(tmp_path):
    only_sparse = write(
        tmp_path,
        "Sparse,edge_gpu,peak_int8_sparse,67,TOPS,,src,",
        "Sparse,edge_gpu,mem_bw,102,GB/s,,src,",
    )
    with pytest.raises(CatalogError, match=r":4: device 'Sparse' has no dense peak; expected"):
        load_catalog(only_sparse)
    no_bw = write(tmp_path, "NoBW,cpu,peak_fp32,1,TFLOP/s,,src,")
    with pytest.raises(CatalogError, match=r"bad\.csv:4: device 'NoBW' has no mem_bw row"):
        load_catalog(no_bw)


def test_a_wrong_header_is_refused(tmp_path):
    path = write(tmp_path, header="device,kind,quantity,value,unit,source", good=False)
    with pytest.raises(CatalogError, match=r"bad\.csv:1: expected the header device,kind"):
        load_catalog(path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(CatalogError, match="expected the header"):
        load_catalog(tmp_path / "empty.csv")
    assert issubclass(CatalogError, InvalidValueError)
