"""Shipped configurations (data only). Found through the installed package, never the cwd."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path


def root() -> Path:
    return Path(str(files(__name__)))


def find(name: str) -> Path | None:
    """A shipped config by name: ``eyeriss_v1``, ``isca16/rs``, ``soc/sd855`` (with or without .yaml)."""
    base = root()
    stem = name[:-5] if name.endswith(".yaml") else name
    candidate = base / f"{stem}.yaml"
    return candidate if candidate.is_file() else None


def names(subdir: str = "") -> list[str]:
    base = root() / subdir if subdir else root()
    out = []
    for p in sorted(base.rglob("*.yaml")):
        out.append(str(p.relative_to(root()).with_suffix("")))
    return out


# sub-folders holding things that are not accelerator architectures, by what they hold
NOT_ARCHS: dict[str, str] = {"hw": "roofline hardware presets", "soc": "mobile SoCs (accelsim partition)",
                             "sweeps": "sweep files (accelsim sweep)", "scalesim": "SCALE-Sim examples",
                             "sparse": "sparse features of designs (accelsim run --sparse)",
                             "hierarchy": "level lists (accelsim.hierarchy): see level-list hierarchies above"}


def is_level_list(name: str) -> bool:
    """A shipped config in the level-list form (a top-level ``levels:`` key: accelsim.hierarchy)."""
    path = find(name)
    return path is not None and re.search(r"(?m)^levels:", path.read_text()) is not None


def arch_names() -> list[str]:
    """Shipped fixed-shape accelerator architectures (what ``accelsim.arch.load_arch`` reads)."""
    return [n for n in names() if n.split("/")[0] not in NOT_ARCHS and not is_level_list(n)]


def level_list_names() -> list[str]:
    """Shipped level-list hierarchies (``accelsim run NAME`` runs them through the general core)."""
    return [n for n in names() if is_level_list(n)]

