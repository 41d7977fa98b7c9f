"""Registry of NoC models an arch may name (``noc: {type: ..., <params>}``).

Each model module (bus, mesh, systolic, eyeriss_v1, eyeriss_v2) exports ``MODEL``, a
:class:`noc.model.NocModel` record: its parameters and the questions the simulator and the energy
model ask it. The arch loader calls :func:`names` and :func:`validate`; the simulator calls
:func:`model` and :func:`settings`; the cost model's energy
(accelsim.energy_table.arch_table) calls :func:`hop_coefficients`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from accelsim import limits
from accelsim.errors import ConfigError
from accelsim.fields import Fields
from noc import bus, eyeriss_v1, eyeriss_v2, mesh, systolic
from noc.model import NocModel

_MODELS: dict[str, NocModel] = {m.name: m for m in (bus.MODEL, mesh.MODEL, systolic.MODEL,
                                                     eyeriss_v1.MODEL, eyeriss_v2.MODEL)}


def names() -> list[str]:
    return sorted(_MODELS)


def model(name: str) -> NocModel:
    if name not in _MODELS:
        raise ConfigError(f"unknown NoC type {name!r}; allowed: {', '.join(names())}")
    return _MODELS[name]


def params(name: str) -> dict[str, tuple[type, Any]]:
    """``{param: (python type, default)}`` of one NoC type."""
    return {k: (p.kind, p.default) for k, p in model(name).params.items()}


def validate(noc, fields: Fields) -> None:
    """Check a NoC block's parameters (type already validated); raises ConfigError."""
    for key, p in model(noc.type).params.items():
        if not fields.has(key):
            continue
        if p.kind is float:          # every float parameter is a width in words per cycle
            fields.number(key, minimum=limits.MIN_WORDS_PER_CYCLE, maximum=limits.MAX_WORDS_PER_CYCLE)
        elif p.kind is int:
            fields.int(key, minimum=p.minimum, maximum=limits.MAX_NOC_INT)
        else:
            fields.str(key, choices=p.choices or None)
    fields.done()


@lru_cache(maxsize=256)
def _settings(noc_type: str, given: tuple) -> tuple:
    m = model(noc_type)
    out = {k: p.default for k, p in m.params.items()}
    for k, v in given:
        if k in out:
            out[k] = m.params[k].kind(v) if v is not None else None
    return tuple(sorted(out.items()))


def settings(noc) -> dict:
    """A NoC spec's parameters with the type's defaults filled in."""
    return dict(_settings(noc.type, tuple(noc.params)))


def network_settings(noc_type: str, params: tuple = ()) -> dict:
    """:func:`settings` of one network given by its type and parameters (a hierarchy fanout's)."""
    return dict(_settings(noc_type, tuple(params)))


def hop_coefficients(arch) -> tuple[tuple[float, float], ...]:
    """Per tensor ``(a, b)``: hop-words = a x (NoC reads + writes) + b x noc_transfers."""
    return _coefficients(arch.noc, arch.pe_array.rows, arch.pe_array.cols)


def network_hop_coefficients(noc, rows: int, cols: int) -> tuple[tuple[float, float], ...]:
    """:func:`hop_coefficients` of one network spec over a ``rows`` x ``cols`` fanout."""
    return _coefficients(noc, rows, cols)


@lru_cache(maxsize=256)
def _coefficients(noc, rows: int, cols: int) -> tuple:
    return tuple(model(noc.type).hop_coefficients(rows, cols, settings(noc)))


def bandwidth_bound(arch) -> tuple[tuple[float, float], ...]:
    """Per stream (ifmap, weight, psum in, psum out) ``(a, b)`` cycles per delivered / distinct word
    (noc.model.NocModel.bandwidth_bound)."""
    return _bound(arch.noc)


@lru_cache(maxsize=256)
def _bound(noc) -> tuple:
    return tuple(tuple(float(x) for x in ab) for ab in model(noc.type).bandwidth_bound(settings(noc)))


def network_bound(noc_type: str, params: tuple = ()) -> tuple[tuple[float, float], ...]:
    """:func:`bandwidth_bound` of one network given by its type and parameters (a hierarchy
    fanout's ``network`` and ``params``)."""
    return _network_bound(noc_type, tuple(params))


@lru_cache(maxsize=256)
def _network_bound(noc_type: str, params: tuple) -> tuple:
    s = dict(_settings(noc_type, params))
    return tuple(tuple(float(x) for x in ab) for ab in model(noc_type).bandwidth_bound(s))


def unlimited_params(noc_type: str, params: tuple = ()) -> tuple[tuple[str, Any], ...]:
    """The parameters of the same network with unlimited bandwidth and no latency (sorted items)."""
    m = model(noc_type)
    return tuple(sorted(m.unlimited(dict(_settings(noc_type, tuple(params)))).items()))

