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

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import logging
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from vthinker.data.prompts import check_template
from vthinker.data.schema import LETTERS, VideoSample
from vthinker.extract import extract_answer
from vthinker.llm.client import ChatClient, Endpoint
from vthinker.metrics.text import tokenize
from vthinker.rewards.base import Reward, RewardError, _check_value
from vthinker.trace import ANSWER_RE

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_ANSWER_SYSTEM",
    "DEFAULT_IMPLIED_SYSTEM",
    "CallableJudge",
    "EndpointJudge",
    "HFJudge",
    "Judge",
    "JudgePrompt",
    "JudgeQuery",
    "JudgedReward",
    "RuleJudge",
    "parse_reply",
]

JudgeTask = Literal["answer", "implied"]


@dataclass(frozen=True)
class JudgeQuery:
    """One question for a judge.

    Attributes:
        question: The question text (without options).
        context: The only text the judge may use (a perception section, the observations,
            or a reasoning).
        options: Option texts without letter prefixes, in letter order.
        problem_type: As in `VideoSample.problem_type`.
        task: ``answer`` (answer the question from the context) or ``implied`` (say which
            answer the context, a reasoning, concludes).
    """

    question: str
    context: str
    options: tuple[str, ...] = ()
    problem_type: str = "multiple choice"
    task: JudgeTask = "answer"

    @classmethod
    def for_sample(
        cls, sample: VideoSample, context: str, task: JudgeTask = "answer"
    ) -> JudgeQuery:
        """The query about ``sample``'s question with ``context`` as the evidence."""
        return cls(
            question=sample.question.strip(),
            context=context.strip(),
            options=tuple(sample.options),
            problem_type=sample.problem_type,
            task=task,
        )

    @property
    def lettered_options(self) -> list[str]:
        """Options as ``["A. text", ...]``."""
        return [f"{LETTERS[i]}. {text}" for i, text in enumerate(self.options)]


DEFAULT_ANSWER_SYSTEM = (
    "You answer questions about a video you cannot see. You are given a text written about "
    "the video. Use only what that text states; do not guess from common sense or prior "
    "knowledge. If the text is not enough to decide, reply <answer>none</answer>. Otherwise "
    "reply with the answer inside <answer></answer>."
)

DEFAULT_IMPLIED_SYSTEM = (
    "You read a reasoning written about a video question. Say which answer the reasoning "
    "itself concludes, whether or not it is correct. If the reasoning reaches no answer, "
    "reply <answer>none</answer>. Otherwise reply with that answer inside <answer></answer>."
)

DEFAULT_JUDGE_USER = (
    "Text about the video:\n{context}\n\nQuestion: {question}\n{options}{instruction}"
)

DEFAULT_JUDGE_INSTRUCTIONS = {
    "multiple choice": "Reply with the option's letter inside <answer></answer>.",
    "numerical": "Reply with a number inside <answer></answer>.",
    "regression": "Reply with a number inside <answer></answer>.",
    "temporal grounding": "Reply with the time span as MM:SS-MM:SS inside <answer></answer>.",
}


@dataclass
class JudgePrompt:
    """The chat messages a language-model judge gets.

    Attributes:
        answer_system: System prompt for ``task="answer"``.
        implied_system: System prompt for ``task="implied"``.
        user: User template; placeholders ``{context}``, ``{question}``, ``{options}``
            (lettered, one per line, empty when there are none) and ``{instruction}``.
        instructions: Answer instruction per problem type.
        default_instruction: Instruction for other problem types.
    """

    answer_system: str = DEFAULT_ANSWER_SYSTEM
    implied_system: str = DEFAULT_IMPLIED_SYSTEM
    user: str = DEFAULT_JUDGE_USER
    instructions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_JUDGE_INSTRUCTIONS))
    default_instruction: str = "Reply with a short answer inside <answer></answer>."

    def __post_init__(self) -> None:
        allowed = {"context", "question", "options", "instruction"}
        check_template("JudgePrompt", "user", self.user, allowed)

    def messages(self, query: JudgeQuery) -> list[dict[str, str]]:
        """Plain-text chat messages (system, user) for ``query``."""
        options = "".join(f"{o}\n" for o in query.lettered_options)
        if options:
            options = f"Options:\n{options}"
        user = self.user.format(
            context=query.context,
            question=query.question,
            options=options,
            instruction=self.instructions.get(query.problem_type, self.default_instruction),
        )
        system = self.answer_system if query.task == "answer" else self.implied_system
        return [{"role": "system", "content": system}, {"role": "user", "content": user.strip()}]


