"""A mobile SoC for co-execution planning: CPU, GPU, memory and the data-sharing terms.

Loaded from ``configs/soc/*.yaml`` (or any path) through :class:`accelsim.fields.Fields`, so a bad
file fails with one :class:`ConfigError` line naming the file, the key, the value and what is allowed.

Example (abridged)::

    name: Snapdragon 855
    cpu:
      name: Kryo 485 gold (Cortex-A76)
      cores: 4
      freq_ghz: 2.42
      simd_width: 4
      fma_pipes: 2
      kernels:
        direct: {item: {oc: 4, h: 1, w: 4}}
        gemm: {item: {oc: 8, px: 8}}
        ...
    gpu:
      name: Adreno 640
      compute_units: 2
      wave_size: 64
      max_work_group_size: 1024
      freq_ghz: 0.585
      fp32_lanes: 768
      kernels: {direct: {item: {oc: 4, h: 1, w: 4}}, ...}
    memory: {bandwidth_gbs: 34.1}
    sharing:
      transform: {intercept_ms: 0.05, ms_per_mb: 0.0587}
      map: {intercept_ms: 0.05, ms_per_mb: 0.0293}
      presync_ms: 1.0

A kernel entry may carry ``t_unit_ns: {const, h, w, ic, oc, red}`` (nanoseconds per basic unit, the
coefficients of CoDL's linear model; a term left out is 0); without it the prior comes from the spec
numbers (:mod:`accelsim.partition.priors`). Its terms may be negative (a fitted linear model), but at least
one must be positive (else no part could take a positive time); a part it prices at <= 0 ns fails at
prediction time (:meth:`accelsim.partition.predictor.Processor.class_ms`). A GPU kernel's ``block`` (work
items of one work group) must not exceed ``gpu.max_work_group_size``.

A processor may name its ``family`` (default: its own name): a calibration shares kernel-class
efficiencies within a family (one per-SoC scale on top). It may carry ``efficiency: {conv: 0.28, k1: ...,
...}``: per kernel-class factor (:mod:`accelsim.partition.kernel_class`), a part's compute term reaches the
product of its factors' efficiencies of the prior's speed (it takes ``prior / product``; a modifier
above 1 makes its operators faster than the base). ``accelsim partition calibrate`` fits these to
measured single-processor model latencies; a factor left out keeps 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.partition.kernel_class import FACTORS
from accelsim.yamlio import load_yaml

#: coefficient names of the per-basic-unit linear model, in feature order
COEF_KEYS: tuple[str, ...] = ("const", "h", "w", "ic", "oc", "red")

#: kernel implementations each processor must describe (what :mod:`accelsim.partition.impl` can pick)
CPU_KERNELS: tuple[str, ...] = ("direct", "general", "gemm", "winograd_f2", "winograd_f6", "depthwise", "gemv",
                                "pool", "eltwise")
GPU_KERNELS: tuple[str, ...] = ("direct", "depthwise", "gemv", "pool", "eltwise")


@dataclass(frozen=True)
class Tile:
    """The output tile of one work item (a CPU micro-kernel call, a GPU work item).

    ``flat`` tiles count pixels of the flattened ``P*Q`` output (a GEMM's columns): ``w`` pixels per
    item, ``h`` unused (1). Otherwise the item covers ``oc`` channels x ``h`` rows x ``w`` columns.
    ``ic``: input channels the item reads at a time (a GPU texel: 4); its reduction over the input
    channels is padded to a multiple of it (:func:`accelsim.partition.shape.channels_in_blocks`).
    """

    oc: int
    h: int
    w: int
    flat: bool = False
    ic: int = 1

    @property
    def outputs(self) -> int:
        return self.oc * self.h * self.w

    def count(self, n: int, k: int, p: int, q: int) -> int:
        """Items needed to cover an ``n x k x p x q`` output (partial tiles count whole)."""
        if min(n, k, p, q) <= 0:
            return 0
        if self.flat:
            return n * -(-k // self.oc) * -(-(p * q) // self.w)
        return n * -(-k // self.oc) * -(-p // self.h) * -(-q // self.w)


@dataclass(frozen=True)
class KernelSpec:
    """One kernel implementation on one processor: its tiles and (optionally) its fitted coefficients.

    ``block``: items one core (thread / work group) takes at a time; ``unit``: items in one basic unit
    (1 for a CPU micro-kernel, a wave for a GPU). ``coef_ns``: the linear model of the basic unit's
    time in ``COEF_KEYS`` order, or ``None`` to use the spec prior.
    """

    name: str
    item: Tile
    block: int
    unit: int
    coef_ns: tuple[float, ...] | None = None


@dataclass(frozen=True)
class CPUSpec:
    name: str
    cores: int
    freq_ghz: float
    simd_width: int
    fma_pipes: int
    kernels: tuple[KernelSpec, ...]
    efficiency: tuple[float, ...] = (1.0,) * len(FACTORS)   # per kernel-class factor, FACTORS order
    family: str = ""    # processors of one family share kernel-class efficiencies in a calibration

    @property
    def macs_per_s_per_core(self) -> float:
        return self.simd_width * self.fma_pipes * self.freq_ghz * 1e9

    def kernel(self, name: str) -> KernelSpec:
        return _kernel(self.kernels, name)


@dataclass(frozen=True)
class GPUSpec:
    name: str
    compute_units: int
    wave_size: int
    max_work_group_size: int
    freq_ghz: float
    fp32_lanes: int
    kernels: tuple[KernelSpec, ...]
    efficiency: tuple[float, ...] = (1.0,) * len(FACTORS)   # per kernel-class factor, FACTORS order
    family: str = ""    # processors of one family share kernel-class efficiencies in a calibration

    @property
    def cores(self) -> int:
        return self.compute_units

    @property
    def macs_per_s_per_core(self) -> float:
        return self.fp32_lanes / self.compute_units * self.freq_ghz * 1e9

    def kernel(self, name: str) -> KernelSpec:
        return _kernel(self.kernels, name)


@dataclass(frozen=True)
class LinearCost:
    """``intercept_ms + ms_per_mb * bytes / 1e6``; zero bytes cost nothing (nothing to share)."""

    intercept_ms: float
    ms_per_mb: float

    def ms(self, nbytes: int) -> float:
        if nbytes <= 0:
            return 0.0
        return self.intercept_ms + self.ms_per_mb * nbytes / 1e6


@dataclass(frozen=True)
class SharingSpec:
    transform: LinearCost
    map: LinearCost
    presync_ms: float

    def share_ms(self, nbytes: int) -> float:
        """Making ``nbytes`` written by one processor usable by the other: transform + map."""
        return self.transform.ms(nbytes) + self.map.ms(nbytes)


@dataclass(frozen=True)
class SoC:
    name: str
    cpu: CPUSpec
    gpu: GPUSpec
    bandwidth_gbs: float
    sharing: SharingSpec
    source: str = ""


def _kernel(kernels: tuple[KernelSpec, ...], name: str) -> KernelSpec:
    for k in kernels:
        if k.name == name:
            return k
    raise KeyError(name)


# ---- loading ---------------------------------------------------------------------------------

def _tile(f: Fields) -> Tile:
    ic = f.int("ic", 1)
    if f.has("px"):
        tile = Tile(oc=f.int("oc"), h=1, w=f.int("px"), flat=True, ic=ic)
    else:
        tile = Tile(oc=f.int("oc"), h=f.int("h"), w=f.int("w"), ic=ic)
    f.done()
    return tile


def _kernels(f: Fields, required: tuple[str, ...], default_block: int, default_unit: int,
             max_block: int | None = None) -> tuple[KernelSpec, ...]:
    out = []
    for name in f.data:
        if name not in required:
            raise f.error(name, f"unknown kernel; allowed: {', '.join(required)}")
        kf = f.sub(name)
        item = _tile(kf.sub("item"))
        block = kf.int("block", default_block)
        if max_block is not None and block > max_block:
            raise kf.error("block", f"value {block} is larger than max_work_group_size {max_block}: a GPU block "
                                    f"is one work group of work items; must be <= {max_block}")
        unit = kf.int("unit", default_unit)
        if unit > block:
            raise kf.error("unit", f"value {unit} is larger than block {block}: a block holds whole units")
        coef = None
        if kf.has("t_unit_ns"):
            cf = kf.sub("t_unit_ns")
            coef = tuple(cf.number(k, 0.0) for k in COEF_KEYS)
            cf.done()
            if not any(c > 0 for c in coef):
                shown = "{" + ", ".join(f"{k}: {c:g}" for k, c in zip(COEF_KEYS, coef)) + "}"
                raise kf.error("t_unit_ns", f"needs at least one positive coefficient (the regressors are "
                                            f"positive, so it could never give a positive time), got {shown}")
        if name.startswith("winograd_"):
            m = int(name.split("_f")[1])
            if item.flat or item.h != m or item.w != m:
                raise kf.error("item", f"a {name} item covers one {m}x{m} output tile: need h: {m}, w: {m}")
        kf.done()
        f.raw(name)
        out.append(KernelSpec(name, item, block, unit, coef))
    missing = [k for k in required if k not in f.data]
    if missing:
        raise f.error(None, f"missing kernel(s) {', '.join(missing)}; required: {', '.join(required)}")
    f.done()
    return tuple(sorted(out, key=lambda k: required.index(k.name)))


def _efficiency(f: Fields) -> tuple[float, ...]:
    """The optional ``efficiency`` mapping of a processor: kernel-class factor -> its efficiency (a part's
    compute term reaches the product of its factors' share of the prior's speed)."""
    if not f.has("efficiency"):
        return (1.0,) * len(FACTORS)
    ef = f.sub("efficiency")
    for name in ef.data:
        if name not in FACTORS:
            raise ef.error(name, f"unknown kernel-class factor; allowed: {', '.join(FACTORS)}")
    values = tuple(ef.number(c, 1.0, minimum=0.0, exclusive_min=True, maximum=100.0) for c in FACTORS)
    ef.done()
    return values


def soc_from_dict(data: object, source: str) -> SoC:
    f = Fields(data, source)
    name = f.str("name")
    cf = f.sub("cpu")
    cpu_name = cf.str("name")
    cores = cf.int("cores", maximum=64)
    cpu = CPUSpec(cpu_name, cores, cf.number("freq_ghz", minimum=0.01, maximum=10.0),
                  cf.int("simd_width", maximum=64), cf.int("fma_pipes", maximum=8),
                  _kernels(cf.sub("kernels"), CPU_KERNELS, 1, 1), _efficiency(cf), cf.str("family", cpu_name))
    cf.done()
    gf = f.sub("gpu")
    gpu_name = gf.str("name")
    cus = gf.int("compute_units", maximum=1024)
    wave = gf.int("wave_size", maximum=1024)
    wg = gf.int("max_work_group_size", maximum=65536)
    if wg < wave:
        raise gf.error("max_work_group_size", f"value {wg} is smaller than wave_size {wave}")
    gpu = GPUSpec(gpu_name, cus, wave, wg, gf.number("freq_ghz", minimum=0.01, maximum=10.0),
                  gf.int("fp32_lanes", maximum=1 << 20), _kernels(gf.sub("kernels"), GPU_KERNELS, wg, wave, wg),
                  _efficiency(gf), gf.str("family", gpu_name))
    gf.done()
    mf = f.sub("memory")
    bandwidth = mf.number("bandwidth_gbs", minimum=0.0, exclusive_min=True, maximum=10000.0)
    mf.done()
    sf = f.sub("sharing")
    costs = {}
    for key in ("transform", "map"):
        lf = sf.sub(key)
        costs[key] = LinearCost(lf.number("intercept_ms", minimum=0.0), lf.number("ms_per_mb", minimum=0.0))
        lf.done()
    sharing = SharingSpec(costs["transform"], costs["map"], sf.number("presync_ms", minimum=0.0))
    sf.done()
    f.done()
    return SoC(name, cpu, gpu, bandwidth, sharing, source)


def resolve_soc_path(name_or_path: str | Path) -> Path:
    """A shipped SoC name (``sd855``, ``soc/sd855``) or a YAML file path."""
    import configs

    text = str(name_or_path)
    p = Path(text)
    if p.suffix in (".yaml", ".yml"):
        if p.is_file():
            return p
        if p.exists():
            raise ConfigError("is a directory, expected a SoC YAML file", source=text)
    for candidate in (f"soc/{text}", text):
        found = configs.find(candidate)
        if found is not None:
            return found
    if p.is_file():
        return p
    raise ConfigError(f"no such SoC file or shipped SoC; shipped: {', '.join(shipped_socs())}", source=text)


def shipped_socs() -> list[str]:
    import configs

    return [n.split("/", 1)[1] for n in configs.names("soc")]


def load_soc(name_or_path: str | Path) -> SoC:
    path = resolve_soc_path(name_or_path)
    return soc_from_dict(load_yaml(path), str(path))
