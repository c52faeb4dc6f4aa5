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

import functools
import importlib.util
import math
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vthinker.metrics._objects import ObjectStateMetric
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


# --- METEOR ---------------------------------------------------------------------------------

#: English function words written for vthinker (articles, pronouns, prepositions,
#: conjunctions, auxiliaries, frequent adverbs and punctuation tokens). METEOR 1.5 weighs
#: function words by ``1 - delta``; its own list (``function/english.words``, LGPL, not
#: copied here) is read from the METEOR jar when one is installed — see
#: `meteor_function_words`. This list is the fallback, so scores without the jar are an
#: approximation of METEOR 1.5 (docs/metrics.md).
ENGLISH_FUNCTION_WORDS = frozenset(
    """
    a an the this that these those it its they them their he him his she her we us our
    you your i me my who whom which what there here
    of in on at to from by with into onto over under about after before during for
    through between against without within up down out off as than
    and or but nor so if when while because although though
    is are was were be been being am has have had do does did will would can could
    shall should may might must not no
    also more most some any all other one two new said just only very then
    , . ; : ! ? ' " ` ( ) - -- -lrb- -rrb- 's 't s
    """.split()
)


def _read_words(data: bytes) -> frozenset[str]:
    return frozenset(data.decode("utf-8").split())


@functools.cache
def meteor_function_words(source: str | None = None) -> frozenset[str]:
    """METEOR 1.5's English function words, read from METEOR's own distribution.

    Args:
        source: A ``english.words`` file or a ``meteor-1.5.jar``; None looks for the jar
            that the ``pycocoevalcap`` package ships.

    Returns:
        The words, or `ENGLISH_FUNCTION_WORDS` when no METEOR distribution is found.
    """
    path: Path | None = Path(source) if source is not None else None
    if path is None:
        spec = importlib.util.find_spec("pycocoevalcap")
        if spec is not None and spec.submodule_search_locations:
            jar = Path(next(iter(spec.submodule_search_locations))) / "meteor" / "meteor-1.5.jar"
            path = jar if jar.is_file() else None
    if path is None:
        return ENGLISH_FUNCTION_WORDS
    if path.suffix == ".jar":
        with zipfile.ZipFile(path) as jar:
            return _read_words(jar.read("function/english.words"))
    return _read_words(path.read_bytes())


@dataclass(frozen=True)
class MeteorParams:
    """METEOR parameters. The defaults are METEOR 1.5's for English (``-l en``).

    Attributes:
        alpha: Precision/recall balance of ``Fmean = P R / (alpha P + (1 - alpha) R)``.
        beta: Exponent of the fragmentation penalty ``gamma * frag ** beta``.
        gamma: Maximum fragmentation penalty.
        delta: Weight of content words (function words weigh ``1 - delta``).
        exact_weight: Weight of an exact match.
        stem_weight: Weight of a stem-only match.
        function_words: Words counted as function words.
        perfect_no_penalty: No fragmentation penalty when every word of both sentences is
            matched in one chunk (METEOR 1.5 does this; METEOR 1.0 and nltk do not).
    """

    alpha: float = 0.85
    beta: float = 0.2
    gamma: float = 0.6
    delta: float = 0.75
    exact_weight: float = 1.0
    stem_weight: float = 0.6
    function_words: frozenset[str] = field(default_factory=meteor_function_words)
    perfect_no_penalty: bool = True

    @classmethod
    def meteor_1_0(cls) -> MeteorParams:
        """METEOR 1.0 / nltk: alpha 0.9, beta 3, gamma 0.5, all words and matches weigh 1."""
        return cls(
            alpha=0.9,
            beta=3.0,
            gamma=0.5,
            delta=1.0,
            stem_weight=1.0,
            function_words=frozenset(),
            perfect_no_penalty=False,
        )


