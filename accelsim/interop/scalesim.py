"""SCALE-Sim interop: read its architecture .cfg as an accelsim arch document (accelsim.arch.
load_scalesim_cfg makes the Arch; this module never imports accelsim.arch); write its COMPUTE_REPORT.csv.

A SCALE-Sim .cfg (v2 and v3 layouts) describes a systolic array::

    [general]
    run_name = scale_example_run_32x32_os
    [architecture_presets]
    ArrayHeight:    32
    ArrayWidth:     32
    IfmapSramSzkB:  64
    FilterSramSzkB: 64
    OfmapSramSzkB:  64
    Dataflow : os
    Bandwidth : 10
    [run_presets]
    InterfaceBandwidth: CALC

How it becomes an accelsim arch (each choice is SCALE-Sim's own convention unless said otherwise):

- ``ArrayHeight x ArrayWidth`` -> ``pe_array.rows x cols``;
- the three SRAMs -> one GLB of their summed size holding all three tensors (accelsim has one
  on-chip buffer level); SCALE-Sim stores one byte per word, so ``word_bits: 8`` and the GLB holds
  the same number of words as the three SRAMs together;
- ``Dataflow`` os / ws / is -> accelsim ``os_moc_mop`` / ``ws`` / ``is`` with a one-word RF for the
  stationary operand (psum / weight / ifmap). SCALE-Sim's OS puts output pixels on the rows and
  filters on the columns: that is accelsim's OS MOC-MOP; accelsim's ``os`` (ShiDianNao-like) spreads
  a P x Q pixel block instead and would use one column of a GEMM (Q = 1);
- ``noc: systolic`` with ``timing: scalesim`` (SCALE-Sim 3.0's fold and skew counts);
- ``InterfaceBandwidth: CALC`` (SCALE-Sim sizes DRAM bandwidth so nothing stalls) -> unlimited DRAM
  bandwidth; ``USER`` -> SCALE-Sim gives each of its three operand interfaces ``Bandwidth`` words per
  cycle, modelled as one link of 3 x Bandwidth words per cycle;
- SCALE-Sim has no clock: accelsim uses 1000 MHz, so 1 cycle = 1 ns; energy uses the normalized table.

Keys SCALE-Sim reads that have no accelsim meaning (address offsets, bank layout, request buffers,
Ramulator traces) are accepted and ignored; any other key is rejected with the allowed ones.
"""

from __future__ import annotations

import configparser
import difflib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError
from accelsim.yamlio import read_text

CLOCK_MHZ = 1000
WORD_BITS = 8                      # SCALE-Sim: word_size = 1 byte
SRAM_WORDS_PER_PE_CYCLE = 4          # ifmap, weight, psum in, psum out: all a PE can ask of the SRAMs per cycle
OPERAND_INTERFACES = 3             # ifmap, filter, ofmap: each gets `Bandwidth` words per cycle (USER mode)

# SCALE-Sim dataflow -> (accelsim dataflow, the stationary tensor kept in a one-word RF)
DATAFLOWS: dict[str, tuple[str, str]] = {
    "os": ("scalesim_os", "psum"),
    "ws": ("scalesim_ws", "weight"),
    "is": ("scalesim_is", "ifmap"),
}
BANDWIDTH_MODES = ("CALC", "USER")
COMPUTE_REPORT_COLUMNS = ("LayerID", "Total Cycles", "Stall Cycles", "Overall Util %", "Mapping Efficiency %",
                          "Compute Util %")
