"""accelsim sparse-formats: Sparseloop's format comparison (accelsim.sparse.compare): a 128^3 matmul,
bitmask + gating vs coordinate list + skipping over densities 0.01-0.8; table, optional plot. Setup
``fig1`` (default) is the design of Sparseloop's published figure, printed beside the reference run's
results; ``matmul_1pe`` is the project's earlier stand-in."""

from __future__ import annotations

import argparse

from accelsim.atomic import output_file
from accelsim.cli import Command

TITLES = {"fig1": "128^3 matmul, Sparseloop MICRO'22 Fig. 1 design: bitmask + gating vs coordinate list + skipping",
          "matmul_1pe": "128^3 matmul, one PE (stand-in): bitmask + gating vs coordinate list + skipping"}


def configure(p: argparse.ArgumentParser) -> None:
    # the setups are checked in run: importing accelsim.sparse.compare here would load numpy at every start
    p.add_argument("--setup", default="fig1",
                   help="fig1: the design of Sparseloop's published figure (default); matmul_1pe: the stand-in")
    p.add_argument("--plot", help="write energy and cycles vs density to this .png/.svg file")


def run(args: argparse.Namespace) -> int:
    from accelsim.errors import ConfigError
    from accelsim.sparse import compare

    if args.setup not in compare.SETUPS:
        raise ConfigError(f"unknown setup {args.setup!r}; setups: {', '.join(compare.SETUPS)}", key="--setup")
    if args.plot:
        output_file(args.plot, "--plot")
    points = compare.sweep(setup=args.setup)
    reference = compare.sparseloop_points() if args.setup == "fig1" else None
    print(f"energy per dense MAC in {compare.UNITS[args.setup]}; cycles ideal (one MAC unit)")
    print(compare.table(points, reference))
    if args.plot:
        from accelsim.plots.sparse_formats import save_formats_plot

        path = save_formats_plot(points, compare.crossover(points), TITLES[args.setup], args.plot,
                                 "pJ" if args.setup == "fig1" else "MAC = 1")
        print(f"wrote {path}")
    return 0


COMMAND = Command("sparse-formats", "energy and cycles vs density: bitmask + gating vs coordinate list + skipping",
                  configure, run)
