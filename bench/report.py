"""Results: bench/results/latest.json (everything), latest.md (the table), latest.png (the ratios)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.harness import Row

RESULTS = Path(__file__).parent / "results"
PEERS = "peers"  # the group of rows that compare us with another product, shown apart from the rest
PEERS_NOTE = (
    "Our limiter against what users would run instead, measured in the same run with the same client count "
    "(bench/peers.py): Redis as a user of Upstash Ratelimit runs it (a local redis-server, Upstash's "
    "fixed-window and sliding-window algorithms as Lua scripts run with EVALSHA, driven by redis-benchmark, "
    "no persistence and AOF everysec), and the check-then-insert limiter many Supabase starters ship (count "
    "the key's rows in the window, then insert). Ratio: ours / peer; over-admission: admitted / limit."
)


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


def split(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """Our own paths against their baselines, then the peer rows (kept in their order)."""
    return [r for r in rows if r.group != PEERS], [r for r in rows if r.group == PEERS]


def write(rows: list[Row], meta: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    ours, peers = split(rows)
    (RESULTS / "latest.json").write_text(
        json.dumps(
            {**meta, "rows": [asdict(row) for row in ours], PEERS: [asdict(row) for row in peers]},
            indent=2,
            default=str,
        )
        + "\n"
    )
    missed = [row for row in ours + peers if not row.met]
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
        table(ours),
    ]
    if peers:
        notes += ["## Peers, in the same run", "", PEERS_NOTE, "", table(peers)]
    anchors = [f"- {row.bench}: {row.data['anchor']}" for row in ours + peers if "anchor" in row.data]
    if anchors:
        notes += ["Published anchors, quoted for scale (not measured here):", "", *anchors, ""]
    for row in missed:
        notes += [f"## Missed: {row.bench} ({row.ratio}x against {row.target})", ""]
        notes += _evidence(row)
    (RESULTS / "latest.md").write_text("\n".join(notes))
    plot(ours + peers, RESULTS / "latest.png")
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


OURS_MET, OURS_MISSED, PEER, NO_TARGET = "#2e7d32", "#c62828", "#1565c0", "#9e9e9e"


def plot(rows: list[Row], path: Path) -> None:
    """Every ratio against its target, one bar per row, top to bottom in `rows`' order; peer rows in
    their own colour (a red outline when a target against a peer is missed), below a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    shown = [row for row in rows if row.ratio is not None]
    fig, ax = plt.subplots(figsize=(14, 0.45 * len(shown) + 2.0))
    labels = [row.bench for row in shown]
    ratios = [row.ratio or 0.0 for row in shown]
    peer = [row.group == PEERS for row in shown]
    colors = [
        PEER if p else NO_TARGET if row.goal is None else OURS_MET if row.met else OURS_MISSED
        for row, p in zip(shown, peer, strict=True)
    ]
    edges = [OURS_MISSED if not row.met else color for row, color in zip(shown, colors, strict=True)]
    positions = list(range(len(shown)))[::-1]
    ax.barh(positions, ratios, color=colors, edgecolor=edges, linewidth=2, height=0.6)
    for y, row in zip(positions, shown, strict=True):
        if row.goal is not None:
            ax.plot([row.goal, row.goal], [y - 0.4, y + 0.4], color="black", linewidth=2)
        label = f"{row.ratio:.3g}x  " + (f"(target {row.target})" if row.goal is not None else "(no target)")
        ax.text(max(row.ratio or 0.0, row.goal or 0.0) + 0.05, y, label, va="center", fontsize=7)
    if any(peer) and not all(peer):
        boundary = positions[peer.index(True)] + 0.5  # the first peer row's top edge
        ax.axhline(boundary, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(positions, labels, fontsize=7)
    ax.set_xlabel("ratio (black tick: target)")
    ax.set_xlim(0, max([*ratios, 3.0]) * 1.45)
    ax.legend(
        handles=[
            Patch(color=OURS_MET, label="ours vs its baseline: target met"),
            Patch(color=OURS_MISSED, label="ours vs its baseline: target missed"),
            Patch(color=NO_TARGET, label="ours, informational (no target)"),
            Patch(facecolor=PEER, edgecolor=PEER, label="ours vs a peer (below the dashed line)"),
            Patch(facecolor=PEER, edgecolor=OURS_MISSED, linewidth=2, label="ours vs a peer: target missed"),
        ],
        loc="lower right",
        fontsize=7,
    )
    ax.set_title("thinbase: our paths against their baselines and the peers, measured in the same run")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