# SCALE-Sim's DETAILED_ACCESS_REPORT count columns -> where accelsim counts the same words: (level, tensor,
# action) of the cost model's access counts. The SRAMs are accelsim's GLB (it holds all three operands);
# SCALE-Sim's "filter" is accelsim's weight tensor and its "ofmap" the psum/output tensor.
ACCESS_COLUMNS: dict[str, tuple[str, str, str]] = {
    "SRAM IFMAP Reads": ("glb", "ifmap", "reads"),        # words the array reads from the ifmap SRAM
    "SRAM Filter Reads": ("glb", "weight", "reads"),      # words the array reads from the filter SRAM
    "SRAM OFMAP Writes": ("glb", "psum", "writes"),       # outputs and partial sums the array writes
    "DRAM IFMAP Reads": ("dram", "ifmap", "reads"),       # words fetched into the ifmap SRAM
    "DRAM Filter Reads": ("dram", "weight", "reads"),     # words fetched into the filter SRAM
    "DRAM OFMAP Writes": ("dram", "psum", "writes"),      # words drained from the ofmap SRAM
}
DETAILED_ACCESS_COLUMNS = ("LayerID", *ACCESS_COLUMNS)
# SCALE-Sim's BANDWIDTH_REPORT: each average bandwidth is one access column over the layer's Total Cycles
BANDWIDTH_COLUMNS: dict[str, str] = {
    "Avg IFMAP SRAM BW": "SRAM IFMAP Reads", "Avg FILTER SRAM BW": "SRAM Filter Reads",
    "Avg OFMAP SRAM BW": "SRAM OFMAP Writes", "Avg IFMAP DRAM BW": "DRAM IFMAP Reads",
    "Avg FILTER DRAM BW": "DRAM Filter Reads", "Avg OFMAP DRAM BW": "DRAM OFMAP Writes",
}
BANDWIDTH_REPORT_COLUMNS = ("LayerID", *BANDWIDTH_COLUMNS)
MEMORY_STALLS = ("dram", "glb", "noc")      # SCALE-Sim's stalls are memory stalls; fill/drain is compute time


# --------------------------------------------------------------------------------------------
# value parsers: (text, error) -> value

def _positive_int(text: str, error: Callable[[str], ConfigError]) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise error(f"expected a positive integer, got {text!r}")
    value = int(text)
    if value < 1:
        raise error(f"value {value} is too small: must be >= 1")
    return value


def _dataflow(text: str, error) -> str:
    value = text.strip().lower()
    if value not in DATAFLOWS:
        raise error(f"unknown dataflow {text!r}; allowed: {', '.join(DATAFLOWS)}")
    return value


def _bandwidth_mode(text: str, error) -> str:
    if text not in BANDWIDTH_MODES:
        raise error(f"unknown value {text!r}; allowed: {', '.join(BANDWIDTH_MODES)}")
    return text


def _bandwidths(text: str, error) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not re.fullmatch(r"[0-9]+", p) or int(p) < 1 for p in parts):
        raise error(f"expected positive integers in words per cycle, comma-separated, got {text!r}")
    return tuple(int(p) for p in parts)


def _text(text: str, error) -> str:
    if not text.strip():
        raise error("expected a non-empty value")
    return text.strip()


def _false_only(text: str, error) -> bool:
    if text.strip().lower() == "true":
        raise error("sparsity is not modelled by accelsim (dense only); set SparsitySupport: false "
                    "or remove the [sparsity] section")
    if text.strip().lower() != "false":
        raise error(f"expected true or false, got {text!r}")
    return False


def _ignored(text: str, error) -> None:
    return None


@dataclass(frozen=True)
class Key:
    name: str                                   # SCALE-Sim's spelling (keys are case-insensitive)
    parse: Callable[[str, Callable[[str], ConfigError]], Any]
    required: bool = False


def _keys(*keys: Key) -> dict[str, Key]:
    return {k.name.lower(): k for k in keys}


_IGNORED_ARCH = ("IfmapOffset", "FilterOffset", "OfmapOffset", "MemoryBanks", "OnChipMemoryBanks",
                 "OnChipMemoryBankPorts", "ReadRequestBuffer", "WriteRequestBuffer")
_LAYOUT = ("IfmapCustomLayout", "FilterCustomLayout", "IfmapSRAMBankBandwidth", "IfmapSRAMBankNum",
           "IfmapSRAMBankPort", "FilterSRAMBankBandwidth", "FilterSRAMBankNum", "FilterSRAMBankPort")