@dataclass(frozen=True)
class MeteorStats:
    """Sufficient statistics of one METEOR alignment; they add up over a corpus.

    The match tuples count matched words as ``(exact content, exact function, stem content,
    stem function)`` on one side.

    Attributes:
        hyp_len: Candidate length in words.
        ref_len: Reference length in words.
        hyp_function: Function words in the candidate.
        ref_function: Function words in the reference.
        hyp_matches: Matched candidate words by match type and word class.
        ref_matches: Matched reference words by match type and word class.
        matches: Aligned word pairs.
        chunks: Runs of pairs adjacent and in the same order in both sentences.
    """

    hyp_len: int
    ref_len: int
    hyp_function: int
    ref_function: int
    hyp_matches: tuple[int, int, int, int]
    ref_matches: tuple[int, int, int, int]
    matches: int
    chunks: int

    @classmethod
    def zero(cls) -> MeteorStats:
        return cls(0, 0, 0, 0, (0, 0, 0, 0), (0, 0, 0, 0), 0, 0)

    def __add__(self, other: MeteorStats) -> MeteorStats:
        return MeteorStats(
            self.hyp_len + other.hyp_len,
            self.ref_len + other.ref_len,
            self.hyp_function + other.hyp_function,
            self.ref_function + other.ref_function,
            tuple(a + b for a, b in zip(self.hyp_matches, other.hyp_matches, strict=True)),  # type: ignore[arg-type]
            tuple(a + b for a, b in zip(self.ref_matches, other.ref_matches, strict=True)),  # type: ignore[arg-type]
            self.matches + other.matches,
            self.chunks + other.chunks,
        )

    def score(self, params: MeteorParams | None = None) -> float:
        """METEOR from the statistics (METEOR 1.5's ``computeMetrics``).

        ``P`` and ``R`` are the weighted matches over the weighted lengths, where content
        words weigh ``delta``, function words ``1 - delta`` and matches their module weight;
        ``frag = chunks / matches``; ``score = Fmean (1 - gamma frag^beta)``; 0 without
        matches.
        """
        p = params or MeteorParams()
        if self.matches == 0:
            return 0.0

        def length(n: int, n_function: int) -> float:
            return p.delta * (n - n_function) + (1.0 - p.delta) * n_function

        def matched(m: tuple[int, int, int, int]) -> float:
            return p.exact_weight * (p.delta * m[0] + (1.0 - p.delta) * m[1]) + p.stem_weight * (
                p.delta * m[2] + (1.0 - p.delta) * m[3]
            )

        hyp_len, ref_len = (
            length(self.hyp_len, self.hyp_function),
            length(self.ref_len, self.ref_function),
        )
        prec = matched(self.hyp_matches) / hyp_len if hyp_len > 0 else 0.0
        rec = matched(self.ref_matches) / ref_len if ref_len > 0 else 0.0
        if prec <= 0.0 or rec <= 0.0:
            return 0.0
        fmean = prec * rec / (p.alpha * prec + (1.0 - p.alpha) * rec)
        perfect = self.matches == self.hyp_len == self.ref_len and self.chunks == 1
        frag = 0.0 if (p.perfect_no_penalty and perfect) else self.chunks / self.matches
        return fmean * (1.0 - p.gamma * frag**p.beta)


@functools.lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.snowball import SnowballStemmer  # no NLTK data needed

    return SnowballStemmer("english")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stem(word)


# METEOR's "-norm" step, as it acts on PTB tokens (see `meteor_normalize`).
_MN_APOSTROPHE = [
    (re.compile(r"([^a-z0-9])'([^a-z])"), r"\1 ' \2"),
    (re.compile(r"([^a-z])'([a-z])"), r"\1 ' \2"),
    (re.compile(r"([a-z])'([^a-z])"), r"\1 ' \2"),
    (re.compile(r"([a-z])'([a-z])"), r"\1 '\2"),
]
_MN_HYPHEN = re.compile(r"([a-z0-9])-+([a-z0-9])")
_MN_SYMBOL = re.compile(r"([{-~\[-`!-&(-+:-@/])")
_MN_ACRONYM = re.compile(r"^(?:[a-z]\.){2,}$")