def parse_reply(reply: str | None, query: JudgeQuery) -> tuple[str | None, str | None]:
    """Read a judge's reply.

    Returns:
        ``(answer, failure)``: the normalised answer (``""`` for an ``<answer>`` naming no
        valid answer) and None, or None and the failure reason (``"empty"`` or
        ``"unparsable"``: no ``<answer>…</answer>`` tag).
    """
    if reply is None or not reply.strip():
        return None, "empty"
    tags = ANSWER_RE.findall(reply)
    if not tags:
        return None, "unparsable"
    value = extract_answer(
        f"<answer>{tags[-1]}</answer>", query.options or None, query.problem_type
    )
    return (value or ""), None


class Judge(abc.ABC):
    """Answers `JudgeQuery`s in batches, with a cache and failure accounting.

    Subclasses implement `_complete` (raw replies for a batch) and may override
    `_identity` (what distinguishes their answers in the cache key).

    Args:
        prompt: Chat templates (language-model backends).
        batch_size: Queries per backend call.
        cache_size: Entries kept in the LRU cache (0 disables it).
    """

    # Runtime state left out when a judge is pickled (Lightning keeps the rewards in the
    # checkpoint's hyperparameters): a judge pickles as its configuration.
    _transient: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, prompt: JudgePrompt | None = None, batch_size: int = 8, cache_size: int = 100_000
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"judge batch_size must be >= 1, got {batch_size}")
        if cache_size < 0:
            raise ValueError(f"judge cache_size must be >= 0, got {cache_size}")
        self.prompt = prompt or JudgePrompt()
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, str] = OrderedDict()
        self.counts: Counter[str] = Counter()

    # --- backend --------------------------------------------------------------------------

    @abc.abstractmethod
    def _complete(self, queries: list[JudgeQuery]) -> list[str | BaseException | None]:
        """Raw replies, one per query; an exception instance marks that request as failed.

        May also raise, which fails the whole batch.
        """

    def _identity(self) -> Any:
        """JSON-able description of the backend for the cache key."""
        return type(self).__name__

    # --- the interface --------------------------------------------------------------------

    def key(self, query: JudgeQuery) -> str:
        """Cache key: SHA-256 of the backend identity, the prompt and the query."""
        payload = {
            "judge": self._identity(),
            "prompt": dataclasses.asdict(self.prompt),
            "query": dataclasses.asdict(query),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()

    def answer(self, queries: Sequence[JudgeQuery]) -> list[str | None]:
        """Judge every query (see the module docstring for the meaning of the results)."""
        results: list[str | None] = [None] * len(queries)
        todo: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            self.counts["requests"] += 1
            k = self.key(q)
            if k in self._cache:
                self._cache.move_to_end(k)
                self.counts["cache_hits"] += 1
                results[i] = self._cache[k]
            else:
                todo.setdefault(k, []).append(i)
        keys = list(todo)
        failed_before = self.counts["failures"]
        for start in range(0, len(keys), self.batch_size):
            chunk = keys[start : start + self.batch_size]
            batch = [queries[todo[k][0]] for k in chunk]
            for k, (value, reason) in zip(chunk, self._judge_batch(batch), strict=True):
                if reason is not None:
                    self.counts["failures"] += len(todo[k])
                    self.counts[f"failures_{reason}"] += len(todo[k])
                    continue
                self._remember(k, value)  # type: ignore[arg-type]
                for i in todo[k]:
                    results[i] = value
        failed = self.counts["failures"] - failed_before
        if failed:
            log.warning(
                "%s: %d of %d judgement(s) failed (%s so far: %s); they count as not applicable",
                type(self).__name__,
                failed,
                len(queries),
                self.counts["failures"],
                {k[9:]: v for k, v in self.counts.items() if k.startswith("failures_")},
            )
        return results

    def _judge_batch(self, batch: list[JudgeQuery]) -> list[tuple[str | None, str | None]]:
        try:
            replies = self._complete(batch)
            if len(replies) != len(batch):
                raise RuntimeError(f"backend returned {len(replies)} replies for {len(batch)}")
        except Exception as err:  # the whole batch failed: count it, never crash training
            log.warning("%s: batch of %d failed: %s", type(self).__name__, len(batch), err)
            replies = [err] * len(batch)
        out: list[tuple[str | None, str | None]] = []
        for q, reply in zip(batch, replies, strict=True):
            if isinstance(reply, BaseException):
                out.append((None, _failure_reason(reply)))
            else:
                out.append(parse_reply(reply, q))
        return out

    def _remember(self, key: str, value: str) -> None:
        if self.cache_size == 0:
            return
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def stats(self) -> dict[str, float]:
        """Running counts: ``requests``, ``cache_hits``, ``failures`` and
        ``failures_<reason>`` (``error``, ``timeout``, ``empty``, ``unparsable``)."""
        out = {"requests": 0.0, "cache_hits": 0.0, "failures": 0.0}
        out.update({k: float(v) for k, v in self.counts.items()})
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        for name in self._transient:
            state[name] = None
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._identity()!r})"


