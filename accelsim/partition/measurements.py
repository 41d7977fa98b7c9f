"""Kernel-time measurements: one CSV row per (kernel, convolution, thread count).

Each row is self-describing: it names the kernel and the tiles it uses (item, block, unit) and the
shape it worked on, so :func:`accelsim.partition.calibrate.fit` needs nothing but the file. ``group``
numbers the convolution a row belongs to (the kernels of one convolution share it). Columns::

    group,impl,item_oc,item_h,item_w,item_flat,block,unit,threads,kind,N,C,K,H,W,P,Q,R,S,stride,groups,seconds,repeats

The held-out split is by convolution (every kernel and thread count of a convolution falls on the
same side), seeded and deterministic.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.partition.shape import OpShape
from accelsim.partition.soc import Tile
from workloads.layer import LayerKind

COLUMNS = ("group", "impl", "item_oc", "item_h", "item_w", "item_flat", "block", "unit", "threads", "kind", "N", "C",
           "K", "H", "W", "P", "Q", "R", "S", "stride", "groups", "seconds", "repeats")
_INTS = ("group", "item_oc", "item_h", "item_w", "item_flat", "block", "unit", "threads", "N", "C", "K", "H", "W", "P",
         "Q", "R", "S", "stride", "groups", "repeats")


@dataclass(frozen=True)
class Measurement:
    impl: str
    item: Tile
    block: int
    unit: int
    threads: int
    shape: OpShape
    seconds: float
    repeats: int = 1
    group: int = 0

    @property
    def shape_key(self) -> tuple:
        s = self.shape
        return (s.kind.value, s.N, s.C, s.K, s.H, s.W, s.P, s.Q, s.R, s.S, s.stride_h, s.groups)

    def row(self) -> dict:
        s = self.shape
        return {"group": self.group, "impl": self.impl, "item_oc": self.item.oc, "item_h": self.item.h, "item_w": self.item.w,
                "item_flat": int(self.item.flat), "block": self.block, "unit": self.unit,
                "threads": self.threads, "kind": s.kind.value, "N": s.N, "C": s.C, "K": s.K, "H": s.H,
                "W": s.W, "P": s.P, "Q": s.Q, "R": s.R, "S": s.S, "stride": s.stride_h, "groups": s.groups,
                "seconds": repr(float(self.seconds)), "repeats": self.repeats}


def write_csv(path: str | Path, rows: Sequence[Measurement]) -> Path:
    from accelsim.atomic import atomic_writer

    out = Path(path)
    with atomic_writer(out, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for m in rows:
            writer.writerow(m.row())
    return out


def read_text_file(path: str | Path, what: str, columns: tuple[str, ...] = ()) -> str:
    """The UTF-8 text of a partition CSV (``what``: measurements, latencies; ``columns``: its header,
    named when the path is a directory), or a one-line ConfigError."""
    p = Path(path)
    if p.is_dir():
        header = f" (CSV: {','.join(columns)})" if columns else ""
        raise ConfigError(f"is a directory, expected a {what} file{header}", source=str(path))
    if not p.is_file():
        raise ConfigError(f"no such {what} file", source=str(path))
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read as UTF-8 text ({type(exc).__name__})", source=str(path)) from None


def read_csv(path: str | Path) -> list[Measurement]:
    """Read a measurements CSV; any bad cell is a one-line ConfigError naming file, line and column."""
    source = str(path)
    text = read_text_file(path, "measurements")
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"missing column(s) {', '.join(missing)}; expected: {','.join(COLUMNS)}", source=source)
    rows = []
    for line, rec in enumerate(reader, start=2):
        where = f"line {line}"
        vals = {}
        for col in _INTS:
            try:
                vals[col] = int(rec[col])
            except (TypeError, ValueError):
                raise ConfigError(f"{where}, column {col}: expected an integer, got {rec[col]!r}",
                                  source=source) from None
            if vals[col] < (0 if col in ("item_flat", "group") else 1):
                raise ConfigError(f"{where}, column {col}: value {vals[col]} is too small", source=source)
        try:
            seconds = float(rec["seconds"])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}, column seconds: expected a number, got {rec['seconds']!r}",
                              source=source) from None
        if not math.isfinite(seconds) or seconds <= 0:
            raise ConfigError(f"{where}, column seconds: must be a positive finite number, got {seconds!r}",
                              source=source)
        try:
            kind = LayerKind(rec["kind"])
        except ValueError:
            raise ConfigError(f"{where}, column kind: unknown kind {rec['kind']!r}; allowed: "
                              f"{', '.join(k.value for k in LayerKind)}", source=source) from None
        if not rec["impl"]:
            raise ConfigError(f"{where}, column impl: empty", source=source)
        shape = OpShape(kind, vals["N"], vals["C"], vals["K"], vals["H"], vals["W"], vals["P"], vals["Q"],
                        vals["R"], vals["S"], vals["stride"], vals["stride"], vals["groups"])
        item = Tile(vals["item_oc"], vals["item_h"], vals["item_w"], bool(vals["item_flat"]))
        rows.append(Measurement(rec["impl"], item, vals["block"], vals["unit"], vals["threads"], shape, seconds,
                                vals["repeats"], vals["group"]))
    if not rows:
        raise ConfigError("no measurements (header only)", source=source)
    return rows


def split(rows: Sequence[Measurement], seed: int = 0, test_fraction: float = 0.3
          ) -> tuple[list[Measurement], list[Measurement]]:
    """(fit rows, held-out rows): a seeded permutation of the convolutions (groups); the last
    ``test_fraction`` of them (at least one, and at least one left to fit) is held out."""
    import numpy as np

    keys = sorted({m.group for m in rows})
    if len(keys) < 2:
        raise ConfigError(f"need at least 2 measured convolutions (groups) to hold some out, got {len(keys)}")
    order = np.random.default_rng(seed).permutation(len(keys))
    n_test = min(len(keys) - 1, max(1, round(test_fraction * len(keys))))
    held = {keys[i] for i in order[len(keys) - n_test:]}
    return [m for m in rows if m.group not in held], [m for m in rows if m.group in held]
