"""The architecture spec: YAML -> frozen dataclasses, one loader, and back to YAML.

Example (configs/eyeriss_v1.yaml)::

    version: 1
    name: eyeriss_v1
    clock_mhz: 200
    word_bits: 16
    pe_array: {rows: 12, cols: 14}
    rf: {ifmap_words: 12, weight_words: 224, psum_words: 24}
    glb: {size_kb: 108, banks: 27, bandwidth_words_per_cycle: 16, holds: [ifmap, psum, weight]}
    dram: {bandwidth_gb_per_s: 0.72, latency_cycles: 100}
    noc: {type: eyeriss_v1}
    energy: {preset: normalized}
    dataflow: rs
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from accelsim import limits
from accelsim.energy import PRESETS, TENSORS, ArchEnergy
from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.names import OPERAND_ROLES
from accelsim.yamlio import load_yaml

SUPPORTED_VERSIONS = (1,)


@dataclass(frozen=True)
class PEArray:
    rows: int
    cols: int
    # tensors whose MAC input has a one-word operand register (psum: an accumulator register)
    operand_registers: tuple[str, ...] = TENSORS
    # words of the input FIFO in front of a PE's scratchpads: ((tensor, words), ...), operand tensors
    # (accelsim.names.OPERAND_ROLES); a FIFO holds words of the next refill while the current tile
    # is in use (a psum's refill and write-back share its scratchpad: no psum FIFO is modelled)
    input_fifo: tuple[tuple[str, int], ...] = ()

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    def fifo_words(self, tensor: str) -> int:
        """Words of ``tensor``'s input FIFO at each PE (0: none)."""
        return dict(self.input_fifo).get(tensor, 0)



@dataclass(frozen=True)
class RegisterFile:
    """Per-PE register files in words: one per tensor (``None`` = that tensor has no RF),
    or one ``shared`` RF all kept tensors share."""

    ifmap: int | None = None
    weight: int | None = None
    psum: int | None = None
    shared: int | None = None

    def capacity(self, tensor: str) -> int | None:
        if self.shared is not None:
            return self.shared
        return getattr(self, tensor)

    def holds(self, tensor: str) -> bool:
        return self.shared is not None or getattr(self, tensor) is not None

    @property
    def total_words(self) -> int:
        if self.shared is not None:
            return self.shared
        return sum(v or 0 for v in (self.ifmap, self.weight, self.psum))


@dataclass(frozen=True)
class GlobalBuffer:
    size_kb: float
    banks: int
    bandwidth_words_per_cycle: float
    holds: tuple[str, ...]
    # dedicated space for groups of tensors: ((tensors, size_kb), ...); the tensors of ``holds``
    # in no partition share what is left of size_kb
    partitions: tuple[tuple[tuple[str, ...], float], ...] = ()

    def size_words(self, word_bits: int) -> int:
        return _kb_words(self.size_kb, word_bits)

    def capacity_groups(self, word_bits: int) -> tuple[tuple[tuple[bool, ...], int], ...]:
        """(which tensors, words they share) for every part of the buffer; without partitions
        one group of all held tensors with the whole buffer."""
        out = [(tuple(t in ts for t in TENSORS), _kb_words(kb, word_bits)) for ts, kb in self.partitions]
        covered = {t for ts, _ in self.partitions for t in ts}
        rest = tuple(t in self.holds and t not in covered for t in TENSORS)
        if any(rest):
            left = self.size_kb - sum(kb for _, kb in self.partitions)
            out.append((rest, _kb_words(left, word_bits)))
        return tuple(out)


def _kb_words(kb: float, word_bits: int) -> int:
    return int(kb * 1024 * 8 // word_bits)


@dataclass(frozen=True)
class Dram:
    bandwidth_gb_per_s: float | None   # None = unlimited
    latency_cycles: int
    energy_pj_per_bit: float | None    # overrides the energy table's DRAM entries when given


@dataclass(frozen=True)
class NocSpec:
    type: str
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)


