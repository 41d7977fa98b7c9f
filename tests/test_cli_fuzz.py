"""CLI fuzzing, in process: every subcommand (found from the parser, so new ones are covered) with
random and hostile flag values (negative, zero, huge, empty, malformed lists and ranges, paths that
are files, below files, missing or directories) and random small config files. Every outcome is
success or exit 2 with exactly one stderr line; never a traceback, never an uncaught exception,
never exit 1 (a sweep whose points failed on their settings exits 2 too, after running the rest).

The suite runs ``FUZZ_EXAMPLES`` cases per subcommand (modest, for CI); set ACCELSIM_FUZZ_EXAMPLES
to run more, e.g. ``ACCELSIM_FUZZ_EXAMPLES=250 pytest -n 0 tests/test_cli_fuzz.py`` (~2,000 cases).
Not fuzzed: ``--dask`` (it starts or dials a cluster, seconds per case; tests/test_sweep_engines.py
covers it) and ``partition profile`` beyond ``--quick`` (a full calibration takes minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.cli import build_parser, main
from tests.conftest import REPO

FUZZ_EXAMPLES = int(os.environ.get("ACCELSIM_FUZZ_EXAMPLES", "8"))
NOT_FUZZED = {"--dask"}
SLOWEST: list[tuple[float, list[str]]] = []      # (seconds, argv) of the slowest cases, for the report
OUTCOMES: dict[str, int] = {}                     # "command exit-status" -> cases


@pytest.fixture(scope="module", autouse=True)
def _report():
    """With ACCELSIM_FUZZ_REPORT=FILE, write the case count per outcome and the slowest cases there."""
    yield
    target = os.environ.get("ACCELSIM_FUZZ_REPORT")
    if target:
        lines = [f"{k}: {v}" for k, v in sorted(OUTCOMES.items())] + [f"total: {sum(OUTCOMES.values())}"]
        lines += [f"slow {t:.2f} s: {argv}" for t, argv in SLOWEST]
        Path(target).write_text("\n".join(lines) + "\n")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


COMMANDS = _subcommands()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Paths the fuzzer draws from: small valid configs, a run and a sweep directory, and hostile paths."""
    d = tmp_path_factory.mktemp("fuzz")
    (d / "a_file").write_text("x\n")
    (d / "a_dir").mkdir()
    wl = d / "tiny.yaml"
    wl.write_text(yaml.safe_dump({"version": 1, "name": "tiny", "layers": [
        {"name": "c1", "kind": "conv", "C": 3, "K": 4, "H": 6, "R": 3, "padding": 1},
        {"name": "f2", "kind": "fc", "C": 8, "K": 5}]}))
    sweep = d / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"version": 1, "name": "fz", "base": {"arch": "isca16/rs", "workload": str(wl)},
                                     "axes": [{"batch": [1, 2]}, {"glb.size_kb": [{"times": 1}, 64]}]}))
    run_dir, sweep_dir = d / "run_dir", d / "sweep_dir"
    assert main(["run", "isca16/rs", "-w", str(wl), "-q", "--out", str(run_dir)]) == 0
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["sweep", str(sweep), "-q", "--out", str(sweep_dir)]) == 0
    return {"FILE": str(d / "a_file"), "BELOW_FILE": str(d / "a_file" / "sub"), "MISSING": str(d / "missing"),
            "DIR": str(d / "a_dir"), "WORKLOAD": str(wl), "SWEEP": str(sweep), "RUN_DIR": str(run_dir),
            "SWEEP_DIR": str(sweep_dir), "ROOT": str(d)}


HOSTILE = ["-1", "0", "1", "2", "3", "-5", "1000000000000", "99999999999999999999", "1e400", "nan", "inf", "-inf",
           "", " ", "x", "1,,2", ",,", ",", "-1,2", "5-1", "1-2", "0-0", "1.5", "-0.5", "CONV1", "FC8", "c1", "f2",
           "rs", "ws", "zz", "energy", "edp", "cycles", "png", "svg", "png,svg", "pdf", "batch=2", "=", "foo=bar",
           "eyeriss_v1", "isca16/rs", "alexnet", "nin", "sd855", "v100", "k20", "gemini", "ps,tree", "bias,relu",
           "none", "\x00", "é", "--", "-", "a" * 300]
PATHS = ["FILE", "BELOW_FILE", "MISSING", "DIR", "WORKLOAD", "SWEEP", "RUN_DIR", "SWEEP_DIR", "NEW_DIR", "NEW_FILE"]


def _value(draw, files: dict, counter: list[int]) -> str:
    kind = draw(st.sampled_from(["hostile", "hostile", "path", "int", "text"]))
    if kind == "hostile":
        return draw(st.sampled_from(HOSTILE))
    if kind == "int":
        return str(draw(st.integers(-3, 40)))
    if kind == "text":
        return draw(st.text(max_size=12))
    name = draw(st.sampled_from(PATHS))
    if name in ("NEW_DIR", "NEW_FILE"):
        counter[0] += 1
        new = Path(files["ROOT"]) / f"new{counter[0]}"
        return str(new) + (".png" if name == "NEW_FILE" and draw(st.booleans()) else "")
    return files[name]


