"""The curation pipeline end to end against an OpenAI-compatible server on 127.0.0.1.

`Brain` answers each step deterministically (by the request's model name) from what the
prompt says, so the tests exercise the real prompts, parsing, validation and repair
loop. Markers in the data steer it: ``[chatty]`` (JSON inside chat and a code fence),
``[badjson]`` (broken JSON once), ``[single]`` (the answer copied from one caption, always),
``[unsupported]`` (trace captions that do not support the answer, always), ``[regen]``
(unsupported until the hindsight feedback arrives), ``[wrong-once]`` (a trace with the
wrong answer until repaired). The verifier picks the option whose words the captions
cover best, so it reaches the gold answer exactly when the captions support it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
import yaml

from vthinker.curation.runner import (
    ACCEPTED_FILE,
    REJECTED_FILE,
    REPORT_FILE,
    CurationRunner,
    recover_jsonl,
    runner_from_args,
)
from vthinker.curation.steps import (
    AnswerConditionedCaptions,
    CurationContext,
    HindsightVerify,
    QuestionSynthesis,
    Reject,
    ReverseTrace,
    SampleLog,
    VideoFilter,
)
from vthinker.data.schema import Evidence, SampleError, VideoSample, read_jsonl, write_jsonl
from vthinker.llm.client import Endpoint, LLMError, ResponseCache
from vthinker.llm.mock import MockChatServer

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-test-SECRET-7f3a9c"
NOUNS = [
    "door",
    "garden",
    "flowers",
    "window",
    "table",
    "kitchen",
    "river",
    "bridge",
    "ladder",
    "piano",
    "bicycle",
    "basket",
    "candle",
    "mirror",
    "carpet",
    "bottle",
    "lamp",
    "bench",
    "fence",
    "tower",
    "boat",
    "drum",
    "kettle",
    "clock",
    "rope",
    "shelf",
    "tent",
    "wagon",
    "barrel",
    "helmet",
    "anchor",
    "saddle",
    "violin",
    "trumpet",
    "cactus",
    "statue",
    "fountain",
    "pillow",
    "blanket",
    "curtain",
    "bucket",
    "hammer",
    "pencil",
    "camera",
]
COLORS = ["red", "yellow", "purple", "orange", "silver", "golden"]
STOP = {"and", "the", "then"}


# --- the deterministic LLM ------------------------------------------------------------------


def _text(content) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if p.get("type") == "text")


class Brain:
    """Deterministic replies per step; records what each step was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.images: list[list[str]] = []
        self.verifier_inputs: list[str] = []

    def __call__(self, body: dict, wrong: bool) -> str:
        msgs = body["messages"]
        user = next(m for m in msgs if m["role"] == "user")
        text = _text(user["content"])
        repair = any(m["role"] == "assistant" for m in msgs)
        role = body["model"]
        if role == "synth":
            return self.synth(text, repair, wrong)
        if role == "caption":
            with self.lock:
                self.images.append(
                    [p["image_url"]["url"] for p in user["content"] if p.get("type") == "image_url"]
                )
            return self.caption(text, wrong)
        if role == "trace":
            return self.trace(text, repair, wrong)
        if role == "verify":
            with self.lock:
                self.verifier_inputs.append("\n".join(_text(m["content"]) for m in msgs))
            return self.verify(text, wrong)
        raise ValueError(f"unknown model {role}")

    @staticmethod
    def synth(text: str, repair: bool, wrong: bool) -> str:
        caps = [c for _, c in re.findall(r"^\d+\. (\S+): (.*)$", text, re.M)]
        joined = " ".join(caps)
        if wrong:
            return json.dumps(
                {"question": "?", "options": ["a", "a", "b", "c"], "answer": "Z", "segments": [1]}
            )
        if "[badjson]" in joined and not repair:
            return '{"question": "What happens", "options": ['
        last = [c.rstrip(".").split()[-1] for c in caps]
        correct = caps[0] if "[single]" in joined else f"{last[0]} and {last[1]}"
        payload = {
            "question": f"Which two things are visited, in order? (about {last[0]})",
            "options": ["cat and moon", correct, "car and sky", "tree and snow"],
            "answer": "B",
            "segments": [1, 2],
        }
        if "[chatty]" in joined:
            return (
                "Let me think about the segments.\n```json\n"
                + json.dumps(payload)
                + "\n```\nThis needs both segments."
            )
        return json.dumps(payload)

    @staticmethod
    def caption(text: str, wrong: bool) -> str:
        answer = re.search(r"^Correct answer: \w\. (.*)$", text, re.M).group(1)
        if "Find the 1 to" in text:
            return json.dumps(
                {"windows": [{"time": "00:00-00:01", "caption": f"you can see {answer}"}]}
            )
        windows = re.findall(r"^Window (\d+): ", text, re.M)
        if wrong:
            return json.dumps({"captions": []})
        return json.dumps({"captions": [f"the frames show {answer}" for _ in windows]})

    @staticmethod
    def trace(text: str, repair: bool, wrong: bool) -> str:
        evidence = re.findall(r"^\d+\. (\S+): (.*)$", text, re.M)
        letter = re.search(r"^Correct answer: (\w)\.", text, re.M).group(1)
        unsupported = "[unsupported]" in text or (
            "[regen]" in text and "failed a check" not in text
        )
        # A sampling LLM writes new captions each time: vary them with the attempt number.
        again = re.search(r"This is attempt (\d+)", text)
        take = f" (view {again.group(1)})" if again else ""
        blocks = [
            f"<time>{span}</time> <caption>{'something happens' if unsupported else cap}{take}"
            f"</caption> <think>step {i}</think>"
            for i, (span, cap) in enumerate(evidence, start=1)
        ]
        answer = letter
        if wrong or ("[wrong-once]" in text and not repair):
            answer = "A" if letter != "A" else "C"
        return "Here is the reasoning:\n" + "\n".join(blocks) + f"\n<answer>{answer}</answer>"

    @staticmethod
    def verify(text: str, wrong: bool) -> str:
        seen = set(re.findall(r"\w+", " ".join(re.findall(r"^- \S+: (.*)$", text, re.M)).lower()))
        options = re.findall(r"^([A-Z])\. (.*)$", text, re.M)

        def score(option: str) -> float:
            words = [w for w in re.findall(r"\w+", option.lower()) if len(w) > 2 and w not in STOP]
            return sum(w in seen for w in words) / max(len(words), 1)

        best = max(options, key=lambda o: score(o[1]))[0]  # ties: the first option
        if wrong:
            best = next(letter for letter, _ in options if letter != best)
        return f"Judging from the moments described, <answer>{best}</answer>"