def _failure_reason(err: BaseException) -> str:
    """``timeout`` for timeouts (also the HTTP client's "timed out" errors), else ``error``."""
    if isinstance(err, TimeoutError) or "timeout" in type(err).__name__.lower():
        return "timeout"
    return "timeout" if "timed out" in str(err).lower() else "error"


# --- offline judges ---------------------------------------------------------------------------


class CallableJudge(Judge):
    """A judge backed by a Python function ``query -> reply text`` (tests, custom rules).

    The function may raise (that judgement fails) or return None (an empty reply).

    Args:
        fn: The function.
        batch_size: Queries per call batch.
        cache_size: LRU cache entries.
    """

    def __init__(
        self,
        fn: Callable[[JudgeQuery], str | None],
        batch_size: int = 8,
        cache_size: int = 100_000,
    ) -> None:
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        self.fn = fn
        self.calls = 0

    def _identity(self) -> Any:
        return f"callable:{getattr(self.fn, '__qualname__', repr(self.fn))}"

    def _complete(self, queries: list[JudgeQuery]) -> list[str | BaseException | None]:
        out: list[str | BaseException | None] = []
        for q in queries:
            self.calls += 1
            try:
                out.append(self.fn(q))
            except Exception as err:
                out.append(err)
        return out


# An answer cue: "answer is C", "option (B)", "choice: D" (a lower-case letter only in
# brackets: "option (c)").
_CUE = re.compile(
    r"\b(?i:answer|option|choice)(?:\s+(?i:is|would be|should be|must be))?\s*[:=]?\s*"
    r"(?:(?i:option|choice)\s+)?(?:([A-Z])|[\(\[]([A-Za-z])[\)\]]|[\(\[]([A-Z]))(?![A-Za-z0-9'])"
)
# "A man ..." / "I think ...": an article or pronoun, not an option letter.
_WORD_AFTER = re.compile(r"\s+[a-z]")
_STOPWORDS = frozenset(
    "a an the of in on at to and or is are was were be it its this that with from by for "
    "as into onto then there".split()
)


def _content_words(text: str) -> set[str]:
    return {w for w in tokenize(text) if w not in _STOPWORDS}


