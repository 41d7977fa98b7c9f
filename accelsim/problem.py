"""The problem spec: an einsum-like operation over named dims (what is computed, nothing else).

A :class:`Problem` has named dims with sizes and three tensors, one per role of
``accelsim.names.ROLES``: two operands and the output. Each tensor is indexed by coordinates; a
coordinate is an affine projection of at most two dims, ``sum(coef * dim) + offset``, clipped to
``[0, size)`` (so a conv's input row is ``stride*P + dilation*R - pad`` of size ``H``; the clipped
part is padding, made as zeros and never stored or moved). One MAC per point of the dims' box:
``output[out coords] += ifmap[coords] * weight[coords]``.

Invariants (checked on construction, ConfigError otherwise):
- dim names are unique, sizes >= 1; every term names a known dim with coefficient >= 1;
- a dim appears at most once within one tensor (so a tensor's tile is a product over its axes);
- the output's coordinates are plain dims (one term, coefficient 1, offset 0, size = the dim's):
  every output element is a distinct point, which the read-modify-write rules rely on;
- exactly one tensor per role.

Built-ins: :func:`from_layer` (conv, depthwise/grouped conv, fc, gemm from ``workloads.layer``;
same MACs), :func:`gemm`, :func:`bmm` (two activation operands: attention's Q·K^T and A·V).
:func:`problem_from_dict` / :func:`load_problem` read the YAML form (docs/core.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.frozen_hash import cached_hash, hashless_state
from accelsim.names import CONV_DIMS, IFMAP, PSUM, ROLES, WEIGHT


@dataclass(frozen=True)
class Coord:
    """One tensor axis: ``sum(coef * dim for dim, coef in terms) + offset``, valid in ``[0, size)``."""

    terms: tuple[tuple[str, int], ...]
    offset: int
    size: int

    __hash__ = cached_hash
    __getstate__ = hashless_state

    def text(self) -> str:
        parts = [d if c == 1 else f"{c}*{d}" for d, c in self.terms]
        s = " + ".join(parts)
        if self.offset:
            s += f" {'-' if self.offset < 0 else '+'} {abs(self.offset)}"
        return s


@dataclass(frozen=True)
class Tensor:
    name: str
    role: str
    coords: tuple[Coord, ...]

    @property
    def dims(self) -> frozenset[str]:
        return frozenset(d for c in self.coords for d, _ in c.terms)


@dataclass(frozen=True)
class Problem:
    name: str
    dims: tuple[tuple[str, int], ...]
    tensors: tuple[Tensor, ...]
    source: str = "<memory>"

    __hash__ = cached_hash          # a problem keys many memoised functions (sparse.model, sparse.positions)
    __getstate__ = hashless_state

    def __post_init__(self) -> None:
        bad = _first_problem(self)
        if bad is not None:
            key, message = bad
            raise ConfigError(message, source=self.source, key=key)

    # ---- lookups -------------------------------------------------------------------------
    @property
    def dim_names(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.dims)

    def size(self, dim: str) -> int:
        return dict(self.dims)[dim]

    def tensor(self, role: str) -> Tensor:
        for t in self.tensors:
            if t.role == role:
                return t
        raise KeyError(role)

    def relevant(self, role: str) -> frozenset[str]:
        """Dims that index the tensor of ``role``."""
        return self.tensor(role).dims

    def is_simple(self, coord: Coord) -> bool:
        """A plain dim: one term, coefficient 1, no offset, size equal to the dim's."""
        return (len(coord.terms) == 1 and coord.terms[0][1] == 1 and coord.offset == 0
                and coord.size == self.size(coord.terms[0][0]))

    @property
    def macs(self) -> int:
        out = 1
        for _, n in self.dims:
            out *= n
        return out

    def elements(self, role: str) -> int:
        out = 1
        for c in self.tensor(role).coords:
            out *= c.size
        return out

    def describe(self) -> str:
        ds = " ".join(f"{d}={n}" for d, n in self.dims)
        ts = "; ".join(f"{t.name}({t.role})[{', '.join(c.text() for c in t.coords)}]" for t in self.tensors)
        return f"{self.name}: {ds}; {ts}"