def meteor_normalize(tokens: Tokens) -> list[str]:
    r"""Re-tokenise PTB tokens the way METEOR 1.5's ``-norm`` option does (approximately).

    pycocoevalcap feeds its PTB-tokenised captions to METEOR with ``-norm``, which tokenises
    again: apostrophes are split off (``'s`` -> ``' s``, ``n't`` -> ``n 't``), hyphens
    between letters or digits are dropped (``close-up`` -> ``close up``), acronyms lose their
    periods (``e.g.`` -> ``eg``), and ASCII symbols ``! " # $ % & ( ) * + : ; < = > ? @ [ \ ]
    ^ _ ` { | } ~ /`` become words of their own (a backtick becomes ``'``). Not reproduced:
    METEOR's sentence-final period split of a last abbreviation (``... b.`` -> ``b .``).
    """
    words = [_MN_ACRONYM.sub(lambda m: m.group(0).replace(".", ""), t) for t in tokens]
    line = f" {' '.join(words)} "
    for pattern, repl in _MN_APOSTROPHE:
        line = pattern.sub(repl, line)
    line = _MN_HYPHEN.sub(r"\1 \2", line)
    line = _MN_SYMBOL.sub(r" \1 ", line).replace("`", "'")
    return line.split()


def _align(
    hyp: Sequence[str], ref: Sequence[str], params: MeteorParams, beam: int
) -> list[tuple[int, bool] | None]:
    """METEOR 1.5's aligner (``Aligner.align`` and ``resolve``) for exact and stem matches.

    Returns, per reference position, ``(hypothesis index, exact)`` or None. Faithful to the
    Java code, including two quirks that decide which alignment wins:

    - candidate paths are ranked by the matched words weighted by module and accumulated
      in an ``int`` (Java's ``+=`` truncates), so a stem match (weight 0.6) adds nothing
      to the ranking, then by fewer chunks, then by smaller distance; a stem match that
      would open a new chunk therefore loses against leaving the words unmatched, unless it
      is the only candidate for both words (then it is fixed before the search);
    - the distance of a new match is added to the path it branches from (the path that
      skips the word), not to the new path.
    """
    n_ref = len(ref)
    cands: list[list[tuple[int, bool]]] = [[] for _ in range(n_ref)]
    cover_h = [0] * len(hyp)
    cover_r = [0] * n_ref
    for exact in (True, False):  # the exact module runs before the stem module
        for j in range(n_ref):
            for i in range(len(hyp)):
                if (
                    (hyp[i] == ref[j])
                    if exact
                    else (hyp[i] != ref[j] and _stem(hyp[i]) == _stem(ref[j]))
                ):
                    cands[j].append((i, exact))
                    cover_h[i] += 1
                    cover_r[j] += 1
    weight = {True: params.exact_weight, False: params.stem_weight}

    # Path: [matches per ref position, m1, m2, chunks, idx, last_end, distance, used_h, used_r]
    fixed: list[tuple[int, bool] | None] = [None] * n_ref
    used_h = [False] * len(hyp)
    used_r = [False] * n_ref
    for j, options in enumerate(cands):  # one-to-one, non-overlapping matches are definite
        if len(options) == 1 and cover_r[j] == 1 and cover_h[options[0][0]] == 1:
            fixed[j] = options[0]
            used_r[j] = used_h[options[0][0]] = True
    start = [fixed, 0, 0, 0, 0, -1, 0, used_h, used_r]

    def key(path: list) -> tuple[int, int, int]:
        return (-(path[1] + path[2]), path[3], path[6])

    def add_match(path: list, i: int, exact: bool, j: int) -> None:
        w = weight[exact]
        path[1] = int(path[1] + w)  # Java: int += double truncates
        path[2] = int(path[2] + w)
        if path[5] != -1 and i != path[5]:
            path[3] += 1
        path[4] = j + 1
        path[5] = i + 1

    next_paths = [start]
    for current in range(n_ref + 1):
        paths = sorted(next_paths, key=key)  # stable, like Collections.sort
        next_paths = []
        for path in paths[:beam]:
            if current == n_ref:
                if path[5] != -1:
                    path[3] += 1
                next_paths.append(path)
                continue
            if path[8][current]:
                if current < path[4]:
                    next_paths.append(path)
                elif path[0][path[4]] is not None:
                    j = path[4]
                    i, exact = path[0][j]
                    add_match(path, i, exact, j)
                    path[6] += abs(j - i)
                    next_paths.append(path)
                continue
            for i, exact in cands[current]:
                if path[7][i]:
                    continue
                new = [list(path[0]), *path[1:7], list(path[7]), list(path[8])]
                new[7][i] = new[8][current] = True
                new[0][current] = (i, exact)
                add_match(new, i, exact, current)
                path[6] += abs(current - i)  # METEOR adds it to the parent path
                next_paths.append(new)
            if path[5] != -1:
                path[3] += 1
                path[5] = -1
            path[4] += 1
            next_paths.append(path)
        if not next_paths:
            next_paths.append(paths[0])
    return min(next_paths, key=key)[0]


