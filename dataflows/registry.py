"""Registry of dataflows: every module in the ``dataflows`` package exporting ``DATAFLOW``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import dataflows
from accelsim.errors import ConfigError

_SKIP = {"registry", "declaration", "named", "nest_rule"}


@cache
def _all() -> dict:
    found = {}
    for info in sorted(pkgutil.iter_modules(dataflows.__path__), key=lambda m: m.name):
        if info.name in _SKIP:
            continue
        module = importlib.import_module(f"dataflows.{info.name}")
        df = getattr(module, "DATAFLOW", None)
        if df is not None:
            found[df.name] = df
    return found


def names() -> list[str]:
    return sorted(_all())


def get(name: str):
    flows = _all()
    if name not in flows:
        raise ConfigError(f"unknown dataflow {name!r}; allowed: {', '.join(sorted(flows))}")
    return flows[name]
