"""The architecture as an ordered list of storage levels, outermost first, and a compute level.

Each :class:`Storage` level keeps some tensor roles (``accelsim.names.ROLES``), has capacity groups
(``((roles, words), ...)``: one group per role for per-tensor buffers, one group of several roles
for a shared buffer or a partition; none = unbounded), optional read/write bandwidth in words per
cycle (or one ``bandwidth`` shared by reads and writes: a single port), and optionally a
:class:`Fanout` below it: ``x * y`` copies of everything under it, joined to
it by a network named from the NoC registry (``noc.registry``).

Invariants (checked on construction, ConfigError otherwise):
- level names are unique and differ from the compute level's name;
- the first level is the backing store: it keeps every role and has no capacity limit;
- a level keeps only known roles, each at most once; every capacity group names kept roles only,
  no role in two groups, words >= 1;
- fanout sizes are >= 1 and the network is a registered NoC type (its parameters validated there);
- ``unsplit`` (per level) and ``unsplit_x`` / ``unsplit_y`` (per fanout) name dims the hardware
  cannot split there (Timeloop's constraints; checked against a nest by ``loopnest.problems_of``);
- the list order is the nesting (level i+1 is inside level i), so the level graph has no cycle by
  construction;
- ``flat`` (:class:`FlatSetting`, the FLAT attention dataflow's parameters): granularity ``head`` or
  ``row``, ``rows`` >= 1 with ``row`` only, ``onchip`` a subset of Q, K, V, O, each named once.

:func:`from_arch` converts today's fixed-shape ``accelsim.arch.Arch`` (DRAM -> GLB -> rows x cols ->
RF -> operand registers -> MAC); :func:`hierarchy_from_dict` / :func:`load_hierarchy` read the YAML
``levels:`` form (docs/core.md). ``accelsim run`` runs it through accelsim.pipeline_hierarchy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from accelsim.energy_table import EnergySpec, components_of, energy_spec_from_fields
from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.names import DRAM, GLB, MAC, OPERAND_ROLES, REG, RF, ROLES

CapacityGroups = tuple[tuple[tuple[str, ...], int], ...]


@dataclass(frozen=True)
class Fanout:
    x: int
    y: int
    network: str
    params: tuple[tuple[str, Any], ...] = ()
    unsplit_x: tuple[str, ...] = ()     # dims the x axis may not split (hardware constraints)
    unsplit_y: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return self.x * self.y


@dataclass(frozen=True)
class Storage:
    name: str
    keeps: tuple[str, ...]
    capacity: CapacityGroups = ()
    read_bandwidth: float | None = None     # words per cycle; None = unlimited
    write_bandwidth: float | None = None
    fanout: Fanout | None = None
    unsplit: tuple[str, ...] = ()       # dims this level's temporal loops may not split
    bandwidth: float | None = None      # words per cycle shared by reads and writes (one port); None = no shared limit
    # (YAML: a level giving only ``bandwidth`` gets it as its read and write bandwidth too)
    # input FIFO in front of each copy: ((operand role, words), ...); its words of the next refill
    # wait there while the current tile is in use (timing only; YAML ``input_fifo_words``)
    input_fifo: tuple[tuple[str, int], ...] = ()

    def fifo_words(self, role: str) -> int:
        return dict(self.input_fifo).get(role, 0)

    def keeps_role(self, role: str) -> bool:
        return role in self.keeps


@dataclass(frozen=True)
class Compute:
    name: str = MAC


@dataclass(frozen=True)
class Vector:
    """A 1-D array of ``lanes`` units for non-MAC work (exp, max, sum, divide, ...: accelsim.vector_ops),
    fed from storage level ``below`` (it hangs below that level, beside the MAC fanout). One op per
    lane per cycle. An arch without one runs its non-MAC ops on the MAC array."""

    name: str
    lanes: int
    below: str


FLAT_GRANULARITIES = ("head", "row")
FLAT_TENSORS = ("Q", "K", "V", "O")


@dataclass(frozen=True)
class FlatSetting:
    """FLAT's dataflow parameters (Kao et al., ASPLOS'23; ``accelsim.attention.model.flat``), YAML
    ``flat: {granularity, rows, onchip}``:

    - ``granularity``: FLAT's fusion granularity: ``head`` (one fused tile per head: all its query
      rows, the whole score matrix on chip) or ``row`` (tiles of ``rows`` query rows; FLAT's R, the
      FuseMax artifact's ``P1``; no ``rows``: the most that fit the buffer);
    - ``onchip``: which of Q, K, V and the output O the on-chip buffer holds (the artifact's
      ``*_loc: onchip``); the others stream between DRAM and the array's registers, once per array
      pass (``offchip``). The score tile (S, A) is always on chip: that is the fusion.

    No ``flat:`` key: row granularity, the most rows that fit, all four on chip."""

    granularity: str = "row"
    rows: int | None = None
    onchip: tuple[str, ...] = FLAT_TENSORS


@dataclass(frozen=True)
class Hierarchy:
    name: str
    levels: tuple[Storage, ...]
    compute: Compute = Compute()
    word_bits: int = 16
    source: str = "<memory>"
    clock_mhz: float | None = None      # None: counts only, no seconds
    vector: Vector | None = None        # None: non-MAC ops run on the MAC array
    dataflow: str | None = None         # the dataflow `accelsim run` uses when none is given
    energy: EnergySpec = EnergySpec()   # preset + overrides + areas (accelsim.energy_table.table_for)
    flat: FlatSetting = FlatSetting()   # the FLAT attention dataflow's setting (YAML ``flat:``)

    def __post_init__(self) -> None:
        bad = _first_problem(self)
        if bad is not None:
            key, message = bad
            raise ConfigError(message, source=self.source, key=key)

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(lv.name for lv in self.levels)

    def level(self, name: str) -> Storage:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise KeyError(name)

    def index(self, name: str) -> int:
        return self.level_names.index(name)

    def on_chip(self) -> Hierarchy:
        """The same hierarchy with its outermost level (DRAM) unlimited in bandwidth: its simulated cycles
        are the on-chip processing time, off-chip I/O excluded (as ``Arch.on_chip``)."""
        top = replace(self.levels[0], read_bandwidth=None, write_bandwidth=None, bandwidth=None)
        return replace(self, levels=(top, *self.levels[1:]))

    @property
    def fanouts(self) -> tuple[tuple[int, Fanout], ...]:
        """(index of the level the fanout hangs below, fanout), outermost first."""
        return tuple((i, lv.fanout) for i, lv in enumerate(self.levels) if lv.fanout is not None)

    @property
    def instances(self) -> int:
        """Compute units: the product of all fanouts."""
        out = 1
        for _, f in self.fanouts:
            out *= f.size
        return out

    @property
    def buffers(self) -> tuple[int, ...]:
        """Indices of the levels between the backing store and the compute level that are buffers:
        all but the backing store and a last level that is a register level (every capacity group
        one word) or keeps nothing."""
        last = len(self.levels) - 1
        lv = self.levels[last]
        registers = last > 0 and (not lv.keeps or (bool(lv.capacity) and all(w == 1 for _, w in lv.capacity)))
        return tuple(range(1, last if registers else last + 1))

    def describe(self) -> str:
        parts = []
        for lv in self.levels:
            cap = ", ".join(f"{'+'.join(ts)} {w}" for ts, w in lv.capacity) or "unbounded"
            parts.append(f"{lv.name}[{', '.join(lv.keeps) or '-'}; {cap}]")
            if lv.fanout is not None:
                parts.append(f"{lv.fanout.x}x{lv.fanout.y} {lv.fanout.network}")
        parts.append(self.compute.name)
        text = " -> ".join(parts)
        if self.vector is not None:
            text += f"; {self.vector.name}[{self.vector.lanes} lanes, below {self.vector.below}]"
        if self.energy.area_mm2:
            from accelsim.energy_table import area_mm2

            text += f"; area {area_mm2(self):.4g} mm^2 ({self.energy.area_source})"
        return text


def _first_problem(h: Hierarchy) -> tuple[str, str] | None:
    if not h.levels:
        return "levels", "a hierarchy needs at least one storage level (the backing store)"
    names = [lv.name for lv in h.levels]
    for i, lv in enumerate(h.levels):
        key = f"levels[{i}]"
        if not lv.name:
            return f"{key}.name", "a level needs a name"
        if names.count(lv.name) > 1:
            return f"{key}.name", f"duplicate level name {lv.name!r}; level names must be unique"
        if lv.name == h.compute.name:
            return f"{key}.name", f"level name {lv.name!r} is the compute level's name"
        for r in lv.keeps:
            if r not in ROLES:
                return f"{key}.keeps", f"level {lv.name!r} keeps unknown tensor {r!r}; allowed: {', '.join(ROLES)}"
            if lv.keeps.count(r) > 1:
                return f"{key}.keeps", f"tensor {r!r} listed twice"
        grouped: set[str] = set()
        for ts, words in lv.capacity:
            for r in ts:
                if r not in lv.keeps:
                    return f"{key}.capacity", f"capacity names {r!r}, which level {lv.name!r} does not keep"
                if r in grouped:
                    return f"{key}.capacity", f"tensor {r!r} in two capacity groups"
                grouped.add(r)
            if isinstance(words, bool) or not isinstance(words, int) or words < 1:
                return f"{key}.capacity", f"words must be a positive integer, got {words!r}"
        if lv.fanout is not None:
            for axis in ("x", "y"):
                v = getattr(lv.fanout, axis)
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    return f"{key}.fanout.{axis}", f"fanout {axis} must be an integer >= 1, got {v!r}"
    fs = h.flat
    if fs.granularity not in FLAT_GRANULARITIES:
        return "flat.granularity", (f"unknown FLAT granularity {fs.granularity!r}; allowed: "
                                    f"{', '.join(FLAT_GRANULARITIES)}")
    if fs.rows is not None and (fs.granularity != "row" or isinstance(fs.rows, bool)
                                or not isinstance(fs.rows, int) or fs.rows < 1):
        return "flat.rows", f"rows (an integer >= 1) goes with granularity row only, got {fs.rows!r}"
    for t in fs.onchip:
        if t not in FLAT_TENSORS or fs.onchip.count(t) > 1:
            return "flat.onchip", f"onchip lists {t!r}; allowed, each once: {', '.join(FLAT_TENSORS)}"
    if h.vector is not None:
        if h.vector.below not in names:
            return "vector.below", (f"vector unit {h.vector.name!r} hangs below unknown level {h.vector.below!r}; "
                                    f"levels: {', '.join(names)}")
        if isinstance(h.vector.lanes, bool) or not isinstance(h.vector.lanes, int) or h.vector.lanes < 1:
            return "vector.lanes", f"lanes must be an integer >= 1, got {h.vector.lanes!r}"
        if h.vector.name in names or h.vector.name == h.compute.name:
            return "vector.name", f"vector unit name {h.vector.name!r} is already a level's or the compute's name"
    top = h.levels[0]
    missing = [r for r in ROLES if r not in top.keeps]
    if missing or top.capacity:
        return "levels[0]", (f"the first level ({top.name!r}) is the backing store: it keeps every tensor "
                             f"({', '.join(ROLES)}) with no capacity limit")
    return None


# ---- today's fixed shape ----------------------------------------------------------------------

def from_arch(arch: Any) -> Hierarchy:
    """The level list of a fixed-shape ``accelsim.arch.Arch``: DRAM -> GLB (rows x cols fanout, the
    arch's NoC) -> RF -> operand registers -> MAC. The RF and register levels are always present
    (keeping what the arch gives them, possibly nothing), so every fixed-shape mapping converts."""
    glb_groups = tuple((tuple(r for r, g in zip(ROLES, group) if g), words)
                       for group, words in arch.glb.capacity_groups(arch.word_bits))
    dram_u, glb_u, rows_u, cols_u, rf_u = arch.constraints.unsplit   # accelsim.mapping.LEVELS order
    dram_bw = arch.dram_words_per_cycle
    dram = None if dram_bw == float("inf") else dram_bw
    glb = arch.glb.bandwidth_words_per_cycle
    levels = [   # DRAM and the GLB have one port each, shared by reads and writes (``bandwidth``)
        Storage(DRAM, ROLES, (), dram, dram, unsplit=dram_u, bandwidth=dram),
        Storage(GLB, tuple(arch.glb.holds), glb_groups, glb, glb,
                Fanout(arch.pe_array.rows, arch.pe_array.cols, arch.noc.type, arch.noc.params, rows_u, cols_u),
                unsplit=glb_u, bandwidth=glb),
    ]
    rf_roles = tuple(r for r in ROLES if arch.rf.holds(r))
    if arch.rf.shared is not None:
        groups: CapacityGroups = ((rf_roles, arch.rf.shared),)
    else:
        groups = tuple(((r,), arch.rf.capacity(r)) for r in rf_roles)
    regs = tuple(arch.pe_array.operand_registers)
    levels.append(Storage(RF, rf_roles, groups, unsplit=rf_u,    # kept even when it holds nothing: its loops remain
                          input_fifo=tuple(arch.pe_array.input_fifo)))
    levels.append(Storage(REG, regs, tuple(((r,), 1) for r in regs)))
    from accelsim.energy_table import arch_table

    energy = EnergySpec(arch.energy_preset, arch_table(arch).entries, complete=True)
    return Hierarchy(arch.name, tuple(levels), Compute(MAC), arch.word_bits, arch.source, arch.clock_mhz,
                     dataflow=arch.dataflow, energy=energy)


def fixed_shape(rows: int, cols: int, network: str = "bus") -> Hierarchy:
    """The fixed shape with every level keeping every role and no capacity limits (for proofs that
    the general core equals the fixed-shape one on any legal mapping)."""
    return Hierarchy("fixed", (
        Storage(DRAM, ROLES),
        Storage(GLB, ROLES, fanout=Fanout(rows, cols, network)),
        Storage(RF, ROLES),
        Storage(REG, ROLES),
    ))


# ---- YAML ----------------------------------------------------------------------------------------

def _capacity(lf: Fields, keeps: list[str]) -> CapacityGroups:
    """``capacity: 1024`` (all kept roles share), ``{ifmap: 12, weight: 224}`` (per role) or
    ``[{tensors: [ifmap, psum], words: 6144}, ...]`` (groups)."""
    if not lf.has("capacity"):
        return ()
    raw = lf.raw("capacity")
    if isinstance(raw, list):
        out = []
        for i, item in enumerate(raw):
            gf = Fields(item, lf.source, f"{lf.key('capacity')}[{i}]")
            ts = gf.list("tensors", min_len=1)
            for t in ts:
                if t not in keeps:
                    raise gf.error("tensors", f"{t!r} is not kept by this level; kept: {', '.join(keeps) or 'none'}")
            out.append((tuple(ts), gf.int("words", minimum=1, maximum=1 << 40)))
            gf.done()
        return tuple(out)
    if isinstance(raw, dict):
        cf = lf.sub("capacity")
        out = []
        for t in list(cf.data):
            if t not in keeps:
                raise cf.error(t, f"{t!r} is not kept by this level; kept: {', '.join(keeps) or 'none'}")
            out.append(((t,), cf.int(t, minimum=1, maximum=1 << 40)))
        cf.done()
        return tuple(out)
    words = lf.int("capacity", minimum=1, maximum=1 << 40)
    return ((tuple(keeps), words),) if keeps else ()


def _fanout(lf: Fields) -> Fanout | None:
    from accelsim.arch import NocSpec
    from noc import registry as noc_registry

    if not lf.has("fanout"):
        return None
    ff = lf.sub("fanout")
    x = ff.int("x", minimum=1, maximum=1 << 16)
    y = ff.int("y", 1, minimum=1, maximum=1 << 16)
    net = ff.raw("network")
    if isinstance(net, dict):
        nf = ff.sub("network")
        kind = nf.str("type", choices=noc_registry.names())
        params = tuple(sorted((k, v) for k, v in nf.data.items() if k != "type"))
        noc_registry.validate(NocSpec(kind, params), nf)
    else:
        kind = ff.str("network", choices=noc_registry.names())
        params = ()
    ux, uy = _dims(ff, "unsplit_x"), _dims(ff, "unsplit_y")
    ff.done()
    return Fanout(x, y, kind, params, ux, uy)


def _dims(f: Fields, key: str) -> tuple[str, ...]:
    """A list of dim names (identifiers; which dims exist is the problem's business)."""
    out = f.list(key, [])
    for d in out:
        if not isinstance(d, str) or not d.isidentifier():
            raise f.error(key, f"expected a list of dim names, got {d!r}")
    return tuple(out)


def hierarchy_from_dict(data: Any, source: str = "<memory>") -> Hierarchy:
    """Read ``{name, word_bits, clock_mhz, dataflow, levels: [{name, keeps, capacity, read_bandwidth,
    write_bandwidth, bandwidth, input_fifo_words: {role: words}, fanout: {x, y, network}}], compute: {name},
    vector: {name, lanes, below}, flat: {granularity, rows, onchip}}``."""
    f = Fields(data, source)
    name = f.str("name")
    word_bits = f.int("word_bits", 16, minimum=1, maximum=128)
    dataflow = f.str("dataflow") if f.has("dataflow") else None
    levels = []
    seen: set[str] = set()
    for i, item in enumerate(f.list("levels", min_len=1)):
        lf = Fields(item, source, f"levels[{i}]")
        lname = lf.str("name")
        if lname in seen:
            raise lf.error("name", f"duplicate level name {lname!r}; level names must be unique")
        seen.add(lname)
        keeps = lf.list("keeps", [])
        for t in keeps:
            if t not in ROLES:
                raise lf.error("keeps", f"level {lname!r} keeps unknown tensor {t!r}; allowed: {', '.join(ROLES)}")
        cap = _capacity(lf, keeps)
        rbw = lf.number("read_bandwidth", minimum=0, exclusive_min=True) if lf.has("read_bandwidth") else None
        bw = lf.number("bandwidth", minimum=0, exclusive_min=True) if lf.has("bandwidth") else None
        if rbw is None:
            rbw = bw                      # one direction alone may use the whole shared port
        wbw = lf.number("write_bandwidth", minimum=0, exclusive_min=True) if lf.has("write_bandwidth") else rbw
        fan = _fanout(lf)
        unsplit = _dims(lf, "unsplit")
        fifo = lf.int_map("input_fifo_words", OPERAND_ROLES)
        lf.done()
        levels.append(Storage(lname, tuple(keeps), cap, rbw, wbw, fan, unsplit, bw, fifo))
    cf = f.sub("compute", {})
    if isinstance(cf, dict):
        cf = Fields(cf, source, "compute")
    compute = Compute(cf.str("name", MAC))
    cf.done()
    clock = f.number("clock_mhz", minimum=0, exclusive_min=True, maximum=1e5) if f.has("clock_mhz") else None
    vector = None
    if f.has("vector"):
        vf = f.sub("vector")
        vector = Vector(vf.str("name", "vector"), vf.int("lanes", minimum=1, maximum=1 << 20),
                        vf.str("below", choices=[lv.name for lv in levels]))
        vf.done()
    flat = FlatSetting()
    if f.has("flat"):
        ff = f.sub("flat")
        flat = FlatSetting(ff.str("granularity", choices=FLAT_GRANULARITIES),
                           ff.int("rows") if ff.has("rows") else None,
                           tuple(ff.list("onchip")))
        ff.done()
    energy = EnergySpec()
    if f.has("energy"):
        shape = Hierarchy(name, tuple(levels), compute, word_bits, source, vector=vector)
        energy = energy_spec_from_fields(f.sub("energy"), components_of(shape))
    f.done()
    return Hierarchy(name, tuple(levels), compute, word_bits, source, clock, vector, dataflow, energy=energy,
                     flat=flat)


def load_hierarchy(path: str) -> Hierarchy:
    from accelsim.yamlio import load_yaml

    return hierarchy_from_dict(load_yaml(path), str(path))


def level_list(name: str) -> Hierarchy | None:
    """The level-list hierarchy ``name`` names, or None when it names something else: a YAML file
    with ``levels:``; a shipped config ``NAME`` with ``levels:``; ``hierarchy/NAME``, or ``NAME``
    when no shipped config has that name, under configs/hierarchy (``hierarchy/NAME`` also finds a
    shipped level list ``NAME``: eyeriss_v2)."""
    from pathlib import Path

    import configs
    from accelsim.yamlio import load_yaml

    path = Path(name)
    if not path.is_file():
        found = configs.find(name)
        if found is None and "/" not in name:
            found = configs.find(f"hierarchy/{name}")
        if found is None and name.startswith("hierarchy/"):      # a shipped level list at the top level
            found = configs.find(name[len("hierarchy/"):])
        if found is None:
            return None
        path = found
    if path.suffix.lower() not in (".yaml", ".yml"):
        return None
    data = load_yaml(path)
    if isinstance(data, dict) and "levels" in data:
        return hierarchy_from_dict(data, str(path))
    return None


def load_architecture(name: str) -> Hierarchy:
    """Any architecture as a level list: a level-list YAML file (it has ``levels:``), a shipped one
    (``hierarchy/NAME`` or ``NAME`` under configs/hierarchy, or a shipped config with ``levels:``),
    or else any fixed-shape arch that ``accelsim.arch.load_arch`` reads (shipped name, YAML,
    SCALE-Sim .cfg), converted by :func:`from_arch` on load."""
    from accelsim.arch import load_arch

    found = level_list(name)
    return found if found is not None else from_arch(load_arch(name))
