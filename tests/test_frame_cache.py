"""Frame cache: hits equal a fresh decode, any change to the key misses, damaged entries are
warned about and rebuilt, and the cache works from DataLoader workers."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import DataLoader

from vthinker.data.collate import FrameSampling, LoadedSample, Skipped, VideoQADataset
from vthinker.data.datamodule import VideoQADataModule
from vthinker.data.frame_cache import FrameCache, resize_frames, resized_size
from vthinker.data.schema import VideoSample, write_jsonl
from vthinker.data.toy import write_video
from vthinker.data.video import VideoClip, read_frames

FPS = 8.0


def _frames(seed: int, num: int = 24, height: int = 48, width: int = 64) -> np.ndarray:
    """Frames that differ from each other (a moving bar over seeded noise)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
    video = np.repeat(base[None], num, axis=0)
    for i in range(num):
        x = (i * 5) % (width - 8)
        video[i, :, x : x + 8] = (255, 200 - 5 * i, 40)
    return video


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "videos" / "clip.mp4"
    write_video(path, _frames(0), FPS)
    return path


def _sample(sid: str, video: str, start: float | None = None, end: float | None = None):
    return VideoSample(
        id=sid,
        video=video,
        question="What moves?",
        answer="A",
        options=["a bar", "a ball"],
        video_start=start,
        video_end=end,
    )


def _assert_same_clip(a: VideoClip, b: VideoClip) -> None:
    assert a.frames.dtype == b.frames.dtype == np.uint8
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.fps == b.fps and a.duration == b.duration


def _load(ds: VideoQADataset, idx: int = 0) -> VideoClip:
    item = ds[idx]
    assert isinstance(item, LoadedSample), item
    return item.clip


def _entries(root: Path) -> list[Path]:
    return sorted(root.rglob("*.npz"))


def test_resized_size_exact():
    # 720p, bound 448: scale = 448 / 1280 = 0.35 → (720 * 0.35, 1280 * 0.35) = (252, 448).
    assert resized_size(720, 1280, 448) == (252, 448)
    # Portrait 301x201 (H x W), bound 100: scale = 100 / 301; 201 * 100 / 301 = 66.78 → 67.
    assert resized_size(301, 201, 100) == (100, 67)
    assert resized_size(48, 64, 64) == (48, 64)  # already within the bound: unchanged
    assert resized_size(48, 64, None) == (48, 64)
    with pytest.raises(ValueError, match="max_side"):
        resized_size(48, 64, 0)


def test_resize_frames_shape_and_identity():
    frames = _frames(1)
    assert resize_frames(frames, 64) is frames
    small = resize_frames(frames, 32)  # scale 0.5 → 24 x 32
    assert small.shape == (24, 24, 32, 3) and small.dtype == np.uint8
    # A flat frame stays flat through an antialiased resize.
    flat = np.full((2, 40, 60, 3), 77, dtype=np.uint8)
    assert np.all(resize_frames(flat, 30) == 77)


def test_hit_returns_exactly_the_fresh_decode(video: Path, tmp_path: Path):
    sampling = FrameSampling(num_frames=6)
    ds = VideoQADataset([_sample("s", str(video))], frames=sampling, frame_cache=tmp_path / "c")
    fresh = read_frames(video, num_frames=6)
    first = _load(ds)
    assert ds.frame_cache is not None
    assert (ds.frame_cache.stats.misses, ds.frame_cache.stats.writes) == (1, 1)
    second = _load(ds)
    assert ds.frame_cache.stats.hits == 1
    _assert_same_clip(first, fresh)
    _assert_same_clip(second, fresh)
    assert len(_entries(tmp_path / "c")) == 1


