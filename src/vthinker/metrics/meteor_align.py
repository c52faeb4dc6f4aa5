"""METEOR 1.5's aligner (``Aligner.align`` and ``resolve``) for exact and stem matches."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

__all__: list[str] = []


@functools.lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.snowball import SnowballStemmer  # no NLTK data needed

    return SnowballStemmer("english")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stem(word)


def _align(
    hyp: Sequence[str], ref: Sequence[str], params: Any, beam: int
) -> list[tuple[int, bool] | None]:
    """METEOR 1.5's aligner (``Aligner.align`` and ``resolve``) for exact and stem matches.
    ``params`` is a `vthinker.metrics.meteor.MeteorParams` (not imported: meteor imports
    this module).

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
    cands, cover_h, cover_r = _candidates(hyp, ref)
    weight = {True: params.exact_weight, False: params.stem_weight}
    n_ref = len(ref)
    next_paths = [_start_path(cands, cover_h, cover_r)]
    for current in range(n_ref + 1):
        paths = sorted(next_paths, key=_key)  # stable, like Collections.sort
        next_paths = []
        for path in paths[:beam]:
            if current == n_ref:
                if path[_LAST_END] != -1:
                    path[_CHUNKS] += 1
                next_paths.append(path)
            elif path[_USED_R][current]:
                _pass_fixed(path, current, weight, next_paths)
            else:
                _branch(path, current, cands[current], weight, next_paths)
        if not next_paths:
            next_paths.append(paths[0])
    return min(next_paths, key=_key)[0]


# A search path is a list (copied and updated in place, as METEOR's ``Alignment``):
# [matches per ref position, m1, m2, chunks, idx, last_end, distance, used_h, used_r].
_M1, _M2, _CHUNKS, _IDX, _LAST_END, _DISTANCE, _USED_H, _USED_R = range(1, 9)


def _candidates(
    hyp: Sequence[str], ref: Sequence[str]
) -> tuple[list[list[tuple[int, bool]]], list[int], list[int]]:
    """Per reference position its ``(hypothesis index, exact)`` matches, exact module
    first, and how many matches cover each hypothesis and reference word."""
    cands: list[list[tuple[int, bool]]] = [[] for _ in ref]
    cover_h = [0] * len(hyp)
    cover_r = [0] * len(ref)
    for exact in (True, False):  # the exact module runs before the stem module
        for j in range(len(ref)):
            for i in range(len(hyp)):
                if (
                    (hyp[i] == ref[j])
                    if exact
                    else (hyp[i] != ref[j] and _stem(hyp[i]) == _stem(ref[j]))
                ):
                    cands[j].append((i, exact))
                    cover_h[i] += 1
                    cover_r[j] += 1
    return cands, cover_h, cover_r


def _start_path(
    cands: list[list[tuple[int, bool]]], cover_h: list[int], cover_r: list[int]
) -> list:
    """The empty path, with the one-to-one, non-overlapping matches fixed (they are definite)."""
    fixed: list[tuple[int, bool] | None] = [None] * len(cands)
    used_h = [False] * len(cover_h)
    used_r = [False] * len(cands)
    for j, options in enumerate(cands):
        if len(options) == 1 and cover_r[j] == 1 and cover_h[options[0][0]] == 1:
            fixed[j] = options[0]
            used_r[j] = used_h[options[0][0]] = True
    return [fixed, 0, 0, 0, 0, -1, 0, used_h, used_r]


def _key(path: list) -> tuple[int, int, int]:
    return (-(path[_M1] + path[_M2]), path[_CHUNKS], path[_DISTANCE])


def _add_match(path: list, i: int, exact: bool, j: int, weight: dict[bool, float]) -> None:
    w = weight[exact]
    path[_M1] = int(path[_M1] + w)  # Java: int += double truncates
    path[_M2] = int(path[_M2] + w)
    if path[_LAST_END] != -1 and i != path[_LAST_END]:
        path[_CHUNKS] += 1
    path[_IDX] = j + 1
    path[_LAST_END] = i + 1


def _pass_fixed(path: list, current: int, weight: dict[bool, float], out: list) -> None:
    """Reference word ``current`` is already matched: count a fixed match the path reaches."""
    if current < path[_IDX]:
        out.append(path)
    elif path[0][path[_IDX]] is not None:
        j = path[_IDX]
        i, exact = path[0][j]
        _add_match(path, i, exact, j, weight)
        path[_DISTANCE] += abs(j - i)
        out.append(path)


def _branch(
    path: list,
    current: int,
    options: list[tuple[int, bool]],
    weight: dict[bool, float],
    out: list,
) -> None:
    """One new path per free match of reference word ``current``, then the path itself with
    the word left unmatched."""
    for i, exact in options:
        if path[_USED_H][i]:
            continue
        new = [list(path[0]), *path[1:7], list(path[_USED_H]), list(path[_USED_R])]
        new[_USED_H][i] = new[_USED_R][current] = True
        new[0][current] = (i, exact)
        _add_match(new, i, exact, current, weight)
        path[_DISTANCE] += abs(current - i)  # METEOR adds it to the parent path
        out.append(new)
    if path[_LAST_END] != -1:
        path[_CHUNKS] += 1
        path[_LAST_END] = -1
    path[_IDX] += 1
    out.append(path)
