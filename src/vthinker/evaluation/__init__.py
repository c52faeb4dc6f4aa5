"""Evaluation: benchmark runs (tasks, run folder, decoders), reports and published numbers.

The answer-extraction names below are `vthinker.extract`'s, handed on for older imports.
"""

from vthinker.extract import (
    answer_span,
    extract_answer,
    extract_number,
    extract_time_span,
    is_correct,
    normalize_choice,
    normalize_number,
)

__all__ = [
    "answer_span",
    "extract_answer",
    "extract_number",
    "extract_time_span",
    "is_correct",
    "normalize_choice",
    "normalize_number",
]
