"""The n-gram caption metrics: pycocoevalcap's BLEU-1..n (`corpus_bleu`) and CIDEr-D
(`cider_d`), exactly (conventions in `vthinker.metrics.caption`)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

__all__ = ["Tokens", "cider_d", "corpus_bleu"]

Tokens = Sequence[str]
_TINY, _SMALL = 1e-15, 1e-9  # pycocoevalcap's BLEU smoothing constants


def _ngrams(tokens: Tokens, n: int) -> Counter[tuple[str, ...]]:
    """Counts of all 1..n-grams of ``tokens``."""
    counts: Counter[tuple[str, ...]] = Counter()
    for k in range(1, n + 1):
        for i in range(len(tokens) - k + 1):
            counts[tuple(tokens[i : i + k])] += 1
    return counts


def _check_corpus(candidates: Sequence[Tokens], references: Sequence[Sequence[Tokens]]) -> None:
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} reference lists")
    for i, refs in enumerate(references):
        if len(refs) == 0:
            raise ValueError(f"sample {i} has no reference caption")


# --- BLEU -----------------------------------------------------------------------------------


def corpus_bleu(
    candidates: Sequence[Tokens], references: Sequence[Sequence[Tokens]], n: int = 4
) -> list[float]:
    """Corpus BLEU-1..n with pycocoevalcap's conventions (see the module docstring).

    Args:
        candidates: Tokenised candidate per sample.
        references: Tokenised references per sample (at least one each).
        n: Highest n-gram order.

    Returns:
        ``[BLEU-1, ..., BLEU-n]``.
    """
    _check_corpus(candidates, references)
    guess = [0] * n
    correct = [0] * n
    test_len = ref_len = 0
    for cand, refs in zip(candidates, references, strict=True):
        max_ref: Counter[tuple[str, ...]] = Counter()
        for ref in refs:
            for gram, c in _ngrams(ref, n).items():
                max_ref[gram] = max(max_ref[gram], c)
        for gram, c in _ngrams(cand, n).items():
            correct[len(gram) - 1] += min(max_ref[gram], c)
        for k in range(n):
            guess[k] += max(0, len(cand) - k)
        test_len += len(cand)
        ref_len += min((abs(len(r) - len(cand)), len(r)) for r in refs)[1]
    bleus = []
    prod = 1.0
    for k in range(n):
        prod *= (correct[k] + _TINY) / (guess[k] + _SMALL)
        bleus.append(prod ** (1.0 / (k + 1)))
    ratio = (test_len + _TINY) / (ref_len + _SMALL)
    if ratio < 1.0:
        bp = math.exp(1.0 - 1.0 / ratio)
        bleus = [b * bp for b in bleus]
    return bleus


def cider_d(
    candidates: Sequence[Tokens],
    references: Sequence[Sequence[Tokens]],
    n: int = 4,
    sigma: float = 6.0,
) -> tuple[float, list[float]]:
    """pycocoevalcap's CIDEr (the CIDEr-D variant) over a corpus.

    Args:
        candidates: Tokenised candidate per sample.
        references: Tokenised references per sample (at least one each).
        n: Highest n-gram order.
        sigma: Width of the Gaussian length penalty.

    Returns:
        The corpus score (mean over samples) and the per-sample scores.
    """
    _check_corpus(candidates, references)
    if not candidates:
        return math.nan, []
    ref_counts = [[_ngrams(r, n) for r in refs] for refs in references]
    df: Counter[tuple[str, ...]] = Counter()
    for refs in ref_counts:
        df.update({gram for counts in refs for gram in counts})
    log_n = math.log(float(len(candidates)))

    def vectorize(counts: Counter[tuple[str, ...]]):
        vec: list[dict[tuple[str, ...], float]] = [{} for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            w = float(tf) * (log_n - math.log(max(1.0, df[gram])))
            vec[k][gram] = w
            norm[k] += w * w
            if k == 1:  # pycocoevalcap's "length" counts bigrams
                length += tf
        return vec, [math.sqrt(x) for x in norm], length

    scores = []
    for cand, refs in zip(candidates, ref_counts, strict=True):
        vh, nh, lh = vectorize(_ngrams(cand, n))
        total = [0.0] * n
        for counts in refs:
            vr, nr, lr = vectorize(counts)
            penalty = math.exp(-((lh - lr) ** 2) / (2.0 * sigma**2))
            for k in range(n):
                val = sum(min(w, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, w in vh[k].items())
                if nh[k] != 0.0 and nr[k] != 0.0:
                    val /= nh[k] * nr[k]
                total[k] += val * penalty
        scores.append(sum(total) / n / len(refs) * 10.0)
    return sum(scores) / len(scores), scores
