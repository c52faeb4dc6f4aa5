"""Benchmarks: frame decoding vs the frame cache, group rollout, SFT and GRPO step times.

Subcommands (each prints a table of figures; ``--json PATH`` also writes them)::

    python tools/bench.py data    [--frames 16 32 64] [--repeats 5] [--max-side N]
    python tools/bench.py rollout [--model-config tiny|7b|7b-mini] [--group-size 8] ...
    python tools/bench.py sft     [--model-config ...] [--mode full|lora|qlora] [--steps 5]
    python tools/bench.py grpo    [--model-config ...] [--mode ...] [--steps 3]

    # The 7B architecture on one GPU (random weights; --model keeps them for the next run):
    python tools/bench.py --json grpo7b.json grpo --model-config 7b --device cuda \
        --mode lora --frames 16 --max-pixels 100352 --group-size 8 --max-new-tokens 768 \
        --model /scratch/qwen2.5-vl-7b-random

* ``data``: writes a synthetic 720p H.264 video (30 s at 30 fps, a key frame every 2 s)
  and times loading a clip of it through `VideoQADataset`, decoding every time (``decode``)
  and from a `FrameCache` (``cache``), for each frame count; medians over ``--repeats``.
  The cache entry is read from the OS page cache (it was just written): a cold disk adds
  ``entry_mb`` / disk bandwidth.
* ``rollout``: completion tokens/s of one batched ``generate`` for all prompts × G
  (``num_return_sequences=G``, as `HFRollout` does) vs the naive loop of G separate
  ``generate`` calls per prompt; same model, prompts and lengths (``min_new_tokens =
  max_new_tokens``), one timed run each after a warm-up.
* ``sft``: a plain loop over the SFT DataModule with `SFTModule`'s loss and AdamW, timed
  as data (next batch, to device) / forward+backward / optimizer (step + zero_grad).
* ``grpo``: `GRPOModule` under a Lightning ``Trainer``; the split is the module's own
  ``time/rollout``, ``time/scoring`` and ``time/update``, plus the data wait between steps.

Models (``--model-config``): ``tiny`` is the project's tiny test model
(`build_tiny_qwen2_5_vl`); ``7b`` is the Qwen2.5-VL-7B architecture (8.29 B parameters)
with random weights, built from the published config values on the device and saved as
a normal HF folder, then loaded through `load_policy` like a real checkpoint; ``7b-mini``
is the same builder at toy width (head dim 128, mrope [16, 24, 24], GQA, windowed vision
blocks) so the 7B code path runs on a CPU. Random-weight models use the tiny model's
tokenizer and processor (the real tokenizer cannot be downloaded here); the vocabulary is
the 7B's 152064 rows (>= the tokenizer). ``--model DIR`` uses an existing folder (a real
checkpoint, or one saved by an earlier run with ``--model DIR``).

**FLOPs and MFU.** ``N`` = all parameters of the model (vision tower and LoRA adapters
included; a 4-bit weight counts as one parameter). Training forward+backward:
``6 × N × tokens`` (tokens = non-padding sequence tokens, text and video placeholders);
GRPO adds ``2 × N × tokens`` for the reference forward when ``beta > 0``. Generation:
``2 × N × completion tokens`` (prompt prefill not counted). The 6N rule ignores the
attention's quadratic term and overstates LoRA's backward (no weight gradients for
frozen weights, ≈ 4N). MFU = FLOPs / time / ``--peak-tflops`` (default 989: H100 SXM
dense bf16); shown on CUDA, or on any device when ``--peak-tflops`` is given.

**Peak memory.** CUDA: ``torch.cuda.max_memory_allocated`` over the measured phase (and
``max_memory_reserved``). CPU: the process's peak RSS (``getrusage``), reset before the
measured phase where Linux allows it (``/proc/self/clear_refs``); otherwise it is the
peak since the process started, as the table says.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vthinker.data.collate import MAX_PIXELS, MIN_PIXELS
from vthinker.models.qwen2_5_vl import (
    ARCHS,
    qwen2_5_vl_config,
)

__all__ = [
    "ARCHS",
    "Figure",
    "Report",
    "bench_data",
    "bench_grpo",
    "bench_rollout",
    "bench_sft",
    "build_random_qwen2_5_vl",
    "count_parameters",
    "main",
    "qwen2_5_vl_config",
    "write_test_video",
]

# --- architectures ---------------------------------------------------------------------------


# Per model config: defaults for the options left unset on the command line.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "device": "cpu",
        "mode": "full",
        "frames": 4,
        "max_pixels": 112 * 112,
        "min_pixels": 56 * 56,
        "video_size": 112,
        "max_new_tokens": 64,
    },
    "7b": {
        "device": "cuda",
        "mode": "lora",
        "frames": 16,
        "max_pixels": MAX_PIXELS,
        "min_pixels": MIN_PIXELS,
        "video_size": 448,
        "max_new_tokens": 768,
    },
}
PRESETS["7b-mini"] = dict(PRESETS["tiny"])

H100_BF16_TFLOPS = 989.0
"""H100 SXM dense bf16 peak (NVIDIA datasheet; 1979 is with 2:4 sparsity)."""


def count_parameters(config: Any) -> int:
    """Parameters of the model a config describes, counted on the meta device (no memory)."""
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    return sum(p.numel() for p in model.parameters())


def build_random_qwen2_5_vl(
    arch_name: str,
    out_dir: str | Path,
    *,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    processor_from: str | Path | None = None,
) -> Path:
    """Save a random-weight Qwen2.5-VL of architecture ``arch_name`` as an HF folder.

    The tokenizer, processor and chat template come from ``processor_from`` (e.g. a
    downloaded Qwen2.5-VL-7B-Instruct folder) or, by default, from a freshly built tiny
    model (`vthinker.models.tiny.build_tiny_qwen2_5_vl`). Weights are initialised on
    ``device`` in ``dtype`` (the 7B in bf16 takes 16.6 GB on disk).
    """
    from transformers import AutoModelForImageTextToText

    from vthinker.models.policy import load_processor
    from vthinker.models.tiny import SPECIAL_TOKENS, build_tiny_qwen2_5_vl

    out = Path(out_dir)
    if processor_from is not None:
        processor = load_processor(str(processor_from))
    else:
        with tempfile.TemporaryDirectory(prefix="bench_tok_") as tmp:
            processor = load_processor(str(build_tiny_qwen2_5_vl(Path(tmp) / "tiny", seed=seed)))
    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = qwen2_5_vl_config(ARCHS[arch_name], ids, len(tok))
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "vthinker_bench.json").write_text(json.dumps({"arch": arch_name, "seed": seed}))
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


# --- figures ---------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured figure: the median of ``samples`` (or a single value)."""

    name: str
    value: float
    unit: str
    samples: list[float] = field(default_factory=list)

    def text(self) -> str:
        v = self.value
        return f"{v:,.0f}" if abs(v) >= 1000 or v.is_integer() else f"{v:.4g}"

    def spread(self) -> str:
        """``min-max, n=k`` of the samples, or empty for a single value."""
        if len(self.samples) <= 1:
            return ""
        return f"{min(self.samples):.4g}-{max(self.samples):.4g}, n={len(self.samples)}"


