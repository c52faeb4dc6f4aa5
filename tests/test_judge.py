"""The judge interface: reply parsing, prompts, caching, batching, failure accounting, and
its backends (rule, callable, local HF model, OpenAI-compatible endpoint), plus a GRPO step
whose judge endpoint fails."""

from __future__ import annotations

import json
import pickle
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import lightning as L
import pytest
import torch
from tiny_fit import fit_toy

from vthinker.llm.client import Endpoint
from vthinker.models.policy import LoraSettings, PolicyConfig
from vthinker.rewards import (
    AccuracyReward,
    CallableJudge,
    EndpointJudge,
    HFJudge,
    JudgePrompt,
    JudgeQuery,
    PerceptionReward,
    RuleJudge,
)
from vthinker.rewards.judge import parse_reply
from vthinker.training.grpo import GRPOModule, GRPOSettings
from vthinker.training.rollout import RolloutSettings

OPTIONS = ("blue circle", "yellow triangle", "green triangle")


def _q(context: str = "ctx", task: str = "answer", **kw) -> JudgeQuery:
    return JudgeQuery(question="Which shape?", context=context, options=OPTIONS, task=task, **kw)


# --- parsing and prompts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("<answer>B</answer>", ("B", None)),
        ("thinking… <answer>(c)</answer>", ("C", None)),
        ("<answer>A</answer> no wait <answer>B</answer>", ("B", None)),  # the last tag
        ("<answer>green triangle</answer>", ("C", None)),  # option text
        ("<answer>none</answer>", ("", None)),  # a judgement: not enough information
        ("<answer>D</answer>", ("", None)),  # not one of the 3 options
        ("The answer is B", (None, "unparsable")),  # no tag: garbage
        ("   ", (None, "empty")),
        (None, (None, "empty")),
    ],
)
def test_parse_reply(reply, expected):
    assert parse_reply(reply, _q()) == expected


def test_parse_reply_numbers():
    q = JudgeQuery(question="How many?", context="c", problem_type="numerical")
    assert parse_reply("<answer>3.50 apples</answer>", q) == ("3.5", None)
    assert parse_reply("<answer>several</answer>", q) == ("", None)


def test_prompt_messages_are_exact():
    msgs = JudgePrompt().messages(_q("a green triangle appears last"))
    assert msgs[0]["role"] == "system" and "Use only what that text states" in msgs[0]["content"]
    assert msgs[1] == {
        "role": "user",
        "content": "Text about the video:\na green triangle appears last\n\n"
        "Question: Which shape?\nOptions:\nA. blue circle\nB. yellow triangle\n"
        "C. green triangle\nReply with the option's letter inside <answer></answer>.",
    }
    implied = JudgePrompt().messages(_q(task="implied"))[0]["content"]
    assert "which answer the reasoning itself concludes" in implied
    free = JudgePrompt().messages(JudgeQuery("Why?", "c", problem_type="free-form"))[1]
    assert free["content"].endswith("Reply with a short answer inside <answer></answer>.")
    with pytest.raises(ValueError, match="unknown placeholder"):
        JudgePrompt(user="{video}")


# --- cache, batching, failures ----------------------------------------------------------------


def test_cache_dedup_and_batching():
    batches: list[int] = []

    class Counting(CallableJudge):
        def _complete(self, queries):
            batches.append(len(queries))
            return super()._complete(queries)

    judge = Counting(
        lambda q: "<answer>C</answer>" if "green" in q.context else "<answer>A</answer>",
        batch_size=2,
    )
    qs = [_q("green"), _q("blue"), _q("green"), _q("red"), _q("x")]
    assert judge.answer(qs) == ["C", "A", "C", "A", "A"]
    assert batches == [2, 2]  # 4 distinct queries in batches of 2; the repeat asked once
    assert judge.calls == 4
    assert judge.answer(qs[:2]) == ["C", "A"]  # served from the cache
    assert judge.calls == 4
    assert judge.stats() == {"requests": 7.0, "cache_hits": 2.0, "failures": 0.0}
    # The task is part of the key: the same text asked as "implied" is a new request.
    judge.answer([_q("green", task="implied")])
    assert judge.calls == 5


