"""Tests for `vthinker.data.video`: frame-sampling math, exact decoding, clear errors."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from vthinker.data import video as video_mod
from vthinker.data.toy import write_video
from vthinker.data.video import (
    VideoClip,
    VideoDecodeError,
    frame_window,
    num_sampled_frames,
    read_frames,
    sample_indices,
    video_info,
)

# --- sample_indices: hand-computed cases ----------------------------------------------------


def test_fixed_num_frames_spans_first_to_last():
    # linspace(0, 9, 4) = 0, 3, 6, 9
    assert sample_indices(10, 1.0, num_frames=4).tolist() == [0, 3, 6, 9]
    # linspace(0, 99, 5) = 0, 24.75, 49.5, 74.25, 99 -> round half to even: 49.5 -> 50
    assert sample_indices(100, 10.0, num_frames=5).tolist() == [0, 25, 50, 74, 99]


def test_fixed_num_frames_is_not_rounded_to_even_and_ignores_fps_bounds():
    # 3 frames is below min_frames and odd; an explicit count is taken as it is.
    assert sample_indices(100, 10.0, num_frames=3).tolist() == [0, 50, 99]
    assert sample_indices(100, 10.0, num_frames=1).tolist() == [0]


def test_fixed_num_frames_capped_at_available_frames():
    assert sample_indices(3, 30.0, num_frames=8).tolist() == [0, 1, 2]


def test_fps_sampling_clamped_up_to_min_frames():
    # 1 s at 10 fps, 2 fps -> 2 frames -> raised to min_frames=4: linspace(0, 9, 4)
    assert sample_indices(10, 10.0, fps=2.0).tolist() == [0, 3, 6, 9]


def test_fps_sampling_clamped_down_to_max_frames():
    # 10 s at 30 fps, 2 fps -> 20 frames -> max 16; linspace(0, 299, 16) steps by 19.933
    expected = [0, 20, 40, 60, 80, 100, 120, 140, 159, 179, 199, 219, 239, 259, 279, 299]
    assert sample_indices(300, 30.0, fps=2.0).tolist() == expected


def test_fps_sampling_exact_rate():
    # 4 s at 10 fps, 2 fps -> 8 frames; linspace(0, 39, 8) steps by 5.571
    assert sample_indices(40, 10.0, fps=2.0).tolist() == [0, 6, 11, 17, 22, 28, 33, 39]


def test_fps_sampling_rounds_down_to_even():
    # 3.5 s at 10 fps, 2 fps -> 7 frames -> 6; linspace(0, 34, 6) = 0, 6.8, 13.6, 20.4, 27.2, 34
    assert sample_indices(35, 10.0, fps=2.0).tolist() == [0, 7, 14, 20, 27, 34]
    # a fractional count rounds down too: 3.7 s * 2 fps = 7.4 -> 6
    assert num_sampled_frames(37, 10.0, fps=2.0) == 6


def test_fps_sampling_capped_at_available_frames_then_even():
    # 5 frames at 1 fps, 2 fps -> 10 frames wanted, only 5 exist -> 5 -> even 4
    assert sample_indices(5, 1.0, fps=2.0).tolist() == [0, 1, 3, 4]


def test_count_rules_at_the_edges():
    assert num_sampled_frames(1, 10.0) == 1  # a one-frame window gives its one frame
    assert num_sampled_frames(3, 10.0) == 2  # 3 available -> even 2
    assert num_sampled_frames(100, 10.0, max_frames=1, min_frames=1) == 1
    assert num_sampled_frames(1000, 10.0, fps=0.01, min_frames=1, max_frames=16) == 1
    assert num_sampled_frames(1000, 10.0, max_frames=64) == 64
    # odd bounds bound the count before the rounding to even
    assert num_sampled_frames(1000, 10.0, fps=0.01, min_frames=5, max_frames=16) == 4


def test_window_selects_frames_shown_during_start_end():
    # frames 20..49 (3 s) -> 6 frames; linspace(20, 49, 6) steps by 5.8
    assert frame_window(100, 10.0, 2.0, 5.0) == (20, 49)
    assert sample_indices(100, 10.0, start=2.0, end=5.0).tolist() == [20, 26, 32, 37, 43, 49]
    # unaligned bounds: frame 20 is shown during [2.0, 2.1), frame 49 during [4.9, 5.0)
    assert frame_window(100, 10.0, 2.05, 4.96) == (20, 49)
    # only start / only end
    assert frame_window(100, 10.0, 7.0, None) == (70, 99)
    assert frame_window(100, 10.0, None, 1.0) == (0, 9)
    # a window inside one frame interval gives that frame
    assert sample_indices(100, 10.0, start=2.0, end=2.05).tolist() == [20]


def test_window_with_fixed_num_frames_and_float_fps():
    fps = 30000 / 1001  # 29.97
    first, last = frame_window(300, fps, 1.0, 2.0)
    assert (first, last) == (29, 59)  # 1.0 s * 29.97 = 29.97 -> frame 29; 2.0 s -> 59.94 -> 59
    assert sample_indices(300, fps, num_frames=3, start=1.0, end=2.0).tolist() == [29, 44, 59]


def test_end_just_past_the_end_is_clamped_further_is_an_error():
    assert frame_window(100, 10.0, 9.0, 10.05) == (90, 99)
    with pytest.raises(ValueError, match="past the end"):
        frame_window(100, 10.0, 9.0, 10.5)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (-1.0, None, "negative"),
        (10.0, None, "not before the end"),
        (12.0, 13.0, "not before the end"),
        (5.0, 5.0, "not after start"),
        (5.0, 4.0, "not after start"),
        (float("nan"), None, "finite"),
        (None, float("inf"), "finite"),
    ],
)
def test_bad_windows_raise_value_error(start, end, message):
    with pytest.raises(ValueError, match=message):
        sample_indices(100, 10.0, start=start, end=end)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_frames": 0},
        {"fps": 0.0},
        {"fps": -2.0},
        {"min_frames": 0},
        {"min_frames": 8, "max_frames": 4},
    ],
)
def test_bad_sampling_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        sample_indices(100, 10.0, **kwargs)


def test_bad_file_metadata_raises_value_error():
    with pytest.raises(ValueError, match="total_frames"):
        sample_indices(0, 10.0)
    with pytest.raises(ValueError, match="native_fps"):
        sample_indices(10, 0.0)


def test_indices_strictly_increasing_and_cover_the_window():
    for total in range(1, 80):
        for n in range(1, total + 1):
            idx = sample_indices(total, 8.0, num_frames=n)
            assert len(idx) == n and idx.dtype == np.int64
            assert np.all(np.diff(idx) > 0)
            assert idx[0] == 0 and (n == 1 or idx[-1] == total - 1)


def test_sample_fps_definition():
    def clip(indices: list[int], fps: float) -> VideoClip:
        idx = np.array(indices, dtype=np.int64)
        return VideoClip(
            frames=np.zeros((len(idx), 2, 2, 3), np.uint8),
            timestamps=idx / fps,
            fps=fps,
            duration=10.0,
            indices=idx,
        )

    # 16 frames over all 300 frames of a 30 fps video: 16 / 10 s
    assert clip(sample_indices(300, 30.0).tolist(), 30.0).sample_fps == pytest.approx(1.6)
    # frames 20..49 (3 s), 6 frames -> 2 fps
    assert clip([20, 26, 32, 37, 43, 49], 10.0).sample_fps == pytest.approx(2.0)
    assert clip([7], 25.0).sample_fps == 25.0


# --- decoding real files ----------------------------------------------------------------------

STEP, OFFSET = 5, 10  # frame i is a flat grey of value OFFSET + STEP * i


def _index_video(path: Path, num_frames: int, fps: float) -> Path:
    frames = np.empty((num_frames, 48, 64, 3), dtype=np.uint8)
    for i in range(num_frames):
        frames[i] = OFFSET + STEP * i
    write_video(path, frames, fps)
    return path


def _decoded_indices(clip: VideoClip) -> np.ndarray:
    means = clip.frames.reshape(clip.num_frames, -1).mean(axis=1)
    return np.rint((means - OFFSET) / STEP).astype(np.int64)


@pytest.fixture(scope="module")
def index_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s at 10 fps, 40 frames whose brightness encodes their index."""
    return _index_video(tmp_path_factory.mktemp("video") / "index.mp4", 40, 10.0)


