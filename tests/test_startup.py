"""Process start-up stays lean: what a named ``accelsim run`` imports, and the Eyeriss v1 rule's
bisection (dataflows/rs_params._fewest_groups) giving exactly the answer of the plain scan it
replaced (docs/performance.md, "Start-up").
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from accelsim.arch import load_arch, resolve_arch_path
from dataflows import rs_params as rp
from workloads.layer import DIMS
from workloads.loader import load_workload

PROBE = """
import sys
from accelsim.cli import main
rc = main(sys.argv[1:])
heavy = ("numpy", "numba", "simpy", "matplotlib", "scipy")
print("MODULES", __import__("json").dumps(sorted(m for m in heavy if m in sys.modules)), rc)
"""


def _imported(tmp_path, *args: str) -> tuple[list[str], int]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    line = [x for x in out.stdout.splitlines() if x.startswith("MODULES ")]
    assert line, out.stderr
    mods, rc = line[-1].removeprefix("MODULES ").rsplit(" ", 1)
    return json.loads(mods), int(rc)


@pytest.mark.parametrize("args, allowed", [
    # the fixed path, named mappings, cost model only: no numpy (its import is ~0.1 s of a 0.13 s run)
    (("run", "eyeriss_v1", "-w", "alexnet", "-d", "rs", "--no-sim", "-q"), []),
    # the general core on a level-list config, --no-sim: no simpy (the simulator is loaded on use)
    (("run", "eyeriss_v2", "-w", "mobilenet_v1", "--layers", "conv1", "--no-sim", "-q"), []),
    # the simulator of the fixed path needs simpy and numpy (noc.flow's layouts), nothing more
    (("run", "eyeriss_v1", "-w", "alexnet", "--layers", "CONV1", "-d", "rs", "-q"), ["numpy", "simpy"]),
])
def test_a_named_run_imports_only_what_it_uses(tmp_path, args, allowed):
    mods, rc = _imported(tmp_path, *args, "--out", str(tmp_path / "o"))
    assert rc == 0
    assert mods == allowed


def _scan(layer, arch, base, n, most):
    """The plain scan the bisection replaced: 1, 2, 3, ... m-groups in turn until one fits."""
    k = layer.dims[DIMS.index("K")]
    pt = base.p * base.t
    for groups in range(1, most + 1):
        prm = replace(base, m=min(rp.ceil_div(rp.ceil_div(k, groups), pt) * pt, k), n=n)
        mapping = rp._fit(layer, arch, prm)
        if mapping is not None:
            return prm, mapping
    return None


def _small_glb(arch, kb: float):
    """``arch`` with its ifmap+psum GLB part cut to ``kb`` (more m-groups are needed: the bisection's
    hard cases)."""
    glb = arch.glb
    parts = tuple((tensors, kb if "psum" in tensors else size) for tensors, size in glb.partitions)
    return replace(arch, glb=replace(glb, size_kb=kb + 8, partitions=parts))


@pytest.mark.parametrize("workload, batch, kb", [("resnet50", 1, 100), ("alexnet", 4, 100), ("vgg16", 1, 100),
                                                 ("mobilenet_v1", 1, 100), ("resnet50", 1, 40), ("vgg16", 1, 30),
                                                 ("alexnet", 4, 12)])
def test_rs_rule_bisection_equals_the_scan(workload, batch, kb, monkeypatch):
    arch = _small_glb(load_arch("eyeriss_v1"), kb)
    shapes = list({replace(x, name=""): None for x in load_workload(workload, batch).layers if x.macs})
    found = [rp.choose(s, arch) for s in shapes]
    monkeypatch.setattr(rp, "_fewest_groups", _scan)
    assert found == [rp.choose(s, arch) for s in shapes]
    # the cases hold both answers: layers the rule maps, and some that need more than one m-group
    # (m below the filters per group) when the GLB is small
    mapped = [f for f in found if f is not None]
    assert mapped
    if kb < 100:
        assert any(prm.m < s.dims[DIMS.index("K")] for s, (prm, _) in zip(shapes, mapped))


def test_sweep_arch_document_parsed_once_per_file_version(tmp_path, monkeypatch):
    from accelsim import yamlio
    from accelsim.sweep import worker

    arch = tmp_path / "a.yaml"
    arch.write_text(resolve_arch_path("eyeriss_v1").read_text())
    parsed = []
    real = yamlio.load_yaml
    monkeypatch.setattr(yamlio, "load_yaml", lambda p: parsed.append(str(p)) or real(p))
    first, source = worker.arch_document(str(arch))
    first["glb"]["size_kb"] = 1                      # a point's change must not reach the next point
    second, _ = worker.arch_document(str(arch))
    assert source == str(arch) and len(parsed) == 1
    assert second["glb"]["size_kb"] == 108
    arch.write_text(arch.read_text().replace("size_kb: 108", "size_kb: 216"))
    third, _ = worker.arch_document(str(arch))      # the file changed (size): parsed again
    assert len(parsed) == 2 and third["glb"]["size_kb"] == 216
