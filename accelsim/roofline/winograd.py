"""Winograd minimal filtering F(m x m, r x r): multiply counts, transform costs, effect on a layer.

F(m, r) computes m outputs of an r-tap correlation with n = m + r - 1 multiplies instead of m x r;
nested in 2-D, F(m x m, r x r) needs n^2 multiplies per m x m output tile instead of m^2 r^2
(2.25x fewer for F(2x2, 3x3), 4x for F(4x4, 3x3); reference/roofline.md). The price is three
transforms, Y = A^T [ (G g G^T) (.) (B^T d B) ] A, and precision (the matrices grow with m).

The matrices are built exactly (fractions) by the Toom-Cook construction on the interpolation points
0, 1, -1, 2, -2, 1/2, -1/2, 3, -3, ... plus the point at infinity (the points Lavin & Gray use for
F(2,3) and F(4,3)): A^T[i, j] = a_j^i, G[j, k] = a_j^k / prod_{l != j}(a_j - a_l), row j of B^T = the
coefficients of prod_{l != j}(x - a_l); the last (infinite) point contributes x^(n-1) terms.

Transform cost is counted the plain way: a matrix product's output element costs (nonzeros - 1)
additions plus one multiplication per coefficient that is not 0 or +-1. For F(2,3) this gives 32
additions for the input transform and 24 for the output transform (Lavin & Gray, CVPR 2016, Sec. 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from accelsim.errors import ConfigError
from workloads.layer import Layer, LayerKind

Matrix = tuple[tuple[Fraction, ...], ...]


def _points(count: int) -> list[Fraction]:
    pts = [Fraction(0)]
    k = 1
    while len(pts) < count:
        for v in (Fraction(k), Fraction(-k), Fraction(1, k + 1), Fraction(-1, k + 1)):
            if v not in pts:
                pts.append(v)
        k += 1
    return pts[:count]


def _poly_from_roots(roots: list[Fraction], size: int) -> list[Fraction]:
    """Coefficients c_0..c_{size-1} of prod (x - root)."""
    coeffs = [Fraction(1)]
    for root in roots:
        nxt = [Fraction(0)] * (len(coeffs) + 1)
        for i, c in enumerate(coeffs):
            nxt[i + 1] += c
            nxt[i] -= root * c
        coeffs = nxt
    return coeffs + [Fraction(0)] * (size - len(coeffs))


@dataclass(frozen=True)
class WinogradMatrices:
    m: int
    r: int
    AT: Matrix   # m x n
    G: Matrix    # n x r
    BT: Matrix   # n x n

    @property
    def n(self) -> int:
        return self.m + self.r - 1


@cache
def matrices(m: int, r: int) -> WinogradMatrices:
    """Exact Toom-Cook matrices of F(m, r). Raises ConfigError for m < 1 or r < 1."""
    if m < 1 or r < 1:
        raise ConfigError(f"Winograd F(m, r) needs m >= 1 and r >= 1, got F({m}, {r})")
    n = m + r - 1
    pts = _points(n - 1)
    AT = [[p ** i for p in pts] + [Fraction(1 if i == m - 1 else 0)] for i in range(m)]
    G = []
    BT = []
    for j, a in enumerate(pts):
        others = [b for l, b in enumerate(pts) if l != j]
        f = math.prod((a - b for b in others), start=Fraction(1))
        G.append([a ** k / f for k in range(r)])
        BT.append(_poly_from_roots(others, n))
    G.append([Fraction(1 if k == r - 1 else 0) for k in range(r)])
    BT.append(_poly_from_roots(pts, n))
    freeze = lambda rows: tuple(tuple(row) for row in rows)  # noqa: E731
    return WinogradMatrices(m, r, freeze(AT), freeze(G), freeze(BT))


def correlate_1d(mats: WinogradMatrices, d, g) -> list:
    """m outputs of sum_k g[k] d[i + k] computed the Winograd way (for checking the matrices)."""
    U = [sum(row[k] * g[k] for k in range(mats.r)) for row in mats.G]
    V = [sum(row[t] * d[t] for t in range(mats.n)) for row in mats.BT]
    M = [u * v for u, v in zip(U, V)]
    return [sum(row[t] * M[t] for t in range(mats.n)) for row in mats.AT]


def _row_cost(matrix: Matrix) -> tuple[int, int]:
    """(additions, multiplications) to apply ``matrix`` to one vector, counted the plain way."""
    adds = mults = 0
    for row in matrix:
        nonzero = [c for c in row if c != 0]
        adds += max(0, len(nonzero) - 1)
        mults += sum(1 for c in nonzero if abs(c) != 1)
    return adds, mults


@dataclass(frozen=True)
class TileCost:
    """Costs of one 2-D tile F(m x m, r x r) for one channel (pair)."""

    m: int
    r: int
    multiplies: int              # elementwise products per tile: (m + r - 1)^2
    direct_multiplies: int       # m^2 r^2
    input_transform_ops: int     # B^T d B, per input tile and input channel
    filter_transform_ops: int    # G g G^T, per filter (once; precomputed for inference)
    output_transform_ops: int    # A^T M A, per output tile and output channel

    @property
    def reduction(self) -> float:
        """Multiply reduction over direct convolution: m^2 r^2 / (m + r - 1)^2."""
        return self.direct_multiplies / self.multiplies


def tile_cost(m: int, r: int) -> TileCost:
    mats = matrices(m, r)
    n = mats.n
    a_in, m_in = _row_cost(mats.BT)
    a_f, m_f = _row_cost(mats.G)
    a_out, m_out = _row_cost(mats.AT)
    # 2-D: transform rows then columns.  B^T d B: n columns through B^T, then n rows through B^T.
    input_ops = 2 * n * (a_in + m_in)
    # G g G^T: r columns through G (n x r result), then n rows through G (n x n).
    filter_ops = (r + n) * (a_f + m_f)
    # A^T M A: n columns through A^T (m x n), then m rows through A^T (m x m).
    output_ops = (n + m) * (a_out + m_out)
    return TileCost(m, r, n * n, m * m * r * r, input_ops, filter_ops, output_ops)


def eligible(layer: Layer) -> bool:
    """A square-filter (R = S > 1), stride-1, undilated convolution."""
    return (layer.kind in (LayerKind.CONV, LayerKind.DEPTHWISE) and layer.R == layer.S > 1
            and layer.stride_h == layer.stride_w == 1 and layer.dil_h == layer.dil_w == 1)


@dataclass(frozen=True)
class WinogradLayer:
    name: str
    m: int
    r: int
    tiles: int                   # output tiles per image: ceil(P/m) x ceil(Q/m)
    direct_flops: int            # 2 x MACs
    elementwise_flops: int       # 2 x N x tiles x n^2 x G x K/G x C/G (multiply-accumulate over channels)
    transform_flops: int         # input + output transforms for every tile and channel
    filter_transform_flops: int  # once per layer (excluded from inference FLOPs: precomputed)

    @property
    def flops(self) -> int:
        """FLOPs executed per inference (filters transformed in advance)."""
        return self.elementwise_flops + self.transform_flops

    @property
    def flop_reduction(self) -> float:
        return self.direct_flops / self.flops


def winograd_layer(layer: Layer, m: int) -> WinogradLayer:
    """Cost of running an eligible layer with F(m x m, R x R). Raises ConfigError if not eligible."""
    if not eligible(layer):
        raise ConfigError(f"layer {layer.name!r} ({layer.describe()}) cannot use Winograd: needs a "
                          "square filter larger than 1x1, stride 1 and no dilation")
    cost = tile_cost(m, layer.R)
    tiles = -(-layer.P // m) * -(-layer.Q // m)
    n_img, groups = layer.N, layer.groups
    elementwise = 2 * n_img * tiles * cost.multiplies * groups * layer.Kg * layer.Cg
    transforms = n_img * tiles * (layer.C * cost.input_transform_ops + layer.K * cost.output_transform_ops)
    filt = layer.K * layer.Cg * cost.filter_transform_ops
    return WinogradLayer(layer.name, m, layer.R, tiles, layer.flops, elementwise, transforms, filt)