@dataclass
class Report:
    """Figures of one subcommand run, with its settings and environment."""

    command: str
    settings: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, samples: Sequence[float] = ()) -> None:
        self.figures.append(Figure(name, float(value), unit, [float(s) for s in samples]))

    def add_median(self, name: str, samples: Sequence[float], unit: str) -> float:
        med = statistics.median(samples)
        self.add(name, med, unit, samples)
        return med

    def __getitem__(self, name: str) -> float:
        for f in self.figures:
            if f.name == name:
                return f.value
        raise KeyError(name)

    def table(self) -> str:
        width = max(len(f.name) for f in self.figures) if self.figures else 10
        lines = [f"== bench {self.command} =="]
        lines += [f"  {k}: {v}" for k, v in self.settings.items()]
        units = max((len(f.unit) for f in self.figures), default=4)
        lines.append(f"{'figure':<{width}}  {'value':>12}  {'unit':<{units}}  spread (min-max)")
        for f in self.figures:
            row = f"{f.name:<{width}}  {f.text():>12}  {f.unit:<{units}}  {f.spread()}"
            lines.append(row.rstrip())
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "settings": self.settings,
            "environment": environment(),
            "figures": {
                f.name: {"value": f.value, "unit": f.unit, "samples": f.samples}
                for f in self.figures
            },
            "notes": self.notes,
        }


def environment() -> dict[str, Any]:
    """Versions and hardware the figures were taken on."""
    import transformers

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


