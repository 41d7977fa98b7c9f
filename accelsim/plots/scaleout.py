"""Training scale-out plot: speedup and efficiency versus workers, one line per strategy."""

from __future__ import annotations

from pathlib import Path

from accelsim.plots.style import save_as

STRATEGY_STYLE = {
    "ps": ("tab:red", "o"), "sharded_ps": ("tab:orange", "s"), "tree": ("tab:blue", "D"),
    "ring": ("tab:cyan", "v"), "async": ("tab:purple", "^"), "model": ("tab:brown", "x"),
}


def plot_scaleout(result, path: str | Path, published: dict[int, float] | None = None) -> Path:
    """Draw ``result`` (an :class:`accelsim.training.scaleout.ScaleOut`); ``published`` = {workers: speedup}
    markers (defaults to FireCaffe's figure when the workload is one it reports)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    from accelsim.training.published import FIRECAFFE_SPEEDUP, FIRECAFFE_WORKERS

    s = result.setup
    if published is None and s.workload.name in FIRECAFFE_SPEEDUP:
        published = {FIRECAFFE_WORKERS: FIRECAFFE_SPEEDUP[s.workload.name]}
    workers = list(result.workers)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5.2))
    ax1.plot(workers, workers, color="black", ls="--", lw=1, label="ideal (speedup = workers)")
    for name in result.strategies:
        curve = result.curve(name)
        colour, marker = STRATEGY_STYLE.get(name, ("tab:gray", "."))
        label = name + (" (stale gradients)" if name == "async" else "")
        ax1.plot([p.workers for p in curve], [p.speedup for p in curve], color=colour, marker=marker, ms=5, label=label)
        ax2.plot([p.workers for p in curve], [p.efficiency for p in curve], color=colour, marker=marker, ms=5,
                 label=label)
    if published:
        ax1.scatter(list(published), list(published.values()), marker="*", s=220, color="gold", edgecolor="black",
                    zorder=5, label="FireCaffe, published (reduction tree)")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("workers (GPUs)")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xticks(workers)
        ax.set_xticklabels([str(w) for w in workers])
    ax1.set_yscale("log", base=2)
    ax1.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax1.set_ylabel("speedup over one worker (x)")
    ax1.set_title("speedup")
    ax2.set_ylabel("parallel efficiency (speedup / workers)")
    ax2.set_ylim(0, 1.05)
    ax2.set_title("efficiency")
    ax1.legend(loc="upper left", fontsize=8)
    staged = " (staged over host link)" if s.staged and s.net.host_bandwidth is not None else ""
    fig.suptitle(f"Training {s.workload.name}, global batch {s.global_batch}: {s.hw.name} workers on "
                 f"{s.net.name}{staged}")
    fig.tight_layout()
    return save_as(fig, path)
