"""Every teaching notebook (notebooks/*.ipynb, notebooks/labs/*.ipynb) executes top to bottom (its own
asserts check its lesson) and is stored with current outputs.

One test per notebook, parametrized over the build's list, so notebooks added later are picked up.
Executing and comparing are notebooks/build.py's (one implementation): text outputs must equal the
fresh ones exactly, figures are compared by their plotted data, never by pixels. The notebooks use the
public API only: no name starting with an underscore, and none of the modules listed in INTERNAL.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import re

import pytest

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location("notebook_build", REPO / "notebooks" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

NOTEBOOKS = build.notebooks()
# implementation modules: the simulator's pass machinery, the cost model's fast/encoded paths, the
# mapper's internals (their public faces: accelsim.sim, accelsim.cost.counts/model, accelsim.mapper.search)
INTERNAL = ("accelsim.sim.passes", "accelsim.sim.timing", "accelsim.sim.engine", "accelsim.cost.fast",
            "accelsim.cost.encode", "accelsim.cost.nest", "accelsim.cost.tiles", "accelsim.mapper.batch",
            "accelsim.mapper.space", "accelsim.mapper.score")


def _read(path):
    import nbformat

    return nbformat.read(path, as_version=4)


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert len([n for n in names if re.match(r"\d\d_", n)]) >= 8, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_outputs_are_current(path):
    stored = _read(path)
    assert any(cell.get("outputs") for cell in stored.cells if cell.cell_type == "code"), \
        f"{path.name} is stored without outputs; run python notebooks/build.py"
    for cell in stored.cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                assert build.PLOT_KEY in output.get("metadata", {}), f"{path.name}: a figure stored without its data"
    fresh = build.execute(path)
    why = build.stale(stored, fresh)
    assert why is None, f"{path.name}: stored outputs are stale; run python notebooks/build.py\n{why}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_use_the_public_api(path):
    for index, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code":
            continue
        tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.startswith(("%", "!"))))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = (node.module or "").split(".") + [a.name for a in node.names]
                assert node.module not in INTERNAL, f"{path.name} cell {index}: imports internal {node.module}"
            elif isinstance(node, ast.Import):
                names = [part for a in node.names for part in a.name.split(".")]
                assert not any(a.name in INTERNAL for a in node.names), f"{path.name} cell {index}"
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert not private, f"{path.name} cell {index}: private name(s) {private}"


def _first_figure(nb):
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                return output
    raise AssertionError("no figure")


def test_staleness_is_judged_on_text_and_plot_data_not_pixels():
    stored = _read(REPO / "notebooks" / "01_dataflows_1d.ipynb")
    assert build.stale(stored, copy.deepcopy(stored)) is None

    pixels = copy.deepcopy(stored)
    _first_figure(pixels)["data"]["image/png"] = "iVBORw0KGgo="      # other pixels, same data
    assert build.stale(stored, pixels) is None

    data = copy.deepcopy(stored)
    bars = _first_figure(data)["metadata"][build.PLOT_KEY]["axes"][0]["bars"]
    bars[0][3] += 1                                                   # one bar one access taller
    assert "differs" in build.stale(stored, data)

    text = copy.deepcopy(stored)
    code = [c for c in text.cells if c.cell_type == "code" and c.outputs]
    code[0].outputs[0]["text"] = code[0].outputs[0]["text"].replace("8", "9")
    why = build.stale(stored, text)
    index = [c for c in stored.cells if c.cell_type == "code"].index(
        next(c for c in stored.cells if c.cell_type == "code" and c.outputs)) + 1
    assert why.startswith(f"code cell {index} differs"), why