# --- timing and memory -----------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak_memory(device: torch.device) -> bool:
    """Reset the peak-memory counter; False when only the since-start peak is available."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:  # Linux >= 4.0: writing 5 resets the peak RSS (VmHWM) of this process.
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _add_peak_memory(report: Report, device: torch.device, was_reset: bool) -> None:
    if device.type == "cuda":
        report.add("peak_cuda_allocated", torch.cuda.max_memory_allocated(device) / 2**30, "GiB")
        report.add("peak_cuda_reserved", torch.cuda.max_memory_reserved(device) / 2**30, "GiB")
        return
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    what = "measured phase" if was_reset else "since process start"
    report.add("peak_rss", rss_mb, f"MiB (process, {what})")


def _mfu(flops: float, seconds: float, peak_tflops: float | None) -> float | None:
    if peak_tflops is None or seconds <= 0:
        return None
    return 100.0 * flops / seconds / (peak_tflops * 1e12)


# --- data ------------------------------------------------------------------------------------


def write_test_video(
    path: str | Path,
    *,
    seconds: float = 30.0,
    fps: float = 30.0,
    width: int = 1280,
    height: int = 720,
    gop: int = 60,
    crf: int = 23,
    preset: str = "veryfast",
) -> Path:
    """Write a synthetic H.264 video frame by frame (never all frames in memory).

    Content: a scrolling noise texture under a moving bright box, so the encoder has real
    motion and texture to code (decoding cost close to camera footage, unlike a flat
    colour). A key frame every ``gop`` frames (60 at 30 fps: 2 s, typical of streaming
    encodes).
    """
    import av

    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for yuv420p, got {width}x{height}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 160, (height, width, 3), dtype=np.uint8)
    ramp = np.linspace(0, 90, width, dtype=np.float32).astype(np.uint8)[None, :, None]
    texture = np.clip(texture.astype(np.int16) + ramp, 0, 255).astype(np.uint8)
    num = max(1, round(seconds * fps))
    box = max(8, min(width, height) // 6)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(100_000))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset, "g": str(gop)}
        for i in range(num):
            frame = np.roll(texture, shift=(i * 3) % width, axis=1)
            x = (i * 7) % max(1, width - box)
            y = (i * 3) % max(1, height - box)
            frame[y : y + box, x : x + box] = (250, 210 - (i % 100), 40)
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def bench_data(
    video: Path,
    frame_counts: Sequence[int],
    repeats: int,
    cache_dir: Path,
    max_side: int | None = None,
) -> Report:
    """Clip loading through `VideoQADataset`: decode every time vs the frame cache."""
    from vthinker.data.collate import FrameSampling, LoadedSample, VideoQADataset
    from vthinker.data.frame_cache import FrameCache
    from vthinker.data.schema import VideoSample
    from vthinker.data.video import video_info

    info = video_info(video)
    report = Report(
        "data",
        {
            "video": f"{info.width}x{info.height}, {info.num_frames} frames at {info.fps:g} fps, "
            f"{video.stat().st_size / 2**20:.1f} MiB",
            "frames": list(frame_counts),
            "repeats": repeats,
            "max_side": max_side,
        },
    )
    sample = VideoSample(id="bench", video=str(video), question="?", answer="A", options=["x"])

    def timed(ds: VideoQADataset) -> float:
        t = time.perf_counter()
        item = ds[0]
        elapsed = time.perf_counter() - t
        if not isinstance(item, LoadedSample):
            raise RuntimeError(f"bench video could not be loaded: {item}")
        return elapsed

    for n in frame_counts:
        sampling = FrameSampling(num_frames=n, max_side=max_side)
        cold = VideoQADataset([sample], frames=sampling)
        cache = FrameCache(cache_dir / f"{n}f")
        cached = VideoQADataset([sample], frames=sampling, frame_cache=cache)
        decode_s = [timed(cold) for _ in range(repeats)]
        fill_s = timed(cached)  # miss: decode + write
        hit_s = [timed(cached) for _ in range(repeats)]
        if cache.stats.hits != repeats or cache.stats.writes != 1:
            raise RuntimeError(f"frame cache did not hit as expected: {cache.stats}")
        d = statistics.median(decode_s)
        h = statistics.median(hit_s)
        report.add_median(f"decode_{n}f_s", decode_s, "s/video")
        report.add(f"decode_{n}f_videos_per_s", 1 / d, "videos/s")
        report.add(f"decode_{n}f_frames_per_s", n / d, "frames/s")
        report.add(f"cache_fill_{n}f_s", fill_s, "s (decode + write)")
        report.add_median(f"cache_{n}f_s", hit_s, "s/video")
        report.add(f"cache_{n}f_videos_per_s", 1 / h, "videos/s")
        report.add(f"cache_{n}f_frames_per_s", n / h, "frames/s")
        report.add(f"cache_{n}f_speedup", d / h, "x")
        entry_bytes = sum(p.stat().st_size for p in (cache_dir / f"{n}f").rglob("*.npz"))
        report.add(f"cache_{n}f_entry_mb", entry_bytes / 2**20, "MiB")
    report.notes.append(
        "cache reads hit the OS page cache (entries were just written); decode reads the "
        "mp4 from the page cache too"
    )
    return report


# --- models and data for the model benchmarks ------------------------------------------------


@dataclass
class ModelSetup:
    """Resolved options shared by the model benchmarks."""

    model_config: str
    model_dir: Path
    toy_dir: Path
    device: torch.device
    dtype: str
    mode: str
    frames: int
    max_pixels: int
    min_pixels: int
    peak_tflops: float | None
    attn: str = "sdpa"
    grad_ckpt: bool = False
    workers: int = 0

    def policy_config(self):
        from vthinker.models.policy import LoraSettings, PolicyConfig

        lora = LoraSettings() if self.mode in ("lora", "qlora") else None
        return PolicyConfig(
            str(self.model_dir),
            dtype=self.dtype,  # type: ignore[arg-type]
            attn_implementation=self.attn,  # type: ignore[arg-type]
            gradient_checkpointing=self.grad_ckpt,
            lora=lora,
            quantization="nf4" if self.mode == "qlora" else None,
        )

    def datamodule(self, batch_size: int, max_length: int = 16384):
        from vthinker.data.collate import FrameSampling
        from vthinker.data.datamodule import VideoQADataModule

        return VideoQADataModule(
            train_file=str(self.toy_dir / "train.jsonl"),
            frames=FrameSampling(num_frames=self.frames),
            max_pixels=self.max_pixels,
            min_pixels=self.min_pixels,
            max_length=max_length,
            batch_size=batch_size,
            num_workers=self.workers,
        )

    def settings(self) -> dict[str, Any]:
        return {
            "model_config": self.model_config,
            "model": str(self.model_dir),
            "device": str(self.device),
            "dtype": self.dtype,
            "mode": self.mode,
            "frames": self.frames,
            "max_pixels": self.max_pixels,
            "min_pixels": self.min_pixels,
            "attn": self.attn,
            "gradient_checkpointing": self.grad_ckpt,
            "workers": self.workers,
        }


def load_model(setup: ModelSetup) -> torch.nn.Module:
    """The policy through `load_policy`; on CUDA the weights load straight onto the GPU."""
    from vthinker.models.policy import load_policy

    cfg = setup.policy_config()
    if setup.device.type == "cuda":  # needed for 4-bit loading, faster for the rest
        return load_policy(cfg, device_map={"": str(setup.device)})
    return load_policy(cfg)


def total_parameters(model: torch.nn.Module, model_dir: Path) -> int:
    """``N`` for the FLOPs: the base model's logical parameters plus LoRA adapters."""
    from transformers import AutoConfig

    base = count_parameters(AutoConfig.from_pretrained(str(model_dir)))
    lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    return base + lora


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def _cycle(loader: Any) -> Iterator[Any]:
    while True:
        yield from loader