class RuleJudge(Judge):
    """A deterministic, offline judge for multiple-choice questions.

    - ``task="implied"``: the last explicit answer cue in the context ("the answer is C",
      "option (B)", "choice (d)"), else the option whose text the context mentions last
      (whole words, case-insensitive), else none.
    - ``task="answer"``: the option with the largest share of its content words (COCO
      tokens minus a few stop words) present in the context; a tie for the best share, or
      a best share of 0, gives none. An explicit answer cue in the context is ignored: the
      context must describe the video, not name the answer.

    Other problem types get ``<answer>none</answer>`` (judged as no answer). This is a
    lexical stand-in for an LLM judge, good for offline demos and exact tests, not a
    substitute for one in real training.
    """

    def _complete(self, queries: list[JudgeQuery]) -> list[str | BaseException | None]:
        return [f"<answer>{self.decide(q) or 'none'}</answer>" for q in queries]

    @staticmethod
    def decide(query: JudgeQuery) -> str | None:
        """The option letter this judge picks for ``query``, or None."""
        if query.problem_type != "multiple choice" or not query.options:
            return None
        letters = LETTERS[: len(query.options)]
        if query.task == "implied":
            cues = []
            for m in _CUE.finditer(query.context):
                letter = (m.group(1) or m.group(2) or m.group(3)).upper()
                bare = m.group(1) is not None
                if letter not in letters:
                    continue
                if bare and letter in "AI" and _WORD_AFTER.match(query.context, m.end(1)):
                    continue  # "the answer is A man …": an article
                cues.append(letter)
            if cues:
                return cues[-1]
            return _last_mentioned(query.context, query.options)
        words = _content_words(query.context)
        shares = []
        for option in query.options:
            opt = _content_words(option)
            shares.append(len(opt & words) / len(opt) if opt else 0.0)
        best = max(shares)
        if best == 0.0 or shares.count(best) > 1:
            return None
        return letters[shares.index(best)]


def _last_mentioned(context: str, options: Sequence[str]) -> str | None:
    """The letter of the option whose text ends last in ``context`` (the longer text on a
    tie), comparing COCO tokens as whole words; None when no option is mentioned."""
    text = " ".join(tokenize(context))
    best: tuple[int, int, str] | None = None  # (end of the last mention, length, letter)
    for i, option in enumerate(options):
        opt = " ".join(tokenize(option))
        if not opt:
            continue
        ends = [m.end() for m in re.finditer(rf"(?<!\S){re.escape(opt)}(?!\S)", text)]
        if ends and (best is None or (ends[-1], len(opt)) > best[:2]):
            best = (ends[-1], len(opt), LETTERS[i])
    return best[2] if best else None


# --- local Hugging Face model -----------------------------------------------------------------


