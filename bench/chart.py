"""A PNG of every system's ratio to nginx, per scenario metric (matplotlib, Agg backend).

Bars on a log scale around 1.0 (nginx); the issue's relative targets are drawn
as short dashed marks. Without nginx the chart says so instead of plotting.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from bench.metrics import metrics_of
from bench.servers import REFERENCE
from bench.targets import TARGETS

FIGURE_SIZE_IN = (14, 7.5)
DPI = 110
BAR_GROUP_WIDTH = 0.8
COLOURS = {"streamer-async": "#1f77b4", "streamer-sync": "#2ca02c", "starlette": "#ff7f0e"}


def chart_rows(doc: dict[str, Any]) -> list[tuple[str, str, str, dict[str, float]]]:
    """(scenario, key, label, {system: ratio}) for every metric that has a ratio."""
    rows = []
    for scenario, data in doc["scenarios"].items():
        for m in metrics_of(scenario):
            if not m.compared:
                continue
            ratios = {
                system: entry["metrics"][m.key]["ratio"]
                for system, entry in data["systems"].items()
                if system != REFERENCE and entry["metrics"].get(m.key, {}).get("ratio")
            }
            if ratios:
                better = "higher" if m.higher_is_better else "lower"
                rows.append((scenario, m.key, f"({scenario}) {m.label} [{better} better]", ratios))
    return rows


def chart_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def write_ratio_chart(doc: dict[str, Any], path: Path) -> None:
    """The PNG at ``path``; needs matplotlib (``pip install -e '.[bench]'``)."""
    import matplotlib

    matplotlib.use("Agg")  # no display; chosen before pyplot is imported
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=FIGURE_SIZE_IN)
    try:
        rows = chart_rows(doc) if doc["reference"] else []
        if not rows:
            ax.text(0.5, 0.5, "no ratios to nginx in this run", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        else:
            draw_bars(ax, rows, [s for s in doc["systems"] if s != REFERENCE])
        kind = "smoke run" if doc["meta"]["config"]["smoke"] else "full run"
        ax.set_title(f"Ratio to nginx in the same run ({kind}; medians; log scale)")
        fig.tight_layout()
        fig.savefig(path, dpi=DPI, format="png")
    finally:
        plt.close(fig)


def draw_bars(ax: Any, rows: list[tuple[str, str, str, dict[str, float]]], systems: list[str]) -> None:
    width = BAR_GROUP_WIDTH / len(systems)
    for index, system in enumerate(systems):
        xs = [i - BAR_GROUP_WIDTH / 2 + (index + 0.5) * width for i in range(len(rows))]
        heights = [ratios.get(system, 0.0) for _, _, _, ratios in rows]
        ax.bar(xs, heights, width, label=system, color=COLOURS.get(system))
    for i, (scenario, key, _, _) in enumerate(rows):
        for target in TARGETS:
            if target.relative and (target.scenario, target.key) == (scenario, key):
                ax.hlines(target.bound, i - 0.45, i + 0.45, colors="red", linestyles="dashed")
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), [label for _, _, label, _ in rows], fontsize=8, rotation=35, ha="right")
    ax.set_ylabel("system / nginx")
    ax.plot([], [], color="red", linestyle="dashed", label="streamer target")
    ax.legend(fontsize=8)
