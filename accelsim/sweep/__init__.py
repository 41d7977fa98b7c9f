"""Config-driven sweeps: a sweep file (spec) -> points -> an engine (in process, local pool, Dask)
-> an append-only store (points.jsonl) -> the results table (results.csv). See docs/sweeps.md."""

from accelsim.sweep.results import SweepResults, load_results, write_results_csv
from accelsim.sweep.runner import Summary, run_sweep
from accelsim.sweep.spec import SweepSpec, load_sweep, sweep_from_dict

__all__ = ["SweepResults", "SweepSpec", "Summary", "load_results", "load_sweep", "run_sweep", "sweep_from_dict",
           "write_results_csv"]