def _add_params(report: Report, model: torch.nn.Module, n_total: int) -> None:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    report.add("params_total", n_total, "parameters (N for FLOPs)")
    report.add("params_trainable", trainable, "parameters")


# --- rollout ---------------------------------------------------------------------------------


def bench_rollout(
    setup: ModelSetup, group_size: int, prompts: int, new_tokens: int, vllm: bool = False
) -> Report:
    """Batched group rollout vs the naive loop of G ``generate`` calls (one run each), and
    with ``vllm`` the in-process vLLM engine of `VLLMRollout` on the same prompts, frames and
    token counts (its own environment: ``make vllm-env``)."""
    from vthinker.data.collate import model_inputs
    from vthinker.models.policy import load_processor

    processor = load_processor(str(setup.model_dir))
    model = load_model(setup)
    model.eval()
    dm = setup.datamodule(prompts)
    dm.connect(processor)
    dm.keep_videos = vllm
    dm.setup("fit")
    ds = dm.datasets["fit"]
    batch = dm.collator("generate")([ds[i % len(ds)] for i in range(prompts)])
    inputs = _to_device(model_inputs(batch), setup.device)
    kw = {
        "do_sample": True,
        "max_new_tokens": new_tokens,
        "min_new_tokens": new_tokens,
        "pad_token_id": processor.tokenizer.pad_token_id,
        "use_cache": True,
    }
    sizes = inputs["video_grid_thw"].prod(-1).tolist()

    def one_prompt(i: int) -> dict[str, torch.Tensor]:
        one = {k: v[i : i + 1] for k, v in inputs.items() if k != "pixel_values_videos"}
        start = sum(sizes[:i])
        one["pixel_values_videos"] = inputs["pixel_values_videos"][start : start + sizes[i]]
        return one

    report = Report(
        "rollout",
        {
            **setup.settings(),
            "group_size": group_size,
            "prompts": prompts,
            "new_tokens": new_tokens,
        },
    )
    was_reset = _reset_peak_memory(setup.device)
    with torch.no_grad():
        model.generate(**inputs, **kw, num_return_sequences=group_size)  # warm-up
        _sync(setup.device)
        t = time.perf_counter()
        out = model.generate(**inputs, **kw, num_return_sequences=group_size)
        _sync(setup.device)
        batched = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(prompts):
            one = one_prompt(i)
            for _ in range(group_size):
                model.generate(**one, **kw)
        _sync(setup.device)
        naive = time.perf_counter() - t
    new = out.shape[1] - inputs["input_ids"].shape[1]
    if new != new_tokens:
        raise RuntimeError(f"generate returned {new} new tokens, expected {new_tokens}")
    tokens = prompts * group_size * new_tokens
    n_params = total_parameters(model, setup.model_dir)
    report.add("completion_tokens", tokens, "tokens (prompts x G x new tokens)")
    report.add("prompt_tokens", int(inputs["attention_mask"].sum()), "tokens (all prompts)")
    report.add("batched_s", batched, "s")
    report.add("batched_tokens_per_s", tokens / batched, "tokens/s")
    report.add("naive_s", naive, "s")
    report.add("naive_tokens_per_s", tokens / naive, "tokens/s")
    report.add("speedup", naive / batched, "x (batched over naive)")
    for name, secs in (("batched", batched), ("naive", naive)):
        mfu = _mfu(2 * n_params * tokens, secs, setup.peak_tflops)
        if mfu is not None:
            report.add(f"mfu_{name}", mfu, "% (2 N x completion tokens)")
    report.add("params_total", n_params, "parameters (N for FLOPs)")
    _add_peak_memory(report, setup.device, was_reset)
    if vllm:
        _bench_vllm_rollout(report, setup, processor, batch, group_size, new_tokens, batched)
    return report


