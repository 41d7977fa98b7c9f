"""Density models of one tensor, and how a workload names them (Sparseloop's vocabulary).

A model answers three questions about a tensor of ``size`` elements, for a tile of ``t`` of them:

- ``density``: the expected fraction of nonzero elements;
- ``p_empty(t, size)``: the probability that a tile of ``t`` elements holds no nonzero;
- ``occupancy(t, size)``: the distribution of the tile's nonzero count (a pmf over 0..t, a tuple of floats).

Models:

- :class:`Uniform` ``d``: the tensor holds exactly ``round(d * size)`` nonzeros placed uniformly at
  random, so a tile's occupancy is hypergeometric (not just its mean ``t * d``): the expected
  nonzeros of a tile are exactly ``t * nnz / size`` by linearity, and ``p_empty`` is
  ``C(size - nnz, t) / C(size, t)``.
- :class:`Structured` ``N:M``: every aligned block of M consecutive elements holds exactly N nonzeros
  at uniformly random positions (2:4: NVIDIA's sparse tensor cores). A tile of ``t <= M`` consecutive
  elements inside one block is empty with probability ``C(M - t, N) / C(M, N)``; a tile of more than
  ``M - N`` elements is never empty.
- :class:`Actual`: a 0/1 mask of the tensor's shape (a ``.npy`` file, an ONNX initializer, or a
  functional-mode activation). Its density is the mask's, and the mask is counted exactly, never
  approximated: effective MACs over the mask (``accelsim.sparse.masks``); a level's compressed words by
  its format ratio rho_L measured on the mask over the level's tile positions
  (``accelsim.sparse.exact.mask_ratio``); gating / skipping whose conditions are all actual masks event
  by event (``accelsim.sparse.gating.dead_words``). Its ``p_empty`` / ``occupancy`` are the uniform
  model's at the mask's density (hypergeometric), used only where a choice must not depend on where the
  nonzeros sit (an ``adaptive`` format's choice, ``sparse.model.level_format``; the ``expected``
  compressed tile size of the capacity check, ``sparse.model.compressed_tiles``) and where a mask is a
  condition beside a uniform / N:M one (taken by its density there: docs/sparsity.md, *Limits*).

Spelling (workload YAML ``density:`` per network or per layer, CLI ``--density``): a role
(``accelsim.names.ROLES``) mapped to a float in [0, 1] (uniform), ``"N:M"`` (structured),
``{mask: FILE.npy}`` (actual, one layer), or a network-wide actual source resolved per layer by
``accelsim.sparse.actual``: ``{onnx: MODEL.onnx}`` (weights from its initializers) or ``{run: INPUT.npy,
onnx: MODEL.onnx}`` (ifmap / psum masks from running the model on the input). CLI: ``mask:F.npy``,
``onnx:M.onnx``, ``run:IN.npy@M.onnx``. Invariant: every model's density lies in [0, 1]; a bad spelling is one
ConfigError line naming the source, the key and what is allowed; a tensor read as a mask (a ``.npy``, an
ONNX initializer, a run's activation) holding NaN or inf is one line too (:func:`nonzeros`), never
counted as nonzero. A mask's layout is checked per layer (``accelsim.sparse.actual.in_layout``).

The uniform and N:M models and the pmf helpers (:func:`hypergeom_pmf`, :func:`binomial_logcdf`,
:func:`expected_max_binomial`) are pure Python (``math``): numpy is imported only where a mask is read or
counted (:class:`Actual`, :func:`load_npy`, :func:`nonzeros`), so a run with uniform densities starts
without numpy (its import is most of such a run's start-up, tests/validation/test_sparse_speed.py).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from operator import mul
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelsim.errors import ConfigError
from accelsim.names import ROLES

if TYPE_CHECKING:
    import numpy as np


def _log_choose(n: int, k: int) -> float:
    if k < 0 or k > n:
        return -math.inf
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def hypergeom_pmf(t: int, size: int, nnz: int) -> tuple[float, ...]:
    """P(k nonzeros in a tile of ``t``) for k = 0..t: t draws without replacement from ``size``
    elements of which ``nnz`` are nonzero."""
    t = min(t, size)
    whole = _log_choose(size, t)
    return tuple(math.exp(_log_choose(nnz, k) + _log_choose(size - nnz, t - k) - whole) for k in range(t + 1))


@lru_cache(maxsize=1 << 16)
def _hypergeom_empty(t: int, size: int, nnz: int) -> float:
    """P(a tile of ``t`` of ``size`` elements, ``nnz`` of them nonzero, holds none): ``C(size - nnz, t) /
    C(size, t)``; remembered (the same few tile sizes recur across formats, gates and tilings)."""
    if t <= 0:
        return 1.0
    return math.exp(_log_choose(size - nnz, t) - _log_choose(size, t)) if size - nnz >= t else 0.0


@dataclass(frozen=True)
class Uniform:
    d: float

    @property
    def density(self) -> float:
        return self.d

    def nnz(self, size: int) -> int:
        return round(self.d * size)

    def p_empty(self, t: int, size: int) -> float:
        return _hypergeom_empty(min(t, size), size, self.nnz(size))

    def occupancy(self, t: int, size: int) -> tuple[float, ...]:
        return hypergeom_pmf(t, size, self.nnz(size))

    def text(self) -> str:
        return f"{self.d:g}"


@dataclass(frozen=True)
class Structured:
    n: int
    m: int

    @property
    def density(self) -> float:
        return self.n / self.m

    def p_empty(self, t: int, size: int) -> float:
        if t <= 0:
            return 1.0
        if t > self.m - self.n:
            return 0.0
        return math.exp(_log_choose(self.m - t, self.n) - _log_choose(self.m, self.n))

    def occupancy(self, t: int, size: int) -> tuple[float, ...]:
        """Whole blocks hold exactly N each; the remainder r < M of one block is hypergeometric."""
        blocks, r = divmod(t, self.m)
        rest = hypergeom_pmf(r, self.m, self.n) if r else (1.0,)
        lo = blocks * self.n
        return (0.0,) * lo + rest + (0.0,) * (t + 1 - lo - len(rest))

    def text(self) -> str:
        return f"{self.n}:{self.m}"


@dataclass(frozen=True, eq=False)
class Actual:
    """A 0/1 mask, counted exactly (module docstring): its words measured on it (``sparse.exact``), its
    MACs, all-mask gating and the lockstep cycles of skipping counted over it (``sparse.masks``,
    ``sparse.gating``, ``sparse.lockstep``). :meth:`p_empty` and :meth:`occupancy` are the uniform model's
    of its density, for the adaptive choice, the expected capacity check and a mask mixed with uniform
    conditions only; no count of words or MACs the mask fully determines goes through them. ``source``:
    the mask's file; ``where`` / ``key``: the file (or flag) and key that named it, for error lines."""

    mask: np.ndarray = field(repr=False)
    source: str = "<memory>"
    where: str | None = None
    key: str | None = None

    @property
    def density(self) -> float:
        import numpy as np

        return float(np.count_nonzero(self.mask)) / max(1, self.mask.size)

    def p_empty(self, t: int, size: int) -> float:
        return Uniform(self.density).p_empty(t, size)

    def occupancy(self, t: int, size: int) -> tuple[float, ...]:
        return Uniform(self.density).occupancy(t, size)

    def text(self) -> str:
        return f"mask {Path(self.source).name} ({self.density:.4g})"


