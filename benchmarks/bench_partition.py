"""Speed of the CoDL planner: ``python benchmarks/bench_partition.py [--reps N]``.

For each of CoDL's five models on each shipped SoC, times ``accelsim.partition.report.run`` (every
planner: CoDL with chains, CoDL without chains, CPU-only, GPU-only, muLayer-like) in this process,
after one untimed warm-up run, and prints the best of ``--reps`` wall and CPU seconds (CPU seconds do
not grow with other processes' load). Then the calibration from the reference table (``fit_socs``),
and the whole ``accelsim partition SOC --workload W`` command in a fresh process (start-up included).
The target (issue #15): under 2 s per model and SoC. Not a timed test: run it by hand, with ``uptime``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

MODELS = ("codl_retinaface", "codl_yolov2", "codl_vgg16", "codl_posenet", "codl_fast_style_transfer")
SOCS = ("sd855", "sd865", "sd888", "kirin990")
TARGET_S = 2.0


def _best(fn, reps: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="timed repetitions per case (best kept; default 3)")
    args = p.parse_args(argv)

    from accelsim.partition.latencies import read_latencies, shipped_reference
    from accelsim.partition.report import run
    from accelsim.partition.soc import load_soc
    from accelsim.partition.soc_fit import fit_socs, load_inputs
    from workloads.loader import load_workload

    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"on {os.cpu_count()} CPUs; best of {args.reps}")
    print(f"{'model':<26}" + "".join(f"{s:>18}" for s in SOCS))
    worst = 0.0
    for model in MODELS:
        w = load_workload(model)
        cells = []
        for soc_name in SOCS:
            soc = load_soc(soc_name)
            run(soc, w)                                   # warm-up (imports, caches)
            wall, cpu = _best(lambda soc=soc, w=w: run(soc, w), args.reps)
            worst = max(worst, cpu)
            cells.append(f"{wall:7.3f} s ({cpu:5.3f})")
        print(f"{model:<26}" + "".join(f"{c:>18}" for c in cells))
    print(f"planning (all five planners), wall s (CPU s); slowest CPU time {worst:.3f} s: "
          f"{'under' if worst < TARGET_S else 'OVER'} the {TARGET_S:.0f} s target")
    lats = read_latencies(shipped_reference())
    socs, workloads = load_inputs(lats)
    wall, cpu = _best(lambda: fit_socs(lats, socs, workloads), args.reps)
    print(f"calibration of the four SoCs from the reference table (fit_socs): {wall:.3f} s wall ({cpu:.3f} CPU)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "accelsim", "partition", "sd855", "--workload", "codl_retinaface"],
                          capture_output=True, text=True, check=False)
    print(f"accelsim partition sd855 --workload codl_retinaface (fresh process): "
          f"{time.perf_counter() - start:.3f} s wall, exit {proc.returncode}")
    return 0 if worst < TARGET_S and proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
