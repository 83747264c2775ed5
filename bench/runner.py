"""The loop: each measurement over rounds x systems, the order of systems rotated each round.

Progress goes to stderr, one line per measurement. A measurement that does not
apply is recorded as n/a with its reason; one that fails is recorded as an error
and the run goes on, so one broken system never hides the others' figures.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from bench.load import LoadError
from bench.metrics import format_value, metric
from bench.scenarios import SETTLE_S, Context, Measurement, NotApplicable, Values, measurements
from bench.servers import Server

Table = dict[str, dict[str, str]]  # scenario -> system -> text


@dataclass
class Results:
    samples: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)  # scenario -> system -> metric
    not_applicable: Table = field(default_factory=dict)
    errors: Table = field(default_factory=dict)
    checks: Table = field(default_factory=dict)  # untimed correctness checks, e.g. (c)'s Range spot check

    def record(self, system: str, values: Values) -> None:
        for scenario, metrics in values.items():
            for key, value in metrics.items():
                self.samples.setdefault(scenario, {}).setdefault(system, {}).setdefault(key, []).append(value)

    def note(self, table: Table, scenarios: tuple[str, ...], system: str, text: str) -> None:
        for scenario in scenarios:
            table.setdefault(scenario, {})[system] = text


class Progress:
    """One line per event on stderr, stamped with the seconds since the run began."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def line(self, text: str) -> None:
        print(f"{self.elapsed_s():7.1f}s  {text}", file=sys.stderr, flush=True)


def rotated(names: list[str], shift: int) -> list[str]:
    shift %= len(names)
    return names[shift:] + names[:shift]


def describe(values: Values) -> str:
    return ", ".join(
        f"{scenario}: {metric(scenario, key).label} {format_value(value, metric(scenario, key).unit)}"
        for scenario, metrics in values.items()
        for key, value in metrics.items()
    )


def run_one(measurement: Measurement, server: Server, ctx: Context, results: Results, label: str, progress: Progress) -> None:
    wanted = tuple(s for s in measurement.scenarios if ctx.config.wants(s))
    try:
        values = measurement.measure(server, ctx)
    except NotApplicable as exc:
        results.note(results.not_applicable, wanted, server.name, str(exc))
        progress.line(f"{label} {server.name}: n/a ({exc})")
        return
    except (LoadError, OSError, LookupError, ValueError) as exc:
        results.note(results.errors, wanted, server.name, f"{type(exc).__name__}: {exc}")
        progress.line(f"{label} {server.name}: ERROR {type(exc).__name__}: {exc}")
        return
    finally:
        time.sleep(SETTLE_S)
    values = {scenario: metrics for scenario, metrics in values.items() if scenario in wanted}
    results.record(server.name, values)
    progress.line(f"{label} {server.name}: {describe(values)}")


def run_check(measurement: Measurement, server: Server, ctx: Context, results: Results, progress: Progress) -> None:
    if measurement.check is None:
        return
    label = "/".join(measurement.scenarios)
    try:
        outcome = measurement.check(server, ctx)
    except (LoadError, OSError) as exc:
        results.note(results.errors, measurement.scenarios, server.name, f"check failed: {exc}")
        results.note(results.checks, measurement.scenarios, server.name, f"FAILED: {exc}")
        progress.line(f"[{label}] check {server.name}: FAILED {exc}")
        return
    results.note(results.checks, measurement.scenarios, server.name, outcome)
    progress.line(f"[{label}] check {server.name}: {outcome}")


def run_all(servers: dict[str, Server], ctx: Context, progress: Progress) -> Results:
    """Every wanted measurement against every server; (g)-like ones once per system."""
    results = Results()
    names = list(servers)
    for measurement in measurements():
        if not ctx.config.wants(*measurement.scenarios):
            continue
        for name in names:
            run_check(measurement, servers[name], ctx, results, progress)
        rounds = ctx.config.rounds if measurement.per_round else 1
        for round_index in range(rounds):
            label = f"[{'/'.join(measurement.scenarios)}] round {round_index + 1}/{rounds}"
            for name in rotated(names, round_index):
                run_one(measurement, servers[name], ctx, results, label, progress)
    return results
