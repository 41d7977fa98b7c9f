"""Choosing layers of a workload: names and 1-based index ranges (``CONV1,CONV3``, ``1-5``)."""

from __future__ import annotations

from accelsim.errors import ConfigError
from workloads.layer import Workload


def select_layers(workload: Workload, spec: str | None) -> Workload:
    """The layers ``spec`` names, in the order given (duplicates dropped); all when ``spec`` is None.
    An empty selection (``""``, ``",,"``) is an error, never a silent "all"."""
    if spec is None:
        return workload
    names = [layer.name for layer in workload.layers]
    if not isinstance(spec, str):
        raise ConfigError(f"--layers: expected names and/or 1-based ranges as text, got {spec!r}")
    chosen: list[str] = []
    for part in (s.strip() for s in spec.split(",")):
        if not part:
            raise ConfigError(f"--layers: empty item in {spec!r}; give layer names and/or 1-based ranges "
                              f"such as 1-{len(names)}")
        if part in names:
            chosen.append(part)
            continue
        lo, sep, hi = part.partition("-")
        if lo.isdigit() and (not sep or hi.isdigit()):
            a, b = int(lo), int(hi) if sep else int(lo)
            if a > b:
                raise ConfigError(f"--layers: range {part!r} is reversed; write {b}-{a}")
            if not 1 <= a <= b <= len(names):
                raise ConfigError(f"--layers: range {part!r} outside 1-{len(names)}")
            chosen += names[a - 1:b]
            continue
        raise ConfigError(f"--layers: {part!r} is neither a layer name nor a 1-based range; layers: {', '.join(names)}")
    return workload.select(list(dict.fromkeys(chosen)))