ARCHS = ["eyeriss_v1", "isca16/rs", "isca16/ws"]
LAYERS = ["1", "c1", "1-2", "f2", "c1,f2"]
VALID = {   # plausible values per positional (command, dest) or flag: half the draws, so many cases succeed
    ("run", "arch"): ARCHS, ("explain", "arch"): ARCHS, ("sweep", "sweep"): ["SWEEP"],
    ("plot", "directory"): ["RUN_DIR", "SWEEP_DIR"], ("roofline", "hardware"): ["v100", "eyeriss_v1", "k20"],
    ("partition", "target"): ["sd855", "kirin990", "profile"],
    ("scalesim", "cfg"): [str(REPO / "configs" / "scalesim" / "eyeriss_12x14_ws.cfg"),
                          str(REPO / "configs" / "scalesim" / "scale_32x32_os.cfg")],
    ("count", "hierarchy"): ["eyeriss_v1", "isca16/rs"],
    "--workload": ["WORKLOAD"], "-w": ["WORKLOAD"], "--layers": LAYERS, "--layer": LAYERS, "-l": LAYERS,
    "--dataflow": ["rs", "ws", "os"], "-d": ["rs", "ws", "os"], "--batch": ["1", "2", "4"], "-b": ["1", "2", "4"],
    "--objective": ["energy", "cycles", "edp"], "--search-budget": ["20", "50"], "--seed": ["0", "7"],
    "--time-limit": ["0.5", "5"], "--out": ["NEW_DIR"], "--plot": ["NEW_FILE"], "--format": ["png", "svg", "png,svg"],
    "--where": ["batch=2", "glb.size_kb=64"], "--workers": ["1,2,4", "8"], "--strategy": ["ps,tree", "ring"],
    "--hw": ["k20", "v100"], "--interconnect": ["gemini"], "--shards": ["2"], "--compute-s": ["0.5"],
    "--element-bytes": ["2", "4"], "--epilogue": ["bias,relu", "none"], "--chain": ["c1"], "--tile": ["2"],
    "--buffer-kb": ["64"], "--winograd": ["2"], "-j": ["1", "2"], "--jobs": ["1", "2"], "--csv": ["NEW_FILE"],
    "--threads": ["1"],
}


def _plausible(draw, files: dict, counter: list[int], options: list[str]) -> str:
    value = draw(st.sampled_from(options))
    if value == "NEW_DIR" or value == "NEW_FILE":
        counter[0] += 1
        return str(Path(files["ROOT"]) / f"new{counter[0]}") + (".png" if value == "NEW_FILE" else "")
    return files.get(value, value)


CHEAP = {   # prepended, so a fuzzed flag given later wins: keeps a valid-looking case to a fraction of a second
    "run": ["-w", "WORKLOAD", "--search-budget", "40"], "explain": ["-w", "WORKLOAD", "--search-budget", "40"],
    "roofline": ["-w", "WORKLOAD"], "train-scale": ["-w", "WORKLOAD"], "partition": ["--workload", "WORKLOAD"],
    "scalesim": ["--workload", "WORKLOAD", "--search-budget", "20"],
}


@st.composite
def argv_for(draw, command: str, files: dict) -> list[str]:
    parser = COMMANDS[command]
    counter = [draw(st.integers(0, 10**9))]
    argv = [command] + [files.get(a, a) for a in CHEAP.get(command, [])]
    positionals = [a for a in parser._actions if not a.option_strings and not isinstance(a, argparse._HelpAction)]
    options = [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)
               and not NOT_FUZZED & set(a.option_strings)]
    for a in positionals:
        if a.nargs == "?" and draw(st.booleans()):
            continue
        plausible = sorted(a.choices) if a.choices else VALID.get((command, a.dest))
        if plausible and draw(st.booleans()):
            argv.append(_plausible(draw, files, counter, plausible))
        else:
            argv.append(_value(draw, files, counter))
    for a in draw(st.lists(st.sampled_from(options), max_size=4)) if options else []:
        flag = draw(st.sampled_from(a.option_strings))
        if a.nargs == 0:
            argv.append(flag)
            continue
        plausible = sorted(a.choices) if a.choices else VALID.get(flag)
        value = _plausible(draw, files, counter, plausible) if plausible and draw(st.booleans()) else \
            _value(draw, files, counter)
        argv += [f"{flag}={value}"] if draw(st.booleans()) else [flag, value]
    if command == "partition" and "profile" in argv:
        argv += ["--quick", "--threads", "1"]
    if draw(st.integers(0, 20)) == 0:
        argv.insert(draw(st.integers(1, len(argv))), _value(draw, files, counter))   # a stray argument
    return argv