SECTIONS: dict[str, dict[str, Key]] = {
    "general": _keys(Key("run_name", _text)),
    "architecture_presets": _keys(
        Key("ArrayHeight", _positive_int, True), Key("ArrayWidth", _positive_int, True),
        Key("IfmapSramSzkB", _positive_int, True), Key("FilterSramSzkB", _positive_int, True),
        Key("OfmapSramSzkB", _positive_int, True), Key("Dataflow", _dataflow, True),
        Key("Bandwidth", _bandwidths),
        *(Key(k, _ignored) for k in _IGNORED_ARCH + _LAYOUT)),
    "run_presets": _keys(
        Key("InterfaceBandwidth", _bandwidth_mode),
        *(Key(k, _ignored) for k in ("UseRamulatorTrace", "SRAM_row_size", "SRAM_bank_size", "DRAM_row_size",
                                     "DRAM_bank_size"))),
    "layout": _keys(*(Key(k, _ignored) for k in _LAYOUT)),
    "sparsity": _keys(Key("SparsitySupport", _false_only),
                      *(Key(k, _ignored) for k in ("SparseRep", "OptimizedMapping", "BlockSize",
                                                   "RandomNumberGeneratorSeed", "NonZeroElems"))),
    "network_presets": _keys(Key("TopologyCsvLoc", _text)),
}


# --------------------------------------------------------------------------------------------
# reading

def _parser(path: str) -> configparser.ConfigParser:
    text = read_text(path)
    if not text.strip():
        raise ConfigError("file is empty; expected a SCALE-Sim config with an [architecture_presets] section",
                          source=path)
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # configparser's documented hook: keep the user's spelling for messages; keys are matched case-insensitively
    try:
        cp.read_file(io.StringIO(text.lstrip("\ufeff")), source=path)
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(f"line {exc.lineno}: {exc.line.strip()!r} comes before any [section] header",
                          source=path) from None
    except configparser.DuplicateSectionError as exc:
        raise ConfigError(f"line {exc.lineno}: section [{exc.section}] appears twice", source=path) from None
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(f"line {exc.lineno}: key {exc.option!r} appears twice", source=path,
                          key=f"[{exc.section}]") from None
    except configparser.ParsingError as exc:
        lineno, line = exc.errors[0]
        raise ConfigError(f"line {lineno}: cannot parse {line.strip()!r}; expected `Key: value` or `key = value`",
                          source=path) from None
    return cp


