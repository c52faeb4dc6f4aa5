"""Questions about a toy scene: the template registry (`QUESTION_TEMPLATES`) and the
perception question of the grid miniature (`describe_question`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vthinker.data.toy.scene import COLOURS, MOTIONS, ORDINALS, SHAPES, ToyObject, ToyScene
from vthinker.trace import format_timestamp, render_span

__all__ = [
    "DESCRIBE_QUESTION",
    "QUESTION_TEMPLATES",
    "ToyQuestion",
    "describe_question",
    "make_questions",
]


@dataclass(frozen=True)
class ToyQuestion:
    """A question about a scene before its options are lettered.

    Attributes:
        template: Name of the question template.
        question: The question text.
        answer: Correct answer text (an option text, or the number for numerical).
        distractors: Wrong option texts in order of preference (empty for numerical).
        evidence: Shapes whose time on screen supports the answer, by appearance time.
        thinks: One reasoning step per evidence shape.
        problem_type: ``"multiple choice"`` or ``"numerical"``.
    """

    template: str
    question: str
    answer: str
    distractors: tuple[str, ...]
    evidence: tuple[ToyObject, ...]
    thinks: tuple[str, ...]
    problem_type: str = "multiple choice"


def _ts(seconds: float) -> str:
    return format_timestamp(seconds)


def _object_distractors(
    scene: ToyScene,
    correct: ToyObject,
    rng: np.random.Generator,
    prefer: Sequence[ToyObject] = (),
    exclude: Sequence[ToyObject] = (),
) -> tuple[str, ...]:
    """Wrong shape names: preferred ones first, then other shapes of the video, then unseen.

    ``exclude`` holds shapes that must not be offered (e.g. the one the question names).
    """
    banned = {correct.name, *(o.name for o in exclude)}
    seen = [o.name for o in prefer if o.name not in banned]
    others = [o.name for o in scene.objects if o.name not in banned and o.name not in seen]
    present = {o.name for o in scene.objects}
    unseen = [f"{c} {s}" for c in COLOURS for s in SHAPES if f"{c} {s}" not in present]
    ordered = seen + [others[i] for i in rng.permutation(len(others))]
    ordered += [unseen[i] for i in rng.permutation(len(unseen))]
    return tuple(ordered)


def _overlap(a: ToyObject, b: ToyObject) -> int:
    return min(a.end, b.end) - max(a.start, b.start)


def _first_appears(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    if len(objs) < 2:
        return []
    first, second = objs[0], objs[1]
    return [
        ToyQuestion(
            template="first_appears",
            question="Which shape appears first in the video?",
            answer=first.name,
            distractors=_object_distractors(scene, first, rng, prefer=[second]),
            evidence=(first, second),
            thinks=(
                f"The {first.name} is the first shape on screen, from {_ts(first.start)}.",
                f"The {second.name} only appears at {_ts(second.start)}, after the "
                f"{first.name}, so the {first.name} came first.",
            ),
        )
    ]


def _last_appears(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    if len(objs) < 2:
        return []
    last, before = objs[-1], objs[-2]
    return [
        ToyQuestion(
            template="last_appears",
            question="Which shape is the last one to appear in the video?",
            answer=last.name,
            distractors=_object_distractors(scene, last, rng, prefer=[before]),
            evidence=(before, last),
            thinks=(
                f"The {before.name} appears at {_ts(before.start)}.",
                f"The {last.name} appears later, at {_ts(last.start)}, and no shape "
                f"appears after it, so it is the last one.",
            ),
        )
    ]


def _colour_after_leaves(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    out = []
    for x in objs:
        later = [o for o in objs if o.start >= x.end]
        if not later:
            continue
        y = min(later, key=lambda o: o.start)
        colour_options = [c for c in COLOURS if c != y.colour]
        out.append(
            ToyQuestion(
                template="colour_after_leaves",
                question=f"What colour is the shape that appears right after the {x.name} "
                "leaves the screen?",
                answer=y.colour,
                distractors=tuple(colour_options[i] for i in rng.permutation(len(colour_options))),
                evidence=(x, y),
                thinks=(
                    f"The {x.name} leaves the screen at {_ts(x.end)}.",
                    f"The next shape to appear after that is the {y.name}, at {_ts(y.start)}, "
                    f"so its colour is {y.colour}.",
                ),
            )
        )
    return out


def _same_time(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    out = []
    for x in objs:
        partners = [o for o in objs if o is not x and _overlap(o, x) >= 1]
        if len(partners) != 1:
            continue
        y = partners[0]
        a, b = sorted((x, y), key=lambda o: o.start)
        out.append(
            ToyQuestion(
                template="same_time",
                question=f"Which shape is on screen at the same time as the {x.name}?",
                answer=y.name,
                distractors=_object_distractors(scene, y, rng, exclude=[x]),
                evidence=(a, b),
                thinks=(
                    f"The {a.name} is on screen from {_ts(a.start)} to {_ts(a.end)}.",
                    f"The {b.name} is on screen from {_ts(b.start)} to {_ts(b.end)}, while "
                    f"the {a.name} is still visible; no other shape is on screen together "
                    f"with the {x.name}, so the answer is the {y.name}.",
                ),
            )
        )
    return out


def _motion_of_nth(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    out = []
    for k in range(min(len(objs), 3)):
        target = objs[k]
        phrases = [MOTIONS[m] for m in MOTIONS if m != target.motion]
        thinks = [
            f"The {ORDINALS[j]} shape to appear is the {objs[j].name}, at {_ts(objs[j].start)}."
            for j in range(k)
        ]
        thinks.append(
            f"The {ORDINALS[k]} shape to appear is the {target.name}, at {_ts(target.start)}, "
            f"and it {MOTIONS[target.motion]}."
        )
        out.append(
            ToyQuestion(
                template="motion_of_nth",
                question=f"How does the {ORDINALS[k]} shape to appear move?",
                answer=f"It {MOTIONS[target.motion]}",
                distractors=tuple(f"It {phrases[i]}" for i in rng.permutation(len(phrases))),
                evidence=objs[: k + 1],
                thinks=tuple(thinks),
            )
        )
    return out


def _shape_at_time(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    """One question (drawn among the seconds where exactly one shape is steadily on screen)."""
    objs = scene.objects
    candidates = []
    for t in range(1, scene.duration):
        # The on-screen set must be one shape and must not change within a second of t.
        changes = any(t - 1 < s <= t + 1 for o in objs for s in (o.start, o.end))
        visible = [o for o in objs if o.visible_at(t)]
        if changes or len(visible) != 1:
            continue
        x = visible[0]
        candidates.append(
            ToyQuestion(
                template="shape_at_time",
                question=f"Which shape is on screen at {_ts(t)}?",
                answer=x.name,
                distractors=_object_distractors(scene, x, rng),
                evidence=(x,),
                thinks=(
                    f"The {x.name} is on screen from {_ts(x.start)} to {_ts(x.end)}, which "
                    f"includes {_ts(t)}, and it is the only shape visible then.",
                ),
            )
        )
    return [candidates[int(rng.integers(len(candidates)))]] if candidates else []


def _when_on_screen(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    out = []
    for x in objs:
        correct = render_span(x.start, x.end)
        pool = [render_span(o.start, o.end) for o in objs if o is not x]
        pool = [pool[i] for i in rng.permutation(len(pool))]
        for shift in rng.permutation([-2, -1, 1, 2]).tolist():
            s, e = x.start + shift, x.end + shift
            if s >= 0 and e <= scene.duration:
                pool.append(render_span(s, e))
        for s, e in ((x.start, x.end + 2), (max(x.start - 2, 0), x.end), (0, scene.duration)):
            pool.append(render_span(s, e))
        out.append(
            ToyQuestion(
                template="when_on_screen",
                question=f"During which time window is the {x.name} on screen?",
                answer=correct,
                distractors=tuple(pool),
                evidence=(x,),
                thinks=(f"The {x.name} appears at {_ts(x.start)} and leaves at {_ts(x.end)}.",),
            )
        )
    return out


def _count(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    thinks = [f"The {ORDINALS[j]} shape to appear is the {o.name}." for j, o in enumerate(objs)]
    thinks[-1] += f" No other shape appears, so {len(objs)} shapes appear in total."
    return [
        ToyQuestion(
            template="count",
            question="How many shapes appear in the video?",
            answer=str(len(objs)),
            distractors=(),
            evidence=objs,
            thinks=tuple(thinks),
            problem_type="numerical",
        )
    ]


QUESTION_TEMPLATES: dict[str, Callable[[ToyScene, np.random.Generator], list[ToyQuestion]]] = {
    "first_appears": _first_appears,
    "last_appears": _last_appears,
    "colour_after_leaves": _colour_after_leaves,
    "same_time": _same_time,
    "motion_of_nth": _motion_of_nth,
    "shape_at_time": _shape_at_time,
    "when_on_screen": _when_on_screen,
    "count": _count,
}
"""The question templates, each a function of a scene and the generator, in the order they
draw from it (the order is part of what a seed produces)."""


def make_questions(scene: ToyScene, rng: np.random.Generator) -> dict[str, list[ToyQuestion]]:
    """Every question the templates can ask about a scene, grouped by template.

    Templates whose conditions do not hold for the scene (e.g. no shape appears after
    the one asked about) contribute nothing.
    """
    out = {}
    for name, template in QUESTION_TEMPLATES.items():
        questions = template(scene, rng)
        if questions:
            out[name] = questions
    return out


DESCRIBE_QUESTION = "Describe every shape in the order it appears. How many shapes appear?"


def describe_question(scene: ToyScene) -> ToyQuestion:
    """The perception question of the grid miniature: every shape, in order, with its time.

    Its gold trace is a dense timeline of the video (one segment per shape), the skill a
    pretrained video LLM brings to Video-Thinker's SFT; the tiny random model learns it
    first (`make_toy_dataset` writes these to ``describe.jsonl``).
    """
    objs = scene.objects
    thinks = [f"The {ORDINALS[j]} shape to appear is the {o.name}." for j, o in enumerate(objs)]
    thinks[-1] += f" No other shape appears, so {len(objs)} shapes appear in total."
    return ToyQuestion(
        template="describe",
        question=DESCRIBE_QUESTION,
        answer=str(len(objs)),
        distractors=(),
        evidence=objs,
        thinks=tuple(thinks),
        problem_type="numerical",
    )
