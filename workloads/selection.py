"""Choosing layers of a workload: names and 1-based index ranges (``CONV1,CONV3``, ``1-5``)."""

from __future__ import annotations

from accelsim.errors import ConfigError
from workloads.layer import Workload


def select_layers(workload: Workload, spec: str | None) -> Workload:
    """The layers ``spec`` names, in the order given (duplicates dropped); all when empty."""
    if not spec:
        return workload
    names = [layer.name for layer in workload.layers]
    chosen: list[str] = []
    for part in (s.strip() for s in spec.split(",")):
        if not part:
            continue
        if part in names:
            chosen.append(part)
            continue
        lo, sep, hi = part.partition("-")
        if lo.isdigit() and (not sep or hi.isdigit()):
            a, b = int(lo), int(hi) if sep else int(lo)
            if not 1 <= a <= b <= len(names):
                raise ConfigError(f"--layers: range {part!r} outside 1-{len(names)}")
            chosen += names[a - 1:b]
            continue
        raise ConfigError(f"--layers: {part!r} is neither a layer name nor a 1-based range; layers: {', '.join(names)}")
    return workload.select(list(dict.fromkeys(chosen)))
