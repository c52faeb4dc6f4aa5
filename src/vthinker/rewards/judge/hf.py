"""`HFJudge`: a local Hugging Face model as the judge."""

from __future__ import annotations

import time
from typing import Any, Literal

from vthinker.rewards.judge.base import (
    Judge,
    JudgePrompt,
    JudgeQuery,
)


class HFJudge(Judge):
    """A local Hugging Face language model as the judge (loaded on first use).

    Args:
        name_or_path: Model folder or hub id (loaded by `vthinker.llm.local.load_local_model`).
        model_class: ``auto`` (a causal LM, else an image-text-to-text model used
            text-only), ``causal_lm`` or ``image_text_to_text``.
        dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
        device: ``auto`` (the current CUDA device if any, else CPU), ``cpu``, ``cuda:0``…
        max_new_tokens: Longest reply.
        timeout_s: Wall-clock limit per batch (``generate(max_time=...)``); a batch that
            hits it counts its unfinished replies as timeouts. None: no limit.
        prompt: Chat templates.
        batch_size: Prompts per ``generate`` call.
        cache_size: LRU cache entries.
        trust_remote_code: Passed to ``from_pretrained``.
    """

    _transient = ("model", "tokenizer")

    def __init__(
        self,
        name_or_path: str,
        model_class: Literal["auto", "causal_lm", "image_text_to_text"] = "auto",
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto",
        device: str = "auto",
        max_new_tokens: int = 64,
        timeout_s: float | None = 60.0,
        prompt: JudgePrompt | None = None,
        batch_size: int = 8,
        cache_size: int = 100_000,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__(prompt=prompt, batch_size=batch_size, cache_size=cache_size)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 or None, got {timeout_s}")
        if model_class not in ("auto", "causal_lm", "image_text_to_text"):
            raise ValueError(f"unknown model_class {model_class!r}")
        self.name_or_path = name_or_path
        self.model_class = model_class
        self.dtype = dtype
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self.trust_remote_code = trust_remote_code
        self.model: Any = None
        self.tokenizer: Any = None

    def _identity(self) -> Any:
        return {"hf": self.name_or_path, "max_new_tokens": self.max_new_tokens}

    def load(self) -> None:
        """Load the tokenizer and model (done on the first judgement)."""
        if self.model is not None:
            return
        from vthinker.llm.local import load_local_model

        loaded = load_local_model(
            self.name_or_path,
            model_class=self.model_class,
            dtype=self.dtype,
            device=self.device,
            trust_remote_code=self.trust_remote_code,
        )
        tok = loaded.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        self.tokenizer, self.model = tok, loaded.model

    def _complete(self, queries: list[JudgeQuery]) -> list[str | BaseException | None]:
        import torch

        self.load()
        tok, model = self.tokenizer, self.model
        texts = [
            tok.apply_chat_template(
                self.prompt.messages(q), tokenize=False, add_generation_prompt=True
            )
            for q in queries
        ]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            model.device
        )
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": False,
            "pad_token_id": tok.pad_token_id,
            "stop_strings": ["</answer>"],
            "tokenizer": tok,
        }
        if self.timeout_s is not None:
            kwargs["max_time"] = self.timeout_s
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(**enc, **kwargs)
        elapsed = time.perf_counter() - start
        replies = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        timed_out = self.timeout_s is not None and elapsed >= self.timeout_s
        result: list[str | BaseException | None] = []
        for reply in replies:
            if timed_out and "</answer>" not in reply:
                result.append(TimeoutError(f"no reply within {self.timeout_s} s"))
            else:
                result.append(reply)
        return result


# --- OpenAI-compatible endpoint ---------------------------------------------------------------
