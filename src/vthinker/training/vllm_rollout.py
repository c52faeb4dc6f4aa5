"""GRPO rollouts sampled with vLLM, colocated in the training process.

Switch a GRPO config to it with one line, ``model.init_args.engine:
vthinker.training.vllm_rollout.VLLMRollout`` (install: ``pip install 'vthinker[vllm]'`` on a
GPU machine; on CPU, ``make vllm-env``).

What it does, per rollout batch:

1. The first call starts an in-process ``vllm.LLM`` on the policy's model folder (an adapter
   folder: its base) and pushes the current weights into it; after every optimizer step
   (`weights_updated`) the next call pushes them again (`vthinker.models.weights.merged_weights`:
   LoRA merged out of place) and resets vLLM's prefix, encoder and multimodal caches, whose
   entries were computed with the old weights.
2. Each prompt goes to vLLM as the chat text with the decoded frames the DataModule already
   sampled and their timing (fps, duration), and the same pixel budget, so vLLM's processor
   builds the same tokens and rotary positions as training does; the prompt token ids vLLM
   made are checked against the batch's (a mismatch is an error, not a silent drift).
3. ``n = G`` completions per prompt are sampled with the rollout settings (temperature,
   top_p, top_k, max_new_tokens, stop strings; vision placeholder tokens are never sampled),
   with the log-probs of the sampled tokens after temperature (``logprobs_mode=
   "processed_logprobs"``), and returned as a `Trajectory` whose ``sampler_logp`` feeds the
   sampler correction of the loss (`vthinker.training.losses.sampler_correction`).

The frozen vision tower's output (``video_features``) is kept in the trajectory for
scoring, as with the HF rollout; vLLM encodes the video once per prompt for its ``n``
samples. Not supported (clear errors): FSDP-sharded policies (each rank would need the full
weights gathered), 4-bit (QLoRA) bases, image prompts. vLLM's sleep mode (freeing its
memory while the policy trains, GPU only) is not wired yet.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from vthinker.data.collate import model_inputs
from vthinker.models.policy import is_sharded
from vthinker.models.weights import base_model_path, merged_weights
from vthinker.training.rollout import (
    Rollout,
    RolloutEngine,
    RolloutSettings,
    Trajectory,
    group_trajectory,
    vision_token_ids,
)

__all__ = ["VLLMRollout", "pad_rows"]

# In-process engine, a small KV cache and no thread pinning on CPU (vLLM's defaults reserve
# ~14 GiB and pin threads); set before vLLM is imported, kept when the user set them.
_CPU_ENV = {
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
}


class VLLMRollout(RolloutEngine):
    """Group rollouts with an in-process vLLM engine (module docstring).

    Args:
        dtype: Engine weight dtype (``auto``: the model config's; ``float32`` on CPU tests).
        gpu_memory_utilization: Share of GPU memory vLLM may take (KV cache included).
        max_model_len: Longest prompt + completion (None: the model's).
        enforce_eager: No CUDA graphs (slower, less memory, faster start).
        seed: Engine seed; each batch also draws a request seed from torch's generator, so
            ``seed_everything`` makes the rollouts reproducible.
        suppress_vision_tokens: Never sample a vision placeholder (``<|video_pad|>`` …), as
            the HF rollout does (one would be read as a video slot when scored). The reported
            log-probs are then those of the distribution without them (slightly above the
            policy's; the sampler correction accounts for it).
    """

    needs_videos = True

    def __init__(
        self,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.3,
        max_model_len: int | None = None,
        enforce_eager: bool = False,
        seed: int = 0,
        suppress_vision_tokens: bool = True,
    ) -> None:
        self.dtype = dtype
        self.gpu_memory_utilization = gpu_memory_utilization
        self.max_model_len = max_model_len
        self.enforce_eager = enforce_eager
        self.seed = seed
        self.suppress_vision_tokens = suppress_vision_tokens
        self.llm: Any = None
        self.settings: RolloutSettings | None = None
        self.processor: Any = None
        self.model_path: str | None = None
        self._stale = True  # the engine's weights are not the policy's yet
        self.pushes = 0

    def __getstate__(self) -> dict[str, Any]:
        # Checkpoints pickle the module's hyperparameters, this object among them: never the
        # engine (a new process starts its own and pushes the weights first).
        return {**self.__dict__, "llm": None, "_stale": True}

    def build(self, settings: RolloutSettings, processor: Any, model_path: str) -> Rollout:
        self.settings, self.processor = settings, processor
        self.model_path = base_model_path(model_path)
        return self

    def weights_updated(self) -> None:
        self._stale = True

    # --- the engine ------------------------------------------------------------------------

    def _engine(self) -> Any:
        if self.llm is None:
            for key, value in _CPU_ENV.items():
                os.environ.setdefault(key, value)
            try:
                from vllm import LLM
            except ImportError as err:
                raise ImportError(
                    "VLLMRollout needs vLLM: pip install 'vthinker[vllm]' (GPU) or "
                    "`make vllm-env` (CPU)"
                ) from err
            kwargs: dict[str, Any] = {
                "model": self.model_path,
                "dtype": self.dtype,
                "enforce_eager": self.enforce_eager,
                "seed": self.seed,
                "limit_mm_per_prompt": {"image": 0, "video": 1},
                "logprobs_mode": "processed_logprobs",
            }
            if torch.cuda.is_available():
                kwargs["gpu_memory_utilization"] = self.gpu_memory_utilization
            if self.max_model_len is not None:
                kwargs["max_model_len"] = self.max_model_len
            self.llm = LLM(**kwargs)
        return self.llm

    def push_weights(self, model: nn.Module) -> None:
        """Load the policy's current weights into the engine and drop its caches."""
        llm = self._engine()
        worker = llm.llm_engine.model_executor.driver_worker.worker
        worker.reload_weights(weights_iterator=merged_weights(model), is_checkpoint_format=True)
        llm.reset_prefix_cache()
        llm.llm_engine.reset_encoder_cache()
        llm.reset_mm_cache()
        self._stale = False
        self.pushes += 1

    # --- sampling ---------------------------------------------------------------------------

    def _requests(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        if "videos" not in batch:
            raise ValueError(
                "VLLMRollout needs the decoded frames in the batch: use a VideoQADataModule "
                "(the GRPO module sets its keep_videos)"
            )
        if "pixel_values" in batch:
            raise ValueError("VLLMRollout samples video (or text) prompts, not images")
        size = batch["video_size"]
        return [
            {
                "prompt": text,
                "multi_modal_data": {
                    "video": (
                        frames,
                        {**meta, "video_backend": "decord", "do_sample_frames": False},
                    )
                },
                "mm_processor_kwargs": {"size": size},
            }
            for text, (frames, meta) in zip(batch["prompt_texts"], batch["videos"], strict=True)
        ]

    def _params(self, group_size: int) -> Any:
        from vllm import SamplingParams

        s = self.settings
        assert s is not None, "build() first"
        banned = vision_token_ids(self.processor.tokenizer) if self.suppress_vision_tokens else []
        return SamplingParams(
            n=group_size,
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k if s.top_k is not None else -1,
            max_tokens=s.max_new_tokens,
            stop=list(s.stop_strings) or None,
            include_stop_str_in_output=True,
            logprobs=0,
            logit_bias={t: -100.0 for t in banned} or None,
            seed=int(torch.randint(0, 2**31 - 1, ())),
        )

    @torch.no_grad()
    def __call__(
        self,
        model: nn.Module,
        batch: dict[str, Any],
        group_size: int,
        video_features: tuple[torch.Tensor, ...] | None = None,
    ) -> Trajectory:
        """Sample ``group_size`` completions per prompt of a ``generate``-mode batch."""
        outputs = self.generate(model, batch, self._params(group_size))
        return self._trajectory(model, outputs, model_inputs(batch), group_size, video_features)

    def generate(self, model: nn.Module, batch: dict[str, Any], params: Any) -> list[Any]:
        """vLLM's ``RequestOutput`` per prompt of a batch, sampled with ``params`` from the
        policy's current weights (pushed first when stale); prompt tokens checked."""
        if is_sharded(model):
            raise ValueError("VLLMRollout does not support FSDP-sharded policies yet")
        if self._stale:
            self.push_weights(model)
        outputs = self._engine().generate(self._requests(batch), params, use_tqdm=False)
        _check_prompts(outputs, model_inputs(batch))
        return outputs

    def _trajectory(
        self,
        model: nn.Module,
        outputs: list[Any],
        inputs: dict[str, torch.Tensor],
        g: int,
        video_features: tuple[torch.Tensor, ...] | None,
    ) -> Trajectory:
        tok = self.processor.tokenizer
        rows = [c for out in outputs for c in out.outputs]  # (N,) prompt-major
        ids = pad_rows([c.token_ids for c in rows], tok.pad_token_id)  # (N, C)
        logp = torch.zeros(ids.shape)  # (N, C)
        for i, c in enumerate(rows):
            logp[i, : len(c.token_ids)] = torch.tensor(
                [_sampled_logprob(d, t) for d, t in zip(c.logprobs, c.token_ids, strict=True)]
            )
        stops = list(self.settings.stop_strings)
        return group_trajectory(model, tok, inputs, ids, g, stops, video_features, logp)


def pad_rows(rows: list[Any], pad_id: int) -> torch.Tensor:
    """Token id rows of unequal length as one tensor, padded after each row (at least one
    column). Shape: (len(rows), max length)"""
    ids = torch.full((len(rows), max(1, max(map(len, rows)))), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(list(row), dtype=torch.long)
    return ids


def _sampled_logprob(entry: dict[int, Any], token: int) -> float:
    """The log-prob vLLM reported for the sampled ``token`` at one step."""
    return float(entry[token].logprob)


def _check_prompts(outputs: list[Any], inputs: dict[str, torch.Tensor]) -> None:
    """vLLM's prompt tokens must be the batch's (same text, frames, pixels, placeholders)."""
    keep = inputs["attention_mask"].bool()
    for i, out in enumerate(outputs):
        ours = inputs["input_ids"][i][keep[i]].tolist()
        if list(out.prompt_token_ids) != ours:
            raise ValueError(
                f"prompt {i}: vLLM built {len(out.prompt_token_ids)} prompt tokens, the batch "
                f"has {len(ours)}: its processor saw other frames, pixel budget or template, "
                "so its positions would not be the ones trained"
            )
