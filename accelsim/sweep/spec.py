"""A sweep file: a base point plus axes over config key paths, read strictly into a frozen SweepSpec.

Example (configs/sweeps/isca16_dataflows.yaml, shortened)::

    version: 1
    name: isca16_dataflows
    base:                       # every point starts here
      arch: isca16/rs           # shipped config name, YAML file or SCALE-Sim .cfg
      workload: alexnet
      search: {objective: energy, budget: 600, seed: 0}    # omit for the named mappings
    axes:                       # crossed in this order (first = outermost)
      - zip:                    # walked together: equal-length lists
          arch: [isca16/rs, isca16/ws]
          dataflow: [rs, ws]
      - batch: [1, 16, 64]      # one key: a grid axis
      - layers: [CONV1, FC6]
      - glb.size_kb: [{times: 1}, {times: 2}]   # relative to the point's arch

Keys are either *point keys* (``arch``, ``workload``, ``batch``, ``layers``, ``simulate``,
``search.objective|budget|seed|time_limit_s|refine``, ``fuse.objective|budget|seed``: the network
mapper's fused-layer plan, docs/fusion.md) or *arch key paths* into the architecture YAML
(``pe_array.rows``, ``glb.size_kb``, ``rf.shared_bytes``, ``energy.preset``, ``dataflow``, ...),
which override the point's base architecture. A value ``{times: k}`` multiplies the arch's value.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError
from accelsim.fields import Fields

SCHEMA_VERSION = 1
POINT_KEYS = ("arch", "workload", "batch", "layers", "simulate")
SEARCH_KEYS = ("objective", "budget", "seed", "time_limit_s", "refine")
FUSE_KEYS = ("objective", "budget", "seed")     # the network mapper (docs/fusion.md)
# top-level keys of an architecture YAML that an arch key path may start with
ARCH_KEYS = ("name", "clock_mhz", "word_bits", "pe_array", "rf", "glb", "dram", "noc", "energy", "dataflow",
             "constraints")
MAX_POINTS = 1_000_000


@dataclass(frozen=True)
class Times:
    """An axis value relative to the point's architecture: the arch's value times ``factor``."""

    factor: float | int

    def label(self) -> str:
        return f"x{self.factor:g}"


@dataclass(frozen=True)
class AxisGroup:
    """One crossed dimension of the sweep: one key (a grid axis) or several walked together (zip)."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]      # values[i] = the i-th setting, one value per key

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class SweepSpec:
    name: str
    description: str
    base: tuple[tuple[str, Any], ...]        # (key path, value), in file order
    groups: tuple[AxisGroup, ...]
    source: str
    fingerprint: str                         # sha256 of the canonical spec: identifies a sweep for --resume

    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(k for g in self.groups for k in g.keys)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(g) for g in self.groups)

    @property
    def total(self) -> int:
        return math.prod(self.sizes)

    def group_of(self, key: str) -> AxisGroup | None:
        for g in self.groups:
            if key in g.keys:
                return g
        return None


# --------------------------------------------------------------------------------------------

def key_kind(key: str) -> str:
    """'point', 'search', 'fuse' or 'arch' for a valid key path; raises KeyError otherwise."""
    if key in POINT_KEYS:
        return "point"
    head, _, rest = key.partition(".")
    if head == "search" and rest in SEARCH_KEYS:
        return "search"
    if head == "fuse" and rest in FUSE_KEYS:
        return "fuse"
    if head in ARCH_KEYS and all(part.strip() for part in key.split(".")):
        return "arch"
    raise KeyError(key)


def _allowed() -> str:
    return (", ".join(POINT_KEYS) + ", " + ", ".join(f"search.{k}" for k in SEARCH_KEYS) + ", "
            + ", ".join(f"fuse.{k}" for k in FUSE_KEYS) + " or an arch key path under " + ", ".join(ARCH_KEYS))


