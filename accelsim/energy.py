"""Energy presets: pJ per word access of each class of component, per MAC, per network hop (the
numbers and their sources live here, once).

A :class:`Preset` gives per-word energies by component *class*: the backing store (``dram``), a
buffer feeding a spatial fanout (``buffer``, e.g. a GLB), a PE-local buffer (``local``, e.g. an RF
or scratchpad, possibly per tensor role), one network hop (``hop``) and one MAC (``mac``). Storage
energies are ``(read, write)`` pairs: an access that reads (read, drain) or writes (fill, update)
one word of ``word_bits``. Two consumers build on the same presets:

- :func:`arch_energy` -> :class:`ArchEnergy`: the fixed-shape arch's parameter record
  (``accelsim.arch.Arch.energy``: MAC, RF per tensor, NoC hop, GLB, DRAM), which its YAML may
  override field by field (the RF is sized ``FIXED_RF_KB`` for capacity-aware presets);
- ``accelsim.energy_table.preset_table``: the (component, action) table of any hierarchy.

Invariants: every energy is finite and >= 0; a preset is a pure function of its arguments; a preset
that has no published figure for a class charges 0 and says so in ``uncharged``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass

from accelsim.errors import ConfigError
from accelsim.names import ROLES

TENSORS: tuple[str, ...] = ROLES             # the names live in accelsim.names
FIXED_RF_KB = 0.5                            # the RF size capacity-aware presets assume for a fixed-shape arch


@dataclass(frozen=True)
class ArchEnergy:
    """The fixed-shape arch's energy parameters, pJ per word (one datum of ``word_bits``)."""

    mac_pj: float
    rf_read_pj: tuple[float, ...]            # per tensor, TENSORS order
    rf_write_pj: tuple[float, ...]
    noc_hop_pj: float                        # one word over one hop / to one destination PE
    glb_read_pj: float
    glb_write_pj: float
    dram_read_pj: float
    dram_write_pj: float
    # (component, role, action, pJ) entries over hierarchy.from_arch's components (the YAML ``pj:``
    # key, accelsim.energy_table.pj_overrides): any action, the sparse ones (gated_read, ...) included
    overrides: tuple[tuple[str, str, str, float], ...] = ()

    def as_dict(self) -> dict:
        out = {
            "mac_pj": self.mac_pj,
            "rf_pj": {t: {"read": self.rf_read_pj[i], "write": self.rf_write_pj[i]} for i, t in enumerate(TENSORS)},
            "noc_hop_pj": self.noc_hop_pj,
            "glb_pj": {"read": self.glb_read_pj, "write": self.glb_write_pj},
            "dram_pj": {"read": self.dram_read_pj, "write": self.dram_write_pj},
        }
        if self.overrides:
            pj: dict = {}
            for c, r, a, v in self.overrides:
                per = pj.setdefault(c, {})
                if r == "*":
                    per[a] = v
                else:
                    per.setdefault(a, {})[r] = v
            out["pj"] = pj
        return out


RW = tuple[float, float]


@dataclass(frozen=True)
class Preset:
    name: str
    source: str                                       # where the numbers come from
    dram: Callable[[int], RW]                         # word_bits -> (read, write) pJ per word
    buffer: Callable[[int, float | None], RW]         # word_bits, capacity kB (None: unbounded)
    local: Callable[[int, float | None, str], RW]     # word_bits, capacity kB, tensor role
    hop: Callable[[int], float]                       # word_bits -> pJ per word per hop
    mac: Callable[[int], float]                       # word_bits -> pJ per MAC
    uncharged: str = ""                               # classes the source gives no figure for (charged 0)
    vector_op: Callable[[int, str], float] | None = None  # word_bits, op kind -> pJ per op; None: 1 MAC each
    vector_source: str = "a non-MAC op (accelsim.vector_ops) costs one MAC: no better figure"


def _per_word(access_pj: float, access_bits: int, word_bits: int) -> float:
    """pJ per word of an ``access_bits``-wide access that moves access_bits / word_bits words."""
    return access_pj / (access_bits / word_bits)


