"""torchmetrics metrics for vthinker: temporal grounding, captions, answer accuracy.

The math lives in plain functions (``iou``, ``rouge_l``, ``corpus_bleu``, ``cider_d``, …)
that the rewards reuse; the `torchmetrics.Metric` classes accumulate over an evaluation and
sync exactly across DDP ranks.
"""

from vthinker.metrics.accuracy import ChoiceAccuracy
from vthinker.metrics.caption import (
    CaptionScores,
    MeteorParams,
    caption_scores,
    cider_d,
    corpus_bleu,
    corpus_meteor,
    meteor_score,
)
from vthinker.metrics.temporal import TemporalGrounding, iou, max_iou_per_gt
from vthinker.metrics.text import rouge_l, token_f1, tokenize

__all__ = [
    "CaptionScores",
    "ChoiceAccuracy",
    "MeteorParams",
    "TemporalGrounding",
    "caption_scores",
    "cider_d",
    "corpus_bleu",
    "corpus_meteor",
    "iou",
    "max_iou_per_gt",
    "meteor_score",
    "rouge_l",
    "token_f1",
    "tokenize",
]
