"""Mix several sources into one, with deterministic per-source amounts.

Three ways to say how much each source contributes (`MixtureSource`):

- ``counts``: source *i* gives ``min(counts[i], available_i)`` samples (``None``: all);
- ``weights`` and ``total``: the quotas are ``total * w_i / sum(w)`` rounded by the largest
  remainder method (floors first, then the leftover units to the largest fractional parts,
  ties to the earlier source), so they sum to ``total`` exactly. A source with fewer
  samples than its quota gives all it has; the shortfall is logged and kept in
  ``shortfall`` (``strict`` makes it an error); quotas are not moved to other sources;
- ``weights`` alone: the largest total that every source can fill in exact proportion,
  ``min_i floor(available_i * sum(w) / w_i)``, then quotas as above.

Neither: every sample of every source. Within a source the samples are drawn without
replacement by `random.Random` seeded with ``"<seed>:<source index>:<source name>"`` and
kept in their file order, so a mixture is the same on every run and machine; ``shuffle``
then interleaves the sources (seeded too). Each source keeps its own ``split`` setting
(the mixture itself does not re-split). Video paths are rewritten to be absolute or
relative to the working directory, i.e. to the mixture's ``root`` (``.``).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from vthinker.data.schema import VideoSample
from vthinker.data.sources.base import SampleSource, SourceReport

log = logging.getLogger(__name__)

__all__ = ["MixtureSource", "largest_remainder", "proportional_total"]


def _fractions(weights: Sequence[float]) -> list[Fraction]:
    fr = [Fraction(str(w)) for w in weights]
    if any(w < 0 for w in fr) or sum(fr) <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {list(weights)}")
    return fr


def largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """Integer quotas proportional to ``weights`` that sum to ``total`` (module docstring).

    Example: weights (1, 1, 1), total 10 → exact shares 3⅓ each, floors (3, 3, 3), the one
    leftover unit goes to the first source (tie): (4, 3, 3).
    """
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    fr = _fractions(weights)
    exact = [total * w / sum(fr) for w in fr]
    quotas = [math.floor(q) for q in exact]
    leftover = total - sum(quotas)
    order = sorted(range(len(fr)), key=lambda i: (-(exact[i] - quotas[i]), i))
    for i in order[:leftover]:
        quotas[i] += 1
    return quotas


def proportional_total(weights: Sequence[float], available: Sequence[int]) -> int:
    """The largest total every source can fill in proportion: ``min floor(a_i·W/w_i)``."""
    fr = _fractions(weights)
    if len(fr) != len(available):
        raise ValueError(f"{len(fr)} weights for {len(available)} sources")
    return min(math.floor(a * sum(fr) / w) for w, a in zip(fr, available, strict=True) if w > 0)


class MixtureSource(SampleSource):
    """Samples drawn from several sources (module docstring for the semantics).

    Args:
        sources: The sources, each with its own root, split and options.
        weights: Relative proportions, one per source.
        total: Total number of samples (with ``weights``).
        counts: Per-source maximum numbers of samples (``None`` entries: all); not with
            ``weights``.
        seed: Seed of the draws.
        shuffle: Interleave the sources (seeded) instead of concatenating them.
        strict: Make a quota shortfall an error (the sources have their own ``strict``).
        limit: Keep only the first ``limit`` samples of the mixture.
    """

    name = "mixture"

    def __init__(
        self,
        sources: list[SampleSource],
        weights: list[float] | None = None,
        total: int | None = None,
        counts: list[int | None] | None = None,
        seed: int = 0,
        shuffle: bool = False,
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(".", strict=strict, limit=limit)
        if not sources:
            raise ValueError("mixture: no sources")
        for what, values in (("weights", weights), ("counts", counts)):
            if values is not None and len(values) != len(sources):
                raise ValueError(f"mixture: {len(values)} {what} for {len(sources)} sources")
        if counts is not None and (weights is not None or total is not None):
            raise ValueError("mixture: give either counts, or weights (and total), not both")
        if total is not None and weights is None:
            raise ValueError("mixture: total needs weights")
        if counts is not None and any(c is not None and c < 0 for c in counts):
            raise ValueError(f"mixture: counts must be >= 0, got {counts}")
        if weights is not None:
            _fractions(weights)
        if total is not None and total < 0:
            raise ValueError(f"mixture: total must be >= 0, got {total}")
        self.sources = sources
        self.weights = weights
        self.total = total
        self.counts = counts
        self.seed = seed
        self.shuffle = shuffle
        self.shortfall: dict[str, int] = {}

    def quotas(self, available: Sequence[int]) -> list[int]:
        """How many samples each source gives, given how many each has."""
        if self.counts is not None:
            return [
                a if c is None else min(c, a) for c, a in zip(self.counts, available, strict=True)
            ]
        if self.weights is None:
            return list(available)
        total = self.total
        if total is None:
            total = proportional_total(self.weights, available)
        return largest_remainder(self.weights, total)

    def _rerooted(self, source: SampleSource, sample: VideoSample) -> VideoSample:
        path = Path(sample.video)
        if not path.is_absolute():
            sample.video = (source.root / path).as_posix()
        return sample

    def records(self) -> Iterator[tuple[str, Any]]:
        loaded = [source.load() for source in self.sources]
        quotas = self.quotas([len(s) for s in loaded])
        self.shortfall = {}
        picked: list[tuple[str, VideoSample]] = []
        for i, (source, samples, quota) in enumerate(
            zip(self.sources, loaded, quotas, strict=True)
        ):
            if quota > len(samples):
                msg = f"mixture: {source.name} has {len(samples)} sample(s) for a quota of {quota}"
                if self.strict:
                    raise ValueError(msg)
                log.warning(msg)
                self.shortfall[source.name] = quota - len(samples)
            rng = random.Random(f"{self.seed}:{i}:{source.name}")
            chosen = sorted(rng.sample(range(len(samples)), min(quota, len(samples))))
            if len(samples) > len(chosen):
                key = f"sample(s) of {source.name} not drawn"
                self.report.left_out[key] = len(samples) - len(chosen)
            picked += [
                (f"{source.name}:{samples[k].id}", self._rerooted(source, samples[k]))
                for k in chosen
            ]
        if self.shuffle:
            random.Random(f"{self.seed}:shuffle").shuffle(picked)
        yield from picked

    def convert(self, record: Any) -> list[VideoSample]:
        return [record]

    def load(self) -> list[VideoSample]:
        """Load every source, draw, then fold the sources' reports into `report`."""
        out = super().load()
        merged = SourceReport(self.name, samples=len(out), left_out=dict(self.report.left_out))
        for source in self.sources:
            r = source.report
            merged.records += r.records
            merged.split_out += r.split_out
            merged.skipped += [(f"{r.source}: {where}", why) for where, why in r.skipped]
            for why, n in r.left_out.items():
                merged.left_out[f"{r.source}: {why}"] = n
        self.report = merged
        return out
