"""Timeloop specs in: a Timeloop v0.2-v0.4 architecture tree, CNN-layer (or any einsum) problem,
mapping and architecture constraints, read into accelsim's hierarchy, problem and loop nest.

``import_timeloop(paths) -> Imported``: the files' top-level sections are merged (each section in
at most one file), then

- ``architecture`` (``{version, subtree: [{name, attributes, local: [...], subtree: [...]}]}``):
  every ``local`` component is a storage level (class in :data:`STORAGE_CLASSES`) or the compute
  level (class in :data:`COMPUTE_CLASSES`); storage levels are listed outermost first in tree
  order (Timeloop's order). A component's instances are the product of the ``[0..n-1]`` ranges of
  its name and of the subtrees around it (or its ``instances`` attribute); ``meshX`` (default: all
  instances) gives its mesh ``meshX x instances/meshX``. The fanout below a level is the next
  level's mesh divided by its own, per axis (X -> our ``x``, Y -> ``y``): it must divide. Capacity
  in words: ``depth`` (or ``memory_depth``) x ``width`` (or ``memory_width``) / ``word-bits``; a
  DRAM, or a level without a depth, is unbounded. ``read_bandwidth`` / ``write_bandwidth`` carry
  over. Timeloop's Legacy network becomes our ``bus`` NoC (multicast free) with no bandwidth limit
  (the counts do not depend on it; ``accelsim run``'s latency bound does).
- ``problem`` (``{shape, instance}``): the shape's ``dimensions``, ``coefficients`` (with defaults,
  overridden by ``instance``) and ``data-spaces`` (``projection``: per axis a sum of ``[dim]`` or
  ``[dim, coefficient]`` terms; ``read-write: true`` marks the output). Without ``data-spaces``
  the shape is Timeloop's CNN-Layer (dims C M R S N P Q; Inputs ``[N][C][R*Wdilation + P*Wstride]
  [S*Hdilation + Q*Hstride]``), imported with our conv names (M -> K) and tensor roles
  (Inputs -> ifmap, Weights -> weight, Outputs -> psum) and gives a one-layer conv workload (any
  other shape a one-layer einsum workload), which ``accelsim run`` takes. An
  input axis has size ``sum((D - 1) * coef) + 1`` (Timeloop has no padding).
- ``mapping`` (a list of directives ``{target, type: temporal | spatial | bypass | datatype,
  factors, permutation, split, keep, bypass}``): ``factors`` ``"R=3 P=1"`` / ``"R3 P1"`` / a map;
  ``permutation`` inner -> outer (our ``order`` is outer -> inner); a spatial directive's dims
  before index ``split`` (default: all) go to X, the rest to Y. The factors of each dim over all
  directives must multiply to its size exactly (Timeloop's rule; accelsim alone allows ceil tiling).
- ``architecture_constraints`` / ``mapspace_constraints`` / ``mapspace.constraints``: a ``bypass``
  / ``datatype`` directive's bypass list removes tensors from what the level may keep; factors of 1
  (``R=1``, ``R1``) on a temporal directive become the level's ``unsplit``, on a spatial one the
  fanout's ``unsplit_x`` and ``unsplit_y``. What has no counterpart (permutations, other fixed
  factors, ``keep`` forcing) is listed in ``Imported.notes``, never dropped silently.

Errors are one line naming the file and key (ConfigError): an unknown class, a mapping target that
does not exist, a factor product that does not match the problem, a fanout that does not divide.
Sections that do not describe the design (``mapper``, ``model``, ``components``, ...) are noted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.names import IFMAP, PSUM, ROLES, WEIGHT

STORAGE_CLASSES: frozenset[str] = frozenset({
    "DRAM", "SRAM", "regfile", "smartbuffer_SRAM", "smartbuffer_RF", "smartbuffer", "storage", "reg_storage",
    "buffet", "buffet_collection", "buffet_collection_SRAM", "buffet_collection_RF", "register"})
COMPUTE_CLASSES: frozenset[str] = frozenset({"intmac", "fpmac", "mac", "compute", "intmultiplier"})
BACKING_CLASSES: frozenset[str] = frozenset({"DRAM"})
# Timeloop's Legacy network (multicast, no bandwidth limit unless given) becomes a broadcast bus
# (multicast free) as wide as our spec allows (accelsim.limits.MAX_WORDS_PER_CYCLE): no limit
NETWORK: dict[str, Any] = {"type": "bus", "words_per_cycle": 1e6}
# sections of a Timeloop run that say nothing about the design itself
OTHER_SECTIONS: frozenset[str] = frozenset({
    "mapper", "model", "components", "compound_components", "variables", "globals", "ERT", "ART",
    "sparse_optimizations", "mapspace_constraints_options"})
CONSTRAINT_SECTIONS = ("architecture_constraints", "mapspace_constraints", "mapspace")
DESIGN_SECTIONS = ("architecture", "problem", "mapping") + CONSTRAINT_SECTIONS

# Timeloop's CNN-Layer shape, with our conv dim names (M -> K) and tensor roles
CNN_DIMS = {"C": "C", "M": "K", "R": "R", "S": "S", "N": "N", "P": "P", "Q": "Q"}
CNN_COEFFICIENTS = {"Wstride": 1, "Hstride": 1, "Wdilation": 1, "Hdilation": 1}
CNN_SPACES: tuple[tuple[str, bool, tuple[tuple[tuple[str, str | None], ...], ...]], ...] = (
    ("Weights", False, (((("C", None),)), (("M", None),), (("R", None),), (("S", None),))),
    ("Inputs", False, ((("N", None),), (("C", None),), (("R", "Wdilation"), ("P", "Wstride")),
                       (("S", "Hdilation"), ("Q", "Hstride")))),
    ("Outputs", True, ((("N", None),), (("M", None),), (("P", None),), (("Q", None),))),
)
CNN_ROLES = {"Inputs": IFMAP, "Weights": WEIGHT, "Outputs": PSUM}

Space = tuple[str, bool, tuple[tuple[tuple[str, str | None], ...], ...]]   # (name, read-write, axes of terms)
_V4_TAG = re.compile(r"!(Container|Component|Hierarchical|Parallel|Nothing|Storage|Compute|Network)\b")
_RANGE = re.compile(r"^(?P<base>.*?)\[(?P<lo>\d+)\.\.(?P<hi>\d+)\]$")


@dataclass(frozen=True)
class Imported:
    hierarchy: dict[str, Any] | None           # accelsim level-list YAML (hierarchy_from_dict)
    problem: dict[str, Any] | None             # accelsim problem YAML (problem_from_dict)
    workload: dict[str, Any] | None            # a one-layer workload YAML (a conv layer, or an einsum layer)
    mapping: list[dict[str, Any]] | None       # accelsim loop-nest YAML (nest_from_dict)
    notes: tuple[str, ...] = field(default=())   # what was read but has no counterpart here


@dataclass(frozen=True)
class _Component:
    name: str
    cls: str
    attrs: dict[str, Any]
    instances: int
    mesh_x: int
    key: str


# ---- reading the files ----------------------------------------------------------------------------

def read_sections(paths: list[str]) -> dict[str, tuple[Any, str]]:
    """Top-level sections of all files: name -> (content, file). A section in two files is an error."""
    from accelsim.yamlio import parse_yaml_text, read_text

    if not paths:
        raise ConfigError("accelsim import timeloop: give at least one Timeloop YAML file")
    out: dict[str, tuple[Any, str]] = {}
    for path in paths:
        text = read_text(path)
        tag = _V4_TAG.search(text)
        if tag is not None:
            raise ConfigError(f"line {text.count(chr(10), 0, tag.start()) + 1}: Timeloop v0.4's tagged nodes "
                              f"({tag.group(0)}) are not read; write the architecture as a v0.3 subtree/local tree",
                              source=path)
        data = parse_yaml_text(text, path)
        if not isinstance(data, dict):
            raise ConfigError(f"expected a mapping of Timeloop sections, got {type(data).__name__}", source=path)
        for key, value in data.items():
            if key not in DESIGN_SECTIONS and key not in OTHER_SECTIONS:
                raise ConfigError(f"unknown Timeloop section; allowed: {', '.join(DESIGN_SECTIONS + tuple(sorted(OTHER_SECTIONS)))}",
                                  source=path, key=str(key))
            if key in out:
                raise ConfigError(f"section also given in {out[key][1]}", source=path, key=key)
            out[key] = (value, path)
    return out


def import_timeloop(paths: list[str]) -> Imported:
    sections = read_sections(paths)
    notes = [f"{src}: {key}: not a design section, ignored" for key, (_, src) in sorted(sections.items())
             if key in OTHER_SECTIONS]
    problem = workload = None
    dims: dict[str, int] | None = None
    renames: dict[str, str] = {}
    space_roles: dict[str, str] = dict(CNN_ROLES)
    if "problem" in sections:
        data, src = sections["problem"]
        problem, workload, dims, renames, space_roles = _problem(data, src)
    hierarchy = None
    if "architecture" in sections:
        data, src = sections["architecture"]
        comps, compute = _components(data, src)
        constraints = _constraints(sections)
        if constraints and not renames:
            notes.append("no problem given: the constraints' dim names are kept as Timeloop's")
        hierarchy = _hierarchy(comps, compute, constraints, notes, _stem(src), renames, space_roles)
    mapping = None
    if "mapping" in sections:
        if hierarchy is None or dims is None:
            raise ConfigError("a mapping needs the architecture and the problem (give their files too)",
                              source=sections["mapping"][1], key="mapping")
        data, src = sections["mapping"]
        mapping = _mapping(data, src, hierarchy, dims, renames, space_roles, problem)
    if hierarchy is None and problem is None:
        raise ConfigError("no architecture or problem section in " + ", ".join(paths))
    return Imported(hierarchy, problem, workload, mapping, tuple(notes))


# ---- architecture --------------------------------------------------------------------------------

def _split_name(name: str, f: Fields) -> tuple[str, int]:
    m = _RANGE.match(name)
    if m is None:
        return name, 1
    lo, hi = int(m.group("lo")), int(m.group("hi"))
    if lo != 0 or hi < lo:
        raise f.error("name", f"instance range of {name!r} must be [0..n-1]")
    return m.group("base"), hi - lo + 1


def _int_attr(attrs: dict, names: tuple[str, ...], f: Fields, default: Any = None) -> Any:
    for n in names:
        if n in attrs:
            v = attrs[n]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise f.error(f"attributes.{n}", f"expected a positive integer, got {v!r}")
            return v
    return default


def _components(data: Any, src: str) -> tuple[list[_Component], _Component]:
    f = Fields(data, src, "architecture")
    f.raw("version", None)
    if f.has("nodes"):
        raise f.error("nodes", "Timeloop v0.4's nodes: list is not read; write the architecture as a v0.3 "
                               "subtree/local tree")
    storage: list[_Component] = []
    compute: list[_Component] = []

    def walk(items: list, key: str, mult: int, inherited_mesh: int | None) -> None:
        for i, item in enumerate(items):
            nf = Fields(item, src, f"{key}[{i}]")
            base, n = _split_name(nf.str("name"), nf)
            attrs = nf.raw("attributes", {}) or {}
            if not isinstance(attrs, dict):
                raise nf.error("attributes", "expected a mapping")
            nf.raw("description", None)
            here = mult * n
            mesh = _int_attr(attrs, ("meshX",), nf, inherited_mesh)
            for j, comp in enumerate(nf.list("local", [])):
                cf = Fields(comp, src, f"{nf.key('local')}[{j}]")
                cbase, cn = _split_name(cf.str("name"), cf)
                cls = cf.str("class")
                cf.raw("subclass", None)
                cf.raw("description", None)
                cattrs = cf.raw("attributes", {}) or {}
                if not isinstance(cattrs, dict):
                    raise cf.error("attributes", "expected a mapping")
                cf.done()
                inst = _int_attr(cattrs, ("instances",), cf, here * cn)
                mx = _int_attr(cattrs, ("meshX",), cf, mesh if mesh is not None else inst)
                if inst % mx:
                    raise cf.error("attributes.meshX", f"meshX {mx} does not divide the {inst} instances of {cbase!r}")
                record = _Component(cbase, cls, cattrs, inst, mx, cf.path)
                if cls in STORAGE_CLASSES:
                    storage.append(record)
                elif cls in COMPUTE_CLASSES:
                    compute.append(record)
                else:
                    raise cf.error("class", f"unknown class {cls!r}; storage classes: {', '.join(sorted(STORAGE_CLASSES))}; "
                                            f"compute classes: {', '.join(sorted(COMPUTE_CLASSES))}")
            walk(nf.list("subtree", []), nf.key("subtree"), here, mesh)
            nf.done()

    walk(f.list("subtree", min_len=1), "architecture.subtree", 1, None)
    f.done()
    if not storage:
        raise f.error("subtree", "no storage level (a component of class " + ", ".join(sorted(STORAGE_CLASSES)) + ")")
    if len(compute) != 1:
        raise f.error("subtree", f"need exactly one compute component (class {', '.join(sorted(COMPUTE_CLASSES))}), "
                                 f"found {len(compute)}")
    return storage, compute[0]


def _constraints(sections: dict[str, tuple[Any, str]]) -> list[tuple[dict, str, str]]:
    """Constraint directives as (directive, file, key)."""
    out = []
    for name in CONSTRAINT_SECTIONS:
        if name not in sections:
            continue
        data, src = sections[name]
        if name == "mapspace":
            f = Fields(data, src, name)
            items, key = f.list("constraints", []), f"{name}.constraints"
            f.raw("template", None)
            f.done()
        elif isinstance(data, dict):
            f = Fields(data, src, name)
            items, key = f.list("targets", []), f"{name}.targets"
            f.done()
        else:
            items, key = data, name
        if not isinstance(items, list):
            raise ConfigError("expected a list of constraint directives", source=src, key=key)
        out += [(d, src, f"{key}[{i}]") for i, d in enumerate(items)]
    return out


def _stem(path: str) -> str:
    from pathlib import Path

    name = Path(path).name
    for suffix in (".yaml", ".yml", ".arch", ".prob", ".map", ".constraints"):
        name = name[: -len(suffix)] if name.endswith(suffix) else name
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "timeloop"


def _hierarchy(comps: list[_Component], compute: _Component, constraints: list[tuple[dict, str, str]],
               notes: list[str], name: str, renames: dict[str, str], spaces: dict[str, str]) -> dict[str, Any]:
    names = [c.name for c in comps]
    keeps = {c.name: list(ROLES) for c in comps}
    unsplit: dict[str, list[str]] = {c.name: [] for c in comps}
    unsplit_sp: dict[str, list[str]] = {c.name: [] for c in comps}
    for directive, src, key in constraints:
        f = Fields(directive, src, key)
        target = f.str("target")
        kind = f.str("type", choices=("temporal", "spatial", "bypass", "datatype", "utilization", "max_overbooked_proportion"))
        if target not in names:
            raise f.error("target", f"no storage level {target!r}; levels: {', '.join(names)}")
        if kind in ("bypass", "datatype"):
            for t in f.list("bypass", []):
                role = _role_of(t, f, "bypass", spaces)
                if role in keeps[target]:
                    keeps[target].remove(role)
            if f.list("keep", []):
                notes.append(f"{src}: {key}.keep: a forced keep has no counterpart (the mapping decides keeps)")
        elif kind in ("temporal", "spatial"):
            fac = f.raw("factors", None)
            pairs = _factor_pairs(fac, f, "factors", allow_zero=True) if fac is not None else []
            for dim, _ in pairs:
                if renames and dim not in renames:
                    raise f.error("factors", f"unknown dim {dim!r}; dims: {', '.join(renames)}")
            ones = [renames.get(dim, dim) for dim, v in pairs if v == 1]
            fixed = [f"{dim}={v}" for dim, v in pairs if v not in (0, 1)]
            (unsplit if kind == "temporal" else unsplit_sp)[target].extend(x for x in ones if x not in
                                                                           (unsplit if kind == "temporal" else unsplit_sp)[target])
            if fixed:
                notes.append(f"{src}: {key}.factors: fixed factors {' '.join(fixed)} have no counterpart (only =1 does)")
            if f.has("permutation"):
                f.raw("permutation")
                notes.append(f"{src}: {key}.permutation: a loop-order constraint has no counterpart")
            f.raw("split", None)
        else:
            notes.append(f"{src}: {key}: a {kind} constraint has no counterpart")
        for k in list(f.data):
            f.raw(k)
    levels: list[dict[str, Any]] = []
    chain = comps + [compute]
    for i, c in enumerate(comps):
        entry: dict[str, Any] = {"name": c.name, "keeps": keeps[c.name]}
        f = Fields({}, "", c.key)
        if i == 0:
            if keeps[c.name] != list(ROLES):
                raise ConfigError(f"the outermost level {c.name!r} is the backing store: it may not bypass a tensor",
                                  source=constraints[0][1] if constraints else None, key=c.key)
        else:
            words = _words(c, f)
            if words is not None and keeps[c.name]:
                entry["capacity"] = words
        for ours, theirs in (("read_bandwidth", "read_bandwidth"), ("write_bandwidth", "write_bandwidth")):
            v = c.attrs.get(theirs)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
                entry[ours] = v
        if unsplit[c.name]:
            entry["unsplit"] = unsplit[c.name]
        nxt = chain[i + 1]
        fx, fy = _fanout(c, nxt)
        if fx * fy > 1 or unsplit_sp[c.name]:
            fan: dict[str, Any] = {"x": fx, "y": fy, "network": dict(NETWORK)}
            if unsplit_sp[c.name]:
                fan["unsplit_x"] = list(unsplit_sp[c.name])
                fan["unsplit_y"] = list(unsplit_sp[c.name])
            entry["fanout"] = fan
        levels.append(entry)
    bits = [c.attrs.get("word-bits", c.attrs.get("word_bits")) for c in comps]
    word_bits = next((b for b in bits if isinstance(b, int) and not isinstance(b, bool)), 16)
    return {"name": name, "word_bits": word_bits, "levels": levels, "compute": {"name": compute.name}}


def _fanout(parent: _Component, child: _Component) -> tuple[int, int]:
    py, cy = parent.instances // parent.mesh_x, child.instances // child.mesh_x
    if child.mesh_x % parent.mesh_x or cy % py:
        raise ConfigError(f"{child.name!r} ({child.mesh_x} x {cy} instances) is not a whole fanout of "
                          f"{parent.name!r} ({parent.mesh_x} x {py}): meshX and instances/meshX must divide",
                          key=child.key)
    return child.mesh_x // parent.mesh_x, cy // py


def _words(c: _Component, f: Fields) -> int | None:
    if c.cls in BACKING_CLASSES:
        return None
    depth = _int_attr(c.attrs, ("depth", "memory_depth"), f)
    if depth is None:
        return None
    bits = _int_attr(c.attrs, ("word-bits", "word_bits", "datawidth"), f)
    width = _int_attr(c.attrs, ("width", "memory_width"), f, bits)
    if bits is None:
        bits = width
    if bits is None:
        return depth
    if width % bits:
        raise f.error("attributes.width", f"width {width} is not a whole number of {bits}-bit words")
    return depth * (width // bits)


# ---- problem -------------------------------------------------------------------------------------

def _role_of(name: Any, f: Fields, key: str, spaces: dict[str, str] | None = None) -> str:
    table = spaces if spaces is not None else CNN_ROLES
    if not isinstance(name, str) or name not in table:
        raise f.error(key, f"unknown data-space {name!r}; data-spaces: {', '.join(table)}")
    return table[name]


def _is_cnn_layer(shape: dict) -> bool:
    """A shape written out in full that is Timeloop's CNN-Layer (any axis order) imports as the built-in."""
    def norm(spaces: Any) -> Any:
        try:
            return {(s["name"], bool(s.get("read-write", False)),
                     frozenset(tuple(tuple(t) for t in ax) for ax in s["projection"])) for s in spaces}
        except (TypeError, KeyError, AttributeError):
            return None

    builtin = {(n, rw, frozenset(tuple(tuple(x for x in t if x is not None) for t in ax) for ax in axes))
               for n, rw, axes in CNN_SPACES}
    dims = shape.get("dimensions") or ()
    if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
        return False                  # not the built-in; the custom reader names what is wrong
    return (str(shape.get("name", "")).lower() == "cnn-layer" and set(dims) == set(CNN_DIMS)
            and norm(shape.get("data-spaces")) == builtin)


