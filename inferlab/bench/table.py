"""Benchmark results as a small text table (no pandas needed).

    >>> print(to_table(sweep_batch(...)))
    batch  latency   CI                   p99      items/s  items/s CI
        1  1.02 ms   [1.01 ms, 1.05 ms]   1.1 ms       980  [952, 990]
    ...

:class:`Table` prints as aligned text, renders as HTML in a notebook, and gives its rows back
as dicts (``to_dicts``) for asserts or for a DataFrame.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real

from inferlab.bench.timing import _fmt
from inferlab.errors import InvalidValueError

__all__ = ["Table", "format_cell", "to_table"]


def format_cell(value) -> str:
    """Integers as they are, other numbers to 3 significant digits, anything else ``str``."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return _fmt(float(value)) if math.isfinite(value) else str(float(value))
    return str(value)


@dataclass(frozen=True)
class Table:
    """``columns`` (names) and ``rows`` (tuples of raw values, one per column)."""

    columns: tuple[str, ...]
    rows: tuple[tuple, ...]
    title: str | None = None

    def __post_init__(self):
        columns = tuple(str(c) for c in self.columns)
        rows = tuple(tuple(r) for r in self.rows)
        for r in rows:
            if len(r) != len(columns):
                raise InvalidValueError(
                    f"Table row needs {len(columns)} values (one per column {columns}); got {r!r}"
                )
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "rows", rows)

    def to_dicts(self) -> list[dict]:
        """One dict per row, column name -> raw value."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def column(self, name: str) -> list:
        """The raw values of one column."""
        if name not in self.columns:
            raise InvalidValueError(f"Table has columns {self.columns}; got {name!r}")
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def __str__(self) -> str:
        cells = [[format_cell(v) for v in r] for r in self.rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(self.columns)]
        numeric = [
            all(isinstance(r[i], Real) and not isinstance(r[i], bool) for r in self.rows)
            for i in range(len(self.columns))
        ]

        def line(values) -> str:
            parts = [
                v.rjust(w) if num else v.ljust(w)
                for v, w, num in zip(values, widths, numeric, strict=True)
            ]
            return "  ".join(parts).rstrip()

        out = [self.title] if self.title else []
        out += [line(self.columns), line("-" * w for w in widths)]
        out += [line(r) for r in cells]
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(format_cell(v))}</td>" for v in r) + "</tr>"
            for r in self.rows
        )
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_table(records: Sequence, title: str | None = None) -> Table:
    """A :class:`Table` from records that know their columns (``COLUMNS`` and ``row()``:
    :class:`~inferlab.bench.sweep.BatchRecord`, :class:`~inferlab.bench.sweep.ThreadRecord`)
    or from dicts (their keys are the columns)."""
    records = list(records)
    if not records:
        raise InvalidValueError("to_table needs at least one record; got none")
    first = records[0]
    if isinstance(first, dict):
        columns = tuple(first)
        return Table(columns, tuple(tuple(r.get(c) for c in columns) for r in records), title)
    if not hasattr(first, "row") or not hasattr(first, "COLUMNS"):
        raise InvalidValueError(
            "to_table needs dicts or benchmark records (BatchRecord, ThreadRecord); "
            f"got {type(first).__name__}"
        )
    return Table(first.COLUMNS, tuple(r.row() for r in records), title)
