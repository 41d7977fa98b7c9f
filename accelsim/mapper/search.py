"""search(layer, arch, dataflow, spec) -> SearchResult: propose, score, reduce.

Half the budget samples the dataflow's space at random; the other half climbs by local moves
(one or a few at a time) from the best mappings found so far, rotating among the top few. The named mapping is always a candidate, so a search is never worse than it.
Same seed, same answer: all randomness comes from one ``random.Random(seed)``.
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
    evaluated: int          # mappings scored (legal proposals), named mapping included
    proposed: int           # proposals drawn, illegal ones included
    stopped_by: str         # "budget" or "time_limit"


def _key(s: Score, m: Mapping) -> tuple:
    return (s.objective, s.energy_pj, s.cycles, m.compact(), m.orders)


def search(layer: Layer, arch, dataflow, spec: SearchSpec) -> SearchResult:
    rng = random.Random(spec.seed)
    start = time.perf_counter()
    seen: set = set()
    best: tuple | None = None
    evaluated = proposed = 0
    stopped_by = "budget"

    def consider(m: Mapping) -> bool:
        nonlocal best, evaluated
        ident = (m.factors, m.orders)
        if ident in seen:
            return False
        seen.add(ident)
        if problems_of(layer, m, arch):
            return False
        s = score(count(layer, m), arch, spec.objective)
        evaluated += 1
        k = _key(s, m)
        if best is None or k < best[0]:
            best = (k, m, s)
            return True
        return False

    try:
        consider(dataflow.named(layer, arch))
    except ConfigError:
        pass
    explore = spec.budget // 2
    space = Space(layer, arch, dataflow)
    top: list[tuple] = []                # the few best (key, mapping), climbed in turn

    def remember(m: Mapping) -> None:
        s = score(count(layer, m), arch, spec.objective)
        top.append((_key(s, m), m))
        top.sort(key=lambda km: km[0])
        del top[6:]

    while evaluated < spec.budget and proposed < spec.budget * 20:
        if spec.time_limit_s is not None and time.perf_counter() - start > spec.time_limit_s:
            stopped_by = "time_limit"
            break
        proposed += 1
        if best is None or evaluated < explore:
            m = space.propose(rng)
        else:
            if not top:
                top.append((best[0], best[1]))
            m = top[proposed % len(top)][1]
            for _ in range(1 + (rng.random() < 0.3) + (rng.random() < 0.1)):
                m = mutate(layer, arch, dataflow, m, rng)
        before = evaluated
        improved = consider(m)
        if evaluated > before and (improved or (top and _key(score(count(layer, m), arch, spec.objective), m) < top[-1][0])):
            remember(m)
    if best is None:
        raise ConfigError(f"no legal mapping found for layer {layer.name!r} with dataflow {dataflow.name!r} "
                          f"on {arch.name!r} within {proposed} proposals")
    _, m, s = best
    return SearchResult(m, evaluate(layer, arch, m, validate=False), s, evaluated, proposed, stopped_by)
