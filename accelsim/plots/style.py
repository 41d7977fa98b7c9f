"""Shared look of accelsim's plots: one colour per energy level and per tensor, the energy unit of a
preset, and saving a figure as PNG and/or SVG (matplotlib's Agg backend, no display needed)."""

from __future__ import annotations

import io
from pathlib import Path

# storage levels, cheapest first (bottom of a stack) -> most expensive (top)
LEVEL_COLOURS = {"mac": "#9e9e9e", "rf": "#4c72b0", "noc": "#55a868", "glb": "#dd8452", "dram": "#c44e52"}
LEVEL_LABELS = {"mac": "MAC", "rf": "RF", "noc": "NoC (array)", "glb": "GLB", "dram": "DRAM"}
TENSOR_COLOURS = {"ifmap": "#8172b3", "weight": "#937860", "psum": "#da8bc3"}
TENSOR_LABELS = {"ifmap": "ifmaps", "weight": "weights", "psum": "psums"}
FORMATS = ("png", "svg")


def pyplot():
    """matplotlib.pyplot on the Agg backend (call inside plotting functions, never at import).

    In a Jupyter kernel whose backend is already the inline one (Agg rendering to PNG in the notebook)
    it is left alone, so the figures show in the notebook."""
    import matplotlib

    if "inline" not in matplotlib.get_backend():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def energy_unit(preset: str) -> tuple[float, str]:
    """(divisor, axis label) for energies given in pJ. The normalized table's "pJ" are units of one
    16-bit MAC's energy (ISCA'16: MAC = 1), so they are labelled as such."""
    if preset == "normalized":
        return 1e6, "energy (10$^6$ x MAC energy)"
    return 1e6, "energy (µJ)"


def per_mac_unit(preset: str) -> str:
    return "energy per MAC (x MAC energy)" if preset == "normalized" else "energy per MAC (pJ)"


def save(fig, stem: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write ``fig`` as ``stem.png`` / ``stem.svg``, each atomically (a failed write leaves the old
    file whole); returns the paths written. Closes the figure."""
    import matplotlib

    from accelsim.atomic import atomic_writer
    from accelsim.errors import ConfigError

    stem = Path(stem)
    out = []
    try:
        for fmt in formats:
            if fmt not in FORMATS:
                raise ConfigError(f"unknown plot format {fmt!r}; allowed: {', '.join(FORMATS)}", source=str(stem))
            path = stem.with_suffix(f".{fmt}")
            buf = io.BytesIO()          # rendered whole first, then written atomically
            with matplotlib.rc_context({"svg.hashsalt": "accelsim"}):
                fig.savefig(buf, format=fmt, dpi=150 if fmt == "png" else None, bbox_inches="tight",
                            metadata={"Software": None} if fmt == "png" else {"Date": None})
            with atomic_writer(path, binary=True) as fh:
                fh.write(buf.getvalue())
            out.append(path)
    finally:
        pyplot().close(fig)
    return out


def check_plot_path(path: str | Path) -> Path:
    """ConfigError unless ``path``'s suffix is a file type matplotlib writes (none: PNG): checked before
    anything is computed, with the same rule :func:`save_as` applies."""
    from matplotlib.backend_bases import FigureCanvasBase

    from accelsim.errors import ConfigError

    path = Path(path)
    supported = FigureCanvasBase.get_supported_filetypes()
    if (path.suffix.lstrip(".").lower() or "png") not in supported:
        raise ConfigError(f"unknown plot file type {path.suffix or '(none)'!r}; allowed: "
                          f"{', '.join('.' + k for k in sorted(supported))}", source=str(path))
    return path


def save_as(fig, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (the format from its suffix), atomically. Closes the figure."""
    from accelsim.atomic import atomic_writer

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"        # no suffix: PNG, as matplotlib does
    try:
        check_plot_path(path)
        buf = io.BytesIO()              # rendered whole first, then written atomically
        fig.savefig(buf, format=fmt, dpi=dpi)
        with atomic_writer(path, binary=True) as fh:
            fh.write(buf.getvalue())
    finally:
        pyplot().close(fig)
    return path


def human(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"
