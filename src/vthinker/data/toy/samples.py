"""From a toy question to a `VideoSample`: lettered options and the gold trace."""

from __future__ import annotations

import numpy as np

from vthinker.data.schema import LETTERS, Evidence, VideoSample
from vthinker.data.toy.questions import ToyQuestion, make_questions
from vthinker.data.toy.scene import COLOURS, SHAPES, ToyScene, make_scene
from vthinker.trace import Segment, render_trace, render_trace_as

__all__ = ["toy_texts"]


def _choose(
    candidates: dict[str, list[ToyQuestion]], count: int, rng: np.random.Generator
) -> list[ToyQuestion]:
    """Up to ``count`` questions, spread over templates (round robin in a random order)."""
    pools = {name: list(qs) for name, qs in sorted(candidates.items()) if qs}
    order = [list(pools)[i] for i in rng.permutation(len(pools))]
    chosen: list[ToyQuestion] = []
    while len(chosen) < count and any(pools[name] for name in order):
        for name in order:
            if len(chosen) == count:
                break
            pool = pools[name]
            if pool:
                chosen.append(pool.pop(int(rng.integers(len(pool)))))
    return chosen


def _to_sample(
    question: ToyQuestion,
    *,
    sample_id: str,
    video: str,
    split: str,
    scene: ToyScene,
    rng: np.random.Generator,
    colour_options: bool = False,
    trace_style: str = "video_thinker",
) -> VideoSample:
    options: list[str] = []
    answer = question.answer
    if question.problem_type == "multiple choice" and colour_options:
        options = _colour_ordered_options(question, scene, rng)
        answer = LETTERS[options.index(question.answer)]
    elif question.problem_type == "multiple choice":
        distractors: list[str] = []
        for d in question.distractors:
            if d != question.answer and d not in distractors:
                distractors.append(d)
            if len(distractors) == 3:
                break
        if len(distractors) < 3:
            raise RuntimeError(f"template {question.template!r} produced too few distractors")
        texts = [question.answer, *distractors]
        options = [texts[i] for i in rng.permutation(len(texts))]
        answer = LETTERS[options.index(question.answer)]
    segments = [
        Segment(start=float(o.start), end=float(o.end), caption=o.caption, think=think)
        for o, think in zip(question.evidence, question.thinks, strict=True)
    ]
    return VideoSample(
        id=sample_id,
        video=video,
        question=question.question,
        answer=answer,
        problem_type=question.problem_type,
        options=options,
        evidence=[Evidence(float(o.start), float(o.end), o.caption) for o in question.evidence],
        trace=render_trace(segments)
        if trace_style == "video_thinker"
        else render_trace_as(segments, answer, trace_style),
        source="toy",
        split=split,
        meta={
            "template": question.template,
            "duration": float(scene.duration),
            "scene": scene.to_meta(),
        },
    )


def _colour_ordered_options(
    question: ToyQuestion, scene: ToyScene, rng: np.random.Generator
) -> list[str]:
    """One option per colour, in `COLOURS` order: letter ``k`` always names colour ``k``.

    A shape option of another colour names that colour's shape in the scene (or a random
    shape when the colour is absent). The options then carry no hint of the answer and
    picking the letter needs no in-context matching of option texts, which a model of a
    few hundred thousand weights learns slowly: the answer rests on reading the video.
    """
    if question.answer in COLOURS:
        return list(COLOURS)
    colour = question.answer.split()[0]
    if colour not in COLOURS:
        raise ValueError(
            f"template {question.template!r}: answer {question.answer!r} names no colour"
        )
    in_scene = {o.colour: o.name for o in scene.objects}
    return [
        question.answer
        if c == colour
        else in_scene.get(c, f"{c} {SHAPES[int(rng.integers(len(SHAPES)))]}")
        for c in COLOURS
    ]


def toy_texts(num_videos: int = 50, seed: int = 1000) -> list[str]:
    """Question, option, caption and trace texts of toy samples, without writing videos.

    Used to train the tiny model's tokenizer on the toy task's vocabulary (a seed range
    apart from the dataset's, so no sample is seen verbatim).
    """
    texts: list[str] = []
    for k in range(num_videos):
        rng = np.random.default_rng([seed, 0, k])
        scene = make_scene(rng)
        for q in _choose(make_questions(scene, rng), 8, rng):
            s = _to_sample(q, sample_id="", video="", split="train", scene=scene, rng=rng)
            texts += [s.question, " ".join(s.lettered_options), s.target_text()]
    return texts
