"""Toy image questions, and the toy data as a Video-R1-260k-style mixed release.

Video-R1-260k (the data T-GRPO was published on) mixes image and video questions in one
JSON list of peer records (``data_type`` ``image`` or ``video``). `make_toy_images` draws
one still of a toy scene per image (a PNG under ``images/``) and asks which of four shapes
is in it: exactly one option is on screen. Its gold trace is Video-R1's ``<think>`` style
(an image has no times to ground). `write_mixed_release` writes each split's video and
image questions, shuffled, as such a JSON list (``mixed_<split>.json``, paths ``./…``
relative to the dataset folder, as Video-R1 writes them), which
`vthinker.data.sources.video_r1.VideoR1Source` reads as released.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vthinker.data.schema import LETTERS, VideoSample
from vthinker.data.toy.scene import COLOURS, SHAPES, ToyScene, make_scene, render_scene

__all__ = ["IMAGE_QUESTION", "make_toy_images", "write_mixed_release"]

IMAGE_QUESTION = "Which of these shapes can be seen in the image?"


def _still(scene: ToyScene, rng: np.random.Generator) -> int:
    """A whole second at which at least one shape of ``scene`` is on screen."""
    seconds = [t for t in range(scene.duration) if any(o.visible_at(t) for o in scene.objects)]
    return int(seconds[int(rng.integers(len(seconds)))])


def make_toy_images(
    out_dir: Path, count: int, splits: list[str], seed: int, size: int, layout: str
) -> list[VideoSample]:
    """Write ``count`` toy images to ``out_dir/images`` and return their questions.

    Image ``k`` depends only on ``(seed, k)``; its split is ``splits[k]``.
    """
    samples = []
    names = [f"{c} {s}" for c in COLOURS for s in SHAPES]
    for k in range(count):
        rng = np.random.default_rng([seed, 3, k])
        scene = make_scene(rng)
        t = _still(scene, rng)
        frame = render_scene(scene, size=size, fps=1, layout=layout)[t]
        rel = f"images/toy_img_{k:04d}.png"
        _write_png(out_dir / rel, frame)
        seen = [o for o in scene.objects if o.visible_at(t)]
        answer = seen[int(rng.integers(len(seen)))].name
        absent = [n for n in names if n not in {o.name for o in seen}]
        distractors = [absent[i] for i in rng.permutation(len(absent))[:3]]
        options = [answer, *distractors]
        options = [options[i] for i in rng.permutation(len(options))]
        shown = ", ".join(f"a {o.name}" for o in seen)
        samples.append(
            VideoSample(
                id=f"toy_img_{k:04d}",
                video=rel,
                question=IMAGE_QUESTION,
                answer=LETTERS[options.index(answer)],
                options=options,
                trace=(
                    f"<think>The image shows {shown}. Of the options, only the {answer} "
                    "is there.</think>"
                ),
                source="toy_image",
                split=splits[k],
                meta={"template": "image:which_shape"},
                data_type="image",
            )
        )
    return samples


def _write_png(path: Path, frame: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(path, format="PNG")


def write_mixed_release(
    out_dir: Path, samples: dict[str, list[VideoSample]], seed: int
) -> dict[str, Path]:
    """Write each split's questions (videos and images) as a Video-R1-style JSON list,
    shuffled, with ``./``-prefixed paths; returns the file of each split."""
    paths = {}
    for split, split_samples in samples.items():
        order = np.random.default_rng([seed, 4, len(paths)]).permutation(len(split_samples))
        records = []
        for i in order:
            record = split_samples[int(i)].to_video_r1()
            record["path"] = f"./{record['path']}"
            records.append(record)
        paths[f"mixed_{split}"] = out_dir / f"mixed_{split}.json"
        paths[f"mixed_{split}"].write_text(json.dumps(records, indent=1, ensure_ascii=False))
    return paths