def test_changed_sampling_or_window_misses(video: Path, tmp_path: Path):
    cache = FrameCache(tmp_path / "c")
    sample = _sample("s", str(video))
    base = FrameSampling(num_frames=6)
    _load(VideoQADataset([sample], frames=base, frame_cache=cache))
    variants = [
        FrameSampling(num_frames=4),
        FrameSampling(num_frames=None, fps=2.0, max_frames=6),
        FrameSampling(num_frames=6, max_side=32),
    ]
    for sampling in variants:
        before = cache.stats.misses
        clip = _load(VideoQADataset([sample], frames=sampling, frame_cache=cache))
        assert cache.stats.misses == before + 1, sampling
        # The miss decoded with the new settings, not the cached ones.
        fresh = read_frames(
            video, num_frames=sampling.num_frames, fps=sampling.fps, max_frames=sampling.max_frames
        )
        frames = resize_frames(fresh.frames, sampling.max_side)
        np.testing.assert_array_equal(clip.frames, frames)
    windowed = _sample("w", str(video), start=1.0, end=2.0)
    before = cache.stats.misses
    clip = _load(VideoQADataset([windowed], frames=base, frame_cache=cache))
    assert cache.stats.misses == before + 1
    # Window [1, 2) s at 8 fps = frames 8..15.
    assert clip.indices.min() >= 8 and clip.indices.max() <= 15
    assert len(_entries(tmp_path / "c")) == 5
    assert cache.stats.hits == 0


def test_max_side_frames_are_cached_resized(video: Path, tmp_path: Path):
    sampling = FrameSampling(num_frames=4, max_side=32)
    ds = VideoQADataset([_sample("s", str(video))], frames=sampling, frame_cache=tmp_path / "c")
    first, second = _load(ds), _load(ds)
    assert first.frames.shape == (4, 24, 32, 3)  # 48x64 bounded to 32: scale 0.5
    _assert_same_clip(first, second)
    assert ds.frame_cache is not None and ds.frame_cache.stats.hits == 1


def test_touched_or_rewritten_video_misses_and_overwrites(video: Path, tmp_path: Path):
    cache = FrameCache(tmp_path / "c")
    ds = VideoQADataset(
        [_sample("s", str(video))], frames=FrameSampling(num_frames=6), frame_cache=cache
    )
    old = _load(ds)
    (entry,) = _entries(tmp_path / "c")

    # Same bytes, newer mtime: a stale miss, rewritten in place.
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    _load(ds)
    assert (cache.stats.stale, cache.stats.writes) == (1, 2)
    assert _entries(tmp_path / "c") == [entry]

    # New content (new size and mtime): the cache must serve the new frames.
    write_video(video, _frames(7), FPS)
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 4_000_000_000))
    clip = _load(ds)
    assert cache.stats.stale == 2
    _assert_same_clip(clip, read_frames(video, num_frames=6))
    assert not np.array_equal(clip.frames, old.frames)
    assert _entries(tmp_path / "c") == [entry]
    _assert_same_clip(_load(ds), clip)
    assert cache.stats.hits == 1


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage", "empty"])
def test_damaged_entry_is_warned_and_rebuilt(video: Path, tmp_path: Path, caplog, damage: str):
    cache = FrameCache(tmp_path / "c")
    ds = VideoQADataset(
        [_sample("s", str(video))], frames=FrameSampling(num_frames=6), frame_cache=cache
    )
    good = _load(ds)
    (entry,) = _entries(tmp_path / "c")
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip_byte":  # inside the frame data: caught by the zip CRC-32
        pos = len(data) // 2
        entry.write_bytes(data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :])
    elif damage == "garbage":
        entry.write_bytes(b"not a cache entry at all")
    else:
        entry.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="vthinker.data.frame_cache"):
        again = _load(ds)
    assert cache.stats.corrupt == 1
    assert any(
        "unreadable entry" in r.getMessage() and str(entry) in r.getMessage()
        for r in caplog.records
    )
    _assert_same_clip(again, good)
    # Overwritten with a good entry: the next read is a hit.
    _assert_same_clip(_load(ds), good)
    assert cache.stats.hits == 1


def test_entry_of_another_clip_is_never_served(video: Path, tmp_path: Path, caplog):
    cache = FrameCache(tmp_path / "c")
    settings = dataclasses.asdict(FrameSampling(num_frames=6))
    key_a = cache.key(video, settings, 0.0, 1.0)
    key_b = cache.key(video, settings, 1.0, 2.0)
    cache.put(key_a, read_frames(video, num_frames=6, start=0.0, end=1.0))
    cache.entry_path(key_b).parent.mkdir(parents=True, exist_ok=True)
    os.replace(cache.entry_path(key_a), cache.entry_path(key_b))
    with caplog.at_level(logging.WARNING, logger="vthinker.data.frame_cache"):
        assert cache.get(key_b) is None
    assert cache.stats.corrupt == 1 and "another clip" in caplog.text


