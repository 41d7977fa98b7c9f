"""``accelsim partition``: CoDL-style CPU/GPU co-execution plans, and calibration on this machine.

    accelsim partition SOC --workload W [--workload W2 ...] [--json] [--plot FILE] [--baseline NAME ...]
    accelsim partition calibrate --from LATENCIES.csv SOC
    accelsim partition validate [--from LATENCIES.csv]
    accelsim partition profile [--quick] [--csv FILE] [--threads 1,2] [--seed N]

SOC is a shipped SoC (sd855, sd865, sd888, kirin990) or a YAML path. ``calibrate`` fits kernel-class
efficiencies to measured single-processor model latencies (every SoC of the file jointly; families
share) and prints SOC's ``efficiency`` blocks and the fit's residuals; ``validate`` holds out one model
(and one SoC) at a time and compares predictions with the measured and published figures (default
file: the shipped CoDL table). ``profile`` times real convolutions on this CPU, fits the CPU predictor
and prints its held-out +-10% accuracy next to a FLOPs-only predictor's. With several ``--workload``,
one summary line per workload and the published CoDL averages beside the means.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from accelsim.cli import Command
from accelsim.errors import ConfigError

BASELINE_NAMES = ("cpu_only", "gpu_only", "mulayer")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="SOC|calibrate|validate|profile",
                   help="a shipped SoC (sd855, sd865, sd888, kirin990) or a SoC YAML file to plan on; "
                        "'calibrate' or 'validate' (with --from); or 'profile' to calibrate the CPU predictor "
                        "on this machine")
    p.add_argument("soc", nargs="?", metavar="SOC", help="calibrate: the SoC whose efficiencies to print")
    cal = p.add_argument_group("calibration (calibrate, validate)")
    # nargs "+": argparse cannot give a positional after an option to a second positional, so
    # `calibrate --from FILE SOC` arrives here as [FILE, SOC] (see _calibration_args)
    cal.add_argument("--from", dest="from_file", nargs="+", metavar="LATENCIES.csv",
                     help="measured single-processor latencies: soc,model,processor,ms (validate: default "
                          "the shipped CoDL table, configs/soc/codl_single_processor_ms.csv)")
    plan = p.add_argument_group("planning (SOC)")
    plan.add_argument("--workload", action="append", help="zoo network name or workload file "
                                                          "(repeat for a summary table over several)")
    plan.add_argument("--batch", type=int, default=None, help="override the batch size")
    plan.add_argument("--json", action="store_true", help="print the accelsim.partition/1 JSON document")
    plan.add_argument("--plot", metavar="FILE", help="write the CPU/GPU timeline (PNG) of the CoDL plan "
                                                     "and the compared baselines")
    plan.add_argument("--out", metavar="DIR", help="write DIR/partition.json (the JSON document with every "
                                                   "plan's timeline); `accelsim plot DIR` then draws the Gantt chart")
    plan.add_argument("--baseline", action="append", choices=BASELINE_NAMES, metavar="NAME",
                      help=f"baseline(s) to compare against (repeatable; default all: {', '.join(BASELINE_NAMES)})")
    prof = p.add_argument_group("profiling (profile)")
    prof.add_argument("--quick", action="store_true", help="a small grid that runs in seconds (for tests)")
    prof.add_argument("--csv", metavar="FILE", default="partition_profile.csv",
                      help="measurements CSV to write (default: partition_profile.csv)")
    prof.add_argument("--threads", metavar="LIST", help="comma-separated thread counts (default 1..cores)")
    prof.add_argument("--seed", type=int, default=0, help="seed of the shape grid and the held-out split")


def _thread_counts(text: str | None) -> list[int]:
    from accelsim.partition.local_kernels import max_threads

    limit = max_threads()
    if text is None:
        return list(range(1, limit + 1))
    counts = []
    for part in text.split(","):
        try:
            n = int(part)
        except ValueError:
            raise ConfigError(f"--threads: {part!r} is not an integer; give e.g. 1,2") from None
        if not 1 <= n <= limit:
            raise ConfigError(f"--threads: {n} is out of range; allowed 1..{limit} (this machine's threads)")
        counts.append(n)
    return sorted(set(counts))


def _run_profile(args: argparse.Namespace) -> int:
    from accelsim.partition.calibrate import fit
    from accelsim.partition.measurements import write_csv
    from accelsim.partition.profile import GRIDS, grid, measure

    for flag, value in (("--workload", args.workload), ("--plot", args.plot), ("--baseline", args.baseline),
                        ("--batch", args.batch), ("--out", args.out)):
        if value is not None:
            raise ConfigError(f"{flag} applies to planning, not to 'profile'")
    if args.json:
        raise ConfigError("--json applies to planning, not to 'profile'")
    counts = _thread_counts(args.threads)
    spec = GRIDS["quick" if args.quick else "full"]
    shapes = grid(spec, args.seed)
    start = time.perf_counter()
    rows, sweeps = measure(shapes, counts, spec, seed=args.seed)
    elapsed = time.perf_counter() - start
    path = write_csv(args.csv, rows)
    report = fit(rows, seed=args.seed)
    from accelsim.partition.local_kernels import CONV_IMPLS

    print(f"profiled {len(shapes)} convolution shapes x {len(CONV_IMPLS)} implementations "
          f"({', '.join(CONV_IMPLS)}) x threads {counts} in {elapsed:.1f} s ({sweeps} sweep(s), fastest kept): "
          f"{len(rows)} kernel timings -> {path}")
    print(f"fit on {report.fit_convs} convolution timings, held out {report.test_convs} "
          f"(shapes split with seed {report.seed})")
    print(f"held-out accuracy (share of convolution times predicted within +-10% of measured): "
          f"CoDL-form {100 * report.codl_accuracy:.1f}%   FLOPs-only {100 * report.flops_accuracy:.1f}%")
    print(f"{'implementation':<16}{'held-out':>9}{'CoDL-form':>11}{'FLOPs-only':>12}")
    for impl, codl_acc, flops_acc, n in report.per_impl:
        print(f"{impl:<16}{n:>9}{100 * codl_acc:>10.1f}%{100 * flops_acc:>11.1f}%")
    for t, codl_acc, flops_acc, n in report.per_threads:
        print(f"{f'{t} thread(s)':<16}{n:>9}{100 * codl_acc:>10.1f}%{100 * flops_acc:>11.1f}%")
    print("per kernel (CoDL-form): " + ", ".join(f"{k} {100 * a:.1f}% of {n}" for k, a, n in report.per_kernel))
    by_shape: dict = {}
    for m in rows:
        by_shape.setdefault((m.impl, m.group), {})[m.threads] = m.seconds
    if len(counts) > 1:
        lo, hi = counts[0], counts[-1]
        ratios = sorted(v[lo] / v[hi] for v in by_shape.values() if lo in v and hi in v)
        print(f"measured parallel scaling {lo}->{hi} threads: median {ratios[len(ratios) // 2]:.2f}x "
              f"(ideal {hi / lo:.0f}x; far below it means other processes share these cores)")
    print("fitted t_basicUnit coefficients (ns; const, H, W, IC, OC, red):")
    for km in report.models:
        print(f"  {km.name:<14}" + " ".join(f"{c:10.3f}" for c in km.coef_ns))
    return 0


def _print_plan(result, soc_label: str, baselines: list[str]) -> None:
    from accelsim.partition.report import plan_rows

    codl = result.codl
    print(f"CoDL plan: {result.workload.name} on {result.soc.name} ({soc_label})")
    header = (f"{'layer':<18}{'dim':>5}{'GPU share':>10}{'chain':>12}{'CPU ms':>9}{'GPU ms':>9}{'latency ms':>11}"
              f"  {'CPU kernel':<12}{'GPU kernel':<10}")
    print(header)
    for r in plan_rows(codl):
        chain = "-" if r["chain"] is None else f"{r['chain']} {r['chain_pos']}"
        print(f"{r['layer']:<18}{r['dim']:>5}{r['gpu_share']:>10.1f}{chain:>12}{r['cpu_ms']:>9.3f}{r['gpu_ms']:>9.3f}"
              f"{r['latency_ms']:>11.3f}  {r['cpu_impl']:<12}{r['gpu_impl']:<10}")
    lat = result.latency_ms()
    sharing = result.sharing_ms()
    print(f"total predicted latency: {lat['codl']:.2f} ms (compute {codl.compute_ms:.2f} ms, "
          f"data sharing {sharing['codl']:.2f} ms)")
    if result.cpu_alone:
        print("the whole network runs on the CPU alone: faster than the best plan found that uses the GPU "
              "(per operator, sharing a tensor with the GPU costs more than splitting it wins)")
    print(f"without chains: {lat['codl_no_chains']:.2f} ms (data sharing {sharing['codl_no_chains']:.2f} ms); "
          f"chains saved {result.chain_sharing_saved_ms:.2f} ms of data sharing")
    speed = result.speedup()
    for name in baselines:
        print(f"speedup over {name:<9}: {speed[name]:5.2f}x  ({name} {lat[name]:.2f} ms, "
              f"data sharing {sharing[name]:.2f} ms)")
    co = result.coexecuted()
    h = result.h_share
    h_text = "n/a" if h is None else f"{100 * h:.0f}%"
    chains = result.chains
    print(f"co-executed operators: {len(co)} of {len(result.workload.layers)}; split along H: {h_text}; "
          f"chains: {len(chains)} (lengths {chains if chains else '-'}); "
          f"rows recomputed for chain halos: {result.redundant_rows}")


def _summary(results, soc_label: str, baselines: list[str]) -> None:
    from accelsim.partition.validation import SOC_GROUPS, published, soc_group

    soc = results[0].soc
    print(f"CoDL plans on {soc.name} ({soc_label}): predicted latency (ms) and CoDL's speedup over each baseline")
    head = f"{'workload':<26}{'CoDL':>8}" + "".join(f"{b:>10}" for b in baselines)
    head += "".join(f"{'x' + b:>11}" for b in baselines)
    head += f"{'co-exec':>9}{'along H':>9}{'saved ms':>9}  chains"
    print(head)
    for r in results:
        lat, speed = r.latency_ms(), r.speedup()
        h = "n/a" if r.h_share is None else f"{100 * r.h_share:.0f}%"
        chains = ",".join(str(c) for c in r.chains) or "-"
        line = f"{r.workload.name:<26}{lat['codl']:>8.2f}" + "".join(f"{lat[b]:>10.2f}" for b in baselines)
        line += "".join(f"{speed[b]:>10.2f}x" for b in baselines)
        line += f"{len(r.coexecuted()):>4}/{len(r.workload.layers):<4}{h:>9}{r.chain_sharing_saved_ms:>9.2f}  {chains}"
        print(line)
    mean = {b: sum(r.speedup()[b] for r in results) / len(results) for b in baselines}
    co = [op for r in results for op in r.coexecuted()]
    pooled = "n/a" if not co else f"{100 * sum(op.dim == 'H' for op in co) / len(co):.0f}%"
    pad = " " * (8 + 10 * len(baselines))
    print(f"{'mean (H: pooled)':<26}{pad}" + "".join(f"{mean[b]:>10.2f}x" for b in baselines)
          + f"{len(co):>4}{'':<5}{pooled:>9}")
    paper = published(soc_label)
    if paper is None:
        print(f"CoDL paper: no published averages for {soc_label} (CoDL measured {', '.join(SOC_GROUPS)})")
        return
    title = "CoDL paper (Kirin 990)" if soc_group(soc_label) == "kirin990" else "CoDL paper (Snapdragons)"
    print(f"{title:<26}{pad}" + "".join(f"{paper[b]:>10.2f}x" for b in baselines)
          + f"{'':<9}{100 * paper['h_share']:>8.0f}%")


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse ``--plot`` / ``--out`` paths that cannot be written, after every other argument is checked
    (so a refused command creates no directory) and before anything is planned or printed."""
    from pathlib import Path

    from accelsim.atomic import output_dir, output_file, writable_place
    from accelsim.plots.style import check_plot_path

    if args.plot is not None:
        check_plot_path(output_file(args.plot, "--plot"))
        writable_place(args.plot, "--plot")
    if args.out is not None:
        target = output_file(Path(output_dir(args.out, "--out")) / "partition.json", "--out")
        writable_place(target, "--out")