@dataclass(frozen=True)
class Constraints:
    """What the hardware can run (Timeloop's architecture constraints): per mapping level
    (accelsim.mapping.LEVELS order), the dims that level may not split (their factor must be 1)."""

    unsplit: tuple[tuple[str, ...], ...] = ((),) * 5

    def pinned(self, level: int) -> tuple[int, ...]:
        """Dim indices whose factor at ``level`` must be 1."""
        from workloads.layer import DIMS

        return tuple(DIMS.index(d) for d in self.unsplit[level])

    def __bool__(self) -> bool:
        return any(self.unsplit)


@dataclass(frozen=True)
class Arch:
    version: int
    name: str
    clock_mhz: float
    word_bits: int
    pe_array: PEArray
    rf: RegisterFile
    glb: GlobalBuffer
    dram: Dram
    noc: NocSpec
    energy_preset: str
    energy: ArchEnergy
    dataflow: str
    source: str = "<memory>"
    constraints: Constraints = Constraints()

    @property
    def pes(self) -> int:
        return self.pe_array.pes

    @property
    def glb_words(self) -> int:
        return self.glb.size_words(self.word_bits)

    @property
    def dram_words_per_cycle(self) -> float:
        """DRAM bandwidth in words per core cycle (inf when unlimited)."""
        if self.dram.bandwidth_gb_per_s is None:
            return float("inf")
        return self.dram.bandwidth_gb_per_s * 1e9 * 8 / self.word_bits / (self.clock_mhz * 1e6)

    def with_dram_unlimited(self) -> Arch:
        return replace(self, dram=replace(self.dram, bandwidth_gb_per_s=None))

    def on_chip(self) -> Arch:
        """The same arch with an ideal DRAM (unlimited bandwidth, no latency): its simulated cycles are
        the on-chip processing time, off-chip I/O excluded (the chips' published processing latencies).
        Not the cycles minus the DRAM stalls of the real link: a DRAM-bound schedule hides the waits of
        the on-chip networks and buffers under its DRAM waits (AlexNet FC6 on eyeriss_v1: 5.4 ms by the
        subtraction, 47.2 ms simulated on chip, its weights crossing the 64-bit GIN)."""
        return replace(self, dram=replace(self.dram, bandwidth_gb_per_s=None, latency_cycles=0))


# --------------------------------------------------------------------------------------------
# loading

