"""Roofline hardware: peak FLOP/s, memory bandwidth, element size. From a preset or an accelsim arch.

A preset is a YAML file in ``configs/hw/`` (or any path) with ``kind: hardware``::

    version: 1
    kind: hardware
    name: rpi3
    description: Raspberry Pi 3 (4x Cortex-A53, 1.2 GHz)
    peak_gflops: 38.4            # or peak_tflops; FLOPs count 2 per multiply-accumulate
    bandwidth_gb_per_s: 3.6      # null = unlimited
    element_bytes: 4             # bytes per tensor element (4 = fp32, the default)
    on_chip_kb: 512              # optional: on-chip storage, the default buffer for tiled fusion
    achieved:                    # optional: a measured training rate (used by accelsim.training)
      {workload: alexnet, images: 5120, seconds: 36.0, on_peak_tflops: 3.52}

Any accelsim architecture works too (``eyeriss_v1`` or an arch YAML): peak = PEs x clock x 2 FLOPs
per MAC, bandwidth = its DRAM bandwidth (``None`` when the arch leaves it unlimited), element size
= word_bits / 8, on-chip storage = its global buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.yamlio import load_yaml

HW_DIR = "hw"
SUPPORTED_VERSIONS = (1,)


@dataclass(frozen=True)
class Achieved:
    """A measured training rate: ``images`` of ``workload`` took ``seconds`` on a device whose peak is
    ``on_peak_flops``. accelsim.training turns it into the fraction of peak the framework reaches."""

    workload: str
    images: int
    seconds: float
    on_peak_flops: float


@dataclass(frozen=True)
class Hardware:
    name: str
    peak_flops: float                 # FLOP/s, 2 FLOPs per MAC
    bandwidth: float | None           # bytes/s of main memory; None = unlimited
    element_bytes: float = 4.0        # bytes per tensor element
    on_chip_bytes: float | None = None
    description: str = ""
    source: str = "<memory>"
    achieved: Achieved | None = None

    @property
    def unlimited_bandwidth(self) -> bool:
        return self.bandwidth is None

    @property
    def ridge(self) -> float:
        """Intensity (FLOP/B) where the memory roof meets the compute roof; 0 when bandwidth is unlimited."""
        return 0.0 if self.bandwidth is None else self.peak_flops / self.bandwidth

    def attainable(self, intensity: float) -> float:
        """min(peak, bandwidth x intensity): the roofline."""
        if self.bandwidth is None:
            return self.peak_flops
        return min(self.peak_flops, self.bandwidth * intensity)

    def bound(self, intensity: float) -> str:
        return "compute" if intensity >= self.ridge else "memory"

    def time(self, flops: float, nbytes: float) -> float:
        """Roofline time of one operator: max(FLOPs / peak, bytes / bandwidth)."""
        memory = 0.0 if self.bandwidth is None else nbytes / self.bandwidth
        return max(flops / self.peak_flops, memory)

    def with_element_bytes(self, element_bytes: float) -> Hardware:
        return replace(self, element_bytes=element_bytes)

    def describe(self) -> str:
        bw = "unlimited" if self.bandwidth is None else f"{self.bandwidth / 1e9:g} GB/s"
        ridge = "0 (bandwidth unlimited: every layer is compute-bound)" if self.bandwidth is None \
            else f"{self.ridge:.3g} FLOP/B"
        return (f"{self.name}: peak {flops_text(self.peak_flops)}, bandwidth {bw}, "
                f"{self.element_bytes:g} B/element, ridge {ridge}")


def flops_text(rate: float) -> str:
    """A FLOP/s rate in the largest unit that keeps it >= 1: 125 TFLOP/s, 38.4 GFLOP/s."""
    for scale, unit in ((1e15, "PFLOP/s"), (1e12, "TFLOP/s"), (1e9, "GFLOP/s"), (1e6, "MFLOP/s")):
        if rate >= scale:
            return f"{rate / scale:,.4g} {unit}"
    return f"{rate:,.4g} FLOP/s"


# ---------------------------------------------------------------------------------------------
# loading

def _positive(f: Fields, name: str) -> float:
    return f.number(name, minimum=0, exclusive_min=True, maximum=1e30)


def _one_of(f: Fields, names: dict[str, float]) -> float:
    given = [n for n in names if f.has(n)]
    if len(given) != 1:
        raise f.error(None, f"give exactly one of {', '.join(names)}; got {', '.join(given) or 'none'}")
    return _positive(f, given[0]) * names[given[0]]


def hardware_from_dict(data: Any, source: str = "<memory>") -> Hardware:
    """Validate a parsed ``kind: hardware`` document. Raises ConfigError."""
    f = Fields(data, source)
    version = f.int("version", 1)
    if version not in SUPPORTED_VERSIONS:
        raise f.error("version", f"unsupported version {version}; supported: {SUPPORTED_VERSIONS}")
    f.str("kind", choices=("hardware",))
    name = f.str("name")
    description = f.str("description", "")
    peak = _one_of(f, {"peak_gflops": 1e9, "peak_tflops": 1e12})
    bw_raw = f.raw("bandwidth_gb_per_s")
    bandwidth = None if bw_raw is None else _positive(f, "bandwidth_gb_per_s") * 1e9
    element_bytes = f.number("element_bytes", 4.0, minimum=0, exclusive_min=True, maximum=64)
    on_chip_raw = f.raw("on_chip_kb", None)
    on_chip = None if on_chip_raw is None else _positive(f, "on_chip_kb") * 1024
    achieved = None
    if f.raw("achieved", None) is not None:
        a = f.sub("achieved")
        achieved = Achieved(a.str("workload"), a.int("images"), _positive(a, "seconds"),
                            _one_of(a, {"on_peak_gflops": 1e9, "on_peak_tflops": 1e12}))
        a.done()
    f.done()
    return Hardware(name, peak, bandwidth, float(element_bytes), on_chip, description, source, achieved)


def hardware_from_arch(arch) -> Hardware:
    """Roofline view of an accelsim architecture: PEs x clock x 2 FLOPs per MAC, DRAM bandwidth."""
    peak = arch.pes * arch.clock_mhz * 1e6 * 2
    bw = arch.dram.bandwidth_gb_per_s
    return Hardware(name=arch.name, peak_flops=float(peak), bandwidth=None if bw is None else bw * 1e9,
                    element_bytes=arch.word_bits / 8, on_chip_bytes=arch.glb.size_kb * 1024,
                    description=f"accelsim arch ({arch.pes} PEs at {arch.clock_mhz:g} MHz, "
                                f"{arch.word_bits}-bit words)",
                    source=arch.source)


def preset_names(kind: str = "hardware") -> list[str]:
    """Names of the shipped ``configs/hw`` presets of one kind (``hardware`` or ``interconnect``)."""
    import configs

    out = []
    for path in sorted((configs.root() / HW_DIR).glob("*.yaml")):
        try:
            data = load_yaml(path)
        except ConfigError:
            continue
        if isinstance(data, dict) and data.get("kind") == kind:
            out.append(path.stem)
    return out


def find_preset(name: str) -> Path | None:
    import configs

    if name.startswith(f"{HW_DIR}/"):
        name = name[len(HW_DIR) + 1:]
    if "/" in name or "\\" in name:
        return None
    return configs.find(f"{HW_DIR}/{name}")


def _from_document(data: Any, source: str) -> Hardware:
    if isinstance(data, dict) and "kind" in data:
        kind = data.get("kind")
        if kind != "hardware":
            raise ConfigError(f"kind {kind!r} is not roofline hardware; allowed: hardware "
                              f"(or an accelsim architecture file)", source=source, key="kind")
        return hardware_from_dict(data, source)
    from accelsim.arch import arch_from_dict

    return hardware_from_arch(arch_from_dict(data, source))


def load_hardware(name_or_path: str | Path) -> Hardware:
    """A ``configs/hw`` preset name (``v100``), an accelsim arch name (``eyeriss_v1``) or a YAML path."""
    spec = str(name_or_path)
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        return _from_document(load_yaml(path), spec)
    preset = find_preset(spec)
    if preset is not None:
        return _from_document(load_yaml(preset), str(preset))
    import configs

    found = configs.find(spec)
    if found is not None and not spec.startswith(f"{HW_DIR}/"):
        from accelsim.arch import load_arch

        return hardware_from_arch(load_arch(found))
    archs = [n for n in configs.names() if not n.startswith(f"{HW_DIR}/")]
    raise ConfigError(f"unknown hardware {spec!r}; presets: {', '.join(preset_names())}; "
                      f"accelsim archs: {', '.join(archs)}; or give a YAML file")
