"""SCALE-Sim 3.0's double-buffered SRAMs: the DRAM words its fixed mappings move (``buffers: scalesim``).

SCALE-Sim (CALC bandwidth, scalesim/memory/read_buffer_estimate_bw.py) gives the ifmap and the filter
SRAM each a read buffer: its capacity in words is cut into 100 sets of floor(words / 100) addresses;
half the sets are the active working set the array reads, the other half is being prefetched. The
array's requests arrive in SCALE-Sim's demand order (dataflows/scalesim_fold.py: column folds outer,
row folds inner, each fold's requests cycle by cycle, skewed as the array consumes them). A request
is served from the SRAM when its address is in one of the sets filled since the active window last
moved, or in the set being filled; otherwise it is fetched from DRAM into the set being filled. When
the sets filled reach the end of the active window, the window moves on by the prefetch half. DRAM
reads = the addresses fetched. Addresses are the convolution's own (an ifmap word that several
im2col rows repeat is one address), so overlapping windows are fetched once while they stay.

The ofmap SRAM (write_buffer.py) drains every word the array writes to DRAM: DRAM ofmap writes = SRAM
ofmap writes (SCALE-Sim accumulates nothing on chip, so every window fold's partial sums go out).

:func:`dram_reads` replays those rules exactly over the demand stream (a numba loop over every SRAM
request; no matrix is built). Groups are independent GEMMs with fresh buffers each (SCALE-Sim runs a
depthwise layer as one-channel layers). Checked against SCALE-Sim 3.0's DETAILED_ACCESS_REPORT in
tests/test_scalesim_buffers.py. Invariant: the distinct addresses <= DRAM reads <= SRAM reads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.errors import ConfigError
from workloads.layer import Layer

SETS = 100                 # SCALE-Sim cuts each read buffer into 100 sets
ACTIVE_FRACTION = 0.5      # SCALE-Sim's active_buf_frac: half active, half prefetching
FLOW_IDS = {"os": 0, "ws": 1, "is": 2}
IFMAP, FILTER = 0, 1


@njit(cache=True)
def _serve(buf, n, last, cur, count, start, end, misses, items, step):
    """The requests buf[:n], in order, through one read buffer; returns its new state."""
    for i in range(n):
        addr = buf[i]
        ls = last[addr]
        if ls == cur or (ls >= start and ls < cur):
            continue                             # in the set being filled, or in the active window
        last[addr] = cur
        misses += 1
        count += 1
        if count == items:                       # the set is full: start the next one
            count = 0
            cur += 1
            if cur == end + 1:                   # the active window moves on by the prefetch half
                start += step
                end += step
    return cur, count, start, end, misses


@njit(cache=True)
def _misses(flow, operand, pp, kw, m, rows, cols, base, off, space, items, active, step):
    """Requests fetched from DRAM. Address of im2col element (pixel p, window k): ifmap base[p] + off[k];
    filter element (window k, filter j): k * m + j."""
    last = np.full(space, -1, dtype=np.int32)
    cur, count, start, end, misses = 0, 0, 0, active - 1, 0
    # GEMM dims on the array rows / columns / streamed (T), as dataflows/scalesim_fold.FOLDS
    if flow == 0:
        on_rows, on_cols, t_len = pp, m, kw
    elif flow == 1:
        on_rows, on_cols, t_len = kw, m, pp
    else:
        on_rows, on_cols, t_len = kw, pp, m
    row_folds = (on_rows + rows - 1) // rows
    col_folds = (on_cols + cols - 1) // cols
    buf = np.empty(max(t_len, rows) * max(rows, cols), dtype=np.int64)
    skewed_rows = (flow == 0 and operand == 0) or (flow != 0 and ((flow == 1) == (operand == 0)))
    for fc in range(col_folds):
        for fr in range(row_folds):
            r_used = min(rows, on_rows - fr * rows)
            c_used = min(cols, on_cols - fc * cols)
            n = 0
            if flow == 0 and operand == 1:
                # OS filters: a T x cols stream skewed by column (window, filter)
                for s in range(t_len + cols - 1):
                    for c in range(max(0, s - t_len + 1), min(c_used, s + 1)):
                        buf[n] = (s - c) * m + fc * cols + c
                        n += 1
            elif skewed_rows:
                # a T x rows stream skewed by row: OS ifmap (pixel, window), WS ifmap (pixel, window),
                # IS filter (window, filter)
                for s in range(t_len + rows - 1):
                    for c in range(max(0, s - t_len + 1), min(r_used, s + 1)):
                        t = s - c
                        if flow == 0:
                            buf[n] = base[fr * rows + c] + off[t]
                        elif flow == 1:
                            buf[n] = base[t] + off[fr * rows + c]
                        else:
                            buf[n] = (fr * rows + c) * m + t
                        n += 1
            else:
                # the stationary operand, rows x cols, bottom row first, unskewed: WS filters
                # (window, filter), IS ifmaps (window, pixel)
                for i in range(r_used - 1, -1, -1):
                    for c in range(c_used):
                        if flow == 1:
                            buf[n] = (fr * rows + i) * m + fc * cols + c
                        else:
                            buf[n] = base[fc * cols + c] + off[fr * rows + i]
                        n += 1
            cur, count, start, end, misses = _serve(buf, n, last, cur, count, start, end, misses, items, step)
    return misses


def buffer_sets(sram_words: int) -> tuple[int, int, int]:
    """(addresses per set, sets in the active window, sets prefetched at a time) of one read buffer."""
    active = int(ACTIVE_FRACTION * SETS)
    return sram_words // SETS, active, SETS - active


def dram_reads(layer: Layer, flow: str, rows: int, cols: int, ifmap_sram_words: int,
               filter_sram_words: int) -> tuple[int, int]:
    """(ifmap, filter) DRAM words SCALE-Sim's read buffers fetch for ``layer`` (a convolution, not
    its im2col view) on a ``rows x cols`` array with dataflow ``flow`` (os / ws / is)."""
    if flow not in FLOW_IDS:
        raise ConfigError(f"SCALE-Sim buffers: unknown dataflow {flow!r}; allowed: {', '.join(FLOW_IDS)}")
    n, g, k, c, p, q, r, s = layer.dims
    pp, kw = n * p * q, r * s * c
    h, w = layer.H + 2 * layer.pad_h, layer.W + 2 * layer.pad_w
    # ifmap address (n, row, col, channel) -> ((n * h + row) * w + col) * c + channel, as SCALE-Sim numbers it:
    # the output pixel gives the window's corner, the window index (r, s, channel; channel fastest) the offset
    img, pix = np.divmod(np.arange(pp, dtype=np.int64), p * q)
    orow, ocol = np.divmod(pix, q)
    base = ((img * h + orow * layer.stride_h) * w + ocol * layer.stride_w) * c
    fr_, rest = np.divmod(np.arange(kw, dtype=np.int64), s * c)
    fs, ch = np.divmod(rest, c)
    off = (fr_ * layer.dil_h * w + fs * layer.dil_w) * c + ch
    out = []
    for operand, words, space in ((IFMAP, ifmap_sram_words, n * h * w * c), (FILTER, filter_sram_words, kw * k)):
        items, active, step = buffer_sets(words)
        per_group = _misses(FLOW_IDS[flow], operand, pp, kw, k, rows, cols, base, off, space, items, active, step)
        out.append(int(per_group) * g)
    return out[0], out[1]


def with_scalesim_buffers(result, layer: Layer, arch, flow: str):
    """``result`` (the cost model's LayerResult of SCALE-Sim's fixed mapping of ``layer``'s im2col
    view) with SCALE-Sim's DRAM traffic: DRAM ifmap and filter reads from :func:`dram_reads` (the GLB
    fills the same words), DRAM ofmap writes = the array's GLB psum writes, no DRAM psum reads; energy
    recomputed. The SRAM sizes are the systolic NoC's ``ifmap_sram_kb`` / ``filter_sram_kb`` (unset: a
    third of the GLB each, as SCALE-Sim's three equal SRAMs)."""
    from dataclasses import replace

    from accelsim.cost.counts import L_DRAM, L_GLB
    from accelsim.cost.model import energy_parts, fixed_energy
    from noc import registry as noc_registry

    settings = noc_registry.settings(arch.noc)
    third = arch.glb_words // 3

    def words(key: str) -> int:
        kb = settings.get(key)
        return third if kb is None else int(kb * 1024 * 8 // arch.word_bits)

    ifmap, weight = dram_reads(layer, flow, arch.pe_array.rows, arch.pe_array.cols, words("ifmap_sram_kb"),
                               words("filter_sram_kb"))
    c = result.counts
    psum_out = c.writes[L_GLB][2]
    reads = [list(x) for x in c.reads]
    writes = [list(x) for x in c.writes]
    reads[L_DRAM] = [ifmap, weight, 0]
    writes[L_DRAM] = [0, 0, psum_out]
    writes[L_GLB][0], writes[L_GLB][1] = ifmap, weight
    counts = replace(c, reads=tuple(tuple(x) for x in reads), writes=tuple(tuple(x) for x in writes))
    e = fixed_energy(counts, arch)
    by_part, by_tensor = energy_parts(e)
    return replace(result, counts=counts, energy_breakdown_pj=by_part, energy_by_tensor_pj=by_tensor,
                   energy_total_pj=e.total_pj)
