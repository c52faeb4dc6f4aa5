"""Caption metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D, the pycocoevalcap way.

Video-Thinker scores segment captions with pycocoevalcap (BLEU-1..4, METEOR, ROUGE-L; we
add CIDEr). pycocoevalcap needs Java for its tokenizer and METEOR, so this module
re-implements it in Python. Every caption is tokenised with `vthinker.metrics.text.tokenize`
(the PTB-tokenizer approximation documented there), then:

- **BLEU-n** (`corpus_bleu`): pycocoevalcap's ``Bleu(4)`` exactly. Corpus level: clipped
  n-gram matches (clipped by the maximum count over a sample's references) and candidate
  n-gram counts are summed over the corpus; BLEU-n is the geometric mean of the 1..n
  precisions, each computed as ``(matches + 1e-15) / (guesses + 1e-9)``; the brevity penalty
  ``exp(1 - r/c)`` (when ``c < r``) uses, per sample, the reference length *closest* to the
  candidate length (ties go to the shorter reference), summed over the corpus.
  torchmetrics' ``BLEUScore`` differs in two places: it breaks length ties towards the
  first reference and returns exactly 0 when some n-gram order has no match (pycocoevalcap
  returns a tiny positive number); elsewhere the two agree.
- **METEOR** (`meteor_stats`, `corpus_meteor`): METEOR 1.5 (``-l en -norm``, what
  pycocoevalcap runs) re-implemented **without its synonym and paraphrase modules**: their
  data (WordNet synsets, a paraphrase table) is not available offline from any PyPI package
  other than inside pycocoevalcap's jar. What is kept is exact: the ``-norm`` re-tokenisation
  (`meteor_normalize`), exact and Snowball-stem matches (weights 1.0 and 0.6), METEOR's
  beam-search aligner with its quirks (see `_align`), its English function-word list, and
  its scoring with the English parameters alpha 0.85, beta 0.2, gamma 0.6, delta 0.75:
  ``P``/``R`` are module-weighted matches over lengths where content words weigh ``delta``
  and function words ``1 - delta``, ``Fmean = P R / (alpha P + (1 - alpha) R)``,
  ``frag = chunks / matches`` (0 for a perfect one-chunk match), ``score = Fmean (1 - gamma
  frag^beta)``. Against several references a sample keeps the statistics of its
  best-scoring reference, and the corpus score is computed from the summed statistics
  (METEOR's aggregate, which is what pycocoevalcap reports). It equals Java METEOR 1.5 run
  with ``-m "exact stem"`` segment by segment; the full METEOR 1.5 also finds synonym and
  paraphrase matches, so it scores a little higher (0.6 METEOR points on the corpus of
  ``tools/compare_caption_metrics.py``). ``MeteorParams.meteor_1_0()`` gives the METEOR 1.0
  / nltk parameters instead (alpha 0.9, beta 3, gamma 0.5, no word classes, stem weight 1),
  which score about twice as high and are not comparable with published numbers.
- **ROUGE-L**: the corpus mean of `vthinker.metrics.text.rouge_l_tokens` (beta 1.2, maximum
  precision and recall over references), as pycocoevalcap's ``Rouge``.
- **CIDEr-D** (`cider_d`): pycocoevalcap's ``Cider`` exactly (which, despite its name, is
  the CIDEr-D variant: clipped n-gram weights and a Gaussian length penalty). n = 1..4 TF-IDF
  vectors with raw term counts and ``idf = log(N) - log(max(1, df))``, where ``df`` counts the
  samples whose references contain the n-gram and ``N`` is the number of samples of the
  *whole corpus being scored*; per reference and n, ``sum min(v_hyp, v_ref) v_ref /
  (|v_hyp| |v_ref|)`` times ``exp(-delta^2 / (2 * 6^2))``, where ``delta`` is the difference
  of the bigram counts (pycocoevalcap's length, i.e. word counts minus one); averaged over
  n, over references, times 10; the corpus score is the mean over samples. Because of the
  IDF, a sample's CIDEr depends on the rest of the corpus, and a one-sample corpus scores 0.

All scores are fractions as pycocoevalcap returns them (BLEU/METEOR/ROUGE-L in [0, 1], CIDEr
typically in [0, 10]); papers print them x100.

`CaptionScores` keeps the raw strings (synced across ranks as Python objects, see
`vthinker.metrics._objects`) and scores the whole corpus in `compute`, so a DDP run gives
exactly the single-process numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from vthinker.metrics._objects import ObjectStateMetric
from vthinker.metrics.meteor import (
    ENGLISH_FUNCTION_WORDS,
    MeteorParams,
    MeteorStats,
    corpus_meteor,
    meteor_function_words,
    meteor_normalize,
    meteor_score,
    meteor_stats,
)

# Private helpers stay importable from here (tools/compare_caption_metrics.py uses _best_stats).
from vthinker.metrics.meteor import _best_stats as _best_stats
from vthinker.metrics.meteor_align import _align as _align
from vthinker.metrics.meteor_align import _stem as _stem
from vthinker.metrics.ngram import Tokens as Tokens
from vthinker.metrics.ngram import _check_corpus, cider_d, corpus_bleu
from vthinker.metrics.ngram import _ngrams as _ngrams
from vthinker.metrics.text import rouge_l_tokens, tokenize

__all__ = [
    "ENGLISH_FUNCTION_WORDS",
    "CaptionScores",
    "MeteorParams",
    "MeteorStats",
    "caption_scores",
    "cider_d",
    "corpus_bleu",
    "corpus_meteor",
    "meteor_function_words",
    "meteor_normalize",
    "meteor_score",
    "meteor_stats",
]


def caption_scores(
    preds: Sequence[str],
    target: Sequence[Sequence[str]],
    meteor_params: MeteorParams | None = None,
) -> dict[str, float]:
    """Score captions against reference captions with all the metrics of this module.

    Args:
        preds: One candidate caption per sample.
        target: The reference captions per sample (at least one each).
        meteor_params: METEOR parameters (default: METEOR 1.5's English ones).

    Returns:
        ``bleu_1`` … ``bleu_4``, ``meteor``, ``rouge_l``, ``cider`` (NaN for an empty corpus).
    """
    cands = [tokenize(p) for p in preds]
    refs = [[tokenize(r) for r in rs] for rs in target]
    _check_corpus(cands, refs)
    keys = ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider"]
    if not cands:
        return dict.fromkeys(keys, math.nan)
    out = {f"bleu_{k + 1}": b for k, b in enumerate(corpus_bleu(cands, refs))}
    out["meteor"] = corpus_meteor(cands, refs, meteor_params)
    out["rouge_l"] = sum(rouge_l_tokens(c, r) for c, r in zip(cands, refs, strict=True)) / len(
        cands
    )
    out["cider"] = cider_d(cands, refs)[0]
    return out


class CaptionScores(ObjectStateMetric):
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr-D over a corpus of captions (module docstring).

    Args:
        meteor_params: METEOR parameters (default: METEOR 1.5's English ones;
            ``MeteorParams.meteor_1_0()`` for the nltk / METEOR 1.0 variant).
        **kwargs: Passed to `torchmetrics.Metric`.

    Example:
        >>> m = CaptionScores()
        >>> m.update(["a man slices an onion"], [["a man is slicing an onion"]])
        >>> sorted(m.compute())
        ['bleu_1', 'bleu_2', 'bleu_3', 'bleu_4', 'cider', 'meteor', 'rouge_l']
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    preds: list[str]
    target: list[tuple[str, ...]]

    def __init__(self, meteor_params: MeteorParams | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.meteor_params = meteor_params
        self.add_object_state("preds")
        self.add_object_state("target")

    def update(self, preds: Sequence[str], target: Sequence[Sequence[str]]) -> None:
        """Add a batch.

        Args:
            preds: Candidate caption per sample.
            target: Reference captions per sample (a non-empty list of strings each).
        """
        if len(preds) != len(target):
            raise ValueError(
                f"CaptionScores.update: {len(preds)} captions but {len(target)} targets"
            )
        for i, (p, refs) in enumerate(zip(preds, target, strict=True)):
            if not isinstance(p, str):
                raise TypeError(f"CaptionScores.update: caption {i} is not a string: {p!r}")
            if isinstance(refs, str) or not refs or not all(isinstance(r, str) for r in refs):
                raise ValueError(
                    f"CaptionScores.update: target {i} must be a non-empty list of strings, "
                    f"got {refs!r}"
                )
        self.preds.extend(preds)
        self.target.extend(tuple(refs) for refs in target)

    def compute(self) -> dict[str, torch.Tensor]:
        """Score the whole corpus; float32 scalars (NaN with no data)."""
        scores = caption_scores(self.preds, self.target, self.meteor_params)
        return {
            k: torch.tensor(v, dtype=torch.float32, device=self.device) for k, v in scores.items()
        }
