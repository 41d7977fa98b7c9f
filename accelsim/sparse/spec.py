"""A design's sparse acceleration features: formats per (level, tensor), gating and skipping.

YAML (``configs/sparse/*.yaml``, or any file; ``accelsim run --sparse NAME|FILE``)::

    name: eyeriss_v1
    formats:                              # level -> role -> format (accelsim.sparse.formats)
      dram: {ifmap: {ranks: [{RLE: 5}], packing: [3, 64], adaptive: true}}
    gate:                                 # accesses that happen as cheap no-ops
      - {level: rf, tensor: weight, on_zero: [ifmap]}     # weight reads where the ifmap is zero
      - {level: mac, on_zero: [ifmap]}                    # MACs where the ifmap is zero
    skip: []                              # accesses / MACs that do not happen (save cycles too)
    capacity: expected                    # compressed tile size for capacity checks: expected | worst
    metadata_capacity:                    # optional, level -> role -> words: that tensor's metadata has
      rf: {weight: 128, ifmap: 6.25}      # its own store there (data words then fill the level's capacity
                                          # alone); absent: data + metadata share the level's capacity. A
                                          # store's words may be fractional (a store of 100 bits holds
                                          # 6.25 16-bit words), as metadata words are bits / word bits
    skipped_metadata: skip                # skip: a skipped access's metadata is not read either;
                                          # read: it still is (Sparseloop's accounting: skipping reads
                                          # the coordinates it intersects, then not the data)

A gated action's energy is not the spec's: it is the energy table's own entry (``gated_read``,
``gated_down``, ``gated_compute``, ...: ``accelsim.energy_table``, overridable under the arch's
``energy.pj``).

``level: mac`` (the hierarchy's compute level name) targets the MACs; a storage level needs
``tensor``. Every name is checked against a hierarchy by :func:`check` (a format or feature on a
level that does not exist or a tensor the level does not keep, a metadata store of a tensor with no
compressed format at its level, a condition with no meaning in the model: each one ConfigError line).
Invariant: specs are frozen and carry names only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.names import OPERAND_ROLES, OUTPUT_ROLE, ROLES
from accelsim.sparse.formats import UNCOMPRESSED, Format, axis_names, parse_format
from accelsim.yamlio import load_yaml

GATE = "gate"
SKIP = "skip"
KINDS: tuple[str, ...] = (GATE, SKIP)
EXPECTED = "expected"
WORST = "worst"
META_SKIP = "skip"        # skipped_metadata: a skipped access's metadata is skipped with it (default)
META_READ = "read"        # skipped_metadata: a skipped access's metadata is still read (Sparseloop)
DONE = {GATE: "gated", SKIP: "skipped"}     # a feature's kind as its accesses' state, for messages


@dataclass(frozen=True)
class Feature:
    kind: str                  # GATE or SKIP
    level: str                 # a storage level, or the compute level's name
    role: str | None           # the tensor whose accesses are gated/skipped (None: the MACs)
    on: tuple[str, ...]        # condition roles: the access is ineffective where any of them is zero

    def text(self) -> str:
        what = f"{self.level} {self.role} reads" if self.role else f"{self.level} MACs"
        return f"{self.kind} {what} on zero {'/'.join(self.on)}"


@dataclass(frozen=True)
class SparseSpec:
    name: str
    formats: tuple[tuple[tuple[str, str], Format], ...] = ()
    features: tuple[Feature, ...] = ()
    capacity: str = EXPECTED
    source: str = "<memory>"
    skipped_metadata: str = META_SKIP
    metadata_capacity: tuple[tuple[tuple[str, str], float], ...] = ()   # ((level, role), words)

    def metadata_words(self, level: str, role: str) -> float | None:
        """The words of ``role``'s own metadata store at ``level`` (``metadata_capacity``), None when its
        metadata shares the level's data capacity."""
        return dict(self.metadata_capacity).get((level, role))

    def format(self, level: str, role: str) -> Format:
        for (lv, r), f in self.formats:
            if lv == level and r == role:
                return f
        return UNCOMPRESSED

    def format_on(self, level: str, role: str, problem: Any) -> Format:
        """:meth:`format` resolved for ``problem``'s tensor of ``role`` (``Format.on``: its ``inner`` axes):
        what measures that tensor's tiles."""
        tensor = problem.tensor(role)
        return self.format(level, role).on(axis_names(tensor), f"{self.source}: formats.{level}.{role}.inner "
                                                              f"(tensor {tensor.name!r} of {problem.name!r})")

    def describe(self) -> str:
        parts = [f"{lv}.{r} {f.text()}" for (lv, r), f in self.formats]
        parts += [f.text() for f in self.features]
        if self.skipped_metadata == META_READ:
            parts.append("skipped accesses still read their metadata")
        parts += [f"{lv}.{r} metadata store {w} words" for (lv, r), w in self.metadata_capacity]
        return f"{self.name}: " + ("; ".join(parts) if parts else "no sparse features")


