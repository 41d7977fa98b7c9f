"""Fuzzing: generated invalid and odd inputs across arch YAML, workload YAML, mapping YAML,
SCALE-Sim CSV and CLI arguments. Every one ends in a one-line ConfigError (API) or exit status 2
with one line on stderr (CLI), or, when the input happens to be valid, in a result. Never another
exception, never a hang. Categories and counts are listed in FUZZ_COUNTS (>= 1,000 inputs)."""

from __future__ import annotations

import contextlib
import copy
import io
import math
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.arch import load_arch
from accelsim.cli import main
from accelsim.errors import ConfigError
from accelsim.mapping import load_mapping
from tests.test_arch_config import GOOD as GOOD_ARCH
from workloads.loader import load_workload

# the arch with every optional block, so mutations reach glb.partitions and constraints too
GOOD_ARCH_FULL = {**GOOD_ARCH,
                  "glb": {**GOOD_ARCH["glb"], "partitions": [{"holds": ["ifmap", "psum"], "size_kb": 100},
                                                             {"holds": ["weight"], "size_kb": 8}]},
                  "constraints": {"unsplit": {"dram": ["Q"], "rows": ["N"], "cols": ["N", "Q"], "rf": ["R"]}}}

GOOD_WORKLOAD = {"version": 1, "name": "w", "layers": [
    {"name": "c1", "kind": "conv", "C": 3, "K": 8, "H": 9, "W": 9, "R": 3, "S": 3, "stride": 2, "padding": 1},
    {"name": "d2", "kind": "depthwise", "C": 8, "H": 5, "R": 3, "padding": 1},
    {"name": "g3", "kind": "gemm", "m": 4, "n": 6, "k": 5},
]}
GOOD_MAPPING = {"dram": {"factors": {"K": 2}, "order": "NGKCPQRS"},
                "glb": {"factors": {"P": 3}, "order": "NGKCPQRS", "keep": ["ifmap", "weight", "psum"]},
                "rows": {"factors": {"C": 3}}, "cols": {"factors": {"K": 4}},
                "rf": {"factors": {"S": 3, "R": 3, "Q": 5}, "order": "NGKCPQRS", "keep": ["psum"],
                       "registers": ["psum"]}}

FUZZ_COUNTS = {"arch yaml mutations": 300, "workload yaml mutations": 250, "mapping yaml mutations": 150,
               "raw bytes as any file": 150, "scalesim csv text": 100, "cli argument lists": 100}
assert sum(FUZZ_COUNTS.values()) >= 1000

ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.sampled_from([0, -1, 1, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0]),
    st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.recursive(st.integers(0, 3), lambda c: st.lists(c, max_size=2) | st.dictionaries(st.text("ab", max_size=2), c, max_size=2),
                 max_leaves=40),
)


def _paths(doc, prefix=()):
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append(prefix + (k,))
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append(prefix + (i,))
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated(draw, base):
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        action = draw(st.sampled_from(["set", "set", "delete", "unknown"]))
        if action == "set":
            parent[path[-1]] = draw(ODD)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(string.ascii_lowercase, min_size=1, max_size=6))] = draw(ODD)
    return doc


def _dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True)


def _expect_config_error_or_result(fn, path):
    try:
        result = fn(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).strip()
        return None
    return result


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                     HealthCheck.function_scoped_fixture])


@settings(max_examples=FUZZ_COUNTS["arch yaml mutations"], **SETTINGS)
@given(doc=st.sampled_from([GOOD_ARCH, GOOD_ARCH_FULL]).flatmap(mutated))
def test_arch_yaml_mutations(tmp_path, doc):
    path = tmp_path / "arch.yaml"
    path.write_text(_dump(doc))
    arch = _expect_config_error_or_result(load_arch, path)
    if arch is not None:
        assert arch.pes >= 1 and arch.glb_words >= 1 and arch.clock_mhz > 0


@settings(max_examples=FUZZ_COUNTS["workload yaml mutations"], **SETTINGS)
@given(doc=mutated(GOOD_WORKLOAD))
def test_workload_yaml_mutations(tmp_path, doc):
    path = tmp_path / "w.yaml"
    path.write_text(_dump(doc))
    w = _expect_config_error_or_result(load_workload, str(path))
    if w is not None:
        assert w.layers and all(layer.P >= 1 and layer.Q >= 1 and layer.macs >= 0 for layer in w.layers)