def _bench_vllm_rollout(
    report: Report,
    setup: ModelSetup,
    processor: Any,
    batch: dict[str, Any],
    group_size: int,
    new_tokens: int,
    hf_batched_s: float,
) -> None:
    """vLLM's generate for the same prompts x G x tokens (EOS ignored, as min_new_tokens
    makes HF do); the engine is started and warmed first."""
    from vllm import SamplingParams

    from vthinker.training.rollout import RolloutSettings
    from vthinker.training.vllm_rollout import VLLMRollout

    t = time.perf_counter()
    engine = VLLMRollout(dtype=setup.dtype, enforce_eager=setup.device.type == "cpu")
    engine.build(RolloutSettings(max_new_tokens=new_tokens), processor, str(setup.model_dir))
    llm = engine._engine()
    report.add("vllm_start_s", time.perf_counter() - t, "s (engine start)")
    params = SamplingParams(
        n=group_size, temperature=1.0, max_tokens=new_tokens, min_tokens=new_tokens, ignore_eos=True
    )
    requests = engine._requests(batch)
    llm.generate(requests, params, use_tqdm=False)  # warm-up
    t = time.perf_counter()
    outs = llm.generate(requests, params, use_tqdm=False)
    secs = time.perf_counter() - t
    tokens = sum(len(c.token_ids) for o in outs for c in o.outputs)
    if tokens != len(requests) * group_size * new_tokens:
        raise RuntimeError(f"vLLM returned {tokens} tokens, expected the same as HF")
    report.add("vllm_s", secs, "s")
    report.add("vllm_tokens_per_s", tokens / secs, "tokens/s")
    report.add("vllm_speedup", hf_batched_s / secs, "x (vLLM over HF batched, same run)")


# --- SFT -------------------------------------------------------------------------------------


def bench_sft(setup: ModelSetup, batch_size: int, steps: int, warmup: int, lr: float) -> Report:
    """SFT steps: data / forward+backward / optimizer, tokens/s, MFU and peak memory."""
    from vthinker.training.sft import SFTModule

    module = SFTModule(setup.policy_config(), export_hf=False)
    module.model = load_model(setup)
    model = module.policy
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    dm = setup.datamodule(batch_size)
    dm.connect(module.processor)
    dm.setup("fit")
    batches = _cycle(dm.train_dataloader())
    n_params = total_parameters(model, setup.model_dir)
    report = Report(
        "sft",
        {**setup.settings(), "batch_size": batch_size, "steps": steps, "warmup": warmup},
    )
    rows: list[dict[str, float]] = []
    was_reset = _reset_peak_memory(setup.device)
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        batch = _to_device(next(batches), setup.device)
        _sync(setup.device)
        t1 = time.perf_counter()
        loss, n_target = module._loss(batch)
        loss.backward()
        _sync(setup.device)
        t2 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync(setup.device)
        t3 = time.perf_counter()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise RuntimeError(f"SFT loss is {value} at step {step}")
        if step >= warmup:
            rows.append(
                {
                    "data": t1 - t0,
                    "fwd_bwd": t2 - t1,
                    "opt": t3 - t2,
                    "step": t3 - t0,
                    "tokens": float(batch["attention_mask"].sum()),
                    "target": float(n_target),
                }
            )
    col = {k: [r[k] for r in rows] for k in rows[0]}
    step_s = report.add_median("step_s", col["step"], "s")
    report.add_median("data_s", col["data"], "s")
    report.add_median("fwd_bwd_s", col["fwd_bwd"], "s")
    report.add_median("optimizer_s", col["opt"], "s")
    tokens = report.add_median("tokens_per_step", col["tokens"], "tokens (non-padding)")
    report.add_median("target_tokens_per_step", col["target"], "tokens (with loss)")
    report.add("tokens_per_s", tokens / step_s, "tokens/s")
    mfu = _mfu(6 * n_params * tokens, step_s, setup.peak_tflops)
    if mfu is not None:
        report.add("mfu", mfu, "% (6 N x tokens over the whole step)")
    _add_params(report, model, n_params)
    _add_peak_memory(report, setup.device, was_reset)
    return report