def test_lru_cache_evicts_oldest():
    judge = CallableJudge(lambda q: "<answer>A</answer>", cache_size=1)
    judge.answer([_q("one")])
    judge.answer([_q("two")])  # evicts "one"
    judge.answer([_q("one")])
    assert judge.calls == 3
    uncached = CallableJudge(lambda q: "<answer>A</answer>", cache_size=0)
    uncached.answer([_q("one")])
    uncached.answer([_q("one")])
    assert uncached.calls == 2


def test_failures_are_counted_not_raised_and_not_cached():
    def fn(q):
        if q.context == "boom":
            raise ConnectionError("endpoint down")
        if q.context == "slow":
            raise TimeoutError("too slow")
        if q.context == "garbage":
            return "<html>502</html>"
        if q.context == "empty":
            return None
        return "<answer>B</answer>"

    judge = CallableJudge(fn)
    qs = [_q("boom"), _q("slow"), _q("garbage"), _q("empty"), _q("fine")]
    assert judge.answer(qs) == [None, None, None, None, "B"]
    assert judge.stats() == {
        "requests": 5.0,
        "cache_hits": 0.0,
        "failures": 4.0,
        "failures_error": 1.0,
        "failures_timeout": 1.0,
        "failures_unparsable": 1.0,
        "failures_empty": 1.0,
    }
    judge.answer(qs[:1])  # failures are retried, not served from the cache
    assert judge.calls == 6 and judge.stats()["failures"] == 5.0


def test_a_backend_that_raises_fails_the_batch_only():
    class Broken(CallableJudge):
        def _complete(self, queries):
            raise RuntimeError("CUDA out of memory")

    judge = Broken(lambda q: "<answer>A</answer>")
    assert judge.answer([_q("a"), _q("b")]) == [None, None]
    assert judge.stats()["failures_error"] == 2.0


# --- rule judge -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "task", "expected"),
    [
        ("a green triangle appears at the end", "answer", "C"),  # shares 0, 1/2, 2/2
        ("a triangle appears", "answer", ""),  # tie at 1/2: no answer
        ("nothing relevant", "answer", ""),  # best share 0: no answer
        ("the answer is B, I think", "answer", ""),  # cues are ignored for "answer"
        ("first A seemed right, but the answer is B.", "implied", "B"),
        ("A man looks. Option (c) fits.", "implied", "C"),  # "A man" is an article
        ("I saw a blue circle, later the green triangle", "implied", "C"),  # last mentioned
        ("the green triangle, not the blue circle", "implied", "A"),
        ("no option named", "implied", ""),
        ("option D", "implied", ""),  # not one of the 3 options
    ],
)
def test_rule_judge(context, task, expected):
    assert RuleJudge().answer([_q(context, task=task)]) == [expected]


def test_rule_judge_other_problem_types_get_no_answer():
    q = JudgeQuery("How many?", "3 dogs", problem_type="numerical")
    assert RuleJudge().answer([q]) == [""]


# --- local HF judge on the tiny model ---------------------------------------------------------


