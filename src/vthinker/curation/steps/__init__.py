"""The steps of Video-Thinker's hindsight curation pipeline (docs/method.md, Curation pipeline).

A step takes a `VideoSample` and returns a new one, or raises `Reject` with a reason code
(``"<step>:<code>"``) and a detail. The runner passes each sample through its steps in
order; a step whose `Step.applies` is false for a sample leaves it as it is, so one step
list serves both kinds of source:

- **caption-rich** samples (ActivityNet Captions, TutorialVQA, YouCook2) come with an
  empty ``question`` and timed captions in ``evidence``: `QuestionSynthesis` writes a
  multi-segment multiple-choice question and keeps the segments it needs as evidence;
- **QA-rich** samples (STAR, ScaleLong, LVBench) come with a question and an answer, and
  evidence windows without captions (or none): `AnswerConditionedCaptions` shows a video
  model frames of the key windows with their timestamps, and the answer, and asks for
  captions (or for the windows themselves when there are none);
- then `ReverseTrace` writes the tagged trace from answer + spans + captions, and
  `HindsightVerify` checks that a verifier that sees only the ``<time>``/``<caption>``
  contents reaches the gold answer, regenerating the trace up to ``max_attempts`` traces
  before dropping the sample.

`VideoFilter` (no LLM) drops corrupt videos and videos with fewer than ``min_frames``
frames. Times: evidence is in seconds of the file; prompts and traces use clip time
(seconds from ``video_start``), as the policy sees the clip.

Every LLM step has its own endpoint, prompt templates (``str.format`` placeholders listed
per class; unknown placeholders are rejected at construction), sampling parameters, and a
``max_attempts`` for replies that fail validation: the bad reply and the validator's
message go back to the model as a repair turn, so each retry is a different request (and a
different cache entry).
"""

from vthinker.curation.steps.base import (
    DEFAULT_REPAIR,
    CurationContext,
    LLMStep,
    Reject,
    SampleLog,
    Step,
    clip_duration,
    frame_data_url,
    frame_time,
)
from vthinker.curation.steps.captions import (
    CAPTION_SYSTEM,
    CAPTION_USER,
    CAPTION_USER_FIND,
    AnswerConditionedCaptions,
)
from vthinker.curation.steps.questions import QUESTION_SYSTEM, QUESTION_USER, QuestionSynthesis
from vthinker.curation.steps.traces import TRACE_REGENERATE, TRACE_SYSTEM, TRACE_USER, ReverseTrace
from vthinker.curation.steps.verify import VERIFY_SYSTEM, VERIFY_USER, HindsightVerify
from vthinker.curation.steps.video_filter import VideoFilter

__all__ = [
    "CAPTION_SYSTEM",
    "CAPTION_USER",
    "CAPTION_USER_FIND",
    "DEFAULT_REPAIR",
    "QUESTION_SYSTEM",
    "QUESTION_USER",
    "TRACE_REGENERATE",
    "TRACE_SYSTEM",
    "TRACE_USER",
    "VERIFY_SYSTEM",
    "VERIFY_USER",
    "AnswerConditionedCaptions",
    "CurationContext",
    "HindsightVerify",
    "LLMStep",
    "QuestionSynthesis",
    "Reject",
    "ReverseTrace",
    "SampleLog",
    "Step",
    "VideoFilter",
    "clip_duration",
    "frame_data_url",
    "frame_time",
]
