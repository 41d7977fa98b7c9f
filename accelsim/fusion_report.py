"""The network mapper's plan as text: one row per group (fused or layer by layer), and the totals."""

from __future__ import annotations


def fusion_table(plan: dict) -> str:
    """``plan``: ``NetworkPlan.as_dict()`` (what stats.json stores under ``fusion``); an attention group
    shows its dataflow in the tile column."""
    rows = [("group", "tile", "mode", "level", "DRAM words", "alone", "energy uJ", "alone uJ", "peak words", "why cut")]
    for g in plan["groups"]:
        alone = g["layer_by_layer"]
        name = g["layers"][0] if len(g["layers"]) == 1 else f"{g['layers'][0]} .. {g['layers'][-1]} ({len(g['layers'])})"
        tile = f"{g['tile'][0]}x{g['tile'][1] or 'Q'}" if "tile" in g else g.get("attention_dataflow", "-")
        level = (g["level"] + (f" x{g['cores']}" if g.get("cores", 1) != 1 else "")) if "level" in g else "-"
        rows.append((name, tile, g.get("mode", "-"), level, f"{g['dram_words']:,}", f"{alone['dram_words']:,}",
                     f"{g['energy_pj'] / 1e6:.2f}", f"{alone['energy_pj'] / 1e6:.2f}",
                     f"{g['peak_words']:,}" if "peak_words" in g else "-", g["why_cut"]))
    base = plan["layer_by_layer"]
    rows.append(("total", "", "", "", f"{plan['dram_words']:,}", f"{base['dram_words']:,}",
                 f"{plan['energy_pj'] / 1e6:.2f}", f"{base['energy_pj'] / 1e6:.2f}", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for k, r in enumerate(rows):
        cells = [c.ljust(w) if i in (0, 1, 2, 3) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells) + "  " + r[-1])
        if k == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 7)
    fused = sum(1 for g in plan["groups"] if g["fused"])
    head = (f"fusion ({plan['objective']}): {fused} fused group(s), {len(plan['groups'])} groups in all; "
            f"largest level {plan['glb_words']:,} words; {plan['evaluated']} groups scored; cycles "
            f"{plan['cycles']:,.0f} vs {base['cycles']:,.0f} layer by layer")
    return head + "\n" + "\n".join(line.rstrip() for line in lines)