# --- data -----------------------------------------------------------------------------------


def write_clip(path: Path, frames: int, fps: int = 8) -> None:
    from vthinker.data.toy import write_video

    rng = np.random.default_rng(frames)
    write_video(path, rng.integers(0, 255, (frames, 32, 32, 3), dtype=np.uint8), fps)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    write_clip(root / "clip.mp4", 16)  # 2.0 s at 8 fps
    write_clip(root / "short.mp4", 4)
    return root


def caption_rich(k: int, marker: str = "", segments: int = 3, **kw) -> VideoSample:
    nouns = NOUNS[3 * k : 3 * k + 3]
    bounds = [(0.0, 0.6), (0.6, 1.2), (1.2, 2.0)]
    evidence = [
        Evidence(s, e, f"{marker + ' ' if marker and i == 0 else ''}Someone walks to the {n}.")
        for i, ((s, e), n) in enumerate(zip(bounds, nouns, strict=True))
    ][:segments]
    return VideoSample(
        id=f"cap-{k}",
        video=kw.pop("video", "clip.mp4"),
        question="",
        answer="",
        evidence=evidence,
        source="capsrc",
        **kw,
    )


def qa_rich(k: int, marker: str = "", windows: bool = True) -> VideoSample:
    noun, color = NOUNS[-1 - k], COLORS[k % len(COLORS)]
    return VideoSample(
        id=f"qa-{k}",
        video="clip.mp4",
        question=f"What happens to the {noun}? {marker}".strip(),
        answer="B",
        options=[
            "a blue circle appears",
            f"the {noun} turns {color}",
            "nothing moves",
            "a green light blinks",
        ],
        evidence=[Evidence(0.0, 1.0), Evidence(1.0, 2.0)] if windows else [],
        source="qasrc",
    )