def spec_from_dict(data: Any, source: str) -> SparseSpec:
    f = Fields(data, source)
    name = f.str("name", Path(source).stem)
    formats = []
    fmts = f.raw("formats", {})
    if not isinstance(fmts, dict):
        raise f.error("formats", f"expected level -> role -> format, got {fmts!r}")
    for level, per in fmts.items():
        if not isinstance(per, dict):
            raise f.error(f"formats.{level}", f"expected role -> format, got {per!r}")
        for role, value in per.items():
            if role not in ROLES:
                raise f.error(f"formats.{level}.{role}", f"unknown tensor role {role!r}; allowed: {', '.join(ROLES)}")
            formats.append(((str(level), role), parse_format(value, source, f"formats.{level}.{role}")))
    features = []
    for kind in KINDS:
        items = f.raw(kind, [])
        if not isinstance(items, list):
            raise f.error(kind, f"expected a list of {{level, tensor, on_zero}}, got {items!r}")
        for i, item in enumerate(items):
            g = Fields(item, source, f"{kind}[{i}]")
            level = g.str("level")
            role = g.raw("tensor", None)
            if role is not None and role not in ROLES:
                raise g.error("tensor", f"unknown tensor role {role!r}; allowed: {', '.join(ROLES)}")
            on = g.raw("on_zero")
            if not isinstance(on, list) or not on or any(r not in ROLES for r in on):
                raise g.error("on_zero", f"expected a non-empty list of roles ({', '.join(ROLES)}), got {on!r}")
            if len(set(on)) < len(on):       # a condition counted twice would square its probability
                twice = next(r for r in on if on.count(r) > 1)
                raise g.error("on_zero", f"{twice!r} listed twice in {on!r}; list each role once")
            g.done()
            features.append(Feature(kind, level, role, tuple(on)))
    if f.has("gated_energy"):
        raise f.error("gated_energy", "a gated action is priced by its own energy-table entry, not a fraction: "
                                      "give it in the arch's energy section, e.g. energy: {pj: {rf: {gated_read: 0.1}}}")
    capacity = f.str("capacity", EXPECTED, choices=[EXPECTED, WORST])
    skipped_metadata = f.str("skipped_metadata", META_SKIP, choices=[META_SKIP, META_READ])
    meta_caps = []
    caps = f.raw("metadata_capacity", {})
    allowed = "allowed: level -> tensor role -> words of its metadata store (a positive number)"
    if not isinstance(caps, dict):
        raise f.error("metadata_capacity", f"expected level -> role -> words, got {caps!r}; {allowed}")
    for level, per in caps.items():
        if not isinstance(per, dict):
            raise f.error(f"metadata_capacity.{level}", f"expected role -> words, got {per!r}; {allowed}")
        for role, words in per.items():
            key = f"metadata_capacity.{level}.{role}"
            if role not in ROLES:
                raise f.error(key, f"unknown tensor role {role!r}; allowed: {', '.join(ROLES)}")
            if not isinstance(words, (int, float)) or isinstance(words, bool) or not 0 < words < float("inf"):
                raise f.error(key, f"expected a positive number of words, got {words!r}; {allowed}")
            meta_caps.append(((str(level), role), words))
    f.done()
    return SparseSpec(name, tuple(formats), tuple(features), capacity, source, skipped_metadata, tuple(meta_caps))


def load_spec(name_or_path: str) -> SparseSpec:
    """A shipped preset (``configs/sparse/NAME.yaml``) or a YAML file."""
    import configs

    p = Path(name_or_path)
    if not p.is_file():
        shipped = configs.find(f"sparse/{name_or_path}")
        if shipped is None:
            have = [n.split("/", 1)[1] for n in configs.names("sparse")]
            raise ConfigError(f"no sparse spec file or preset {name_or_path!r}; presets: {', '.join(have)}",
                              key="--sparse")
        p = shipped
    return spec_from_dict(load_yaml(p), str(p))