# --- GRPO ------------------------------------------------------------------------------------


class _StepRecorder:
    """Lightning callback: per-step times the module logs, the data wait, token counts."""

    def __init__(self, group_size: int, device: torch.device) -> None:
        self.group_size = group_size
        self.device = device
        self.rows: list[dict[str, float]] = []
        self._end = 0.0
        self._start = 0.0
        self.was_reset = False

    def callback(self):
        import lightning as L

        rec = self

        class Recorder(L.Callback):
            def on_train_start(self, trainer: Any, pl_module: Any) -> None:
                rec.was_reset = _reset_peak_memory(rec.device)
                rec._end = time.perf_counter()  # the first step waits for the first batch

            def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
                rec._start = time.perf_counter()

            def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs, batch, i) -> None:
                _sync(rec.device)
                now = time.perf_counter()
                m = trainer.callback_metrics
                if "time/rollout" not in m:  # a step with no usable sample
                    return
                rows = len(batch["samples"]) * rec.group_size
                completion = float(m["train/completion_len_mean"]) * rows
                prompt = float(batch["attention_mask"].sum()) * rec.group_size
                rec.rows.append(
                    {
                        "data": rec._start - rec._end,
                        "step": now - rec._start,
                        "rollout": float(m["time/rollout"]),
                        "scoring": float(m["time/scoring"]),
                        "update": float(m["time/update"]),
                        "completion_tokens": completion,
                        "train_tokens": completion + prompt,
                    }
                )
                rec._end = now

        return Recorder()


def bench_grpo(
    setup: ModelSetup,
    group_size: int,
    prompts: int,
    new_tokens: int,
    steps: int,
    warmup: int,
    micro_batch_size: int | None = None,
    beta: float = 0.04,
    precision: str | None = None,
) -> Report:
    """GRPO steps under a Lightning Trainer: rollout / scoring / update and the data wait.

    ``precision``: the Trainer's (default: ``bf16-mixed`` on CUDA, as the recipes train,
    ``32-true`` on CPU)."""
    import lightning as L

    from vthinker.rewards import AccuracyReward, FormatReward
    from vthinker.training.grpo import GRPOModule, GRPOSettings
    from vthinker.training.rollout import RolloutSettings

    module = GRPOModule(
        setup.policy_config(),
        rewards=[AccuracyReward(), FormatReward()],
        grpo=GRPOSettings(group_size=group_size, beta=beta, micro_batch_size=micro_batch_size),
        rollout=RolloutSettings(max_new_tokens=new_tokens),
        log_completions_every=0,
        export_hf=False,
    )
    recorder = _StepRecorder(group_size, setup.device)
    with tempfile.TemporaryDirectory(prefix="bench_grpo_") as root:
        cuda = setup.device.type == "cuda"
        trainer = L.Trainer(
            accelerator="gpu" if cuda else "cpu",
            devices=1,
            precision=precision or ("bf16-mixed" if cuda else "32-true"),
            max_steps=warmup + steps,
            max_epochs=-1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root,
            callbacks=[recorder.callback()],
        )
        trainer.fit(module, datamodule=setup.datamodule(prompts))
    rows = recorder.rows[warmup:]
    if not rows:
        raise RuntimeError("no GRPO step was recorded (every sample skipped?)")
    n_params = total_parameters(module.policy, setup.model_dir)
    report = Report(
        "grpo",
        {
            **setup.settings(),
            "group_size": group_size,
            "prompts": prompts,
            "max_new_tokens": new_tokens,
            "beta": beta,
            "micro_batch_size": micro_batch_size,
            "precision": trainer.precision,
            "steps": steps,
            "warmup": warmup,
        },
    )
    col = {k: [r[k] for r in rows] for k in rows[0]}
    step_s = report.add_median("step_s", col["step"], "s")
    report.add_median("data_s", col["data"], "s (wait for the next batch)")
    rollout_s = report.add_median("rollout_s", col["rollout"], "s")
    report.add_median("scoring_s", col["scoring"], "s")
    update_s = report.add_median("update_s", col["update"], "s")
    completion = report.add_median("completion_tokens_per_step", col["completion_tokens"], "tokens")
    train_tokens = report.add_median("train_tokens_per_step", col["train_tokens"], "tokens")
    report.add("rollout_tokens_per_s", completion / rollout_s, "completion tokens/s")
    report.add("update_tokens_per_s", train_tokens / update_s, "tokens/s (prompt + completion)")
    gen_flops = 2 * n_params * completion
    upd_flops = (6 + (2 if beta > 0 else 0)) * n_params * train_tokens
    for name, flops, secs, how in (
        ("mfu_rollout", gen_flops, rollout_s, "2 N x completion tokens"),
        ("mfu_update", upd_flops, update_s, "(6 + 2 ref) N x tokens"),
        ("mfu_step", gen_flops + upd_flops, step_s, "both, over the whole step"),
    ):
        mfu = _mfu(flops, secs, setup.peak_tflops)
        if mfu is not None:
            report.add(name, mfu, f"% ({how})")
    _add_params(report, module.policy, n_params)
    _add_peak_memory(report, setup.device, recorder.was_reset)
    return report


