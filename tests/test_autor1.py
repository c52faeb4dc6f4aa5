"""VideoAuto-R1: the answer → think → answer parser, its rewards, and the early exit on a
tiny model forced to answer confidently or not."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from vthinker.data.schema import VideoSample
from vthinker.evaluation.early_exit import (
    EarlyExitResult,
    EarlyExitSettings,
    answer_token_mask,
    early_exit_generate,
    summarize_early_exit,
    token_char_spans,
    token_entropy,
)
from vthinker.rewards import (
    FallbackReward,
    FirstAnswerReward,
    SecondAnswerReward,
    TagSequenceFormatReward,
    combine,
)
from vthinker.rewards.autor1 import AUTO_R1_TAGS, is_fallback, parse_auto_r1

MC = VideoSample(id="mc", video="v", question="q", answer="C", options=["a", "b", "c", "d"])
DEFER = "<answer>Let's analyze the problem step by step.</answer>"


# --- parser -----------------------------------------------------------------------------------


def test_parse_well_formed():
    p = parse_auto_r1("<answer>B</answer> <think> look again </think>\n<answer>C</answer>")
    assert (p.first, p.reasoning, p.second, p.well_formed) == ("B", "look again", "C", True)


@pytest.mark.parametrize(
    ("text", "first", "reasoning", "second", "ok"),
    [
        ("<answer>B</answer>", "B", None, None, False),  # stopped after the first answer
        ("<think>r</think><answer>C</answer>", None, "r", "C", False),  # no first answer
        (
            "<answer>A</answer><answer>B</answer><think>r</think><answer>C</answer><answer>D</answer>",
            "A",  # the first answer before the reasoning
            "r",
            "D",  # the last answer after it
            False,
        ),
        ("<answer>B</answer> text <think>r</think> <answer>C</answer>", "B", "r", "C", False),
        ("garbage", None, None, None, False),
    ],
)
def test_parse_malformed(text, first, reasoning, second, ok):
    p = parse_auto_r1(text)
    assert (p.first, p.reasoning, p.second, p.well_formed) == (first, reasoning, second, ok)


def test_is_fallback():
    assert is_fallback("Let's analyze the problem step by step.")
    assert is_fallback("  let’s ANALYZE the problem step-by-step ")  # curly quote, case, hyphen
    assert not is_fallback("Let's analyze the problem.")
    assert not is_fallback("C")
    assert not is_fallback(None)


# --- rewards ----------------------------------------------------------------------------------


def _rewards():
    return [
        FirstAnswerReward(weight=0.9),
        SecondAnswerReward(weight=1.1),
        TagSequenceFormatReward(tags=list(AUTO_R1_TAGS), weight=1.0),
        FallbackReward(weight=0.3),
    ]


@pytest.mark.parametrize(
    ("text", "parts", "total"),
    [
        # both right: 0.9 + 1.1 + 1 = 3.0
        ("<answer>C</answer> <think>r</think> <answer>C</answer>", [1, 1, 1, 0], 3.0),
        # first wrong, second right: 1.1 + 1 = 2.1
        ("<answer>B</answer> <think>r</think> <answer>C</answer>", [0, 1, 1, 0], 2.1),
        # deferred, then right: 1.1 + 1 + 0.3 = 2.4
        (DEFER + " <think>r</think> <answer>C</answer>", [0, 1, 1, 1], 2.4),
        # deferred, then wrong: format only
        (DEFER + " <think>r</think> <answer>A</answer>", [0, 0, 1, 0], 1.0),
        # first right, second wrong: 0.9 + 1 = 1.9
        ("<answer>C</answer> <think>r</think> <answer>D</answer>", [1, 0, 1, 0], 1.9),
        # only a first answer: 0.9, ill-formed
        ("<answer>C</answer>", [1, 0, 0, 0], 0.9),
    ],
)
def test_dual_answer_rewards(text, parts, total):
    out = combine(_rewards(), [text], [MC])
    assert [out.parts[n][0] for n in ("answer1", "answer2", "format", "fallback")] == parts
    assert float(out.total[0]) == pytest.approx(total, abs=1e-6)


def test_graded_task_reward_for_grounding():
    s = VideoSample(
        id="g", video="v", question="when?", answer="00:10-00:20", problem_type="temporal grounding"
    )
    text = DEFER + " <think>r</think> <answer>00:15-00:25</answer>"
    # IoU of 15-25 with 10-20: 5 / 15
    assert SecondAnswerReward().score(text, s) == pytest.approx(1 / 3)
    assert FallbackReward().score(text, s) == pytest.approx(1 / 3)
    assert FirstAnswerReward().score(text, s) == 0.0


def test_custom_fallback_phrase():
    r = FallbackReward(fallback_phrase="Need to think.")
    assert r.score("<answer>need to think</answer><think>r</think><answer>C</answer>", MC) == 1.0
    assert r.score(DEFER + "<think>r</think><answer>C</answer>", MC) == 0.0
    with pytest.raises(ValueError, match="fallback_phrase"):
        FallbackReward(fallback_phrase="...")


# --- early exit: pure parts -------------------------------------------------------------------


def _entropy_of_peak(a: float, v: int) -> float:
    """Entropy of softmax over v logits, one at ``a`` and v-1 at 0 (by hand):
    p = e^a / (e^a + v - 1), q = 1 / (e^a + v - 1), H = -p log p - (v - 1) q log q."""
    z = math.exp(a) + v - 1
    p, q = math.exp(a) / z, 1 / z
    return -p * math.log(p) - (v - 1) * q * math.log(q)


def test_token_entropy_exact_and_masked():
    scores = torch.zeros(2, 4)
    scores[0, 1] = 2.0
    scores[1, 2:] = -math.inf  # two masked tokens: a uniform choice of 2
    h = token_entropy(scores)
    assert float(h[0]) == pytest.approx(_entropy_of_peak(2.0, 4), abs=1e-6)
    assert float(h[1]) == pytest.approx(math.log(2), abs=1e-6)


def test_answer_token_mask():
    text = "<answer>AB</answer> rest"
    # tokens: "<answer>" 0-8, "A" 8-9, "B" 9-10, "</answer>" 10-19, " rest" 19-24
    spans = [(0, 8), (8, 9), (9, 10), (10, 19), (19, 24)]
    assert answer_token_mask(text, spans) == [False, True, True, False, False]
    assert answer_token_mask("<answer></answer>", [(0, 8), (8, 17)]) == [False, False]
    assert answer_token_mask("no answer", [(0, 9)]) == [False]
    # A token straddling the boundary (">A") overlaps the content.
    assert answer_token_mask("<answer>A</answer>", [(0, 7), (7, 9), (9, 18)]) == [
        False,
        True,
        False,
    ]


def test_summary_counts_and_accuracy():
    samples = [MC] * 4
    results = [
        EarlyExitResult("<answer>C</answer>", "C", 0.1, True, 3),
        EarlyExitResult("<answer>B</answer>", "B", 0.2, True, 3),
        EarlyExitResult(
            "<answer>B</answer> <think>r</think> <answer>C</answer>", "B", 2.0, False, 9
        ),
        EarlyExitResult(DEFER + " <think>r</think> <answer>A</answer>", "x", math.nan, False, 15),
    ]
    assert summarize_early_exit(results, samples) == {
        "n": 4,
        "early_exits": 2,
        "early_exit_rate": 0.5,
        "accuracy": 0.5,  # right: rows 0 and 2
        "accuracy_early": 0.5,
        "accuracy_continued": 0.5,
        "mean_tokens": 7.5,  # (3 + 3 + 9 + 15) / 4
    }


# --- early exit on the tiny model -------------------------------------------------------------

SCRIPT = "<answer>A</answer> <think>because</think> <answer>A</answer>"


class ForceScript(LogitsProcessor):
    """Forces each row to write SCRIPT then EOS, by the row's position after the prompt.

    Every forced token gets logit ``peak`` over 0 for all others, except the first answer's
    content token in rows whose prompt says UNSURE, which gets ``flat`` (still the argmax).
    """

    def __init__(
        self, tokenizer, peak: float = 30.0, flat: float = 0.01, script: str = SCRIPT
    ) -> None:
        self.tok = tokenizer
        self.script = tokenizer(script, add_special_tokens=False)["input_ids"] + [
            tokenizer.eos_token_id
        ]
        self.answer_pos = 1  # "<answer>", "A", "</answer>", ...
        header = tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
        self.header = header
        self.peak, self.flat = peak, flat

    def _start(self, row: list[int]) -> int:
        n = len(self.header)
        return max(i + n for i in range(len(row) - n + 1) if row[i : i + n] == self.header)

    def __call__(self, input_ids, scores):
        out = torch.zeros_like(scores)
        for b, row in enumerate(input_ids.tolist()):
            start = self._start(row)
            k = len(row) - start
            target = self.script[min(k, len(self.script) - 1)]
            unsure = "UNSURE" in self.tok.decode(row[:start])
            out[b, target] = self.flat if (unsure and k == self.answer_pos) else self.peak
        return out


def _prompts(tokenizer, questions):
    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )
        for q in questions
    ]
    tokenizer.padding_side = "left"
    return dict(tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False))


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    return model, tok


def test_early_exit_confident_stops_unconfident_continues(tiny):
    model, tok = tiny
    v = model.config.get_text_config().vocab_size
    inputs = _prompts(tok, ["SURE: which one?", "UNSURE: which one, really?"])
    settings = EarlyExitSettings(threshold=1.0, max_first_tokens=8, max_new_tokens=40)
    results = early_exit_generate(
        model, tok, inputs, settings, logits_processor=LogitsProcessorList([ForceScript(tok)])
    )
    sure, unsure = results
    assert sure.exited_early and sure.text == "<answer>A</answer>" and sure.num_tokens == 3
    assert sure.first_answer == "A"
    # The answer token's distribution: logit 30 vs 0 for the other v - 1 tokens.
    assert sure.score == pytest.approx(_entropy_of_peak(30.0, v), abs=1e-5)
    assert not unsure.exited_early
    assert unsure.text == SCRIPT  # it went on to think and answer again
    assert unsure.score == pytest.approx(_entropy_of_peak(0.01, v), abs=1e-4)  # ~ log v
    assert unsure.num_tokens == len(tok(SCRIPT, add_special_tokens=False)["input_ids"])
    assert unsure.final_answer == "A"
    gold_a = VideoSample(id="a", video="v", question="q", answer="A", options=["x", "y"])
    summary = summarize_early_exit(results, [gold_a] * 2)
    assert summary["early_exit_rate"] == 0.5 and summary["accuracy"] == 1.0


def test_early_exit_confidence_criterion_and_fallback(tiny):
    model, tok = tiny
    inputs = _prompts(tok, ["SURE: which one?"])
    proc = LogitsProcessorList([ForceScript(tok, peak=30.0)])
    conf = EarlyExitSettings(
        threshold=0.97, criterion="confidence", max_first_tokens=8, max_new_tokens=40
    )
    (r,) = early_exit_generate(model, tok, inputs, conf, logits_processor=proc)
    # p(answer token) = e^30 / (e^30 + v - 1) ~ 1 >= 0.97: stop.
    assert r.exited_early and r.score == pytest.approx(1.0, abs=1e-6)
    # A threshold no answer can pass: it always continues.
    never = EarlyExitSettings(threshold=-1.0, max_first_tokens=8, max_new_tokens=40)
    (r,) = early_exit_generate(model, tok, inputs, never, logits_processor=proc)
    assert not r.exited_early and r.text == SCRIPT
    # A confident deferral ("Let's analyze …" at logit 30) never stops early.
    deferring = DEFER + " <think>because</think> <answer>A</answer>"
    defer_proc = LogitsProcessorList([ForceScript(tok, script=deferring)])
    roomy = EarlyExitSettings(
        threshold=0.97, criterion="confidence", max_first_tokens=48, max_new_tokens=80
    )
    (r,) = early_exit_generate(model, tok, inputs, roomy, logits_processor=defer_proc)
    assert not r.exited_early and r.score > 0.97
    assert r.first_answer == "Let's analyze the problem step by step." and r.text == deferring


def test_char_spans_follow_decoding(tiny):
    _, tok = tiny
    ids = tok(SCRIPT, add_special_tokens=False)["input_ids"]
    spans = token_char_spans(tok, ids)
    assert spans[0][0] == 0 and spans[-1][1] == len(SCRIPT)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert [SCRIPT[s:e] for s, e in spans][:3] == ["<answer>", "A", "</answer>"]


# --- the command line -------------------------------------------------------------------------


def test_early_exit_command_writes_rows_and_summary(tiny_model_dir, toy_dir, tmp_path, capsys):
    """`vthinker early-exit` is an evaluation run with the early-exit decoder: the same rows,
    resume and skipped-sample accounting as `vthinker test`, plus the exit statistics."""
    from vthinker.cli import main

    lines = (toy_dir / "test.jsonl").read_text().splitlines()[:2]
    missing = json.loads(lines[0]) | {"id": "gone", "video": str(toy_dir / "missing.mp4")}
    data = tmp_path / "split.jsonl"
    data.write_text("\n".join([*lines, json.dumps(missing), "{not json"]) + "\n")
    out = tmp_path / "out"
    args = ["--model", str(tiny_model_dir), "--data", str(data), "--out", str(out)]
    args += ["--video-root", str(toy_dir), "--max-first-tokens", "4", "--max-new-tokens", "6"]
    args += ["--max-frames", "4", "--max-pixels", "12544", "--min-pixels", "3136"]
    main(["early-exit", *args, "--dtype", "float32"])
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    ok = [r for r in rows if r["status"] == "ok"]
    assert [r["id"] for r in ok] == [json.loads(x)["id"] for x in lines]
    assert [r["id"] for r in rows if r["status"] == "skipped"] == ["gone"]
    exits = summary["early_exit"]
    assert exits["n"] == 2 and summary["counts"]["skipped"] == 1
    assert exits["early_exits"] == sum(r["exited_early"] for r in ok)
    assert all(r["output_tokens"] <= 6 and "first_answer" in r for r in ok)
    assert summary["settings"]["decoder"]["early_exit"]["max_first_tokens"] == 4
    assert summary["settings"]["decoding"]["do_sample"] is False
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 2