def _run_plan(args: argparse.Namespace) -> int:
    from accelsim.partition.report import run, to_dict
    from accelsim.partition.soc import load_soc
    from workloads.loader import load_workload

    if args.quick or args.threads:
        raise ConfigError("--quick and --threads apply to 'profile', not to planning")
    if not args.workload:
        raise ConfigError("--workload is required (a zoo network name or a workload file)")
    if (args.plot is not None or args.out is not None) and len(args.workload) > 1:
        raise ConfigError(f"{'--plot' if args.plot is not None else '--out'} takes one workload's plan; "
                          f"give a single --workload")
    soc = load_soc(args.target)
    workloads = [load_workload(w, args.batch) for w in args.workload]
    _check_outputs(args)
    results = [run(soc, w) for w in workloads]
    baselines = args.baseline or list(BASELINE_NAMES)
    if args.json:
        docs = [to_dict(r, args.target) for r in results]
        json.dump(docs[0] if len(docs) == 1 else docs, sys.stdout, indent=2)
        print()
    elif len(results) == 1:
        _print_plan(results[0], args.target, baselines)
    else:
        _summary(results, args.target, baselines)
    if args.out is not None:
        from pathlib import Path

        from accelsim.atomic import atomic_writer

        out_dir = Path(args.out)
        path = out_dir / "partition.json"
        with atomic_writer(path) as fh:
            fh.write(json.dumps(to_dict(results[0], args.target, timeline=True), indent=2) + "\n")
        if not args.json:
            print(f"plan and timelines written to {path} (draw them: accelsim plot {out_dir})")
    if args.plot is not None:
        from accelsim.partition.timeline import events
        from accelsim.plots.timeline import plot_timeline

        result = results[0]
        plans = [("CoDL", events(result.codl))] + [(name, events(result.plan(name))) for name in baselines]
        out = plot_timeline(plans, f"{result.workload.name} on {soc.name}: CPU/GPU timeline (predicted)", args.plot)
        if not args.json:
            print(f"timeline written to {out}")
    return 0


