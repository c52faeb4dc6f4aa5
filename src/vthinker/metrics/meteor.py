"""METEOR 1.5 with exact and stem matches (conventions in `vthinker.metrics.caption`): its
word classes and parameters, ``-norm`` re-tokenisation, statistics and scores. The aligner
is `vthinker.metrics.meteor_align`."""

from __future__ import annotations

import functools
import importlib.util
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vthinker.metrics.meteor_align import _align
from vthinker.metrics.ngram import Tokens, _check_corpus

__all__ = [
    "ENGLISH_FUNCTION_WORDS",
    "MeteorParams",
    "MeteorStats",
    "corpus_meteor",
    "meteor_function_words",
    "meteor_normalize",
    "meteor_score",
    "meteor_stats",
]

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