def meteor_stats(
    candidate: Tokens,
    reference: Tokens,
    params: MeteorParams | None = None,
    beam: int = 40,
    normalize: bool = True,
) -> MeteorStats:
    """Align a tokenised candidate with one tokenised reference and count the matches.

    Args:
        candidate: Candidate tokens (`vthinker.metrics.text.tokenize` output).
        reference: Reference tokens.
        params: Scoring parameters (their weights also steer the alignment).
        beam: Beam width of the alignment search (METEOR's default 40).
        normalize: Apply `meteor_normalize` to both sides first (as METEOR ``-norm`` does).
    """
    p = params or MeteorParams()
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    hyp = meteor_normalize(candidate) if normalize else list(candidate)
    ref = meteor_normalize(reference) if normalize else list(reference)
    aligned = _align(hyp, ref, p, beam) if hyp and ref else []
    fw = p.function_words
    hyp_m = [0, 0, 0, 0]
    ref_m = [0, 0, 0, 0]
    matches = chunks = 0
    last_end = -1  # METEOR's getCountAndChunks: runs contiguous in both sentences
    for j, pair in enumerate(aligned):
        if pair is None:
            if last_end != -1:
                chunks += 1
                last_end = -1
            continue
        i, exact = pair
        base = 0 if exact else 2
        hyp_m[base + (hyp[i] in fw)] += 1
        ref_m[base + (ref[j] in fw)] += 1
        matches += 1
        if last_end != -1 and i != last_end:
            chunks += 1
        last_end = i + 1
    if last_end != -1:
        chunks += 1
    return MeteorStats(
        hyp_len=len(hyp),
        ref_len=len(ref),
        hyp_function=sum(w in fw for w in hyp),
        ref_function=sum(w in fw for w in ref),
        hyp_matches=tuple(hyp_m),  # type: ignore[arg-type]
        ref_matches=tuple(ref_m),  # type: ignore[arg-type]
        matches=matches,
        chunks=chunks,
    )


def _best_stats(
    candidate: Tokens, references: Sequence[Tokens], params: MeteorParams
) -> MeteorStats:
    if not references:
        raise ValueError("METEOR needs at least one reference")
    # max() keeps the first of equal scores: ties go to the earlier reference, as in METEOR.
    return max(
        (meteor_stats(candidate, r, params) for r in references), key=lambda s: s.score(params)
    )


def meteor_score(
    candidate: Tokens, references: Sequence[Tokens], params: MeteorParams | None = None
) -> float:
    """Sentence METEOR (exact + stem matches): the best score over the references."""
    p = params or MeteorParams()
    return _best_stats(candidate, references, p).score(p)


def corpus_meteor(
    candidates: Sequence[Tokens],
    references: Sequence[Sequence[Tokens]],
    params: MeteorParams | None = None,
) -> float:
    """Corpus METEOR: the score of the summed best-reference statistics (METEOR's aggregate)."""
    p = params or MeteorParams()
    _check_corpus(candidates, references)
    total = MeteorStats.zero()
    for cand, refs in zip(candidates, references, strict=True):
        total = total + _best_stats(cand, refs, p)
    return total.score(p)


# --- CIDEr-D --------------------------------------------------------------------------------


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


# --- everything -----------------------------------------------------------------------------


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
