"""The results table: one row per point, columns = the axes plus the stats totals.

``write_results_csv`` streams rows from points.jsonl in point order (it keeps one byte offset per
point, never the records); ``load_results`` reads results.csv back as a :class:`SweepResults`,
the object the plotting functions take.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from accelsim.atomic import atomic_writer
from accelsim.errors import ConfigError
from accelsim.sweep.store import POINTS, read_meta, scan
from accelsim.sweep.worker import TOTAL_COLUMNS

RESULTS = "results.csv"
FIXED_BEFORE = ("point",)
FIXED_AFTER = ("status",)


def columns_for(axes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (*FIXED_BEFORE, *axes, *FIXED_AFTER, *TOTAL_COLUMNS, "error")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)           # shortest round-trip form: same float -> same text
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _row(record: dict, axes: list[str]) -> list[str]:
    totals = record.get("totals") or {}
    return ([_cell(record["point"])] + [_cell(record["axes"].get(a)) for a in axes] + [_cell(record["status"])]
            + [_cell(totals.get(c)) for c in TOTAL_COLUMNS] + [_cell(record.get("error"))])


def records_in_order(out_dir: Path) -> Iterator[dict]:
    """Every recorded point's record, by point number, holding one record in memory at a time."""
    path = out_dir / POINTS
    offsets: dict[int, int] = {}
    for offset, _number, record in scan(path):
        if record is not None:
            offsets.setdefault(record["point"], offset)
    if not offsets:
        return
    with open(path, "rb") as fh:
        for index in sorted(offsets):
            fh.seek(offsets[index])
            yield json.loads(fh.readline())


def write_results_csv(out_dir: str | Path) -> Path:
    """(Re)write results.csv from points.jsonl, atomically. Returns its path."""
    out_dir = Path(out_dir)
    meta = read_meta(out_dir)
    axes = [k for g in meta["groups"] for k in g["keys"]]
    target = out_dir / RESULTS
    with atomic_writer(target, newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns_for(axes))
        for record in records_in_order(out_dir):
            w.writerow(_row(record, axes))
    return target


# --------------------------------------------------------------------------------------------
# reading back

def parse_cell(text: str) -> Any:
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return text


@dataclass(frozen=True)
class SweepResults:
    """A sweep's results table plus how its axes were grouped (zipped keys share a group)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    groups: tuple[tuple[str, ...], ...]       # axis keys per group, in sweep order
    sizes: tuple[int, ...]                    # values per group: point = mixed-radix number of coords
    relative: tuple[str, ...] = ()            # axes given as {times: k} (their values follow the arch)
    # per relative axis, the label of each of its group's values as written ("x2"; "256" if absolute)
    relative_labels: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def label_of(self, key: str, row: tuple) -> str:
        """How a row's setting of ``key`` reads in titles and file names: the sweep file's value
        for a relative axis ({times: 2} -> x2), else the row's value."""
        labels = dict(self.relative_labels).get(key)
        if labels is not None:
            group = next(i for i, g in enumerate(self.groups) if key in g)
            return labels[self.coords(row)[group]]
        return str(row[self.columns.index(key)])

    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(k for g in self.groups for k in g)

    def column(self, name: str) -> list[Any]:
        if name not in self.columns:
            raise ConfigError(f"results have no column {name!r}; columns: {', '.join(self.columns)}")
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def where(self, **equal: Any) -> SweepResults:
        """Rows whose columns equal the given values (``where(batch=16)``)."""
        idx = {}
        for k in equal:
            if k not in self.columns:
                raise ConfigError(f"results have no column {k!r}; columns: {', '.join(self.columns)}")
            idx[k] = self.columns.index(k)
        rows = tuple(r for r in self.rows if all(r[idx[k]] == v for k, v in equal.items()))
        return replace(self, rows=rows)

    def coords(self, row: tuple) -> tuple[int, ...]:
        """The value index of each axis group for one row (from its point number)."""
        from accelsim.sweep.points import coords_of

        return coords_of(row[self.columns.index("point")], self.sizes)

    def ok(self) -> SweepResults:
        return self.where(status="ok")


def load_results(out_dir: str | Path) -> SweepResults:
    """results.csv of a sweep directory (write it first if the sweep was interrupted)."""
    out_dir = Path(out_dir)
    meta = read_meta(out_dir)
    path = out_dir / RESULTS
    if not path.exists():
        raise ConfigError("no results.csv: run `accelsim sweep ... --resume` to finish the sweep", source=str(out_dir))
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ConfigError("empty results table", source=str(path)) from None
        rows = tuple(tuple(parse_cell(c) if h not in ("status", "error") else c for h, c in zip(header, row))
                     for row in reader)
    groups = tuple(tuple(g["keys"]) for g in meta["groups"])
    sizes = tuple(len(g["values"]) for g in meta["groups"])
    relative = tuple(k for g in meta["groups"] for i, k in enumerate(g["keys"])
                     if any(isinstance(row[i], dict) for row in g["values"]))
    labels = tuple((k, tuple(f"x{row[i]['times']:g}" if isinstance(row[i], dict) else str(row[i]) for row in g["values"]))
                   for g in meta["groups"] for i, k in enumerate(g["keys"]) if k in relative)
    return SweepResults(meta["name"], tuple(header), rows, groups, sizes, relative, labels)
