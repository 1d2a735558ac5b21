"""The replication's figure: one horizontal stacked bar per model (× variant, × run when there are several)
and tier — complied (its alignment-faking part hatched), refused, format not followed in gray, blocked when
any — with 95% Wilson error bars on the complied rate (at the request-clustered effective n when requests
repeat), sized for a paper column. matplotlib is imported lazily (Agg)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from af_tui.analysis.estimators import Estimate
from af_tui.analysis.slices import SliceStats
from af_tui.domain import OUTCOME_WORD, VALID_OUTCOMES, Outcome, Tier
from af_tui.errors import AfError
from af_tui.experiment.setting import SETTING_MARK
from af_tui.safe_text import one_line

SUFFIXES = (".png", ".svg", ".pdf")
# Colour-blind-safe (Okabe–Ito) for complied / refused; gray for format not followed (neither a compliance nor a refusal).
# Blocked by the provider (in n, not complied): Okabe–Ito's reddish purple, drawn only when a tier has any.
COLOURS = {Outcome.COMPLIED: "#E69F00", Outcome.REFUSED: "#0072B2", Outcome.FORMAT_NOT_FOLLOWED: "#A0A0A0",
           Outcome.BLOCKED: "#CC79A7"}
AF_HATCH = "////"


@dataclass(frozen=True)
class Bar:
    """One bar of the figure: a slice's tier."""

    label: str  # the slice's name, safe for matplotlib
    tier: Tier
    n: int  # valid samples
    shares: dict[Outcome, float | None]  # of the valid samples, per valid outcome (blocked included)
    af_share: float | None  # complied with AF reasoning, as a share of the whole bar
    ci: tuple[float, float] | None  # the complied rate's interval
    gap: Estimate | None  # the slice's headline gap


def check_output(path: Path) -> Path:
    """The output path, or a one-line error for a suffix we cannot write or a folder that is not there."""
    if path.suffix.lower() not in SUFFIXES:
        raise AfError(f"{path}: the figure must end in {', '.join(SUFFIXES)}")
    if path.is_dir():
        raise AfError(f"{path} is a directory; give a file name such as figure.png")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise AfError(f"{parent} does not exist; create the folder first or write the figure elsewhere")
    return path


def bar_rows(slices: list[SliceStats]) -> list[Bar]:
    """The bars, top to bottom: label, tier, shares of valid samples, AF share, complied interval."""
    runs = {s.run for s in slices}
    variants = {s.variant for s in slices}
    rows = []
    for slice_stats in slices:
        name = slice_stats.label(with_run=len(runs) > 1, with_variant=len(variants) > 1)
        for tier in Tier:
            valid = slice_stats.valid(tier)
            if not valid:
                continue
            shares = {o: slice_stats.rate(tier, o) for o in VALID_OUTCOMES}
            af = slice_stats.af.get(tier)
            # AF among complied, drawn as a share of the whole bar (its rate among the judged compliances).
            af_share = shares[Outcome.COMPLIED] * af.rate if af and af.rate is not None else None
            # "$" would start matplotlib's mathtext (a model name is not to be parsed as anything).
            label = one_line(name, 60).replace("$", r"\$")
            rows.append(Bar(label, tier, valid, shares, af_share, slice_stats.interval(tier, Outcome.COMPLIED),
                            slice_stats.gap_estimate))
    return rows


def af_coverage(slices: list[SliceStats]) -> str:
    """The caption's lines on the hatch: it spreads the AF rate of the compliances with a verdict over all of
    them, so they say how many were labeled, and how many of those the annotators tied on (in no rate)."""
    compliances = sum(s.tiers[t].of(Outcome.COMPLIED) for s in slices for t in Tier)
    labeled = sum(a.judged + a.undecided for s in slices for a in s.af.values())
    undecided = sum(a.undecided for s in slices for a in s.af.values())
    share = f" ({100 * labeled / compliances:.0f}%)" if compliances else ""
    word = "judged" if slices[0].af_source.startswith("judge") else "labeled"
    return (f"AF: its rate among the {word} compliances, {labeled}/{compliances}{share}"
            + (f"\n{undecided} undecided (annotators tied), left out" if undecided else ""))