def _check_key(key: Any, f: Fields, where: str) -> str:
    if not isinstance(key, str):
        raise f.error(where, f"a key must be a string, got {key!r}")
    try:
        key_kind(key)
    except KeyError:
        raise f.error(f"{where}.{key}" if where else key, f"unknown sweep key {key!r}; allowed: {_allowed()}") from None
    return key


def _value(value: Any, key: str, f: Fields, where: str) -> Any:
    """Validate one setting: a scalar (or a list for ``layers``) or {times: k} on an arch key."""
    if isinstance(value, dict):
        if set(value) != {"times"}:
            raise f.error(where, f"a mapping value must be {{times: NUMBER}}, got {value!r}")
        factor = value["times"]
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
            raise f.error(where, f"times must be a positive number, got {factor!r}")
        if key_kind(key) != "arch":
            raise f.error(where, f"{{times: ...}} only scales an arch key path, not {key!r}")
        return Times(factor)
    if key == "layers" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)                                       # one 1-based layer index
    if key == "layers" and not isinstance(value, (str, list)) and value is not None:
        raise f.error(where, f"a layers value is a selection string (CONV1,FC8 or 1-5) or a list of layer names, "
                             f"got {value!r}")
    if key == "layers" and isinstance(value, list):
        if not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise f.error(where, f"a layers value is a selection string or a list of layer names, got {value!r}")
        return ",".join(value)
    if isinstance(value, list) and key_kind(key) == "arch":     # e.g. glb.holds: [ifmap, psum]
        if not all(isinstance(v, (str, int, float, bool)) for v in value):
            raise f.error(where, f"a list value may hold only scalars, got {value!r}")
        return tuple(value)
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise f.error(where, f"expected a scalar (string, number, true/false) or {{times: k}}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise f.error(where, f"expected a finite number, got {value!r}")
    return value


def _flatten(data: dict, f: Fields, prefix: str = "") -> list[tuple[str, Any]]:
    """base: nested mappings become dotted key paths (``search: {budget: 5}`` -> ``search.budget``)."""
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        if not isinstance(key, str) or not key.strip():
            raise f.error(f"base.{prefix}".rstrip("."), f"a key must be a non-empty string, got {key!r}")
        path = f"{prefix}{key}"
        if path == "search":
            if value is None:                  # explicit: the dataflows' named mappings
                continue
            if not isinstance(value, dict):
                raise f.error("base.search", f"expected a mapping of {', '.join(SEARCH_KEYS)} or null, got {value!r}")
            out += _flatten(value, f, "search.") or [("search.objective", "energy")]
        elif path == "fuse":
            if value is None:                  # explicit: no fusion plan
                continue
            if not isinstance(value, dict):
                raise f.error("base.fuse", f"expected a mapping of {', '.join(FUSE_KEYS)} or null, got {value!r}")
            out += _flatten(value, f, "fuse.") or [("fuse.objective", "energy")]
        elif isinstance(value, dict) and set(value) != {"times"}:
            out += _flatten(value, f, f"{path}.")
        else:
            _check_key(path, f, "base")
            out.append((path, _value(value, path, f, f"base.{path}")))
    return out


def _group(entry: Any, f: Fields, i: int) -> AxisGroup:
    where = f"axes[{i}]"
    if not isinstance(entry, dict) or len(entry) != 1:
        raise f.error(where, f"each axis is {{KEY: [values]}} or {{zip: {{KEY: [values], ...}}}}, got {entry!r}")
    (key, body), = entry.items()
    if key == "zip":
        if not isinstance(body, dict) or not body:
            raise f.error(f"{where}.zip", f"expected a mapping of key -> list of values, got {body!r}")
        columns, prefix = dict(body), f"{where}.zip"
    else:
        columns, prefix = {key: body}, where
    keys = []
    lists = []
    for k, vs in columns.items():
        _check_key(k, f, prefix)
        where_key = f"{prefix}.{k}"
        if not isinstance(vs, list) or not vs:
            raise f.error(where_key, f"expected a non-empty list of values, got {vs!r}")
        keys.append(k)
        lists.append([_value(v, k, f, f"{where_key}[{j}]") for j, v in enumerate(vs)])
    lengths = {len(v) for v in lists}
    if len(lengths) > 1:
        shown = ", ".join(f"{k}: {len(v)}" for k, v in zip(keys, lists))
        raise f.error(f"{where}.zip", f"zipped lists must have equal lengths, got {shown}")
    values = tuple(zip(*lists))
    if len(set(map(_canonical_values, values))) != len(values):
        raise f.error(where, "an axis lists the same setting twice; every point must be distinct")
    return AxisGroup(tuple(keys), values)


def _canonical_values(values: tuple) -> str:
    return json.dumps([jsonable(v) for v in values], sort_keys=True)


def jsonable(v: Any) -> Any:
    if isinstance(v, Times):
        return {"times": v.factor}
    return list(v) if isinstance(v, tuple) else v


def _canonical(name: str, base: tuple, groups: tuple[AxisGroup, ...]) -> str:
    doc = {"version": SCHEMA_VERSION, "name": name, "base": [[k, jsonable(v)] for k, v in base],
           "axes": [{"keys": list(g.keys), "values": [[jsonable(v) for v in row] for row in g.values]} for g in groups]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def sweep_from_dict(data: Any, source: str = "<memory>") -> SweepSpec:
    """Validate a parsed sweep YAML document. Raises ConfigError naming the file and key."""
    f = Fields(data, source)
    version = f.int("version", minimum=1)
    if version != SCHEMA_VERSION:
        raise f.error("version", f"unsupported sweep version {version}; supported: {SCHEMA_VERSION}")
    name = f.str("name")
    description = f.str("description", "")
    base_raw = f.raw("base", {})
    if not isinstance(base_raw, dict):
        raise f.error("base", f"expected a mapping of key -> value, got {base_raw!r}")
    base = tuple(_flatten(base_raw, f))
    axes_raw = f.raw("axes")
    if isinstance(axes_raw, dict):           # a mapping: every key one grid axis, in file order
        axes_raw = [{k: v} for k, v in axes_raw.items()]
    if not isinstance(axes_raw, list) or not axes_raw:
        raise f.error("axes", f"expected a non-empty list of axes, got {axes_raw!r}")
    f.done()
    groups = tuple(_group(entry, f, i) for i, entry in enumerate(axes_raw))
    seen: dict[str, str] = {}
    for i, g in enumerate(groups):
        for k in g.keys:
            if k in seen:
                raise f.error(f"axes[{i}].{k}", f"key {k!r} is already swept by {seen[k]}; sweep each key once")
            seen[k] = f"axes[{i}]"
    keys = [k for k, _ in base] + list(seen)
    if "arch" not in keys:
        raise f.error("base.arch", "missing: give the base architecture (a shipped config name or a file)")
    if "workload" not in keys:
        raise f.error("base.workload", "missing: give the workload (a zoo name or a file)")
    total = math.prod(len(g) for g in groups)
    if total > MAX_POINTS:
        raise f.error("axes", f"{total} points is more than {MAX_POINTS}; split the sweep")
    fingerprint = hashlib.sha256(_canonical(name, base, groups).encode()).hexdigest()
    return SweepSpec(name, description, base, groups, source, fingerprint)


def find_sweep(name_or_path: str | Path) -> Path:
    """A sweep file path, or a shipped sweep by name (``isca16_dataflows`` -> configs/sweeps/...)."""
    import configs

    p = Path(name_or_path)
    if p.is_file():
        return p
    for candidate in (f"sweeps/{name_or_path}", str(name_or_path)):
        found = configs.find(candidate)
        if found is not None:
            return found
    shipped = ", ".join(n.split("/", 1)[1] for n in configs.names("sweeps"))
    raise ConfigError(f"no such sweep file or shipped sweep; shipped: {shipped}", source=str(name_or_path))


def load_sweep(name_or_path: str | Path) -> SweepSpec:
    from accelsim.yamlio import load_yaml

    path = find_sweep(name_or_path)
    return sweep_from_dict(load_yaml(path), str(path))
