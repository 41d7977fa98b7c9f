"""Measured single-processor model latencies: the data a SoC profile is calibrated from.

CSV columns ``soc,model,processor,ms``: a shipped SoC name (or SoC YAML path), a workload (a zoo name
or a workload file), ``cpu`` or ``gpu``, and the whole model's measured latency in milliseconds on
that processor alone. Lines starting with ``#`` are comments. Co-execution latencies never belong
here: they are what the planner predicts. The reference table (CoDL, MobiSys'22, Fig. 15/16) ships as
``configs/soc/codl_single_processor_ms.csv``.

Every bad cell is one :class:`ConfigError` line naming the file, the line, the column and what is
allowed: an unknown SoC or workload, a processor other than cpu/gpu, a time that is not a positive
finite number, a (soc, model, processor) given twice.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.partition.measurements import read_text_file

COLUMNS = ("soc", "model", "processor", "ms")
PROCESSORS = ("cpu", "gpu")


@dataclass(frozen=True)
class Latency:
    soc: str
    model: str
    processor: str
    ms: float


def shipped_reference() -> Path:
    """The CoDL paper's single-processor latencies (reference/codl.md), as shipped."""
    import configs

    return configs.root() / "soc" / "codl_single_processor_ms.csv"


def read_latencies(path: str | Path) -> tuple[Latency, ...]:
    """Read and check a latencies CSV (the SoCs and workloads it names must load)."""
    from accelsim.partition.soc import load_soc
    from workloads.loader import load_workload

    source = str(path)
    text = read_text_file(path, "latencies", COLUMNS)
    numbered = [(i, line) for i, line in enumerate(text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise ConfigError(f"empty; expected a header {','.join(COLUMNS)} and rows", source=source)
    reader = csv.DictReader([line for _, line in numbered])
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ConfigError(f"line {numbered[0][0]}: header must be exactly {','.join(COLUMNS)}, "
                          f"got {','.join(reader.fieldnames or [])}", source=source)
    socs_ok: set[str] = set()
    models_ok: set[str] = set()
    seen: dict[tuple[str, str, str], int] = {}
    rows = []
    for (line, _), rec in zip(numbered[1:], reader):
        where = f"line {line}"
        if None in rec or any(rec[c] is None for c in COLUMNS):
            raise ConfigError(f"{where}: expected {len(COLUMNS)} columns ({','.join(COLUMNS)})", source=source)
        soc, model, proc, ms_text = (rec[c].strip() for c in COLUMNS)
        if soc not in socs_ok:
            try:
                load_soc(soc)
            except ConfigError as exc:
                # an unknown name's error already starts with the name; a bad SoC file's names the file
                reason = exc.detail if exc.source == soc else str(exc)
                raise ConfigError(f"{where}, column soc: {soc!r}: {reason}", source=source) from None
            socs_ok.add(soc)
        if model not in models_ok:
            try:
                load_workload(model)
            except ConfigError as exc:
                raise ConfigError(f"{where}, column model: {exc}", source=source) from None
            models_ok.add(model)
        if proc not in PROCESSORS:
            raise ConfigError(f"{where}, column processor: {proc!r}; allowed: {', '.join(PROCESSORS)}",
                              source=source)
        try:
            ms = float(ms_text)
        except ValueError:
            raise ConfigError(f"{where}, column ms: expected a number, got {ms_text!r}", source=source) from None
        if not math.isfinite(ms) or ms <= 0:
            raise ConfigError(f"{where}, column ms: a latency must be a positive finite number of "
                              f"milliseconds, got {ms_text}", source=source)
        key = (soc, model, proc)
        if key in seen:
            raise ConfigError(f"{where}: {soc} {model} {proc} already given on line {seen[key]}", source=source)
        seen[key] = line
        rows.append(Latency(soc, model, proc, ms))
    if not rows:
        raise ConfigError("no latencies (header only)", source=source)
    return tuple(rows)