def _no_plan_flags(args: argparse.Namespace, command: str) -> None:
    for flag, value in (("--workload", args.workload), ("--plot", args.plot), ("--baseline", args.baseline),
                        ("--batch", args.batch), ("--json", args.json), ("--quick", args.quick),
                        ("--threads", args.threads), ("--out", args.out)):
        if value is not None and value is not False:
            raise ConfigError(f"{flag} does not apply to 'partition {command}'")


def _run_calibrate(args: argparse.Namespace) -> int:
    from accelsim.partition.kernel_class import FACTORS
    from accelsim.partition.latencies import PROCESSORS, read_latencies
    from accelsim.partition.soc_fit import MAX_ITERATIONS, check_determined, fit_socs, load_inputs
    from accelsim.partition.validation import median

    _no_plan_flags(args, "calibrate")
    if not args.from_file:
        raise ConfigError("calibrate needs --from LATENCIES.csv (columns soc,model,processor,ms)")
    if not args.soc:
        raise ConfigError("calibrate needs the SoC to calibrate: accelsim partition calibrate --from FILE SOC")
    lats = read_latencies(args.from_file)
    for proc in PROCESSORS:
        if not any(lat.soc == args.soc and lat.processor == proc for lat in lats):
            raise ConfigError(f"no {proc} latency for SoC {args.soc!r}; calibrating a SoC needs measured cpu "
                              f"and gpu latencies of it (SoCs in the file: "
                              f"{', '.join(sorted({lat.soc for lat in lats}))})", source=args.from_file)
    check_determined(lats, str(args.from_file))
    socs, workloads = load_inputs(lats)
    fit = fit_socs(lats, socs, workloads)
    print(f"calibrated from {args.from_file}: {len(lats)} single-processor latencies, {len(socs)} SoC(s), "
          f"{len(workloads)} model(s); {fit.parameters} parameters, regularized to "
          f"{fit.effective_parameters:.1f} effective; {fit.iterations} iterations")
    if not fit.converged:
        print(f"warning: the fit stopped at the iteration limit ({MAX_ITERATIONS}) before converging; "
              f"the efficiencies may not be a minimum")
    print(f"kernel-class factor efficiencies of {args.soc} (a part reaches the product of its factors' share "
          f"of the prior's speed; the SoC file's cpu.efficiency and gpu.efficiency):")
    for proc in PROCESSORS:
        eff = fit.efficiency(args.soc, proc)
        print(f"  {proc}: {{" + ", ".join(f"{c}: {v:.4g}" for c, v in zip(FACTORS, eff)) + "}")
    print("elasticity of the measured speed to the spec sheet (0: follows the spec peak or bandwidth, 1: not at "
          "all): " + ", ".join(f"{p} {kind} {e:.2f}" for p, kind, e in fit.elasticities))
    print("residuals of the fit (every latency in the file; error = predicted / measured - 1):")
    print(f"{'soc':<10}{'model':<26}{'proc':<5}{'measured':>9}{'predicted':>10}{'error':>8}")
    for r in fit.residuals:
        print(f"{r.soc:<10}{r.model:<26}{r.processor:<5}{r.measured_ms:>9.1f}{r.predicted_ms:>10.1f}"
              f"{100 * r.error:>+7.1f}%")
    errors = [abs(r.error) for r in fit.residuals]
    mine = [abs(r.error) for r in fit.residuals if r.soc == args.soc]
    print(f"|error|: median {100 * median(errors):.1f}%, max {100 * max(errors):.1f}% "
          f"({args.soc}: max {100 * max(mine):.1f}%)")
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    from accelsim.partition.latencies import read_latencies, shipped_reference
    from accelsim.partition.soc_fit import load_inputs
    from accelsim.partition.validation import (
        check_holdouts,
        class_share_table,
        coexecution_table,
        latency_table,
        leave_one_model_out,
        leave_one_soc_out,
    )

    _no_plan_flags(args, "validate")
    if args.soc:
        raise ConfigError(f"validate takes no SoC (got {args.soc!r}): it holds out each SoC of the file in turn")
    source = args.from_file or shipped_reference()
    lats = read_latencies(source)
    check_holdouts(lats, str(source))
    socs, workloads = load_inputs(lats)
    lomo = leave_one_model_out(lats, socs, workloads)
    print(latency_table(lomo, "leave one model out: single-processor latencies (ms) of the held-out model"))
    print()
    print(coexecution_table(lomo, "leave one model out: the held-out model's CoDL plan (ms) and speedups"))
    print()
    print(latency_table(leave_one_soc_out(lats, socs, workloads),
                        "leave one SoC out: single-processor latencies (ms) on the held-out SoC"))
    if "sd855" in socs:
        print()
        print(class_share_table(socs["sd855"], workloads, "sd855"))
    return 0


