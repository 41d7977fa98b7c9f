"""Run SCALE-Sim (the `scalesim` PyPI package, in the peers' own venv) once per repetition; print
one JSON line ``PEER {...}`` with each run's wall time and each layer's cycles.

    PEER_PYTHON scalesim_side.py --cfg arch.cfg --topology layers.csv --reps 1

Cycles are COMPUTE_REPORT.csv's "Total Cycles" column (compute cycles with stalls, prefetch excluded;
in CALC bandwidth mode there are no stalls). ``reports`` holds, per layer, every column of the last
run's COMPUTE_REPORT, BANDWIDTH_REPORT and DETAILED_ACCESS_REPORT by SCALE-Sim's column name.
Standalone on purpose: the peers' venv has no accelsim.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import sys
import tempfile
import time
from pathlib import Path


def read_compute_report(path: Path) -> list[int]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head = [h.strip() for h in rows[0]]
    col = head.index("Total Cycles")
    return [int(float(r[col])) for r in rows[1:] if r and r[0].strip()]


def read_report(path: Path) -> list[dict[str, float]]:
    """Rows of one SCALE-Sim report as {column: value}, LayerID excluded."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head = [h.strip() for h in rows[0]]
    out = []
    for r in rows[1:]:
        if r and r[0].strip():
            out.append({h: float(v) for h, v in zip(head, r) if h and h != "LayerID" and v.strip()})
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--cfg", required=True)
    p.add_argument("--topology", required=True)
    p.add_argument("--reps", type=int, default=1)
    a = p.parse_args()
    t0 = time.perf_counter()
    from scalesim.scale_sim import scalesim

    import_s = time.perf_counter() - t0
    times, cycles, reports_by_layer = [], [], []
    for _ in range(a.reps):
        with tempfile.TemporaryDirectory() as tmp:
            layout = Path(tmp) / "layout.csv"        # no custom layout: a header-only file
            layout.write_text("Layer name,\n")
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                sim = scalesim(save_disk_space=True, verbose=False, config=a.cfg, topology=a.topology,
                               layout=str(layout), input_type_gemm=False)
                sim.run_scale(top_path=tmp)
            times.append(time.perf_counter() - start)
            reports = sorted(Path(tmp).rglob("COMPUTE_REPORT.csv"))
            cycles = read_compute_report(reports[0])
            reports_by_layer = []
            for name in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
                found = sorted(Path(tmp).rglob(name))
                rows = read_report(found[0]) if found else []
                for i, row in enumerate(rows):
                    if len(reports_by_layer) <= i:
                        reports_by_layer.append({})
                    reports_by_layer[i].update(row)
    from importlib.metadata import version

    print("PEER " + json.dumps({"peer": "scalesim", "version": version("scalesim"), "import_s": import_s,
                                "times_s": times, "cycles": cycles,
                                "reports": reports_by_layer}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
