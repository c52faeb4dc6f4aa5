"""Caption text: COCO-style tokenisation, ROUGE-L and token F1 (pure Python).

Tokenisation (`tokenize`) approximates what pycocoevalcap does before scoring: the
Stanford CoreNLP 3.4.1 ``PTBTokenizer -preserveLines -lowerCase`` followed by removal of
the tokens ``'' ' `` ` . ? ! , : - -- ... ;`` (and the upper-case ``-LRB-``/``-RRB-``/
``-LCB-``/``-RCB-``, which never occur after lower-casing). pycocoevalcap needs Java; this is
the same procedure written as rules, in this order:

1. newlines become spaces and the text is lower-cased (``str.lower``);
2. typographic quotes become ASCII quotes, en/em dashes become ``--``, ``…`` becomes ``...``;
3. runs of two or more periods become ``...``; runs of ``!``/``?`` become one token (so
   ``!!!`` and ``?!`` stay as words, as in PTB); ``;`` and ``"`` are split off; ``,`` and
   ``:`` are split off unless between digits (``1,000``, ``10:30`` stay whole);
4. the symbols ``& $ % = * ^ | \\ ~ +`` are split off, ``#`` only before a digit
   (``#1`` -> ``# 1``, ``#tag`` stays); a ``-`` at the start or end of a word is split off
   (``well-known`` stays whole); a decimal number glued to letters is split
   (``2.5m`` -> ``2.5 m``);
5. brackets become the PTB names ``-lrb- -rrb- -lsb- -rsb- -lcb- -rcb-``. These are *kept*
   as words, exactly as pycocoevalcap keeps them (its punctuation list is upper case while
   the tokenizer output is lower case);
6. per word: a final ``.`` is split off unless the word is an abbreviation (single letters
   with periods such as ``u.s.``/``e.g.``/``p.m.``/``z.``, or one of `ABBREVIATIONS`); a
   leading quote is split off (except before a digit, ``'90s``, and the clitic ``'em``), as
   is a trailing one (``dogs'`` -> ``dogs '``); the clitics ``n't 's 'm 'd 're 've 'll`` are
   split off (``doesn't`` -> ``does n't``, ``can't`` -> ``ca n't``), and ``cannot gonna gotta
   wanna lemme gimme`` are split in two;
7. the pycocoevalcap punctuation tokens listed above are dropped.

Known differences from the Java tokenizer are rare in captions: PTB's full abbreviation
list and a few special cases (``c++``, ``rock'n'roll``, ``y'all``, ``'tis``); the comparison
script ``tools/compare_caption_metrics.py`` reports the token-level agreement.

`rouge_l` follows pycocoevalcap's ``Rouge``: LCS precision and recall against every
reference, the *maximum* precision and the *maximum* recall (possibly from different
references) combined as ``F = (1 + b^2) P R / (R + b^2 P)`` with ``b = 1.2``; 0 when either
maximum is 0. `token_f1` is the SQuAD bag-of-tokens F1 (maximum over references).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

__all__ = [
    "ABBREVIATIONS",
    "PTB_PUNCTUATION",
    "lcs_length",
    "rouge_l",
    "rouge_l_tokens",
    "token_f1",
    "token_f1_tokens",
    "tokenize",
]

#: Tokens pycocoevalcap removes after PTB tokenisation (its ``PUNCTUATIONS`` list).
PTB_PUNCTUATION = frozenset("'' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;".split())

#: Words that keep their final period (a subset of PTB's abbreviation list).
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc inc co corp ltd no approx dept est fig gen gov "
    "jan feb mar apr jun jul aug sep sept oct nov dec mt ft".split()
)

_UNICODE = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
        "—": " -- ",
        "–": " -- ",
        "…": " ... ",
    }
)
# Applied after `_SUBS`, so that the edge-hyphen rule cannot split "-lrb-".
_BRACKETS = str.maketrans(
    {
        "(": " -lrb- ",
        ")": " -rrb- ",
        "[": " -lsb- ",
        "]": " -rsb- ",
        "{": " -lcb- ",
        "}": " -rcb- ",
    }
)
_SUBS = [
    (re.compile(r"\.{2,}"), " ... "),
    (re.compile(r"[!?]+"), r" \g<0> "),
    (re.compile(r'[;"]'), r" \g<0> "),
    (re.compile(r"(?<!\d)[,:]|[,:](?!\d)"), r" \g<0> "),
    (re.compile(r"[&$%=*^|\\~+]"), r" \g<0> "),
    (re.compile(r"#(?=\d)"), " # "),
    (re.compile(r"(?<!\S)(-+)(?=\S)"), r"\1 "),
    (re.compile(r"(?<=\S)(-+)(?!\S)"), r" \1"),
    (re.compile(r"(\d\.\d+)([a-z]+)"), r"\1 \2"),
]
_LETTER_ABBREV = re.compile(r"^(?:[a-z]\.)+$")
_CLITIC = re.compile(r"^(.+?)(n't|'s|'m|'d|'re|'ve|'ll)$")
_BARE_CLITICS = frozenset(["'em", "'s", "'m", "'d", "'re", "'ve", "'ll"])
_SPLIT_WORDS = {
    "cannot": ["can", "not"],
    "gonna": ["gon", "na"],
    "gotta": ["got", "ta"],
    "wanna": ["wan", "na"],
    "lemme": ["lem", "me"],
    "gimme": ["gim", "me"],
}


def _split_word(word: str) -> list[str]:
    """Step 6 of the module docstring for one whitespace-separated word."""
    head: list[str] = []
    tail: list[str] = []
    # Leading quotes (` or '), except before a digit ('90s), the clitic 'em and bare clitics.
    while len(word) > 1 and word[0] in "'`":
        if word[1].isdigit() or word in _BARE_CLITICS:
            break
        n = 2 if word[:2] in ("''", "``") else 1
        head.append(word[:n])
        word = word[n:]
    # Final period (not for abbreviations), then trailing quotes.
    if len(word) > 1 and word.endswith(".") and not word.endswith(".."):
        stem = word[:-1]
        if not (_LETTER_ABBREV.match(word) or stem in ABBREVIATIONS):
            tail.insert(0, ".")
            word = stem
    while len(word) > 1 and word[-1] in "'`":
        tail.insert(0, word[-1])
        word = word[:-1]
    if word in _SPLIT_WORDS:
        return head + _SPLIT_WORDS[word] + tail
    clitics: list[str] = []
    while (m := _CLITIC.match(word)) is not None:
        word = m.group(1)
        clitics.insert(0, m.group(2))
    return [*head, word, *clitics, *tail]


def tokenize(text: str) -> list[str]:
    """Tokenise a caption the way pycocoevalcap does (see the module docstring).

    Args:
        text: A caption.

    Returns:
        Lower-case tokens without the pycocoevalcap punctuation tokens.

    Example:
        >>> tokenize("A man's dog doesn't run -- (quickly)!")
        ['a', 'man', "'s", 'dog', 'does', "n't", 'run', '-lrb-', 'quickly', '-rrb-']
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a string, got {type(text).__name__}")
    t = text.replace("\r", " ").replace("\n", " ").lower().translate(_UNICODE)
    for pattern, repl in _SUBS:
        t = pattern.sub(repl, t)
    t = t.translate(_BRACKETS)
    tokens: list[str] = []
    for word in t.split():
        if word == '"':
            continue  # PTB writes `` or '', both dropped
        tokens.extend(_split_word(word))
    return [tok for tok in tokens if tok and tok not in PTB_PUNCTUATION]


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (O(len a * len b))."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    return prev[-1]


