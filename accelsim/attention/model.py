"""Attention dataflows on a hierarchy with a vector unit: exact op counts, DRAM traffic, latency bound.

Dataflows (:data:`DATAFLOWS`, selected by name, no search):
- ``unfused``: three kernels, QK, softmax (the three-pass cascade's four ops on the vector unit)
  and AV, each reading its inputs from DRAM once and writing its output once (compulsory traffic
  per kernel); kernels run one after another, compute and DRAM overlapped within a kernel.
- ``flat`` (FLAT-style): QK-softmax-AV fused per tile of ``R`` query rows of one head, the R x L
  score tile on chip, under the hierarchy's FLAT setting (``hierarchy.FlatSetting``: granularity
  ``head``, R = M, falling back to the most rows that fit, or ``row``, R = ``rows`` or the most that
  fit; which of Q, K, V, O the buffer holds). On-chip K and V stay for the head when they fit beside
  the row tile, else they are streamed once per row tile; off-chip tensors stream between DRAM and
  the array in output-stationary passes of ``y`` query rows x ``x`` keys (QK) or output columns (AV),
  the array's sides. Tiles are pipelined (double-buffered): units overlap.
- ``fusemax`` (FuseMax-style): the one-pass cascade (online softmax) over key tiles of ``L0`` keys
  (the array width, or L when shorter; a ragged last tile when L0 does not divide L), per-score ops
  on the array, per-row ops on the vector unit, pipelined with the array; on-chip storage independent of L.

The machine (:class:`Machine`) is read from a ``Hierarchy``: the MAC array's units (all fanouts),
the non-MAC unit (``vector_ops.unit_of``), the on-chip buffer (the level the vector unit hangs
below, else the level under DRAM; its capacity times its instances; no capacity = unbounded), the
DRAM level's name and bandwidths (one channel when it gives ``bandwidth``, else a read and a write
port) and the clock.

Invariants (tested against the brute-force walk in ``accelsim.attention.interp``):
- op counts are the cascade's (``cascade.op_counts``), keyed (unit name, op);
- DRAM words per tensor are exact integers: ``Q`` and ``O`` once per head, ``K``/``V`` once per
  head if resident else once per row tile; ``S``/``A`` written and read once each by ``unfused`` only;
  FLAT's off-chip ``Q`` once per pass over ``x`` keys, off-chip ``K``/``V`` once per pass over ``y``
  query rows (``O`` is written once either way);
- latency bound (cycles): per phase, the one bound of the project (``cost.bound.bound_parts``) on the
  phase's action table (``movement.cascade_actions``, the einsums under ``nest_of``, by default the
  hierarchy dataflow's named mapping): the array (MACs and the ops bound to it over its units), the
  vector unit (its ops over its lanes), every storage level's read / write / shared bandwidth (DRAM,
  the buffer, ...) and every network's; each part rounded up, the phase takes the largest; phases
  add. One phase for the fused dataflows, three for ``unfused``. A unit named for both array and
  vector work (no vector unit) adds both. Utilization = ideal MAC cycles (MACs / array units) /
  latency. The limiting resource is the one busy longest over all phases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from accelsim.attention.cascade import ARRAY, AttentionShape, Step, key_tile, one_pass, three_pass
from accelsim.attention.movement import NestOf, buffer_index, cascade_actions, named_nests
from accelsim.cost.actions import Actions, add_actions
from accelsim.cost.bound import COMPUTE_PART, bound_parts
from accelsim.cost.energy import EnergyBreakdown, energy_of
from accelsim.energy_table import table_for
from accelsim.errors import CapacityError, ConfigError
from accelsim.hierarchy import FlatSetting, Hierarchy
from accelsim.vector_ops import unit_of

DRAM_RES = "dram"        # the DRAM level's name in every shipped hierarchy (``Machine.dram``: the level's own)


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
    dram: str = DRAM_RES         # the backing store's level name (its bound part)
    dram_write_words_per_cycle: float | None = None   # None: reads and writes share one channel
    array_x: int = 1             # columns of the array (product of the fanouts' x): keys (QK) or F (AV) per pass
    array_y: int = 1             # rows of the array (product of the fanouts' y): query rows per pass


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
    top = h.levels[0]
    shared = top.bandwidth is not None
    xs = ys = 1
    for _, f in h.fanouts:
        xs, ys = xs * f.x, ys * f.y
    return Machine(h.name, h.compute.name, h.instances, vec_name, lanes, words,
                   top.bandwidth if shared else top.read_bandwidth, h.clock_mhz, width, top.name,
                   None if shared else top.write_bandwidth, xs, ys)


@dataclass(frozen=True)
class Plan:
    """The tiling a dataflow chose: query rows per tile, key tile, whether the on-chip K/V stay per
    head; for ``flat``, which of Q, K, V, O the buffer holds (the others stream between DRAM and the
    array once per array pass of ``pass_rows`` query rows x ``pass_cols`` keys or output columns)."""

    rows: int
    tile: int
    kv_resident: bool
    buffer_words: int            # words on chip at the peak (per head in flight)
    onchip: tuple[str, ...] = ("Q", "K", "V", "O")
    pass_rows: int = 1
    pass_cols: int = 1
    granularity: str = "row"     # the granularity asked for (FLAT's setting); ``fallback`` says when not kept
    fallback: str = ""           # why the plan is not what the setting asked ("" when it is)

    def describe(self) -> dict:
        """The plan as printed and in ``--json``: rows per tile, key tile, residency, placement, passes."""
        return {"granularity": self.granularity, "rows_per_tile": self.rows, "key_tile": self.tile,
                "kv_resident": self.kv_resident, "buffer_words": self.buffer_words, "onchip": list(self.onchip),
                "pass_rows": self.pass_rows, "pass_cols": self.pass_cols, "fallback": self.fallback}


@dataclass(frozen=True)
class Phase:
    name: str
    work: dict                   # array, vector unit, DRAM -> (units of work, rate per cycle): what the tiles share
    cycles: int
    limit: str                   # the bound part that sets the phase's cycles
    busy: dict = field(default_factory=dict)   # bound part -> cycles (rounded up; zero parts left out)
    actions: Actions | None = field(default=None, repr=False)   # the phase's action table


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
        """Cycles each resource (bound part) is busy, summed over phases."""
        out: dict[str, int] = {}
        for p in self.phases:
            for r, c in p.busy.items():
                out[r] = out.get(r, 0) + c
        return out

    @property
    def actions(self) -> Actions:
        """The node's action table: its phases' added (``movement.cascade_actions``)."""
        return add_actions([p.actions for p in self.phases if p.actions is not None])


def _unit(m: Machine, kind: str) -> tuple[str, int]:
    return (m.array, m.array_units) if kind == ARRAY else (m.vector, m.vector_lanes)


def _ops(m: Machine, steps: tuple[Step, ...]) -> dict:
    out: dict = {}
    for st in steps:
        key = (_unit(m, st.unit)[0], st.op)
        out[key] = out.get(key, 0) + st.count
    return out


def phase(h: Hierarchy, m: Machine, name: str, steps: tuple[Step, ...], dram: dict, nest_of: NestOf,
          offchip: tuple[str, ...] = ()) -> Phase:
    """One phase: its steps and DRAM words (``(tensor, rw) -> words``), bounded by ``bound_parts`` on
    its action table (module docstring); ``offchip`` tensors pass the buffer by."""
    work: dict = {}
    for st in steps:
        unit, rate = _unit(m, st.unit)
        w, _ = work.get(unit, (0, rate))
        work[unit] = (w + st.count, rate)
    words = sum(dram.values())
    if m.dram_words_per_cycle is not None and words:
        work[m.dram] = (words, m.dram_words_per_cycle)
    array_cycles = ceil(work.get(m.array, (0, 1))[0] / m.array_units)
    ops = {k: v for k, v in _ops(m, steps).items() if k[1] != "mac"}
    acts = cascade_actions(h, dram, steps, nest_of, array_cycles, ops, frozenset(offchip))
    parts = bound_parts(acts, h)
    parts[m.array] = parts.pop(COMPUTE_PART)
    busy = {r: ceil(v) for r, v in parts.items() if v}
    limit = max(sorted(busy), key=lambda r: busy[r]) if busy else m.array
    return Phase(name, work, busy.get(limit, 0), limit, busy, acts)


def _rows(m: Machine, s: AttentionShape, per_row: int, fixed: int, what: str) -> int:
    """The most query rows (<= M) whose tile fits beside ``fixed`` words, or a one-line error."""
    if m.buffer_words is None:
        return s.queries
    r = (m.buffer_words - fixed) // per_row
    if r < 1:
        raise CapacityError(f"{m.name}: {what}: one query row needs {per_row + fixed:,} words on chip, "
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


def _nests(h: Hierarchy, nest_of: NestOf | None) -> NestOf:
    return named_nests(h)[1] if nest_of is None else nest_of


def unfused(h: Hierarchy, s: AttentionShape, nest_of: NestOf | None = None) -> Result:
    m = machine(h)
    nests = _nests(h, nest_of)
    steps = three_pass(s)
    w = s.words()
    by_phase = ({("Q", "read"): w["Q"], ("K", "read"): w["K"], ("S", "write"): w["S"]},
                {("S", "read"): w["S"], ("A", "write"): w["A"]},
                {("A", "read"): w["A"], ("V", "read"): w["V"], ("O", "write"): w["O"]})
    dram = {k: v for d in by_phase for k, v in d.items()}
    phases = (phase(h, m, "qk", steps[:1], by_phase[0], nests),
              phase(h, m, "softmax", steps[1:5], by_phase[1], nests),
              phase(h, m, "av", steps[5:], by_phase[2], nests))
    plan = Plan(s.queries, s.keys, True, 0)
    return Result("unfused", s, m, plan, _ops(m, steps), dram, phases, steps)


def _flat_plan(m: Machine, s: AttentionShape, setting: FlatSetting) -> Plan:
    """FLAT's tile (module docstring): per query row its L scores plus its Q and O rows where the buffer
    holds them; beside the rows, the on-chip K/V of the head (resident) or of one key tile (streamed
    once per row tile); head granularity takes all M rows when they fit, else the most rows that do
    (``Plan.fallback`` says so; ``Plan.granularity`` is the setting's)."""
    on = setting.onchip
    per_row = s.keys + (s.e if "Q" in on else 0) + (s.f if "O" in on else 0)
    kv_width = (s.e if "K" in on else 0) + (s.f if "V" in on else 0)
    tile = key_tile(s.keys, m.array_width)
    kv_all, kv_stream = s.keys * kv_width, tile * kv_width
    what = f"FLAT keeps whole score rows on chip ({per_row:,} words per query row)"
    want = s.queries if setting.granularity == "head" else setting.rows
    if want is not None:
        want = min(want, s.queries)
        if m.buffer_words is None or m.buffer_words - kv_all >= per_row * want:
            return _flat_tile(m, setting, want, tile, True, per_row, kv_all)
        if m.buffer_words - kv_stream >= per_row * want:
            return _flat_tile(m, setting, want, tile, False, per_row, kv_stream)
        if setting.granularity == "row":
            raise CapacityError(f"{m.name}: {what}: {want:,} rows need {per_row * want + kv_stream:,} words, "
                                f"the buffer holds {m.buffer_words:,}")
    note = ""
    if want is not None:        # head granularity whose scores do not fit: row tiles, said so
        note = (f"head granularity: a head's {want:,} query rows need {per_row * want + kv_stream:,} words on "
                f"chip, the buffer holds {m.buffer_words:,}; row tiles of the most rows that fit")
    if m.buffer_words is None or m.buffer_words - kv_all >= per_row:
        return _flat_tile(m, setting, _rows(m, s, per_row, kv_all, what), tile, True, per_row, kv_all, note)
    return _flat_tile(m, setting, _rows(m, s, per_row, kv_stream, what), tile, False, per_row, kv_stream, note)


def _flat_tile(m: Machine, setting: FlatSetting, rows: int, tile: int, resident: bool, per_row: int,
               fixed: int, fallback: str = "") -> Plan:
    return Plan(rows, tile, resident, rows * per_row + fixed, setting.onchip, m.array_y, m.array_x,
                setting.granularity, fallback)


def _flat_dram(s: AttentionShape, plan: Plan) -> dict:
    """FLAT's DRAM words: on-chip Q and O once, on-chip K/V once per head (resident) or per row tile;
    off-chip (streamed to the array) Q once per pass over ``pass_cols`` keys, K and V once per pass
    over ``pass_rows`` query rows; O written once (output-stationary passes)."""
    n = s.batch * s.heads
    w = s.words()
    full, rest = divmod(s.queries, plan.rows)
    row_passes = full * ceil(plan.rows / plan.pass_rows) + (ceil(rest / plan.pass_rows) if rest else 0)
    on_passes = 1 if plan.kv_resident else ceil(s.queries / plan.rows)
    times = {"Q": 1 if "Q" in plan.onchip else ceil(s.keys / plan.pass_cols)}
    for t in ("K", "V"):
        times[t] = on_passes if t in plan.onchip else row_passes
    return {("Q", "read"): w["Q"] * times["Q"], ("K", "read"): n * s.keys * s.e * times["K"],
            ("V", "read"): n * s.keys * s.f * times["V"], ("O", "write"): w["O"]}


def flat(h: Hierarchy, s: AttentionShape, nest_of: NestOf | None = None) -> Result:
    """FLAT under the hierarchy's setting (``Hierarchy.flat``: granularity, rows, on-chip tensors)."""
    m = machine(h)
    steps = three_pass(s)
    plan = _flat_plan(m, s, h.flat)
    dram = _flat_dram(s, plan)
    offchip = tuple(t for t in ("Q", "K", "V", "O") if t not in plan.onchip)
    return Result("flat", s, m, plan, _ops(m, steps), dram,
                  (phase(h, m, "attention", steps, dram, _nests(h, nest_of), offchip),), steps)


def fusemax(h: Hierarchy, s: AttentionShape, nest_of: NestOf | None = None, element_unit: str = ARRAY) -> Result:
    m = machine(h)
    tile = key_tile(s.keys, m.array_width)
    steps = one_pass(s, tile, element_unit)
    # per row: Q row, output accumulator, running max and sum, one score tile
    plan = _fused_plan(m, s, s.e + s.f + 2 + tile, tile * (s.e + s.f),
                       "the one-pass cascade keeps a Q row, an output row and a score tile per row")
    dram = _fused_dram(s, plan)
    name = "fusemax" if element_unit == ARRAY else f"fusemax[{element_unit}]"
    return Result(name, s, m, plan, _ops(m, steps), dram,
                  (phase(h, m, "attention", steps, dram, _nests(h, nest_of)),), steps)


def compute_energy(h: Hierarchy, macs: int, ops: dict) -> EnergyBreakdown:
    """pJ of the MACs and the non-MAC ops (``(unit, op)`` counts, ``mac`` entries excluded: they are
    ``macs``) priced by the hierarchy's energy table through ``cost.energy.energy_of``; data movement
    is not in it."""
    acts = Actions(macs, 0, 0, ops={k: v for k, v in ops.items() if k[1] != "mac"})
    return energy_of(acts, h, table_for(h))


DATAFLOWS = {"unfused": unfused, "flat": flat, "fusemax": fusemax}
ATTENTION_DATAFLOWS: tuple[str, ...] = tuple(DATAFLOWS)


def evaluate(h: Hierarchy, s: AttentionShape, dataflow: str, nest_of: NestOf | None = None) -> Result:
    """The dataflow's result; ``nest_of`` maps the einsums (default: the hierarchy dataflow's named
    mapping, ``movement.named_nests``)."""
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"attention dataflow {dataflow!r}; allowed: {', '.join(DATAFLOWS)}")
    return DATAFLOWS[dataflow](h, s, nest_of)
