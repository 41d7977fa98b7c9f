"""Representation formats of a tensor tile: per rank, stacked (Sparseloop's fibertree formats).

A :class:`Format` is a list of rank formats, outermost first. The tile's axes are grouped into the
ranks from the innermost: the last rank is the tile's last axis, the one before it the axis before,
and the first rank takes every remaining outer axis, flattened. ``inner`` (axis names) reorders the
axes first: the named ones move innermost in the given order (the last named is the innermost), the
others keep their order outside them, as Sparseloop's ``flattened-rankIDs`` place a rank's dims (an
axis is named by its coordinate's first dim: an ifmap's axes N, G, C, P, Q). A format with ``inner`` is
resolved against a tensor (:meth:`Format.on`) before it measures a tile of more than one axis. Rank
formats:

- ``U`` uncompressed: every coordinate present, no metadata;
- ``UOP`` (``bits``): uncompressed offsets: ``L + 1`` offsets of ``bits`` per present fiber;
- ``B`` bitmask: one bit per coordinate of a present fiber; only nonempty coordinates continue;
- ``RLE`` (``bits`` = run width): a run field before each nonempty coordinate; a gap of 2^bits or
  more empty coordinates before a nonempty one needs an extra entry (a zero payload) per 2^bits of it
  (trailing empty coordinates need none): :func:`rle_extra_under` per fiber of length L, the exact
  expectation of the finite fiber under the model's joint emptiness of runs of coordinates (for a
  uniform tensor hypergeometric: its coordinates are not independent; with independent coordinates at
  probability p it is ``p sum_j (1-p)^(2^bits j) (L - 2^bits j)``, and ``q / (1 - q)`` per nonempty
  coordinate, ``q = (1 - p)^(2^bits)``, its long-fiber limit);
- ``CP`` (``bits``): coordinate-payload: a coordinate of ``bits`` per nonempty coordinate.

CSR is ``[UOP, CP]``, CSC the same over the transposed ranks (name the axes' order in the tile).
A coordinate of rank i is nonempty with probability ``1 - p_empty(elements under it)`` (the density
model's tile emptiness: hypergeometric for uniform). ``packing`` (entries per word, word bits) packs
payload + metadata entries of a single-rank format into wider words (Eyeriss v1's RLC: three 5-bit run
+ 16-bit level pairs per 64-bit word); ``adaptive`` lets the level store the tensor uncompressed when the
format would not make the whole tensor smaller at its density, a choice per (level, tensor) of a layer
(Eyeriss v1 sends CONV1's nearly dense input uncompressed): ``sparse.model.level_format`` makes it;
nothing here reads ``adaptive``.

:meth:`Format.per_tile` returns (payload words, metadata bits) of one tile in the format (compressed),
expected under the model.
Invariants: an all-``U`` format has payload = tile and no metadata; every compressed format's payload
at density 1 is the tile (plus RLE's zero entries, none at density 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from accelsim.errors import ConfigError
from accelsim.frozen_hash import cached_hash, hashless_state
from accelsim.names import DOWN, DOWN_DEST
from accelsim.sparse.density import Model, Structured

U, UOP, B, RLE, CP = "U", "UOP", "B", "RLE", "CP"
RANK_KINDS: tuple[str, ...] = (U, UOP, B, RLE, CP)
_NEEDS_BITS = (UOP, RLE, CP)
ALL_WORDS, DATA_WORDS, META_WORDS = "data+metadata", "data", "metadata"   # the parts of a tile's words a capacity holds
PARTS: tuple[str, ...] = (ALL_WORDS, DATA_WORDS, META_WORDS)
ALIASES = {"uncompressed": [U], "bitmask": [B], "csr": [UOP, CP], "csc": [UOP, CP], "coo": [CP], "rle": [RLE],
           "cp": [CP]}


@dataclass(frozen=True)
class Rank:
    kind: str
    bits: int = 0

    def text(self) -> str:
        return f"{self.kind}({self.bits})" if self.bits else self.kind


@dataclass(frozen=True)
class Format:
    ranks: tuple[Rank, ...]
    packing: tuple[int, int] | None = None     # (entries per word, word bits)
    adaptive: bool = False
    inner: tuple[str, ...] = ()                # axis names moved innermost, in order (module docstring)
    perm: tuple[int, ...] = ()                 # :meth:`on`'s resolution: the tile's axes in measuring order

    __hash__ = cached_hash                     # a format keys the memoised tile ratios thousands of times a search
    __getstate__ = hashless_state

    def on(self, names: tuple[str, ...], where: str) -> Format:
        """This format for a tensor whose axes are ``names`` (:func:`axis_names`): ``inner`` resolved to
        the axis order it measures in. ``where`` locates ``inner`` (file: key, and the tensor) in the error
        of an unknown axis."""
        if not self.inner:
            return self
        missing = [a for a in self.inner if a not in names]
        if missing:
            raise ConfigError(f"{where}: unknown axis {', '.join(map(repr, missing))}; allowed: {', '.join(names)}")
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: the tensor's axes {', '.join(names)} repeat a name, so inner cannot "
                              f"name one; allowed: no inner")
        outer = [i for i, a in enumerate(names) if a not in self.inner]
        return replace(self, perm=tuple(outer + [names.index(a) for a in self.inner]))

    def ordered(self, extents: list[int]) -> list[int]:
        """``extents`` (per axis of the tensor) in the order the ranks group them (:meth:`on`)."""
        if not self.inner or len(extents) <= 1:
            return list(extents)
        if len(self.perm) != len(extents):
            raise ConfigError(f"format {self.text()}: not resolved for a tile of {len(extents)} axes (Format.on)")
        return [extents[i] for i in self.perm]

    @property
    def compressed(self) -> bool:
        return any(r.kind != U for r in self.ranks)

    def text(self) -> str:
        out = "[" + ", ".join(r.text() for r in self.ranks) + "]"
        if self.packing:
            out += f" x{self.packing[0]}/{self.packing[1]}b"
        out += f" inner {','.join(self.inner)}" if self.inner else ""
        return out + (" adaptive" if self.adaptive else "")

    @property
    def tile_free(self) -> bool:
        """One rank of U, B or CP: payload and metadata are linear in the tile (every quantity of such a
        rank scales with its length: B one bit per coordinate, CP a coordinate per nonzero; packing
        scales the entries), so their values per dense word do not depend on the tile. RLE's extra
        entries do not scale (a fiber's first gap is bounded by its start, trailing zeros need none), nor
        UOP's L + 1 offsets per fiber."""
        return len(self.ranks) == 1 and self.ranks[0].kind in (U, B, CP)

    def per_word(self, extents: list[int], model: Model, size: int, word_bits: int) -> tuple[float, float]:
        """(data words, metadata words) per dense word of a tile with these extents: a one-element
        tile's values when :attr:`tile_free` (the same for every tile), else the tile's over its size."""
        if self.tile_free:
            payload, bits = self.per_tile([1], model, size, word_bits)
            return payload, bits / word_bits
        tile = math.prod(extents)
        if not tile:
            return 1.0, 0.0
        payload, bits = self.per_tile(extents, model, size, word_bits)
        return payload / tile, bits / word_bits / tile

    def words(self, extents: list[int], model: Model, size: int, word_bits: int) -> float:
        """Words a tile occupies in this format (payload + metadata, data-word equivalents): the tile
        times the per-word total when :attr:`tile_free`, else the tile's own sum."""
        if self.tile_free:
            d, m = self.per_word(extents, model, size, word_bits)
            return math.prod(extents) * (d + m)
        payload, bits = self.per_tile(extents, model, size, word_bits)
        return payload + bits / word_bits

    def part_per_word(self, part: str, model: Model, size: int, word_bits: int) -> float:
        """:meth:`per_word`'s data + metadata (``ALL_WORDS``), data (``DATA_WORDS``) or metadata
        (``META_WORDS``) words per dense word, for a :attr:`tile_free` format."""
        d, m = self.per_word([1], model, size, word_bits)
        return d + m if part == ALL_WORDS else d if part == DATA_WORDS else m

    def part_words(self, part: str, extents: list[int], model: Model, size: int, word_bits: int) -> float:
        """The words of a tile's ``part``: ``ALL_WORDS`` (:meth:`words`), ``DATA_WORDS`` (payload) or ``META_WORDS``
        (metadata bits over ``word_bits``), the tile times the per-word value when :attr:`tile_free`."""
        if part == ALL_WORDS:
            return self.words(extents, model, size, word_bits)
        if self.tile_free:
            return math.prod(extents) * self.part_per_word(part, model, size, word_bits)
        payload, bits = self.per_tile(extents, model, size, word_bits)
        return payload if part == DATA_WORDS else bits / word_bits

    def per_tile(self, extents: list[int], model: Model, size: int, word_bits: int) -> tuple[float, float]:
        """(payload words, metadata bits) of one tile with these axis extents, expected under ``model``
        (``size``: the whole tensor's elements)."""
        extents = self.ordered(extents)
        k = len(self.ranks)
        if k > len(extents):
            extents = [1] * (k - len(extents)) + list(extents)
        lens = [math.prod(extents[: len(extents) - k + 1])] + list(extents[len(extents) - k + 1:])
        fibers = 1.0
        meta = 0.0
        entries = 0.0
        for i, (rank, n) in enumerate(zip(self.ranks, lens)):
            under = math.prod(lens[i + 1:])
            p = 1.0 - model.p_empty(under, size)
            nonempty = math.prod(lens[: i + 1]) * p     # nonempty coordinates of this rank (unconditional)
            if rank.kind == U:
                fibers = fibers * n
            elif rank.kind == UOP:
                meta += fibers * (n + 1) * rank.bits
                fibers = fibers * n
            elif rank.kind == B:
                meta += fibers * n
                fibers = nonempty
            elif rank.kind == CP:
                meta += nonempty * rank.bits
                fibers = nonempty
            else:   # RLE
                extra = math.prod(lens[:i]) * rle_extra_under(n, under, model, size, 2 ** rank.bits)
                meta += (nonempty + extra) * rank.bits
                fibers = nonempty + extra
            entries = fibers
        payload = fibers
        if self.packing is not None:
            per, bits = self.packing
            total = entries / per * bits
            meta = max(0.0, total - payload * word_bits)
        return payload, meta


@lru_cache(maxsize=4096)
def rle_extra_under(length: int, under: int, model: Model, size: int, run: int) -> float:
    """Expected extra (zero) entries of one RLE fiber of ``length`` coordinates, each coordinate a set of
    ``under`` elements of a tensor of ``size`` under ``model`` (disjoint sets), a run field counting up to
    ``run - 1`` empty coordinates: the exact expectation under the model's joint emptiness, not
    coordinates independent at their marginal. A nonempty coordinate c after a gap of g empty ones needs
    floor(g / run) extra entries, so the expectation is the sum over c and the multiples s = run j <= c of
    P(coordinates c - s .. c - 1 empty, c nonempty) = ``E(s) - E(s + 1)``, ``E(k) = model.p_empty(k x
    under, size)`` (k disjoint coordinates all empty: for :class:`~accelsim.sparse.density.Uniform` the
    hypergeometric ``C(size - nnz, k under) / C(size, k under)``), and the c's with c >= s number
    ``length - s``: ``sum_j (length - run j) (E(run j) - E(run j + 1))``. With independent coordinates
    (E(k) = (1-p)^k) it is ``p sum_j (1-p)^(run j) (length - run j)``. Summed by ``math.fsum`` up to the
    first s with E(s) < 1e-30: the terms dropped telescope to at most ``length x E(s)``. None at a
    coordinate never or always empty. Under an N:M model (``Structured``, whose emptiness is that of
    elements inside one block) a run of coordinates crosses blocks, so the coordinates are taken as
    independent at their marginal (an approximation: *Limits* in docs/sparsity.md). Memoised; pure
    Python (no numpy on a uniform run)."""
    if length <= run or under <= 0:
        return 0.0
    e1 = model.p_empty(under, size)
    if e1 <= 0.0 or e1 >= 1.0:
        return 0.0
    if isinstance(model, Structured):     # its p_empty is of elements inside one block: runs cross blocks
        def p_empty(t: int, size: int) -> float:
            return e1 ** (t // under)
    else:
        p_empty = model.p_empty
    terms = []
    for s in range(run, length, run):
        es = p_empty(s * under, size)
        if es < 1e-30:
            break
        terms.append((length - s) * (es - p_empty((s + 1) * under, size)))
    return math.fsum(terms)


UNCOMPRESSED = Format((Rank(U),))


def parse_format(value: Any, source: str, key: str) -> Format:
    """``bitmask`` | ``csr`` | ... (aliases), or ``{ranks: [B, {CP: 7}], packing: [3, 64], adaptive: true}``."""
    allowed = (f"allowed: one of {', '.join(ALIASES)} or {{ranks: [...], packing: [entries, bits], adaptive: bool, "
               f"inner: [axis, ...]}} "
               f"with rank kinds {', '.join(RANK_KINDS)} ({', '.join(_NEEDS_BITS)} as {{KIND: bits}})")
    if isinstance(value, str):
        if value.lower() in ALIASES and not any(k in _NEEDS_BITS for k in ALIASES[value.lower()]):
            return Format(tuple(Rank(k) for k in ALIASES[value.lower()]))
        raise ConfigError(f"format {value!r} needs its ranks' bit widths or is unknown; {allowed}", source=source,
                          key=key)
    if not isinstance(value, dict) or "ranks" not in value or set(value) - {"ranks", "packing", "adaptive", "inner"}:
        raise ConfigError(f"bad format {value!r}; {allowed}", source=source, key=key)
    ranks_in = value["ranks"]
    if not isinstance(ranks_in, list) or not ranks_in:
        raise ConfigError(f"ranks must be a non-empty list, got {ranks_in!r}; {allowed}", source=source,
                          key=f"{key}.ranks")
    ranks = []
    for i, r in enumerate(ranks_in):
        where = f"{key}.ranks[{i}]"
        if isinstance(r, str) and r in RANK_KINDS and r not in _NEEDS_BITS:
            ranks.append(Rank(r))
        elif (isinstance(r, dict) and len(r) == 1 and next(iter(r)) in _NEEDS_BITS
              and isinstance(next(iter(r.values())), int) and not isinstance(next(iter(r.values())), bool)
              and 1 <= next(iter(r.values())) <= 64):
            (kind, bits), = r.items()
            ranks.append(Rank(kind, bits))
        else:
            raise ConfigError(f"bad rank {r!r}; allowed: U, B, or {{UOP|RLE|CP: bits 1..64}}", source=source,
                              key=where)
    packing = value.get("packing")
    if packing is not None:
        if (not isinstance(packing, list) or len(packing) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in packing)):
            raise ConfigError(f"packing must be [entries per word, word bits], positive integers, got {packing!r}",
                              source=source, key=f"{key}.packing")
        if len(ranks) != 1:
            raise ConfigError("packing applies to a single-rank format only", source=source, key=f"{key}.packing")
        packing = (packing[0], packing[1])
    adaptive = value.get("adaptive", False)
    if not isinstance(adaptive, bool):
        raise ConfigError(f"adaptive must be true or false, got {adaptive!r}", source=source, key=f"{key}.adaptive")
    inner = value.get("inner", [])
    if (not isinstance(inner, list) or not all(isinstance(a, str) and a for a in inner)
            or len(set(inner)) != len(inner)):
        raise ConfigError(f"inner must be a list of distinct axis names (e.g. [C]), got {inner!r}", source=source,
                          key=f"{key}.inner")
    return Format(tuple(ranks), packing, adaptive, tuple(inner))


def hop_format_level(parent: int, child: int, action: str, child_compressed: bool) -> int:
    """The level (index) whose format one network action of the hop ``parent -> child`` moves its
    words in: the receiving level's. Sent down (``down``, ``down_dest``) to a child that stores the
    tensor compressed, data and metadata cross as the child keeps them (Eyeriss v2's NoC carries CSC
    into the PE); sent down to an uncompressed child, as the parent holds them (decompressed on
    arrival); sent up, the parent receives them: its format."""
    return child if child_compressed and action in (DOWN, DOWN_DEST) else parent


def axis_names(tensor: Any) -> tuple[str, ...]:
    """A tensor's axis names for ``inner``: each axis by its coordinate's first dim."""
    return tuple(c.terms[0][0] for c in tensor.coords)


__all__ = ["ALIASES", "ALL_WORDS", "axis_names", "B", "CP", "DATA_WORDS", "Format", "hop_format_level", "META_WORDS",
           "PARTS", "RANK_KINDS", "RLE", "Rank", "U", "UNCOMPRESSED", "UOP", "parse_format",
           "rle_extra_under"]
