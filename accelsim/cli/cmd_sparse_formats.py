"""accelsim sparse-formats: Sparseloop's format comparison (accelsim.sparse.compare): a 128^3 matmul,
bitmask + gating vs coordinate list + skipping over densities 0.01-0.8; table, optional plot."""

from __future__ import annotations

import argparse

from accelsim.atomic import output_file
from accelsim.cli import Command


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plot", help="write energy and cycles vs density to this .png/.svg file")


def run(args: argparse.Namespace) -> int:
    from accelsim.sparse import compare

    if args.plot:
        output_file(args.plot, "--plot")
    points = compare.sweep()
    print(compare.table(points))
    if args.plot:
        from accelsim.plots.sparse_formats import save_formats_plot

        path = save_formats_plot(points, compare.crossover(points),
                                 "128^3 matmul, one PE: bitmask + gating vs coordinate list + skipping", args.plot)
        print(f"wrote {path}")
    return 0


COMMAND = Command("sparse-formats", "energy and cycles vs density: bitmask + gating vs coordinate list + skipping",
                  configure, run)