def _problem(data: Any, src: str) -> tuple[dict, dict | None, dict[str, int], dict[str, str], dict[str, str]]:
    """(problem YAML, workload YAML or None, our dim -> size, Timeloop dim -> ours, data-space -> role)."""
    f = Fields(data, src, "problem")
    f.raw("version", None)
    shape = f.raw("shape", None)
    inst = f.sub("instance")
    custom = isinstance(shape, dict) and "data-spaces" in shape and not _is_cnn_layer(shape)
    if custom:
        sf = f.sub("shape")
        name = str(sf.raw("name", "problem"))
        dim_list = sf.list("dimensions", min_len=1)
        for i, d in enumerate(dim_list):
            if not isinstance(d, str) or not d.isidentifier():
                raise sf.error(f"dimensions[{i}]", f"a dim is a name (letters, digits, _), got {d!r}")
        if len(set(dim_list)) != len(dim_list):
            raise sf.error("dimensions", f"a dim is named twice: {dim_list}")
        coefs: dict[str, int] = {}
        for i, c in enumerate(sf.list("coefficients", [])):
            cf = Fields(c, src, f"{sf.key('coefficients')}[{i}]")
            coefs[cf.str("name")] = cf.int("default", 1)
            cf.done()
        spaces: list[Space] = []
        for i, s in enumerate(sf.list("data-spaces", min_len=3)):
            df = Fields(s, src, f"{sf.key('data-spaces')}[{i}]")
            axes: list[tuple[tuple[str, str | None], ...]] = []
            for j, ax in enumerate(df.list("projection", min_len=1)):
                if not isinstance(ax, list) or not ax:
                    raise df.error(f"projection[{j}]", f"expected a list of [dim] or [dim, coefficient] terms, got {ax!r}")
                terms: list[tuple[str, str | None]] = []
                for t in ax:
                    if not isinstance(t, list) or not 1 <= len(t) <= 2 or not all(isinstance(x, str) for x in t):
                        raise df.error(f"projection[{j}]", f"expected [dim] or [dim, coefficient] (names), got {t!r}")
                    terms.append((t[0], t[1] if len(t) == 2 else None))
                axes.append(tuple(terms))
            spaces.append((df.str("name"), bool(df.raw("read-write", False)), tuple(axes)))
            df.done()
        sf.done()
        renames = {d: d for d in dim_list}
    else:
        if isinstance(shape, dict):
            sf = f.sub("shape")
            name = str(sf.raw("name", "CNN-Layer"))
            for k in ("dimensions", "coefficients", "data-spaces"):
                sf.raw(k, None)
            sf.done()
        else:
            name = str(shape or "CNN-Layer")
        if name.lower().replace("_", "-") not in ("cnn-layer", "cnn_layer"):
            raise f.error("shape", f"shape {name!r} has no data-spaces; give them, or use the built-in CNN-Layer")
        dim_list, coefs, spaces, renames = list(CNN_DIMS), dict(CNN_COEFFICIENTS), list(CNN_SPACES), dict(CNN_DIMS)
    sizes: dict[str, int] = {}
    for d in dim_list:
        sizes[d] = inst.int(d, 1, minimum=1, maximum=1 << 40)
    for c in list(coefs):
        coefs[c] = inst.int(c, coefs[c], minimum=1, maximum=1 << 20)
    inst.done()
    f.done()
    outputs = [s for s in spaces if s[1]]
    if len(spaces) != 3 or len(outputs) != 1:
        raise f.error("shape.data-spaces", "need three data-spaces, exactly one of them read-write (the output)")
    operands = [s for s in spaces if not s[1]]
    roles = dict(CNN_ROLES) if not custom else {operands[0][0]: IFMAP, operands[1][0]: WEIGHT, outputs[0][0]: PSUM}
    if custom and {s[0] for s in spaces} == set(CNN_ROLES):
        roles = dict(CNN_ROLES)
    tensors = []
    for sname, _, space_axes in spaces:
        coords: list[Any] = []
        for space_terms in space_axes:
            parts, span = [], 0
            for dim, coef in space_terms:
                if dim not in sizes:
                    raise f.error("shape.data-spaces", f"data-space {sname!r} projects unknown dim {dim!r}; "
                                                       f"dims: {', '.join(sizes)}")
                if coef is not None and coef not in coefs:
                    raise f.error("shape.data-spaces", f"data-space {sname!r} names unknown coefficient {coef!r}; "
                                                       f"coefficients: {', '.join(coefs) or 'none'}")
                mult = coefs[coef] if coef is not None else 1
                parts.append(f"{mult}*{renames[dim]}" if mult != 1 else renames[dim])
                span += (sizes[dim] - 1) * mult
            expr = " + ".join(parts)
            first = space_terms[0][1]
            if len(space_terms) == 1 and (first is None or coefs[first] == 1):
                coords.append(expr)
            else:
                coords.append({"expr": expr, "size": span + 1})
        tensors.append({"name": sname, "role": roles[sname], "coords": coords})
    name = _stem(src) if not custom else name
    problem = {"name": name, "dims": {renames[d]: sizes[d] for d in dim_list}, "tensors": tensors}
    if custom:
        einsum = {k: v for k, v in problem.items() if k != "name"}
        workload = {"version": 1, "name": name, "layers": [{"name": name, "kind": "einsum", "einsum": einsum}]}
    else:
        s = {renames[d]: sizes[d] for d in dim_list}
        H = (s["P"] - 1) * coefs["Wstride"] + (s["R"] - 1) * coefs["Wdilation"] + 1
        W = (s["Q"] - 1) * coefs["Hstride"] + (s["S"] - 1) * coefs["Hdilation"] + 1
        layer = {"name": name, "kind": "conv", "N": s["N"], "C": s["C"], "K": s["K"], "H": H, "W": W,
                 "R": s["R"], "S": s["S"], "stride": [coefs["Wstride"], coefs["Hstride"]], "padding": 0,
                 "dilation": [coefs["Wdilation"], coefs["Hdilation"]]}
        workload = {"version": 1, "name": name, "layers": [layer]}
    space_roles = {sname: roles[sname] for sname, _, _ in spaces}
    return problem, workload, {renames[d]: sizes[d] for d in dim_list}, renames, space_roles


