"""The run folder of an evaluation: predictions on disk, crash-safe and resumable.

A run folder holds::

    run.json            the settings the run was started with (checked on resume)
    predictions.jsonl   one JSON object per sample, appended, flushed and fsynced as
                        soon as the sample is done
    summary.json        metrics over every line of predictions.jsonl
    summary.md          the same as Markdown tables

`PredictionLog` owns ``predictions.jsonl``, a `vthinker.jsonl_log` log. Opening it reads
the rows already there, cuts off a last line left half-written by a crash (never trusted,
even when it parses), drops any other line that is not a JSON object with an ``id``
(rewriting the file without them, so new rows never land on a broken line) and keeps the
first row of an id that appears twice. With several processes, rank ``r > 0`` appends
to ``predictions.rank<r>.jsonl``; `merge_rank_files` folds those into the main file (first
row of an id wins) and deletes them, and opening the log also reads rank files a killed
multi-process run left behind.

`check_settings` compares the settings of a resumed run with ``run.json`` so a rerun
with another model, frame count or decoding setting cannot silently mix its rows with
the old ones.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from vthinker.jsonl_log import append_record, cut_torn_tail, read_log, rewrite_log

log = logging.getLogger(__name__)

__all__ = [
    "PREDICTIONS",
    "RUN_SETTINGS",
    "SUMMARY_JSON",
    "SUMMARY_MD",
    "PredictionLog",
    "SettingsMismatch",
    "check_settings",
    "merge_rank_files",
    "read_rows",
]

PREDICTIONS = "predictions.jsonl"
RUN_SETTINGS = "run.json"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"


class SettingsMismatch(ValueError):
    """A resumed run was started with other settings than the rows already on disk."""


def _rank_files(run_dir: Path) -> list[Path]:
    stem, suffix = Path(PREDICTIONS).stem, Path(PREDICTIONS).suffix
    return sorted(run_dir.glob(f"{stem}.rank*{suffix}"))


def read_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every row of a run folder (main file then rank files), one per id, first wins.

    Lines that are not rows (a half-written last line after a crash) are skipped with a
    warning naming the file and line.
    """
    run_dir = Path(run_dir)
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for path in [run_dir / PREDICTIONS, *_rank_files(run_dir)]:
        contents = read_log(path)
        for lineno, why in contents.bad:
            log.warning("%s:%d: ignored: %s", path, lineno, why)
        if contents.torn:
            log.warning("%s: ignored: a partial last line left by a crash", path)
        for row in contents.records:
            if row["id"] not in seen:
                seen.add(row["id"])
                out.append(row)
    return out


def merge_rank_files(run_dir: str | Path) -> int:
    """Fold ``predictions.rank*.jsonl`` into ``predictions.jsonl`` and delete them.

    Returns:
        The number of rows added to the main file.
    """
    run_dir = Path(run_dir)
    ranks = _rank_files(run_dir)
    if not ranks:
        return 0
    main = run_dir / PREDICTIONS
    before = {r["id"] for r in read_log(main).records}
    rows = read_rows(run_dir)
    rewrite_log(main, rows)
    for path in ranks:
        path.unlink()
    return sum(r["id"] not in before for r in rows)


class PredictionLog:
    """Append-only ``predictions.jsonl`` of one process, plus the rows already on disk.

    Args:
        run_dir: The run folder (created if needed).
        rank: Process rank; rank 0 writes ``predictions.jsonl``, others a rank file.
        drop_skipped: Forget rows of skipped samples (``status: skipped``) so they are
            tried again, e.g. after missing videos were restored.

    Attributes:
        rows: Rows already on disk, one per id (all files of the folder).
    """

    def __init__(self, run_dir: str | Path, rank: int = 0, drop_skipped: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        name = PREDICTIONS if rank == 0 else f"{Path(PREDICTIONS).stem}.rank{rank}.jsonl"
        self.path = self.run_dir / name
        self._repair(drop_skipped)
        self.rows = read_rows(self.run_dir)
        self._ids = {r["id"] for r in self.rows}

    def _repair(self, drop_skipped: bool) -> None:
        """Rewrite this process's file without broken lines, duplicate ids or dropped rows."""
        contents = read_log(self.path)
        for lineno, why in contents.bad:
            log.warning("%s:%d: dropped: %s", self.path, lineno, why)
        seen: set[str] = set()
        keep = []
        for row in contents.records:
            if row["id"] in seen or (drop_skipped and row.get("status") == "skipped"):
                continue
            seen.add(row["id"])
            keep.append(row)
        if contents.bad or len(keep) != len(contents.records):
            rewrite_log(self.path, keep)  # also leaves out a torn last line
        else:
            cut_torn_tail(self.path, contents)

    @property
    def ids(self) -> set[str]:
        """Ids with a row on disk (a copy)."""
        return set(self._ids)

    def __contains__(self, sample_id: object) -> bool:
        return sample_id in self._ids

    def append(self, row: dict[str, Any]) -> None:
        """Write one row and make it durable before returning."""
        append_record(self.path, row)
        self.rows.append(row)
        self._ids.add(row["id"])


# Settings added after run folders already existed: a folder whose run.json lacks one of
# them was made by an older vthinker and is not refused for it.
ADDED_SETTINGS = ("model.weights", "data.image_max_pixels")


def check_settings(run_dir: str | Path, settings: dict[str, Any], write: bool = True) -> None:
    """Check ``settings`` against ``run.json`` of a folder that holds predictions, and
    record them there when the folder has none yet.

    Args:
        run_dir: The run folder.
        settings: JSON-able settings of this run.
        write: Record the settings (False: only check; for processes other than rank 0).

    Raises:
        SettingsMismatch: when the folder already holds predictions made with other
            settings; the message lists each differing key with both values.
    """
    run_dir = Path(run_dir)
    path = run_dir / RUN_SETTINGS
    current = json.loads(json.dumps(settings))  # normalise tuples, numbers, …
    if path.is_file() and (run_dir / PREDICTIONS).is_file():
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise SettingsMismatch(f"{path}: unreadable ({err}); delete it to go on") from err
        diffs = [d for d in _diff(before, current) if not (d[0] in ADDED_SETTINGS and d[1] is None)]
        if diffs:
            lines = "\n".join(f"  {k}: was {a!r}, now {b!r}" for k, a, b in diffs)
            raise SettingsMismatch(
                f"{run_dir} holds predictions made with other settings:\n{lines}\n"
                "Use another run folder (model.init_args.name / out_dir) or start over "
                "with model.init_args.overwrite=true."
            )
        return
    if write:
        run_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(current, indent=2, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")


def _diff(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _diff(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [(prefix.rstrip("."), a, b)]
