"""Size limits of every input: one place, read by the loaders that enforce them (docs/limits.md).

Every count is in closed form or bounded by these, so no input inside them runs for more than a few
seconds per layer (the cost model counts interior tiles in one product; docs/limits.md lists what
each limit protects). A value outside is a one-line ConfigError naming the file, key and range.
"""

from __future__ import annotations

# ---- a layer (workloads.layer.Layer) ---------------------------------------------------------
MAX_BATCH = 1 << 20              # N
MAX_CHANNELS = 1 << 20           # C, K, groups
MAX_SPATIAL = 1 << 31            # H, W (fully connected: also R, S, which equal H, W)
MAX_FILTER = 1 << 10             # R, S of conv, depthwise and pool layers
MAX_STRIDE = 1 << 10             # stride, dilation
MAX_PADDING = 1 << 10            # padding
MAX_OPERANDS = 64                # eltwise operands

# ---- an architecture (accelsim.arch) -----------------------------------------------------------
MIN_WORDS_PER_CYCLE = 1e-3       # glb.bandwidth_words_per_cycle and every NoC *_words_per_cycle
MAX_WORDS_PER_CYCLE = 1e6
MIN_DRAM_GB_PER_S = 1e-3         # dram.bandwidth_gb_per_s (omit the key: unlimited)
MAX_DRAM_GB_PER_S = 1e6
MAX_NOC_INT = 1 << 20            # integer NoC parameters (cluster sizes, ports, hop and latency cycles)

# ---- command line --------------------------------------------------------------------------
MAX_SEARCH_BUDGET = 1_000_000    # --search-budget, search.budget
MAX_SEED = 2**32 - 1             # --seed, search.seed: 0 .. 2**32 - 1


def max_jobs() -> int:
    """Most sweep worker processes (-j): this machine's CPUs, at least 2 (more only time-share the
    cores and each spawned worker costs start-up time and memory)."""
    import os

    return max(2, os.cpu_count() or 1)
