"""accelsim list: what ships — configs, workloads, dataflows."""

from __future__ import annotations

import argparse

from accelsim.cli import Command


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=("configs", "workloads", "dataflows"), help="what to list")


def _configs() -> list[str]:
    import configs

    out = ["# architectures (accelsim run ARCH)"] + configs.arch_names()
    out += ["", "# level-list hierarchies (accelsim run NAME, through the general core; docs/core.md)"]
    out += configs.level_list_names()
    for folder, what in configs.NOT_ARCHS.items():
        if folder == "hierarchy":
            continue
        found = configs.names(folder)
        if found:
            out += ["", f"# {what}"] + found
    return out


def _workloads() -> list[str]:
    from workloads import zoo

    out = []
    for name in zoo.names():
        w = zoo.get(name)
        out.append(f"{name:24s} {len(w.layers):4d} layers  {w.macs / 1e6:12.1f} M MACs/image")
    return out


def _dataflows() -> list[str]:
    from dataflows import registry

    return [registry.get(n).describe() for n in registry.names()]


LISTERS = {"configs": _configs, "workloads": _workloads, "dataflows": _dataflows}


def run(args: argparse.Namespace) -> int:
    for line in LISTERS[args.what]():
        print(line)
    return 0


COMMAND = Command("list", "list shipped configs, zoo workloads or dataflows", configure, run)
