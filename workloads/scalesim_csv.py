"""Read a SCALE-Sim topology CSV (convolution or GEMM form) into a :class:`Workload`.

Convolution form (SCALE-Sim v1/v2), one layer per row::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
    Conv1, 224, 224, 3, 3, 3, 64, 1,

SCALE-Sim v2 also writes ``Stride height, Stride width`` in place of ``Strides``; both are read.
The IFMAP sizes already include any padding, so every layer gets padding 0. As in SCALE-Sim
(topology_utils.py), a layer whose name contains ``DP`` is depthwise: each of its ``Channels`` input
channels is convolved on its own with ``Num Filter`` filters (groups = Channels, K = Channels x Num
Filter). Every other row is a dense convolution (a fully connected layer is a conv whose filter covers
the IFMAP).

GEMM form (SCALE-Sim v2 ``-i gemm``): header ``Layer, M, N, K``; each row is (M x K) @ (K x N).

Header names are matched case-insensitively; whitespace around fields and a trailing comma on any
line are tolerated; blank lines are skipped. Errors name the file, the line, the layer and the column.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.yamlio import read_text
from workloads.layer import Layer, LayerKind, Workload, gemm


@dataclass(frozen=True)
class _Format:
    title: str
    columns: tuple[str, ...]          # as SCALE-Sim writes them; matched case-insensitively
    build: Callable[[str, dict[str, int], _Row], Layer]


@dataclass(frozen=True)
class _Row:
    source: str
    line: int
    name: str

    def error(self, column: str | None, message: str) -> ConfigError:
        where = f"line {self.line} (layer {self.name!r})" if self.name else f"line {self.line}"
        return ConfigError(message, source=self.source, key=f"{where}, column {column!r}" if column else where)


def _conv(name: str, v: dict[str, int], row: _Row) -> Layer:
    h, w = v["ifmap height"], v["ifmap width"]
    for filt, ifmap in (("filter height", "ifmap height"), ("filter width", "ifmap width")):
        if v[filt] > v[ifmap]:
            raise row.error(_TITLE[filt], f"value {v[filt]} is larger than {_TITLE[ifmap]} {v[ifmap]} "
                                          f"(SCALE-Sim IFMAP sizes include the padding); must be <= {v[ifmap]}")
    stride_h = v["strides"] if "strides" in v else v["stride height"]
    stride_w = v["strides"] if "strides" in v else v["stride width"]
    channels, filters = v["channels"], v["num filter"]
    depthwise = "DP" in name
    groups = channels if depthwise else 1
    K = channels * filters if depthwise else filters
    kind = LayerKind.DEPTHWISE if depthwise and filters == 1 and channels > 1 else LayerKind.CONV
    return Layer(name=name, kind=kind, C=channels, K=K, H=h, W=w, R=v["filter height"], S=v["filter width"],
                 stride_h=stride_h, stride_w=stride_w, groups=groups)


def _gemm(name: str, v: dict[str, int], row: _Row) -> Layer:
    return gemm(name, m=v["m"], n=v["n"], k=v["k"])


_CONV_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                 "Num Filter")
_FORMATS = (
    _Format("convolution", (*_CONV_COLUMNS, "Strides"), _conv),
    _Format("convolution (v2, per-axis strides)", (*_CONV_COLUMNS, "Stride height", "Stride width"), _conv),
    _Format("GEMM", ("Layer", "M", "N", "K"), _gemm),
)
_TITLE = {c.lower(): c for fmt in _FORMATS for c in fmt.columns}


def _norm(cell: str) -> str:
    return " ".join(cell.split()).lower()


def _cells(line: str) -> list[str]:
    cells = [c.strip() for c in next(csv.reader([line]))]
    if cells and cells[-1] == "":  # SCALE-Sim ends every line with a comma
        cells.pop()
    return cells


def _expected(formats: tuple[_Format, ...] | list[_Format]) -> str:
    return " or ".join(f"'{', '.join(fmt.columns)}' ({fmt.title})" for fmt in formats)


def _format_of(header: list[str], source: str, line: int) -> _Format:
    names = [_norm(c) for c in header]
    for fmt in _FORMATS:
        if names == [c.lower() for c in fmt.columns]:
            return fmt
    # the formats sharing the first column name (else all) say what is missing, unknown or misplaced
    candidates = [fmt for fmt in _FORMATS if names and names[0] == fmt.columns[0].lower()]
    if not candidates:
        raise ConfigError(f"unrecognised header {', '.join(header)!r}; expected {_expected(_FORMATS)}",
                          source=source, key=f"line {line}")
    best = max(candidates, key=lambda fmt: len(set(names) & {c.lower() for c in fmt.columns}))
    wanted = [c.lower() for c in best.columns]
    missing = [c for c in best.columns if c.lower() not in names]
    unknown = [h for h, n in zip(header, names) if n not in wanted]
    parts = []
    if missing:
        parts.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        parts.append(f"unknown column(s) {', '.join(unknown)}")
    if not parts:
        parts.append(f"columns out of order: {', '.join(header)}")
    raise ConfigError(f"header: {'; '.join(parts)}; expected {_expected(candidates)}", source=source,
                      key=f"line {line}")


def load_topology_csv(path: str | Path) -> Workload:
    source = str(path)
    text = read_text(path).removeprefix("\ufeff")  # a byte-order mark from spreadsheet exports
    if not text.strip():
        raise ConfigError("file is empty; expected a SCALE-Sim topology header and one row per layer",
                          source=source)
    rows = [(number, _cells(line)) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    for number, cells in rows:          # blank lines are skipped; a row of bare commas is not a layer
        if not any(cells):
            raise ConfigError("a row of empty fields (only commas); delete it or fill in a layer", source=source,
                              key=f"line {number}")
    if not rows:
        raise ConfigError("file has no content (only blank fields); expected a SCALE-Sim topology header",
                          source=source)
    (header_line, header), body = rows[0], rows[1:]
    fmt = _format_of(header, source, header_line)
    if not body:
        raise ConfigError(f"no layers: only a header on line {header_line}; add one row per layer",
                          source=source)
    keys = [c.lower() for c in fmt.columns]
    layers: list[Layer] = []
    first_line: dict[str, int] = {}
    for number, cells in body:
        name = cells[0]
        row = _Row(source, number, name)
        if len(cells) != len(keys):
            raise row.error(None, f"expected {len(keys)} fields ({', '.join(fmt.columns)}), got {len(cells)}")
        if not name:
            raise row.error(fmt.columns[0], "empty layer name; every row needs a name")
        if name in first_line:
            raise row.error(fmt.columns[0], f"duplicate layer name {name!r} (first on line {first_line[name]}); "
                                            f"layer names must be unique")
        first_line[name] = number
        values: dict[str, int] = {}
        for key, column, cell in zip(keys[1:], fmt.columns[1:], cells[1:]):
            if not re.fullmatch(r"-?[0-9]+", cell):
                raise row.error(column, f"expected a positive integer, got {cell!r}")
            value = int(cell)
            if value < 1:
                raise row.error(column, f"value {value} is too small: must be >= 1")
            values[key] = value
        try:
            layers.append(fmt.build(name, values, row))
        except ConfigError as exc:
            if exc.source:
                raise
            raise row.error(None, str(exc)) from None
    return Workload(Path(path).stem, tuple(layers))
