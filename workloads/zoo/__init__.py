"""The network zoo: every module in this package exports ``NETWORKS = {name: builder}``.

Builders take no arguments and return a :class:`workloads.layer.Workload` at batch 1. Adding a network
is adding a module (or a line to one); nothing central to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache

from accelsim.errors import ConfigError
from workloads.layer import Workload


@cache
def registry() -> dict[str, Callable[[], Workload]]:
    found: dict[str, Callable[[], Workload]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, builder in getattr(module, "NETWORKS", {}).items():
            if name in found:
                raise RuntimeError(f"zoo name {name!r} defined twice (second in {module.__name__})")
            found[name] = builder
    return dict(sorted(found.items()))


def names() -> list[str]:
    return list(registry())


def get(name: str) -> Workload:
    reg = registry()
    if name not in reg:
        raise ConfigError(f"unknown workload {name!r}; zoo networks: {', '.join(reg)} "
                          f"(or give a .yaml, .csv or .onnx file)")
    return reg[name]()
