"""Read a YAML workload file (format version 1) into a :class:`Workload`.

::

    version: 1            # optional, only 1 is allowed
    name: my_net          # optional, defaults to the file name without suffix
    layers:
      - {name: conv1, kind: conv, C: 3, K: 96, H: 227, W: 227, R: 11, S: 11, stride: 4, padding: 0}
      - {name: dw2, kind: depthwise, C: 32, H: 112, R: 3, stride: 1, padding: 1}
      - {name: ffn1, kind: gemm, m: 2048, n: 49152, k: 12288}   # (m x k) @ (k x n)

Keys per kind (every kind also takes ``name``, ``kind`` and an optional batch ``N``, default 1):

* conv: C, K, H, R required; W (default H), S (default R), stride, padding, dilation (each an int or
  an ``[h, w]`` pair; defaults 1, 0, 1), groups (default 1; must divide C and K).
* depthwise: as conv without K; K and groups default to C and, if given, must equal C.
* fc: C, K; optional H (and W, default H): a C x H x W input fully covered by the filter.
* gemm: m, n, k; optional groups (default 1): ``groups`` independent products (m x k) @ (k x n).
* pool: C, H, R; optional W, S, stride, padding (a window; bandwidth only, no MACs).
* eltwise: C, H; optional W, operands (default 2). activation, softmax: C, H; optional W.
* upsample: C, H, scale (an int or ``[h, w]``: every row/column repeated, nearest neighbour); optional W.

Every kind also takes ``inputs``: the earlier layers whose outputs it reads (several: concatenated
along channels, or an add's operands; ``[]``: the network input). When any layer has ``inputs`` the
workload carries a graph (``workloads.graph``) and a layer without ``inputs`` reads the one before.

Densities (``accelsim.sparse.density``): an optional ``density: {ifmap: 0.4, weight: '2:4', psum:
0.3}`` for the whole network and/or per layer (a layer's overrides the network's per role; only on
layers with MACs: elsewhere it is an error, as it would do nothing); a ``{mask: FILE.npy}`` path is
relative to the workload file.

Every error is a one-line :class:`ConfigError` naming the file, the layer (index and name), the key,
the value and what is allowed; unknown keys are rejected with a did-you-mean hint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.sparse.density import parse_densities
from accelsim.yamlio import load_yaml
from workloads.graph import Graph, graph_problem
from workloads.layer import Layer, LayerKind, Workload

FORMAT_VERSION = 1
_WINDOW = ("W", "R", "S", "stride", "padding")
_PAIR_HELP = "an integer or a [h, w] pair of integers"


def load_yaml_workload(path: str | Path) -> Workload:
    source = str(path)
    data = load_yaml(path)
    _reject_unknown(Fields(data, source), ("version", "name", "layers", "density"))
    top = Fields(data, source)
    version = top.int("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise top.error("version", f"unsupported version {version}; allowed: {FORMAT_VERSION}")
    name = top.str("name", Path(path).stem)
    items = top.list("layers", min_len=1)
    base = Path(path).parent
    densities = []
    if top.has("density"):
        densities.append(("", tuple(parse_densities(top.raw("density"), source, "density", base).items())))
    layers: list[Layer] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        layer = _read_layer(item, index, source)
        if layer.name in first_index:
            raise ConfigError(f"duplicate layer name {layer.name!r} (first at layers[{first_index[layer.name]}]); "
                              f"layer names must be unique", source=source, key=_label(item, index) + ".name")
        first_index[layer.name] = index
        layers.append(layer)
        if isinstance(item, dict) and "density" in item:
            key = _label(item, index) + ".density"
            if not layer.kind.has_macs:      # the sparse view models MAC layers only: it would do nothing
                raise ConfigError(f"a {layer.kind.value} layer has no MACs: a density there would have no effect "
                                  f"(densities apply to conv, depthwise, fc and gemm layers)", source=source, key=key)
            densities.append((layer.name, tuple(parse_densities(item["density"], source, key, base).items())))
    return Workload(name, tuple(layers), _graph(items, layers, source), tuple(densities))


def _graph(items: list, layers: list[Layer], source: str) -> Graph | None:
    """The graph when any layer lists ``inputs`` (a list of earlier layer names; ``[]``: the network
    input); a layer without ``inputs`` then reads the layer before it. No ``inputs`` anywhere: no graph."""
    if not any(isinstance(item, dict) and "inputs" in item for item in items):
        return None
    known: set[str] = set()
    inputs: list[tuple[str, ...]] = []
    for index, (item, layer) in enumerate(zip(items, layers)):
        label = _label(item, index)
        f = Fields(item, source, label)
        value = f.raw("inputs", None)
        if value is None:
            ins: tuple[str, ...] = (layers[index - 1].name,) if index else ()
        else:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise f.error("inputs", f"expected a list of earlier layer names (or [] for the network input), "
                                        f"got {value!r}")
            for v in value:
                if v not in known:
                    later = any(other.name == v for other in layers)
                    raise f.error("inputs", f"{v!r} is " + ("a later layer; inputs name earlier layers"
                                                             if later else "not a layer of this workload")
                                  + f"; earlier layers: {', '.join(sorted(known)) or '(none)'}")
            if len(set(value)) != len(value):
                raise f.error("inputs", f"a layer is listed twice in {value!r}")
            ins = tuple(value)
        known.add(layer.name)
        inputs.append(ins)
    bad = graph_problem(tuple(layers), tuple(inputs))
    if bad is not None:
        index, message = bad
        raise ConfigError(message, source=source, key=_label(items[index], index) + ".inputs")
    return Graph(tuple(layers), tuple(inputs))


# ---- one layer ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Kind:
    keys: tuple[str, ...]                      # keys besides name, kind, N
    build: Callable[[Fields, str, int], Layer]  # (fields, name, N) -> Layer


def _reject_unknown(f: Fields, keys: tuple[str, ...]) -> None:
    """Reject keys outside ``keys`` (with Fields' did-you-mean hint) before reading any value, so a
    misspelt key is reported as such rather than as the missing key it was meant to be."""
    for key in keys:
        f.raw(key, None)
    f.done()


def _label(item: Any, index: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"layers[{index}] ({name})" if isinstance(name, str) and name.strip() else f"layers[{index}]"


def _read_layer(item: Any, index: int, source: str) -> Layer:
    label = _label(item, index)
    f = Fields(item, source, label)
    name = f.str("name")
    kind = LayerKind(f.str("kind", choices=[k.value for k in LayerKind]))
    spec = _KINDS[kind]
    _reject_unknown(f, ("N", "inputs", "density", *spec.keys))
    fields = Fields(item, source, label)
    try:
        return spec.build(fields, name, fields.int("N", 1))
    except ConfigError as exc:
        if exc.source:  # already names the file and key
            raise
        raise ConfigError(str(exc), source=source, key=label) from None


def _pair(f: Fields, key: str, default: int, minimum: int) -> tuple[int, int]:
    value = f.raw(key, default)
    items = value if isinstance(value, list) else [value, value]
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise f.error(key, f"expected {_PAIR_HELP}, got {value!r}")
    for v in items:
        if v < minimum:
            raise f.error(key, f"value {value!r} is too small: must be >= {minimum}")
    return items[0], items[1]


def _fit(f: Fields, H: int, W: int, R: int, S: int, pad: tuple[int, int], dil: tuple[int, int],
         has_macs: bool) -> None:
    """The (dilated) window must fit the padded input; for MAC layers padding must be below the window."""
    for key, size, extent_key, extent, p, d in (("R", H, "H", R, pad[0], dil[0]), ("S", W, "W", S, pad[1], dil[1])):
        span = d * (extent - 1) + 1
        padded = size + 2 * p
        if span > padded:
            dil_note = f" with dilation {d} spans {span}" if d > 1 else ""
            raise f.error(key, f"filter {key}={extent}{dil_note} is larger than the padded input "
                               f"{extent_key} + 2*padding = {padded}; must be <= {padded}")
        if has_macs and p >= span:
            raise f.error("padding", f"value {p} must be smaller than the filter extent {span} "
                                     f"({key}={extent}); else some outputs see only padding")


def _window(f: Fields, has_macs: bool, dilation: bool = True) -> dict:
    H = f.int("H")
    W = f.int("W", H)
    R = f.int("R")
    S = f.int("S", R)
    stride = _pair(f, "stride", 1, 1)
    pad = _pair(f, "padding", 0, 0)
    dil = _pair(f, "dilation", 1, 1) if dilation else (1, 1)
    _fit(f, H, W, R, S, pad, dil, has_macs)
    return dict(H=H, W=W, R=R, S=S, stride_h=stride[0], stride_w=stride[1], pad_h=pad[0], pad_w=pad[1],
                dil_h=dil[0], dil_w=dil[1])


def _conv(f: Fields, name: str, n: int) -> Layer:
    C, K = f.int("C"), f.int("K")
    groups = f.int("groups", 1)
    if C % groups or K % groups:
        raise f.error("groups", f"value {groups} must divide C={C} and K={K}")
    kind = LayerKind.DEPTHWISE if groups > 1 and groups == C == K else LayerKind.CONV
    return Layer(name=name, kind=kind, N=n, C=C, K=K, groups=groups, **_window(f, True))


def _depthwise(f: Fields, name: str, n: int) -> Layer:
    C = f.int("C")
    for key in ("K", "groups"):
        value = f.int(key, C)
        if value != C:
            raise f.error(key, f"value {value} must equal C={C} for a depthwise layer "
                               f"(use kind: conv with groups for a channel multiplier)")
    return Layer(name=name, kind=LayerKind.DEPTHWISE, N=n, C=C, K=C, groups=C, **_window(f, True))


def _fc(f: Fields, name: str, n: int) -> Layer:
    C, K = f.int("C"), f.int("K")
    H = f.int("H", 1)
    W = f.int("W", H)
    return Layer(name=name, kind=LayerKind.FC, N=n, C=C, K=K, H=H, W=W, R=H, S=W)


def _gemm(f: Fields, name: str, n: int) -> Layer:
    m, cols, k = f.int("m"), f.int("n"), f.int("k")
    groups = f.int("groups", 1)
    return Layer(name=name, kind=LayerKind.GEMM, N=n, C=groups * k, K=groups * cols, H=m, W=1, groups=groups)


def _pool(f: Fields, name: str, n: int) -> Layer:
    C = f.int("C")
    return Layer(name=name, kind=LayerKind.POOL, N=n, C=C, K=C, **_window(f, False, dilation=False))


def _tensor_op(kind: LayerKind, operands: bool = False) -> Callable[[Fields, str, int], Layer]:
    def build(f: Fields, name: str, n: int) -> Layer:
        C, H = f.int("C"), f.int("H")
        W = f.int("W", H)
        count = f.int("operands", 2) if operands else 1
        return Layer(name=name, kind=kind, N=n, C=C, K=C, H=H, W=W, operands=count)
    return build


def _upsample(f: Fields, name: str, n: int) -> Layer:
    C, H = f.int("C"), f.int("H")
    f.raw("scale")                      # required (module docstring): no silent scale 1
    scale = _pair(f, "scale", 1, 1)
    return Layer(name=name, kind=LayerKind.UPSAMPLE, N=n, C=C, K=C, H=H, W=f.int("W", H), stride_h=scale[0],
                 stride_w=scale[1])


_KINDS: dict[LayerKind, _Kind] = {
    LayerKind.CONV: _Kind(("C", "K", "H", *_WINDOW, "dilation", "groups"), _conv),
    LayerKind.DEPTHWISE: _Kind(("C", "K", "H", *_WINDOW, "dilation", "groups"), _depthwise),
    LayerKind.FC: _Kind(("C", "K", "H", "W"), _fc),
    LayerKind.GEMM: _Kind(("m", "n", "k", "groups"), _gemm),
    LayerKind.POOL: _Kind(("C", "H", *_WINDOW), _pool),
    LayerKind.ELTWISE: _Kind(("C", "H", "W", "operands"), _tensor_op(LayerKind.ELTWISE, operands=True)),
    LayerKind.ACTIVATION: _Kind(("C", "H", "W"), _tensor_op(LayerKind.ACTIVATION)),
    LayerKind.SOFTMAX: _Kind(("C", "H", "W"), _tensor_op(LayerKind.SOFTMAX)),
    LayerKind.LAYERNORM: _Kind(("C", "H", "W"), _tensor_op(LayerKind.LAYERNORM)),
    LayerKind.UPSAMPLE: _Kind(("C", "H", "W", "scale"), _upsample),
}