def check(spec: SparseSpec, level_keeps: dict[str, tuple[str, ...]], compute: str) -> None:
    """Every level named exists and keeps the tensor named there (``level_keeps``: level -> roles, outermost
    level first); a metadata store belongs to a tensor with a compressed format at its level; every
    feature's conditions have a meaning in the model (module docstring of accelsim.sparse.model): a MAC
    feature is conditioned on the MAC's operands (ifmap, weight), never on psum (a MAC's psum operand is
    its partial sum so far, which the output's density or mask does not describe); a storage feature on
    its own tensor's zeros only where that tensor is uncompressed at the level and every level below it
    (an empty compressed tile moves no payload: its words are not independent of its emptiness, which
    the expected model assumes, so it and the exact count would disagree)."""
    for section, pairs in (("formats", spec.formats), ("metadata_capacity", spec.metadata_capacity)):
        for (level, role), _ in pairs:
            if level not in level_keeps:
                raise ConfigError(f"unknown level {level!r}; levels: {', '.join(level_keeps)}", source=spec.source,
                                  key=f"{section}.{level}")
            kept = role in level_keeps[level]
            if kept and (section == "formats" or spec.format(level, role).compressed):
                continue
            why = f"level {level!r} does not keep {role!r} (it keeps {', '.join(level_keeps[level])}): "
            if section == "formats":
                raise ConfigError(why + "no format there", source=spec.source, key=f"{section}.{level}.{role}")
            have = [r for r in ROLES if spec.format(level, r).compressed]      # kept ones: formats checked first
            allowed = (f"allowed at {level}: {', '.join(have)} (the tensors with a compressed format there)" if have
                       else f"no tensor has a compressed format at {level}, so none has metadata there")
            if kept:
                why = f"{role} has no compressed format at {level} (formats.{level}.{role}), so "
            raise ConfigError(f"{why}no metadata to store; {allowed}", source=spec.source,
                              key=f"{section}.{level}.{role}")
    levels = list(level_keeps)
    for i, ft in enumerate(spec.features):
        key = f"{ft.kind}[{i}]"
        if ft.level == compute:
            if ft.role is not None:
                raise ConfigError(f"the compute level {compute!r} takes no tensor (it gates/skips MACs)",
                                  source=spec.source, key=f"{key}.tensor")
            if OUTPUT_ROLE in ft.on:
                raise ConfigError(f"MACs are not {DONE[ft.kind]} on {OUTPUT_ROLE}: a MAC's {OUTPUT_ROLE} operand is "
                                  f"its partial sum so far, which the output's density or mask does not describe; "
                                  f"allowed: {', '.join(OPERAND_ROLES)}", source=spec.source, key=f"{key}.on_zero")
            continue
        if ft.level not in level_keeps:
            raise ConfigError(f"unknown level {ft.level!r}; levels: {', '.join(level_keeps)}, {compute}",
                              source=spec.source, key=f"{key}.level")
        if ft.role is None:
            raise ConfigError(f"a storage level needs the tensor whose accesses are {DONE[ft.kind]}", source=spec.source,
                              key=f"{key}.tensor")
        if ft.role not in level_keeps[ft.level]:
            raise ConfigError(f"level {ft.level!r} does not keep {ft.role!r} (it keeps "
                              f"{', '.join(level_keeps[ft.level])})", source=spec.source, key=f"{key}.tensor")
        if ft.role == ROLES[-1]:
            raise ConfigError(f"{ft.kind} of output ({ft.role}) accesses is not modelled at a storage level: "
                              f"{ft.kind} the MACs (level {compute}) instead", source=spec.source, key=f"{key}.tensor")
        if ft.role in ft.on:
            below = levels[levels.index(ft.level):]
            packed = next((lv for lv in below if ft.role in level_keeps[lv] and spec.format(lv, ft.role).compressed),
                          None)
            if packed is not None:
                others = ", ".join(r for r in ROLES if r != ft.role)
                raise ConfigError(f"{ft.role} is {DONE[ft.kind]} on its own zeros but compressed at {packed} "
                                  f"(formats.{packed}.{ft.role}): its format already leaves its zeros out of the words it "
                                  f"moves, so a gate on them would save them twice; allowed: "
                                  f"on_zero of {others}, or {ft.role} uncompressed at {ft.level} and below",
                                  source=spec.source, key=f"{key}.on_zero")


def check_on(spec: SparseSpec, hierarchy: Any) -> None:
    """:func:`check` against an ``accelsim.hierarchy.Hierarchy``'s levels (outermost first) and compute."""
    check(spec, {lv.name: lv.keeps for lv in hierarchy.levels}, hierarchy.compute.name)


__all__ = ["DONE", "EXPECTED", "Feature", "GATE", "KINDS", "META_READ", "META_SKIP", "SKIP", "SparseSpec", "WORST",
           "check", "check_on", "load_spec", "spec_from_dict"]
