"""The device catalog: ``datasets/devices.csv`` read into Device objects (``inferlab.hw.device``).

    >>> h100 = device("h100")                 # case-insensitive; a unique part of the name will do
    >>> h100.peak["bf16"], h100.mem_bw        # SI units: FLOP/s and bytes/s
    (989400000000000.0, 3350000000000.0)
    >>> text = table([device("H100"), device("L4")])    # a plain-text table for a notebook

The file is long: one number per row, ``device,kind,quantity,value,unit,as_of,source,note``, so
every number carries its own unit, source and (for prices) date. Quantities are ``peak_<dtype>``
(dense), ``peak_<dtype>_sparse`` (a vendor's 2:4-sparse headline: kept, never used as a peak),
``mem_bw``, ``mem_capacity``, ``sram``, ``tdp`` and ``price_per_hour``. Units are converted to SI
here, at the edge (TFLOP/s -> 1e12 FLOP/s, GiB/s -> 2**30 B/s, MB -> 1e6 B, ...).

A malformed file fails loudly with :class:`CatalogError`, naming ``file:line``, the quantity, what
was expected and what was given: a catalog that silently mixed sparse and dense figures, or GB and
GiB, would shift every estimate built on it.
"""

from __future__ import annotations

import csv
import math
import re
from functools import lru_cache
from pathlib import Path

from inferlab.data import dataset_path
from inferlab.errors import InvalidValueError
from inferlab.hw.device import DTYPES, Device

__all__ = ["COLUMNS", "KINDS", "UNITS", "CatalogError", "device", "load_catalog", "names", "table",
           "to_rows"]  # fmt: skip

COLUMNS = ("device", "kind", "quantity", "value", "unit", "as_of", "source", "note")
KINDS = ("datacenter_gpu", "custom_asic", "cpu", "edge_gpu", "edge_cpu", "edge_soc", "phone_npu",
         "edge_asic")  # fmt: skip
_PEAK = {"TFLOP/s": 1e12, "TOPS": 1e12, "GFLOP/s": 1e9, "GOPS": 1e9}
_BYTES = {"GB": 1e9, "GiB": 2.0**30, "MB": 1e6, "MiB": 2.0**20, "KB": 1e3, "KiB": 2.0**10}
# Quantity -> {unit: factor to SI}; "peak" stands for every peak_<dtype> and peak_<dtype>_sparse.
UNITS = {"peak": _PEAK, "mem_bw": {"GB/s": 1e9, "GiB/s": 2.0**30, "TB/s": 1e12},
         "mem_capacity": _BYTES, "sram": _BYTES, "tdp": {"W": 1.0},
         "price_per_hour": {"USD/h": 1.0}}  # fmt: skip
_AS_OF = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


class CatalogError(InvalidValueError):
    """The device catalog (file or lookup) is wrong; the message says where and how."""


def _units(quantity: str) -> dict | None:
    """The allowed units of a quantity, or None if the quantity is unknown."""
    if quantity.startswith("peak_"):
        return _PEAK if quantity[5:].removesuffix("_sparse") in DTYPES else None
    return UNITS.get(quantity) if quantity != "peak" else None


def _check(path: Path, row: dict) -> float:
    """Validate one row; its value in SI units. CatalogError names file:line and the quantity."""
    quantity, unit, text = row["quantity"], row["unit"], row["value"]

    def error(what: str) -> CatalogError:
        return CatalogError(f"{path}:{row['line']}: {row['device']!r} {quantity}: {what}")

    if not row["device"]:
        raise error("missing device name; every row names its device")
    if row["kind"] not in KINDS:
        raise error(f"unknown kind; expected one of {', '.join(KINDS)}, got {row['kind']!r}")
    units = _units(quantity)
    if units is None:
        others = ", ".join(q for q in UNITS if q != "peak")
        expected = f"peak_<dtype>[_sparse] (dtype in {', '.join(DTYPES)}) or {others}"
        raise error(f"unknown quantity; expected {expected}, got {quantity!r}")
    if unit not in units:
        got = f"unit {unit!r} is not a unit of {quantity}" if unit else "missing unit"
        raise error(f"{got}; expected one of {', '.join(units)}")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise error(f"value must be a positive number; got {text!r}")
    if not row["source"]:
        raise error("missing source; every number needs one (a URL, a document, a file)")
    if quantity == "price_per_hour" and not row["as_of"]:
        raise error("a price needs its date; expected as_of YYYY-MM, got nothing")
    if row["as_of"] and not _AS_OF.fullmatch(row["as_of"]):
        raise error(f"as_of must be YYYY-MM; got {row['as_of']!r}")
    return value * units[unit]


