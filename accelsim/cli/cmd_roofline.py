"""accelsim roofline: FLOPs, bytes, operational intensity and attainable performance per layer and model."""

from __future__ import annotations

import argparse
import json

from accelsim.atomic import output_file
from accelsim.cli import Command
from accelsim.errors import ConfigError


def _names(text: str | None, what: str) -> list[str]:
    if text is None:
        return []
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise ConfigError(f"{what}: expected a comma-separated list, got {text!r}")
    return names


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("hardware", help="a configs/hw preset (v100, xavier, rpi3, k20), an accelsim arch "
                                    "(eyeriss_v1, ...) or a YAML file")
    p.add_argument("--workload", "-w", required=True, help="zoo network name or a .yaml/.csv/.onnx file")
    p.add_argument("--batch", "-b", type=int, help="batch size N of every layer (default: the workload's)")
    p.add_argument("--element-bytes", type=float,
                   help="bytes per tensor element (default: the hardware's; 4 = fp32, the reference's)")
    p.add_argument("--epilogue", default="bias,relu",
                   help="operators fused after every MAC layer for the fusion comparison "
                        "(bias, bn, relu; 'none' to skip; default bias,relu)")
    p.add_argument("--chain", help="comma-separated consecutive layers to fuse tile by tile, e.g. conv1_1,conv1_2")
    p.add_argument("--tile", type=int, help="with --chain: square output tile of the last layer (default: the "
                                            "largest that fits the buffer)")
    p.add_argument("--buffer-kb", type=float, help="with --chain: on-chip buffer (default: the hardware's)")
    p.add_argument("--stream-weights", action="store_true",
                   help="with --chain: weights stream from DRAM for every tile instead of staying on chip")
    p.add_argument("--winograd", type=int, metavar="M",
                   help="also cost eligible convolutions with Winograd F(MxM, RxR)")
    p.add_argument("--plot", help="write the roofline plot to this PNG file")
    p.add_argument("--json", action="store_true", help="print the accelsim.roofline/1 JSON document")


def run(args: argparse.Namespace) -> int:
    from accelsim.roofline.hardware import load_hardware
    from accelsim.roofline.report import analyze, table, to_dict
    from workloads.loader import load_workload

    if args.element_bytes is not None and not 0 < args.element_bytes <= 64:
        raise ConfigError(f"--element-bytes must be in (0, 64], got {args.element_bytes:g}")
    if args.buffer_kb is not None and not args.buffer_kb > 0:
        raise ConfigError(f"--buffer-kb must be > 0, got {args.buffer_kb:g}")
    if (args.tile is not None or args.buffer_kb is not None or args.stream_weights) and not args.chain:
        raise ConfigError("--tile, --buffer-kb and --stream-weights need --chain")
    if args.plot:
        output_file(args.plot, "--plot")
    hw = load_hardware(args.hardware)
    if args.element_bytes is not None:
        hw = hw.with_element_bytes(args.element_bytes)
    workload = load_workload(args.workload, args.batch)
    epilogue = [] if args.epilogue.strip().lower() == "none" else _names(args.epilogue, "--epilogue")
    report = analyze(workload, hw, epilogue=epilogue, chain=_names(args.chain, "--chain") or None,
                     tile=args.tile, buffer_bytes=None if args.buffer_kb is None else args.buffer_kb * 1024,
                     weights="streamed" if args.stream_weights else "resident",
                     winograd_m=args.winograd)
    if args.plot:
        from accelsim.plots.roofline import plot_roofline

        plot_roofline(report, args.plot)
    if args.json:
        print(json.dumps(to_dict(report), indent=2))
    else:
        print(table(report))
        if args.plot:
            print(f"\nplot: {args.plot}")
    return 0


COMMAND = Command("roofline", "roofline of a workload on a hardware preset or arch: intensity, attainable "
                              "performance, fusion and Winograd", configure, run)