def _words(f: Fields, tensor: str, word_bits: int) -> int | None:
    kw, kb = f"{tensor}_words", f"{tensor}_bytes"
    if f.has(kw) and f.has(kb):
        raise f.error(kb, f"give {kw} or {kb}, not both")
    if f.has(kw):
        value = f.raw(kw)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1:
            raise f.error(kw, f"register file too small for one word: {value!r}; omit the key for no RF")
        return f.int(kw, minimum=1, maximum=1 << 30)
    if f.has(kb):
        nbytes = f.number(kb, minimum=0)
        words = int(nbytes * 8 // word_bits)
        if words < 1:
            raise f.error(kb, f"register file too small for one {word_bits}-bit word: {nbytes:g} bytes; "
                              "omit the key for no RF")
        return words
    return None


def _energy(f: Fields | None, word_bits: int, glb_kb: float, dram: Dram) -> tuple[str, ArchEnergy]:
    if f is None:
        preset = "normalized"
        table = PRESETS[preset](word_bits, glb_kb)
    else:
        preset = f.str("preset", "normalized", choices=PRESETS)
        table = PRESETS[preset](word_bits, glb_kb)
        mac = f.number("mac_pj", table.mac_pj, minimum=0)
        noc = f.number("noc_hop_pj", table.noc_hop_pj, minimum=0)
        rf_r, rf_w = list(table.rf_read_pj), list(table.rf_write_pj)
        if f.has("rf_pj"):
            value = f.raw("rf_pj")
            if isinstance(value, dict):
                rf = f.sub("rf_pj")
                for i, t in enumerate(TENSORS):
                    if rf.has(t):
                        rw = rf.sub(t)
                        rf_r[i] = rw.number("read", minimum=0)
                        rf_w[i] = rw.number("write", rf_r[i], minimum=0)
                        rw.done()
                rf.done()
            else:
                v = f.number("rf_pj", minimum=0)
                rf_r, rf_w = [v] * 3, [v] * 3

        def rw_pair(key: str, read: float, write: float) -> tuple[float, float]:
            if not f.has(key):
                return read, write
            value = f.raw(key)
            if isinstance(value, dict):
                sub = f.sub(key)
                r = sub.number("read", minimum=0)
                w = sub.number("write", r, minimum=0)
                sub.done()
                return r, w
            v = f.number(key, minimum=0)
            return v, v

        glb_r, glb_w = rw_pair("glb_pj", table.glb_read_pj, table.glb_write_pj)
        dram_r, dram_w = rw_pair("dram_pj", table.dram_read_pj, table.dram_write_pj)
        from accelsim.energy_keys import FIXED_COMPONENTS, pj_overrides

        overrides = pj_overrides(f, FIXED_COMPONENTS)      # per (component, action), sparse actions included
        f.done()
        table = ArchEnergy(mac, tuple(rf_r), tuple(rf_w), noc, glb_r, glb_w, dram_r, dram_w, overrides)
    if dram.energy_pj_per_bit is not None:
        per_word = dram.energy_pj_per_bit * word_bits
        table = replace(table, dram_read_pj=per_word, dram_write_pj=per_word)
    return preset, table


def arch_from_dict(data: Any, source: str = "<memory>") -> Arch:
    """Validate a parsed YAML document into an :class:`Arch`. Raises ConfigError."""
    from dataflows import registry as dataflow_registry  # local: keeps import graph one-way
    from noc import registry as noc_registry

    f = Fields(data, source)
    version = f.int("version", minimum=1)
    if version not in SUPPORTED_VERSIONS:
        raise f.error("version", f"unsupported version {version}; supported: {SUPPORTED_VERSIONS}")
    name = f.str("name")
    clock = f.number("clock_mhz", minimum=0, exclusive_min=True, maximum=1e5)
    word_bits = f.int("word_bits", minimum=1, maximum=128)

    pa = f.sub("pe_array")
    regs = pa.list("operand_registers", list(TENSORS))
    for item in regs:
        if item not in TENSORS:
            raise pa.error("operand_registers", f"unknown tensor {item!r}; allowed: {', '.join(TENSORS)}")
    pe_array = PEArray(pa.int("rows", maximum=1 << 16), pa.int("cols", maximum=1 << 16),
                       tuple(t for t in TENSORS if t in regs),
                       pa.int_map("input_fifo_words", OPERAND_ROLES))
    pa.done()

    rf_value = f.raw("rf", None)
    if rf_value is None:
        rf = RegisterFile()
    else:
        rff = f.sub("rf")
        shared = _words(rff, "shared", word_bits)
        per = {t: _words(rff, t, word_bits) for t in TENSORS}
        rff.done()
        if shared is not None and any(v is not None for v in per.values()):
            raise rff.error("shared_words", "give either a shared RF or per-tensor RFs, not both")
        rf = RegisterFile(shared=shared, **per)

    gf = f.sub("glb")
    glb_kb = gf.number("size_kb", minimum=0, exclusive_min=True, maximum=1 << 22)
    banks = gf.int("banks", 1, maximum=4096)
    bw = gf.number("bandwidth_words_per_cycle", minimum=limits.MIN_WORDS_PER_CYCLE, maximum=limits.MAX_WORDS_PER_CYCLE)
    holds_raw = gf.list("holds", list(TENSORS))
    for item in holds_raw:
        if item not in TENSORS:
            raise gf.error("holds", f"unknown tensor {item!r}; allowed: {', '.join(TENSORS)}")
    if len(set(holds_raw)) != len(holds_raw):
        raise gf.error("holds", f"tensor listed twice in {holds_raw}")
    partitions = _partitions(gf, glb_kb, holds_raw)
    gf.done()
    glb = GlobalBuffer(glb_kb, banks, bw, tuple(t for t in TENSORS if t in holds_raw), partitions)
    if glb.size_words(word_bits) < 1:
        raise gf.error("size_kb", f"global buffer smaller than one {word_bits}-bit word")

    df = f.sub("dram", {})
    if isinstance(df, dict):
        df = Fields(df, source, "dram")
    dbw = df.raw("bandwidth_gb_per_s", None)
    if dbw is not None:
        dbw = df.number("bandwidth_gb_per_s", minimum=limits.MIN_DRAM_GB_PER_S, maximum=limits.MAX_DRAM_GB_PER_S)
    dram = Dram(dbw, df.int("latency_cycles", 0, minimum=0, maximum=1 << 20),
                df.number("energy_pj_per_bit", None, minimum=0) if df.has("energy_pj_per_bit") else None)
    df.done()

    nf = f.sub("noc", {"type": "bus"})
    if isinstance(nf, dict):
        nf = Fields(nf, source, "noc")
    noc_type = nf.str("type", choices=noc_registry.names())
    params = tuple(sorted((k, v) for k, v in nf.data.items() if k != "type"))
    noc = NocSpec(noc_type, params)
    noc_registry.validate(noc, nf)

    ef = f.sub("energy", None)
    preset, table = _energy(ef, word_bits, glb_kb, dram)
    dataflow = f.str("dataflow", "rs", choices=dataflow_registry.names())
    constraints = _constraints(f)
    f.done()

    for t in TENSORS:
        if not rf.holds(t) and t not in glb.holds:
            raise ConfigError(f"tensor {t!r} is placed in no buffer: add it to glb.holds or give rf.{t}_words",
                              source=source, key="glb.holds")
    return Arch(version, name, clock, word_bits, pe_array, rf, glb, dram, noc, preset, table, dataflow, source,
                constraints)


def _partitions(gf: Fields, glb_kb: float, holds: list) -> tuple[tuple[tuple[str, ...], float], ...]:
    """glb.partitions: [{holds: [tensors], size_kb: x}, ...], disjoint, inside glb.holds and size_kb."""
    raw = gf.list("partitions", [])
    out, seen = [], set()
    for i, item in enumerate(raw):
        pf = Fields(item, gf.source, f"{gf.key('partitions')}[{i}]") if isinstance(item, dict) else None
        if pf is None:
            raise gf.error("partitions", f"item {i} must be a mapping with keys holds and size_kb")
        ts = pf.list("holds", min_len=1)
        for t in ts:
            if t not in holds:
                raise pf.error("holds", f"{t!r} is not in glb.holds; allowed: {', '.join(holds)}")
            if t in seen:
                raise pf.error("holds", f"{t!r} is already in another partition")
            seen.add(t)
        kb = pf.number("size_kb", minimum=0, exclusive_min=True)
        pf.done()
        out.append((tuple(t for t in TENSORS if t in ts), kb))
    total = sum(kb for _, kb in out)
    if total > glb_kb + 1e-9:
        raise gf.error("partitions", f"partitions add up to {total:g} kB > size_kb {glb_kb:g}")
    return tuple(out)


def _constraints(f: Fields) -> Constraints:
    """constraints: {unsplit: {level: [dims]}}: the dims a level may not split."""
    from accelsim.mapping import LEVELS
    from workloads.layer import DIMS

    cf = f.sub("constraints", None)
    if cf is None:
        return Constraints()
    uf = cf.sub("unsplit", {})
    if isinstance(uf, dict):
        uf = Fields(uf, f.source, cf.key("unsplit"))
    unsplit = []
    for level in LEVELS:
        dims = uf.list(level, [])
        for d in dims:
            if d not in DIMS:
                raise uf.error(level, f"unknown dim {d!r}; allowed: {', '.join(DIMS)}")
        unsplit.append(tuple(d for d in DIMS if d in dims))
    uf.done()
    cf.done()
    return Constraints(tuple(unsplit))


def resolve_arch_path(name_or_path: str | Path) -> Path:
    """A shipped config name (``eyeriss_v1``, ``isca16/rs``) or a file path."""
    import configs

    p = Path(name_or_path)
    if p.suffix in _LOADERS and p.exists():
        return p
    found = configs.find(str(name_or_path))
    if found is not None:
        return found
    if p.exists():
        return p
    raise ConfigError(f"no such architecture file or shipped config; shipped: "
                      f"{', '.join(configs.arch_names())}",
                      source=str(name_or_path))


def _load_yaml_arch(path: Path) -> Arch:
    data = load_yaml(path)
    if isinstance(data, dict) and "levels" in data:
        raise ConfigError("a level-list hierarchy (levels:), not a fixed-shape arch: `accelsim run` and `accelsim "
                          "count` take it (docs/core.md); this command needs a fixed-shape arch (the fixed-shape "
                          "Eyeriss v2 is eyeriss_v2_flat)", source=str(path))
    return arch_from_dict(data, str(path))


def load_scalesim_cfg(path: str | Path) -> Arch:
    """A SCALE-Sim .cfg as an :class:`Arch` (accelsim.interop.scalesim.cfg_document says how it
    converts). Raises ConfigError for bad input."""
    from accelsim.interop.scalesim import cfg_document

    return arch_from_dict(cfg_document(path), str(path))


# file suffix -> loader; a shipped name resolves to a .yaml file
_LOADERS = {".yaml": _load_yaml_arch, ".yml": _load_yaml_arch, ".cfg": load_scalesim_cfg}


def load_arch(name_or_path: str | Path) -> Arch:
    """An architecture from a shipped config name, an accelsim YAML file or a SCALE-Sim .cfg."""
    path = resolve_arch_path(name_or_path)
    return _LOADERS.get(path.suffix.lower(), _load_yaml_arch)(path)


def arch_to_dict(arch: Arch) -> dict:
    """The YAML document that loads back to an equal :class:`Arch` (round trip)."""
    rf: dict[str, int] = {}
    if arch.rf.shared is not None:
        rf["shared_words"] = arch.rf.shared
    for t in TENSORS:
        v = getattr(arch.rf, t)
        if v is not None:
            rf[f"{t}_words"] = v
    dram: dict[str, Any] = {"latency_cycles": arch.dram.latency_cycles}
    if arch.dram.bandwidth_gb_per_s is not None:
        dram["bandwidth_gb_per_s"] = arch.dram.bandwidth_gb_per_s
    if arch.dram.energy_pj_per_bit is not None:
        dram["energy_pj_per_bit"] = arch.dram.energy_pj_per_bit
    energy = {"preset": arch.energy_preset}
    base = PRESETS[arch.energy_preset](arch.word_bits, arch.glb.size_kb)
    table = arch.energy
    if arch.dram.energy_pj_per_bit is not None:
        table = replace(table, dram_read_pj=base.dram_read_pj, dram_write_pj=base.dram_write_pj)
    if table != base:
        d = table.as_dict()
        energy.update({k: v for k, v in d.items()})
    out: dict[str, Any] = {
        "version": arch.version,
        "name": arch.name,
        "clock_mhz": arch.clock_mhz,
        "word_bits": arch.word_bits,
        "pe_array": {"rows": arch.pe_array.rows, "cols": arch.pe_array.cols,
                     "operand_registers": list(arch.pe_array.operand_registers),
                     **({"input_fifo_words": dict(arch.pe_array.input_fifo)} if arch.pe_array.input_fifo else {})},
        "glb": {"size_kb": arch.glb.size_kb, "banks": arch.glb.banks,
                "bandwidth_words_per_cycle": arch.glb.bandwidth_words_per_cycle, "holds": list(arch.glb.holds)},
        "dram": dram,
        "noc": {"type": arch.noc.type, **dict(arch.noc.params)},
        "energy": energy,
        "dataflow": arch.dataflow,
    }
    if rf:
        out["rf"] = rf
    if arch.glb.partitions:
        out["glb"]["partitions"] = [{"holds": list(ts), "size_kb": kb} for ts, kb in arch.glb.partitions]
    if arch.constraints:
        from accelsim.mapping import LEVELS

        out["constraints"] = {"unsplit": {lv: list(ds) for lv, ds in zip(LEVELS, arch.constraints.unsplit) if ds}}
    return out
