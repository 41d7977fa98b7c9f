"""Which plots an output directory gets (``accelsim plot DIR``): a registry of directory plots.

Any module in ``accelsim.plots`` may export ``DIR_PLOTS``: a tuple of :class:`DirPlot`, each saying
whether it applies to a directory (by the files there) and how to draw it. ``accelsim plot`` draws
every one that applies, so a new figure family only adds a module; nothing here changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DirPlot:
    name: str
    description: str
    applies: Callable[[Path], bool]                                     # directory -> bool
    render: Callable[[Path, Path, tuple[str, ...], dict], list[Path]]   # (dir, out_dir, formats, where) -> files


def discover() -> list[DirPlot]:
    """Every DirPlot exported by a module of the accelsim.plots package, in module-name order."""
    import accelsim.plots as package

    found: list[DirPlot] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name in ("registry", "style"):
            continue
        module = importlib.import_module(f"accelsim.plots.{info.name}")
        found += list(getattr(module, "DIR_PLOTS", ()))
    return found
