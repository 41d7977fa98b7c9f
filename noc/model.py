"""The record every NoC model fills in: its parameters and the questions the simulator and the
energy model ask it. A model is data plus pure functions; the registry maps names to records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from noc.flow import Flow, Layout

INF = float("inf")


@dataclass(frozen=True)
class Param:
    kind: type                      # float, int or str
    default: Any
    help: str
    choices: tuple[str, ...] = ()   # for str parameters
    minimum: int = 1                # for int parameters (floats must be > 0)
    optional: bool = False          # a float that may be left unset (None: fall back to another)


Settings = dict  # resolved parameters of one NoC instance: name -> value (defaults filled in)


def _zero(*_args) -> float:
    return 0.0


Coefficients = tuple  # per tensor (ifmap, weight, psum): (a, b)


def per_delivery(rows: int, cols: int, settings: Settings) -> Coefficients:
    """One hop per word a PE receives or sends (the ISCA'16 'array' access)."""
    return ((1.0, 0.0),) * 3


def _same(settings: Settings) -> Settings:
    return dict(settings)


def no_bound(settings: Settings) -> tuple:
    """No bandwidth bound claimed: (0, 0) cycles per word for every stream."""
    return ((0.0, 0.0),) * 4


@dataclass(frozen=True)
class NocModel:
    """A NoC model.

    - ``delivery_cycles(flow, settings)``: cycles the network needs to move one pass's words of
      one stream at its bandwidth, using whatever multicast / reduction it supports;
    - ``pe_cycles(flow, settings)``: cycles the PEs themselves spend on that stream per pass
      (Eyeriss v1: adding the psum that arrives from the PE below uses the PE's adder);
    - ``latency(layout, settings)``: cycles from the first word leaving the buffer to it reaching
      the farthest active PE (pipeline fill);
    - ``fold_skew(layout, stationary, settings)``: systolic arrays only, the fill and drain skew
      paid per fold (``None`` for other networks);
    - ``hop_coefficients(array_rows, array_cols, settings)``: per tensor ``(a, b)`` with hop-words = a x (words PEs
      receive or send: NoC reads + writes) + b x (distinct words crossing the array boundary:
      ``noc_transfers``); the energy model charges hop-words x ``energy.noc_hop_pj``. Linear in the
      counts, so a vectorised scorer can use the same coefficients;
    - ``bandwidth_bound(settings)``: per stream (ifmap, weight, psum in, psum out) ``(a, b)`` cycles
      per word such that every pass's ``delivery_cycles`` >= a x delivered + b x distinct words of that
      pass; summed over a layer, a lower bound on its cycles (Eyexam step 6, the mapper's latency
      score). Linear in the counts, so the vectorised scorer uses the same numbers;
    - ``unlimited(settings)``: the same network with unlimited bandwidth and no latency.
    """

    name: str
    title: str
    params: dict[str, Param] = field(default_factory=dict)
    delivery_cycles: Callable[[Flow, Settings], float] = _zero
    pe_cycles: Callable[[Flow, Settings], float] = _zero
    latency: Callable[[Layout, Settings], float] = _zero
    fold_skew: Callable[..., float] | None = None
    fold_tail: Callable[[Settings], float] = _zero
    hop_coefficients: Callable[..., Coefficients] = per_delivery
    bandwidth_bound: Callable[[Settings], tuple] = no_bound
    unlimited: Callable[[Settings], Settings] = _same
