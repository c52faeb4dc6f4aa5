"""The judge interface: queries, prompts, reply parsing, the `Judge` base (cache, thread
pool, timeouts, failure accounting), `CallableJudge`, and `JudgedReward` for rewards
that ask one. The package docstring says what judges are for."""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from vthinker.data.prompts import check_template
from vthinker.data.schema import LETTERS, VideoSample
from vthinker.extract import extract_answer
from vthinker.rewards.base import Reward, RewardError, _check_value
from vthinker.trace import ANSWER_RE

log = logging.getLogger(__name__)

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
