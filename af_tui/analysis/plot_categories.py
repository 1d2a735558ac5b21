"""The outcome × reasoning figure (`af-tui plot --categories`): one horizontal stacked bar per model (×
variant) and tier — refused, partially complied, complied, each split by alignment-faking reasoning — with a
caption naming the compliance rule or judge and the AF source. matplotlib is imported lazily (Agg)."""

from __future__ import annotations

from pathlib import Path

from af_tui.analysis.compliance import CATEGORIES, CATEGORY_WORDS
from af_tui.analysis.plot import pyplot, save_figure
from af_tui.domain import Outcome
from af_tui.safe_text import one_line

# Okabe–Ito: refusals blue, partial compliance sky blue, compliance orange; the AF part of each hatched.
COLOURS = {Outcome.REFUSED: "#0072B2", "partial": "#56B4E9", Outcome.COMPLIED: "#E69F00"}
AF_HATCH = "////"


def caption(rows: list[dict]) -> str:
    r = rows[0]
    when = f" (complied = {r['complied_when']})" if r.get("complied_when") else ""
    return (f"compliance: {r['compliance']}{when} · AF source: {r['af_source']}\nshares of samples with an outcome "
            "and an AF verdict").replace("$", r"\$")


def write_categories(rows: list[dict], out: Path, width: float = 3.5) -> Path:
    plt = pyplot()
    from matplotlib.patches import Patch

    rows = [r for r in rows if r["n"]]
    variants = {r["variant"] for r in rows}
    labels = [one_line(r["model"] + (f" · {r['variant']}" if len(variants) > 1 else ""), 60).replace("$", r"\$")
              + f" · {r['tier']}" for r in rows]
    height = 0.9 + 0.22 * len(rows)
    with plt.rc_context({"font.size": 7, "hatch.linewidth": 0.6, "font.family": "DejaVu Sans",
                         "svg.fonttype": "none", "pdf.fonttype": 42}):
        fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
        for y, r in enumerate(rows):
            left = 0.0
            for c in CATEGORIES:
                share = r[f"{c}_share"] or 0.0
                base = c.removesuffix("_af")
                ax.barh(y, share, left=left, height=0.8, color=COLOURS[base], edgecolor="#333333" if c != base
                        else "white", hatch=AF_HATCH if c != base else None, linewidth=0.3)
                left += share
            ax.text(1.01, y, f"n={r['n']}", va="center", ha="left", fontsize=5.5, color="#444444",
                    transform=ax.get_yaxis_transform())
        ax.set_yticks(range(len(rows)), labels, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "25%", "50%", "75%", "100%"])
        ax.set_xlabel(caption(rows), fontsize=5.5)
        ax.spines[["top", "right"]].set_visible(False)
        handles = [Patch(facecolor=COLOURS[c.removesuffix("_af")], hatch=AF_HATCH if c.endswith("_af") else None,
                         edgecolor="#333333" if c.endswith("_af") else "white", label=CATEGORY_WORDS[c])
                   for c in CATEGORIES]
        fig.legend(handles=handles, loc="outside upper center", ncol=2, frameon=False, fontsize=5.5,
                   handlelength=1.4, columnspacing=1.0)
        save_figure(plt, fig, out)
    return out
