"""The run's report: ``metrics.json`` turned into Markdown with PNG plots, deterministically.

Plots (matplotlib, Agg, no timestamps in the files so the same seed gives the same bytes):
``adoption.png`` (close contacts warned against adoption, with p²), ``quality.png`` (precision,
recall and F1 against adoption), ``delay.png`` (positive test to warning), ``keys.png`` (keys
published per day, real and padding, and bytes per device per day) and ``thresholds.png``
(precision against recall of the alternative risk configurations).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sim.config import SOURCES

__all__ = ["write_outputs", "write_report"]

PLOTS = ("adoption.png", "quality.png", "delay.png", "keys.png", "thresholds.png")
TARGET_SHARE_OF_OWNERS = 0.60


def write_outputs(metrics: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "metrics.json"
    path.write_text(
        json.dumps(metrics, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return [path, *write_report(metrics, out)]


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f} %"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _curve_point(metrics: dict[str, Any], level: float) -> dict[str, Any] | None:
    rows = metrics["adoption_curve"]
    return min(rows, key=lambda r: abs(r["adoption"] - level)) if rows else None


def _answers(metrics: dict[str, Any]) -> list[str]:
    config, w = metrics["config"], metrics["warnings"]
    adoption = metrics["population"]["adoption"]
    ownership = metrics["population"]["smartphone_owners"] / metrics["population"]["agents"]
    target = TARGET_SHARE_OF_OWNERS * ownership
    point = _curve_point(metrics, target)
    lines = [
        f"* **At this run's adoption ({_pct(adoption)} of the population)** the app warned "
        f"{_pct(w['found'])} of the {w['close_contacts']:,} close contacts of cases. Both people must "
        f"run the app: p² = {_pct(w['p_squared'])} for two people at random, "
        f"{_pct(w['close_pairs_both_app'])} of the close (case, contact) pairs here; then the case must "
        f"agree to upload ({_pct(config['upload_consent'], 0)} assumed) and the radio must catch the "
        f"contact: {_pct(w['recall'])} of the close contacts it could reach were warned. "
        f"{_pct(w['precision'])} of its warnings went to close contacts of the case whose keys caused them.",
    ]
    if point is not None:
        lines.append(
            f"* **At 60 % of smartphone owners** ({_pct(ownership, 0)} own one, so about "
            f"{_pct(target, 0)} of everyone; the curve's nearest level is {_pct(point['adoption'])}) it would "
            f"warn {_pct(point['found'])} of close contacts, "
            f"{point['found'] / w['found']:.1f}× the share at this run's adoption."
            if w["found"]
            else f"* **At 60 % of smartphone owners** it would warn {_pct(point['found'])} of close contacts."
        )
    best = max(metrics["thresholds"], key=lambda r: r["f1"] or 0.0)
    lines.append(
        f"* **Thresholds**: of the configurations tried on this run's sightings, the best F1 is "
        f"{_num(best['f1'])} ({best['name']}); this run's configuration scores {_num(metrics['thresholds'][0]['f1'])}."
    )
    return lines


def write_report(metrics: dict[str, Any], out: Path) -> list[Path]:
    written = _plots(metrics, out)
    config, w = metrics["config"], metrics["warnings"]
    delay = metrics["delay_hours"]["test_to_warning"]
    wait = metrics["delay_hours"]["upload_to_published"]
    b = metrics["bytes_per_device_per_day"]
    pop = metrics["population"]
    lines = [
        f"# Simulation: {config['scenario']}, {config['agents']:,} agents × {config['days']} days, "
        f"seed {config['seed']}",
        "",
        "## Answers",
        "",
        *_answers(metrics),
        "",
        "## Warnings at this run's adoption",
        "",
        "| warned | close contacts | reachable | precision | recall | F1 | found | p² | close pairs both app |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {w['warned']:,} | {w['close_contacts']:,} | {w['reachable']:,} | {_num(w['precision'])} | "
        f"{_num(w['recall'])} | {_num(w['f1'])} | {_pct(w['found'], 2)} | {_pct(w['p_squared'], 2)} | "
        f"{_pct(w['close_pairs_both_app'], 2)} |",
        "",
        "A warning is correct when its receiver was a close contact of a case whose keys it matched. "
        "*Reachable*: close contacts running the app, with a close case that uploaded. *Found*: close "
        "contacts correctly warned over all close contacts. Keys cover whole UTC days from onset − 2 "
        "days (GAEN), the infectious window starts at onset − 48 h: contacts earlier that day can be "
        "warned and count as wrong.",
        "",
    ]
    check = metrics.get("real_path_check")
    if check:
        scope = (
            "every app user"
            if check["whole_population"]
            else f"a sampled cohort of {check['devices']:,} app users"
        )
        verdict = (
            "the same warnings at the same times"
            if check["agree"]
            else f"**{check['disagreements']} disagreements**"
        )
        lines += [
            f"The real protocol (tracer server, export files over HTTP, `protocol.matching`, `protocol.risk`) ran for "
            f"{scope}: {check['warned_real']} warned, against {check['warned_vectorized']} by the vectorized path — "
            f"{verdict}.",
            "",
        ]
    lines += [
        "## Adoption",
        "",
        "![close contacts warned against adoption](adoption.png)",
        "![precision, recall, F1 against adoption](quality.png)",
        "",
        "| adoption | realised | p² | close pairs both app | found | precision | recall | F1 | warned |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {_pct(r['adoption'])} | {_pct(r['realised'])} | {_pct(r['p_squared'], 2)} | "
            f"{_pct(r['close_pairs_both_app'], 2)} | {_pct(r['found'], 2)} | "
            f"{_num(r['precision'])} | {_num(r['recall'])} | {_num(r['f1'])} | {r['warned']:,} |"
            for r in metrics["adoption_curve"]
        ),
        "",
        "## Thresholds",
        "",
        "![precision against recall per risk configuration](thresholds.png)",
        "",
        "| configuration | precision | recall | F1 | warned |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {r['name']} | {_num(r['precision'])} | {_num(r['recall'])} | {_num(r['f1'])} | {r['warned']:,} |"
            for r in metrics["thresholds"]
        ),
        "",
        "## Time from positive test to warning",
        "",
        "![hours from positive test to warning](delay.png)",
        "",
        f"Median {_num(delay['median'], 1)} h, 90th percentile {_num(delay['p90'], 1)} h "
        f"over {delay['count']} warnings. "
        f"Keys wait {_num(wait['median'], 1)} h (median) from upload to export: the export window "
        f"({config['export_period_minutes']} min) and its minimum age ({config['export_min_window_age_minutes']} min); "
        f"devices sync every {config['sync_interval_minutes']:g} min.",
        "",
        "## Bytes and keys",
        "",
        "![keys published and bytes per device, per day](keys.png)",
        "",
        f"Per device per day: {b['download']:,.0f} bytes downloaded (every export file), "
        f"{b['stored_sightings']:,.0f} bytes of sightings stored "
        f"({_num(b['sightings']['mean'], 1)} sightings, median {_num(b['sightings']['median'], 1)})"
        + (
            f"; an uploading device sends {b['upload_per_uploading_device']:,.0f} bytes once."
            if b["upload_per_uploading_device"]
            else "."
        ),
        "",
        "| UTC day | real keys | padding | files | bytes |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {d['day']} | {d['real']} | {d['padding']} | {d['files']} | {d['bytes']:,} |"
            for d in metrics["keys_per_day"]
        ),
        "",
        "## Population and activity",
        "",
        f"{pop['agents']:,} agents in {pop['households']:,} households, "
        f"{pop['smartphone_owners']:,} smartphone owners, {pop['app_users']:,} app users; "
        f"{metrics['activity']['episodes_per_day']:,.0f} contact episodes a day, "
        f"{metrics['activity']['app_app_episodes_per_day']:,.0f} between two app users, "
        f"{metrics['activity']['observations_per_day']:,.0f} scan observations. "
        f"{metrics['cases']['cases']} cases, {metrics['cases']['with_app']} with the app, "
        f"{metrics['cases']['uploaded']} uploaded {metrics['cases']['keys_published']} keys.",
        "",
        "| district | agents | app users |",
        "|---|---:|---:|",
        *(
            f"| {d['name']} | {d['agents']:,} | {d['app_users']:,} |"
            for d in metrics["population"]["districts"]
        ),
        "",
        "## Configuration",
        "",
        "| setting | value | source of the default |",
        "|---|---|---|",
        *(
            f"| `{name}` | {json.dumps(value, ensure_ascii=False)} | {SOURCES.get(name, '')} |"
            for name, value in config.items()
            if name != "districts"
        ),
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return [path, *written]


def _plots(metrics: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "bluezone", "figure.dpi": 100, "font.size": 9})
    written = []

    def save(fig: Any, name: str) -> None:
        path = out / name
        fig.tight_layout()
        fig.savefig(path, format="png", metadata={"Software": None})
        plt.close(fig)
        written.append(path)

    curve = metrics["adoption_curve"]
    x = [100 * r["realised"] for r in curve]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, [100 * (r["found"] or 0) for r in curve], "o-", label="close contacts warned")
    ax.plot(x, [100 * r["p_squared"] for r in curve], "--", color="grey", label="p² (two people at random)")
    ax.plot(
        x,
        [100 * (r["close_pairs_both_app"] or 0) for r in curve],
        ":",
        color="black",
        label="close case pairs both running it",
    )
    adoption = 100 * metrics["population"]["adoption"]
    ax.axvline(adoption, color="tab:red", lw=0.8, ls=":", label=f"this run ({adoption:.1f} %)")
    ax.set_xlabel("adoption (% of population)")
    ax.set_ylabel("% of close contacts of cases")
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, "adoption.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ("precision", "recall", "f1"):
        ax.plot(x, [r[name] if r[name] is not None else float("nan") for r in curve], "o-", label=name)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("adoption (% of population)")
    ax.set_ylabel("score")
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, "quality.png")

    hist = metrics["delay_hours"]["histogram"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([h["from_hours"] for h in hist], [h["count"] for h in hist], width=5.5, align="edge")
    ax.set_xlabel("hours from positive test to warning")
    ax.set_ylabel("warnings")
    ax.grid(alpha=0.3, axis="y")
    save(fig, "delay.png")

    days = metrics["keys_per_day"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.5))
    labels = [d["day"][5:] for d in days]
    ax.bar(labels, [d["real"] for d in days], label="real keys")
    ax.bar(labels, [d["padding"] for d in days], bottom=[d["real"] for d in days], label="padding", alpha=0.5)
    ax.set_ylabel("keys published")
    ax.tick_params(axis="x", rotation=45)
    ax.legend()
    stored = metrics["bytes_per_device_per_day"]["stored_sightings"] / 1000
    bx.bar(labels, [d["bytes"] / 1000 for d in days], label="downloaded (every export file)")
    bx.axhline(stored, color="tab:orange", label=f"sightings stored (mean {stored:.1f} kB)")
    bx.set_ylabel("kB per device")
    bx.tick_params(axis="x", rotation=45)
    bx.legend(fontsize=7)
    save(fig, "keys.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    for row in metrics["thresholds"]:
        if row["precision"] is not None and row["recall"] is not None:
            ax.scatter(row["recall"], row["precision"])
            ax.annotate(
                row["name"],
                (row["recall"], row["precision"]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall (of reachable close contacts)")
    ax.set_ylabel("precision")
    ax.grid(alpha=0.3)
    save(fig, "thresholds.png")
    return written
