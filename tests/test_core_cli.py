"""accelsim count: the general core from the command line. Counts a hand-derived case on the
clustered Eyeriss v2 hierarchy, converts a fixed-shape arch on load, and turns every bad new input
into one line naming the file and key, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

DATA = REPO / "tests" / "data"
NEST = str(DATA / "core_nest_v2.yaml")
PROBLEM = str(DATA / "core_conv3x3.yaml")


def accelsim(*args, cwd):
    return subprocess.run([sys.executable, "-m", "accelsim", "count", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_count_on_the_clustered_eyeriss_v2(tmp_path):
    """A 16 -> 32 channel 3x3 conv (16 x 16, pad 1). Weights bypass the GLB clusters: DRAM -> spad
    refills them at every step of the loops above the innermost weight loop (C at the clusters), so
    the P (2) and Q (4) loops outside it re-read every weight: 4,608 x 8. The ifmap goes to the
    clusters once per DRAM K step (4) and, P being its innermost loop, slides: the 9 + 9 padded
    rows of the two P tiles overlap in 2, so each step reads the whole 16 x 16 x 16 input once."""
    out = accelsim("hierarchy/eyeriss_v2", "-m", NEST, "-p", PROBLEM, "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    words = {(r["level"], r["tensor"], r["action"]): r["words"] for r in doc["actions"]}
    assert doc["macs"] == 32 * 16 * 16 * 16 * 9 and doc["active"] == 192
    assert words[("dram", "weight", "read")] == 32 * 16 * 9 * 8
    assert words[("dram", "ifmap", "read")] == 16 * 16 * 16 * 4
    assert words[("dram", "psum", "update")] == 32 * 16 * 16 and ("dram", "psum", "read") not in words
    text = accelsim("hierarchy/eyeriss_v2", "-m", NEST, "-p", PROBLEM, cwd=tmp_path).stdout
    assert "parallel-for r in [0:3) (glb_cluster fanout x)" in text and "spad             weight  fill" in text


def test_fixed_shape_arch_is_converted_on_load(tmp_path):
    (tmp_path / "n.yaml").write_text(
        "- {level: dram, factors: {K: 3, C: 16}}\n"
        "- {level: glb, factors: {P: 16, Q: 16}, spatial: {x: {R: 3}, y: {K: 14}}}\n"
        "- {level: rf, factors: {S: 3}, keeps: [ifmap, weight, psum]}\n")
    out = accelsim("eyeriss_v1", "-m", "n.yaml", "-p", PROBLEM, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("dram[ifmap, weight, psum; unbounded] -> glb[")
    # the arch's constraints come along: eyeriss_v1's PEs keep one filter row, not output columns
    (tmp_path / "n.yaml").write_text((tmp_path / "n.yaml").read_text().replace("{P: 16, Q: 16}", "{P: 16, Q: 4}")
                                     .replace("{S: 3}", "{Q: 4, S: 3}"))
    bad = accelsim("eyeriss_v1", "-m", "n.yaml", "-p", PROBLEM, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("accelsim: error: n.yaml: levels[2].factors: level 'rf' may not split Q "
                                  "(its unsplit list), factor 4")


@pytest.mark.parametrize("edit, expect", [
    (("problem", "Q + S - 1", "Q + T - 1"), "core_conv3x3.yaml: tensors[0].coords[4].expr: unknown dim 'T'"),
    (("nest", "level: spad", "level: pe"), "core_nest_v2.yaml: [2].level: no level 'pe' in hierarchy"),
    (("hierarchy", "x: 3, y: 4", "x: 0, y: 4"), "eyeriss_v2.yaml: levels[1].fanout.x: value 0 is too small"),
    (("hierarchy", "keeps: [ifmap, psum]", "keeps: [ifmap, bias]"),
     "eyeriss_v2.yaml: levels[1].keeps: level 'glb_cluster' keeps unknown tensor 'bias'"),
    (("hierarchy", "name: spad", "name: glb_cluster"), "eyeriss_v2.yaml: levels[2].name: duplicate level name"),
])
def test_bad_new_input_is_one_line_exit_2(tmp_path, edit, expect):
    which, old, new = edit
    files = {"problem": DATA / "core_conv3x3.yaml", "nest": DATA / "core_nest_v2.yaml",
             "hierarchy": REPO / "configs" / "eyeriss_v2.yaml"}
    paths = {}
    for key, src in files.items():
        text = src.read_text()
        if key == which:
            assert old in text
            text = text.replace(old, new, 1)
        paths[key] = tmp_path / src.name
        paths[key].write_text(text)
    out = accelsim(str(paths["hierarchy"]), "-m", str(paths["nest"]), "-p", str(paths["problem"]), cwd=tmp_path)
    assert out.returncode == 2
    line = out.stderr.strip()
    assert "\n" not in line and line.startswith("accelsim: error: ") and expect in line, line


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "accelsim", "run", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_a_runs_printed_mapping_txt_runs_again_with_the_same_counts(tmp_path):
    """`accelsim run --out` writes each layer's nest Timeloop-style in mapping.txt; `--mapping` reads
    that file back: every layer gets the same nest (the same print, now "hand-written") and the same
    action table; the pool (no MACs) needs none; a bmm with two activation operands reads back too."""
    (tmp_path / "w.yaml").write_text(
        "version: 1\nname: tiny\nlayers:\n"
        "  - {name: c1, kind: conv, C: 8, K: 16, H: 12, W: 12, R: 3, S: 3, padding: 1}\n"
        "  - {name: pool, kind: pool, C: 16, H: 12, R: 2, stride: 2}\n"
        "  - {name: qk, kind: bmm, batch: 2, m: 16, n: 16, k: 8}\n")
    sel = ("-w", "w.yaml", "--no-sim", "-q")
    first = _run("eyeriss_v2", *sel, "--out", "a", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = _run("eyeriss_v2", *sel, "--mapping", "a/mapping.txt", "--out", "b", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "| hand-written mapping" in again.stdout.splitlines()[0]
    a, b = (json.loads((tmp_path / d / "stats.json").read_text()) for d in "ab")
    assert [x["mapping_source"] for x in b["layers"]] == ["hand-written", "named", "hand-written"]
    assert [x["actions"] for x in a["layers"]] == [x["actions"] for x in b["layers"]]
    assert a["layers"][2]["macs"] == 2 * 16 * 16 * 8
    assert (tmp_path / "a" / "mapping.txt").read_text().replace("(named)", "(hand-written)") == \
        (tmp_path / "b" / "mapping.txt").read_text().replace("pool (named)", "pool (hand-written)")
    # a loop the problem does not have, and text before the first layer: one line naming file, layer, line
    text = (tmp_path / "a" / "mapping.txt").read_text()
    (tmp_path / "bad.txt").write_text(text.replace("for q in", "for z in", 1))
    bad = _run("eyeriss_v2", *sel, "--mapping", "bad.txt", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("accelsim: error: bad.txt: c1: line ") and "unknown dim 'z'" in bad.stderr
    (tmp_path / "bad2.txt").write_text("dram [ifmap]\n" + text)
    bad2 = _run("eyeriss_v2", *sel, "--mapping", "bad2.txt", cwd=tmp_path)
    assert bad2.returncode == 2 and "accelsim: error: bad2.txt: line 1: expected a '# layer NAME" in bad2.stderr


def test_an_unknown_option_is_one_line_without_the_program_twice(tmp_path):
    out = _run("eyeriss_v2", "-l", "conv1", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr == "accelsim: error: unrecognized arguments: -l conv1 (see --help)\n"
    sub = _run("--objective", cwd=tmp_path)            # a subcommand's own parser names the subcommand
    assert sub.returncode == 2 and sub.stderr.startswith("accelsim: error: accelsim run: argument --objective")
