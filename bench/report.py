"""The run's results as one JSON document, a Markdown table made from it, and the files written.

Every figure is a median over the run's samples; its ratio is to nginx's median
from the same run (None without nginx). The document is written first, and the
Markdown and the chart are pure functions of it.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from bench.chart import chart_available, write_ratio_chart
from bench.config import BenchConfig
from bench.environment import BUSY_LOAD
from bench.metrics import format_value, metric, metrics_of, scenario_titles
from bench.runner import Results
from bench.servers import REFERENCE, STREAMER_SYSTEMS, SYSTEMS
from bench.targets import evaluate_all, verdict_text

LATEST = "latest"


def system_entry(results: Results, scenario: str, system: str, unavailable: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    samples = results.samples.get(scenario, {}).get(system, {})
    entry["metrics"] = {
        m.key: {"median": statistics.median(samples[m.key]), "samples": samples[m.key], "unit": m.unit, "ratio": None}
        for m in metrics_of(scenario)
        if samples.get(m.key)
    }
    reason = unavailable.get(system) or results.not_applicable.get(scenario, {}).get(system)
    if reason:
        entry["na"] = reason
    for field, table in (("error", results.errors), ("check", results.checks)):
        if system in table.get(scenario, {}):
            entry[field] = table[scenario][system]
    return entry


def add_ratios(scenario: str, systems: dict[str, dict[str, Any]]) -> None:
    reference = systems.get(REFERENCE, {}).get("metrics", {})
    for entry in systems.values():
        for key, figure in entry["metrics"].items():
            base = reference.get(key, {}).get("median")
            figure["ratio"] = figure["median"] / base if base and metric(scenario, key).compared else None


def summarize(results: Results, config: BenchConfig, unavailable: dict[str, str], meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of a run."""
    titles = scenario_titles(config)
    scenarios: dict[str, Any] = {}
    for scenario in config.scenarios:
        systems = {system: system_entry(results, scenario, system, unavailable) for system in SYSTEMS}
        add_ratios(scenario, systems)
        scenarios[scenario] = {"title": titles[scenario], "systems": systems}
    return {
        "meta": meta,
        "systems": list(SYSTEMS),
        "reference": None if REFERENCE in unavailable else REFERENCE,
        "unavailable": unavailable,
        "scenarios": scenarios,
        "targets": evaluate_all(scenarios, list(STREAMER_SYSTEMS)),
    }


def cell(entry: dict[str, Any], scenario: str, key: str) -> str:
    figure = entry["metrics"].get(key)
    if figure is None:
        return "error" if "error" in entry else "n/a"
    text = format_value(figure["median"], metric(scenario, key).unit)
    return text if figure["ratio"] is None else f"{text} ({figure['ratio']:.2f}x)"


def figures_table(doc: dict[str, Any]) -> list[str]:
    systems = doc["systems"]
    lines = ["| scenario | metric | " + " | ".join(systems) + " |", "|---|---|" + "---|" * len(systems)]
    for scenario, data in doc["scenarios"].items():
        for m in metrics_of(scenario):
            cells = [cell(data["systems"][system], scenario, m.key) for system in systems]
            if all(c in ("n/a", "error") for c in cells) and m.key.startswith("clients"):
                continue
            better = "higher" if m.higher_is_better else "lower"
            lines.append(f"| ({scenario}) {data['title']} | {m.label} ({better} is better) | " + " | ".join(cells) + " |")
    return lines


def targets_table(doc: dict[str, Any]) -> list[str]:
    lines = ["| target | " + " | ".join(STREAMER_SYSTEMS) + " |", "|---|" + "---|" * len(STREAMER_SYSTEMS)]
    texts = list(dict.fromkeys(v["target"] for v in doc["targets"]))
    for text in texts:
        verdicts = {v["system"]: v for v in doc["targets"] if v["target"] == text}
        lines.append(f"| {text} | " + " | ".join(verdict_text(verdicts[s]) for s in STREAMER_SYSTEMS) + " |")
    return lines


def notes(doc: dict[str, Any]) -> list[str]:
    lines = [f"- **{system} not run**: {reason}" for system, reason in doc["unavailable"].items()]
    if not chart_available():
        lines.append("- **no chart**: matplotlib is not installed (pip install -e '.[bench]')")
    lines += [f"- **{tool} missing**: {reason}" for tool, reason in doc["meta"].get("missing_tools", {}).items()]
    load = doc["meta"]["load_average_1min"]
    figures = f"1-minute load average {load['before']:.2f} before the run, {load['after']:.2f} after it"
    if load["before"] > BUSY_LOAD:
        lines.append(f"- **machine busy before the run** ({figures}): another job may have shared the CPUs")
    else:
        lines.append(f"- machine idle before the run ({figures}, the latter from the benchmark itself)")
    for scenario, data in doc["scenarios"].items():
        for system, entry in data["systems"].items():
            if system in doc["unavailable"]:
                continue
            for field, label in (("check", "spot check"), ("na", "n/a"), ("error", "ERROR")):
                if field in entry:
                    lines.append(f"- ({scenario}) {system}, {label}: {entry[field]}")
    return lines


def markdown(doc: dict[str, Any]) -> str:
    meta, env = doc["meta"], doc["meta"]["environment"]
    packages = ", ".join(f"{name} {version}" for name, version in env["packages"].items() if version)
    reference = "nginx" if doc["reference"] else "nothing (nginx not run: no ratios)"
    config = meta["config"]
    rounds = f"{config['rounds']} round(s), wrk runs of {config['wrk_duration_s']} s"
    when = f"{meta['started']}; {rounds}; whole run {meta['elapsed_s']:.0f} s."
    tools = f"Python {env['python']}; nginx {env['nginx']}; wrk {env['wrk']}"
    machine = f"{env['cpu']} ({env['cpus']} CPUs), kernel {env['kernel']}; {tools}"
    head = [
        f"# streamer benchmark ({'smoke run' if config['smoke'] else 'full run'})",
        "",
        f"{when} Servers pinned to CPU 0 (one worker each), clients to CPU 1, 127.0.0.1 only.",
        f"Medians over the rounds; in brackets the ratio to {reference} from this same run.",
        "",
        f"{machine}; {packages}; streamer commit {env['streamer_commit']}.",
        "",
    ]
    body = [*figures_table(doc), "", "## Targets for streamer", "", *targets_table(doc), "", "## Notes", "", *notes(doc)]
    return "\n".join(head + body) + "\n"


def write_outputs(doc: dict[str, Any], out_dir: Path, stamp: str) -> dict[str, Path]:
    """``latest.{json,md,png}`` and a copy of each named by ``stamp`` (no PNG without matplotlib)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    suffixes = ("json", "md", "png") if chart_available() else ("json", "md")
    latest = {suffix: out_dir / f"{LATEST}.{suffix}" for suffix in suffixes}
    latest["json"].write_text(json.dumps(doc, indent=2) + "\n")
    latest["md"].write_text(markdown(doc))
    if "png" in latest:
        write_ratio_chart(doc, latest["png"])
    for path in latest.values():
        shutil.copyfile(path, out_dir / f"{stamp}.{path.suffix.lstrip('.')}")
    return latest