def test_read_frames_returns_the_frames_at_their_timestamps(index_video: Path):
    clip = read_frames(index_video)
    assert clip.fps == 10.0
    assert clip.duration == 4.0
    assert clip.indices.tolist() == [0, 6, 11, 17, 22, 28, 33, 39]
    np.testing.assert_array_equal(clip.timestamps, clip.indices / 10.0)
    assert clip.timestamps.dtype == np.float64 and clip.indices.dtype == np.int64
    assert clip.frames.shape == (8, 48, 64, 3) and clip.frames.dtype == np.uint8
    np.testing.assert_array_equal(_decoded_indices(clip), clip.indices)
    assert clip.sample_fps == pytest.approx(2.0)


def test_read_frames_fixed_count_and_window(index_video: Path):
    clip = read_frames(index_video, num_frames=5)
    assert clip.indices.tolist() == [0, 10, 20, 29, 39]  # linspace(0, 39, 5)
    np.testing.assert_array_equal(_decoded_indices(clip), clip.indices)

    # 1.0-3.0 s: frames 10..29, 2 s at 2 fps -> 4 frames; linspace(10, 29, 4)
    clip = read_frames(index_video, start=1.0, end=3.0)
    assert clip.indices.tolist() == [10, 16, 23, 29]
    np.testing.assert_allclose(clip.timestamps, [1.0, 1.6, 2.3, 2.9])
    assert clip.duration == 4.0  # the file's duration, not the window's
    np.testing.assert_array_equal(_decoded_indices(clip), clip.indices)
    assert clip.sample_fps == pytest.approx(2.0)

    # every frame of a window
    clip = read_frames(index_video, num_frames=1000, start=3.5)
    assert clip.indices.tolist() == list(range(35, 40))
    np.testing.assert_array_equal(_decoded_indices(clip), clip.indices)