# ---- mapping -------------------------------------------------------------------------------------

_FACTOR = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*?)=?(\d+)$")


def _factor_pairs(raw: Any, f: Fields, key: str, allow_zero: bool = False) -> list[tuple[str, int]]:
    """``"R=3 P=1"`` / ``"R3 P1"`` / ``["R=3", ...]`` / ``{R: 3}`` -> [(dim, factor)] (Timeloop's names)."""
    if isinstance(raw, dict):
        items = [(str(k), v) for k, v in raw.items()]
    else:
        tokens = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else None
        if tokens is None:
            raise f.error(key, f"expected factors like 'R=3 P=1', got {raw!r}")
        items = []
        for tok in tokens:
            m = _FACTOR.match(str(tok).strip())
            if m is None:
                raise f.error(key, f"cannot read factor {tok!r}: expected DIM=N or DIMN")
            items.append((m.group(1), int(m.group(2))))
    out: list[tuple[str, int]] = []
    for d, v in items:
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if allow_zero else 1):
            raise f.error(key, f"factor of {d} must be an integer >= {0 if allow_zero else 1}, got {v!r}")
        if d in [x for x, _ in out]:
            raise f.error(key, f"dim {d} given twice")
        out.append((d, v))
    return out


def _permutation(raw: Any, f: Fields, key: str) -> list[str]:
    """Timeloop's permutation, inner -> outer: ``"PRKC"``, ``"NCPQRS K"`` or a list of dim names."""
    if isinstance(raw, list):
        return [str(x) for x in raw]
    if not isinstance(raw, str):
        raise f.error(key, f"expected a permutation like 'PRKC', got {raw!r}")
    text = raw.replace(" ", "")
    return list(text)


