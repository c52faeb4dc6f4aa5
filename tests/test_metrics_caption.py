"""Caption tokenisation, ROUGE-L, token F1, BLEU, METEOR and CIDEr-D against hand values.

Expected tokenisations and the METEOR values marked "Java" were also produced by
pycocoevalcap's Java tools (PTBTokenizer; METEOR 1.5 with ``-m "exact stem"``); the
arithmetic in the comments derives them by hand.
"""

from __future__ import annotations

import math

import pytest
import torch

from vthinker.metrics import CaptionScores, caption_scores, corpus_bleu, rouge_l, token_f1
from vthinker.metrics.caption import (
    MeteorParams,
    cider_d,
    corpus_meteor,
    meteor_normalize,
    meteor_score,
)
from vthinker.metrics.text import lcs_length, rouge_l_tokens, tokenize

T = tokenize


@pytest.mark.parametrize(
    ("text", "java"),
    [
        ("A man's dog doesn't run -- (quickly)!", "a man 's dog does n't run -lrb- quickly -rrb-"),
        ('She said "hello, world" & left.', "she said hello world & left"),
        (
            "The well-known red-haired woman cuts 3.5 cups of flour at 10:30, e.g. U.S. style...",
            "the well-known red-haired woman cuts 3.5 cups of flour at 10:30 e.g. u.s. style",
        ),
        ("I can't won't it's they're we'll I'd", "i ca n't wo n't it 's they 're we 'll i 'd"),
        ("cats/dogs 50% $5 #1 a+b a_b x@y.com", "cats/dogs 50 % $ 5 # 1 a + b a_b x@y.com"),
        ("Mr. Smith's. end.", "mr. smith 's end"),
        ("can not cannot gonna wanna", "can not can not gon na wan na"),
        ("'quoted' ``tick'' yes", "quoted tick yes"),
        (
            "wow!!! really?? ok?! word,word 5. hello... 2.5m 1-2 'em -word word- well - known",
            "wow !!! really ?? ok ?! word word 5 hello 2.5 m 1-2 'em word word well known",
        ),
        (
            "A man wearing a hat(blue) jumps.He lands",
            "a man wearing a hat -lrb- blue -rrb- jumps.he lands",
        ),
        ("don’t it’s “quote” ‘single’", "do n't it 's quote single"),
        ("rock & roll at&t 100$ 3x4 1/2 #hashtag", "rock & roll at & t 100 $ 3x4 1/2 #hashtag"),
        ("Line one.\nLine two", "line one line two"),
        ("", ""),
    ],
)
def test_tokenize_matches_ptb(text: str, java: str) -> None:
    assert tokenize(text) == java.split()


def test_lcs_and_rouge_l() -> None:
    assert lcs_length("a b c d".split(), "b d e".split()) == 2
    # cand [a man slices an onion] (5); ref1 [a man is slicing an onion] (6): LCS 4
    # (a man an onion) -> P 4/5, R 4/6; ref2 [someone cuts onions]: LCS 0.
    # F = (1 + 1.2^2) P R / (R + 1.2^2 P) = 2.44 * 0.8 * (2/3) / (2/3 + 1.152)
    expected = 2.44 * 0.8 * (2 / 3) / (2 / 3 + 1.44 * 0.8)
    got = rouge_l("a man slices an onion", ["a man is slicing an onion", "someone cuts onions"])
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(0.7155425219941348, rel=1e-12)
    # The maxima of P and R may come from different references: cand [a b c];
    # ref [a b]: P 2/3, R 1; ref [a b c d e f]: P 1, R 1/2 -> P = R = 1 -> F = 1.
    assert rouge_l_tokens(["a", "b", "c"], [["a", "b"], list("abcdef")]) == pytest.approx(1.0)
    assert rouge_l("anything", "nothing in common") == 0.0
    assert rouge_l("", [""]) == 1.0  # pycocoevalcap: "" splits into one empty word
    assert rouge_l("", ["a ref"]) == 0.0
    # beta = 1 is the plain F1: P 1, R 2/3 -> 0.8
    assert rouge_l("red ball", "a red ball", beta=1.0) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="reference"):
        rouge_l_tokens(["a"], [])


def test_token_f1() -> None:
    # common {a, man, an, onion} = 4: P 4/5, R 4/6 -> 2 P R / (P + R) = 8/11
    assert token_f1("a man slices an onion", "a man is slicing an onion") == pytest.approx(8 / 11)
    # multiset overlap: cand [the, the, cat] vs ref [the, cat]: 2 common -> P 2/3, R 1 -> 0.8
    assert token_f1("the the cat", ["dog", "the cat"]) == pytest.approx(0.8)
    assert token_f1("", [""]) == 1.0
    assert token_f1("", ["x"]) == 0.0


