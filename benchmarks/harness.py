"""Benchmark harness: run a case in a fresh subprocess several times, summarise, print, write JSON.

Each repetition of a case is its own process, so its peak resident memory is the case's alone:
``os.wait4`` returns the rusage of exactly that child (``ru_maxrss``, in KiB on Linux: the
largest single process of the child's tree that was waited for, e.g. the biggest sweep worker).

A case is timed one of two ways (its ``timed`` field):

- ``process``: wall time of the whole process, interpreter start and imports included;
- ``work``: the seconds the case's own timer reports for the measured work only (setup, imports and
  JIT warm-up excluded). Such a case prints one line ``BENCH {json}`` on stdout with ``work_s`` and any
  other numeric metrics (``evals_per_second``, ...); the harness takes each metric's median.

The summary/table/JSON functions are pure and tested on synthetic samples
(tests/test_benchmarks_harness.py); only :func:`measure_once` touches processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_PREFIX = "BENCH "
TIMED = ("process", "work")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]          # "{tmp}" in an argument is replaced by a fresh empty directory per run
    timed: str = "process"         # see TIMED
    note: str = ""
    one_core: bool = False         # pin the child to one CPU and one numba thread
    timeout_s: float = 900.0
    parts: tuple[str, ...] = ()    # one process measures several parts: one row each, name = name.format(part=...)

    def __post_init__(self) -> None:
        if self.timed not in TIMED:
            raise ValueError(f"case {self.name!r}: timed must be one of {TIMED}, got {self.timed!r}")


@dataclass(frozen=True)
class Sample:
    """One repetition of one case."""

    seconds: float                 # the timed quantity (wall of the process, or the case's work_s)
    wall_s: float                  # wall time of the whole process
    cpu_s: float                   # user + system CPU of the process and its waited-for children
    peak_rss_mb: float             # ru_maxrss of the child, MiB
    metrics: dict = field(default_factory=dict)   # numeric metrics the case printed


class CaseFailed(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------- running

def parse_metrics(stdout: str) -> dict:
    """The last ``BENCH {json}`` line of a case's stdout, or {} when it printed none."""
    found: dict = {}
    for line in stdout.splitlines():
        if line.startswith(BENCH_PREFIX):
            found = json.loads(line[len(BENCH_PREFIX):])
    return found


def _child_setup(one_core: bool):
    def setup() -> None:
        if one_core and hasattr(os, "sched_setaffinity"):
            cpus = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cpus[-1]})
    return setup


def measure_once(case: Case, cwd: Path, env: dict | None = None) -> Sample:
    """Run ``case`` once in a fresh process; raise CaseFailed (with its stderr tail) if it fails."""
    tmp = Path(tempfile.mkdtemp(prefix="accelsim-bench-"))
    argv = [a.replace("{tmp}", str(tmp / "out")) for a in case.argv]
    child_env = dict(os.environ if env is None else env)
    if case.one_core:
        child_env.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out_path, err_path = tmp / "stdout", tmp / "stderr"
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=cwd, env=child_env, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=_child_setup(case.one_core))
            timer = threading.Timer(case.timeout_s, _kill_group, (proc.pid,))
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        stdout = out_path.read_text(errors="replace")
        if proc.returncode != 0:
            tail = err_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise CaseFailed(f"{case.name}: exit {proc.returncode}: {' | '.join(tail) or '(no stderr)'}")
        metrics = parse_metrics(stdout)
        if case.timed == "work" and "work_s" not in metrics:
            raise CaseFailed(f"{case.name}: timed by work but printed no {BENCH_PREFIX.strip()} line with work_s")
        seconds = float(metrics["work_s"]) if case.timed == "work" else wall
        return Sample(seconds, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, metrics)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------------------------------------- summary

def summarize(case: Case, samples: list[Sample]) -> dict:
    """One row of results.json: median/min/max of the timed seconds, the peak RSS over the runs,
    and the median of every numeric metric the case printed."""
    if not samples:
        raise ValueError(f"case {case.name!r}: no samples")
    secs = [s.seconds for s in samples]
    row = {
        "name": case.name,
        "median_s": statistics.median(secs),
        "min_s": min(secs),
        "max_s": max(secs),
        "peak_rss_mb": max(s.peak_rss_mb for s in samples),
        "runs": len(samples),
        "timed": case.timed,
        "median_wall_s": statistics.median(s.wall_s for s in samples),
        # CPU seconds of what is timed: the case's work_cpu_s when it reports one, else the process's
        "median_cpu_s": statistics.median(s.metrics.get("work_cpu_s", s.cpu_s) for s in samples),
        "median_process_cpu_s": statistics.median(s.cpu_s for s in samples),
        "samples_s": secs,
        "note": case.note,
    }
    keys = sorted({k for s in samples for k, v in s.metrics.items()
                   if k not in ("work_s", "work_cpu_s") and isinstance(v, (int, float)) and not isinstance(v, bool)})
    metrics = {}
    for k in keys:
        values = [s.metrics[k] for s in samples if k in s.metrics]
        metrics[k] = statistics.median(values)
    if metrics:
        row["metrics"] = metrics
    return row


