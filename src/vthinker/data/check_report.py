"""The report of `vthinker data check`: one table per dataset, then the problems listed."""

from __future__ import annotations

from typing import Any

__all__ = ["print_result"]

_LABELS = {
    "missing": "missing videos",
    "undecodable": "undecodable videos",
    "short": "short videos (< {min_frames} frames)",
    "span": "out-of-range spans",
}


def print_result(result: Any, console: Any, show: int) -> None:
    """Print a `vthinker.data.check.CheckResult` on a rich console, listing up to ``show``
    problems of each kind (check.py imports this module, so it imports nothing back)."""
    from rich.table import Table

    table = Table(title=f"data check: {result.name}", title_justify="left")
    table.add_column("check")
    table.add_column("videos", justify="right")
    table.add_column("samples", justify="right")
    table.add_row("samples read (distinct videos)", str(len(result.probes)), str(result.samples))
    if result.images:  # image questions: their images count as "videos" in this table
        table.add_row("  of which images", str(result.images), "")
    table.add_row("bad records skipped", "", str(len(result.bad_records)))
    if result.left_out:
        table.add_row("left out on purpose", "", str(sum(result.left_out.values())))
    for kind in _LABELS:  # the order of check.ISSUE_KINDS
        label = _LABELS[kind].format(min_frames=result.min_frames)
        n = len(result.issues[kind])
        style = "red" if n else ""
        table.add_row(label, str(result.videos_with(kind)), str(n), style=style)
    table.add_row("clean samples", "", str(len(result.clean)), style="bold")
    console.print(table)
    if result.bad_records:
        console.print(f"[bold]bad records[/bold] ({len(result.bad_records)}):")
        for where, why in result.bad_records[:show]:
            console.print(f"  {where}: {why}", markup=False, highlight=False, soft_wrap=True)
        if len(result.bad_records) > show:
            console.print(f"  … and {len(result.bad_records) - show} more")
    for why, n in sorted(result.left_out.items()):
        console.print(f"left out: {n} {why}", markup=False, highlight=False)
    for kind in _LABELS:  # the order of check.ISSUE_KINDS
        items = result.issues[kind]
        if not items:
            continue
        label = _LABELS[kind].format(min_frames=result.min_frames)
        console.print(f"[bold]{label}[/bold] ({len(items)} samples):")
        for issue in items[:show]:
            console.print(
                f"  {issue.sample_id}  {issue.video}: {issue.detail}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if len(items) > show:
            console.print(f"  … and {len(items) - show} more")