def _check(argv: list[str], cwd: str) -> None:
    """Run one case in ``cwd`` (relative output paths land there, never in the repository)."""
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    here = os.getcwd()
    os.chdir(cwd)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:               # --help / --version only
            code = exc.code
        finally:
            os.chdir(here)
    SLOWEST.append((time.perf_counter() - start, argv))
    OUTCOMES[f"{argv[0]} exit {code}"] = OUTCOMES.get(f"{argv[0]} exit {code}", 0) + 1
    SLOWEST.sort(key=lambda t: -t[0])
    del SLOWEST[5:]
    text = err.getvalue()
    assert "Traceback" not in text, (argv, text)
    lines = text.strip().splitlines()
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("accelsim: error: "), (argv, text)
        return
    assert code == 0, (argv, code, text)
    assert all(line.startswith("accelsim: warning: ") for line in lines), (argv, text)


SETTINGS = dict(max_examples=FUZZ_EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_with_hostile_flags(command, files):
    @settings(**SETTINGS)
    @given(data=st.data())
    def fuzz(data):
        _check(data.draw(argv_for(command, files)), files["ROOT"])

    fuzz()


@st.composite
def small_arch(draw) -> dict:
    from tests.test_arch_config import GOOD

    doc = yaml.safe_load(yaml.safe_dump(GOOD))
    doc["pe_array"] = {"rows": draw(st.integers(0, 16)), "cols": draw(st.integers(1, 16))}
    doc["glb"]["size_kb"] = draw(st.sampled_from([0, 0.01, 1, 8, 108, 1e30, "1e30", -1]))
    doc["glb"]["bandwidth_words_per_cycle"] = draw(st.sampled_from([1e-300, 0.001, 0.5, 16, 1e7]))
    if draw(st.booleans()):
        doc["dram"] = {"bandwidth_gb_per_s": draw(st.sampled_from([1e-9, 0.001, 0.72, 1e9])), "latency_cycles": 10}
    if draw(st.booleans()):
        doc["noc"] = {"type": "bus", "words_per_cycle": draw(st.sampled_from([1e-300, 0.001, 4.0, -1]))}
    if draw(st.booleans()):
        key = draw(st.sampled_from(["size_kbb", "bankz", "holds"]))
        doc["glb"][key] = doc["glb"].pop("size_kb") if key == "size_kbb" else 4
    return doc


@st.composite
def small_workload(draw) -> dict:
    R = draw(st.integers(1, 3))
    H = draw(st.integers(1, 12))
    layer = {"name": "l", "kind": draw(st.sampled_from(["conv", "depthwise", "fc", "gemm", "pool"])),
             "C": draw(st.integers(1, 6)), "K": draw(st.integers(1, 6)), "H": H, "R": R,
             "stride": draw(st.integers(1, 2)), "padding": draw(st.integers(0, 2)), "N": draw(st.integers(1, 3))}
    if layer["kind"] == "gemm":
        layer = {"name": "g", "kind": "gemm", "m": H, "n": layer["K"], "k": layer["C"]}
    elif layer["kind"] == "fc":
        layer = {"name": "f", "kind": "fc", "C": layer["C"], "K": layer["K"], "H": min(H, 3)}
    elif layer["kind"] in ("depthwise", "pool"):
        layer.pop("K")
    if draw(st.integers(0, 5)) == 0:
        layer["H"] = draw(st.sampled_from([10**10, 2**31, -1, 0, "big"]))
    return {"version": 1, "layers": [layer]}


@settings(**{**SETTINGS, "max_examples": 2 * FUZZ_EXAMPLES})
@given(arch=small_arch(), workload=small_workload(), command=st.sampled_from(["run", "explain", "sweep"]),
       flags=st.lists(st.sampled_from(["--search", "--no-sim", "--json", "-b 2", "--layers 1", "-j 2"]), max_size=3))
def test_random_small_configs(files, arch, workload, command, flags):
    """A random small arch and workload through run, explain and a two-point sweep over them."""
    root = Path(files["ROOT"])
    a, w = root / "arch_fz.yaml", root / "wl_fz.yaml"
    a.write_text(yaml.safe_dump(arch))
    w.write_text(yaml.safe_dump(workload))
    extra = [x for f in flags for x in f.split()]
    if command == "sweep":
        s = root / "sweep_fz.yaml"
        s.write_text(yaml.safe_dump({"version": 1, "name": "fz", "base": {"arch": str(a), "workload": str(w)},
                                     "axes": [{"clock_mhz": [100, 200]}]}))
        out = root / f"sweep_out_{time.monotonic_ns()}"
        _check(["sweep", str(s), "--out", str(out), "-q"] + (["-j", "2"] if "-j" in extra else []), str(root))
        return
    extra = [x for x in extra if x not in ("-j", "2")] if command == "run" else \
        [x for x in extra if x in ("--search", "-b", "2")]
    _check([command, str(a), "-w", str(w), "--search-budget", "30"] + (["-q"] if command == "run" else []) + extra,
           str(root))