def test_hf_judge_batches_and_counts_garbage(tiny_model_dir):
    judge = HFJudge(
        str(tiny_model_dir), dtype="float32", device="cpu", max_new_tokens=4, batch_size=2
    )
    judge.load()  # a Qwen2.5-VL folder: loaded as an image-text-to-text model, used text-only
    assert type(judge.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    with torch.no_grad():  # zero the final norm: every logit is 0, greedy picks token 0
        judge.model.model.language_model.norm.weight.zero_()
    calls = []
    generate = judge.model.generate
    judge.model.generate = lambda **kw: calls.append(kw["input_ids"].shape[0]) or generate(**kw)
    out = judge.answer([_q("a"), _q("b"), _q("c")])
    assert out == [None, None, None]  # a reply of token 0 repeated has no <answer> tag
    assert calls == [2, 1]
    assert judge.stats()["failures_unparsable"] == 3.0
    # Pickled (Lightning keeps rewards in the checkpoint hyperparameters): configuration only.
    clone = pickle.loads(pickle.dumps(judge))
    assert clone.model is None and clone.name_or_path == str(tiny_model_dir)


def test_hf_judge_timeout_counts(tiny_model_dir):
    judge = HFJudge(
        str(tiny_model_dir), dtype="float32", device="cpu", max_new_tokens=64, timeout_s=1e-6
    )
    assert judge.answer([_q("a")]) == [None]
    assert judge.stats()["failures_timeout"] == 1.0
    with pytest.raises(ValueError, match="timeout_s"):
        HFJudge("x", timeout_s=0)


# --- OpenAI-compatible endpoint ---------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Chat completions whose behaviour depends on the requested model name."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        mode = body["model"]
        user = body["messages"][-1]["content"]
        if mode == "slow":
            time.sleep(1.5)
        if mode == "html":
            payload, ctype = b"<html>bad gateway</html>", "text/html"
        else:
            text = {
                "good": "<answer>C</answer>"
                if "green" in user.split("Question:")[0]
                else "<answer>A</answer>",
                "chatty": "Sure! I think it is C.",
                "slow": "<answer>C</answer>",
            }[mode]
            msg = {"choices": [{"message": {"role": "assistant", "content": text}}]}
            payload, ctype = json.dumps(msg).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _endpoint_judge(url: str, mode: str, **kw) -> EndpointJudge:
    endpoint = Endpoint(
        base_url=url, model=mode, timeout_s=kw.pop("http_timeout", 5.0), max_attempts=1
    )
    return EndpointJudge(endpoint, **kw)


def test_endpoint_judge_answers_and_caches(server):
    judge = _endpoint_judge(server, "good", batch_size=4)
    assert judge.answer([_q("a green triangle"), _q("a blue circle"), _q("a green triangle")]) == [
        "C",
        "A",
        "C",
    ]
    assert judge._client.requests == 2  # the repeated query was asked once
    judge.answer([_q("a blue circle")])
    assert judge._client.requests == 2  # cached
    state = pickle.loads(pickle.dumps(judge))
    assert state._client is None and state.endpoint.model == "good"


@pytest.mark.parametrize(
    ("mode", "kw", "reason"),
    [
        ("html", {}, "failures_error"),  # a body that is not a chat completion
        ("chatty", {}, "failures_unparsable"),  # a reply without <answer> tag
        ("slow", {"http_timeout": 0.3}, "failures_timeout"),  # the HTTP client's timeout
        ("slow", {"timeout_s": 0.3}, "failures_timeout"),  # the judge's batch deadline
    ],
)
def test_endpoint_failures_yield_none(server, mode, kw, reason):
    judge = _endpoint_judge(server, mode, **kw)
    assert judge.answer([_q("a"), _q("b")]) == [None, None]
    assert judge.stats()[reason] == 2.0


@pytest.mark.slow
def test_grpo_step_survives_a_garbage_judge_and_logs_failures(
    tiny_model_dir, toy_dir, tmp_path, server
):
    """Training goes on when every judgement fails; the failures are logged."""
    L.seed_everything(0)
    perception = PerceptionReward(judge=_endpoint_judge(server, "html"))
    module = GRPOModule(
        PolicyConfig(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4, alpha=8)),
        rewards=[AccuracyReward(), perception],
        grpo=GRPOSettings(group_size=2, beta=0.0),
        rollout=RolloutSettings(max_new_tokens=4),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
        log_completions_every=0,
        export_hf=False,
    )
    # The tiny model writes no perception section: give the rewards scripted completions
    # (the ids the update trains on stay the sampled ones).
    real = module.rollout
    scripted = [
        "<observation>a green triangle</observation><think>t</think><answer>D</answer>",
        "<observation>a blue circle</observation><think>t</think><answer>A</answer>",
    ]
    module.rollout = lambda *a, **k: real(*a, **k)._replace(texts=scripted)
    trainer = fit_toy(module, toy_dir, tmp_path)
    m = trainer.callback_metrics
    assert trainer.global_step == 1  # the step trained
    assert m["reward/perception/judge_failures"] == 2.0  # 2 distinct perception texts
    assert m["reward/perception/judge_failures_error"] == 2.0
    assert "reward/perception" not in m  # every value was None: no mean to log
    assert "reward/accuracy" in m
