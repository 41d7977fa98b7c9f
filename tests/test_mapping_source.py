"""Hand-written mappings (``accelsim run --mapping``): a mapping that omits ``rf.registers`` follows
the arch's operand registers instead of silently getting all three, and the run says its mappings
were hand-written (header and stats.json), not named."""

from __future__ import annotations

import json
import subprocess
import sys

from accelsim.arch import arch_from_dict, load_arch
from accelsim.cli.cmd_run import load_mappings
from workloads.layer import Workload, conv

MAPPING = ("dram: {factors: {K: 2, C: 2}}\n"
           "glb: {factors: {P: 3}}\n"
           "rows: {factors: {R: 3}}\n"
           "cols: {factors: {Q: 3}}\n"
           "rf: {factors: {S: 3}}\n")


def test_omitted_registers_follow_the_arch(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING)
    work = Workload("w", (conv("c", C=2, K=2, H=5, R=3),))
    bare = arch_from_dict({"version": 1, "name": "noregs", "clock_mhz": 100, "word_bits": 16,
                           "pe_array": {"rows": 4, "cols": 4, "operand_registers": ["psum"]},
                           "glb": {"size_kb": 8, "bandwidth_words_per_cycle": 4}}, "noregs.yaml")
    assert load_mappings(str(path), work, bare)["c"].reg_keep == (False, False, True)
    assert load_mappings(str(path), work, load_arch("eyeriss_v1"))["c"].reg_keep == (True, True, True)
    path.write_text(MAPPING.replace("rf: {factors: {S: 3}}", "rf: {factors: {S: 3}, registers: [weight]}"))
    assert load_mappings(str(path), work, bare)["c"].reg_keep == (False, True, False)


def test_run_with_a_mapping_file_says_hand_written(tmp_path):
    (tmp_path / "m.yaml").write_text(
        "conv4_1:\n"
        "  dram: {factors: {N: 3, K: 11, C: 64}}\n"
        "  glb: {factors: {P: 2, Q: 28}}\n"
        "  rows: {factors: {K: 4, R: 3}}\n"
        "  cols: {factors: {P: 14}}\n"
        "  rf: {factors: {K: 12, C: 4, S: 3}}\n")
    base = [sys.executable, "-m", "accelsim", "run", "eyeriss_v1", "-w", "vgg16", "--batch", "3", "--no-sim", "-q"]
    one = subprocess.run(base + ["--layers", "conv4_1", "--mapping", "m.yaml"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    assert one.stdout.splitlines()[0].endswith("| hand-written mapping")
    two = subprocess.run(base + ["--layers", "conv4_1,conv4_2", "--mapping", "m.yaml", "--json"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr
    assert json.loads(two.stdout)["hand_written_mappings"] == ["conv4_1"]
