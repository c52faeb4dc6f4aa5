"""The curation report (``report.json``, printed at the end) and the progress-bar line.

`RunState` is what a run learns as it goes (inputs seen, records on disk, failures);
`build_report` turns it into the report: per source ``in / accepted / rejected by reason /
failed / pending`` and trace-attempt histograms, endpoint requests, retries, cache hits,
tokens and estimated cost, bad input records. `format_report` prints it in a few lines.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vthinker.curation.outputs import ACCEPTED_FILE, REJECTED_FILE, REPORT_FILE
from vthinker.data.schema import ReadReport

__all__ = ["RunState", "build_report", "format_report", "progress_postfix"]

_COUNTS = ("in", "accepted", "rejected", "failed", "pending")


@dataclass
class RunState:
    """What a run knows about its samples (records already on disk included)."""

    input_source: dict[str, str] = field(default_factory=dict)
    read_reports: list[ReadReport] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    new_accepted: int = 0
    new_rejected: int = 0
    repaired_bytes: int = 0


def progress_postfix(state: RunState, clients: Sequence[Any]) -> str:
    """The progress bar's running totals."""
    acc, rej = len(state.accepted), len(state.rejected)
    rate = acc / (acc + rej) if acc + rej else 0.0
    retries = sum(c.retries for c in clients)
    tokens = sum(c.usage.total_tokens for c in clients)
    cost = sum(c.cost for c in clients)
    return (
        f"acc={acc} rej={rej} fail={len(state.failures)} rate={rate:.0%} "
        f"retries={retries} tok={tokens} cost=${cost:.4f}"
    )


def _new_source() -> dict[str, Any]:
    return {
        "in": 0,
        "accepted": 0,
        "rejected": 0,
        "rejected_by_reason": Counter(),
        "failed": 0,
        "pending": 0,
        "attempts": {"accepted": Counter(), "rejected": Counter()},
    }


def _count_sources(state: RunState) -> dict[str, dict[str, Any]]:
    """Per source: every input sample counted once, by what became of it."""
    sources: dict[str, dict[str, Any]] = defaultdict(_new_source)
    for sid, source in state.input_source.items():
        s = sources[source]
        s["in"] += 1
        if sid in state.accepted:
            s["accepted"] += 1
            meta = state.accepted[sid].get("meta") or {}
            n = meta.get("curation", {}).get("trace_attempts", 0)
            s["attempts"]["accepted"][str(n)] += 1
        elif sid in state.rejected:
            r = state.rejected[sid]
            s["rejected"] += 1
            s["rejected_by_reason"][r.get("reason", "unknown")] += 1
            s["attempts"]["rejected"][str(r.get("trace_attempts", 0))] += 1
        elif sid in state.failures:
            s["failed"] += 1
        else:
            s["pending"] += 1
    return sources


def _rate(counts: dict[str, Any]) -> float | None:
    finished = counts["accepted"] + counts["rejected"]
    return counts["accepted"] / finished if finished else None


def _source_table(state: RunState) -> dict[str, dict[str, Any]]:
    """`_count_sources` sorted, with plain dicts and acceptance rates."""
    sources = _count_sources(state)
    out = {}
    for name in sorted(sources):
        s = sources[name]
        out[name] = {
            **s,
            "rejected_by_reason": dict(sorted(s["rejected_by_reason"].items())),
            "acceptance_rate": _rate(s),
            "attempts": {k: dict(sorted(v.items())) for k, v in s["attempts"].items()},
        }
    return out


def _endpoint_table(clients: Sequence[Any]) -> dict[str, dict[str, Any]]:
    return {
        (c.label if hasattr(c, "label") else c.endpoint.label): {
            "requests": c.requests,
            "retries": c.retries,
            "cache_hits": c.cache_hits,
            "prompt_tokens": c.usage.prompt_tokens,
            "completion_tokens": c.usage.completion_tokens,
            "cost": round(c.cost, 6),
        }
        for c in clients
    }


def build_report(
    state: RunState,
    clients: Sequence[Any],
    stop: str | None,
    elapsed: float,
    *,
    output_dir: Path,
    inputs: list[str],
) -> dict[str, Any]:
    """The report of a run (``stop``: why it stopped early, None when it did not)."""
    sources = _source_table(state)
    totals: dict[str, Any] = {k: sum(s[k] for s in sources.values()) for k in _COUNTS}
    totals["acceptance_rate"] = _rate(totals)
    endpoints = _endpoint_table(clients)
    bad = [
        {"file": r.path, "line": line, "reason": why}
        for r in state.read_reports
        for line, why in r.skipped
    ]
    return {
        "output_dir": str(output_dir),
        "accepted_file": str(output_dir / ACCEPTED_FILE),
        "rejected_file": str(output_dir / REJECTED_FILE),
        "complete": stop is None and totals["failed"] == 0 and totals["pending"] == 0,
        "stopped": stop,
        "elapsed_s": round(elapsed, 3),
        "this_run": {
            "accepted": state.new_accepted,
            "rejected": state.new_rejected,
            "failed": len(state.failures),
        },
        "totals": totals,
        "sources": sources,
        "failures": [{"id": k, "error": v} for k, v in sorted(state.failures.items())],
        "endpoints": endpoints,
        "cost": round(sum(e["cost"] for e in endpoints.values()), 6),
        "inputs": {
            "files": inputs,
            "bad_records": bad,
            "duplicate_ids": state.duplicates,
            "repaired_partial_bytes": state.repaired_bytes,
        },
    }


def _summary_lines(report: dict[str, Any]) -> list[str]:
    """The totals line, then one line per source and per endpoint."""
    t = report["totals"]
    rate = t["acceptance_rate"]
    lines = [
        f"curation: {t['in']} in, {t['accepted']} accepted, {t['rejected']} rejected, "
        f"{t['failed']} failed, {t['pending']} pending"
        + (f" (acceptance {rate:.1%})" if rate is not None else ""),
    ]
    for name, s in report["sources"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in s["rejected_by_reason"].items()) or "-"
        attempts = ", ".join(f"{k}:{v}" for k, v in s["attempts"]["accepted"].items()) or "-"
        lines.append(
            f"  {name}: in {s['in']}, accepted {s['accepted']}, rejected {s['rejected']} "
            f"({reasons}), failed {s['failed']}, trace attempts of accepted {attempts}"
        )
    for label, e in report["endpoints"].items():
        lines.append(
            f"  {label}: {e['requests']} requests, {e['retries']} retries, "
            f"{e['cache_hits']} cached, {e['prompt_tokens']}+{e['completion_tokens']} tokens, "
            f"${e['cost']:.4f}"
        )
    return lines


def format_report(report: dict[str, Any]) -> str:
    """The report as a few lines of text."""
    lines = _summary_lines(report)
    bad = report["inputs"]["bad_records"]
    if bad:
        lines.append(
            f"  skipped {len(bad)} bad input record(s), e.g. {bad[0]['file']}:"
            f"{bad[0]['line']}: {bad[0]['reason']}"
        )
    if report["failures"]:
        lines.append(
            f"  {len(report['failures'])} failed sample(s) will be retried on the "
            f"next run, e.g. {report['failures'][0]['id']}: "
            f"{report['failures'][0]['error']}"
        )
    if report["stopped"]:
        lines.append(f"  stopped early: {report['stopped']}")
    lines.append(
        f"  outputs: {report['accepted_file']}, {report['rejected_file']}; report: "
        f"{Path(report['output_dir']) / REPORT_FILE}"
    )
    return "\n".join(lines)