def _first_problem(p: Problem) -> tuple[str, str] | None:
    """(key, message) of the first broken invariant, or None."""
    names = [d for d, _ in p.dims]
    if not names:
        return "dims", "a problem needs at least one dim"
    for d, n in p.dims:
        if names.count(d) > 1:
            return f"dims.{d}", f"dim {d!r} declared twice"
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            return f"dims.{d}", f"size must be a positive integer, got {n!r}"
    roles = [t.role for t in p.tensors]
    for ti, t in enumerate(p.tensors):
        if t.role not in ROLES:
            return f"tensors[{ti}].role", f"unknown role {t.role!r}; allowed: {', '.join(ROLES)}"
    for r in ROLES:
        if roles.count(r) != 1:
            return "tensors", (f"need exactly one tensor with role {r!r}, got {roles.count(r)}; "
                               f"roles: {', '.join(ROLES)}")
    tnames = [t.name for t in p.tensors]
    for ti, t in enumerate(p.tensors):
        if tnames.count(t.name) > 1:
            return f"tensors[{ti}].name", f"tensor name {t.name!r} used twice"
        seen: set[str] = set()
        for ci, c in enumerate(t.coords):
            key = f"tensors[{ti}].coords[{ci}]"
            if not 1 <= len(c.terms) <= 2:
                return key, f"a coordinate is one or two dims (affine), got {len(c.terms)} terms"
            if isinstance(c.size, bool) or not isinstance(c.size, int) or c.size < 1:
                return key, f"size must be a positive integer, got {c.size!r}"
            for d, coef in c.terms:
                if d not in names:
                    return key, f"unknown dim {d!r}; dims: {', '.join(names)}"
                if isinstance(coef, bool) or not isinstance(coef, int) or coef < 1:
                    return key, f"coefficient of {d} must be a positive integer, got {coef!r}"
                if d in seen:
                    return key, f"dim {d!r} indexes tensor {t.name!r} twice; each dim at most once per tensor"
                seen.add(d)
            if t.role == PSUM and not p.is_simple(c):
                return key, (f"the output's coordinates must be plain dims (got {c.text()!r}, size {c.size}): "
                             "every output element one point")
    return None


def _plain(dim: str, size: int) -> Coord:
    return Coord(((dim, 1),), 0, size)


# ---- built-ins ------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def from_layer(layer: Any) -> Problem:
    """The conv-shaped problem of a ``workloads.layer.Layer`` (conv, depthwise, grouped, fc, gemm):
    dims N G K C P Q R S with per-group K and C; the same MACs as ``layer.macs``."""
    if not layer.kind.has_macs:
        raise ConfigError(f"layer {layer.name!r}: kind {layer.kind.value!r} has no MACs; no problem to count")
    N, G, K, C, P, Q, R, S = CONV_DIMS
    sizes = dict(zip(CONV_DIMS, layer.dims))
    ifmap = Tensor(IFMAP, IFMAP, (
        _plain(N, sizes[N]), _plain(G, sizes[G]), _plain(C, sizes[C]),
        Coord(((P, layer.stride_h), (R, layer.dil_h)), -layer.pad_h, layer.H),
        Coord(((Q, layer.stride_w), (S, layer.dil_w)), -layer.pad_w, layer.W)))
    weight = Tensor(WEIGHT, WEIGHT, tuple(_plain(d, sizes[d]) for d in (G, K, C, R, S)))
    psum = Tensor(PSUM, PSUM, tuple(_plain(d, sizes[d]) for d in (N, G, K, P, Q)))
    return Problem(layer.name, tuple(sizes.items()), (ifmap, weight, psum), f"layer {layer.name!r}")


def gemm(name: str, m: int, n: int, k: int, names: tuple[str, str, str] = ("A", "B", "Z")) -> Problem:
    """``Z[m, n] += A[m, k] * B[k, n]`` with dims M, N, K."""
    a, b, z = names
    dims = (("M", m), ("N", n), ("K", k))
    return Problem(name, dims, (
        Tensor(a, IFMAP, (_plain("M", m), _plain("K", k))),
        Tensor(b, WEIGHT, (_plain("K", k), _plain("N", n))),
        Tensor(z, PSUM, (_plain("M", m), _plain("N", n)))))


def bmm(name: str, batch: int, m: int, n: int, k: int, names: tuple[str, str, str] = ("A", "B", "Z")) -> Problem:
    """Batched matmul with two activation operands: ``Z[b, m, n] += A[b, m, k] * B[b, k, n]``."""
    a, b, z = names
    dims = (("B", batch), ("M", m), ("N", n), ("K", k))
    return Problem(name, dims, (
        Tensor(a, IFMAP, (_plain("B", batch), _plain("M", m), _plain("K", k))),
        Tensor(b, WEIGHT, (_plain("B", batch), _plain("K", k), _plain("N", n))),
        Tensor(z, PSUM, (_plain("B", batch), _plain("M", m), _plain("N", n)))))


