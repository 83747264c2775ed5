"""The issue's targets for streamer, and whether a run met them.

A relative target compares streamer's median with nginx's median from the same
run (its ratio); an absolute one compares the median itself. Without nginx, or
without the measurement, a relative target is "n/a", never "met".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.metrics import format_value, metric


@dataclass(frozen=True)
class Target:
    scenario: str
    key: str
    bound: float
    at_most: bool  # True: value <= bound; False: value >= bound
    relative: bool  # True: the bound is on the ratio to nginx
    text: str


TARGETS = (
    Target("a", "throughput_Bps", 0.6, False, True, "(a) 1 GiB single stream >= 0.6x nginx"),
    Target("b", "throughput_Bps", 0.6, False, True, "(b) 32 x 10 MiB >= 0.6x nginx"),
    Target("c", "req_s", 0.3, False, True, "(c) random 256 KiB ranges >= 0.3x nginx req/s"),
    Target("c", "p99_ms", 5.0, True, True, "(c) random 256 KiB ranges p99 <= 5x nginx p99"),
    Target("d", "req_s", 0.2, False, True, "(d) 100 KiB files >= 0.2x nginx req/s"),
    Target("e", "p99_ms", 5.0, True, False, "(e) /healthz under 16 downloads p99 <= 5 ms"),
    Target("f", "peak_rss_mib", 80.0, True, False, "(f) peak RSS at 32 streams <= 80 MiB"),
)


def evaluate(target: Target, scenarios: dict[str, Any], system: str) -> dict[str, Any]:
    """``{"target", "system", "value", "shown", "met"}``; met is None when it cannot be judged."""
    verdict: dict[str, Any] = {"target": target.text, "system": system, "value": None, "shown": "n/a", "met": None}
    entry = scenarios.get(target.scenario, {}).get("systems", {}).get(system, {})
    figure = entry.get("metrics", {}).get(target.key)
    if figure is None:
        verdict["shown"] = "not measured" if target.scenario in scenarios else "not run"
        return verdict
    value = figure.get("ratio") if target.relative else figure["median"]
    if value is None:
        verdict["shown"] = "n/a (no nginx ratio)"
        return verdict
    met = value <= target.bound if target.at_most else value >= target.bound
    shown = f"{value:.2f}x" if target.relative else format_value(value, metric(target.scenario, target.key).unit)
    return {**verdict, "value": value, "shown": shown, "met": met}


def evaluate_all(scenarios: dict[str, Any], systems: list[str]) -> list[dict[str, Any]]:
    return [evaluate(target, scenarios, system) for target in TARGETS for system in systems]


def verdict_text(verdict: dict[str, Any]) -> str:
    if verdict["met"] is None:
        return str(verdict["shown"])
    return f"{verdict['shown']}: {'met' if verdict['met'] else '**not met**'}"