# ---- normalized: Eyeriss ISCA'16 --------------------------------------------------------------
NORMALIZED = Preset(
    "normalized",
    "Chen, Emer, Sze, ISCA 2016, Fig. 6 (normalized to one 16-bit MAC): DRAM 200, GLB 6, array 2, RF 1, MAC 1",
    dram=lambda wb: (200.0, 200.0),
    buffer=lambda wb, kb: (6.0, 6.0),
    local=lambda wb, kb, role: (1.0, 1.0),
    hop=lambda wb: 2.0,
    mac=lambda wb: 1.0,
)

# ---- accelergy_65nm: Accelergy table plug-in, eyeriss_like (8-bit data) -----------------------
_SPAD_65NM: dict[str, RW] = {"ifmap": (0.202, 0.177), "weight": (1.977, 1.882), "psum": (0.251, 0.219)}

ACCELERGY_65NM = Preset(
    "accelergy_65nm",
    "Accelergy table plug-ins, eyeriss_like 65 nm example: DRAM (LPDDR4, 8 pJ/bit) 512 pJ per 64-bit "
    "access; 128 kB 64-bit GLB 18.18 / 14.14 pJ per access; spads ifmap 0.202 / 0.177, weight 1.977 / "
    "1.882, psum 0.251 / 0.219 pJ; 8-bit MAC 0.208 pJ",
    dram=lambda wb: (_per_word(512.0, 64, wb), _per_word(512.0, 64, wb)),
    buffer=lambda wb, kb: (_per_word(18.18, 64, wb), _per_word(14.14, 64, wb)),
    local=lambda wb, kb, role: _SPAD_65NM[role],
    hop=lambda wb: 0.0,
    mac=lambda wb: 0.208,
    uncharged="network (the reference table has no NoC entry)",
)


# ---- timeloop_capacity: Timeloop's placeholder model ----------------------------------------
def _tl_sram(wb: int, kb: float | None, what: str) -> RW:
    if kb is None:
        raise ConfigError(f"energy preset 'timeloop_capacity' sizes SRAM energy by capacity: give {what} a capacity")
    v = (1.0 + (kb - 0.5) * (5.0 / 99.5)) * (wb / 16)
    return v, v


TIMELOOP_CAPACITY = Preset(
    "timeloop_capacity",
    "Timeloop's built-in placeholder model: SRAM per 16-bit access linear in capacity, 1.0 at 0.5 kB and "
    "6.0 at 100 kB (x width/16); DRAM 200 x width/16; MAC (bits/16)^2; hop 2 x width/16",
    dram=lambda wb: (200 * (wb / 16), 200 * (wb / 16)),
    buffer=lambda wb, kb: _tl_sram(wb, kb, "the buffer"),
    local=lambda wb, kb, role: _tl_sram(wb, kb, "the local buffer"),
    hop=lambda wb: 2.0 * (wb / 16),
    mac=lambda wb: (wb / 16) * (wb / 16),
)


# ---- horowitz_45nm: Horowitz, ISSCC 2014 ------------------------------------------------------
# 64-bit SRAM (cache) accesses at 45 nm: 8 kB 10 pJ, 32 kB 20 pJ, 1 MB 100 pJ; DRAM 1.3-2.6 nJ per
# 64-bit access (the low end is used). Between the published sizes the energy is interpolated
# linearly in log(capacity); outside them it is clamped to the nearest published size.
_SRAM_45NM = ((8.0, 10.0), (32.0, 20.0), (1024.0, 100.0))


def _sram_45nm(wb: int, kb: float | None) -> RW:
    if kb is None or kb >= _SRAM_45NM[-1][0]:
        pj = _SRAM_45NM[-1][1]
    elif kb <= _SRAM_45NM[0][0]:
        pj = _SRAM_45NM[0][1]
    else:
        i = bisect.bisect_right([k for k, _ in _SRAM_45NM], kb)
        (k0, e0), (k1, e1) = _SRAM_45NM[i - 1], _SRAM_45NM[i]
        pj = e0 + (e1 - e0) * (math.log(kb) - math.log(k0)) / (math.log(k1) - math.log(k0))
    v = _per_word(pj, 64, wb)
    return v, v


def _mac_45nm(wb: int) -> float:
    """int8 multiply 0.2 + int32 add 0.1 (8-bit data, 32-bit accumulation); fp16 multiply 1.1 + add 0.4
    (16-bit data: the source has no int16 multiply); fp32 multiply 3.7 + add 0.9 (32-bit data)."""
    if wb <= 8:
        return 0.2 + 0.1
    if wb <= 16:
        return 1.1 + 0.4
    if wb <= 32:
        return 3.7 + 0.9
    raise ConfigError(f"energy preset 'horowitz_45nm' has MAC energies for words of up to 32 bits, not {wb}")


