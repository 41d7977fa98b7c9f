"""A workload as problems (``accelsim.problem``): what `accelsim run` runs on a level-list hierarchy.

Every zoo network and workload file becomes one :class:`ProblemLayer` per layer (its conv-shaped
problem, ``accelsim.problem.from_layer``; layers without MACs keep only their ``Layer``). A workload
YAML (workloads.yaml_file's format, version 1) may also hold layers of two more kinds:

::

    layers:
      - {name: qk, kind: bmm, batch: 12, m: 512, n: 512, k: 64}   # Z[b,m,n] += A[b,m,k] * B[b,k,n]
      - name: conv1d
        kind: einsum
        einsum:                       # accelsim.problem's YAML form (docs/core.md)
          dims: {K: 8, P: 5, R: 3}
          tensors:
            - {name: x, role: ifmap, coords: [{expr: "P + R", size: 7}]}
            - {name: w, role: weight, coords: [K, R]}
            - {name: y, role: psum, coords: [K, P]}

Errors are one line naming the file and key (ConfigError). ``batch`` overrides N of the conv-shaped
layers only; on a workload with bmm or einsum layers it is an error (their batch is their own dim).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.problem import Problem, bmm, from_layer, problem_from_dict
from workloads.layer import Layer, layer_densities

PROBLEM_KINDS = ("bmm", "einsum")


@dataclass(frozen=True)
class ProblemLayer:
    name: str
    kind: str
    problem: Problem | None        # None: a layer without MACs (bandwidth only)
    layer: Layer | None = None     # the conv-shaped layer it came from, if any


@dataclass(frozen=True)
class ProblemWorkload:
    name: str
    layers: tuple[ProblemLayer, ...]
    densities: tuple = ()          # the conv workload's density models (workloads.layer.Workload.densities)

    def select(self, names: list[str]) -> ProblemWorkload:
        by = {pl.name: pl for pl in self.layers}
        return ProblemWorkload(self.name, tuple(by[n] for n in names), self.densities)

    def density_of(self, layer: str) -> dict[str, Any]:
        """role -> density model of one layer (the network's, overridden per role by the layer's)."""
        return layer_densities(self.densities, layer)


def of_layer(layer: Layer) -> ProblemLayer:
    return ProblemLayer(layer.name, layer.kind.value, from_layer(layer) if layer.kind.has_macs else None, layer)


def _has_problem_kinds(data: Any) -> bool:
    items = data.get("layers") if isinstance(data, dict) else None
    return isinstance(items, list) and any(isinstance(i, dict) and i.get("kind") in PROBLEM_KINDS for i in items)


def load_problem_workload(spec: str, batch: int | None = None) -> ProblemWorkload:
    """A zoo name or workload file as problems (module docstring)."""
    from accelsim.yamlio import load_yaml
    from workloads.loader import load_workload

    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        data = load_yaml(path)
        if _has_problem_kinds(data):
            if batch is not None:
                raise ConfigError("--batch overrides N of conv-shaped layers; this workload has bmm/einsum "
                                  "layers, whose batch is their own dim: drop --batch", source=spec)
            return _read(data, str(path))
    w = load_workload(spec, batch)
    return ProblemWorkload(w.name, tuple(of_layer(layer) for layer in w.layers), w.densities)


def _read(data: Any, source: str) -> ProblemWorkload:
    from workloads.yaml_file import _label, _read_layer

    top = Fields(data, source)
    version = top.int("version", 1)
    if version != 1:
        raise top.error("version", f"unsupported version {version}; allowed: 1")
    name = top.str("name", Path(source).stem)
    out: list[ProblemLayer] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(top.list("layers", min_len=1)):
        label = _label(item, index)
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind == "bmm":
            f = Fields(item, source, label)
            lname, _ = f.str("name"), f.str("kind")
            b, m, n, k = (f.int(key, minimum=1, maximum=1 << 30) for key in ("batch", "m", "n", "k"))
            f.done()
            pl = ProblemLayer(lname, "bmm", bmm(lname, b, m, n, k))
        elif kind == "einsum":
            f = Fields(item, source, label)
            lname, _ = f.str("name"), f.str("kind")
            body = f.raw("einsum")
            f.done()
            if not isinstance(body, dict):
                raise ConfigError(f"expected a problem (dims, tensors), got {type(body).__name__}",
                                  source=source, key=f"{label}.einsum")
            try:
                problem = problem_from_dict({"name": lname, **body}, source)
            except ConfigError as exc:
                raise ConfigError(exc.detail, source=source, key=f"{label}.einsum" + (f".{exc.key}" if exc.key
                                                                                      else "")) from None
            pl = ProblemLayer(lname, "einsum", problem)
        else:
            pl = of_layer(_read_layer(item, index, source))
        if pl.name in seen:
            raise ConfigError(f"duplicate layer name {pl.name!r} (first at layers[{seen[pl.name]}]); "
                              "layer names must be unique", source=source, key=f"{label}.name")
        seen[pl.name] = index
        out.append(pl)
    top.done()
    return ProblemWorkload(name, tuple(out))


__all__ = ["PROBLEM_KINDS", "ProblemLayer", "ProblemWorkload", "load_problem_workload", "of_layer"]