# --- command line ----------------------------------------------------------------------------


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and data")
    g.add_argument(
        "--model-config",
        choices=["tiny", *ARCHS],
        default="tiny",
        help="tiny / 7b-mini: CPU defaults (full FT, 4 frames, 112x112 px, 64 new tokens); "
        "7b: CUDA defaults (LoRA, 16 frames, 100352 px, 768 new tokens, bf16)",
    )
    g.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model folder: used if it holds config.json, else the random model is built there",
    )
    g.add_argument("--toy", type=Path, default=None, help="toy dataset folder (built if absent)")
    g.add_argument(
        "--processor",
        type=Path,
        default=None,
        help="processor (tokenizer) folder for a random model (default: the tiny model's)",
    )
    g.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: preset")
    g.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default=None,
        help="default: bfloat16 on CUDA, float32 on CPU",
    )
    g.add_argument(
        "--mode",
        choices=["full", "lora", "qlora"],
        default=None,
        help="full fine-tuning, LoRA (r 64) or QLoRA (nf4 base, CUDA only); default: preset",
    )
    g.add_argument("--attn", choices=["sdpa", "eager", "flash_attention_2"], default="sdpa")
    g.add_argument("--grad-ckpt", action="store_true", help="gradient checkpointing")
    g.add_argument("--frames", type=int, default=None, help="frames per video")
    g.add_argument("--max-pixels", type=int, default=None, help="pixels per frame, at most")
    g.add_argument("--min-pixels", type=int, default=None, help="pixels per frame, at least")
    g.add_argument("--video-size", type=int, default=None, help="toy video side (pixels)")
    g.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    g.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help=f"peak TFLOP/s for MFU (default on CUDA: {H100_BF16_TFLOPS:g}, H100 SXM bf16)",
    )
    g.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench.py", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    sub = parser.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="frame decoding vs the frame cache")
    d.add_argument("--frames", type=int, nargs="+", default=[16, 32, 64])
    d.add_argument("--repeats", type=int, default=5)
    d.add_argument("--seconds", type=float, default=30.0)
    d.add_argument("--fps", type=float, default=30.0)
    d.add_argument("--width", type=int, default=1280)
    d.add_argument("--height", type=int, default=720)
    d.add_argument("--gop", type=int, default=60, help="frames between key frames")
    d.add_argument("--max-side", type=int, default=None, help="FrameSampling.max_side")
    d.add_argument("--video", type=Path, default=None, help="use this video instead")

    r = sub.add_parser("rollout", help="batched group rollout vs a loop of generate calls")
    _model_args(r)
    r.add_argument("--group-size", type=int, default=8)
    r.add_argument("--prompts", type=int, default=2)
    r.add_argument("--max-new-tokens", type=int, default=None, help="default: preset")
    r.add_argument("--vllm", action="store_true", help="also time vLLM (its own venv)")

    s = sub.add_parser("sft", help="SFT step split, tokens/s, MFU, peak memory")
    _model_args(s)
    s.add_argument("--batch-size", type=int, default=4)
    s.add_argument("--steps", type=int, default=5)
    s.add_argument("--warmup", type=int, default=1)
    s.add_argument("--lr", type=float, default=1e-5)

    g = sub.add_parser("grpo", help="GRPO step split, tokens/s, MFU, peak memory")
    _model_args(g)
    g.add_argument("--group-size", type=int, default=8)
    g.add_argument("--prompts", type=int, default=2)
    g.add_argument("--max-new-tokens", type=int, default=None, help="default: preset")
    g.add_argument("--steps", type=int, default=3)
    g.add_argument("--warmup", type=int, default=1)
    g.add_argument("--micro-batch-size", type=int, default=None)
    g.add_argument("--beta", type=float, default=0.04)
    g.add_argument(
        "--precision", default=None, help="Trainer precision (default: bf16-mixed on CUDA)"
    )
    return parser