def _parse(path: Path) -> dict[str, dict]:
    """Rows of the file validated and grouped by device: {name: {kind, line, rows: {q: row}}}."""
    devices: dict[str, dict] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != COLUMNS:
            raise CatalogError(f"{path}:1: expected the header {','.join(COLUMNS)}; got {header}")
        for fields in reader:
            if not any(s.strip() for s in fields):
                continue  # blank line
            if len(fields) != len(COLUMNS):
                raise CatalogError(
                    f"{path}:{reader.line_num}: expected {len(COLUMNS)} fields "
                    f"({','.join(COLUMNS)}); got {len(fields)}: {fields}"
                )
            row = dict(zip(COLUMNS, (s.strip() for s in fields), strict=True))
            row["line"] = reader.line_num
            row["si"] = _check(path, row)
            where = f"{path}:{row['line']}: {row['device']!r} {row['quantity']}"
            twin = next((n for n in devices if _key(n) == _key(row["device"])), row["device"])
            if twin != row["device"]:  # lookups ignore case and punctuation: names must differ
                raise CatalogError(f"{where}: device name clashes with {twin!r} (case/punctuation)")
            entry = devices.setdefault(row["device"], {"kind": row["kind"], "line": row["line"]})
            rows = entry.setdefault("rows", {})
            if entry["kind"] != row["kind"]:
                raise CatalogError(
                    f"{where}: kind {row['kind']!r} disagrees with {entry['kind']!r} given on "
                    f"line {entry['line']}"
                )
            if row["quantity"] in rows:
                first = rows[row["quantity"]]["line"]
                raise CatalogError(f"{where}: duplicate quantity; already given on line {first}")
            rows[row["quantity"]] = row
    return devices


def _build(path: Path, name: str, entry: dict) -> Device:
    rows, line = entry["rows"], entry["line"]
    peak, sparse = {}, {}
    for quantity, row in rows.items():
        if quantity.startswith("peak_"):
            dtype = quantity[len("peak_") :]
            if dtype.endswith("_sparse"):
                sparse[dtype.removesuffix("_sparse")] = row["si"]
            else:
                peak[dtype] = row["si"]
    if not peak:
        raise CatalogError(
            f"{path}:{line}: device {name!r} has no dense peak; expected at least one "
            f"peak_<dtype> row (sparse figures do not count), got {sorted(rows)}"
        )
    if "mem_bw" not in rows:
        raise CatalogError(
            f"{path}:{line}: device {name!r} has no mem_bw row; the roofline needs it"
        )
    for dtype in peak.keys() & sparse.keys():
        if peak[dtype] >= sparse[dtype]:  # the sparsity trap: a headline copied as a dense peak
            raise CatalogError(
                f"{path}:{rows['peak_' + dtype]['line']}: {name!r} peak_{dtype}: a dense peak must "
                f"be below the sparse figure ({sparse[dtype]:g} FLOP/s); got {peak[dtype]:g}"
            )

    def si(quantity):
        return rows[quantity]["si"] if quantity in rows else None

    price = rows.get("price_per_hour")
    return Device(
        name=name,
        kind=entry["kind"],
        peak=peak,
        mem_bw=rows["mem_bw"]["si"],
        mem_capacity=si("mem_capacity"),
        sram=si("sram"),
        tdp=si("tdp"),
        price_per_hour=price["si"] if price else None,
        price_as_of=price["as_of"] if price else None,
        sparse_peak=sparse,
        sources={q: row["source"] for q, row in rows.items()},
        notes="\n".join(f"{q}: {row['note']}" for q, row in rows.items() if row["note"]),
    )


