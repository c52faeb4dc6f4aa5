"""LLM judges for process rewards: one small interface, swappable backends.

Several sibling methods (docs/method.md, Sibling methods) reward the *process* with a
language model that reads part of the completion, never the video:

- VideoP2R: can the judge answer from the question + the perception text?
  (`vthinker.rewards.perception.PerceptionReward`)
- ReWatch-R1: do the observations alone lead to the answer?
  (`vthinker.rewards.rewatch.ReasoningReward`)
- Video-R2: which answer does the reasoning imply? (consistency gate,
  `vthinker.rewards.video_r2.ConsistencyGate`)

All of them ask a `Judge` the same kind of question, a `JudgeQuery`: *here is a text
about a video you cannot see; answer this question from it* (``task="answer"``), or
*which answer does this reasoning conclude?* (``task="implied"``).

Contract of `Judge.answer` (one result per query, in order):

- the answer the judge gave, normalised for the query's problem type by
  `vthinker.extract.extract_answer` (option letter, number, span text, text);
- ``""`` when the judge replied with an ``<answer>`` tag that names no valid answer
  (``<answer>none</answer>``: "the text is not enough"), a judgement that counts as wrong;
- ``None`` when the judgement *failed*: the backend raised or timed out, the reply was
  empty, or it has no ``<answer>…</answer>`` tag (garbage). Failures are counted in
  `Judge.stats` (by reason), logged as a warning, never raised: a flaky judge endpoint
  cannot stop a training run. Rewards turn a failed judgement into None (not applicable).

Requests are cached by hash (SHA-256 of the backend identity, the prompt templates and
the query) in an in-memory LRU; identical queries in one batch are asked once, and
failures are not cached (they are retried next time). Backends are called in batches of
``batch_size`` queries.

Backends:

- `HFJudge`: a local Hugging Face model loaded with transformers' Auto classes from a
  path or hub id (causal LMs, and image-text-to-text models such as Qwen2.5-VL used
  text-only, as the paper's hindsight verifier is), greedy decoding, ``max_time`` as the
  timeout;
- `EndpointJudge`: an OpenAI-compatible chat endpoint through
  `vthinker.llm.client.ChatClient` (its retries, rate limits and optional disk cache),
  with a wall-clock limit per batch;
- `RuleJudge`: deterministic and offline (answer cues and option-word overlap), for the
  demo configs and tests; `CallableJudge` wraps a Python function (tests).
"""

from vthinker.rewards.judge.base import (
    DEFAULT_ANSWER_SYSTEM,
    DEFAULT_IMPLIED_SYSTEM,
    DEFAULT_JUDGE_INSTRUCTIONS,
    DEFAULT_JUDGE_USER,
    CallableJudge,
    Judge,
    JudgedReward,
    JudgePrompt,
    JudgeQuery,
    JudgeTask,
    parse_reply,
)
from vthinker.rewards.judge.endpoint import EndpointJudge
from vthinker.rewards.judge.hf import HFJudge
from vthinker.rewards.judge.rule import RuleJudge

__all__ = [
    "DEFAULT_ANSWER_SYSTEM",
    "DEFAULT_IMPLIED_SYSTEM",
    "DEFAULT_JUDGE_INSTRUCTIONS",
    "DEFAULT_JUDGE_USER",
    "CallableJudge",
    "EndpointJudge",
    "HFJudge",
    "Judge",
    "JudgePrompt",
    "JudgeQuery",
    "JudgeTask",
    "JudgedReward",
    "RuleJudge",
    "parse_reply",
]