def test_read_frames_non_integer_fps(tmp_path: Path):
    fps = 30000 / 1001
    path = _index_video(tmp_path / "ntsc.mp4", 30, fps)
    clip = read_frames(path, num_frames=30)
    assert clip.fps == pytest.approx(fps, rel=1e-9)
    assert clip.duration == pytest.approx(30 / fps, rel=1e-9)
    np.testing.assert_allclose(clip.timestamps, np.arange(30) / fps, rtol=1e-9)
    np.testing.assert_array_equal(_decoded_indices(clip), np.arange(30))


def test_video_info(index_video: Path):
    info = video_info(index_video)
    assert (info.num_frames, info.fps, info.width, info.height) == (40, 10.0, 64, 48)
    assert info.duration == 4.0
    assert info.path == str(index_video)


def test_bad_window_names_the_file(index_video: Path):
    with pytest.raises(ValueError, match="not after start") as err:
        read_frames(index_video, start=3.0, end=2.0)
    assert str(index_video) in str(err.value)
    with pytest.raises(ValueError, match="past the end") as err:
        read_frames(index_video, start=1.0, end=60.0)
    assert str(index_video) in str(err.value)
    with pytest.raises(ValueError, match="negative"):
        read_frames(index_video, start=-0.5)


# --- broken files -------------------------------------------------------------------------------


def _expect_decode_error(path: Path, reason: str | None = None) -> VideoDecodeError:
    with pytest.raises(VideoDecodeError) as err:
        read_frames(path)
    assert str(path) in str(err.value)
    assert err.value.path == str(path)
    if reason is not None:
        assert reason in str(err.value)
    with pytest.raises(VideoDecodeError):
        video_info(path)
    return err.value


def test_missing_and_empty_files_fail_before_decord(tmp_path: Path, monkeypatch):
    def no_decord():
        raise AssertionError("decord must not be touched for these files")

    monkeypatch.setattr(video_mod, "_decord", no_decord)
    _expect_decode_error(tmp_path / "missing.mp4", "does not exist")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _expect_decode_error(empty, "empty (0 bytes)")
    _expect_decode_error(tmp_path, "not a regular file")


def test_decode_error_pickles():
    err = pickle.loads(pickle.dumps(VideoDecodeError("/data/v.mp4", "file is empty (0 bytes)")))
    assert isinstance(err, VideoDecodeError)
    assert err.path == "/data/v.mp4" and err.reason == "file is empty (0 bytes)"
    assert str(err) == "cannot read video /data/v.mp4: file is empty (0 bytes)"


def test_garbage_bytes(tmp_path: Path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _expect_decode_error(path, "not a readable video")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    _expect_decode_error(text)


def test_truncated_mp4(tmp_path: Path, index_video: Path):
    data = index_video.read_bytes()
    for fraction in (0.1, 0.5, 0.95):
        path = tmp_path / f"truncated_{fraction}.mp4"
        path.write_bytes(data[: int(len(data) * fraction)])
        _expect_decode_error(path)


def test_corrupt_frame_data(tmp_path: Path, index_video: Path):
    # A valid container (moov intact) whose compressed frames are all zero bytes.
    data = bytearray(index_video.read_bytes())
    mdat = data.find(b"mdat")
    size = struct.unpack(">I", data[mdat - 4 : mdat])[0]
    data[mdat + 4 : mdat - 4 + size] = bytes(size - 8)
    path = tmp_path / "zeroed.mp4"
    path.write_bytes(bytes(data))
    _expect_decode_error(path)


def test_file_without_video_stream(tmp_path: Path):
    import av

    path = tmp_path / "audio_only.mp4"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    _expect_decode_error(path)