@lru_cache(maxsize=1)
def _default() -> tuple[Device, ...]:
    return tuple(_load(dataset_path("devices.csv")))


def _load(path: Path) -> list[Device]:
    return [_build(path, name, entry) for name, entry in _parse(path).items()]


def load_catalog(path=None) -> dict[str, Device]:
    """Every device of the catalog, by name, in file order (default: ``datasets/devices.csv``).

    The default file is read once and cached; each call returns a new dict (Devices are frozen).
    """
    devices = _default() if path is None else _load(Path(path))
    return {d.name: d for d in devices}


def names(catalog: dict[str, Device] | None = None) -> list[str]:
    """Device names in catalog order."""
    return list(catalog if catalog is not None else load_catalog())


def _key(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())  # "H100-SXM" == "h100 sxm"


def device(name: str, catalog: dict[str, Device] | None = None) -> Device:
    """The device whose name is ``name`` or, failing that, the one whose name contains it.

    Case, spaces and punctuation are ignored ("h100sxm", "H100 SXM"). Zero or several matches are
    a :class:`CatalogError` listing the candidates.
    """
    catalog = catalog if catalog is not None else load_catalog()
    want = _key(str(name))
    exact = [n for n in catalog if _key(n) == want]
    found = exact or ([n for n in catalog if want in _key(n)] if want else [])
    if len(found) == 1:
        return catalog[found[0]]
    if not found:
        raise CatalogError(f"no device matches {name!r}; expected one of: {', '.join(catalog)}")
    raise CatalogError(
        f"{name!r} matches several devices: {', '.join(found)}; give more of the name"
    )


# to_rows key -> table header (display units).
_HEAD = dict(device="device", kind="kind", tflops_16bit="16b TFLOP/s", tops_int8="int8 TOPS",
             mem_bw_gbs="GB/s", mem_gb="GB", tdp_w="W", usd_per_hour="$/h",
             ridge="ridge FLOP/B")  # fmt: skip


def to_rows(devices=None) -> list[dict]:
    """One dict per device in display units (TFLOP/s, TOPS, GB/s, GB, W, USD/h, FLOP/byte).

    ``devices``: a catalog dict, a list of Devices, or None for the whole catalog. ``ridge`` uses
    the 16-bit peak (bf16, else fp16), or int8 where a device has no 16-bit peak (``ridge_dtype``
    says which). Dense peaks only; a value not published is None.
    """
    devices = load_catalog() if devices is None else devices
    rows = []
    for d in devices.values() if isinstance(devices, dict) else devices:
        half, int8 = d.peak.get("bf16", d.peak.get("fp16")), d.peak.get("int8")
        ridge, ridge_dtype = (half, "16-bit") if half else (int8, "int8")
        values = (half, int8, d.mem_bw, d.mem_capacity, d.tdp, d.price_per_hour, ridge)
        scale = (1e12, 1e12, 1e9, 1e9, 1.0, 1.0, d.mem_bw)
        row = {"device": d.name, "kind": d.kind}
        for key, v, s in zip(list(_HEAD)[2:], values, scale, strict=True):
            row[key] = None if v is None else v / s
        rows.append({**row, "ridge_dtype": ridge_dtype if ridge else None})
    return rows


def table(devices=None) -> str:
    """:func:`to_rows` as a plain-text table; ``*`` marks a ridge point taken from int8."""
    cells = [list(_HEAD.values())]
    for r in to_rows(devices):
        cells.append([r["device"], r["kind"]])
        cells[-1] += ["-" if r[k] is None else f"{r[k]:.4g}" for k in list(_HEAD)[2:]]
        cells[-1][-1] += "*" if r["ridge_dtype"] == "int8" else ""
    widths = [max(len(row[i]) for row in cells) for i in range(len(_HEAD))]
    lines = [
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    if any(row[-1].endswith("*") for row in cells[1:]):
        lines.append("* ridge point from the int8 peak (no 16-bit peak published)")
    return "\n".join(lines)
