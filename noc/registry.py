"""Registry of NoC types an arch may name, with the parameters each accepts.

Each entry maps a type name to ``{param: (kind, default, help)}``; the arch loader validates
``noc:`` blocks against it. The delivery-time and hop-energy models live beside it, one module each.
"""

from __future__ import annotations

from typing import Any

from accelsim.fields import Fields

# name -> {param: (python type, default)}
_PARAMS: dict[str, dict[str, tuple[type, Any]]] = {
    "bus": {"words_per_cycle": (float, 1.0)},
    "mesh": {"words_per_cycle": (float, 1.0)},
    "systolic": {"timing": (str, "textbook")},
    "eyeriss_v1": {"words_per_cycle": (float, 1.0)},
    "eyeriss_v2": {"cluster_rows": (int, 3), "cluster_cols": (int, 4),
                   "ifmap_mode": (str, "grouped_multicast"), "weight_mode": (str, "unicast"),
                   "psum_mode": (str, "unicast"), "words_per_cycle": (float, 1.0)},
}


def names() -> list[str]:
    return sorted(_PARAMS)


def params(name: str) -> dict[str, tuple[type, Any]]:
    return _PARAMS[name]


def validate(noc, fields: Fields) -> None:
    """Check a NoC block's parameters (type already validated); raises ConfigError."""
    spec = _PARAMS[noc.type]
    for key, (kind, _default) in spec.items():
        if not fields.has(key):
            continue
        if kind is float:
            fields.number(key, minimum=0, exclusive_min=True)
        elif kind is int:
            fields.int(key, minimum=1)
        else:
            fields.str(key)
    fields.done()
