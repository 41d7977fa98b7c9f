"""A mapping over any hierarchy: per storage level its temporal factors, loop order and kept tensor
roles, and the spatial factors (per axis) of the fanout below it.

The flattened nest, outermost first: for each level, its temporal loops in its order, then (if it
has a fanout) the fanout's x loops then y loops, each in the problem's dim order. A level's tile is
what the loops after its own position touch (``Flat.cuts[i]`` loops lie above level ``i``); the
compute level sits below every loop. A loop's span is the product of the same dim's factors of the
loops after it, so the dim's index is ``sum(digit * span)``. Factors need not divide the dim (ceil
tiling); a factor may not over-tile: with inner span ``s`` a factor ``f`` needs ``(f - 1) * s < D``.

Buffer semantics (``accelsim.cost.actions`` and ``accelsim.interp_general`` share them; they are
today's fixed-shape rules of ``accelsim.mapping``, stated for any depth):
- a role a level keeps *per pass* (``LevelMap.per_pass``) has a tile of one pass there: it spans
  only the level's temporal loops inside its innermost temporal loop that indexes the role (and
  everything below); for that role the loops from that one outwards lie above the tile
  (``Flat.cut_of``). With no loop of the level indexing the role the tile is the ordinary one;
- a level refills a tensor's tile at every iteration of the temporal loops above it down to the
  innermost one that indexes the tensor; a refill that is a step of that loop keeps the overlap
  with the previous tile (sliding windows);
- a level below fanouts has one copy per instance; a parent serves the union of its children's
  tiles once per refill (multicast), each child receives its own tile;
- the compute level reads its operands from the nearest level keeping them at every MAC; a
  one-word register level (capacity 1) makes consecutive MACs that use the same value read once;
- partial sums: a fill reads the parent only for elements a previous fill/drain of this hop touched
  in the same parent instance; children sharing an output element reduce across the network.

:func:`from_fixed` converts today's ``accelsim.mapping.Mapping`` onto ``hierarchy.fixed_shape`` /
``hierarchy.from_arch``; :func:`nest_from_dict` reads the YAML form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.hierarchy import Hierarchy
from accelsim.names import AXES, CONV_DIMS, GLB, REG, RF, ROLES, X, Y
from accelsim.problem import Problem
from accelsim.tiles import touched


@dataclass(frozen=True)
class LevelMap:
    level: str
    factors: tuple[tuple[str, int], ...] = ()   # temporal factors (dims not listed: 1)
    order: tuple[str, ...] = ()                 # outer -> inner (dims not listed follow in problem order)
    keeps: tuple[str, ...] = ()                 # roles kept here; the others bypass this level
    x: tuple[tuple[str, int], ...] = ()          # spatial factors of the fanout below, outer axis
    y: tuple[tuple[str, int], ...] = ()          # inner axis
    per_pass: tuple[str, ...] = ()               # kept roles whose tile here is one pass's (module docstring)

    def factor(self, dim: str) -> int:
        return dict(self.factors).get(dim, 1)

    def spatial(self, axis: str, dim: str) -> int:
        return dict(self.x if axis == X else self.y).get(dim, 1)


@dataclass(frozen=True)
class LoopNest:
    levels: tuple[LevelMap, ...]

    def level(self, name: str) -> LevelMap:
        for lm in self.levels:
            if lm.level == name:
                return lm
        raise KeyError(name)

    def keeps(self, index: int, role: str) -> bool:
        return role in self.levels[index].keeps


@dataclass(frozen=True)
class Loop:
    dim: str
    factor: int
    span: int
    level: int            # index of the storage level whose loop (or fanout) this is
    axis: str | None      # None: temporal; x or y: spatial

    @property
    def spatial(self) -> bool:
        return self.axis is not None


@dataclass(frozen=True)
class Flat:
    loops: tuple[Loop, ...]
    cuts: tuple[int, ...]         # per storage level: loops above it; the compute level: len(loops)
    pass_cuts: tuple[tuple[int, str, int], ...] = ()   # (level, role, loops above its per-pass tile)

    def cut(self, level: int) -> int:
        return self.cuts[level] if level < len(self.cuts) else len(self.loops)

    def cut_of(self, level: int, role: str) -> int:
        """Loops above ``role``'s tile at ``level``: the level's cut, or inside its loops for a
        per-pass tile."""
        for lv, r, c in self.pass_cuts:
            if lv == level and r == role:
                return c
        return self.cut(level)


def lockstep_loops(flat: Flat) -> tuple[list[Loop], list[Loop], list[Loop]]:
    """The loops as compute units in lockstep see them: (the runs' loops, the temporal ones above the innermost
    spatial loop; the units' loops, the spatial ones; a run's loops, the temporal ones below it: the whole
    nest's temporal loops when there is no fanout)."""
    last = max((i for i, lp in enumerate(flat.loops) if lp.spatial), default=-1)
    return ([lp for lp in flat.loops[:last + 1] if not lp.spatial], [lp for lp in flat.loops if lp.spatial],
            [lp for lp in flat.loops[last + 1:] if not lp.spatial])


def flatten(problem: Problem, nest: LoopNest) -> Flat:
    """The nest as one loop list (factor-1 loops omitted), with spans and level cuts."""
    dims = problem.dim_names
    raw: list[tuple[str, int, int, str | None]] = []
    cuts = []
    for i, lm in enumerate(nest.levels):
        cuts.append(len(raw))
        order = list(lm.order) + [d for d in dims if d not in lm.order]
        raw += [(d, lm.factor(d), i, None) for d in order if lm.factor(d) > 1]
        for axis in AXES:
            raw += [(d, lm.spatial(axis, d), i, axis) for d in dims if lm.spatial(axis, d) > 1]
    inner = {d: 1 for d in dims}
    loops: list[Loop] = []
    for dim, f, lv, ax in reversed(raw):
        loops.append(Loop(dim, f, inner[dim], lv, ax))
        inner[dim] *= f
    loops.reverse()
    pass_cuts = []
    for i, lm in enumerate(nest.levels):
        for role in lm.per_pass:
            rel = problem.relevant(role)
            cut = cuts[i]
            for pos in range(cuts[i], len(loops)):
                lp = loops[pos]
                if lp.level != i or lp.spatial:
                    break
                if lp.dim in rel:
                    cut = pos + 1
            pass_cuts.append((i, role, cut))
    return Flat(tuple(loops), tuple(cuts), tuple(pass_cuts))


def tile_words(problem: Problem, flat: Flat, cut: int) -> dict[str, int]:
    """Words of each role's tile spanning the loops from position ``cut`` on (clipped to the tensor)."""
    ext = {d: 1 for d in problem.dim_names}
    for lp in flat.loops[cut:]:
        ext[lp.dim] *= lp.factor
    ext = {d: min(e, problem.size(d)) for d, e in ext.items()}
    out = {}
    for t in problem.tensors:
        words = 1
        for c in t.coords:
            if len(c.terms) == 1:
                (d, k), = c.terms
                n = min(c.size, touched(ext[d], 1, k, 1))
            else:
                (d1, k1), (d2, k2) = c.terms
                n = min(c.size, touched(ext[d1], ext[d2], k1, k2))
            words *= n
        out[t.role] = words
    return out


def problems_of(problem: Problem, hierarchy: Hierarchy, nest: LoopNest) -> list[tuple[str, str]]:
    """(key, message) for everything that keeps ``nest`` from running ``problem`` on ``hierarchy``."""
    out: list[tuple[str, str]] = []
    names = hierarchy.level_names
    if tuple(lm.level for lm in nest.levels) != names:
        return [("levels", f"mapping levels {[lm.level for lm in nest.levels]} must be the hierarchy's {list(names)}")]
    dims = problem.dim_names
    for i, (lm, lv) in enumerate(zip(nest.levels, hierarchy.levels)):
        key = f"levels[{i}]"
        for what, pairs in (("factors", lm.factors), ("x", lm.x), ("y", lm.y)):
            for d, f in pairs:
                if d not in dims:
                    out.append((f"{key}.{what}", f"unknown dim {d!r}; dims: {', '.join(dims)}"))
                elif isinstance(f, bool) or not isinstance(f, int) or f < 1:
                    out.append((f"{key}.{what}", f"factor of {d} must be an integer >= 1, got {f!r}"))
        for d in lm.order:
            if d not in dims or lm.order.count(d) > 1:
                out.append((f"{key}.order", f"order {''.join(lm.order)!r}: each dim of {', '.join(dims)} at most once"))
                break
        for r in lm.keeps:
            if not lv.keeps_role(r):
                kept = ", ".join(lv.keeps) or "nothing"
                out.append((f"{key}.keeps", f"level {lv.name!r} cannot keep {r!r}; it keeps {kept}"))
        for r in lm.per_pass:
            if r not in lm.keeps or i == 0:
                out.append((f"{key}.per_pass", f"a per-pass tile of {r!r} at level {lv.name!r}, which "
                                               + ("is the backing store" if i == 0 else f"does not keep {r!r}")))
        for d in lv.unsplit:
            if lm.factor(d) > 1:
                out.append((f"{key}.factors", f"level {lv.name!r} may not split {d} (its unsplit list), "
                                              f"factor {lm.factor(d)}"))
        if lv.fanout is not None:
            for axis, banned in ((X, lv.fanout.unsplit_x), (Y, lv.fanout.unsplit_y)):
                for d in banned:
                    if lm.spatial(axis, d) > 1:
                        out.append((f"{key}.{axis}", f"the fanout below {lv.name!r} may not split {d} on {axis} "
                                                     f"(its unsplit_{axis} list)"))
        if (lm.x or lm.y) and lv.fanout is None:
            out.append((f"{key}", f"spatial factors at level {lv.name!r}, which has no fanout"))
        if lv.fanout is not None:
            for axis, size in ((X, lv.fanout.x), (Y, lv.fanout.y)):
                used = 1
                for _, f in (lm.x if axis == X else lm.y):
                    used *= f
                if used > size:
                    out.append((f"{key}.{axis}", f"spatial factors use {used} > fanout {axis} {size}"))
    if out:
        return out
    if set(nest.levels[0].keeps) != set(ROLES):
        out.append(("levels[0].keeps", f"the backing store keeps every tensor ({', '.join(ROLES)})"))
    flat = flatten(problem, nest)
    for d in dims:
        D = problem.size(d)
        span = 1
        for lp in reversed(flat.loops):
            if lp.dim != d:
                continue
            if (lp.factor - 1) * span >= D:
                out.append((f"levels[{lp.level}]", f"factor {lp.factor} of {d} over-tiles it: inner span {span}, "
                                                   f"{d}={D} needs at most {-(-D // span)}"))
            span *= lp.factor
        if span < D:
            out.append(("levels", f"factors of {d} cover {span} < {d}={D}"))
    for i, (lm, lv) in enumerate(zip(nest.levels, hierarchy.levels)):
        if not lv.capacity:
            continue
        words = {r: tile_words(problem, flat, flat.cut_of(i, r))[r] for r in lm.keeps}
        for group, cap in lv.capacity:
            need = sum(words[r] for r in group if r in lm.keeps)
            if need > cap:
                out.append((f"levels[{i}]", f"{lv.name} tiles of {'+'.join(r for r in group if r in lm.keeps)} "
                                            f"need {need} words > {cap}"))
    return out


def check(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, source: str = "mapping") -> None:
    bad = problems_of(problem, hierarchy, nest)
    if bad:
        key, message = bad[0]
        raise ConfigError(message, source=source, key=key)


# ---- text ---------------------------------------------------------------------------------

def loop_nest_text(problem: Problem, nest: LoopNest) -> str:
    """Timeloop-style listing, outermost first; spatial loops marked ``parallel-for``."""
    lines: list[str] = []
    indent = 0
    flat = flatten(problem, nest)
    for i, lm in enumerate(nest.levels):
        held = ", ".join(lm.keeps) if lm.keeps else "bypassed"
        if lm.per_pass:
            held += " | per pass: " + ", ".join(lm.per_pass)
        lines.append("  " * indent + f"{lm.level} [{held}]")
        lines.append("  " * indent + "-" * 8)
        for lp in flat.loops:
            if lp.level != i:
                continue
            if lp.axis is None:
                lines.append("  " * indent + f"for {lp.dim.lower()} in [0:{lp.factor})")
            else:
                lines.append("  " * indent + f"parallel-for {lp.dim.lower()} in [0:{lp.factor}) "
                                             f"({lm.level} fanout {lp.axis})")
            indent += 1
    lines.append("  " * indent + "MAC")
    return "\n".join(lines)


_LEVEL_LINE = re.compile(r"^(?P<name>\S+) \[(?P<keeps>[^\]]*)\]$")
_LOOP_LINE = re.compile(r"^(?P<par>parallel-)?for (?P<dim>\S+) in \[0:(?P<f>\d+)\)"
                        r"(?: \((?P<lv>\S+) fanout (?P<axis>[xy])\))?$")


def nest_from_text(text: str, problem: Problem, hierarchy: Hierarchy, source: str = "<text>") -> LoopNest:
    """Read back what :func:`loop_nest_text` prints (a loop's dim is matched to the problem's dims
    case-insensitively). Each level's temporal loops give its factors and order, its parallel-for
    loops the spatial factors of its fanout."""
    lower = {d.lower(): d for d in problem.dim_names}
    if len(lower) != len(problem.dim_names):
        raise ConfigError("dims differ only in case; the printed nest cannot name them", source=source)
    levels: list[dict[str, Any]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        key = f"line {n}"
        if not line or set(line) == {"-"} or line == "MAC":
            continue
        m = _LOOP_LINE.match(line)
        if m is not None:
            if not levels:
                raise ConfigError(f"a loop before any level: {line!r}", source=source, key=key)
            dim = lower.get(m.group("dim"))
            if dim is None:
                raise ConfigError(f"unknown dim {m.group('dim')!r}; dims: {', '.join(problem.dim_names)}",
                                  source=source, key=key)
            cur = levels[-1]
            if m.group("par"):
                if m.group("lv") != cur["level"]:
                    raise ConfigError(f"a parallel-for of {m.group('lv')!r} under level {cur['level']!r}",
                                      source=source, key=key)
                cur.setdefault("spatial", {}).setdefault(m.group("axis"), {})[dim] = int(m.group("f"))
            else:
                if dim in cur["factors"]:
                    raise ConfigError(f"two temporal loops of {dim} at level {cur['level']!r}", source=source, key=key)
                cur["factors"][dim] = int(m.group("f"))
                cur["order"].append(dim)
            continue
        m = _LEVEL_LINE.match(line)
        if m is None:
            raise ConfigError(f"cannot read {line!r}: expected a level, a loop or MAC", source=source, key=key)
        held, _, passed = m.group("keeps").partition("| per pass:")
        keeps = [] if held.strip() == "bypassed" else [k.strip() for k in held.split(",") if k.strip()]
        levels.append({"level": m.group("name"), "factors": {}, "order": [], "keeps": keeps})
        if passed.strip():
            levels[-1]["per_pass"] = [k.strip() for k in passed.split(",") if k.strip()]
    return nest_from_dict(levels, hierarchy, source)


def nest_to_dict(nest: LoopNest) -> list[dict[str, Any]]:
    out = []
    for lm in nest.levels:
        entry: dict[str, Any] = {"level": lm.level, "factors": {d: f for d, f in lm.factors if f != 1},
                                 "order": list(lm.order), "keeps": list(lm.keeps)}
        if lm.per_pass:
            entry["per_pass"] = list(lm.per_pass)
        spatial = {axis: {d: f for d, f in pairs if f != 1} for axis, pairs in ((X, lm.x), (Y, lm.y)) if pairs}
        if spatial:
            entry["spatial"] = spatial
        out.append(entry)
    return out


def nest_from_dict(data: Any, hierarchy: Hierarchy, source: str = "<memory>") -> LoopNest:
    """Read ``[{level, factors: {D: f}, order: [D, ...], keeps: [roles], per_pass: [roles],
    spatial: {x: {D: f}, y: {D: f}}}]``.
    Levels not listed map no loops and keep what the level keeps."""
    if not isinstance(data, list):
        raise ConfigError(f"a mapping is a list of levels, got {type(data).__name__}", source=source)
    given: dict[str, LevelMap] = {}
    for i, item in enumerate(data):
        f = Fields(item, source, f"[{i}]")
        name = f.str("level")
        if name not in hierarchy.level_names:
            raise f.error("level", f"no level {name!r} in hierarchy {hierarchy.name!r}; "
                                   f"levels: {', '.join(hierarchy.level_names)}")
        if name in given:
            raise f.error("level", f"level {name!r} mapped twice")
        lv = hierarchy.level(name)

        def pairs(sub: Any, key: str) -> tuple[tuple[str, int], ...]:
            if sub is None:
                return ()
            ff = sub if isinstance(sub, Fields) else Fields(sub, source, key)
            out = tuple((d, ff.int(d, minimum=1, maximum=1 << 40)) for d in list(ff.data))
            ff.done()
            return out

        factors = pairs(f.sub("factors", None), f.key("factors"))
        order = f.list("order", [])
        keeps = f.list("keeps", list(lv.keeps))
        for r in keeps:
            if r not in lv.keeps:
                raise f.error("keeps", f"level {name!r} cannot keep {r!r}; it keeps {', '.join(lv.keeps) or 'nothing'}")
        per_pass = f.list("per_pass", [])
        for r in per_pass:
            if r not in keeps or name == hierarchy.levels[0].name:
                raise f.error("per_pass", f"a per-pass tile of {r!r} needs a level below the backing store that "
                                          f"keeps it; level {name!r} keeps {', '.join(keeps) or 'nothing'}")
        x: tuple[tuple[str, int], ...] = ()
        y: tuple[tuple[str, int], ...] = ()
        sp = f.sub("spatial", None)
        if sp is not None:
            if lv.fanout is None:
                raise f.error("spatial", f"level {name!r} has no fanout")
            x = pairs(sp.sub(X, None), sp.key(X))
            y = pairs(sp.sub(Y, None), sp.key(Y))
            sp.done()
        f.done()
        given[name] = LevelMap(name, factors, tuple(str(d) for d in order), tuple(keeps), x, y,
                               tuple(str(r) for r in per_pass))
    return LoopNest(tuple(given.get(lv.name, LevelMap(lv.name, keeps=lv.keeps)) for lv in hierarchy.levels))


# ---- today's fixed-shape mapping -------------------------------------------------------------

def from_fixed(m: Any, hierarchy: Hierarchy) -> LoopNest:
    """An ``accelsim.mapping.Mapping`` (DRAM, GLB, rows, cols, RF; keeps per GLB/RF/registers) as a
    nest over a hierarchy with levels dram, glb (with the rows x cols fanout), [rf], [reg]."""
    def fac(row: tuple[int, ...]) -> tuple[tuple[str, int], ...]:
        return tuple((d, f) for d, f in zip(CONV_DIMS, row) if f != 1)

    def roles(keep: tuple[bool, ...]) -> tuple[str, ...]:
        return tuple(r for r, k in zip(ROLES, keep) if k)

    names = hierarchy.level_names
    order = [tuple(CONV_DIMS[d] for d in o) for o in m.orders]
    levels = [LevelMap(names[0], fac(m.factors[0]), order[0], ROLES),
              LevelMap(GLB, fac(m.factors[1]), order[1], roles(m.glb_keep), fac(m.factors[2]), fac(m.factors[3]),
                       roles(m.glb_pass))]
    extra = {RF: LevelMap(RF, fac(m.factors[4]), order[2], roles(m.rf_keep)),
             REG: LevelMap(REG, keeps=roles(m.reg_keep))}
    for name in (RF, REG):
        if name in names:
            levels.append(extra[name])
        elif extra[name].keeps or extra[name].factors:
            raise ConfigError(f"the mapping uses level {name!r}, which hierarchy {hierarchy.name!r} does not have")
    if tuple(lm.level for lm in levels) != names:
        raise ConfigError(f"hierarchy {hierarchy.name!r} is not the fixed shape (dram, glb, rf, reg): {list(names)}")
    return LoopNest(tuple(levels))


def to_fixed(nest: LoopNest, like: Any) -> Any:
    """The inverse of :func:`from_fixed` for the factors: ``like`` (an ``accelsim.mapping.Mapping``)
    with the temporal and spatial factors of ``nest`` (a nest over the fixed shape whose loop orders
    and keeps are ``like``'s: ``from_fixed(to_fixed(n, m), h) == n`` for such a nest)."""
    from dataclasses import replace

    names = [lm.level for lm in nest.levels]
    glb = nest.level(GLB)

    def row(pairs: tuple[tuple[str, int], ...]) -> tuple[int, ...]:
        given = dict(pairs)
        return tuple(given.get(d, 1) for d in CONV_DIMS)

    rf = nest.level(RF).factors if RF in names else ()
    return replace(like, factors=(row(nest.levels[0].factors), row(glb.factors), row(glb.x), row(glb.y), row(rf)))
