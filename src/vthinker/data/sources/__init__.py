"""Readers for datasets in their native release formats (see `base.SampleSource`)."""

from vthinker.data.sources.activitynet import ActivityNetCaptions
from vthinker.data.sources.base import SampleSource, SourceReport, in_domain_split
from vthinker.data.sources.cgbench import CGBench
from vthinker.data.sources.lvbench import LVBench
from vthinker.data.sources.mixture import MixtureSource
from vthinker.data.sources.scivideobench import SciVideoBench
from vthinker.data.sources.star import STAR
from vthinker.data.sources.tutorialvqa import TutorialVQA
from vthinker.data.sources.video_holmes import VideoHolmes
from vthinker.data.sources.video_r1 import VideoR1Source
from vthinker.data.sources.videomme import VideoMME
from vthinker.data.sources.videott import VideoTT
from vthinker.data.sources.vrbench import VRBench
from vthinker.data.sources.youcook2 import YouCook2

__all__ = [
    "STAR",
    "ActivityNetCaptions",
    "CGBench",
    "LVBench",
    "MixtureSource",
    "SampleSource",
    "SciVideoBench",
    "SourceReport",
    "TutorialVQA",
    "VRBench",
    "VideoHolmes",
    "VideoMME",
    "VideoR1Source",
    "VideoTT",
    "YouCook2",
    "in_domain_split",
]
