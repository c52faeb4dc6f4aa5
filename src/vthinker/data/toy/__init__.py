"""Synthetic toy dataset: coloured shapes on a dark background, and questions about them.

Each video shows 3-4 shapes (square, circle or triangle; red, green, blue or yellow,
one shape per colour) that appear at whole seconds, move in their own horizontal lane
(left to right, right to left, still, or growing) and disappear at whole seconds, so
the scene is known exactly. Questions need both *when* and *what* ("What colour is
the shape that appears right after the red square leaves the screen?"), and every
sample carries gold evidence spans with captions and a gold Video-Thinker trace built
with `vthinker.trace.render_trace` (without the answer; `VideoSample.target_text`
appends it). A few samples are numerical ("How many shapes appear in the video?").

Layout written by `make_toy_dataset`::

    out_dir/videos/toy_0000.mp4 ...      H.264 (libx264, yuv420p)
    out_dir/{train,val,test}.jsonl       VideoSample records; video paths relative to out_dir

Splits are by video. The same seed gives byte-identical JSONL files and, with the
same PyAV/FFmpeg build, byte-identical mp4 files: libx264 runs single-threaded with
MB-tree rate control off (with it on, it reads uninitialised memory and the bytes
varied from run to run), and the muxer writes no creation time.

Command line: ``vthinker make-toy-data --out data/toy`` (see `main`; ``--help`` lists the
options, which are `make_toy_dataset`'s).
"""

from __future__ import annotations

from vthinker.data.toy.dataset import (
    DEFAULT_NUM_VIDEOS,
    DEFAULT_QUESTIONS_PER_VIDEO,
    SPLITS,
    main,
    make_toy_dataset,
)
from vthinker.data.toy.mp4 import write_video
from vthinker.data.toy.questions import (
    DESCRIBE_QUESTION,
    QUESTION_TEMPLATES,
    ToyQuestion,
    describe_question,
    make_questions,
)
from vthinker.data.toy.samples import toy_texts
from vthinker.data.toy.scene import (
    BACKGROUND,
    COLOURS,
    LAYOUTS,
    MOTIONS,
    NUM_LANES,
    ORDINALS,
    SHAPES,
    Layout,
    ToyObject,
    ToyScene,
    make_scene,
    render_scene,
)

__all__ = [
    "BACKGROUND",
    "COLOURS",
    "DEFAULT_NUM_VIDEOS",
    "DEFAULT_QUESTIONS_PER_VIDEO",
    "DESCRIBE_QUESTION",
    "LAYOUTS",
    "MOTIONS",
    "NUM_LANES",
    "ORDINALS",
    "QUESTION_TEMPLATES",
    "SHAPES",
    "SPLITS",
    "Layout",
    "ToyObject",
    "ToyQuestion",
    "ToyScene",
    "describe_question",
    "main",
    "make_questions",
    "make_scene",
    "make_toy_dataset",
    "render_scene",
    "toy_texts",
    "write_video",
]
