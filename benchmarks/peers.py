"""accelsim side by side with the peers a user would pick instead: SCALE-Sim and ZigZag.

    python benchmarks/peers.py --peer-python /tmp/peers-venv/bin/python [--quick] [--layers CONV3,CONV5]

The peers live in a separate virtual environment (never accelsim's), named by --peer-python or
$ACCELSIM_PEER_PYTHON; a peer that is not importable there is skipped with a message. Each peer
runs as a whole process through benchmarks/peer_side/*.py; accelsim runs as `accelsim run`
processes in this interpreter's environment. Same layers on both sides: AlexNet CONV1-5 in SCALE-Sim's
topology form (benchmarks/peer_data/alexnet_conv.csv: padding folded into the IFMAP size, no groups).

SCALE-Sim (systolic OS/WS/IS, 32x32 and 12x14; its CALC bandwidth mode, so no stalls): cycles ratio
accelsim/SCALE-Sim per layer set for three accelsim figures -- ideal cycles (--no-sim) and simulated
cycles on configs/systolic_32x32_<df>.yaml (benchmarks/archs/systolic_12x14_<df>.yaml), and simulated
cycles on the very .cfg file SCALE-Sim ran (accelsim reads SCALE-Sim .cfg files, with SCALE-Sim 3.0's
timing convention and its fixed scalesim_* mappings; also timed against SCALE-Sim: cfg_time_ratio).
ZigZag (its eyeriss_like and tpu_like examples, LOMA mapping search for energy):
energy ratio accelsim/ZigZag with accelsim's mapping searched for energy on the nearest accelsim arch
(benchmarks/archs/zigzag_<example>.yaml). Time ratio: peer wall / accelsim wall, whole processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOPOLOGY = HERE / "peer_data" / "alexnet_conv.csv"
ARCHS = HERE / "archs"
SIDE = HERE / "peer_side"
DEFAULT_LAYERS = "CONV1,CONV2,CONV3,CONV4,CONV5"
QUICK_LAYERS = "CONV5"
SCALESIM_ARRAYS = ((32, 32), (12, 14))
SCALESIM_DATAFLOWS = ("os", "ws", "is")
ZIGZAG_EXAMPLES = ("eyeriss_like", "tpu_like")

# SCALE-Sim 3.0 reads every one of these keys (scalesim/scale_config.py); values not under test are
# its shipped example's. Dataflow and array size vary; CALC: DRAM bandwidth sized so nothing stalls.
SCALESIM_CFG = """[general]
run_name = accelsim_bench_{rows}x{cols}_{df}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 64
FilterSramSzkB: 64
OfmapSramSzkB: 64
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {df}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


# ---------------------------------------------------------------------------------------------- inputs

