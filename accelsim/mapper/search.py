"""search(layer, arch, dataflow, spec) -> SearchResult: propose, score, reduce.

Half the budget samples the dataflow's space at random (space.Space); the other half climbs by
local moves (one or a few at a time) from the best mappings found so far, rotating among the top
few. The named mapping is always a candidate, so a search is never worse than it. Same seed, same
answer: all randomness comes from one ``random.Random(seed)``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from accelsim.cost.counts import count
from accelsim.cost.model import LayerResult, evaluate
from accelsim.errors import ConfigError
from accelsim.mapper.score import OBJECTIVES, Score, score
from accelsim.mapper.space import Space, mutate
from accelsim.mapping import Mapping, problems_of
from workloads.layer import Layer

TOP = 6


@dataclass(frozen=True)
class SearchSpec:
    objective: str = "energy"
    budget: int = 1500
    seed: int = 0
    time_limit_s: float | None = None

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}; allowed: {', '.join(OBJECTIVES)}")
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise ConfigError(f"search budget must be a positive integer, got {self.budget!r}")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise ConfigError(f"time limit must be > 0 seconds, got {self.time_limit_s!r}")


@dataclass(frozen=True)
class SearchResult:
    mapping: Mapping
    result: LayerResult
    score: Score
    evaluated: int          # distinct legal mappings scored, the named mapping included
    proposed: int           # proposals drawn, repeats and illegal ones included
    stopped_by: str         # "budget", "time_limit" or "space" (no new proposals found)


def _key(s: Score, m: Mapping) -> tuple:
    return (s.objective, s.energy_pj, s.cycles, m.factors, m.orders)


def search(layer: Layer, arch, dataflow, spec: SearchSpec) -> SearchResult:
    rng = random.Random(spec.seed)
    start = time.perf_counter()
    seen: set = set()
    top: list[tuple[tuple, Mapping, Score]] = []     # best first, at most TOP
    evaluated = proposed = 0
    stopped_by = "space"

    def consider(m: Mapping) -> None:
        nonlocal evaluated
        ident = (m.factors, m.orders)
        if ident in seen:
            return
        seen.add(ident)
        if problems_of(layer, m, arch):
            return
        s = score(count(layer, m), arch, spec.objective)
        evaluated += 1
        top.append((_key(s, m), m, s))
        top.sort(key=lambda entry: entry[0])
        del top[TOP:]

    try:
        consider(dataflow.named(layer, arch))
    except ConfigError:
        pass
    space = Space(layer, arch, dataflow)
    explore = spec.budget // 2
    while proposed < spec.budget * 20:
        if evaluated >= spec.budget:
            stopped_by = "budget"
            break
        if spec.time_limit_s is not None and time.perf_counter() - start > spec.time_limit_s:
            stopped_by = "time_limit"
            break
        proposed += 1
        if not top or evaluated < explore:
            consider(space.propose(rng))
        else:
            m = top[proposed % len(top)][1]
            for _ in range(1 + (rng.random() < 0.3) + (rng.random() < 0.1)):
                m = mutate(layer, arch, dataflow, m, rng)
            consider(m)
    if not top:
        raise ConfigError(f"no legal mapping found for layer {layer.name!r} with dataflow {dataflow.name!r} "
                          f"on {arch.name!r} within {proposed} proposals")
    _, m, s = top[0]
    return SearchResult(m, evaluate(layer, arch, m, validate=False), s, evaluated, proposed, stopped_by)