def attention_scores(heads: int, length: int, head_dim: int, name: str = "qk") -> Problem:
    """Attention's ``S = Q K^T`` per head: ``score[h, i, j] += query[h, i, d] * key[h, j, d]``."""
    return bmm(name, heads, length, length, head_dim, ("query", "key", "score"))


def attention_values(heads: int, length: int, head_dim: int, name: str = "av") -> Problem:
    """Attention's ``O = A V`` per head: ``out[h, i, d] += probs[h, i, j] * value[h, j, d]``."""
    return bmm(name, heads, length, head_dim, length, ("probs", "value", "out"))


# ---- YAML form ------------------------------------------------------------------------------

_TERM = re.compile(r"\s*([+-])?\s*(?:(\d+)\s*\*\s*)?([A-Za-z_][A-Za-z_0-9]*|\d+)\s*")


def parse_coord(text: str, sizes: dict[str, int], size: int | None, where: Fields, key: str) -> Coord:
    """``"2*P + R - 1"`` -> Coord. A plain dim needs no size; anything else needs ``size``."""
    terms: list[tuple[str, int]] = []
    offset = 0
    pos = 0
    first = True
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None or m.end() == pos or (not first and m.group(1) is None):
            raise where.error(key, f"cannot read coordinate {text!r}: expected terms like 2*P + R - 1")
        sign = -1 if m.group(1) == "-" else 1
        coef, atom = m.group(2), m.group(3)
        if atom.isdigit():
            if coef is not None:
                raise where.error(key, f"cannot read coordinate {text!r}: a constant times a constant")
            offset += sign * int(atom)
        else:
            if atom not in sizes:
                raise where.error(key, f"unknown dim {atom!r} in {text!r}; dims: {', '.join(sizes)}")
            if sign < 0:
                raise where.error(key, f"dims enter a coordinate with a positive coefficient, got {text!r}")
            terms.append((atom, int(coef) if coef is not None else 1))
        pos = m.end()
        first = False
    if not terms:
        raise where.error(key, f"coordinate {text!r} names no dim")
    if size is None:
        if len(terms) == 1 and terms[0][1] == 1 and offset == 0:
            size = sizes[terms[0][0]]
        else:
            raise where.error(key, f"coordinate {text!r} is not a plain dim: give it as {{expr: ..., size: N}}")
    return Coord(tuple(terms), offset, size)


def problem_from_dict(data: Any, source: str = "<memory>") -> Problem:
    """Read ``{name, dims: {D: size}, tensors: [{name, role, coords: [expr | {expr, size}]}]}``."""
    f = Fields(data, source)
    name = f.str("name")
    df = f.sub("dims")
    sizes: dict[str, int] = {}
    for d in list(df.data):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", d):
            raise df.error(d, f"dim name {d!r} must be an identifier")
        sizes[d] = df.int(d, minimum=1, maximum=1 << 40)
    df.done()
    if not sizes:
        raise f.error("dims", "a problem needs at least one dim")
    tensors = []
    items = f.list("tensors", min_len=len(ROLES))
    for i, item in enumerate(items):
        tf = Fields(item, source, f"tensors[{i}]")
        tname = tf.str("name")
        role = tf.str("role", choices=ROLES)
        coords = []
        for j, c in enumerate(tf.list("coords", min_len=1)):
            key = f"coords[{j}]"
            if isinstance(c, dict):
                cf = Fields(c, source, tf.key(key))
                size = cf.int("size", minimum=1, maximum=1 << 40)
                coords.append(parse_coord(cf.str("expr"), sizes, size, cf, "expr"))
                cf.done()
            elif isinstance(c, str):
                coords.append(parse_coord(c, sizes, None, tf, key))
            else:
                raise tf.error(key, f"expected a coordinate expression or {{expr, size}}, got {c!r}")
        tf.done()
        tensors.append(Tensor(tname, role, tuple(coords)))
    f.done()
    return Problem(name, tuple(sizes.items()), tuple(tensors), source)


def load_problem(path: str) -> Problem:
    from accelsim.yamlio import load_yaml

    return problem_from_dict(load_yaml(path), str(path))
