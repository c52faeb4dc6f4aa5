"""Video-MME with the thinking prompt: lmms-eval's video paths and scoring, vthinker's
prompt and answer reading. `process_docs` adds each question as a vthinker sample, from
which the vthinker model builds the very prompt `vthinker test` builds (the video's
duration included); other models get `doc_to_text`."""

from __future__ import annotations

import re

from lmms_eval.tasks.videomme import utils as upstream

from vthinker.data.prompts import DEFAULT_ANSWER_INSTRUCTIONS
from vthinker.trace import parse_trace

doc_to_visual = upstream.videomme_doc_to_visual
aggregate_results = upstream.videomme_aggregate_results


def _sample(doc: dict) -> dict:
    options = [re.sub(r"^[A-Z]\.\s*", "", o) for o in doc["options"]]  # "A. cat" -> "cat"
    return {
        "id": str(doc["question_id"]),
        "question": doc["question"],
        "answer": doc["answer"],
        "problem_type": "multiple choice",
        "options": options,
        "source": "videomme",
    }


def process_docs(dataset):
    return dataset.map(lambda doc: {"vthinker_sample": _sample(doc)})


def doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    options = "\n".join(doc["options"])  # already lettered ("A. ...")
    instruction = DEFAULT_ANSWER_INSTRUCTIONS["multiple choice"]
    return f"{doc['question'].strip()}\nOptions:\n{options}\n{instruction}"


def process_results(doc: dict, results: list[str]) -> dict:
    answer = parse_trace(results[0]).answer or ""
    return upstream.videomme_process_results(doc, [answer])