EXPECTED_ACCEPTED = {"cap-0", "cap-1", "cap-2", "cap-3", "qa-0", "qa-1", "qa-2", "qa-4", "qa-5"}
EXPECTED_REJECTED = {
    "cap-4": "question_synthesis:invalid_output",
    "cap-5": "question_synthesis:too_few_segments",
    "qa-3": "hindsight_verify:unsupported",
    "vid-missing": "video_filter:video_unreadable",
    "vid-short": "video_filter:too_few_frames",
}


def write_inputs(path: Path) -> Path:
    """Every kind of sample, one bad record and one duplicate id."""
    samples = [
        caption_rich(0),
        caption_rich(1),
        caption_rich(2, "[chatty]"),
        caption_rich(3, "[badjson]"),
        caption_rich(4, "[single]"),
        caption_rich(5, segments=1),
        qa_rich(0),
        qa_rich(1),
        qa_rich(2, windows=False),
        qa_rich(3, "[unsupported]"),
        qa_rich(4, "[regen]"),
        qa_rich(5, "[wrong-once]"),
        caption_rich(6, video="missing.mp4"),
        caption_rich(7, video="short.mp4"),
    ]
    samples[-2].id, samples[-1].id = "vid-missing", "vid-short"
    write_jsonl(samples, path)
    with path.open("a") as f:
        f.write("{this is not json\n")
        f.write(json.dumps(caption_rich(0).to_dict()) + "\n")  # duplicate id cap-0
    return path


def endpoint(url: str, model: str, **kw) -> dict:
    ep = {
        "base_url": url,
        "model": model,
        "timeout_s": 1.0,
        "max_attempts": 4,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "max_concurrency": 4,
    }
    ep.update(kw)
    return ep