class HFJudge(Judge):
    """A local Hugging Face language model as the judge (loaded on first use).

    Args:
        name_or_path: Model folder or hub id (loaded with transformers' Auto classes).
        model_class: ``auto`` (a causal LM, else an image-text-to-text model used
            text-only), ``causal_lm`` or ``image_text_to_text``.
        dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
        device: ``auto`` (the current CUDA device if any, else CPU), ``cpu``, ``cuda:0``…
        max_new_tokens: Longest reply.
        timeout_s: Wall-clock limit per batch (``generate(max_time=...)``); a batch that
            hits it counts its unfinished replies as timeouts. None: no limit.
        prompt: Chat templates.
        batch_size: Prompts per ``generate`` call.
        cache_size: LRU cache entries.
        trust_remote_code: Passed to ``from_pretrained``.
    """

    _transient = ("model", "tokenizer")

    def __init__(
        self,
        name_or_path: str,
        model_class: Literal["auto", "causal_lm", "image_text_to_text"] = "auto",
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto",
        device: str = "auto",
        max_new_tokens: int = 64,
        timeout_s: float | None = 60.0,
        prompt: JudgePrompt | None = None,
        batch_size: int = 8,
        cache_size: int = 100_000,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__(prompt=prompt, batch_size=batch_size, cache_size=cache_size)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 or None, got {timeout_s}")
        if model_class not in ("auto", "causal_lm", "image_text_to_text"):
            raise ValueError(f"unknown model_class {model_class!r}")
        self.name_or_path = name_or_path
        self.model_class = model_class
        self.dtype = dtype
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self.trust_remote_code = trust_remote_code
        self.model: Any = None
        self.tokenizer: Any = None

    def _identity(self) -> Any:
        return {"hf": self.name_or_path, "max_new_tokens": self.max_new_tokens}

    def load(self) -> None:
        """Load the tokenizer and model (done on the first judgement)."""
        if self.model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if self.dtype != "auto":
            kwargs["dtype"] = getattr(torch, self.dtype)
        else:
            kwargs["dtype"] = "auto"
        tok = AutoTokenizer.from_pretrained(
            self.name_or_path, trust_remote_code=self.trust_remote_code
        )
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        if self.model_class == "image_text_to_text":
            model = AutoModelForImageTextToText.from_pretrained(self.name_or_path, **kwargs)
        else:
            try:
                model = AutoModelForCausalLM.from_pretrained(self.name_or_path, **kwargs)
            except ValueError:
                if self.model_class == "causal_lm":
                    raise
                # Vision-language checkpoints (Qwen2.5-VL) answer text-only prompts too.
                model = AutoModelForImageTextToText.from_pretrained(self.name_or_path, **kwargs)
        device = self.device
        if device == "auto":
            device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
        model.to(device)
        model.eval()
        model.requires_grad_(False)
        self.tokenizer, self.model = tok, model

    def _complete(self, queries: list[JudgeQuery]) -> list[str | BaseException | None]:
        import torch

        self.load()
        tok, model = self.tokenizer, self.model
        texts = [
            tok.apply_chat_template(
                self.prompt.messages(q), tokenize=False, add_generation_prompt=True
            )
            for q in queries
        ]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            model.device
        )
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": False,
            "pad_token_id": tok.pad_token_id,
            "stop_strings": ["</answer>"],
            "tokenizer": tok,
        }
        if self.timeout_s is not None:
            kwargs["max_time"] = self.timeout_s
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(**enc, **kwargs)
        elapsed = time.perf_counter() - start
        replies = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        timed_out = self.timeout_s is not None and elapsed >= self.timeout_s
        result: list[str | BaseException | None] = []
        for reply in replies:
            if timed_out and "</answer>" not in reply:
                result.append(TimeoutError(f"no reply within {self.timeout_s} s"))
            else:
                result.append(reply)
        return result


# --- OpenAI-compatible endpoint ---------------------------------------------------------------