def test_bleu_by_hand() -> None:
    cand = [T("a man slices an onion")]
    refs = [[T("a man is slicing an onion")]]
    # 1-grams 4/5 (slices misses); 2-grams 2/4 (a man, an onion); 3-grams 0/3; 4-grams 0/2.
    # c = 5 < r = 6: brevity penalty exp(1 - r/c). pycocoevalcap smooths every ratio:
    # (m + 1e-15) / (g + 1e-9) for precisions and (c + 1e-15) / (r + 1e-9) for the length.
    bp = math.exp(1 - 1 / ((5 + 1e-15) / (6 + 1e-9)))
    p = [(4 + 1e-15) / (5 + 1e-9), (2 + 1e-15) / (4 + 1e-9), 1e-15 / (3 + 1e-9), 1e-15 / (2 + 1e-9)]
    expected = [
        p[0] * bp,
        (p[0] * p[1]) ** (1 / 2) * bp,
        (p[0] * p[1] * p[2]) ** (1 / 3) * bp,
        (p[0] * p[1] * p[2] * p[3]) ** (1 / 4) * bp,
    ]
    assert corpus_bleu(cand, refs) == pytest.approx(expected, rel=1e-12)
    bp0 = math.exp(1 - 6 / 5)  # without the smoothing constants
    assert corpus_bleu(cand, refs)[:2] == pytest.approx([0.8 * bp0, math.sqrt(0.4) * bp0], rel=1e-9)


def test_bleu_closest_reference_length_ties_go_to_the_shorter() -> None:
    # cand length 5; refs of length 6 and 4 are equally close: pycocoevalcap takes 4, so
    # c = 5 > r = 4 and there is no brevity penalty. Clipped unigrams: a, b, c, d -> 4/5.
    cand = [T("a b c d e")]
    refs = [[T("a b c d x y"), T("a b c d")]]
    assert corpus_bleu(cand, refs, n=1)[0] == pytest.approx(4 / 5, rel=1e-9)


def test_bleu_agrees_with_torchmetrics_without_ties_or_zero_counts() -> None:
    from torchmetrics.text import BLEUScore

    preds = ["a man is slicing a red onion on the board", "the woman pours batter into a pan"]
    target = [
        ["a man is slicing an onion on a board", "someone cuts a red onion"],
        ["a woman pours the batter into a hot pan"],
    ]
    cands = [T(p) for p in preds]
    refs = [[T(r) for r in rs] for rs in target]
    ours = corpus_bleu(cands, refs)
    for n in (1, 2, 3, 4):
        theirs = BLEUScore(n_gram=n)(
            [" ".join(c) for c in cands], [[" ".join(r) for r in rs] for rs in refs]
        )
        assert ours[n - 1] == pytest.approx(float(theirs), rel=1e-5)


def test_meteor_normalize_like_meteor_norm() -> None:
    tokens = ["horse", "'s", "close-up", "e.g.", "do", "n't", "cats/dogs", "!!!", "10:30", "-lrb-"]
    # Java METEOR 1.5 -norm: "horse ' s close up eg do n 't cats / dogs ! ! ! 10 : 30 -lrb-"
    assert meteor_normalize(tokens) == (
        "horse ' s close up eg do n 't cats / dogs ! ! ! 10 : 30 -lrb-".split()
    )


def test_meteor_exact_and_stem_by_hand() -> None:
    # hyp [a girl brushes a horse]: function words a, a; content girl, brushes, horse.
    # ref [the girl is brushing the horse]: function the, is, the; content girl, brushing, horse.
    # Matches: girl, horse (exact, content), brushes~brushing (stem "brush", content).
    # Weighted lengths (delta 0.75): hyp 0.75*3 + 0.25*2 = 2.75; ref 0.75*3 + 0.25*3 = 3.
    # Weighted matches: 1.0*0.75*2 + 0.6*0.75*1 = 1.95 on both sides.
    p, r = 1.95 / 2.75, 1.95 / 3
    fmean = p * r / (0.85 * p + 0.15 * r)
    # chunks: girl | brushes | horse (each separated in the reference) -> 3 chunks / 3 matches.
    expected = fmean * (1 - 0.6 * (3 / 3) ** 0.2)
    got = meteor_score(T("a girl brushes a horse"), [T("the girl is brushing the horse")])
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(0.26329113924050634, rel=1e-12)  # Java