def test_failed_write_warns_and_still_returns_the_clip(video: Path, tmp_path: Path, caplog):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache folder should be")
    ds = VideoQADataset(
        [_sample("s", str(video))], frames=FrameSampling(num_frames=6), frame_cache=blocker
    )
    with caplog.at_level(logging.WARNING, logger="vthinker.data.frame_cache"):
        clip = _load(ds)
    _assert_same_clip(clip, read_frames(video, num_frames=6))
    assert ds.frame_cache is not None and ds.frame_cache.stats.write_errors == 1
    assert "cannot write" in caplog.text
    assert not list(tmp_path.rglob("*.tmp"))


def test_missing_video_is_skipped_with_the_decoder_message(tmp_path: Path):
    ds = VideoQADataset([_sample("gone", str(tmp_path / "nope.mp4"))], frame_cache=tmp_path / "c")
    item = ds[0]
    assert isinstance(item, Skipped) and "file does not exist" in item.reason
    assert not _entries(tmp_path / "c")


def _identity(batch: list) -> list:
    return batch


def test_cache_is_written_and_read_by_dataloader_workers(tmp_path: Path):
    videos = []
    for k in range(3):
        path = tmp_path / f"v{k}.mp4"
        write_video(path, _frames(10 + k), FPS)
        videos.append(path)
    samples = [_sample(f"s{k}", str(p)) for k, p in enumerate(videos)]
    sampling = FrameSampling(num_frames=4)
    cache = FrameCache(tmp_path / "c")
    ds = VideoQADataset(samples, frames=sampling, frame_cache=cache)

    def run() -> list[VideoClip]:
        loader = DataLoader(ds, batch_size=1, num_workers=1, collate_fn=_identity)
        return [batch[0].clip for batch in loader]

    first = run()  # decoded in the worker, written there
    assert len(_entries(tmp_path / "c")) == 3
    for clip, path in zip(first, videos, strict=True):
        _assert_same_clip(clip, read_frames(path, num_frames=4))

    # Poison one entry with a valid but recognisable clip: a worker that reads the cache
    # returns it (a worker that decoded would return the real frames).
    settings = dataclasses.asdict(sampling)
    key = cache.key(videos[1], settings)
    real = read_frames(videos[1], num_frames=4)
    sentinel = dataclasses.replace(real, frames=np.zeros_like(real.frames))
    assert cache.put(key, sentinel)
    second = run()
    assert not second[1].frames.any()
    _assert_same_clip(second[0], first[0])
    _assert_same_clip(second[2], first[2])


def test_datamodule_frame_cache_dir_reaches_the_datasets(video: Path, tmp_path: Path):
    rel = os.path.relpath(video, tmp_path)
    write_jsonl([_sample("a", rel)], tmp_path / "train.jsonl")
    write_jsonl([_sample("b", rel)], tmp_path / "val.jsonl")
    cache_dir = tmp_path / "frame_cache"
    dm = VideoQADataModule(
        train_file=str(tmp_path / "train.jsonl"),
        val_file=str(tmp_path / "val.jsonl"),
        frames=FrameSampling(num_frames=4),
        frame_cache_dir=str(cache_dir),
    )
    dm.connect(object())  # the processor is only used by the collator
    dm.setup("fit")
    for key in ("fit", "val"):
        cache = dm.datasets[key].frame_cache
        assert isinstance(cache, FrameCache) and cache.root == cache_dir
    _load(dm.datasets["fit"])
    assert len(_entries(cache_dir)) == 1
    # Same video and settings from the other split: the entry is shared.
    _load(dm.datasets["val"])
    assert dm.datasets["val"].frame_cache.stats.hits == 1

    plain = VideoQADataModule(train_file=str(tmp_path / "train.jsonl"))
    plain.connect(object())
    plain.setup("fit")
    assert plain.datasets["fit"].frame_cache is None
