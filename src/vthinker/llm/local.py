"""A local Hugging Face model behind the same ``chat`` call as `ChatClient`.

The hindsight verifier can run in-process instead of behind an endpoint: `LocalChatModel`
loads a causal LM or an image-text-to-text model (Qwen2.5-VL) through transformers' Auto
classes from a local path or hub id, applies its chat template to text-only messages and
generates. Calls run one at a time in a worker thread, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from vthinker.llm.client import ChatResult, Usage

__all__ = ["LocalChatModel", "LocalModel"]


@dataclass
class LocalModel:
    """Where and how to load a local verifier model.

    Attributes:
        path: Local folder or hub id (loaded with ``from_pretrained``; nothing is downloaded
            when the folder exists).
        dtype: ``"auto"``, ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, …
        max_new_tokens: Default generation length (a ``max_tokens`` param overrides it).
        trust_remote_code: Passed to ``from_pretrained``.
    """

    path: str
    dtype: str = "auto"
    device: str = "cpu"
    max_new_tokens: int = 256
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def label(self) -> str:
        return f"local:{self.path}"


def _text_parts(messages: list[dict]) -> list[dict]:
    """Messages with list-of-parts content (what multimodal processors' templates expect)."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        out.append({"role": m["role"], "content": content})
    return out


class LocalChatModel:
    """Chat with a local model (text-only messages); `chat` mirrors `ChatClient.chat`.

    Attributes:
        usage: Tokens processed (prompt) and generated (completion) so far.
        requests: Generations run.
    """

    retries = 0
    cache_hits = 0
    cost = 0.0

    def __init__(self, spec: LocalModel) -> None:
        self.spec = spec
        self.usage = Usage()
        self.requests = 0
        self._model: Any = None
        self._processor: Any = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return self.spec.label

    def _load(self) -> None:
        import torch
        from transformers import (
            AutoModelForCausalLM,
            AutoModelForImageTextToText,
            AutoProcessor,
            AutoTokenizer,
        )

        spec = self.spec
        kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
        if spec.dtype != "auto":
            kwargs["dtype"] = getattr(torch, spec.dtype)
        try:
            model = AutoModelForImageTextToText.from_pretrained(spec.path, **kwargs)
            processor = AutoProcessor.from_pretrained(
                spec.path, trust_remote_code=spec.trust_remote_code
            )
        except ValueError:  # not an image-text-to-text architecture
            model = AutoModelForCausalLM.from_pretrained(spec.path, **kwargs)
            processor = AutoTokenizer.from_pretrained(
                spec.path, trust_remote_code=spec.trust_remote_code
            )
        from vthinker.models.rope import install_published_rope

        install_published_rope(model)  # Qwen2.5-VL positions after a video (models/rope.py)
        self._model = model.to(spec.device).eval()
        self._processor = processor

    def generate(self, messages: list[dict], **params: Any) -> ChatResult:
        """Generate a reply synchronously (greedy unless ``temperature > 0``)."""
        import torch

        with self._lock:
            if self._model is None:
                self._load()
            proc, model = self._processor, self._model
            tokenizer = getattr(proc, "tokenizer", proc)
            is_processor = tokenizer is not proc
            prompt = proc.apply_chat_template(
                _text_parts(messages) if is_processor else messages,
                tokenize=False,
                add_generation_prompt=True,
            )
            inputs = (
                proc(text=[prompt], return_tensors="pt")
                if is_processor
                else proc([prompt], return_tensors="pt")
            )
            inputs = {k: v.to(model.device) for k, v in inputs.items()}
            temperature = params.get("temperature") or 0.0
            gen: dict[str, Any] = {
                "max_new_tokens": int(params.get("max_tokens") or self.spec.max_new_tokens),
                "do_sample": temperature > 0,
                "pad_token_id": tokenizer.pad_token_id
                if tokenizer.pad_token_id is not None
                else tokenizer.eos_token_id,
            }
            if temperature > 0:
                gen["temperature"] = temperature
                if params.get("top_p") is not None:
                    gen["top_p"] = params["top_p"]
            with torch.no_grad():
                out = model.generate(**inputs, **gen)
            prompt_len = int(inputs["input_ids"].shape[1])
            new = out[0, prompt_len:]
            text = tokenizer.decode(new, skip_special_tokens=True)
            usage = Usage(prompt_len, int(new.shape[0]))
            self.usage = self.usage + usage
            self.requests += 1
        return ChatResult(text=text, usage=usage, attempts=1, cached=False)

    async def chat(
        self, messages: list[dict], *, json_mode: bool = False, **params: Any
    ) -> ChatResult:
        """`generate` in a worker thread (``json_mode`` is accepted and ignored)."""
        return await asyncio.to_thread(self.generate, messages, **params)

    async def close(self) -> None:
        """Release the model."""
        with self._lock:
            self._model = self._processor = None