def test_meteor_function_words_and_best_reference() -> None:
    # hyp (11 words, 5 function: a is an on a) vs ref1 [a man chops an onion on a cutting board]
    # (9 words, 4 function: a an on a). Exact matches: a man | an onion on a | cutting board
    # = 8 words (4 content, 4 function) in 3 chunks.
    # hyp length 0.75*6 + 0.25*5 = 5.75; ref 0.75*5 + 0.25*4 = 4.75; matches 0.75*4 + 0.25*4 = 4.
    p, r = 4 / 5.75, 4 / 4.75
    expected = p * r / (0.85 * p + 0.15 * r) * (1 - 0.6 * (3 / 8) ** 0.2)
    hyp = T("A man is slicing an onion on a wooden cutting board.")
    ref1 = T("A man chops an onion on a cutting board.")
    ref2 = T("Someone is cutting onions into slices.")
    assert meteor_score(hyp, [ref1]) == pytest.approx(expected, rel=1e-12)
    # The better-scoring reference is kept.
    assert meteor_score(hyp, [ref2, ref1]) == pytest.approx(0.41377506215904675, rel=1e-12)  # Java


def test_meteor_aligner_quirks() -> None:
    # METEOR 1.5 ranks partial alignments by int-truncated weighted matches: a stem match
    # (0.6) counts 0 there, so an ambiguous stem match that would open a chunk is dropped.
    assert meteor_score(["painting"], [T("paints y paints")]) == 0.0  # Java: 0.0
    # "a painting" vs "paints a paint": a-a exact (fixed), painting~paint joins its chunk.
    # hyp length 0.75*1 + 0.25*1 = 1; ref 0.75*2 + 0.25*1 = 1.75; matches 0.25*1 + 0.6*0.75.
    p, r = 0.7 / 1.0, 0.7 / 1.75
    expected = p * r / (0.85 * p + 0.15 * r) * (1 - 0.6 * (1 / 2) ** 0.2)
    got = meteor_score(T("a painting"), [T("paints a paint")])
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(0.20419466468129946, rel=1e-12)  # Java
    # A perfect single-chunk match has no fragmentation penalty: P = R = Fmean = 1.
    assert meteor_score(T("a cat"), [T("a cat")]) == pytest.approx(1.0)
    assert meteor_score([], [T("a cat")]) == 0.0


def test_meteor_1_0_params_agree_with_nltk() -> None:
    from nltk.stem.snowball import SnowballStemmer
    from nltk.translate.meteor_score import meteor_score as nltk_meteor

    class NoWordNet:  # nltk's synonym stage, switched off
        @staticmethod
        def synsets(word):
            return []

    def nltk(hyp: list[str], ref: list[str]) -> float:
        return nltk_meteor([ref], hyp, stemmer=SnowballStemmer("english"), wordnet=NoWordNet())

    params = MeteorParams.meteor_1_0()
    hyp = "the cat quickly sat on a mat".split()
    ref = "the cat sat on a red mat".split()
    # 6 matches (the cat | sat on a | mat) in 3 chunks: P = R = 6/7, Fmean = 6/7,
    # penalty 0.5 (3/6)^3.
    expected = 6 / 7 * (1 - 0.5 * (3 / 6) ** 3)
    assert meteor_score(hyp, [ref], params) == pytest.approx(expected, rel=1e-12)
    assert nltk(hyp, ref) == pytest.approx(expected, rel=1e-12)
    # A stem match: "sitting" and "sits" share the Snowball stem "sit".
    hyp, ref = "a dog sitting down".split(), "the dog sits down".split()
    # dog, sitting~sits, down: 3 matches in 1 chunk; P = R = 3/4; penalty 0.5 (1/3)^3.
    expected = 3 / 4 * (1 - 0.5 * (1 / 3) ** 3)
    assert meteor_score(hyp, [ref], params) == pytest.approx(expected, rel=1e-12)
    assert nltk(hyp, ref) == pytest.approx(expected, rel=1e-12)
    # With a repeated word nltk aligns greedily from the end of the sentence; METEOR (and
    # we) minimise chunks: "the(5)" -> "the(0)" makes 4 chunks, "the(0)" -> "the(0)" 3.
    hyp, ref = "the cat quickly sat on the mat".split(), "the cat sat on a mat".split()
    p, r = 5 / 7, 5 / 6
    fmean = p * r / (0.9 * p + 0.1 * r)
    assert meteor_score(hyp, [ref], params) == pytest.approx(fmean * (1 - 0.5 * (3 / 5) ** 3))
    assert nltk(hyp, ref) == pytest.approx(fmean * (1 - 0.5 * (4 / 5) ** 3))


def test_corpus_meteor_pools_statistics() -> None:
    # Two perfect one-word matches pool to 2 matches in 2 chunks over 2 words: P = R = 1,
    # frag = 2/2 -> 1 - 0.6 = 0.4, although each sentence alone scores 1.
    cands = [["cat"], ["dog"]]
    refs = [[["cat"]], [["dog"]]]
    assert meteor_score(["cat"], [["cat"]]) == 1.0
    assert corpus_meteor(cands, refs) == pytest.approx(0.4)