def write_config(
    path: Path,
    url: str,
    inputs: list[Path],
    out: Path,
    *,
    cache: Path | None,
    video_root: Path | None = None,
    filter_frames: int | None = 8,
    **kw,
) -> Path:
    ep = {k: v for k, v in kw.items() if k in ("api_key_env", "max_attempts", "max_concurrency")}
    steps = []
    if filter_frames is not None:
        steps.append(
            {
                "class_path": "vthinker.curation.VideoFilter",
                "init_args": {"min_frames": filter_frames},
            }
        )
    steps += [
        {
            "class_path": "vthinker.curation.QuestionSynthesis",
            "init_args": {"endpoint": endpoint(url, "synth", **ep)},
        },
        {
            "class_path": "vthinker.curation.AnswerConditionedCaptions",
            "init_args": {
                "endpoint": endpoint(url, "caption", **ep),
                "frames_per_window": 2,
                "max_frames": 4,
                "image_max_side": 32,
            },
        },
        {
            "class_path": "vthinker.curation.ReverseTrace",
            "init_args": {"endpoint": endpoint(url, "trace", **ep), "temperature": 0.2},
        },
        {
            "class_path": "vthinker.curation.HindsightVerify",
            "init_args": {"endpoint": endpoint(url, "verify", **ep), "max_attempts": 3},
        },
    ]
    config = {
        "inputs": [str(p) for p in inputs],
        "output_dir": str(out),
        "cache_dir": str(cache) if cache is not None else None,
        "video_root": str(video_root) if video_root is not None else None,
        "max_in_flight": kw.get("max_in_flight", 6),
        "progress": kw.get("progress", False),
        "steps": steps,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def read_records(path: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), f"duplicate ids in {path}"
    return {r["id"]: r for r in records}


# --- the pipeline under faults ----------------------------------------------------------------


def test_pipeline_survives_every_fault(tmp_path, videos, capsys):
    inputs = write_inputs(tmp_path / "in.jsonl")
    out = tmp_path / "out"
    faults = ["429", "500", "hang", "drop", "malformed", "wrong"]
    with MockChatServer(Brain(), faults=faults, fault_every=4, hang_s=4.0) as server:
        cfg = write_config(
            tmp_path / "c.yaml",
            server.base_url,
            [inputs],
            out,
            cache=tmp_path / "cache",
            video_root=videos,
            progress=True,
        )
        report = runner_from_args(["--config", str(cfg)]).run()
    assert server.errors == []
    assert sorted(f for f, _ in server.injected) == sorted(faults)  # each injected once
    accepted = read_records(out / ACCEPTED_FILE)
    rejected = read_records(out / REJECTED_FILE)
    assert set(accepted) == EXPECTED_ACCEPTED
    assert {k: r["reason"] for k, r in rejected.items()} == EXPECTED_REJECTED
    assert not set(accepted) & set(rejected)
    for r in rejected.values():
        assert r["detail"] and r["sample"]["id"] == r["id"]

    t = report["totals"]
    assert (t["in"], t["accepted"], t["rejected"], t["failed"], t["pending"]) == (14, 9, 5, 0, 0)
    assert report["complete"] is True and report["stopped"] is None
    cap, qa = report["sources"]["capsrc"], report["sources"]["qasrc"]
    assert (cap["in"], cap["accepted"], cap["rejected"]) == (8, 4, 4)
    assert cap["rejected_by_reason"] == {
        "question_synthesis:invalid_output": 1,
        "question_synthesis:too_few_segments": 1,
        "video_filter:too_few_frames": 1,
        "video_filter:video_unreadable": 1,
    }
    assert (qa["in"], qa["accepted"], qa["rejected"]) == (6, 5, 1)
    assert qa["rejected_by_reason"] == {"hindsight_verify:unsupported": 1}
    assert qa["attempts"]["rejected"] == {"3": 1}
    assert sum(qa["attempts"]["accepted"].values()) == 5
    assert report["inputs"]["duplicate_ids"] == ["cap-0"]
    assert [b["line"] for b in report["inputs"]["bad_records"]] == [15]
    retries = sum(e["retries"] for e in report["endpoints"].values())
    assert retries >= 5  # every transport fault cost one retry
    assert json.loads((out / REPORT_FILE).read_text()) == report
    # The bar counts every input line: 14 samples, the duplicate and the bad record.
    err = capsys.readouterr().err
    assert "16/16" in err and "rate=64%" in err  # 9 accepted of 14 finished


def test_hindsight_regenerates_then_drops(tmp_path, videos):
    brain = Brain()
    with MockChatServer(brain) as server:
        ctx = CurationContext()
        gen = ReverseTrace(Endpoint(**endpoint(server.base_url, "trace")))
        ver = HindsightVerify(Endpoint(**endpoint(server.base_url, "verify")), max_attempts=3)
        steps = [gen, ver]
        for s in steps:
            s.setup(ctx, steps)

        def captioned(sample: VideoSample) -> VideoSample:
            opt = sample.options[1]
            sample.evidence = [Evidence(0.0, 1.0, f"one sees {opt}"), Evidence(1.0, 2.0, "more")]
            sample.meta["duration"] = 2.0
            return sample

        async def run(sample: VideoSample) -> tuple[VideoSample | Reject, SampleLog]:
            log = SampleLog(video_path=videos / "clip.mp4")
            try:
                for s in steps:
                    sample = await s.run(sample, log)
                return sample, log
            except Reject as rej:
                return rej, log
            finally:
                await ctx.close()

        good, log_good = asyncio.run(run(captioned(qa_rich(0))))
        bad, log_bad = asyncio.run(run(captioned(qa_rich(1, "[unsupported]"))))
        regen, log_regen = asyncio.run(run(captioned(qa_rich(2, "[regen]"))))

    # Supported: passes first time, one trace, one verification.
    assert isinstance(good, VideoSample) and good.trace.endswith("<answer>B</answer>")
    assert (log_good.trace_attempts, log_good.verifier_answers) == (1, ["B"])
    assert log_good.calls == {"reverse_trace": 1, "hindsight_verify": 1}
    # Unsupported: three traces, three failed verifications, then dropped with the reason.
    assert isinstance(bad, Reject) and bad.reason == "hindsight_verify:unsupported"
    assert "3 trace(s)" in bad.detail and "answered A, A, A" in bad.detail
    assert log_bad.trace_attempts == 3
    assert log_bad.calls == {"reverse_trace": 3, "hindsight_verify": 3}
    # Unsupported first, regenerated with feedback, then passes.
    assert isinstance(regen, VideoSample) and "something happens" not in regen.trace
    assert (log_regen.trace_attempts, log_regen.verifier_answers) == (2, ["A", "B"])
    # The verifier saw captions and times only: no think text, no answer, no video.
    assert len(brain.verifier_inputs) == 6
    for seen in brain.verifier_inputs:
        assert "step 1" not in seen and "<answer>B</answer>" not in seen
        assert "image_url" not in seen and "- 00:00-00:01: " in seen


def test_verify_without_generator_drops_after_one_check(tmp_path):
    with MockChatServer(Brain()) as server:
        ver = HindsightVerify(Endpoint(**endpoint(server.base_url, "verify")))
        ver.setup(CurationContext(), [ver])
        sample = qa_rich(0)
        sample.trace = (
            "<time>00:00-00:01</time> <caption>a person waves</caption> "
            "<think>hm</think> <answer>B</answer>"
        )
        log = SampleLog()
        with pytest.raises(Reject, match="hindsight_verify:unsupported"):
            asyncio.run(ver.run(sample, log))
    assert log.verifier_answers == ["A"]


def test_answer_conditioned_captions_send_timed_frames(videos):
    from PIL import Image

    brain = Brain()
    with MockChatServer(brain) as server:
        step = AnswerConditionedCaptions(
            Endpoint(**endpoint(server.base_url, "caption")),
            frames_per_window=3,
            max_frames=4,
            image_max_side=16,
        )
        ctx = CurationContext()
        step.setup(ctx, [step])

        async def run(sample: VideoSample) -> VideoSample:
            try:
                return await step.run(sample, SampleLog(video_path=videos / "clip.mp4"))
            finally:
                await ctx.close()

        given = asyncio.run(run(qa_rich(0)))
        found = asyncio.run(run(qa_rich(1, windows=False)))
        req = next(
            b for b in server.bodies.values() if "Window 1 (" in _text(b["messages"][-1]["content"])
        )
    assert [(e.start, e.end) for e in given.evidence] == [(0.0, 1.0), (1.0, 2.0)]
    assert all(e.caption == f"the frames show {qa_rich(0).options[1]}" for e in given.evidence)
    assert [(e.start, e.end) for e in found.evidence] == [(0.0, 1.0)]
    assert [len(urls) for urls in brain.images] == [6, 4]  # 2 windows × 3 frames; 4 frames
    for url in brain.images[0]:
        assert url.startswith("data:image/jpeg;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert image.format == "JPEG" and max(image.size) <= 16
    parts = req["messages"][-1]["content"]
    kinds = [p["type"] for p in parts]
    assert (
        kinds == ["text", "text"] + ["text", "image_url"] * 3 + ["text"] + ["text", "image_url"] * 3
    )
    # Window 1 is [0, 1) s of an 8 fps clip: frames 0..7, 3 of them → 0, 3.5→4, 7 → 0.0, 0.5, 0.875 s
    assert [p["text"] for p in parts[2:8:2]] == [
        "Frame at 00:00.0",
        "Frame at 00:00.5",
        "Frame at 00:00.9",
    ]


def test_unreadable_video_is_rejected_by_the_caption_step(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    step = AnswerConditionedCaptions(Endpoint("http://127.0.0.1:9/v1", "caption"))
    step.setup(CurationContext(), [step])
    sample = qa_rich(0)
    sample.meta["duration"] = 2.0
    with pytest.raises(Reject, match="answer_conditioned_captions:video_unreadable"):
        asyncio.run(step.run(sample, SampleLog(video_path=bad)))


def test_uncheckable_gold_answer_is_rejected():
    step = ReverseTrace(Endpoint("http://127.0.0.1:9/v1", "trace"))
    step.setup(CurationContext(), [step])
    sample = VideoSample(
        id="x",
        video="v.mp4",
        question="Which one?",
        answer="the red one",
        evidence=[Evidence(0.0, 1.0, "a red ball")],
    )
    with pytest.raises(Reject, match="reverse_trace:bad_answer: gold answer 'the red one' is not"):
        asyncio.run(step.run(sample, SampleLog()))


def test_prompt_templates_are_checked():
    ep = Endpoint("http://127.0.0.1:9/v1", "m")
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \{answer\}"):
        QuestionSynthesis(ep, user="{segments} {answer}")
    with pytest.raises(ValueError, match="exactly one of endpoint and local_model"):
        HindsightVerify()
    with pytest.raises(ValueError, match="regenerate"):
        ReverseTrace(ep, regenerate="{oops}")
    assert QuestionSynthesis(ep, user="Segments:\n{segments}").user == "Segments:\n{segments}"


# --- outputs are trainable --------------------------------------------------------------------


@pytest.mark.slow
def test_accepted_output_is_trainable(tmp_path, videos):
    from vthinker.data.datamodule import VideoQADataModule

    inputs = write_jsonl([qa_rich(0), caption_rich(0)], tmp_path / "data" / "in.jsonl")
    for name in ("clip.mp4",):
        (tmp_path / "data" / name).write_bytes((videos / name).read_bytes())
    out = tmp_path / "curated"
    with MockChatServer(Brain()) as server:
        cfg = write_config(
            tmp_path / "c.yaml", server.base_url, [tmp_path / "data" / "in.jsonl"], out, cache=None
        )
        runner_from_args(["--config", str(cfg)]).run()
    assert inputs == 2
    samples = read_jsonl(out / ACCEPTED_FILE)  # strict: every record is a valid VideoSample
    assert {s.id for s in samples} == {"qa-0", "cap-0"}
    for s in samples:
        assert s.video == "../data/clip.mp4"  # rewritten to resolve from the output folder
        assert s.target_text() == s.trace and s.target_text().endswith("<answer>B</answer>")
        assert s.meta["curation"]["trace_attempts"] == 1
        assert s.meta["curation"]["models"]["reverse_trace"] == {"model": "trace"}
    cap = next(s for s in samples if s.id == "cap-0")
    assert cap.question and len(cap.options) == 4 and cap.answer == "B"
    assert [e.caption for e in cap.evidence] == [
        "Someone walks to the door.",
        "Someone walks to the garden.",
    ]
    dm = VideoQADataModule(train_file=str(out / ACCEPTED_FILE))
    dataset = dm._load("fit")
    item = dataset[0]
    assert not hasattr(item, "reason"), item  # decoded, not skipped: the video path resolves
    assert item.clip.num_frames > 0


# --- resuming ---------------------------------------------------------------------------------


def many_caption_samples(path: Path, n: int) -> Path:
    samples = []
    for k in range(n):
        s = caption_rich(k % 14)
        s.id = f"s{k:02d}"
        s.meta["duration"] = 2.0
        s.evidence[0].caption = f"Person {k} walks to the {NOUNS[3 * (k % 14)]}."
        samples.append(s)
    write_jsonl(samples, path)
    return path


def caption_config(tmp_path: Path, url: str, inputs: Path, name: str = "out", **kw) -> Path:
    """`write_config` for `many_caption_samples` inputs (no video to filter): the config is
    ``<name>.yaml``, the outputs go to ``<name>/``."""
    return write_config(
        tmp_path / f"{name}.yaml", url, [inputs], tmp_path / name, filter_frames=None, **kw
    )


def outputs(out: Path) -> tuple[list[dict], list[dict]]:
    acc = sorted(read_records(out / ACCEPTED_FILE).values(), key=lambda r: r["id"])
    rej = sorted(read_records(out / REJECTED_FILE).values(), key=lambda r: r["id"])
    return acc, rej


@pytest.mark.slow
def test_sigkill_and_restart_equals_uninterrupted_run(tmp_path):
    inputs = many_caption_samples(tmp_path / "in.jsonl", 16)
    with MockChatServer(Brain(), delay_s=0.05) as server:
        ref_cfg, cfg = (
            caption_config(
                tmp_path,
                server.base_url,
                inputs,
                name,
                cache=tmp_path / f"{name}-cache",
                max_in_flight=2,
                max_concurrency=2,
            )
            for name in ("ref", "run")
        )
        runner_from_args(["--config", str(ref_cfg)]).run()
        reference_requests = sum(server.received.values())
        server.reset_counts()

        proc = subprocess.Popen(
            [sys.executable, "-m", "vthinker.curation.runner", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while sum(server.served.values()) < 15 and proc.poll() is None:
            assert time.monotonic() < deadline, "the runner made no progress"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
        proc.stderr.close()
        acc_path = tmp_path / "run" / ACCEPTED_FILE
        done_at_kill = len(acc_path.read_bytes().splitlines()) if acc_path.exists() else 0
        assert done_at_kill < 16
        cached_at_kill = ResponseCache(tmp_path / "run-cache").keys()
        assert cached_at_kill

        server.reset_counts()
        report = runner_from_args(["--config", str(cfg)]).run()
        resent = set(server.received) & cached_at_kill
        restart_requests = sum(server.received.values())

    assert not resent, "a request answered before the kill was sent again"
    assert restart_requests < reference_requests
    assert report["complete"] and report["totals"]["in"] == 16
    assert outputs(tmp_path / "run") == outputs(tmp_path / "ref")
    assert len(outputs(tmp_path / "run")[0]) == 16


def test_partial_last_line_is_cut_and_redone_from_cache(tmp_path):
    inputs = many_caption_samples(tmp_path / "in.jsonl", 5)
    with MockChatServer(Brain()) as server:
        cfg = caption_config(tmp_path, server.base_url, inputs, cache=tmp_path / "cache")
        runner_from_args(["--config", str(cfg)]).run()
        before = outputs(tmp_path / "out")
        acc = tmp_path / "out" / ACCEPTED_FILE
        data = acc.read_bytes()
        last_start = data.rstrip(b"\n").rfind(b"\n") + 1
        acc.write_bytes(data[: last_start + (len(data) - last_start) // 2])  # crash mid-write
        server.reset_counts()
        report = runner_from_args(["--config", str(cfg)]).run()
        assert sum(server.received.values()) == 0  # redone entirely from the cache
    assert report["inputs"]["repaired_partial_bytes"] > 0
    assert report["this_run"] == {"accepted": 1, "rejected": 0, "failed": 0}
    assert outputs(tmp_path / "out") == before
    assert len(read_jsonl(acc)) == 5


def test_recover_jsonl(tmp_path):
    p = tmp_path / "a.jsonl"
    assert recover_jsonl(p) == ([], 0)
    p.write_bytes(b'{"id": "a"}\n{"id": "b"}\n{"id": "c", "tr')
    records, cut = recover_jsonl(p)
    assert [r["id"] for r in records] == ["a", "b"] and cut == len(b'{"id": "c", "tr')
    assert p.read_bytes() == b'{"id": "a"}\n{"id": "b"}\n'
    p.write_bytes(b'{"id": "a"}\ngarbage\n{"id": "b"}\n')
    with pytest.raises(SampleError, match=r"a.jsonl:2: not a JSON record"):
        recover_jsonl(p)
    p.write_bytes(b'{"no_id": 1}\n')
    with pytest.raises(SampleError, match=r"a.jsonl:1: record without a string 'id'"):
        recover_jsonl(p)


def test_failed_samples_are_retried_on_the_next_run(tmp_path):
    inputs = many_caption_samples(tmp_path / "in.jsonl", 3)
    with MockChatServer(Brain(), faults=["500"], fault_every=1) as server:
        cfg = caption_config(
            tmp_path, server.base_url, inputs, cache=tmp_path / "cache", max_attempts=1
        )
        first = runner_from_args(["--config", str(cfg)]).run()
        assert first["complete"] is False
        assert first["totals"]["failed"] == 1 and first["totals"]["accepted"] == 2
        (failure,) = first["failures"]
        assert "HTTP 500" in failure["error"] and "after 1 attempt" in failure["error"]
        acc, rej = outputs(tmp_path / "out")
        assert failure["id"] not in {r["id"] for r in acc + rej}
        second = runner_from_args(["--config", str(cfg)]).run()
    assert second["complete"] is True and second["this_run"]["accepted"] == 1
    assert second["totals"]["accepted"] == 3


def test_consecutive_failures_stop_the_run(tmp_path):
    inputs = many_caption_samples(tmp_path / "in.jsonl", 6)
    with MockChatServer(Brain(), faults=["500"] * 20, fault_every=1) as server:
        cfg = caption_config(
            tmp_path, server.base_url, inputs, cache=None, max_attempts=1, max_in_flight=1
        )
        runner = runner_from_args(["--config", str(cfg)])
        runner.max_consecutive_errors = 2
        with pytest.raises(RuntimeError, match="2 samples failed in a row"):
            runner.run()
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert report["totals"]["failed"] == 2 and report["totals"]["pending"] == 4
    assert report["stopped"].startswith("2 samples failed in a row")


# --- keys --------------------------------------------------------------------------------------


def test_api_key_never_leaks(tmp_path, monkeypatch, caplog, capfd, videos):
    caplog.set_level(logging.DEBUG)  # httpx/httpcore debug logs included
    monkeypatch.setenv("CURATION_TEST_KEY", SECRET)
    inputs = write_jsonl([qa_rich(0), caption_rich(0)], tmp_path / "in.jsonl")
    assert inputs == 2
    with MockChatServer(Brain(), api_key=SECRET, faults=["500"], fault_every=2) as server:
        cfg = write_config(
            tmp_path / "c.yaml",
            server.base_url,
            [tmp_path / "in.jsonl"],
            tmp_path / "out",
            cache=tmp_path / "cache",
            video_root=videos,
            api_key_env="CURATION_TEST_KEY",
            progress=True,
        )
        report = runner_from_args(["--config", str(cfg)]).run()
        assert report["totals"]["accepted"] == 2  # the key was sent: the server demands it

        wrong = "sk-WRONG-d41d8cd9"
        monkeypatch.setenv("CURATION_TEST_KEY", wrong)
        cfg2 = write_config(
            tmp_path / "c2.yaml",
            server.base_url,
            [tmp_path / "in.jsonl"],
            tmp_path / "out2",
            cache=None,
            video_root=videos,
            api_key_env="CURATION_TEST_KEY",
        )
        with pytest.raises(LLMError) as info:
            runner_from_args(["--config", str(cfg2)]).run()
    err = info.value
    assert "HTTP Request: POST" in caplog.text  # httpx's own logging was captured too
    texts = [str(err), repr(err), "".join(traceback.format_exception(err)), caplog.text]
    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    report2 = (tmp_path / "out2" / REPORT_FILE).read_text()
    assert "HTTP 401" in str(err) and "[REDACTED]" in str(err)  # the echoed key was masked
    assert "[REDACTED]" in report2
    for root, _, files in os.walk(tmp_path):
        for name in files:
            texts.append((Path(root) / name).read_bytes().decode("utf-8", "replace"))
    for text in texts:
        assert SECRET not in text and wrong not in text


# --- command line --------------------------------------------------------------------------------


def test_vthinker_curate_command(tmp_path, capsys):
    from vthinker.cli import TOOLS, main

    assert "curate" in TOOLS
    inputs = many_caption_samples(tmp_path / "in.jsonl", 2)
    with MockChatServer(Brain()) as server:
        cfg = caption_config(tmp_path, server.base_url, inputs, cache=None, progress=True)
        main(["curate", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert "curation: 2 in, 2 accepted, 0 rejected, 0 failed, 0 pending" in err
    assert "2/2" in err and "acc=2 rej=0 fail=0 rate=100%" in err
    assert len(read_jsonl(tmp_path / "out" / ACCEPTED_FILE)) == 2


def test_runner_rejects_bad_settings(tmp_path):
    inputs = many_caption_samples(tmp_path / "in.jsonl", 1)
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        CurationRunner([str(tmp_path / "nope.jsonl")], str(tmp_path), [VideoFilter()])
    with pytest.raises(ValueError, match="at least one step"):
        CurationRunner([str(inputs)], str(tmp_path), [])
    with pytest.raises(ValueError, match="max_in_flight"):
        CurationRunner([str(inputs)], str(tmp_path), [VideoFilter()], max_in_flight=0)