def _calibration_args(args: argparse.Namespace) -> None:
    """Normalise ``--from FILE [SOC]`` into ``args.from_file`` (a path or None) and ``args.soc``."""
    given = args.from_file or []
    if len(given) > 2 or (len(given) == 2 and args.soc):
        raise ConfigError(f"--from takes one latencies file (and the command one SoC); got {' '.join(given)}"
                          + (f" and {args.soc}" if args.soc else ""))
    if len(given) == 2:
        args.soc = given[1]
    args.from_file = given[0] if given else None


def run(args: argparse.Namespace) -> int:
    from accelsim.atomic import output_file, writable_place

    _calibration_args(args)
    if args.target == "profile":
        writable_place(output_file(args.csv, "--csv"), "--csv")
        return _run_profile(args)
    if args.target == "calibrate":
        return _run_calibrate(args)
    if args.target == "validate":
        return _run_validate(args)
    if args.soc or args.from_file:
        raise ConfigError(f"{'--from' if args.from_file else repr(args.soc)}: planning takes one SoC and "
                          f"--workload; calibrate with 'accelsim partition calibrate --from FILE SOC'")
    return _run_plan(args)


COMMAND = Command("partition", "CoDL-style CPU/GPU co-execution planning for mobile SoCs "
                  "(or 'partition profile' to calibrate the CPU predictor here)", configure, run)