def test_cider_by_hand() -> None:
    ln2 = math.log(2)
    # N = 2 samples. Sample 1: cand "a b", ref "a b": every n-gram has df 1, weight
    # tf * (ln 2 - ln 1) = ln 2; cosine 1 for n = 1, 2 and 0 for n = 3, 4 (no n-grams);
    # equal lengths -> penalty 1; score = mean([1, 1, 0, 0]) / 1 ref * 10 = 5.
    # Sample 2: cand "c" vs ref "d": no shared n-gram -> 0.
    assert ln2 > 0
    score, scores = cider_d([T("a b"), T("c")], [[T("a b")], [T("d")]])
    assert scores == pytest.approx([5.0, 0.0])
    assert score == pytest.approx(2.5)


def test_cider_clipping_references_and_length_penalty() -> None:
    # n = 1. Sample 1: cand "a a b" -> v = (a: 2 ln2, b: ln2), |v| = sqrt(5) ln2.
    # ref "a b": sum min(v_h, v_r) v_r = ln2^2 + ln2^2 (a clipped to ln2) over sqrt5*sqrt2 ln2^2
    # = 2/sqrt(10); ref "b c": ln2^2 / (sqrt5 sqrt2 ln2^2) = 1/sqrt(10).
    # Mean over the 2 refs, * 10; sample 2 scores 0; corpus mean / 2.
    s1 = (2 / math.sqrt(10) + 1 / math.sqrt(10)) / 2 * 10
    score, scores = cider_d([T("a a b"), T("x")], [[T("a b"), T("b c")], [T("y")]], n=1)
    assert scores == pytest.approx([s1, 0.0], rel=1e-12)
    assert score == pytest.approx(s1 / 2, rel=1e-12)
    # n = 2, cand "a b c" vs ref "a b": unigrams 2 ln2^2 / (sqrt3 ln2 sqrt2 ln2) = 2/sqrt6,
    # bigrams ln2^2 / (sqrt2 ln2 ln2) = 1/sqrt2; bigram counts 2 vs 1 -> exp(-1 / (2*6^2)).
    s1 = (2 / math.sqrt(6) + 1 / math.sqrt(2)) / 2 * math.exp(-1 / 72) * 10
    score, scores = cider_d([T("a b c"), T("x")], [[T("a b")], [T("y")]], n=2)
    assert scores == pytest.approx([s1, 0.0], rel=1e-12)
    # One sample alone: idf = ln 1 - ln 1 = 0 everywhere -> 0.
    assert cider_d([T("a b")], [[T("a b")]])[0] == 0.0


PREDS = [
    "A man is slicing an onion on a wooden cutting board.",
    "The woman pours the batter into a hot pan.",
    "A dog catches a frisbee in the park.",
    "Two men are fencing.",
]
TARGET = [
    ["A man chops an onion on a cutting board.", "Someone is cutting onions into slices."],
    ["She pours pancake batter into a frying pan."],
    ["A dog jumps and catches the frisbee.", "The brown dog leaps to grab a flying disc."],
    ["Two fencers in white suits duel with swords."],
]


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_caption_scores_metric() -> None:
    m = CaptionScores()
    m.update(PREDS[:3], TARGET[:3])
    m.update(PREDS[3:], TARGET[3:])
    out = m.compute()
    ref = caption_scores(PREDS, TARGET)
    assert (
        sorted(out)
        == sorted(ref)
        == [
            "bleu_1",
            "bleu_2",
            "bleu_3",
            "bleu_4",
            "cider",
            "meteor",
            "rouge_l",
        ]
    )
    for k, v in out.items():
        assert v.dtype == torch.float32
        assert float(v) == pytest.approx(ref[k], rel=1e-6)
    cands = [T(p) for p in PREDS]
    refs = [[T(r) for r in rs] for rs in TARGET]
    assert ref["meteor"] == corpus_meteor(cands, refs)
    assert ref["rouge_l"] == pytest.approx(
        sum(rouge_l_tokens(c, r) for c, r in zip(cands, refs, strict=True)) / 4
    )
    m.reset()
    assert all(math.isnan(float(v)) for v in m.compute().values())
    m10 = CaptionScores(meteor_params=MeteorParams.meteor_1_0())
    m10.update(PREDS, TARGET)
    assert float(m10.compute()["meteor"]) == pytest.approx(
        corpus_meteor(cands, refs, MeteorParams.meteor_1_0()), rel=1e-6
    )


def test_caption_scores_errors() -> None:
    m = CaptionScores()
    with pytest.raises(ValueError, match="target 1 must be a non-empty list"):
        m.update(["a", "b"], [["x"], []])
    with pytest.raises(ValueError, match="target 0 must be a non-empty list"):
        m.update(["a"], ["just a string"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="2 captions but 1 targets"):
        m.update(["a", "b"], [["x"]])
    with pytest.raises(TypeError, match="caption 0 is not a string"):
        m.update([None], [["x"]])  # type: ignore[list-item]
