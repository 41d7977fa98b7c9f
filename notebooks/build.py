"""Execute every teaching notebook and store it with its outputs: ``python notebooks/build.py``.

Which notebooks: ``notebooks/*.ipynb``, the labs ``notebooks/labs/*.ipynb`` and their solutions
``notebooks/labs/solutions/*.ipynb``. Each runs top to bottom in a fresh ``python3`` kernel started in its
own folder; the executed notebook replaces the stored one. A solution notebook's cell tagged ``answers``
prints its answers file, which the build writes beside it (``labN_x_solution.ipynb`` -> ``labN_x.yaml``).

Invariants (what makes a rebuild give the same bytes, and what the test suite compares):

- no timings are stored (cell ``execution`` metadata is not recorded), the kernel runs with
  ``PYTHONHASHSEED=0`` and matplotlib's default rc settings, and PNGs are written without the
  "Software" text chunk (the only metadata matplotlib puts in a PNG);
- every rendered figure carries its *data* in its output's metadata (``accelsim.plot``: per axes the
  title, labels, scales, tick labels, lines' x/y, bar rectangles, scatter offsets and texts, floats to
  6 significant digits); the pixels are never compared, the data is (:func:`comparable`);
- the kernel-side hook that records the data (:data:`KERNEL_SETUP`) runs before the first cell and adds
  no cell, no output and no execution count of its own.

``python notebooks/build.py --check`` executes without writing and exits 1 if a stored output is stale
(what ``tests/test_notebooks.py`` does per notebook).
"""

from __future__ import annotations

import argparse
import base64
import difflib
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLOT_MIME = "application/vnd.accelsim.plot+json"   # the hook's transient output; moved into metadata
PLOT_KEY = "accelsim.plot"                         # where a figure's data lives in its output's metadata
CELL_TIMEOUT_S = 300

KERNEL_SETUP = r'''
def _accelsim_setup():
    import hashlib
    import io
    import math
    from pathlib import Path

    import matplotlib
    import numpy as np
    from IPython import get_ipython
    from IPython.display import display
    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.patches import Rectangle

    matplotlib.rcdefaults()
    rendered = {}

    def num(x):
        x = float(x)
        return x if not math.isfinite(x) or x == 0 else float(f"{x:.6g}")

    def nums(values):
        try:
            return [num(v) for v in np.asarray(values, dtype=float).ravel()]
        except (TypeError, ValueError):
            return [str(v) for v in np.asarray(values, dtype=object).ravel()]

    def axes_data(ax):
        return {
            "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "xscale": ax.get_xscale(), "yscale": ax.get_yscale(),
            "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
            "yticklabels": [t.get_text() for t in ax.get_yticklabels()],
            "lines": [{"label": str(line.get_label()), "x": nums(line.get_xdata()), "y": nums(line.get_ydata())}
                      for line in ax.get_lines()],
            "bars": [[num(p.get_x()), num(p.get_y()), num(p.get_width()), num(p.get_height())]
                     for p in ax.patches if isinstance(p, Rectangle)],
            "points": [nums(c.get_offsets()) for c in ax.collections if len(c.get_offsets())],
            "texts": [t.get_text() for t in ax.texts],
        }

    def figure_data(fig):
        suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
        return {"suptitle": suptitle, "axes": [axes_data(ax) for ax in fig.axes]}

    original = FigureCanvasBase.print_figure

    def print_figure(self, filename, *args, **kwargs):
        fmt = kwargs.get("format") or (Path(str(filename)).suffix.lstrip(".") if isinstance(filename, (str, Path))
                                       else None)
        if fmt == "png":
            kwargs.setdefault("metadata", {"Software": None})
        out = original(self, filename, *args, **kwargs)
        if fmt == "png":
            if isinstance(filename, io.BytesIO):
                data = filename.getvalue()
            elif isinstance(filename, (str, Path)):
                data = Path(filename).read_bytes()
            else:
                data = None
            if data is not None:
                rendered[hashlib.sha256(data).hexdigest()] = figure_data(self.figure)
        return out

    FigureCanvasBase.print_figure = print_figure

    def publish(result):
        if rendered:
            display({"PLOT_MIME": dict(rendered)}, raw=True)
            rendered.clear()

    get_ipython().events.register("post_run_cell", publish)


_accelsim_setup()
del _accelsim_setup
'''.replace("PLOT_MIME", PLOT_MIME)


def notebooks(selected: list[str] | None = None) -> list[Path]:
    """The notebooks the build executes, in order (or the given paths)."""
    if selected:
        return [Path(p).resolve() for p in selected]
    return sorted(HERE.glob("*.ipynb")) + sorted((HERE / "labs").glob("*.ipynb")) + \
        sorted((HERE / "labs" / "solutions").glob("*.ipynb"))


def answers_file(path: Path) -> Path:
    """Where a lab solution notebook's answers go: labs/solutions/labN_x_solution.ipynb -> labN_x.yaml."""
    return path.with_name(path.stem.removesuffix("_solution") + ".yaml")


