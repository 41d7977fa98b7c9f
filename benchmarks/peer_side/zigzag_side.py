"""Run ZigZag (zigzag-dse, in the peers' own venv) on conv layers; print one JSON line.

    PEER_PYTHON zigzag_side.py --layers layers.json --example eyeriss_like --reps 1

``layers.json`` is a list of {name, K, C, P, Q, R, S, stride, pad} (ungrouped conv layers). The
accelerator and mapping are ZigZag's own shipped examples (zigzag/inputs/hardware/<example>.yaml
and zigzag/inputs/mapping/<mapping>.yaml). Printed: per layer ZigZag's energy (pJ) and latency
(cycles) of the mapping its LOMA search picks (opt=energy), and the wall time of each repetition.
Standalone on purpose: the peers' venv has no accelsim.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

MAPPING_OF = {"eyeriss_like": "default", "tpu_like": "tpu_like"}


def zigzag_layers(layers: list[dict]) -> list[dict]:
    out = []
    for i, lay in enumerate(layers):
        s = lay["stride"]
        out.append({
            "id": i,
            "name": lay["name"],
            "operator_type": "Conv",
            "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
            "dimension_relations": [f"ix={s}*ox+1*fx", f"iy={s}*oy+1*fy"],
            "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
            "loop_sizes": [1, lay["K"], lay["C"], lay["P"], lay["Q"], lay["R"], lay["S"]],
            "operand_precision": {"I": 8, "W": 8, "O": 16, "O_final": 8},
            "operand_source": {"I": i},
            "pr_loop_dims": ["IX", "IY"],
            "pr_loop_sizes": [lay["W"], lay["H"]],
            "padding": [[lay["pad"], lay["pad"]], [lay["pad"], lay["pad"]]],
        })
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--layers", required=True)
    p.add_argument("--example", required=True, choices=sorted(MAPPING_OF))
    p.add_argument("--reps", type=int, default=1)
    a = p.parse_args()
    t0 = time.perf_counter()
    import zigzag
    from zigzag.api import get_hardware_performance_zigzag

    import_s = time.perf_counter() - t0
    logging.disable(logging.CRITICAL)
    root = Path(zigzag.__file__).parent / "inputs"
    hw = str(root / "hardware" / f"{a.example}.yaml")
    mapping = str(root / "mapping" / f"{MAPPING_OF[a.example]}.yaml")
    layers = json.loads(Path(a.layers).read_text())
    workload = zigzag_layers(layers)
    times, per_layer = [], []
    for _ in range(a.reps):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                energy, latency, cmes = get_hardware_performance_zigzag(
                    workload, hw, mapping, opt="energy", dump_folder=tmp, loma_show_progress_bar=False)
            times.append(time.perf_counter() - start)
        per_layer = []
        for cme, _extra in cmes[0][1]:
            per_layer.append({"name": str(cme.layer.name), "energy_pj": float(cme.energy_total),
                              "cycles": float(cme.latency_total2), "macs": int(cme.layer.total_mac_count)})
    print("PEER " + json.dumps({"peer": "zigzag", "version": zigzag_version(), "example": a.example,
                                "import_s": import_s, "times_s": times, "layers": per_layer,
                                "energy_pj": float(energy), "cycles": float(latency)}))
    return 0


def zigzag_version() -> str:
    from importlib.metadata import version

    return version("zigzag-dse")


if __name__ == "__main__":
    sys.exit(main())