def read_cfg(path: str | Path) -> dict[str, dict[str, Any]]:
    """Every recognised value of a SCALE-Sim .cfg, by section and SCALE-Sim key name."""
    source = str(path)
    cp = _parser(source)
    out: dict[str, dict[str, Any]] = {}
    for section in cp.sections():
        known = SECTIONS.get(section)
        if known is None:
            close = difflib.get_close_matches(section, SECTIONS, n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            raise ConfigError(f"unknown section [{section}]{hint}; allowed: {', '.join(f'[{s}]' for s in SECTIONS)}",
                              source=source)
        values: dict[str, Any] = {}
        for option, text in cp.items(section):
            key = known.get(option.lower())
            if key is not None and key.name in values:
                raise ConfigError(f"key {option!r} appears twice (SCALE-Sim keys ignore case)", source=source,
                                  key=f"[{section}]")
            if key is None:
                names = [k.name for k in known.values()]
                close = difflib.get_close_matches(option.lower(), [n.lower() for n in names], n=1)
                hint = f" (did you mean {known[close[0]].name!r}?)" if close else ""
                raise ConfigError(f"unknown key {option!r}{hint}; allowed: {', '.join(names)}",
                                  source=source, key=f"[{section}]")

            def error(message: str, _k=key, _section=section) -> ConfigError:
                return ConfigError(message, source=source, key=f"[{_section}] {_k.name}")

            values[key.name] = key.parse(text, error)
        out[section] = values
    for section, keys in SECTIONS.items():
        for key in keys.values():
            if key.required and key.name not in out.get(section, {}):
                raise ConfigError(f"missing required key {key.name!r}", source=source, key=f"[{section}]")
    return out


def cfg_document(path: str | Path) -> dict:
    """The accelsim architecture document (the YAML form) equivalent to a SCALE-Sim .cfg."""
    source = str(path)
    cfg = read_cfg(path)
    arch = cfg["architecture_presets"]
    rows, cols = arch["ArrayHeight"], arch["ArrayWidth"]
    flow, stationary = DATAFLOWS[arch["Dataflow"]]
    mode = cfg.get("run_presets", {}).get("InterfaceBandwidth", "CALC")
    dram: dict[str, Any] = {"latency_cycles": 0}
    if mode == "USER":
        if "Bandwidth" not in arch:
            raise ConfigError("InterfaceBandwidth USER needs Bandwidth (words per cycle) in [architecture_presets]",
                              source=source, key="[architecture_presets] Bandwidth")
        words_per_cycle = OPERAND_INTERFACES * arch["Bandwidth"][0]
        dram["bandwidth_gb_per_s"] = words_per_cycle * WORD_BITS / 8 * CLOCK_MHZ / 1000
    name = cfg.get("general", {}).get("run_name") or Path(source).stem
    return {
        "version": 1,
        "name": name,
        "clock_mhz": CLOCK_MHZ,
        "word_bits": WORD_BITS,
        "pe_array": {"rows": rows, "cols": cols},
        "rf": {f"{stationary}_words": 1},
        "glb": {"size_kb": arch["IfmapSramSzkB"] + arch["FilterSramSzkB"] + arch["OfmapSramSzkB"], "banks": 3,
                # SCALE-Sim's SRAMs serve every request the array makes in the cycle it is made: at
                # most an ifmap, a weight and a psum read and write per PE, so the GLB never stalls
                "bandwidth_words_per_cycle": SRAM_WORDS_PER_PE_CYCLE * rows * cols,
                "holds": ["ifmap", "weight", "psum"]},
        "dram": dram,
        # the SRAM sizes for `buffers: scalesim` (off by default: accelsim run --buffers scalesim)
        "noc": {"type": "systolic", "timing": "scalesim",
                "ifmap_sram_kb": arch["IfmapSramSzkB"], "filter_sram_kb": arch["FilterSramSzkB"]},
        "energy": {"preset": "normalized"},
        "dataflow": flow,
    }


def cfg_topology(path: str | Path) -> Path | None:
    """The topology CSV a .cfg names in [network_presets] TopologyCsvLoc (relative to the .cfg), if any."""
    loc = read_cfg(path).get("network_presets", {}).get("TopologyCsvLoc")
    if loc is None:
        return None
    p = Path(loc.strip().strip('"').strip("'"))
    return p if p.is_absolute() else Path(path).parent / p


def with_buffers(arch, policy: str):
    """``arch`` with its systolic NoC's ``buffers`` option set to ``policy`` (tiles / scalesim)."""
    from dataclasses import replace

    from noc.systolic import BUFFERS

    if arch.noc.type != "systolic":
        raise ConfigError(f"--buffers {policy}: arch {arch.name!r} has a {arch.noc.type!r} NoC; the buffers option "
                          f"belongs to systolic arrays (noc type systolic)")
    if policy not in BUFFERS:
        raise ConfigError(f"--buffers: unknown policy {policy!r}; allowed: {', '.join(BUFFERS)}")
    params = {**dict(arch.noc.params), "buffers": policy}
    return replace(arch, noc=replace(arch.noc, params=tuple(sorted(params.items()))))


# --------------------------------------------------------------------------------------------
# writing

def compute_report_rows(run) -> list[tuple[int, int, int, float, float, float]]:
    """Per layer: (LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %).

    - Total Cycles: the layer's cycles (simulated when simulated, else the ideal compute-bound count);
    - Stall Cycles: memory stalls (DRAM, GLB, NoC) from the simulator; 0 without simulation;
    - Overall Util %: 100 x MACs / (Total Cycles x PEs);
    - Mapping Efficiency %: 100 x MACs / (ideal cycles x PEs): the share of PEs holding work per step;
    - Compute Util %: 100 x MACs / ((Total - Stall) x PEs): utilisation of the cycles not stalled.
    """
    pes = run.arch.pes
    rows = []
    for layer_id, lr in enumerate(run.layers):
        macs = lr.result.macs
        total = int(lr.cycles)
        stall = 0
        if lr.sim is not None:
            stall = int(sum(lr.sim.stall_cycles.get(c, 0) for c in MEMORY_STALLS))
        ideal = lr.result.ideal_cycles

        def pct(cycles: int, macs: int = macs) -> float:
            return 100.0 * macs / (cycles * pes) if cycles > 0 and macs else 0.0

        rows.append((layer_id, total, stall, pct(total), pct(ideal), pct(total - stall)))
    return rows


def _csv(columns: tuple[str, ...], rows) -> str:
    """SCALE-Sim's report format: ``, `` between fields and a trailing comma on every line."""
    lines = [", ".join(columns) + ",\n"]
    for row in rows:
        lines.append(", ".join(str(v) for v in row) + ",\n")
    return "".join(lines)


def compute_report_csv(run) -> str:
    """SCALE-Sim's COMPUTE_REPORT.csv (v2 columns)."""
    return _csv(COMPUTE_REPORT_COLUMNS, compute_report_rows(run))


def os_drain_slots(run, lr) -> int:
    """SCALE-Sim 3.0's extra OFMAP SRAM writes under its own OS folds: it pads every fold's output
    demand to rows x cols and then adds rows + cols writes per fold (``systolic_compute_os.py``,
    ``create_ofmap_demand_mat``: ``self.ofmap_writes += shape[0] + shape[1]``), slots no array
    writes. 0 for any other dataflow, a searched run or a hand-written mapping: the convention belongs
    to SCALE-Sim's fixed mapping only. Folds = ceil(rows dim / array rows) x ceil(cols dim / array cols)
    of the im2col GEMM (dataflows/scalesim_fold.py)."""
    if run.dataflow != "scalesim_os" or run.search is not None or lr.result.layer.name in run.hand_written:
        return 0
    layer = lr.result.layer
    if not layer.kind.has_macs:
        return 0
    rows, cols = run.arch.pe_array.rows, run.arch.pe_array.cols
    size = dict(zip(("K", "C", "P"), layer.dims[2:5]))
    folds = -(-size["P"] // rows) * -(-size["K"] // cols)
    return folds * (rows + cols)


def access_rows(run) -> list[tuple[int, ...]]:
    """Per layer: (LayerID, then each ACCESS_COLUMNS count): exact integers from the cost model, in
    SCALE-Sim's convention: under SCALE-Sim's own OS folds, "SRAM OFMAP Writes" adds its padded drain
    slots (:func:`os_drain_slots`); stats.json keeps the words the array really writes."""
    rows = []
    for layer_id, lr in enumerate(run.layers):
        counts = lr.result.counts.as_dict()
        values = {name: counts[level][tensor][action] for name, (level, tensor, action) in ACCESS_COLUMNS.items()}
        values["SRAM OFMAP Writes"] += os_drain_slots(run, lr)
        rows.append((layer_id, *values.values()))
    return rows


def bandwidth_rows(run) -> list[tuple]:
    """Per layer: (LayerID, then each BANDWIDTH_COLUMNS average): words per cycle = the access count /
    Total Cycles (COMPUTE_REPORT's). SCALE-Sim divides the SRAM counts by Total Cycles too; its DRAM
    averages divide by the span of its DRAM trace instead (in CALC mode, the prefetch windows its
    bandwidth estimator chose), so the DRAM columns are comparable in words but not in span."""
    rows = []
    index = {name: i + 1 for i, name in enumerate(ACCESS_COLUMNS)}
    for (layer_id, *_), access, lr in zip(compute_report_rows(run), access_rows(run), run.layers):
        cycles = int(lr.cycles)
        rows.append((layer_id, *(access[index[col]] / cycles if cycles else 0.0 for col in BANDWIDTH_COLUMNS.values())))
    return rows


def detailed_access_report_csv(run) -> str:
    """SCALE-Sim's DETAILED_ACCESS_REPORT.csv, count columns only (accelsim does not time each
    operand's first and last access, so SCALE-Sim's start/stop cycle columns are left out)."""
    return _csv(DETAILED_ACCESS_COLUMNS, access_rows(run))


def bandwidth_report_csv(run) -> str:
    """SCALE-Sim's BANDWIDTH_REPORT.csv (see :func:`bandwidth_rows`)."""
    return _csv(BANDWIDTH_REPORT_COLUMNS, bandwidth_rows(run))


REPORTS: dict[str, Callable] = {"COMPUTE_REPORT.csv": compute_report_csv, "BANDWIDTH_REPORT.csv": bandwidth_report_csv,
                                "DETAILED_ACCESS_REPORT.csv": detailed_access_report_csv}
