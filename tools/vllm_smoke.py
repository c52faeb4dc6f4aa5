"""Smoke check of the vLLM (CPU) venv that ``make vllm-env`` builds: a video rollout.

Run it with that venv's Python::

    .venv-vllm/bin/python tools/vllm_smoke.py [--out outputs/vllm-smoke]

It builds the project's tiny random Qwen2.5-VL with a text head dim of 32 (vLLM's CPU
attention supports head sizes 32, 64, 80 and up; the default tiny model has 16), writes a few
toy videos with the project's toy data generator, samples frames with the project's reader,
prompts with the project's prompt template, and has an in-process ``vllm.LLM`` sample
``n`` completions with the sampled tokens' log-probs (``logprobs=0``). It prints the versions,
each completion and the timings, and exits non-zero if a completion lacks a log-prob per
token.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# vLLM on CPU (docs/vllm.md): a 1 GiB KV cache instead of
# ~14 GiB, no thread pinning (shared machines), and the engine in this process.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/vllm-smoke", help="work folder")
    parser.add_argument("--n", type=int, default=4, help="completions per prompt")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--frames", type=int, default=8, help="frames sampled from the video")
    parser.add_argument("--warm-runs", type=int, default=3, help="timed warm generate calls")
    args = parser.parse_args(argv)

    t = {}
    start = time.perf_counter()
    import torch
    import torchvision
    import transformers
    import vllm
    from vllm import LLM, SamplingParams

    from vthinker.data.prompts import PromptTemplate
    from vthinker.data.schema import read_jsonl
    from vthinker.data.toy.dataset import make_toy_dataset
    from vthinker.data.video import read_frames
    from vthinker.models.tiny import build_tiny_qwen2_5_vl

    t["imports"] = time.perf_counter() - start
    print(
        f"vllm {vllm.__version__}, torch {torch.__version__}, torchvision "
        f"{torchvision.__version__} (compiled ops: {torchvision.extension._has_ops()}), "
        f"transformers {transformers.__version__}"
    )

    out = Path(args.out)
    tick = time.perf_counter()
    model_dir = build_tiny_qwen2_5_vl(out / "tiny-qwen2.5-vl-128", hidden_size=128)
    t["make_tiny"] = time.perf_counter() - tick

    tick = time.perf_counter()
    make_toy_dataset(
        out / "toy",
        num_videos=3,
        questions_per_video=1,
        val_fraction=0,
        test_fraction=0,
        overwrite=True,
    )
    sample = read_jsonl(out / "toy" / "train.jsonl")[0]
    clip = read_frames(out / "toy" / sample.video, num_frames=args.frames)
    t["toy_video"] = time.perf_counter() - tick

    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    prompt = processor.apply_chat_template(
        PromptTemplate().messages(sample, duration=clip.duration),
        tokenize=False,
        add_generation_prompt=True,
    )
    # As the training collate does: the sampled frames' rate, so that Qwen2.5-VL's rope
    # spaces them by their real distance; frames are already sampled.
    metadata = {
        "fps": clip.sample_fps,
        "duration": clip.duration,
        "total_num_frames": clip.num_frames,
        "frames_indices": list(range(clip.num_frames)),
        "video_backend": "decord",
        "do_sample_frames": False,
    }
    request = {"prompt": prompt, "multi_modal_data": {"video": (clip.frames, metadata)}}
    print(f"video {sample.video}: frames {tuple(clip.frames.shape)} at {clip.sample_fps:.2f} fps")

    tick = time.perf_counter()
    llm = LLM(
        model=str(model_dir),
        dtype="float32",
        max_model_len=4096,
        limit_mm_per_prompt={"image": 0, "video": 1},
        enforce_eager=True,
        seed=0,
    )
    t["llm_init"] = time.perf_counter() - tick

    params = SamplingParams(n=args.n, temperature=1.0, max_tokens=args.max_tokens, logprobs=0)
    tick = time.perf_counter()
    result = llm.generate([request], params, use_tqdm=False)[0]
    t["generate_first"] = time.perf_counter() - tick
    # Warm calls: 2 prompts x n each, timed several times (the machine is shared).
    for k in range(args.warm_runs):
        tick = time.perf_counter()
        llm.generate([request, request], params, use_tqdm=False)
        t[f"generate_warm_2x{args.n}_{k}"] = time.perf_counter() - tick

    print(f"prompt tokens: {len(result.prompt_token_ids)}")
    steps = [len(c.logprobs or []) for c in result.outputs]
    entries = {len(step) for c in result.outputs for step in c.logprobs or []}
    print(
        f"logprobs: {len(result.outputs)} completions x {steps} steps, "
        f"{sorted(entries)} entry per step (the sampled token)"
    )
    ok = len(result.outputs) == args.n and entries == {1}
    for i, completion in enumerate(result.outputs):
        ids = list(completion.token_ids)
        lps = [step[tok].logprob for step, tok in zip(completion.logprobs or [], ids, strict=False)]
        ok = ok and len(lps) == len(ids) > 0
        print(
            f"[{i}] {len(ids)} tokens, logprobs {len(lps)} (sum {sum(lps):.3f}), "
            f"finish {completion.finish_reason}: {completion.text!r}"
        )
    t["total"] = time.perf_counter() - start
    print("timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in t.items()))
    print("vllm smoke: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
