"""Readers for datasets in their native release formats (see `base.SampleSource`)."""

from vthinker.data.sources.base import SampleSource, SourceReport, in_domain_split

__all__ = ["SampleSource", "SourceReport", "in_domain_split"]
