"""``--search`` on a level-list hierarchy until the general mapper lands: a SMALL deterministic seeded
search over the choices of a dataflow's named-mapping rule (dataflows.nest_rule), scored by the one
count (``count_actions``). Not a full mapper: it never proposes a nest the rule could not build.

Candidates: every rotation of the rule's x preference list x every rotation of its y list x every
prefix of its ``inner`` dims (the dims looped whole inside the innermost buffer) -- at most
``len(x) * len(y) * (len(inner) + 1)`` rules (<= 150 for the shipped dataflows). The named rule is
scored first; the others in an order shuffled by ``numpy.random.default_rng(seed)``; at most
``budget`` are scored (a rule whose nest equals one already scored, or that cannot map, is skipped,
not scored). Objective (accelsim.mapper.search.SearchSpec): ``energy`` (pJ, the hierarchy's energy table),
``cycles`` (the latency bound) or ``edp`` (their product); ties keep the earlier candidate. Same
input, same seed: same nest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from accelsim.cost.actions import count_actions
from accelsim.cost.bound import hierarchy_bound
from accelsim.cost.energy import energy_of
from accelsim.errors import ConfigError
from accelsim.loopnest import LoopNest


@dataclass(frozen=True)
class RuleSearchResult:
    nest: LoopNest
    score: float
    evaluated: int        # candidates scored
    proposed: int         # candidates in the space
    stopped_by: str       # space (all scored), budget or time


def _rotations(xs: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [xs[i:] + xs[:i] for i in range(len(xs))] or [xs]


def candidates(rule) -> list:
    """The rule itself first, then its variants (module docstring)."""
    out = [rule]
    for x in _rotations(rule.x):
        for y in _rotations(rule.y):
            for n in range(len(rule.inner), -1, -1):
                r = replace(rule, x=x, y=y, inner=rule.inner[:n])
                if r not in out:
                    out.append(r)
    return out


def search_rule(problem, hierarchy, flow, spec, table) -> RuleSearchResult:
    from dataflows.nest_rule import build

    if spec.objective not in ("energy", "cycles", "edp"):
        raise ConfigError(f"unknown search objective {spec.objective!r}; allowed: energy, cycles, edp")
    rules = candidates(flow.rule)
    rest = rules[1:]
    order = np.random.default_rng(spec.seed).permutation(len(rest))
    ranked = [rules[0]] + [rest[i] for i in order]
    start = time.monotonic()
    best: tuple[float, LoopNest] | None = None
    seen: set[LoopNest] = set()
    evaluated, stopped = 0, "space"
    first_error: ConfigError | None = None
    for rule in ranked:
        if evaluated >= spec.budget:
            stopped = "budget"
            break
        if spec.time_limit_s is not None and time.monotonic() - start > spec.time_limit_s and best is not None:
            stopped = "time"
            break
        try:
            nest = build(rule, problem, hierarchy, flow.name)
        except ConfigError as exc:
            first_error = first_error or exc
            continue
        if nest in seen:
            continue
        seen.add(nest)
        a = count_actions(problem, hierarchy, nest)
        energy = energy_of(a, hierarchy, table).total_pj
        cycles = hierarchy_bound(a, hierarchy)
        score = {"energy": energy, "cycles": cycles, "edp": energy * cycles}[spec.objective]
        evaluated += 1
        if best is None or score < best[0]:
            best = (score, nest)
    if best is None:
        assert first_error is not None
        raise first_error
    return RuleSearchResult(best[1], best[0], evaluated, len(ranked), stopped)


__all__ = ["RuleSearchResult", "candidates", "search_rule"]
