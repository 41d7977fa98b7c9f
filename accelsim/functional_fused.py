"""Functional mode for fused groups: run a group tile by tile on numbers, from on-chip data only.

Each tile, every layer computes its new band (``accelsim.fused.Geometry``) from what its input
buffer holds; a value that is not on chip (never fetched or computed, or dropped by the overlap mode) makes
the run fail. The overlap mode decides what survives between tiles: ``recompute`` drops everything,
``keep_h`` drops at each new row of tiles, ``keep`` keeps. The last layer's tiles are assembled into
the output, which must equal the layer-by-layer NumPy reference (:func:`reference_group`) exactly;
the elements fetched and computed are returned too (they must equal the analytic counts).

Operators: conv / depthwise (integer MACs), pool (max over the window's valid taps), eltwise (sum of
the previous layer's output and the outside operand), activation (ReLU). A layer reading more
channels than its predecessor outputs concatenates an outside tensor after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.cost.fused import input_channels, side_channels
from accelsim.functional import reference_conv
from accelsim.fused import MODES, RECOMPUTE, FusedGroup, Geometry, channels_out, check_group
from workloads.layer import Layer, LayerKind

_NEG = np.iinfo(np.int64).min // 4


@dataclass(frozen=True)
class FusedRun:
    output: np.ndarray
    fetched: dict        # tensor -> elements brought on chip ("<first>.input", "<layer>.side")
    computed: dict       # layer -> output elements computed


def _apply(layer: Layer, x: np.ndarray, w: np.ndarray | None, side: np.ndarray | None,
           rows: tuple[int, int], cols: tuple[int, int], ok: np.ndarray | None) -> np.ndarray:
    """Output rows x cols of ``layer`` from the full-size input ``x`` (N, C, H, W); ``ok`` (H, W) marks
    the input points on chip (None: all). Taps in the padding read nothing."""
    n = x.shape[0]
    ys = np.arange(*rows)
    xs = np.arange(*cols)
    if layer.kind in (LayerKind.ELTWISE, LayerKind.ACTIVATION):
        if ok is not None and not ok[np.ix_(ys, xs)].all():
            raise AssertionError(f"{layer.name}: reads an input not on chip")
        region = x[:, :, ys][:, :, :, xs]
        if layer.kind is LayerKind.ACTIVATION:
            return np.maximum(region, 0)
        return region if side is None else region + side[:, :, ys][:, :, :, xs]
    k = channels_out(layer)
    pool = layer.kind is LayerKind.POOL
    out = np.full((n, k, len(ys), len(xs)), _NEG if pool else 0, dtype=np.int64)
    for ky in range(layer.R):
        iy = ys * layer.stride_h - layer.pad_h + ky * layer.dil_h
        vy = (iy >= 0) & (iy < layer.H)
        for kx in range(layer.S):
            ix = xs * layer.stride_w - layer.pad_w + kx * layer.dil_w
            vx = (ix >= 0) & (ix < layer.W)
            iyc, ixc = np.clip(iy, 0, layer.H - 1), np.clip(ix, 0, layer.W - 1)
            mask = np.outer(vy, vx)
            if ok is not None and not (ok[np.ix_(iyc, ixc)] | ~mask).all():
                raise AssertionError(f"{layer.name}: reads an input not on chip")
            taps = x[:, :, iyc][:, :, :, ixc]
            if pool:
                out = np.where(mask, np.maximum(out, taps), out)
                continue
            taps = np.where(mask, taps, 0)
            assert w is not None, f"{layer.name}: a MAC layer needs its weights"
            g, kg, cg = layer.groups, layer.Kg, layer.Cg
            for gi in range(g):
                out[:, gi * kg:(gi + 1) * kg] += np.einsum("ncyx,kc->nkyx", taps[:, gi * cg:(gi + 1) * cg],
                                                           w[gi * kg:(gi + 1) * kg, :, ky, kx])
    return out


def _box(shape: tuple[int, int], rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    out[rows[0]:rows[1], cols[0]:cols[1]] = True
    return out


def reference_group(layers: tuple[Layer, ...], x: np.ndarray, weights: dict, sides: dict) -> np.ndarray:
    """Layer by layer on whole tensors (convs by ``accelsim.functional.reference_conv``)."""
    for j, layer in enumerate(layers):
        if j and layer.kind is not LayerKind.ELTWISE and layer.name in sides:
            x = np.concatenate([x, sides[layer.name]], axis=1)
        if layer.kind.has_macs:
            x = reference_conv(layer, x, weights[layer.name])
        elif layer.kind is LayerKind.POOL:
            x = _apply(layer, x, None, None, (0, layer.P), (0, layer.Q), None)
        elif layer.kind is LayerKind.ELTWISE:
            x = x + sides[layer.name] if layer.name in sides else x
        else:
            x = np.maximum(x, 0)
    return x


def execute_group(group: FusedGroup, graph, x: np.ndarray, weights: dict, sides: dict) -> FusedRun:
    """Run ``group`` tile by tile. ``x``: the first layer's input (N, C, H, W); ``weights``: per MAC
    layer (K, C/groups, R, S); ``sides``: per layer that reads an outside tensor, that tensor."""
    layers = check_group(group, graph)
    geo = Geometry(layers, group)
    rows_mode, cols_mode = MODES[group.mode]
    n = len(layers)
    last = layers[-1]
    out = np.zeros((last.N, channels_out(last), last.P, last.Q), dtype=np.int64)
    fetched = {f"{layers[0].name}.input": 0}
    computed = {layer.name: 0 for layer in layers}
    for b0 in range(0, last.N, group.batch):
        imgs = slice(b0, min(b0 + group.batch, last.N))
        nb = imgs.stop - imgs.start
        # on-chip copies of every tensor (index -1: the group input) and which points they hold
        shapes = [(layers[0].H, layers[0].W)] + [(layer.P, layer.Q) for layer in layers]
        chans = [input_channels(layers[0])] + [channels_out(layer) for layer in layers]
        buf = [np.zeros((nb, c, h, w), dtype=np.int64) for c, (h, w) in zip(chans, shapes)]
        held = [np.zeros(s, dtype=bool) for s in shapes]
        side_held = {j: np.zeros(shapes[j], dtype=bool) for j in range(1, n)
                     if side_channels(layers[j], layers[j - 1])}
        n_rows = len(geo.rows(n - 1).need)
        n_cols = len(geo.cols(n - 1).need)
        for r in range(n_rows):
            for c in range(n_cols):
                if rows_mode == RECOMPUTE and (cols_mode == RECOMPUTE or c == 0):
                    for h in (*held, *side_held.values()):
                        h[:] = False
                new = _box(shapes[0], geo.rows(-1).new[r], geo.cols(-1).new[c])
                fetched[f"{layers[0].name}.input"] += int(new.sum()) * nb * chans[0]
                buf[0][:, :, new] = x[imgs][:, :, new]
                held[0] |= new
                for j, layer in enumerate(layers):
                    src = buf[j]
                    ok = held[j]
                    side = None
                    if j in side_held:
                        snew = _box(shapes[j], geo.rows(j - 1).new[r], geo.cols(j - 1).new[c])
                        key = f"{layer.name}.side"
                        fetched[key] = fetched.get(key, 0) + int(snew.sum()) * nb * side_channels(layer, layers[j - 1])
                        side_held[j] |= snew
                        side = np.where(side_held[j], sides[layer.name][imgs], 0)
                        if layer.kind is not LayerKind.ELTWISE:
                            src = np.concatenate([src, side], axis=1)
                            ok = ok & side_held[j]
                            side = None
                    oy, ox = geo.rows(j).new[r], geo.cols(j).new[c]      # what this layer computes now
                    if oy[1] <= oy[0] or ox[1] <= ox[0]:
                        continue
                    buf[j + 1][:, :, oy[0]:oy[1], ox[0]:ox[1]] = _apply(layer, src, weights.get(layer.name), side,
                                                                        oy, ox, ok)
                    computed[layer.name] += (oy[1] - oy[0]) * (ox[1] - ox[0]) * nb * chans[j + 1]
                    held[j + 1][oy[0]:oy[1], ox[0]:ox[1]] = True
                out[imgs, :, oy[0]:oy[1], ox[0]:ox[1]] = buf[n][:, :, oy[0]:oy[1], ox[0]:ox[1]]
    return FusedRun(out, fetched, computed)
