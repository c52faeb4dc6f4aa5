"""How an evaluation turns a batch of prompts into outputs: a decoder option of `EvalModule`.

- `Generate` (the default): one ``generate`` call with the module's ``generation``
  settings, through `VideoLLMModule.generate_completions`, the path training's validation
  and prediction use.
- `VLLMGenerate`: the same decoding with vLLM (`vthinker.training.vllm_rollout`): one YAML
  line, ``model.init_args.decoder: vthinker.evaluation.decoding.VLLMGenerate``; the same
  predictions file and resume.
- `EarlyExit`: VideoAuto-R1's answer-first decoding (`vthinker.evaluation.early_exit`):
  stop after a confident first answer, else think and answer again. Each row records the
  first answer, its score and whether decoding stopped there; the summary gets the exit
  rate and the accuracy of early and continued answers. Pick it in a config::

      model:
        init_args:
          decoder:
            class_path: vthinker.evaluation.decoding.EarlyExit
            init_args: {threshold: 0.5, criterion: entropy}

Both end completions by `vthinker.models.completion.completion_ends`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from vthinker.data.collate import model_inputs
from vthinker.evaluation.early_exit import EarlyExitSettings, early_exit_generate
from vthinker.models.completion import completion_ends, end_token_ids
from vthinker.rewards.autor1 import FALLBACK_PHRASE

__all__ = ["Decoded", "Decoder", "EarlyExit", "Generate", "VLLMGenerate"]


@dataclass
class Decoded:
    """Outputs of one batch.

    Attributes:
        texts: Decoded completions (special tokens skipped).
        lengths: Tokens before the end token.
        truncated: Rows that hit the token budget.
        extra: Per row, fields the decoder adds to the prediction row.
    """

    texts: list[str]
    lengths: list[int]
    truncated: list[bool]
    extra: list[dict[str, Any]] = field(default_factory=list)


class Decoder:
    """Decoding strategy of an evaluation run. ``needs_videos``: it processes the decoded
    frames itself (the data module then hands them on)."""

    needs_videos = False

    def settings(self) -> dict[str, Any] | None:
        """What the predictions depend on beyond ``generation`` (None: nothing)."""
        return None

    def decode(self, module: Any, batch: dict[str, Any]) -> Decoded:
        """Outputs for a ``generate``-mode batch, decoded with ``module``'s policy."""
        raise NotImplementedError

    def summarize(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Extra summary fields over the scored rows (none by default)."""
        return {}


class Generate(Decoder):
    """Plain ``generate`` with the module's ``generation`` settings."""

    @torch.no_grad()
    def decode(self, module: Any, batch: dict[str, Any]) -> Decoded:
        tok = module.processor.tokenizer
        completions = module.generate_completions(batch)  # (B, T_new)
        ends = completion_ends(completions, end_token_ids(module.policy, tok))
        texts = tok.batch_decode(completions, skip_special_tokens=True)
        return Decoded(texts, ends.lengths.tolist(), ends.truncated.tolist())


class VLLMGenerate(Decoder):
    """The module's ``generation`` settings decoded by vLLM (greedy when ``do_sample`` is
    false), from the module's weights (a checkpoint loaded over the policy included).

    Args:
        dtype: Engine weight dtype (``auto``: the model config's).
        gpu_memory_utilization: Share of GPU memory vLLM may take.
        max_model_len: Longest prompt + output (None: the model's).
        enforce_eager: No CUDA graphs.
    """

    needs_videos = True

    def __init__(
        self,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.8,
        max_model_len: int | None = None,
        enforce_eager: bool = False,
    ) -> None:
        from vthinker.training.vllm_rollout import VLLMRollout

        # No suppressed tokens: decode exactly as `generate` does.
        self.engine = VLLMRollout(
            dtype,
            gpu_memory_utilization,
            max_model_len,
            enforce_eager,
            suppress_vision_tokens=False,
        )

    def settings(self) -> dict[str, Any]:
        return {"engine": "vllm"}

    @torch.no_grad()
    def decode(self, module: Any, batch: dict[str, Any]) -> Decoded:
        from vllm import SamplingParams

        from vthinker.training.rollout import RolloutSettings
        from vthinker.training.vllm_rollout import pad_rows

        if self.engine.processor is None:
            path = module.policy_config.name_or_path
            self.engine.build(RolloutSettings(), module.processor, path)
        g = module.generation
        params = SamplingParams(
            n=1,
            temperature=g.temperature if g.do_sample else 0.0,
            top_p=g.top_p if g.do_sample else 1.0,
            max_tokens=g.max_new_tokens,
            seed=int(torch.randint(0, 2**31 - 1, ())) if g.do_sample else None,
        )
        outputs = self.engine.generate(module.policy, batch, params)
        tok = module.processor.tokenizer
        ids = pad_rows([o.outputs[0].token_ids for o in outputs], tok.pad_token_id)
        ends = completion_ends(ids, end_token_ids(module.policy, tok))
        texts = tok.batch_decode(ids, skip_special_tokens=True)
        return Decoded(texts, ends.lengths.tolist(), ends.truncated.tolist())


class EarlyExit(Decoder):
    """VideoAuto-R1's early exit (`vthinker.evaluation.early_exit`); sampling settings and
    the total token budget come from the module's ``generation``.

    Args:
        threshold: Entropy (nats) below which, or confidence at or above which, the first
            answer is final.
        criterion: ``entropy`` (mean token entropy) or ``confidence`` (the paper's
            ``exp(mean log p)``, threshold 0.97).
        max_first_tokens: Token budget of the first stage (up to ``</answer>``).
        fallback_phrase: A first answer equal to it always continues.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        criterion: Literal["entropy", "confidence"] = "entropy",
        max_first_tokens: int = 64,
        fallback_phrase: str = FALLBACK_PHRASE,
    ) -> None:
        # Checked now, with the largest budget; the run's own is set when decoding.
        self.rule = EarlyExitSettings(
            threshold, criterion, max_first_tokens, max(max_first_tokens, 1), fallback_phrase
        )

    def settings(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self.rule)
        del fields["max_new_tokens"]  # the generation settings hold it
        return {"early_exit": fields}

    @torch.no_grad()
    def decode(self, module: Any, batch: dict[str, Any]) -> Decoded:
        budget = module.generation.max_new_tokens
        rule = dataclasses.replace(
            self.rule,
            max_new_tokens=budget,
            max_first_tokens=min(self.rule.max_first_tokens, budget),
        )
        inputs = model_inputs(batch)
        results = early_exit_generate(
            module.policy, module.processor.tokenizer, inputs, rule, module.generation
        )
        extra = [
            {"first_answer": r.first_answer, "exit_score": r.score, "exited_early": r.exited_early}
            for r in results
        ]
        return Decoded(
            [r.text for r in results],
            [r.num_tokens for r in results],
            [r.num_tokens >= budget and not r.exited_early for r in results],
            extra,
        )

    def summarize(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """``early_exit``: how often decoding stopped after the first answer, and the
        accuracy (QA) of early and continued answers (None for an empty group)."""
        done = [r for r in rows if r.get("status") == "ok" and "exited_early" in r]
        early = [r for r in done if r["exited_early"]]
        late = [r for r in done if not r["exited_early"]]

        def acc(group: list[dict[str, Any]]) -> float | None:
            if not group or "correct" not in group[0]:
                return None
            return sum(bool(r["correct"]) for r in group) / len(group)

        n = len(done)
        tokens = [r["output_tokens"] for r in done if isinstance(r.get("output_tokens"), int)]
        return {
            "early_exit": {
                "n": n,
                "early_exits": len(early),
                "early_exit_rate": len(early) / n if n else None,
                "accuracy": acc(done),
                "accuracy_early": acc(early),
                "accuracy_continued": acc(late),
                "mean_tokens": sum(tokens) / len(tokens) if tokens else None,
            }
        }