@dataclass(frozen=True)
class FromOnnx:
    """Weights' masks from an ONNX model's initializers, per layer (``accelsim.sparse.actual``)."""

    onnx: str
    where: str = "<memory>"

    def text(self) -> str:
        return f"onnx {Path(self.onnx).name}"


@dataclass(frozen=True)
class FromRun:
    """Activations' masks from running an ONNX model on an input array, per layer (``accelsim.sparse.actual``)."""

    run: str
    onnx: str
    where: str = "<memory>"

    def text(self) -> str:
        return f"run {Path(self.run).name} through {Path(self.onnx).name}"


Model = Uniform | Structured | Actual
Source = FromOnnx | FromRun          # network-wide: resolved per layer to an Actual mask
DENSE = Uniform(1.0)


LIVE = math.exp(-100.0)     # the pmf kept: P(k) >= e^-100 P(mode) (the rest sums to < e^-100 t P(mode))
TINY_LOG = -64 * math.log(2)      # E[max] terms 1 - F^A within 2^-64 of 1 count as 1, those under 2^-64 as -A log F


@lru_cache(maxsize=4096)
def binomial_logcdf(t: int, p: float) -> tuple[int, tuple[float, ...]]:
    """``(lo, L)``: Binomial(t, p)'s cdf F(k) for k = lo .. lo + len(L) - 1 (< t) as ``L[k - lo] = log F(k)``
    where F(k) <= 1/2, else ``log1p(-S(k))`` with S(k) = P(X > k) summed from the top (F near 1 keeps its
    precision). Over the live pmf only (:data:`LIVE`), walked out from the mode by the ratio
    P(k + 1) / P(k) = (t - k) p / ((k + 1) (1 - p)) (no lgamma: its absolute error grows with t) and
    normalised by its ``math.fsum``; F(k) below lo is ~0 and past the live pmf ~1 (within about t e^-100).
    0 < p < 1. Memoised: one lockstep run t serves many unit counts (:func:`expected_max_binomial`)."""
    q = 1.0 - p
    mode = min(t, int((t + 1) * p))
    down: list[float] = []                # P(mode - 1) / P(mode), P(mode - 2) / P(mode), ... while live
    x, k = 1.0, mode
    while k > 0 and (x := x * (k * q) / ((t - k + 1) * p)) >= LIVE:
        down.append(x)
        k -= 1
    up: list[float] = []                  # P(mode + 1) / P(mode), ...
    x, k = 1.0, mode
    while k < t and (x := x * ((t - k) * p) / ((k + 1) * q)) >= LIVE:
        up.append(x)
        k += 1
    lo = mode - len(down)
    live = [*reversed(down), 1.0, *up]
    total = math.fsum(live)
    pmf = [x / total for x in live]       # P(lo), ..., P(hi)
    above = [0.0] * (len(pmf) + 1)        # above[i] = P(lo + i) + ... + P(hi), summed from the top
    for i in range(len(pmf) - 1, -1, -1):
        above[i] = above[i + 1] + pmf[i]
    out = []
    below = 0.0                           # F(lo + i), summed from lo up
    for i in range(min(len(pmf), t - lo)):
        below += pmf[i]
        out.append(math.log(below) if below <= 0.5 else math.log1p(-above[i + 1]))
    return lo, tuple(out)


