"""Evaluation: benchmark runs, answer extraction, tables and reports."""

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