def _pp(x: float) -> str:
    """Percentage points, signed, without a "-0"."""
    text = f"{100 * x:+.0f}"
    return "0" if text in ("+0", "-0") else text


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), or one line saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise AfError("the figure needs matplotlib: pip install 'af-tui[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def save_figure(plt, fig, out: Path) -> None:
    """Write the figure at 300 dpi and close it; a file that cannot be written is one line."""
    try:
        with warnings.catch_warnings():  # a control picture in a model name has no glyph: drawn as a box
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            fig.savefig(out, dpi=300)
    except OSError as exc:
        raise AfError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def write_figure(slices: list[SliceStats], out: Path, width: float = 3.5) -> Path:
    plt = pyplot()

    rows = bar_rows(slices)
    if not rows:
        raise AfError("no valid samples to plot (every sample is an error?)")
    has_af = any(r.af_share is not None for r in rows)
    models = list(dict.fromkeys(r.label for r in rows))
    # Layout: each model is a block of its tier bars, a small gap between models.
    y, ys = 0.0, []
    last = None
    for r in rows:
        if last is not None and r.label != last:
            y += 0.5
        ys.append(y)
        last = r.label
        y += 1
    height = 0.55 + 0.19 * len(rows) + 0.12 * len(models) + (0.35 if has_af else 0.2)
    with plt.rc_context({"font.size": 7, "axes.titlesize": 7, "hatch.linewidth": 0.6,
                         "font.family": "DejaVu Sans", "svg.fonttype": "none", "pdf.fonttype": 42}):
        fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
        for yy, r in zip(ys, rows, strict=True):
            left = 0.0
            for outcome in VALID_OUTCOMES:
                share = r.shares[outcome] or 0.0
                if outcome == Outcome.BLOCKED and not share:
                    continue
                ax.barh(yy, share, left=left, height=0.8, color=COLOURS[outcome], edgecolor="white",
                        linewidth=0.3)
                if outcome == Outcome.COMPLIED and r.af_share:
                    ax.barh(yy, r.af_share, left=0, height=0.8, color="none", edgecolor="#7A3B00",
                            hatch=AF_HATCH, linewidth=0)
                left += share
            lo, hi = r.ci
            c = r.shares[Outcome.COMPLIED]
            ax.errorbar(c, yy, xerr=[[c - lo], [hi - c]], fmt="none", ecolor="black", elinewidth=0.7,
                        capsize=1.6, capthick=0.7)
            ax.text(1.01, yy, f"n={r.n}", va="center", ha="left", fontsize=5.5, color="#444444",
                    transform=ax.get_yaxis_transform())
        ax.set_yticks(ys, [f"{r.tier}" for r in rows], fontsize=6)
        # Model names sit left of their pair of bars.
        # Model names sit left of their bars, a fixed distance in points past the tier labels.
        name_at = {"xycoords": ax.get_yaxis_transform(), "textcoords": "offset points", "ha": "right"}
        for label in models:
            members = [(yy, r) for yy, r in zip(ys, rows, strict=True) if r.label == label]
            mid = sum(yy for yy, _ in members) / len(members)
            gap = members[0][1].gap
            ax.annotate(label, xy=(0, mid), xytext=(-24, 0), va="bottom" if gap else "center",
                        fontsize=6.5, **name_at)
            if gap is not None:  # the headline figure of the model, under its name
                ci = f"[{_pp(gap.low)}, {_pp(gap.high)}]" if gap.estimable else "[not estimable]"
                ax.annotate(f"gap {_pp(gap.estimate)} pp\n{ci}", xy=(0, mid),
                            xytext=(-24, -1), va="top", fontsize=5.5, color="#444444", linespacing=1.1,
                            **name_at)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "25%", "50%", "75%", "100%"])
        # The caption says how the numbers were made: the compliance rule or judge, and the AF source.
        when = f" (complied = {slices[0].complied_when})" if slices[0].complied_when else ""
        sources = f"compliance: {slices[0].compliance}{when} · AF source: {slices[0].af_source}"
        settings = sorted({r for s in slices for r in s.rule.split(",") if SETTING_MARK in r})
        if settings:  # runs under another setting than helpful-only name it, with their rule
            sources += " · rule: " + ", ".join(settings)
        if any(s.interval_method(t) != "Wilson" for s in slices for t in Tier):  # requests repeat
            sources += " · error bars: Wilson, effective n by request"
        label = "share of valid samples (errors excluded)\n" + one_line(sources, 120)
        if has_af:
            label += "\n" + af_coverage(slices)
        ax.set_xlabel(label.replace("$", r"\$"))
        ax.spines[["top", "right"]].set_visible(False)
        from matplotlib.patches import Patch

        handles = [Patch(facecolor=COLOURS[Outcome.COMPLIED], label=OUTCOME_WORD[Outcome.COMPLIED]),
                   Patch(facecolor=COLOURS[Outcome.REFUSED], label=OUTCOME_WORD[Outcome.REFUSED]),
                   Patch(facecolor=COLOURS[Outcome.FORMAT_NOT_FOLLOWED], label="format not followed")]
        if any(r.shares[Outcome.BLOCKED] for r in rows):
            handles.append(Patch(facecolor=COLOURS[Outcome.BLOCKED], label="blocked by the provider"))
        if has_af:
            handles.append(Patch(facecolor=COLOURS[Outcome.COMPLIED], edgecolor="#7A3B00", hatch=AF_HATCH,
                                 linewidth=0, label="complied, alignment-faking reasoning"))
        fig.legend(handles=handles, loc="outside upper center", ncol=2 if has_af else 3, frameon=False,
                   fontsize=6, handlelength=1.4, columnspacing=1.0)
        save_figure(plt, fig, out)
    return out