def _mapping(data: Any, src: str, hierarchy: dict, dims: dict[str, int], to_ours: dict[str, str],
             spaces: dict[str, str], problem: dict | None) -> list[dict]:
    items = data if isinstance(data, list) else None
    if isinstance(data, dict):
        f = Fields(data, src, "mapping")
        items = f.list("targets")
        f.done()
    if items is None:
        raise ConfigError("expected a list of mapping directives", source=src, key="mapping")
    levels = {lv["name"]: lv for lv in hierarchy["levels"]}
    names = list(levels)
    entries: dict[str, dict[str, Any]] = {n: {"level": n} for n in names}
    seen: set[tuple[str, str]] = set()
    total = {d: 1 for d in dims}
    for i, d in enumerate(items):
        key = f"mapping[{i}]"
        f = Fields(d, src, key)
        target = f.str("target")
        kind = f.str("type", choices=("temporal", "spatial", "bypass", "datatype"))
        if target not in levels:
            raise f.error("target", f"no storage level {target!r} in the architecture; levels: {', '.join(names)}")
        kind = "bypass" if kind == "datatype" else kind
        if (target, kind) in seen:
            raise f.error("type", f"a second {kind} directive for {target!r}")
        seen.add((target, kind))
        e = entries[target]
        lv = levels[target]
        if kind == "bypass":
            keep = [_role_of(t, f, "keep", spaces) for t in f.list("keep", [])]
            bypass = [_role_of(t, f, "bypass", spaces) for t in f.list("bypass", [])]
            both = set(keep) & set(bypass)
            if both:
                raise f.error("keep", f"{', '.join(sorted(both))} both kept and bypassed")
            kept = [r for r in lv["keeps"] if r not in bypass]
            for r in keep:
                if r not in lv["keeps"]:
                    raise f.error("keep", f"level {target!r} cannot keep {r!r} (its constraints bypass it)")
            e["keeps"] = kept
            f.done()
            continue
        pairs = []
        for td, v in _factor_pairs(f.raw("factors", ""), f, "factors"):
            if td not in to_ours:
                raise f.error("factors", f"unknown dim {td!r}; dims: {', '.join(k for k in to_ours)}")
            pairs.append((to_ours[td], v))
        perm = []
        if f.has("permutation"):
            for td in _permutation(f.raw("permutation"), f, "permutation"):
                if td not in to_ours:
                    raise f.error("permutation", f"unknown dim {td!r}; dims: {', '.join(to_ours)}")
                perm.append(to_ours[td])
        for dd, v in pairs:
            total[dd] *= v
        big = [dd for dd, v in pairs if v > 1]
        if kind == "temporal":
            missing = [dd for dd in big if dd not in perm]
            if perm and missing:
                raise f.error("permutation", f"misses {', '.join(missing)}, which the factors split")
            e["order"] = list(reversed([dd for dd in perm if dd in big])) if perm else big
            e["factors"] = {dd: dict(pairs)[dd] for dd in e["order"]}
            f.raw("split", None)
        else:
            fan = lv.get("fanout")
            if big and fan is None:
                raise f.error("factors", f"spatial factors at {target!r}, which has no fanout below it")
            order = perm + [dd for dd in big if dd not in perm]
            split = f.int("split", len(order), minimum=0, maximum=1 << 10)
            xs = {dd: v for dd, v in pairs if v > 1 and order.index(dd) < split}
            ys = {dd: v for dd, v in pairs if v > 1 and order.index(dd) >= split}
            for axis, part in (("x", xs), ("y", ys)):
                used = 1
                for v in part.values():
                    used *= v
                if fan is not None and used > fan[axis]:
                    raise f.error("factors", f"spatial factors on {axis.upper()} use {used} > the fanout's {fan[axis]} "
                                             f"below {target!r}")
            sp = {ax: part for ax, part in (("x", xs), ("y", ys)) if part}
            if sp:
                e["spatial"] = sp
        f.done()
    for dd, n in dims.items():
        if total[dd] != n:
            theirs = next(k for k, v in to_ours.items() if v == dd)
            raise ConfigError(f"factors of {theirs} multiply to {total[dd]}, the problem's {theirs} is {n} "
                              "(Timeloop needs the exact product)", source=src, key="mapping")
    out: list[dict[str, Any]] = []
    for n in names:
        e = entries[n]
        e.setdefault("keeps", list(levels[n]["keeps"]))
        out.append(e)
    if problem is not None:
        _check(out, hierarchy, problem, src)
    return out


def _check(mapping: list[dict], hierarchy: dict, problem: dict, src: str) -> None:
    """The imported nest must be legal on the imported hierarchy (capacity, keeps); one line naming
    the mapping file otherwise."""
    from accelsim.hierarchy import hierarchy_from_dict
    from accelsim.loopnest import nest_from_dict, problems_of
    from accelsim.problem import problem_from_dict

    h = hierarchy_from_dict(hierarchy, src)
    p = problem_from_dict(problem, src)
    nest = nest_from_dict(mapping, h, src)
    bad = problems_of(p, h, nest)
    if bad:
        key, message = bad[0]
        idx = re.match(r"levels\[(\d+)\]", key)
        where = f"mapping (level {h.levels[int(idx.group(1))].name})" if idx else "mapping"
        raise ConfigError(message, source=src, key=where)
