"""accelsim plot: draw every figure that applies to a run or sweep output directory."""

from __future__ import annotations

import argparse

from accelsim.atomic import output_dir
from accelsim.cli import Command
from accelsim.errors import ConfigError

FORMATS = ("png", "svg")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", help="an output directory: of `accelsim run --out` (stats.json) or of "
                                     "`accelsim sweep` (sweep.json + results.csv)")
    p.add_argument("--out", help="where to write the figures (default DIRECTORY/plots)")
    p.add_argument("--format", default="png,svg", help="comma-separated: png, svg (default png,svg)")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                   help="sweeps: plot only rows whose column has this value (repeatable), e.g. --where batch=16")


def parse_where(items: list[str]) -> dict:
    from accelsim.sweep.results import parse_cell

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--where: expected COLUMN=VALUE, got {item!r}")
        out[key.strip()] = parse_cell(value.strip())
    return out


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from accelsim.plots.registry import discover

    directory = Path(args.directory)
    if not directory.is_dir():
        raise ConfigError("no such directory", source=str(directory))
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ConfigError(f"--format: unknown format {', '.join(bad) or args.format!r}; allowed: {', '.join(FORMATS)}")
    where = parse_where(args.where)
    plots = discover()
    chosen = [p for p in plots if p.applies(directory)]
    if not chosen:
        needs = "; ".join(f"{p.name}: {p.description}" for p in plots)
        raise ConfigError(f"nothing to plot here; the plots and what they need: {needs}", source=str(directory))
    if where and not (directory / "sweep.json").is_file():
        raise ConfigError("--where filters the rows of a sweep; this is a run directory (no sweep.json): "
                          "drop --where", source=str(directory))
    out = output_dir(args.out if args.out else directory / "plots")
    for plot in chosen:
        written = plot.render(directory, out, formats, where)
        print(f"{plot.name}: " + ", ".join(str(p) for p in written))
    return 0


COMMAND = Command("plot", "plot a run's or a sweep's output directory (PNG and SVG)", configure, run)
