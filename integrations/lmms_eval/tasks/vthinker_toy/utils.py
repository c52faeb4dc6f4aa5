"""The toy task's hooks: video path, prompt text, and scoring a thinking trace with
`vthinker.trace` (the last closed <answer>, as `vthinker test` scores it)."""

from __future__ import annotations

from pathlib import Path

from vthinker.data.prompts import PromptTemplate
from vthinker.data.schema import VideoSample
from vthinker.evaluation.scoring import score_qa
from vthinker.trace import parse_trace

DATA = Path("data/toy")  # the folder of the task's data file; videos are relative to it


def _sample(doc: dict) -> VideoSample:
    return VideoSample.from_dict(dict(doc))


def doc_to_visual(doc: dict) -> list[str]:
    return [str((DATA / doc["video"]).resolve())]


def doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    # Only used by models other than vthinker's, which builds this prompt itself from the doc.
    return PromptTemplate().user_text(_sample(doc))


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    scored = score_qa(_sample(doc), results[0])
    return {
        "accuracy": float(scored["correct"]),
        "well_formed": float(parse_trace(results[0]).well_formed),
    }
