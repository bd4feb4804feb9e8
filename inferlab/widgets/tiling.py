"""Widget: matmul tiling and the cache (chapter 01). Pure functions, then the UI builder."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from inferlab.errors import InvalidValueError

# Fallback cache sizes when /sys does not say: a typical recent Xeon core (48 KiB L1d, 2 MiB L2).
_DEFAULT_L1 = 48 * 1024
_DEFAULT_L2 = 2 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# matmul tiling
# --------------------------------------------------------------------------------------------


def cache_sizes() -> dict[str, int]:
    """Per-core data cache sizes in bytes, ``{"L1": ..., "L2": ...}``, from Linux's /sys.

    Falls back to a typical recent Xeon core (48 KiB L1d, 2 MiB L2) elsewhere.
    """
    sizes = {"L1": _DEFAULT_L1, "L2": _DEFAULT_L2}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    try:
        for idx in sorted(base.glob("index*")):
            level = (idx / "level").read_text().strip()
            kind = (idx / "type").read_text().strip()
            size = (idx / "size").read_text().strip().upper()
            if kind == "Instruction" or level not in ("1", "2"):
                continue
            mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(size[-1:], 1)
            sizes["L" + level] = int(size.rstrip("KMG")) * mult
    except (OSError, ValueError):
        pass
    return sizes


@dataclass(frozen=True)
class TilingStats:
    """What tiling an (m, k) @ (k, n) matmul into tile x tile blocks does to memory traffic.

    Loop order: for each C tile (i, j), loop over k tiles; the C tile stays in cache, and each
    tile product loads one A tile and one B tile. So A is read ``tiles_n`` times, B ``tiles_m``
    times and C written once: ``bytes_moved = itemsize * (tiles_n*m*k + tiles_m*k*n + m*n)``.
    tile = 1 is the untiled loop (about 1/itemsize FLOP per byte); bigger tiles reuse each loaded
    number ``tile`` times, until the working set no longer fits in a cache.
    """

    m: int
    n: int
    k: int
    tile: int
    itemsize: int
    tiles_m: int
    tiles_n: int
    tiles_k: int
    tile_products: int
    working_set_bytes: int
    flops: int
    bytes_moved: int
    fits_in: str

    @property
    def intensity(self) -> float:
        """Arithmetic intensity of the whole tiled matmul, FLOP per byte moved from memory."""
        return self.flops / self.bytes_moved

    @property
    def tile_intensity(self) -> float:
        """FLOP per byte one full tile product loads: 2t^3 / (2t^2 * itemsize) = t / itemsize."""
        t = self.tile
        return (2 * t**3) / (2 * t * t * self.itemsize)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def tiling_stats(m: int, n: int, k: int, tile: int, itemsize: int = 4, caches=None) -> TilingStats:
    """Tile counts, working set, bytes moved and intensity of a tiled (m, k) @ (k, n) matmul."""
    m, n, k = (_positive_int(name, v) for name, v in (("m", m), ("n", n), ("k", k)))
    tile = _positive_int("tile", tile)
    itemsize = _positive_int("itemsize", itemsize)
    caches = cache_sizes() if caches is None else caches
    tm, tn, tk = (-(-m // tile), -(-n // tile), -(-k // tile))
    bm, bn, bk = min(tile, m), min(tile, n), min(tile, k)
    ws = itemsize * (bm * bk + bk * bn + bm * bn)
    fits = "memory"
    for level in sorted(caches, reverse=True):  # L2 first, then L1: keep the smallest that fits
        if ws <= caches[level]:
            fits = level
    return TilingStats(
        m=m,
        n=n,
        k=k,
        tile=tile,
        itemsize=itemsize,
        tiles_m=tm,
        tiles_n=tn,
        tiles_k=tk,
        tile_products=tm * tn * tk,
        working_set_bytes=ws,
        flops=2 * m * n * k,
        bytes_moved=itemsize * (tn * m * k + tm * k * n + m * n),
        fits_in=fits,
    )


def _fmt_bytes(b: float) -> str:
    for unit, div in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if b >= div:
            return f"{b / div:.1f} {unit}"
    return f"{b:.0f} B"


def matmul_tiling_text(m: int = 1024, n: int = 1024, k: int = 1024, tile: int = 64, caches=None):
    """The one-line summary the widget shows (tile products, working set, intensity)."""
    s = tiling_stats(m, n, k, tile, caches=caches)
    where = "fits in " + s.fits_in if s.fits_in != "memory" else "spills out of L2"
    return (
        f"tile {s.tile}: {s.tile_products} tile products · working set "
        f"{_fmt_bytes(s.working_set_bytes)} ({where}) · moves {_fmt_bytes(s.bytes_moved)} · "
        f"intensity = {s.intensity:.1f} FLOP/byte"
    )


def matmul_tiling_figure(
    m: int = 1024, n: int = 1024, k: int = 1024, tile: int = 64, caches=None
) -> Figure:
    """Left: C's tile grid (one tile and the A/B strips it reads). Right: working set and
    intensity against tile size, with this CPU's L1/L2 sizes."""
    caches = cache_sizes() if caches is None else caches
    s = tiling_stats(m, n, k, tile, caches=caches)
    fig = Figure(figsize=(10, 3.8))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})

    # Left: C (m x n) with its tile grid; the first tile highlighted.
    ax.add_patch(Rectangle((0, 0), n, m, fill=False, lw=1.5))
    if s.tiles_m * s.tiles_n <= 4096:
        for i in range(1, s.tiles_m):
            ax.axhline(i * tile, color="grey", lw=0.5)
        for j in range(1, s.tiles_n):
            ax.axvline(j * tile, color="grey", lw=0.5)
    ax.add_patch(Rectangle((0, 0), min(tile, n), min(tile, m), color="tab:orange", alpha=0.8))
    ax.set_xlim(0, n)
    ax.set_ylim(m, 0)
    ax.set_aspect("equal")
    ax.set_xlabel("n")
    ax.set_ylabel("m")
    ax.set_title(
        f"C = A @ B: {s.tiles_m} x {s.tiles_n} tiles, {s.tiles_k} k-steps each", fontsize=9
    )

    # Right: working set (bytes) and intensity vs tile size.
    top = max(m, n, k)
    tiles = sorted({2**e for e in range(0, int(math.log2(top)) + 2)} | {tile})
    stats = [tiling_stats(m, n, k, t, caches=caches) for t in tiles]
    ax2.loglog(tiles, [x.working_set_bytes for x in stats], "o-", color="tab:blue", ms=3)
    ax2.set_xscale("log", base=2)
    for (name, size), color in zip(
        sorted(caches.items()), ("tab:green", "tab:olive"), strict=False
    ):
        ax2.axhline(size, color=color, ls="--", lw=1)
        ax2.text(tiles[0], size * 1.15, f"{name} = {_fmt_bytes(size)}", color=color, fontsize=8)
    ax2.axvline(tile, color="tab:orange", lw=1.5, label=f"tile = {tile}")
    spill = [t for t, x in zip(tiles, stats, strict=True) if x.fits_in == "memory"]
    if spill:
        ax2.axvspan(spill[0], tiles[-1], color="tab:red", alpha=0.08, label="tiles spill out of L2")
    ax2.set_xlabel("tile size (tile x tile blocks)")
    ax2.set_ylabel("working set: A + B + C tiles (bytes)", color="tab:blue")
    ax3 = ax2.twinx()
    ax3.loglog(tiles, [x.intensity for x in stats], "s--", color="tab:red", ms=3)
    ax3.set_ylabel("intensity (FLOP/byte from memory)", color="tab:red")
    ax2.legend(loc="lower right", fontsize=8)
    ax2.set_title(
        f"{m}x{k} @ {k}x{n}, tile {tile}: working set {_fmt_bytes(s.working_set_bytes)}, "
        f"{s.intensity:.1f} FLOP/byte",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def matmul_tiling_ui(size: int = 1024, tile: int = 64):
    """Size and tile sliders, a stats label and the figure; returns the VBox.

    Layout: ``ui.children == (size_slider, tile_slider, label, output)``; the label has CSS class
    ``inferlab-tiling-text`` and the container ``inferlab-tiling-ui``.
    """
    import ipywidgets as w
    from IPython.display import display

    _positive_int("size", size)
    _positive_int("tile", tile)
    caches = cache_sizes()
    size_slider = w.IntSlider(
        value=size,
        min=64,
        max=4096,
        step=64,
        description="m = n = k",
        continuous_update=False,
        style={"description_width": "initial"},
    )
    tile_slider = w.IntSlider(
        value=tile,
        min=8,
        max=512,
        step=8,
        description="tile",
        continuous_update=False,
        style={"description_width": "initial"},
    )
    label = w.HTML()
    label.add_class("inferlab-tiling-text")

    def update(size, tile):
        display(matmul_tiling_figure(size, size, size, tile, caches=caches))
        label.value = matmul_tiling_text(size, size, size, tile, caches=caches)

    out = w.interactive_output(update, {"size": size_slider, "tile": tile_slider})
    ui = w.VBox([size_slider, tile_slider, label, out])
    ui.add_class("inferlab-tiling-ui")
    return ui