def _prepare(args: argparse.Namespace, tmp: Path) -> ModelSetup:
    """Resolve presets, then build (or reuse) the model folder and the toy data."""
    from vthinker.data.toy import make_toy_dataset
    from vthinker.models.tiny import build_tiny_qwen2_5_vl

    preset = PRESETS[args.model_config]
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but no CUDA device is visible")
    if args.device == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    if args.mode == "qlora" and device.type != "cuda":
        raise SystemExit("--mode qlora needs --device cuda (bitsandbytes 4-bit)")
    dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    peak = args.peak_tflops
    if peak is None and device.type == "cuda":
        peak = H100_BF16_TFLOPS
    torch.manual_seed(args.seed)

    model_dir = args.model
    if model_dir is None or not (model_dir / "config.json").is_file():
        model_dir = model_dir or tmp / f"model-{args.model_config}"
        t = time.perf_counter()
        if args.model_config == "tiny":
            # vLLM's CPU attention needs a text head_dim >= 32: hidden 128 (4 heads).
            hidden = 128 if getattr(args, "vllm", False) else None
            build_tiny_qwen2_5_vl(
                model_dir, seed=args.seed, **({"hidden_size": hidden} if hidden else {})
            )
        else:
            build_random_qwen2_5_vl(
                args.model_config,
                model_dir,
                device=str(device),
                dtype=getattr(torch, dtype),
                seed=args.seed,
                processor_from=args.processor,
            )
        print(f"built {args.model_config} model in {model_dir} ({time.perf_counter() - t:.1f} s)")
    toy = args.toy
    if toy is None or not (toy / "train.jsonl").is_file():
        toy = toy or tmp / "toy"
        make_toy_dataset(toy, num_videos=10, size=args.video_size, seed=args.seed)
    return ModelSetup(
        model_config=args.model_config,
        model_dir=Path(model_dir),
        toy_dir=Path(toy),
        device=device,
        dtype=dtype,
        mode=args.mode,
        frames=args.frames,
        max_pixels=args.max_pixels,
        min_pixels=args.min_pixels,
        peak_tflops=peak,
        attn=args.attn,
        grad_ckpt=args.grad_ckpt,
        workers=args.workers,
    )


def _oom_errors() -> tuple[type[BaseException], ...]:
    return (torch.cuda.OutOfMemoryError,) if hasattr(torch.cuda, "OutOfMemoryError") else ()


def run(args: argparse.Namespace) -> Report:
    """Run one subcommand; temporary assets are removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="vthinker_bench_"))
    try:
        if args.command == "data":
            video = args.video
            if video is None:
                t = time.perf_counter()
                video = write_test_video(
                    tmp / "bench.mp4",
                    seconds=args.seconds,
                    fps=args.fps,
                    width=args.width,
                    height=args.height,
                    gop=args.gop,
                )
                print(f"wrote test video {video} ({time.perf_counter() - t:.1f} s)")
            return bench_data(video, args.frames, args.repeats, tmp / "cache", args.max_side)
        setup = _prepare(args, tmp)
        jobs: dict[str, Callable[[], Report]] = {
            "rollout": lambda: bench_rollout(
                setup, args.group_size, args.prompts, args.max_new_tokens, args.vllm
            ),
            "sft": lambda: bench_sft(setup, args.batch_size, args.steps, args.warmup, args.lr),
            "grpo": lambda: bench_grpo(
                setup,
                args.group_size,
                args.prompts,
                args.max_new_tokens,
                args.steps,
                args.warmup,
                args.micro_batch_size,
                args.beta,
                args.precision,
            ),
        }
        try:
            return jobs[args.command]()
        except _oom_errors() as err:
            report = Report(args.command, setup.settings())
            report.add("out_of_memory", 1, "(the run did not fit)")
            report.notes.append(f"CUDA out of memory: {str(err).splitlines()[0]}")
            return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> Report:
    """Command line entry point; returns the report (for tests)."""
    args = build_parser().parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # library chatter stays off the table
        report = run(args)
    print(report.table())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