def expected_max_binomial(t: int, p: float, copies: int) -> float:
    """E[max of ``copies`` >= 1 independent Binomial(t, p)] (load imbalance: lockstep units wait for the
    busiest) = ``sum_{k < t} (1 - F(k)^copies)``: from :func:`binomial_logcdf`, each term is
    ``-expm1(copies * L)``; the k below the live pmf, and the live ones whose term is within 2^-64 of 1,
    add 1 each; those whose term is under 2^-64 (the upper tail) are ``-copies * L`` (relative error
    under 2^-65: not dropped, since with a tiny p they are the whole sum); all summed by ``math.fsum``
    (correctly rounded: no order to fix). Exact cases: p 0 or 1, t 0, one copy (t p)."""
    if t <= 0 or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return float(t)
    if copies <= 1:
        return t * p
    lo, logf = binomial_logcdf(t, p)
    first = bisect_left(logf, TINY_LOG / copies)          # terms before: F^copies < 2^-64
    last = bisect_left(logf, -(2.0 ** -64) / copies, first)   # from here: 1 - F^copies ~ -copies L < 2^-64
    return (lo + first) - math.fsum([*map(math.expm1, map(mul, logf[first:last], repeat(copies))),
                                     copies * math.fsum(logf[last:])])


def load_npy(path: Path | str, what: str, source: str | None, key: str | None) -> np.ndarray:
    """The array of a NumPy ``.npy`` file (never unpickled); an unreadable or non-``.npy`` file is one
    ConfigError line naming ``what``, the ``source`` and ``key``."""
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc}", source=source, key=key) from None
    except ValueError:
        raise ConfigError(f"cannot read {what}: not a NumPy .npy array of numbers (np.save writes one)",
                          source=source, key=key) from None


def nonzeros(values: np.ndarray, what: str, source: str | None, key: str | None) -> np.ndarray:
    """The 0/1 mask of a tensor's values (``values != 0``). A value that is neither zero nor nonzero
    (NaN, or inf: a broken tensor, not data) or a non-numeric array is one ConfigError line naming
    ``what`` (the file), the first offending index and the ``source`` / ``key`` (the layer)."""
    import numpy as np

    if values.dtype.kind not in "biufc":
        raise ConfigError(f"{what} holds {values.dtype} values; a mask needs numbers (zero / nonzero)",
                          source=source, key=key)
    if values.dtype.kind in "fc":
        bad = ~np.isfinite(values)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            nan = int(np.count_nonzero(np.isnan(values)))
            raise ConfigError(f"{what} holds {nan} NaN and {int(np.count_nonzero(bad)) - nan} inf values (the first at "
                              f"index {first}); a mask needs finite values (zero / nonzero)", source=source, key=key)
    return values != 0


# ---- spelling ---------------------------------------------------------------------------------

def _path(text: str, base: Path | None) -> str:
    path = Path(text)
    return str(base / path if base is not None and not path.is_absolute() else path)