def rouge_l_tokens(
    candidate: Sequence[str], references: Sequence[Sequence[str]], beta: float = 1.2
) -> float:
    """ROUGE-L F of a tokenised candidate against tokenised references (pycocoevalcap rule).

    Args:
        candidate: Candidate tokens.
        references: One token list per reference (at least one).
        beta: Recall weight (pycocoevalcap uses 1.2; 1.0 gives the plain F1).

    Returns:
        ``(1 + b^2) P R / (R + b^2 P)`` with ``P``/``R`` the maximum LCS precision/recall over
        the references; 0 if either is 0. An empty candidate scores 1 against an empty
        reference and 0 otherwise (pycocoevalcap splits ``""`` into one empty word).

    Raises:
        ValueError: if there is no reference.
    """
    if not references:
        raise ValueError("rouge_l needs at least one reference")
    cand = list(candidate) or [""]
    prec = rec = 0.0
    for ref in references:
        r = list(ref) or [""]
        lcs = lcs_length(r, cand)
        prec = max(prec, lcs / len(cand))
        rec = max(rec, lcs / len(r))
    if prec == 0.0 or rec == 0.0:
        return 0.0
    b2 = beta * beta
    return (1.0 + b2) * prec * rec / (rec + b2 * prec)


def rouge_l(candidate: str, references: str | Sequence[str], beta: float = 1.2) -> float:
    """ROUGE-L F of a caption against one or more reference captions (tokenised with
    `tokenize`; see `rouge_l_tokens`)."""
    refs = [references] if isinstance(references, str) else list(references)
    return rouge_l_tokens(tokenize(candidate), [tokenize(r) for r in refs], beta=beta)


def token_f1_tokens(candidate: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """SQuAD-style bag-of-tokens F1, the maximum over references.

    Args:
        candidate: Candidate tokens.
        references: One token list per reference (at least one).

    Returns:
        ``2 P R / (P + R)`` with ``P``/``R`` from the multiset overlap; when either side is
        empty, 1.0 if both are empty else 0.0.

    Raises:
        ValueError: if there is no reference.
    """
    if not references:
        raise ValueError("token_f1 needs at least one reference")
    cand = Counter(candidate)
    n_cand = sum(cand.values())
    best = 0.0
    for ref in references:
        n_ref = len(ref)
        if n_cand == 0 or n_ref == 0:
            best = max(best, float(n_cand == n_ref))
            continue
        same = sum((cand & Counter(ref)).values())
        if same:
            p, r = same / n_cand, same / n_ref
            best = max(best, 2 * p * r / (p + r))
    return best


def token_f1(candidate: str, references: str | Sequence[str]) -> float:
    """Token F1 of a caption against one or more references (tokenised with `tokenize`)."""
    refs = [references] if isinstance(references, str) else list(references)
    return token_f1_tokens(tokenize(candidate), [tokenize(r) for r in refs])