def read_topology(path: Path, names: list[str]) -> list[dict]:
    """Rows of a SCALE-Sim conv topology CSV as {name, H, W, R, S, C, K, stride, P, Q, pad}."""
    rows = []
    for line in path.read_text().splitlines()[1:]:
        cells = [c.strip() for c in line.split(",") if c.strip()]
        if not cells:
            continue
        name, h, w, r, s, c, k, stride = cells[0], *map(int, cells[1:8])
        rows.append({"name": name, "H": h, "W": w, "R": r, "S": s, "C": c, "K": k, "stride": stride,
                     "P": (h - r) // stride + 1, "Q": (w - s) // stride + 1, "pad": 0})
    by_name = {r["name"]: r for r in rows}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise SystemExit(f"peers.py: --layers: no layer(s) {missing} in {path}; layers: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def write_topology(layers: list[dict], path: Path) -> None:
    lines = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"]
    lines += [f"{x['name']}, {x['H']}, {x['W']}, {x['R']}, {x['S']}, {x['C']}, {x['K']}, {x['stride']}," for x in layers]
    path.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------- running

def peer_has(python: str, module: str) -> str:
    """'' if ``module`` imports under ``python``, else the last line of the error."""
    try:
        proc = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return "" if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["import failed"])[-1]


def _children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def timed(cmd: list[str], prefix: str | None = None) -> tuple[tuple[float, float], dict | None, str]:
    """Run ``cmd``; ((wall s, CPU s of the process), the JSON after ``prefix`` (or the whole stdout
    as JSON), error). CPU seconds: what the run costs whatever else loads the machine."""
    cpu0 = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    spent = (time.perf_counter() - start, _children_cpu() - cpu0)
    if proc.returncode != 0:
        return spent, None, (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    if prefix is None:
        return spent, json.loads(proc.stdout), ""
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(prefix):
            return spent, json.loads(line[len(prefix):]), ""
    return spent, None, f"no {prefix.strip()} line in the output"


def accelsim_cmd() -> list[str]:
    script = Path(sys.executable).with_name("accelsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "accelsim"]


def ours(arch: str, topo: Path, reps: int, *extra: str) -> dict:
    """accelsim run as whole processes: median wall and the stats.json of the last run."""
    cmd = [*accelsim_cmd(), "run", arch, "-w", str(topo), "--json", "-q", *extra]
    walls, cpus, doc = [], [], None
    for _ in range(reps):
        (wall, cpu), doc, err = timed(cmd)
        if doc is None:
            return {"error": f"{' '.join(cmd)}: {err}"}
        walls.append(wall)
        cpus.append(cpu)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "walls_s": walls,
            "layers": doc["layers"], "totals": doc["totals"]}


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def compare_scalesim(python: str, layers: list[dict], topo: Path, tmp: Path, reps: int, peer_reps: int,
                     arrays=SCALESIM_ARRAYS, dataflows=SCALESIM_DATAFLOWS, reuse: dict | None = None) -> list[dict]:
    """``reuse``: an earlier peers.json; SCALE-Sim's figures for the same array, dataflow and layers are
    taken from it instead of running SCALE-Sim again (only accelsim's side is rerun)."""
    earlier = {(r["array"], r["dataflow"], tuple(r["layers"])): r for r in (reuse or {}).get("scalesim", [])
               if "scalesim_cycles" in r}
    out = []
    for rows, cols in arrays:
        for df in dataflows:
            cfg = tmp / f"scalesim_{rows}x{cols}_{df}.cfg"
            cfg.write_text(SCALESIM_CFG.format(rows=rows, cols=cols, df=df))
            arch = (f"systolic_{rows}x{cols}_{df}" if (rows, cols) == (32, 32)
                    else str(ARCHS / f"systolic_{rows}x{cols}_{df}.yaml"))
            row = {"peer": "scalesim", "array": f"{rows}x{cols}", "dataflow": df, "arch": arch,
                   "layers": [x["name"] for x in layers]}
            old = earlier.get((f"{rows}x{cols}", df, tuple(x["name"] for x in layers)))
            if old is not None:
                (wall, cpu), err = (old["scalesim_wall_s"], old["scalesim_cpu_s"]), ""
                peer = {"version": old["scalesim_version"], "cycles": old["scalesim_cycles"],
                        "times_s": [old["scalesim_sim_s"]], "reports": old.get("scalesim_reports")}
                row["scalesim_reused"] = True
            else:
                (wall, cpu), peer, err = timed([python, str(SIDE / "scalesim_side.py"), "--cfg", str(cfg),
                                                "--topology", str(topo), "--reps", str(peer_reps)], "PEER ")
            if peer is None:
                row["error"] = f"SCALE-Sim: {err}"
                out.append(row)
                continue
            ideal = ours(arch, topo, reps, "--no-sim")
            sim = ours(arch, topo, reps)
            same_cfg = ours(str(cfg), topo, reps)
            peer_cycles = sum(peer["cycles"])
            row.update({
                "scalesim_version": peer["version"],
                "scalesim_wall_s": wall, "scalesim_cpu_s": cpu, "scalesim_sim_s": statistics.median(peer["times_s"]),
                "scalesim_cycles": peer["cycles"],
            })
            if peer.get("reports"):      # every column of SCALE-Sim's three reports, per layer
                row["scalesim_reports"] = peer["reports"]
            for key, run in (("ideal", ideal), ("sim", sim), ("cfg_sim", same_cfg)):
                if "error" in run:
                    row[f"{key}_error"] = run["error"]
                    continue
                cycles = [x["cycles"] if key != "ideal" else x["ideal_cycles"] for x in run["layers"]]
                row[f"accelsim_{key}_cycles"] = cycles
                row[f"accelsim_{key}_wall_s"] = run["wall_s"]
                row[f"accelsim_{key}_cpu_s"] = run["cpu_s"]
                row[f"cycles_ratio_{key}"] = ratio(sum(cycles), peer_cycles)
                row[f"cycles_ratio_{key}_per_layer"] = [ratio(a, b) for a, b in zip(cycles, peer["cycles"])]
            if "accelsim_sim_wall_s" in row:
                row["time_ratio"] = ratio(wall, row["accelsim_sim_wall_s"])
                row["cpu_ratio"] = ratio(cpu, row["accelsim_sim_cpu_s"])
            if "accelsim_cfg_sim_wall_s" in row:       # the very run SCALE-Sim made, on its .cfg
                row["cfg_time_ratio"] = ratio(wall, row["accelsim_cfg_sim_wall_s"])
                row["cfg_cpu_ratio"] = ratio(cpu, row["accelsim_cfg_sim_cpu_s"])
            out.append(row)
    return out


def compare_zigzag(python: str, layers: list[dict], topo: Path, tmp: Path, reps: int, peer_reps: int,
                   budget: int) -> list[dict]:
    spec = tmp / "zigzag_layers.json"
    spec.write_text(json.dumps(layers))
    out = []
    for example in ZIGZAG_EXAMPLES:
        arch = str(ARCHS / f"zigzag_{example}.yaml")
        row = {"peer": "zigzag", "example": example, "arch": arch, "layers": [x["name"] for x in layers]}
        (wall, cpu), peer, err = timed([python, str(SIDE / "zigzag_side.py"), "--layers", str(spec), "--example", example,
                                 "--reps", str(peer_reps)], "PEER ")
        if peer is None:
            row["error"] = f"ZigZag: {err}"
            out.append(row)
            continue
        budget_args = ("--search-budget", str(budget)) if budget else ()
        run = ours(arch, topo, reps, "--no-sim", "--search", "--objective", "energy", *budget_args)
        row.update({"zigzag_version": peer["version"], "zigzag_wall_s": wall, "zigzag_cpu_s": cpu,
                    "zigzag_eval_s": statistics.median(peer["times_s"]),
                    "zigzag_energy_pj": [x["energy_pj"] for x in peer["layers"]],
                    "zigzag_cycles": [x["cycles"] for x in peer["layers"]]})
        if "error" in run:
            row["accelsim_error"] = run["error"]
            out.append(row)
            continue
        energy = [x["energy_pj"] for x in run["layers"]]
        row.update({
            "accelsim_energy_pj": energy, "accelsim_wall_s": run["wall_s"], "accelsim_budget": budget or "default",
            "energy_ratio": ratio(sum(energy), sum(row["zigzag_energy_pj"])),
            "energy_ratio_per_layer": [ratio(a, b) for a, b in zip(energy, row["zigzag_energy_pj"])],
            "time_ratio": ratio(wall, run["wall_s"]),
            "cpu_ratio": ratio(cpu, run["cpu_s"]),
            "accelsim_cpu_s": run["cpu_s"],
        })
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------------- report

def _r(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def table(doc: dict) -> str:
    lines = []
    for msg in doc.get("skipped", []):
        lines.append(f"skipped: {msg}")
    sc = [r for r in doc.get("scalesim", [])]
    if sc:
        lines.append(f"SCALE-Sim {next((r['scalesim_version'] for r in sc if 'scalesim_version' in r), '?')} vs accelsim "
                     f"({', '.join(sc[0]['layers'])}): cycles ratio accelsim / SCALE-Sim, time ratio SCALE-Sim / accelsim")
        head = ("array", "df", "scalesim_cycles", "ideal/ss", "sim/ss", "cfg_sim/ss", "scalesim_s", "accelsim_s",
                "time_ratio", "cpu_ratio", "cfg_s", "cfg_time_ratio", "cfg_cpu_ratio")
        body = []
        for r in sc:
            if "error" in r:
                body.append((r["array"], r["dataflow"], r["error"], *[""] * 10))
                continue
            body.append((r["array"], r["dataflow"], f"{sum(r['scalesim_cycles']):,}", _r(r.get("cycles_ratio_ideal")),
                         _r(r.get("cycles_ratio_sim")), _r(r.get("cycles_ratio_cfg_sim")),
                         f"{r['scalesim_wall_s']:.1f}", f"{r.get('accelsim_sim_wall_s', float('nan')):.2f}",
                         f"{r.get('time_ratio') or float('nan'):.0f}x", f"{r.get('cpu_ratio') or float('nan'):.0f}x",
                         f"{r.get('accelsim_cfg_sim_wall_s', float('nan')):.2f}",
                         f"{r.get('cfg_time_ratio') or float('nan'):.0f}x", f"{r.get('cfg_cpu_ratio') or float('nan'):.0f}x"))
        lines += _grid(head, body)
    parity = [r for r in sc if "accelsim_cfg_sim_cycles" in r]
    if parity:
        lines.append("")
        lines.append("Per layer on SCALE-Sim's own .cfg (CALC): accelsim's cycles (scalesim_* mappings, SCALE-Sim 3.0 "
                     "timing) / SCALE-Sim's Total Cycles")
        head = ("array", "df", *(f"{name} accelsim / SCALE-Sim" for name in parity[0]["layers"]), "equal")
        body = []
        for r in parity:
            pairs = list(zip(r["accelsim_cfg_sim_cycles"], r["scalesim_cycles"]))
            body.append((r["array"], r["dataflow"], *(f"{a:,} / {b:,}" for a, b in pairs),
                         f"{sum(a == b for a, b in pairs)}/{len(pairs)}"))
        lines += _grid(head, body)
        lines.append("")
    zz = doc.get("zigzag", [])
    if zz:
        lines.append(f"ZigZag {next((r['zigzag_version'] for r in zz if 'zigzag_version' in r), '?')} vs accelsim "
                     f"({', '.join(zz[0]['layers'])}): energy ratio accelsim / ZigZag, time ratio ZigZag / accelsim")
        head = ("example", "zigzag_pJ", "accelsim_pJ", "energy_ratio", "zigzag_s", "accelsim_s", "time_ratio",
                "cpu_ratio")
        body = []
        for r in zz:
            if "error" in r or "accelsim_error" in r:
                body.append((r["example"], r.get("error") or r.get("accelsim_error"), "", "", "", "", "", ""))
                continue
            body.append((r["example"], f"{sum(r['zigzag_energy_pj']):.4g}", f"{sum(r['accelsim_energy_pj']):.4g}",
                         _r(r["energy_ratio"]), f"{r['zigzag_wall_s']:.1f}", f"{r['accelsim_wall_s']:.2f}",
                         f"{r['time_ratio']:.1f}x", f"{r['cpu_ratio']:.1f}x"))
        lines += _grid(head, body)
    return "\n".join(lines)


def _grid(head: tuple, body: list[tuple]) -> list[str]:
    rows = [head, *body]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    fmt = lambda r: "  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return [fmt(head).rstrip(), "  ".join("-" * w for w in widths)] + [fmt(r).rstrip() for r in body]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="accelsim vs SCALE-Sim and ZigZag: time and agreement ratios")
    p.add_argument("--peer-python", default=os.environ.get("ACCELSIM_PEER_PYTHON"),
                   help="python of the separate venv holding scalesim / zigzag-dse (default $ACCELSIM_PEER_PYTHON)")
    p.add_argument("--quick", action="store_true",
                   help=f"layer {QUICK_LAYERS} only, one repetition, SCALE-Sim on the 32x32 WS array only "
                        "(SCALE-Sim takes about a minute per layer and array)")
    p.add_argument("--layers", help=f"comma-separated layers of {TOPOLOGY.name} (default {DEFAULT_LAYERS})")
    p.add_argument("--only", choices=("scalesim", "zigzag"), help="one peer only")
    p.add_argument("--reps", type=int, default=None, help="accelsim runs per figure (median; default 3, quick 1)")
    p.add_argument("--peer-reps", type=int, default=1, help="peer runs per figure (default 1: they are slow)")
    p.add_argument("--search-budget", type=int, default=None,
                   help="accelsim's mapping search budget vs ZigZag (default: accelsim's own default)")
    p.add_argument("--reuse-scalesim", metavar="PEERS_JSON",
                   help="take SCALE-Sim's figures from an earlier peers.json (same arrays and layers): rerun accelsim only")
    p.add_argument("--json-out", default=str(HERE / "peers.json"), help="where to write the JSON (default benchmarks/peers.json)")
    a = p.parse_args(argv)
    names = (a.layers or (QUICK_LAYERS if a.quick else DEFAULT_LAYERS)).split(",")
    reps = a.reps or (1 if a.quick else 3)
    doc: dict = {"layers": names, "skipped": []}
    if not a.peer_python:
        doc["skipped"].append("no peer environment: pass --peer-python or set ACCELSIM_PEER_PYTHON "
                              "(python -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install scalesim zigzag-dse)")
    else:
        layers = read_topology(TOPOLOGY, names)
        with tempfile.TemporaryDirectory() as t:
            tmp = Path(t)
            topo = tmp / "layers.csv"
            write_topology(layers, topo)
            for peer, module in (("scalesim", "scalesim.scale_sim"), ("zigzag", "zigzag.api")):
                if a.only and a.only != peer:
                    continue
                missing = peer_has(a.peer_python, module)
                if missing:
                    doc["skipped"].append(f"{peer}: not importable by {a.peer_python}: {missing}")
                    continue
                print(f"running {peer} ...", file=sys.stderr, flush=True)
                if peer == "scalesim":
                    arrays, flows = ((SCALESIM_ARRAYS[:1], ("ws",)) if a.quick
                                     else (SCALESIM_ARRAYS, SCALESIM_DATAFLOWS))
                    reuse = json.loads(Path(a.reuse_scalesim).read_text()) if a.reuse_scalesim else None
                    doc["scalesim"] = compare_scalesim(a.peer_python, layers, topo, tmp, reps, a.peer_reps,
                                                       arrays, flows, reuse)
                else:
                    doc["zigzag"] = compare_zigzag(a.peer_python, layers, topo, tmp, reps, a.peer_reps,
                                                   a.search_budget)
    out = Path(a.json_out)
    if a.only and out.exists():               # keep the other peer's figures from the earlier file
        earlier = json.loads(out.read_text())
        for peer in ("scalesim", "zigzag"):
            if peer != a.only and peer in earlier:
                doc[peer] = earlier[peer]
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