def parse_model(value: Any, source: str, key: str, base: Path | None = None) -> Model | Source:
    """One role's model from its YAML / CLI spelling (module docstring)."""
    allowed = ("allowed: a density in [0, 1], 'N:M' with 1 <= N <= M, {mask: FILE.npy}, {onnx: MODEL.onnx} "
               "(weights) or {run: INPUT.npy, onnx: MODEL.onnx} (activations)")
    if isinstance(value, bool):
        raise ConfigError(f"expected a density, got {value!r}; {allowed}", source=source, key=key)
    if isinstance(value, (int, float)):
        d = float(value)
        if not (0.0 <= d <= 1.0) or math.isnan(d):
            raise ConfigError(f"density {value!r} is outside [0, 1]", source=source, key=key)
        return Uniform(d)
    if isinstance(value, str):
        text = value.strip()
        for prefix, field_name in (("mask:", "mask"), ("onnx:", "onnx"), ("run:", "run")):
            if text.startswith(prefix):      # CLI spellings: mask:F.npy, onnx:M.onnx, run:IN.npy@M.onnx
                rest = text[len(prefix):]
                if field_name != "run":
                    return parse_model({field_name: rest}, source, key, base)
                inp, at, onnx = rest.partition("@")
                if not at:
                    raise ConfigError(f"bad {value!r}: expected run:INPUT.npy@MODEL.onnx", source=source, key=key)
                return parse_model({"run": inp, "onnx": onnx}, source, key, base)
        if ":" in text:
            a, _, b = text.partition(":")
            try:
                n, m = int(a), int(b)
            except ValueError:
                raise ConfigError(f"bad N:M {value!r}; {allowed}", source=source, key=key) from None
            if not (1 <= n <= m):
                raise ConfigError(f"N:M {value!r} needs 1 <= N <= M", source=source, key=key)
            return Structured(n, m)
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"bad density {value!r}; {allowed}", source=source, key=key) from None
        return parse_model(number, source, key)
    if isinstance(value, dict) and set(value) == {"onnx"} and isinstance(value["onnx"], str):
        return FromOnnx(_path(value["onnx"], base), source)
    if (isinstance(value, dict) and set(value) == {"run", "onnx"}
            and all(isinstance(v, str) for v in value.values())):
        return FromRun(_path(value["run"], base), _path(value["onnx"], base), source)
    if isinstance(value, dict) and set(value) == {"mask"} and isinstance(value["mask"], str):
        if not value["mask"].strip():
            raise ConfigError(f"{{mask: FILE.npy}} needs a file name, got {value['mask']!r}", source=source, key=key)
        path = Path(_path(value["mask"], base))
        arr = load_npy(path, f"mask {str(path)!r}", source, key)
        return Actual(nonzeros(arr, f"mask {str(path)!r}", source, key), str(path), source, key)
    raise ConfigError(f"bad density {value!r}; {allowed}", source=source, key=key)


def parse_densities(data: Any, source: str, key: str = "density",
                    base: Path | None = None) -> dict[str, Model | Source]:
    """{role: model} from a YAML mapping ``{ifmap: 0.4, weight: '2:4'}``."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of role -> density, got {data!r}; roles: {', '.join(ROLES)}",
                          source=source, key=key)
    out = {}
    for role, value in data.items():
        sub = f"{key}.{role}" if key else str(role)
        if role not in ROLES:
            raise ConfigError(f"unknown tensor role {role!r}; allowed: {', '.join(ROLES)}", source=source, key=sub)
        out[role] = parse_model(value, source, sub, base)
    return out


def parse_cli(text: str) -> dict[str, Model | Source]:
    """``ifmap=0.4,weight=0.35`` (or ``weight=2:4``, ``weight=onnx:M.onnx``, ``ifmap=run:IN.npy@M.onnx``,
    ``ifmap=mask:F.npy``) -> {role: model}."""
    out: dict[str, Any] = {}
    for part in text.split(","):
        role, eq, value = part.partition("=")
        if not eq or not role.strip():
            raise ConfigError(f"--density: expected ROLE=VALUE[,ROLE=VALUE...], got {text!r}; roles: "
                              f"{', '.join(ROLES)}")
        if role.strip() in out:
            raise ConfigError(f"--density: {role.strip()} given twice in {text!r}; give each role once")
        out[role.strip()] = value.strip()
    return parse_densities(out, "--density", "")


__all__ = ["DENSE", "Actual", "FromOnnx", "FromRun", "Model", "Source",
           "Structured", "Uniform", "binomial_logcdf", "expected_max_binomial",
           "hypergeom_pmf", "load_npy", "nonzeros",
           "parse_cli", "parse_densities", "parse_model"]