def answers_text(nb) -> str | None:
    """The printed output of the cell tagged ``answers`` (a solution notebook's answers file), if any."""
    for cell in nb.cells:
        if "answers" in cell.metadata.get("tags", []):
            return "".join(o.get("text", "") for o in cell.outputs if o["output_type"] == "stream")
    return None


def _png_hash(output) -> str | None:
    data = output.get("data", {}).get("image/png")
    if data is None:
        return None
    return hashlib.sha256(base64.b64decode(data)).hexdigest()


def _attach_plot_data(nb) -> None:
    """Move the hook's transient outputs into the metadata of the image outputs they describe."""
    known: dict[str, dict] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if PLOT_MIME in output.get("data", {}):
                known.update(output["data"][PLOT_MIME])
            else:
                kept.append(output)
        cell.outputs = kept
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            digest = _png_hash(output)
            if digest is None:
                continue
            if digest not in known:
                raise RuntimeError(f"cell {index}: an image that no matplotlib figure of this run rendered "
                                   "(plots must come from matplotlib so their data can be compared)")
            output.setdefault("metadata", {})[PLOT_KEY] = known[digest]


def execute(path: Path):
    """Run one notebook in a fresh kernel; returns the executed notebook (nothing written)."""
    import nbclient
    import nbformat
    from jupyter_client.manager import AsyncKernelManager

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    with tempfile.TemporaryDirectory() as tmp:
        setup = Path(tmp) / "accelsim_kernel_setup.py"
        setup.write_text(KERNEL_SETUP)
        old = os.environ.get("PYTHONHASHSEED")
        os.environ["PYTHONHASHSEED"] = "0"          # the kernel inherits it
        try:
            # IPC sockets in the temporary folder: no TCP port to race for when many kernels start at once
            km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(Path(tmp) / "kernel"))
            client = nbclient.NotebookClient(
                nb, km=km, timeout=CELL_TIMEOUT_S, kernel_name="python3", record_timing=False, coalesce_streams=True,
                extra_arguments=[f"--IPKernelApp.exec_files={setup}"],
                resources={"metadata": {"path": str(path.parent)}})
            client.execute()
        finally:
            if old is None:
                os.environ.pop("PYTHONHASHSEED")
            else:
                os.environ["PYTHONHASHSEED"] = old
    _attach_plot_data(nb)
    return nb


def write(nb, path: Path) -> None:
    import nbformat

    text = nbformat.writes(nb) + "\n"
    tmp = path.with_suffix(".ipynb.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def comparable(nb) -> list[list[str]]:
    """Per code cell, its outputs as text: streams and text results exactly, images by their plot data."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        shown = []
        for output in cell.outputs:
            kind = output["output_type"]
            if kind == "stream":
                shown.append(f"[{output['name']}]\n{output['text']}")
            elif kind == "error":
                shown.append(f"[error] {output['ename']}: {output['evalue']}")
            else:
                for mime in sorted(output.get("data", {})):
                    if mime.startswith("image/"):
                        plot = output.get("metadata", {}).get(PLOT_KEY)
                        shown.append(f"[{mime} plot data]\n{json.dumps(plot, indent=1, sort_keys=True)}")
                    else:
                        value = output["data"][mime]
                        shown.append(f"[{mime}]\n{value if isinstance(value, str) else json.dumps(value)}")
        cells.append(shown)
    return cells


def stale(stored, fresh) -> str | None:
    """None when the stored outputs equal the fresh ones, else a short diff naming the first cell that differs."""
    a, b = comparable(stored), comparable(fresh)
    if len(a) != len(b):
        return f"{len(a)} code cells stored, {len(b)} executed"
    for index, (old, new) in enumerate(zip(a, b)):
        if old != new:
            diff = difflib.unified_diff("\n".join(old).splitlines(), "\n".join(new).splitlines(),
                                        "stored", "fresh", lineterm="", n=1)
            return f"code cell {index + 1} differs:\n" + "\n".join(list(diff)[:40])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="notebooks to build (default: all)")
    parser.add_argument("--check", action="store_true", help="execute, compare with the stored outputs, write nothing")
    args = parser.parse_args(argv)
    import nbformat

    bad = 0
    start = time.perf_counter()
    for path in notebooks(args.paths):
        t0 = time.perf_counter()
        fresh = execute(path)
        took = time.perf_counter() - t0
        if args.check:
            why = stale(nbformat.read(path, as_version=4), fresh)
            bad += why is not None
            print(f"{path.relative_to(HERE.parent)}: {'STALE ' + why if why else 'up to date'} ({took:.1f} s)")
        else:
            write(fresh, path)
            answers = answers_text(fresh)
            if answers is not None:
                answers_file(path).write_text(f"# written by notebooks/build.py from {path.name}\n{answers}")
            print(f"{path.relative_to(HERE.parent)}: executed and stored ({took:.1f} s)")
    print(f"total {time.perf_counter() - start:.1f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