class EndpointJudge(Judge):
    """An OpenAI-compatible chat endpoint as the judge (vLLM, a hosted API, …).

    Requests go through `vthinker.llm.client.ChatClient` (retries with backoff, rate
    limit, concurrency limit, optional disk cache; the API key is read from the environment
    variable named in the endpoint). The queries of a batch run in parallel threads; a
    batch gets ``timeout_s`` seconds of wall-clock time in all, and a request still running
    then counts as a timeout (it finishes in the background, bounded by the endpoint's own
    ``timeout_s`` and ``max_attempts``).

    Args:
        endpoint: The endpoint (``base_url``, ``model``, ``api_key_env``, limits).
        cache_dir: Disk cache of replies (None: memory cache only).
        max_tokens: Longest reply.
        temperature: Sampling temperature (0: greedy where the server allows it).
        timeout_s: Wall-clock limit per batch.
        prompt: Chat templates.
        batch_size: Queries per batch.
        cache_size: In-memory LRU cache entries.
    """

    _transient = ("_client", "_pool")

    def __init__(
        self,
        endpoint: Endpoint,
        cache_dir: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        timeout_s: float = 120.0,
        prompt: JudgePrompt | None = None,
        batch_size: int = 16,
        cache_size: int = 100_000,
    ) -> None:
        super().__init__(prompt=prompt, batch_size=batch_size, cache_size=cache_size)
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.endpoint = endpoint
        self.cache_dir = cache_dir
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self._client: ChatClient | None = None
        self._pool: ThreadPoolExecutor | None = None

    def _identity(self) -> Any:
        return {
            "url": self.endpoint.url,
            "model": self.endpoint.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def _complete(self, queries: list[JudgeQuery]) -> list[str | BaseException | None]:
        if self._client is None:
            self._client = ChatClient(self.endpoint, cache_dir=self.cache_dir)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.batch_size, thread_name_prefix="EndpointJudge"
            )
        client = self._client
        futures = [
            self._pool.submit(
                client.chat_sync,
                self.prompt.messages(q),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
            for q in queries
        ]
        deadline = time.monotonic() + self.timeout_s
        out: list[str | BaseException | None] = []
        for future in futures:
            try:
                out.append(future.result(timeout=max(0.0, deadline - time.monotonic())).text)
            except FutureTimeout:
                future.cancel()
                out.append(TimeoutError(f"{self.endpoint.label}: no reply in {self.timeout_s:g} s"))
            except Exception as err:  # LLMError after retries, a missing key, …
                out.append(err)
        return out


# --- rewards that ask a judge -----------------------------------------------------------------


class JudgedReward(Reward):
    """A reward computed from one judgement per completion, asked in one batch.

    Subclasses implement `query` (what to ask, or a value when no judgement is needed)
    and `value` (the reward given the judge's answer). A failed judgement gives None (not
    applicable); the judge's running counts are exposed by `stats` and logged by the GRPO
    module as ``reward/<name>/judge_<count>``.

    Args:
        judge: The judge backend.
        weight: Factor in the total reward.
        name: Reward name.
    """

    def __init__(self, judge: Judge, weight: float = 1.0, name: str | None = None) -> None:
        super().__init__(weight=weight, name=name)
        self.judge = judge

    @abc.abstractmethod
    def query(self, completion: str, sample: VideoSample) -> JudgeQuery | float | None:
        """The query for this completion, or its value when no judge is needed."""

    @abc.abstractmethod
    def value(self, verdict: str, completion: str, sample: VideoSample) -> float:
        """The reward given the judge's (normalised, possibly empty) answer."""

    def score(self, completion: str, sample: VideoSample) -> float | None:
        return self([completion], [sample])[0]

    def __call__(
        self, completions: Sequence[str], samples: Sequence[VideoSample]
    ) -> list[float | None]:
        """Score a batch: build every query, ask the judge once, then score each answer.

        Raises:
            ValueError: if the two lists differ in length.
            RewardError: naming the reward and the sample when building a query or scoring
                an answer fails (a data error, such as an unreadable gold answer).
        """
        if len(completions) != len(samples):
            raise ValueError(
                f"reward {self.name!r}: {len(completions)} completions for {len(samples)} samples"
            )
        out: list[float | None] = [None] * len(completions)
        asked: list[int] = []
        queries: list[JudgeQuery] = []
        for i, (completion, sample) in enumerate(zip(completions, samples, strict=True)):
            q = self._guard(sample, self.query, completion, sample)
            if isinstance(q, JudgeQuery):
                asked.append(i)
                queries.append(q)
            else:
                out[i] = _check_value(q, self.name, sample.id)
        verdicts = self.judge.answer(queries) if queries else []
        for i, verdict in zip(asked, verdicts, strict=True):
            if verdict is not None:
                value = self._guard(samples[i], self.value, verdict, completions[i], samples[i])
                out[i] = _check_value(value, self.name, samples[i].id)
        return out

    def _guard(self, sample: VideoSample, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as err:
            raise RewardError(
                f"reward {self.name!r} failed on sample {sample.id!r}: {type(err).__name__}: {err}"
            ) from err

    def stats(self) -> dict[str, float]:
        return {f"judge_{k}": v for k, v in self.judge.stats().items()}
