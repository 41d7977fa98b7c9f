"""Interconnect presets (``kind: interconnect`` in configs/hw/) and the alpha-beta message time.

::

    version: 1
    kind: interconnect
    name: gemini
    link_bandwidth_gb_per_s: 6.0     # beta: sustained bandwidth of one link, per direction
    latency_us: 1.4                  # alpha: per-message latency
    host_link:                       # optional: GPU <-> host copy every message is staged through
      {name: PCIe Gen2 x16, bandwidth_gb_per_s: 8.0}

A message of n bytes from one worker to another takes alpha + n / beta; with a host link and staging
on, the copies GPU -> host and host -> GPU are added, one after the other: + 2 n / host bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.roofline.hardware import find_preset, preset_names
from accelsim.yamlio import load_yaml


@dataclass(frozen=True)
class Interconnect:
    name: str
    bandwidth: float                  # bytes/s per link per direction
    latency_s: float
    host_bandwidth: float | None = None
    host_link: str = ""
    description: str = ""
    source: str = "<memory>"

    def message_time(self, nbytes: float, *, staged: bool = True) -> float:
        """alpha + n / beta (+ 2 n / host bandwidth when staged through the host)."""
        t = self.latency_s + nbytes / self.bandwidth
        if staged and self.host_bandwidth is not None:
            t += 2 * nbytes / self.host_bandwidth
        return t


def interconnect_from_dict(data: Any, source: str = "<memory>") -> Interconnect:
    f = Fields(data, source)
    version = f.int("version", 1)
    if version != 1:
        raise f.error("version", f"unsupported version {version}; supported: (1,)")
    f.str("kind", choices=("interconnect",))
    name = f.str("name")
    description = f.str("description", "")
    bw = f.number("link_bandwidth_gb_per_s", minimum=0, exclusive_min=True, maximum=1e9) * 1e9
    latency = f.number("latency_us", minimum=0, maximum=1e9) * 1e-6
    host_bw, host_name = None, ""
    if f.raw("host_link", None) is not None:
        h = f.sub("host_link")
        host_name = h.str("name", "host link")
        host_bw = h.number("bandwidth_gb_per_s", minimum=0, exclusive_min=True, maximum=1e9) * 1e9
        h.done()
    f.done()
    return Interconnect(name, bw, latency, host_bw, host_name, description, source)


def load_interconnect(name_or_path: str | Path) -> Interconnect:
    """A ``configs/hw`` interconnect preset name (``gemini``) or a YAML path."""
    spec = str(name_or_path)
    path = Path(spec)
    if not (path.suffix.lower() in (".yaml", ".yml") or path.exists()):
        found = find_preset(spec)
        if found is None:
            raise ConfigError(f"unknown interconnect {spec!r}; presets: "
                              f"{', '.join(preset_names('interconnect'))}; or give a YAML file")
        path, spec = found, str(found)
    data = load_yaml(path)
    if isinstance(data, dict) and data.get("kind") != "interconnect":
        raise ConfigError(f"kind {data.get('kind')!r} is not an interconnect; allowed: interconnect",
                          source=spec, key="kind")
    return interconnect_from_dict(data, spec)
