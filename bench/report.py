"""Results: bench/results/latest.json (everything), latest.md (the table), latest.png (the ratios)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.harness import Row

RESULTS = Path(__file__).parent / "results"


def table(rows: list[Row]) -> str:
    lines = [
        "| group | bench | our path | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.3g}x"
        lines.append(
            f"| {row.group} | {row.bench} | {row.ours} | {row.baseline} | {ratio} | {row.target} | "
            f"{'yes' if row.met else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def write(rows: list[Row], meta: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(
        json.dumps({**meta, "rows": [asdict(row) for row in rows]}, indent=2, default=str) + "\n"
    )
    missed = [row for row in rows if not row.met]
    notes = [
        "# thinbase benchmarks",
        "",
        f"{meta['finished_at']} · {meta['machine']} · PostgreSQL {meta['postgres']} · "
        f"synchronous_commit={meta['synchronous_commit']} · wall time {meta['wall_seconds']:.0f} s",
        "",
        "Each ratio compares our path with its baseline measured in the same run, with the same settings "
        "and client count (throughput: ours / baseline, higher is better; latency and growth: ours / "
        "baseline or 1M / 10k, lower is better). Absolute numbers on a shared 2-core machine are noise.",
        "",
        table(rows),
    ]
    for row in missed:
        notes += [f"## Missed: {row.bench} ({row.ratio}x against {row.target})", ""]
        notes += _evidence(row)
    (RESULTS / "latest.md").write_text("\n".join(notes))
    plot(rows, RESULTS / "latest.png")
    return RESULTS


def _evidence(row: Row) -> list[str]:
    """The profile a missed target comes with: statement costs per transaction, or the query plan."""
    lines = [
        f"- {key}: {json.dumps(value, default=str)}"
        for key, value in row.data.items()
        if key not in ("profile", "plan_as_authenticated")
    ]
    lines.append("")
    for side, profile in row.data.get("profile", {}).items():
        lines += [f"pg_stat_statements, {side}, one client (nested statements included: rows overlap):", ""]
        lines += ["| µs per txn | calls per txn | statement |", "|---|---|---|"]
        for entry in profile.get("statements", [])[:8]:
            query = entry["query"].replace("|", "\\|")[:110]
            lines.append(f"| {entry['us_per_txn']} | {entry['calls_per_txn']} | `{query}` |")
        lines.append("")
    if "plan_as_authenticated" in row.data:
        lines += ["```", *row.data["plan_as_authenticated"], "```", ""]
    return lines


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [row for row in rows if row.ratio is not None]
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(shown) + 1.5))
    labels = [row.bench for row in shown]
    ratios = [row.ratio or 0.0 for row in shown]
    colors = ["#2e7d32" if row.met else "#c62828" for row in shown]
    positions = list(range(len(shown)))[::-1]
    ax.barh(positions, ratios, color=colors, height=0.6)
    for y, row in zip(positions, shown, strict=True):
        if row.goal is not None:
            ax.plot([row.goal, row.goal], [y - 0.4, y + 0.4], color="black", linewidth=2)
        label = f"{row.ratio:.3g}x  (target {row.target})"
        ax.text(max(row.ratio or 0.0, row.goal or 0.0) + 0.05, y, label, va="center", fontsize=8)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xlabel("ratio (black tick: target; green: met, red: missed)")
    ax.set_xlim(0, max([*ratios, 3.0]) * 1.35)
    ax.set_title("thinbase: our path against its baseline, measured in the same run")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
