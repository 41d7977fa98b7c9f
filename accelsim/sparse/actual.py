"""Actual masks from real tensors: weights from an ONNX model's initializers, activations from a run.

Two network-wide sources of per-layer masks (``accelsim.sparse.density``: ``{onnx: FILE}`` and
``{run: INPUT.npy, onnx: FILE}``), resolved per layer by :func:`resolve`, which also takes a ``.npy``
mask (``{mask: FILE}``) in any of the layouts :func:`layouts` accepts (the problem's, the framework's:
OIHW / NCHW, and an fc's 2-D), a reshape to the problem's (:func:`in_layout`; any other shape is one
line naming the file, the layer, the shape given and the shapes accepted):

- **weights** (:func:`onnx_weights`): the weight initializer of the layer's ONNX node, laid out as the
  layer's problem (``accelsim.problem.from_layer``: weight axes G, K/G, C/G, R, S) by :func:`in_layout`:
  Conv weights (K, C/G, R, S) are split by group; a Gemm's constant B (k x n, or n x k with transB)
  and a MatMul's constant 2-D B are taken as (n, k), out x in. The layer is the ONNX node of the same
  name (the importer's naming, ``workloads.onnx_file.read_onnx``).
- **activations** (:func:`network_run`): the model executed on the input array, node by node in graph
  order. Conv / Gemm / MatMul with constant weights run in the functional mode
  (``accelsim.functional_general.reference``, the einsum of the layer's problem over the real values,
  float64) plus the bias; Relu, Clip, MaxPool, AveragePool, GlobalAveragePool/MaxPool, Add, Concat,
  Flatten, Reshape, Identity and Dropout by NumPy. Any other op (BatchNormalization: fold it into the
  conv first) is one ConfigError line: the zeros would not be the model's. A layer's ifmap mask is its
  input's nonzeros; its psum (output) mask is its output's nonzeros after the activation that consumes
  it alone (Relu / Clip), else the raw output's.

Invariant: the masks have the problem's tensor shapes exactly (``accelsim.sparse.masks.check_mask``
checks them against the layer that uses them: a batch other than the input's is one line). A NaN or
inf in an initializer, the input or an activation of the run is one line naming the file and the
layer (``sparse.density.nonzeros``), never a nonzero.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from accelsim.errors import ConfigError
from accelsim.functional_general import reference
from accelsim.names import IFMAP, PSUM, WEIGHT
from accelsim.problem import from_layer
from accelsim.sparse.density import Actual, FromOnnx, FromRun, Model, load_npy, nonzeros
from workloads.layer import Layer

_MAC_OPS = ("Conv", "Gemm", "MatMul")
_PASS_OPS = ("Identity", "Dropout", "Flatten", "Reshape")


@functools.lru_cache(maxsize=4)
def _model(path: str) -> tuple[Any, dict[str, np.ndarray], list[tuple[str, Any]]]:
    """(graph, constants by tensor name, [(layer name, node)] in graph order)."""
    from workloads.onnx_file import load_model, unique_names

    model = load_model(path)             # a ConfigError first when onnx is missing
    from onnx import numpy_helper

    graph = model.graph
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(a.t)
    return graph, consts, list(zip(unique_names(graph.node), graph.node))


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


_AXES = {IFMAP: ("N", "G", "C/G", "H", "W"), WEIGHT: ("G", "K/G", "C/G", "R", "S"), PSUM: ("N", "G", "K/G", "P", "Q")}
_FLAT = {IFMAP: ("N", "C", "H", "W"), WEIGHT: ("K", "C/G", "R", "S"), PSUM: ("N", "K", "P", "Q")}


def layouts(layer: Any, role: str) -> tuple[tuple[tuple[int, ...], str], ...]:
    """(shape, what its axes are) of each layout ``role``'s tensor of ``layer`` is accepted in, the
    problem's own first (``accelsim.problem.from_layer``): conv weights also (K, C/G, R, S), the
    ONNX / PyTorch OIHW layout; activations of a conv or fc layer also NCHW (N, C, H, W); an fc's or
    ungrouped gemm's weight also (K, C*R*S) (PyTorch Linear's out x in; ONNX Gemm's B with transB), an
    fc's activations also (N, C*H*W) and (N, K). Each is a reshape of the problem's (groups are
    consecutive channels; a flattened axis in C, H, W order, as PyTorch flattens)."""
    want = tuple(c.size for c in from_layer(layer).tensor(role).coords)
    out = [(want, f"({', '.join(_AXES[role])})")]
    g, first = want[0], want[1]
    merged = want[:1] + (want[1] * want[2],) + want[3:] if role != WEIGHT else (g * first,) + want[2:]
    kind = layer.kind.value
    if role == WEIGHT or kind != "gemm":
        out.append((merged, f"({', '.join(_FLAT[role])})"))
    if kind in ("fc", "gemm") and (role == WEIGHT or kind == "fc") and g == 1:
        lead = merged[0]
        out.append(((lead, math.prod(merged[1:])), "(K, C*R*S)" if role == WEIGHT else
                    f"(N, {'C*H*W' if role == IFMAP else 'K*P*Q'})"))
    return tuple(dict.fromkeys(out))


def in_layout(layer: Any, role: str, values: np.ndarray, what: str, source: str | None,
              key: str | None = None) -> np.ndarray:
    """``values`` of ``role``'s tensor of ``layer`` in the problem's layout, from any of :func:`layouts`;
    another shape is one ConfigError line naming ``what`` (the file), the layer, the shape given and the
    shapes accepted."""
    accepted = layouts(layer, role)
    if tuple(values.shape) == accepted[0][0]:
        return values
    if any(tuple(values.shape) == shape for shape, _ in accepted):
        return values.reshape(accepted[0][0])
    shown = ", ".join(f"{shape} {axes}" for shape, axes in accepted)
    raise ConfigError(f"{what} of shape {tuple(values.shape)} does not fit layer {layer.name!r}: its {role} is "
                      f"accepted as {shown}", source=source, key=key or layer.name)


def _weight_layout(layer: Any, node: Any, w: np.ndarray, source: str) -> np.ndarray:
    """An ONNX weight in the layer's problem layout (G, K/G, C/G, R, S): a Conv's as it is (OIHW), a
    Gemm's B as (out, in) (transposed unless transB), a MatMul's 2-D B transposed. A NaN or inf in it
    is one line (its index in the initializer's own layout)."""
    nonzeros(w, f"weight {node.input[1]!r}", source, layer.name)
    if node.op_type != "Conv" and w.ndim == 2 and not (node.op_type == "Gemm" and _attrs(node).get("transB", 0)):
        w = w.T
    return in_layout(layer, WEIGHT, w, f"weight {node.input[1]!r}", source)


def onnx_weights(path: str, layer: Any) -> np.ndarray:
    """The layer's weight values from the model's initializers, in the problem's layout."""
    _, consts, named = _model(path)
    for name, node in named:
        if name == layer.name:
            if node.op_type not in _MAC_OPS or len(node.input) < 2 or node.input[1] not in consts:
                raise ConfigError(f"node {name!r} ({node.op_type}) has no constant weight", source=path,
                                  key=layer.name)
            return _weight_layout(layer, node, consts[node.input[1]], path)
    macs = [n for n, node in named if node.op_type in _MAC_OPS]
    raise ConfigError(f"no node named {layer.name!r}; MAC nodes: {', '.join(macs) or 'none'}", source=path,
                      key=layer.name)


# ---- the network run -----------------------------------------------------------------------------

def _pool(x: np.ndarray, k: tuple[int, int], stride: tuple[int, int], pads: list[int], op: str) -> np.ndarray:
    fill = -np.inf if op == "MaxPool" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(xp, k, axis=(2, 3))[:, :, ::stride[0], ::stride[1]]
    return win.max(axis=(-2, -1)) if op == "MaxPool" else win.mean(axis=(-2, -1))


def _mac_node(layer: Any, node: Any, x: np.ndarray, consts: dict, source: str) -> tuple[np.ndarray, np.ndarray]:
    """The node's output by the functional mode on the layer's problem (+ bias), in ONNX layout."""
    problem = from_layer(layer)
    ishape = tuple(c.size for c in problem.tensor(IFMAP).coords)
    if node.op_type == "Conv":
        xin = x
    else:
        a = x.reshape(x.shape[0], -1) if node.op_type == "Gemm" else x.reshape(-1, x.shape[-1])
        if node.op_type == "Gemm" and _attrs(node).get("transA", 0):
            a = a.T
        xin = a.reshape(a.shape[0], 1, a.shape[1], 1, 1) if layer.kind.value == "fc" else a.T.reshape(ishape)
    if xin.size != math.prod(ishape):
        raise ConfigError(f"input of {x.size} values does not fit layer {layer.name!r} (ifmap {ishape})",
                          source=source, key=layer.name)
    ifm = np.asarray(xin, dtype=np.float64).reshape(ishape)
    out = reference(problem, ifm, _weight_layout(layer, node, consts[node.input[1]], source).astype(np.float64))
    n, g, kg, p, q = out.shape
    y: np.ndarray
    if node.op_type == "Conv":
        y = out.reshape(n, g * kg, p, q)
    elif layer.kind.value == "fc":
        y = out.reshape(n, g * kg)
    else:
        y = out.reshape(g * kg, p).T.reshape(*x.shape[:-1], g * kg)
    if len(node.input) > 2 and node.input[2]:
        bias = consts[node.input[2]].astype(np.float64)
        y = y + (bias.reshape(1, -1, 1, 1) if node.op_type == "Conv" else bias)
    return y, ifm


@functools.lru_cache(maxsize=4)
def network_run(path: str, input_path: str, layers: tuple) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """layer name -> (ifmap mask, psum mask) of every MAC layer of ``layers`` (module docstring)."""
    graph, consts, named = _model(path)
    x0 = load_npy(input_path, "input array", input_path, None)
    nonzeros(x0, "the input array", input_path, None)        # NaN / inf: one line, not nonzeros
    if not graph.input:
        raise ConfigError("the model has no graph input", source=path)
    by_name = {layer.name: layer for layer in layers}
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise ConfigError(f"the run needs a model with one data input, found {len(inputs)}", source=path)
    gi = next(i for i in graph.input if i.name == inputs[0])
    declared = tuple(d.dim_value if d.HasField("dim_value") else None for d in gi.type.tensor_type.shape.dim)
    if len(declared) != x0.ndim or any(d is not None and d != n for d, n in zip(declared, x0.shape)):
        shown = tuple(d if d is not None else "?" for d in declared)
        raise ConfigError(f"shape {tuple(x0.shape)} does not match the model's input {inputs[0]!r} {shown}",
                          source=input_path)
    values: dict[str, np.ndarray] = {inputs[0]: np.asarray(x0, dtype=np.float64)}
    consumers: dict[str, list[Any]] = {}
    for _, node in named:
        for t in node.input:
            consumers.setdefault(t, []).append(node)
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, node in named:
        op = node.op_type
        where = f"node {name!r} ({op})"
        if op == "Constant":
            continue
        missing = [t for t in node.input if t and t not in consts and t not in values]
        if missing:
            raise ConfigError(f"{where}: input {missing[0]!r} is not computed by the run", source=path)
        ins: list[np.ndarray] = [consts[t] if t in consts else values[t] for t in node.input if t]
        a = _attrs(node)
        if op in _MAC_OPS and name in by_name and node.input[1] in consts:
            y, ifm = _mac_node(by_name[name], node, ins[0], consts, path)
            post = y
            after = consumers.get(node.output[0], [])
            if len(after) == 1 and after[0].op_type in ("Relu", "Clip"):
                post = _activation(after[0], y, consts)
            found[name] = (nonzeros(ifm, "the run's ifmap", input_path, name),
                           nonzeros(_psum_layout(by_name[name], post), "the run's output", input_path, name))
        elif op in _MAC_OPS:
            raise ConfigError(f"{where}: not a layer of the workload (or its weight is not constant); the run "
                              f"computes MAC nodes through the workload's layers", source=path)
        elif op in ("Relu", "Clip"):
            y = _activation(node, ins[0], consts)
        elif op in ("MaxPool", "AveragePool"):
            k = tuple(a["kernel_shape"])
            y = _pool(ins[0], k, tuple(a.get("strides", [1, 1])), list(a.get("pads", [0, 0, 0, 0])), op)
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            red = np.max if op == "GlobalMaxPool" else np.mean
            y = red(ins[0], axis=(2, 3), keepdims=True)
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Concat":
            y = np.concatenate(ins, axis=int(a.get("axis", 1)))
        elif op == "Flatten":
            ax = int(a.get("axis", 1))
            y = ins[0].reshape(math.prod(ins[0].shape[:ax]), -1)
        elif op == "Reshape":
            shape = [int(v) for v in ins[1]]
            shape = [ins[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
            y = ins[0].reshape(shape)
        elif op in ("Identity", "Dropout"):
            y = ins[0]
        else:
            raise ConfigError(f"{where}: the run cannot execute {op} (allowed: {', '.join(_MAC_OPS)}, Relu, Clip, "
                              f"pools, Add, Concat, {', '.join(_PASS_OPS)}; fold BatchNormalization into the conv)",
                              source=path)
        values[node.output[0]] = y
    return found


def _activation(node: Any, x: np.ndarray, consts: dict) -> np.ndarray:
    if node.op_type == "Relu":
        return np.maximum(x, 0.0)
    a = _attrs(node)
    lo = a.get("min", float(consts[node.input[1]]) if len(node.input) > 1 and node.input[1] else -np.inf)
    hi = a.get("max", float(consts[node.input[2]]) if len(node.input) > 2 and node.input[2] else np.inf)
    return np.clip(x, lo, hi)


def _psum_layout(layer: Any, y: np.ndarray) -> np.ndarray:
    want = tuple(c.size for c in from_layer(layer).tensor(PSUM).coords)
    if layer.kind.value == "gemm":
        return y.reshape(-1, y.shape[-1]).T.reshape(want)
    return y.reshape(want)


# ---- resolution ----------------------------------------------------------------------------------

def resolve(model: Model, role: str, workload: Any, layer: Any) -> Model:
    """A network-wide source as the layer's :class:`Actual` mask; an :class:`Actual` mask in the layer's
    problem layout (:func:`in_layout`); any other model as is."""
    if isinstance(model, FromOnnx):
        if role != WEIGHT:
            raise ConfigError(f"{{onnx: FILE}} gives weights only, not {role} (activations: {{run: INPUT.npy, "
                              f"onnx: FILE}})", source=model.where, key=role)
        return Actual(onnx_weights(model.onnx, layer) != 0, f"{model.onnx}:{layer.name}")
    if isinstance(model, Actual) and layer.kind.has_macs:
        if model.where is not None:      # named in a YAML file or by a flag: that file and key, then the mask's file
            mask = in_layout(layer, role, model.mask, f"the {role} mask {model.source!r}", model.where,
                             model.key)
        else:
            mask = in_layout(layer, role, model.mask, f"the {role} mask", model.source)
        return model if mask is model.mask else Actual(mask, model.source, model.where, model.key)
    if isinstance(model, FromRun):
        if role == WEIGHT:
            raise ConfigError("a run gives activation masks (ifmap, psum); weights come from {onnx: FILE}",
                              source=model.where, key=role)
        convs = (x if isinstance(x, Layer) else x.layer for x in workload.layers)   # a level-list run's: its Layer
        runs = network_run(model.onnx, model.run, tuple(x for x in convs if x is not None))
        if layer.name not in runs:
            raise ConfigError(f"layer {layer.name!r} is not a MAC node of the run's model", source=model.onnx,
                              key=layer.name)
        ifm, out = runs[layer.name]
        return Actual(ifm if role == IFMAP else out, f"{model.run}:{layer.name}")
    return model


__all__ = ["network_run", "onnx_weights", "resolve"]