# Non-MAC ops from the same arithmetic (word_bits <= 8: int8/int32 as the MAC; 16: fp16; 32: fp32),
# as counts of (adds, mults): max/sum/mean/add one add (a compare costs an add); mul one mult;
# fma and var (sub, square, accumulate) as stated; normalize (x - mean) * rstd * gamma + beta
# 2 adds + 2 mults. ASSUMPTIONS (the source has no figure): exp = 10 mults, divide = 5 mults,
# gelu = exp + 4 mults + 2 adds (the tanh form).
_EXP_MULTS, _DIV_MULTS = 10, 5
_OPS_45NM: dict[str, tuple[int, int]] = {
    "max": (1, 0), "sum": (1, 0), "mean": (1, 0), "add": (1, 0), "mul": (0, 1), "fma": (1, 1),
    "var": (2, 1), "normalize": (2, 2), "exp": (0, _EXP_MULTS), "divide": (0, _DIV_MULTS),
    "gelu": (2, _EXP_MULTS + 4),
}


def _add_mult_45nm(wb: int) -> tuple[float, float]:
    if wb <= 8:
        return 0.03, 0.2
    if wb <= 16:
        return 0.4, 1.1
    if wb <= 32:
        return 0.9, 3.7
    raise ConfigError(f"energy preset 'horowitz_45nm' has arithmetic energies for words of up to 32 bits, not {wb}")


def _vector_op_45nm(wb: int, op: str) -> float:
    adds, mults = _OPS_45NM[op]
    a, m = _add_mult_45nm(wb)
    return adds * a + mults * m


HOROWITZ_45NM = Preset(
    "horowitz_45nm",
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, 45 nm 0.9 V: "
    "int8 mult 0.2, int32 add 0.1, fp16 mult 1.1 / add 0.4, fp32 mult 3.7 / add 0.9 pJ; 64-bit SRAM "
    "access 8 kB 10, 32 kB 20, 1 MB 100 pJ; DRAM 1.3-2.6 nJ per 64-bit access (1.3 nJ used)",
    dram=lambda wb: (_per_word(1300.0, 64, wb), _per_word(1300.0, 64, wb)),
    buffer=_sram_45nm,
    local=lambda wb, kb, role: _sram_45nm(wb, kb),
    hop=lambda wb: 0.0,
    mac=_mac_45nm,
    uncharged="network (the source gives no on-chip network figure); SRAM below 8 kB charged as 8 kB",
    vector_op=_vector_op_45nm,
    vector_source="non-MAC ops: Horowitz adds/mults at the word width (max/sum/mean/add 1 add, mul 1 mult, "
                  "fma 1+1, var 2 adds + 1 mult, normalize 2+2); assumed: exp = 10 mults, divide = 5 mults, "
                  "gelu = exp + 4 mults + 2 adds",
)

PRESET_LIST: tuple[Preset, ...] = (NORMALIZED, ACCELERGY_65NM, TIMELOOP_CAPACITY, HOROWITZ_45NM)
PRESET_BY_NAME: dict[str, Preset] = {p.name: p for p in PRESET_LIST}


def arch_energy(preset: Preset, word_bits: int, glb_kb: float) -> ArchEnergy:
    """The fixed-shape arch's record from a preset: RF per tensor as a ``FIXED_RF_KB`` local buffer,
    the GLB as a ``glb_kb`` buffer."""
    rf = [preset.local(word_bits, FIXED_RF_KB, t) for t in TENSORS]
    glb = preset.buffer(word_bits, glb_kb)
    dram = preset.dram(word_bits)
    return ArchEnergy(preset.mac(word_bits), tuple(r for r, _ in rf), tuple(w for _, w in rf), preset.hop(word_bits),
                      glb[0], glb[1], dram[0], dram[1])


def _fixed(preset: Preset) -> Callable[[int, float], ArchEnergy]:
    return lambda word_bits, glb_kb: arch_energy(preset, word_bits, glb_kb)


PRESETS: dict[str, Callable[[int, float], ArchEnergy]] = {p.name: _fixed(p) for p in PRESET_LIST}