def summarize_parts(case: Case, samples: list[Sample]) -> list[dict]:
    """Rows of a case whose process measures several parts: part P's seconds are each run's metric
    ``P.run_s`` and its metrics the ``P.<metric>`` entries (the peak RSS is the process's, shared)."""
    rows = []
    for part in case.parts:
        prefix = f"{part}."
        split = [Sample(s.metrics[prefix + "run_s"], s.wall_s, s.cpu_s, s.peak_rss_mb,
                        {k[len(prefix):]: v for k, v in s.metrics.items() if k.startswith(prefix) and k != prefix + "run_s"})
                 for s in samples if prefix + "run_s" in s.metrics]
        if not split:
            raise ValueError(f"case {case.name!r}: no metric {prefix}run_s in its output")
        one = Case(case.name.format(part=part), case.argv, case.timed, case.note, case.one_core, case.timeout_s)
        rows.append(summarize(one, split))
    return rows


def skipped(name: str, reason: str) -> dict:
    return {"name": name, "skipped": reason}


def evals_per_second(rows: list[dict]) -> float:
    """The headline figure: the best one-core cost-model evaluation rate any eval case measured
    (metric ``evals_per_second`` of the cases named ``eval ...``); 0.0 if none ran."""
    rates = [r["metrics"]["evals_per_second"] for r in rows
             if r["name"].startswith("eval") and "evals_per_second" in r.get("metrics", {})]
    return float(max(rates)) if rates else 0.0


def results_doc(rows: list[dict], meta: dict) -> dict:
    measured = [r for r in rows if "skipped" not in r]
    return {
        "schema_version": SCHEMA_VERSION,
        "evals_per_second": evals_per_second(measured),
        "cases": measured,
        "skipped": [r for r in rows if "skipped" in r],
        "meta": meta,
    }


def _fmt_s(x: float) -> str:
    return f"{x:.3f}" if x < 100 else f"{x:.1f}"


def _fmt_metric(rows: dict) -> str:
    m = rows.get("metrics", {})
    if "evals_per_second" in m:
        return f"{m['evals_per_second']:,.0f} evals/s"
    if "cycles" in m:
        return f"{m['cycles']:,.0f} cycles"
    if "evaluated" in m:
        return f"{m['evaluated']:,.0f} mappings"
    return ""


def table(doc: dict) -> str:
    """The printed table: one line per case, then the skipped cases and the headline rate."""
    head = ("case", "timed", "runs", "median_s", "min_s", "max_s", "cpu_s", "peak_rss_mb", "result")
    lines = [head]
    for r in doc["cases"]:
        lines.append((r["name"], r["timed"], str(r["runs"]), _fmt_s(r["median_s"]), _fmt_s(r["min_s"]),
                      _fmt_s(r["max_s"]), _fmt_s(r["median_cpu_s"]), f"{r['peak_rss_mb']:.0f}", _fmt_metric(r)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    right = {2, 3, 4, 5, 6, 7}

    def fmt(line: tuple) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))]
        return "  ".join(cells).rstrip()

    out = [fmt(lines[0]), "  ".join("-" * w for w in widths).rstrip()]
    out += [fmt(line) for line in lines[1:]]
    for s in doc.get("skipped", []):
        out.append(f"skipped: {s['name']}: {s['skipped']}")
    out.append(f"evals_per_second (best one-core cost-model path): {doc['evals_per_second']:,.0f}")
    return "\n".join(out)


def write_results(path: Path, doc: dict) -> None:
    """Write results.json atomically (a temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def run_case(case: Case, reps: int, cwd: Path, log=None) -> list[dict]:
    """Measure ``case`` ``reps`` times: its row(s); a failing run becomes a skipped row naming the error."""
    samples = []
    for i in range(reps):
        try:
            samples.append(measure_once(case, cwd))
        except CaseFailed as e:
            return [skipped(case.name.format(part="*"), f"failed: {e}")]
        if log is not None:
            log(f"  {case.name}: run {i + 1}/{reps}: {samples[-1].seconds:.3f} s")
    try:
        return summarize_parts(case, samples) if case.parts else [summarize(case, samples)]
    except ValueError as e:
        return [skipped(case.name.format(part="*"), str(e))]
