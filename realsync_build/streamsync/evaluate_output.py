"""What ``realsync evaluate`` shows: the summary on the terminal (methods, then the floors), the
accuracy-by-iteration plot and CSV, and the modality-ablation statement."""

from __future__ import annotations

from pathlib import Path

from realsync_build.core import atomic
from realsync_build.core.ui import console
from realsync_build.streamsync.baselines import FLOOR_LABEL, FLOORS
from realsync_build.streamsync.task import NUM_CLASSES

METHODS = ("snapshot", "apa", "streamsync")


# One look per method, different in marker, line style and width: at iteration 1 APA *is* the
# snapshot, and the two often stay close, so a line drawn on top must not hide the one below it
# (the snapshot: wide and solid underneath; APA: dashed with hollow markers; StreamSync: dotted).
LINE_STYLES = {
    "snapshot": dict(marker="o", linestyle="-", linewidth=3.0, markersize=7, zorder=1),
    "apa": dict(marker="s", linestyle="--", linewidth=1.6, markersize=6, markerfacecolor="none", zorder=2),
    "streamsync": dict(marker="^", linestyle=":", linewidth=1.8, markersize=6, zorder=3),
}


def by_iteration_figure(rows: list[dict], title: str):
    """The accuracy-by-iteration figure (returned, so its lines can be checked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6, 4))
    it = [r["iteration"] for r in rows]
    for m in METHODS:
        if rows and m in rows[0]:
            ax.plot(it, [r[m] for r in rows], label=m, **LINE_STYLES.get(m, {}))
    ax.set_xlabel("iteration (window)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)  # accuracy lives in 0..1; an autoscaled axis exaggerates small differences
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_by_iteration(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib.pyplot as plt

    fig = by_iteration_figure(rows, title)
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def by_iteration_table(rows: list[dict]) -> str:
    cols = [m for m in METHODS if rows and m in rows[0]]
    lines = [",".join(["iteration", *cols])] + [",".join([str(r["iteration"]), *(f"{r[m]:.4f}" for m in cols)]) for r in rows]
    return "\n".join(lines) + "\n"


def ablation_statement(m: dict) -> str:
    chance = m["chance"].get("acc_majority", 1 / NUM_CLASSES)
    near = lambda acc: acc <= max(1.5 * chance, chance + 0.05)  # noqa: E731
    clean = m["streamsync"]["acc"] or 0.0
    parts = []
    for kind, label in (("audio_silenced", "audio silenced"), ("video_blanked", "video blanked")):
        acc = m["ablation"][kind]["streamsync"]["acc"] or 0.0
        parts.append(f"with {label} StreamSync accuracy is {acc:.3f} ({'near' if near(acc) else 'ABOVE'} chance {chance:.3f})")
    if near(clean):
        verdict = f"the model itself is near chance ({clean:.3f}), so the ablation shows nothing yet"
    elif all("(near" in p for p in parts):
        verdict = f"from {clean:.3f} with both, it falls to near chance without either: it uses both modalities, as a sound sync model must"
    else:
        verdict = "it does not fall to chance on every ablation: it may exploit a single-modality cue"
    return "; ".join(parts) + f"; {verdict}."


def print_summary(m: dict) -> None:
    from rich.table import Table

    t = Table(title=f"{m['split']}: {m['n_segments']} segments, {m['iterations']} iterations")
    for c in ("method", "acc", "acc +/-1", "ROC-AUC", "mAP"):
        t.add_column(c)
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for meth in METHODS:
        if meth not in m:
            continue
        r = m[meth]
        t.add_row(meth, f(r["acc"]), f(r["acc_pm1"]), f(r["roc_auc"]), f(r["map"]))
    if "pretrained" in m:
        r = m["pretrained"]
        t.add_row("pretrained (no fine-tuning)", f(r["acc"]), f(r["acc_pm1"]), f(r["roc_auc"]), f(r["map"]))
    for name in FLOORS:  # the floor beside every figure
        r = (m.get("baselines") or {}).get(name)
        if isinstance(r, dict):
            t.add_row(f"floor: {FLOOR_LABEL[name]} ({r['offset_s']:+.1f} s)", f(r["acc"]), f(r["acc_pm1"]), f(r["roc_auc"]), f(r["map"]), style="dim")
    console.print(t)
    src = ((m.get("baselines") or {}).get("most_common") or {}).get("source")
    if src:
        console.print(f"floors: constant predictors on the same segments; the most common class is that of {src}.", highlight=False)
    if len(m.get("by_window_count", [])) > 1:
        w = Table(title="mAP by window count (Table 4)")
        for c in ("windows", "snapshot (best)", "APA", "StreamSync"):
            w.add_column(c)
        for r in m["by_window_count"]:
            w.add_row(str(r["iterations"]), f(r["snapshot"]["map"]), f(r["apa"]["map"]), f((r.get("streamsync") or {}).get("map")))
        floor_map = ((m.get("baselines") or {}).get("always_zero") or {}).get("map")
        if floor_map is not None:
            w.add_row("floor (constant)", f(floor_map), f(floor_map), f(floor_map), style="dim")
        console.print(w)
    for note in m["notes"]:
        console.print(f"note: {note}")
    if "ablation" in m:
        console.print(m["ablation"]["statement"])
    if "cost" in m:
        c = m["cost"]
        console.print(f"cost at batch 1: snapshot {c['snapshot_ms']:.2f} ms/iteration; "
                      + "; ".join(f"+{k} head {v['head_ms']:.2f} ms ({v['overhead_pct']:.1f}%)" for k, v in c["heads"].items()))
