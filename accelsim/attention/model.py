"""Attention dataflows on a hierarchy with a vector unit: exact op counts, DRAM traffic, latency bound.

Dataflows (:data:`DATAFLOWS`, selected by name, no search):
- ``unfused``: three kernels, QK, softmax (the three-pass cascade's four ops on the vector unit)
  and AV, each reading its inputs from DRAM once and writing its output once (compulsory traffic
  per kernel); kernels run one after another, compute and DRAM overlapped within a kernel.
- ``flat`` (FLAT-style): QK-softmax-AV fused per tile of ``R`` query rows of one head, the R x L
  score tile on chip; K and V stay on chip for the head when they fit beside the row tile, else
  they are streamed once per row tile. Tiles are pipelined (double-buffered): units overlap.
- ``fusemax`` (FuseMax-style): the one-pass cascade (online softmax) over key tiles of ``L0`` keys
  (the largest divisor of L up to the array width), per-score ops on the array, per-row ops on the
  vector unit, pipelined with the array; on-chip storage independent of L.

The machine (:class:`Machine`) is read from a ``Hierarchy``: the MAC array's units (all fanouts),
the non-MAC unit (``vector_ops.unit_of``), the on-chip buffer (the level the vector unit hangs
below, else the level under DRAM; its capacity times its instances; no capacity = unbounded), DRAM
words per cycle (level 0's read bandwidth: reads and writes share one channel) and the clock.

Invariants (tested against the brute-force walk in ``accelsim.attention.interp``):
- op counts are the cascade's (``cascade.op_counts``), keyed (unit name, op);
- DRAM words per tensor are exact integers: ``Q`` and ``O`` once per head, ``K``/``V`` once per
  head if resident else once per row tile; ``S``/``A`` written and read once each by ``unfused`` only;
- latency bound (cycles): per phase, max over resources of ceil(work / rate); phases add. One phase for
  the fused dataflows, three for ``unfused``. A unit named for both array and vector work (no vector
  unit) adds both. Utilization = ideal MAC cycles (MACs / array units) / latency. The limiting
  resource is the one busy longest over all phases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from accelsim.attention.cascade import ARRAY, AttentionShape, Step, key_tile, one_pass, three_pass
from accelsim.cost.actions import Actions
from accelsim.cost.energy import EnergyBreakdown, energy_of
from accelsim.energy_table import table_for
from accelsim.errors import ConfigError
from accelsim.hierarchy import Hierarchy
from accelsim.vector_ops import unit_of

DRAM_RES = "dram"


@dataclass(frozen=True)
class Machine:
    name: str
    array: str                   # the MAC array's compute name
    array_units: int
    vector: str                  # the unit running non-MAC ops (the array's name when there is no vector unit)
    vector_lanes: int
    buffer_words: int | None     # None: unbounded
    dram_words_per_cycle: float | None
    clock_mhz: float | None
    array_width: int             # keys per tile of the one-pass cascade: the innermost fanout's larger side


def buffer_index(h: Hierarchy) -> int:
    """The on-chip buffer the dataflows tile into: the level the vector unit hangs below, else the
    level under DRAM."""
    return h.index(h.vector.below) if h.vector is not None else min(1, len(h.levels) - 1)


def machine(h: Hierarchy) -> Machine:
    vec_name, lanes = unit_of(h)
    buf_level = buffer_index(h)
    lv = h.levels[buf_level]
    words = sum(w for _, w in lv.capacity) if lv.capacity else None
    if words is not None:
        for i, f in h.fanouts:
            if i < buf_level:
                words *= f.size
    fan = h.fanouts[-1][1] if h.fanouts else None
    width = max(fan.x, fan.y) if fan is not None else 1
    return Machine(h.name, h.compute.name, h.instances, vec_name, lanes, words, h.levels[0].read_bandwidth,
                   h.clock_mhz, width)


@dataclass(frozen=True)
class Plan:
    """The tiling a dataflow chose: query rows per tile, key tile, whether K/V stay per head."""

    rows: int
    tile: int
    kv_resident: bool
    buffer_words: int            # words on chip at the peak (per head in flight)


@dataclass(frozen=True)
class Phase:
    name: str
    work: dict                   # resource -> (units of work, rate per cycle)
    cycles: int
    limit: str                   # the resource that sets the phase's cycles


@dataclass(frozen=True)
class Result:
    dataflow: str
    shape: AttentionShape
    machine: Machine
    plan: Plan
    ops: dict                    # (unit name, op) -> count
    dram: dict                   # (tensor, "read" | "write") -> words
    phases: tuple[Phase, ...]
    steps: tuple[Step, ...] = field(repr=False, default=())

    @property
    def macs(self) -> int:
        return self.shape.macs

    @property
    def dram_words(self) -> int:
        return sum(self.dram.values())

    def dram_bytes(self, word_bits: int) -> int:
        return self.dram_words * word_bits // 8

    @property
    def cycles(self) -> int:
        return sum(p.cycles for p in self.phases)

    @property
    def ideal_cycles(self) -> int:
        return ceil(self.macs / self.machine.array_units)

    @property
    def utilization(self) -> float:
        return self.ideal_cycles / self.cycles

    def seconds(self, cycles: int | None = None) -> float:
        if self.machine.clock_mhz is None:
            raise ConfigError(f"{self.machine.name}: no clock_mhz; latency in cycles only")
        return (self.cycles if cycles is None else cycles) / (self.machine.clock_mhz * 1e6)

    @property
    def limit(self) -> str:
        """The limiting resource: the one busy longest, summed over phases."""
        b = self.busy()
        return max(sorted(b), key=lambda r: b[r])

    def busy(self) -> dict[str, int]:
        """Cycles each resource is busy, summed over phases."""
        out: dict[str, int] = {}
        for p in self.phases:
            for r, (w, rate) in p.work.items():
                out[r] = out.get(r, 0) + ceil(w / rate)
        return out


def _unit(m: Machine, kind: str) -> tuple[str, int]:
    return (m.array, m.array_units) if kind == ARRAY else (m.vector, m.vector_lanes)


def _ops(m: Machine, steps: tuple[Step, ...]) -> dict:
    out: dict = {}
    for st in steps:
        key = (_unit(m, st.unit)[0], st.op)
        out[key] = out.get(key, 0) + st.count
    return out


def phase(m: Machine, name: str, steps: tuple[Step, ...], dram_words: int) -> Phase:
    work: dict = {}
    for st in steps:
        unit, rate = _unit(m, st.unit)
        w, _ = work.get(unit, (0, rate))
        work[unit] = (w + st.count, rate)
    if m.dram_words_per_cycle is not None and dram_words:
        work[DRAM_RES] = (dram_words, m.dram_words_per_cycle)
    cyc = {r: ceil(w / rate) for r, (w, rate) in work.items()}
    limit = max(sorted(cyc), key=lambda r: cyc[r])
    return Phase(name, work, cyc[limit], limit)


def _rows(m: Machine, s: AttentionShape, per_row: int, fixed: int, what: str) -> int:
    """The most query rows (<= M) whose tile fits beside ``fixed`` words, or a one-line error."""
    if m.buffer_words is None:
        return s.queries
    r = (m.buffer_words - fixed) // per_row
    if r < 1:
        raise ConfigError(f"{m.name}: {what}: one query row needs {per_row + fixed:,} words on chip, "
                          f"the buffer holds {m.buffer_words:,}")
    return min(s.queries, r)


def _fused_plan(m: Machine, s: AttentionShape, per_row: int, kv_stream: int, what: str) -> Plan:
    kv_all = s.keys * (s.e + s.f)
    if m.buffer_words is None or m.buffer_words - kv_all >= per_row:
        r = _rows(m, s, per_row, kv_all, what)
        return Plan(r, kv_stream // (s.e + s.f), True, r * per_row + kv_all)
    r = _rows(m, s, per_row, kv_stream, what)
    return Plan(r, kv_stream // (s.e + s.f), False, r * per_row + kv_stream)


def _fused_dram(s: AttentionShape, plan: Plan) -> dict:
    n = s.batch * s.heads
    passes = 1 if plan.kv_resident else ceil(s.queries / plan.rows)
    w = s.words()
    return {("Q", "read"): w["Q"], ("K", "read"): n * s.keys * s.e * passes,
            ("V", "read"): n * s.keys * s.f * passes, ("O", "write"): w["O"]}


def unfused(h: Hierarchy, s: AttentionShape) -> Result:
    m = machine(h)
    steps = three_pass(s)
    w = s.words()
    dram = {("Q", "read"): w["Q"], ("K", "read"): w["K"], ("S", "write"): w["S"], ("S", "read"): w["S"],
            ("A", "write"): w["A"], ("A", "read"): w["A"], ("V", "read"): w["V"], ("O", "write"): w["O"]}
    phases = (phase(m, "qk", steps[:1], w["Q"] + w["K"] + w["S"]),
              phase(m, "softmax", steps[1:5], w["S"] + w["A"]),
              phase(m, "av", steps[5:], w["A"] + w["V"] + w["O"]))
    plan = Plan(s.queries, s.keys, True, 0)
    return Result("unfused", s, m, plan, _ops(m, steps), dram, phases, steps)


def flat(h: Hierarchy, s: AttentionShape) -> Result:
    m = machine(h)
    steps = three_pass(s)
    tile = key_tile(s.keys, m.array_width)
    plan = _fused_plan(m, s, s.e + s.keys + s.f, tile * (s.e + s.f),
                       "FLAT keeps whole score rows on chip (Q row, L scores, output row)")
    dram = _fused_dram(s, plan)
    return Result("flat", s, m, plan, _ops(m, steps), dram, (phase(m, "attention", steps, sum(dram.values())),),
                  steps)


def fusemax(h: Hierarchy, s: AttentionShape, element_unit: str = ARRAY) -> Result:
    m = machine(h)
    tile = key_tile(s.keys, m.array_width)
    steps = one_pass(s, tile, element_unit)
    # per row: Q row, output accumulator, running max and sum, one score tile
    plan = _fused_plan(m, s, s.e + s.f + 2 + tile, tile * (s.e + s.f),
                       "the one-pass cascade keeps a Q row, an output row and a score tile per row")
    dram = _fused_dram(s, plan)
    name = "fusemax" if element_unit == ARRAY else f"fusemax[{element_unit}]"
    return Result(name, s, m, plan, _ops(m, steps), dram, (phase(m, "attention", steps, sum(dram.values())),),
                  steps)


def compute_energy(h: Hierarchy, macs: int, ops: dict) -> EnergyBreakdown:
    """pJ of the MACs and the non-MAC ops (``(unit, op)`` counts, ``mac`` entries excluded: they are
    ``macs``) priced by the hierarchy's energy table through ``cost.energy.energy_of``; data movement
    is not in it."""
    acts = Actions(macs, 0, 0, ops={k: v for k, v in ops.items() if k[1] != "mac"})
    return energy_of(acts, h, table_for(h))


DATAFLOWS = {"unfused": unfused, "flat": flat, "fusemax": fusemax}
ATTENTION_DATAFLOWS: tuple[str, ...] = tuple(DATAFLOWS)


def evaluate(h: Hierarchy, s: AttentionShape, dataflow: str) -> Result:
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"attention dataflow {dataflow!r}; allowed: {', '.join(DATAFLOWS)}")
    return DATAFLOWS[dataflow](h, s)