@settings(max_examples=FUZZ_COUNTS["mapping yaml mutations"], **SETTINGS)
@given(doc=mutated(GOOD_MAPPING))
def test_mapping_yaml_mutations(tmp_path, doc):
    path = tmp_path / "m.yaml"
    path.write_text(_dump(doc))
    m = _expect_config_error_or_result(load_mapping, str(path))
    if m is not None:
        assert all(f >= 1 for level in m.factors for f in level)


RAW = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda s: s.encode("utf-8")),
    st.sampled_from([b"", b"\xff\xfe\x00", b"a: 1\na: 2\n", b"[" * 200, b"{" * 5000, b"- " * 100 + b"1",
                     ("x:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 120)) + "  " * 120 + "v: 1\n").encode(),
                     b"version: 1\nname: \xe9\n", b"\xef\xbb\xbfversion: 1\n", b"key: &a [*a]\n",
                     b"!!python/object:os.system ls\n"]),
)


@settings(max_examples=FUZZ_COUNTS["raw bytes as any file"], **SETTINGS)
@given(raw=RAW, kind=st.sampled_from(["arch", "workload", "mapping", "csv"]))
def test_raw_bytes(tmp_path, raw, kind):
    suffix = ".csv" if kind == "csv" else ".yaml"
    path = tmp_path / f"f{suffix}"
    path.write_bytes(raw)
    loader = {"arch": load_arch, "workload": lambda p: load_workload(str(p)), "csv": lambda p: load_workload(str(p)),
              "mapping": lambda p: load_mapping(str(p))}[kind]
    _expect_config_error_or_result(loader, path)


CSV_CELLS = st.one_of(st.integers(-5, 300).map(str), st.sampled_from(["", " ", "x", "1.5", "nan", "1e3", "-0", "٣"]))


@settings(max_examples=FUZZ_COUNTS["scalesim csv text"], **SETTINGS)
@given(rows=st.lists(st.lists(CSV_CELLS, min_size=0, max_size=9), max_size=4), header=st.booleans(),
       trailing=st.booleans())
def test_scalesim_csv(tmp_path, rows, header, trailing):
    head = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
    lines = ([head if trailing else head.rstrip(",")] if header else []) + \
        [",".join([f"L{i}"] + r) + ("," if trailing else "") for i, r in enumerate(rows)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    w = _expect_config_error_or_result(lambda p: load_workload(str(p)), path)
    if w is not None:
        assert all(layer.macs > 0 for layer in w.layers)


ARGS = st.lists(st.sampled_from([
    "run", "list", "configs", "dataflows", "nope", "--batch", "0", "-1", "3", "x", "--layers", "1", "CONV1", "99-1",
    "--dataflow", "rs", "zz", "--workload", "alexnet", "missing.yaml", "--objective", "edp", "speed",
    "--search-budget", "--seed", "--time-limit", "-5", "--json", "--format", "csv", "--frob", "eyeriss_v1",
    "isca16/rs", "", "--", "--no-sim", "--quiet"]), max_size=7)


@settings(max_examples=FUZZ_COUNTS["cli argument lists"], **SETTINGS)
@given(args=ARGS)
def test_cli_arguments(args):
    argv = list(args)
    if "run" in argv:
        argv += ["--no-sim", "--layers", "FC8"] if "--layers" not in argv else ["--no-sim"]
        argv = [a for a in argv if a not in ("--search-budget", "--time-limit")]
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:            # argparse --help / --version only
            code = exc.code
    assert code in (0, 2), (argv, code, err.getvalue())
    if code == 2 and err.getvalue():
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("accelsim: error:"), err.getvalue()
        assert "Traceback" not in err.getvalue()


@pytest.mark.parametrize("text,fragment", [
    ("version: 1\nversion: 2\n", "duplicate key"),
    ("a:\n" + "".join("  " * i + f"b{i}:\n" for i in range(1, 80)) + "  " * 80 + "c: 1\n", "nesting deeper"),
    ("[" * 3000, "YAML"),
])
def test_pathological_yaml_is_one_line(tmp_path, text, fragment):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_arch(path)
