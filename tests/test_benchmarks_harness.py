"""The benchmark harness's summary, table and JSON writer on synthetic samples (no timing is run
or asserted: benchmarks are not timed tests)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "benchmarks" / "harness.py"


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("accelsim_bench_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up while building
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _samples(h, seconds, rss, metrics=None):
    return [h.Sample(s, s + 0.5, s / 2, r, dict(m)) for s, r, m in zip(seconds, rss, metrics or [{}] * len(seconds))]


def test_summary_arithmetic_and_json_schema(harness, tmp_path):
    h = harness
    # even count: median = mean of the two middle values, (2.0 + 3.0) / 2 = 2.5
    a = h.Case("eval python", ("x",), "work")
    row_a = h.summarize(a, _samples(h, [3.0, 1.0, 10.0, 2.0], [40.0, 55.5, 41.0, 39.0],
                                    [{"work_s": 3.0, "evals_per_second": 100.0},
                                     {"work_s": 1.0, "evals_per_second": 300.0},
                                     {"work_s": 10.0, "evals_per_second": 30.0},
                                     {"work_s": 2.0, "evals_per_second": 150.0}]))
    assert (row_a["median_s"], row_a["min_s"], row_a["max_s"]) == (2.5, 1.0, 10.0)
    assert row_a["peak_rss_mb"] == 55.5                    # the largest of the four runs
    assert row_a["metrics"] == {"evals_per_second": 125.0}  # (100 + 150) / 2; work_s is not a metric
    # wall = s + 0.5 and cpu = s / 2 per sample: medians 3.0 and 1.25
    assert row_a["median_wall_s"] == 3.0 and row_a["median_cpu_s"] == 1.25
    # odd count: the middle value
    b = h.Case("eval batch", ("x",), "work")
    row_b = h.summarize(b, _samples(h, [0.7, 0.2, 0.4], [10.0, 12.0, 11.0],
                                    [{"evals_per_second": 5e6}, {"evals_per_second": 4e6}, {"evals_per_second": 1e6}]))
    assert (row_b["median_s"], row_b["min_s"], row_b["max_s"]) == (0.4, 0.2, 0.7)
    c = h.Case("run alexnet", ("x",), "process")
    row_c = h.summarize(c, _samples(h, [0.9], [20.0]))
    assert "metrics" not in row_c

    doc = h.results_doc([row_a, row_b, row_c, h.skipped("sweep", "not installed")], {"mode": "quick"})
    assert doc["evals_per_second"] == 4e6                   # best eval rate: median of row_b
    out = tmp_path / "sub" / "results.json"
    h.write_results(out, doc)
    back = json.loads(out.read_text())
    assert isinstance(back["evals_per_second"], float)
    assert [c["name"] for c in back["cases"]] == ["eval python", "eval batch", "run alexnet"]
    for case in back["cases"]:
        assert {"name", "median_s", "min_s", "max_s", "peak_rss_mb"} <= set(case)
        assert all(isinstance(case[k], float) for k in ("median_s", "min_s", "max_s", "peak_rss_mb"))
        assert case["min_s"] <= case["median_s"] <= case["max_s"]
    assert back["skipped"] == [{"name": "sweep", "skipped": "not installed"}]
    assert list(tmp_path.joinpath("sub").iterdir()) == [out]  # no temp file left behind

    text = h.table(back)
    lines = text.splitlines()
    assert lines[0].split()[:8] == ["case", "timed", "runs", "median_s", "min_s", "max_s", "cpu_s", "peak_rss_mb"]
    assert any(line.startswith("eval python") and "2.500" in line and "10.000" in line for line in lines)
    assert "skipped: sweep: not installed" in text
    assert "4,000,000" in lines[-1]


def test_metrics_line_and_bad_input(harness):
    h = harness
    out = 'progress\nBENCH {"work_s": 1.5}\nnoise\nBENCH {"work_s": 2.5, "cycles": 7}\n'
    assert h.parse_metrics(out) == {"work_s": 2.5, "cycles": 7}   # the last BENCH line wins
    assert h.parse_metrics("no metrics here\n") == {}
    with pytest.raises(ValueError):
        h.summarize(h.Case("x", ("x",)), [])
    with pytest.raises(ValueError):
        h.Case("x", ("x",), "cpu")


def test_parts_split_one_process_into_rows(harness):
    h = harness
    case = h.Case("eval {part}", ("x",), "work", parts=("numba", "batch"))
    samples = [h.Sample(9.0, 10.0, 8.0, rss, {"work_s": 9.0, "numba.run_s": n, "numba.evals_per_second": rn,
                                              "batch.run_s": b, "batch.evals_per_second": rb, "batch.work_cpu_s": b / 2})
               for rss, n, rn, b, rb in ((100.0, 0.3, 10.0, 0.02, 1e6), (120.0, 0.1, 30.0, 0.04, 5e5),
                                         (110.0, 0.2, 20.0, 0.01, 2e6))]
    numba, batch = h.summarize_parts(case, samples)
    assert numba["name"] == "eval numba" and batch["name"] == "eval batch"
    assert (numba["median_s"], numba["min_s"], numba["max_s"]) == (0.2, 0.1, 0.3)
    assert (batch["median_s"], batch["min_s"], batch["max_s"]) == (0.02, 0.01, 0.04)
    assert numba["metrics"] == {"evals_per_second": 20.0} and batch["metrics"] == {"evals_per_second": 1e6}
    assert batch["median_cpu_s"] == 0.01                  # median of b / 2 = (0.01, 0.02, 0.005)
    assert numba["median_cpu_s"] == 8.0                   # no part CPU: the process's
    assert numba["peak_rss_mb"] == batch["peak_rss_mb"] == 120.0
    assert h.results_doc([numba, batch], {})["evals_per_second"] == 1e6


def test_run_writes_the_packages_bytecode_before_timing(tmp_path, monkeypatch):
    """benchmarks/run.py's compile_sources: every module of the listed packages gets its .pyc (so a
    timed process does not compile what it imports when PYTHONDONTWRITEBYTECODE is set), others not."""
    monkeypatch.syspath_prepend(str(HARNESS.parent))
    spec = importlib.util.spec_from_file_location("accelsim_bench_run", HARNESS.parent / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    (tmp_path / "accelsim" / "sub").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    mods = [tmp_path / "accelsim" / "a.py", tmp_path / "accelsim" / "sub" / "b.py", tmp_path / "elsewhere" / "c.py"]
    for m in mods:
        m.write_text("X = 1\n")
    assert run.compile_sources(tmp_path).startswith("compiled")
    assert [Path(importlib.util.cache_from_source(str(m))).exists() for m in mods] == [True, True, False]
    (tmp_path / "accelsim" / "bad.py").write_text("def (:\n")
    with pytest.raises(SystemExit):
        run.compile_sources(tmp_path)


def test_bench_nest_labels_the_fixed_view_and_prints_no_kernel_ratio_without_fixed(monkeypatch, capsys):
    """Without --fixed, bench_nest's fixed row is count_batch on the general kernel: it is named so,
    and no general / fixed ratio (of a kernel against itself) is printed. The row counts equal."""
    spec = importlib.util.spec_from_file_location("accelsim_bench_nest", HARNESS.parent / "bench_nest.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, "argv", ["bench_nest.py", "--n", "8", "--rounds", "1"])
    bench.main()
    out = capsys.readouterr().out
    rows = [line.split()[0] if not line.startswith(bench.FIXED_VIEW) else bench.FIXED_VIEW
            for line in out.splitlines()[2:]]
    assert rows == [bench.FIXED_VIEW, "general", "generic", "general+score"]
    assert "8 legal nest cases (8 with equal fixed/general counts, 0 left to Python)" in out
    assert "/ fixed" not in out
