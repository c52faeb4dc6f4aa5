"""Local Hugging Face chat models: one loader, and one behind the same ``chat`` call as
`ChatClient`.

`load_local_model` is the one way vthinker loads a local chat model for text-only
generation (the curation verifier here, `vthinker.rewards.HFJudge` above). Its fallback
order, with ``model_class="auto"``: transformers' ``AutoModelForCausalLM`` first; a
checkpoint whose architecture that class does not know (a ``ValueError``, e.g.
Qwen2.5-VL) is loaded with ``AutoModelForImageTextToText`` and used text-only. The
Qwen2.5-VL rotary-position fix (`vthinker.models.rope.install_published_rope`) is
installed on whatever loads (a no-op for other families).

`LocalChatModel` loads one that way from a local path or hub id, applies its chat
template (the processor's for an image-text-to-text model, else the tokenizer's) to
text-only messages and generates. Calls run one at a time in a worker thread, so the event
loop stays free.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from vthinker.llm.client import ChatResult, Usage

__all__ = ["MODEL_CLASSES", "LoadedModel", "LocalChatModel", "LocalModel", "load_local_model"]

MODEL_CLASSES = ("auto", "causal_lm", "image_text_to_text")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class LocalModel:
    """Where and how to load a local verifier model.

    Attributes:
        path: Local folder or hub id (loaded with ``from_pretrained``; nothing is downloaded
            when the folder exists).
        dtype: ``"auto"``, ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, … or ``"auto"`` (the current CUDA
            device if any, else CPU).
        max_new_tokens: Default generation length (a ``max_tokens`` param overrides it).
        trust_remote_code: Passed to ``from_pretrained``.
    """

    path: str
    dtype: str = "auto"
    device: str = "cpu"
    max_new_tokens: int = 256
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def label(self) -> str:
        return f"local:{self.path}"


@dataclass
class LoadedModel:
    """What `load_local_model` loaded.

    Attributes:
        model: The model, on its device, in eval mode, without gradients.
        tokenizer: Its tokenizer.
        processor: With ``processor=True``: the ``AutoProcessor`` of an
            image-text-to-text model, the tokenizer itself for a causal LM; else None.
        model_class: ``"causal_lm"`` or ``"image_text_to_text"``: the Auto class that
            loaded it.
    """

    model: Any
    tokenizer: Any
    processor: Any
    model_class: str


def _from_pretrained(path: str, model_class: str, kwargs: dict[str, Any]) -> tuple[Any, str]:
    """The model by the fallback order (see the module docstring), and its Auto class."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    if model_class != "image_text_to_text":
        try:
            return AutoModelForCausalLM.from_pretrained(path, **kwargs), "causal_lm"
        except ValueError:  # not a causal-LM architecture
            if model_class == "causal_lm":
                raise
    # Vision-language checkpoints (Qwen2.5-VL) answer text-only prompts too.
    return AutoModelForImageTextToText.from_pretrained(path, **kwargs), "image_text_to_text"


def load_local_model(
    path: str,
    *,
    model_class: str = "auto",
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
    processor: bool = False,
) -> LoadedModel:
    """Load a local Hugging Face chat model (and its tokenizer) for text-only generation.

    Args:
        path: Local folder or hub id (``from_pretrained``).
        model_class: ``"auto"`` (the fallback order of the module docstring),
            ``"causal_lm"`` or ``"image_text_to_text"`` (that Auto class only).
        dtype: ``"auto"`` (the checkpoint's), ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        device: ``"auto"`` (the current CUDA device if any, else CPU), ``"cpu"``,
            ``"cuda:1"``, …
        trust_remote_code: Passed to ``from_pretrained``.
        processor: Also load the processor of an image-text-to-text model
            (``AutoProcessor``; its tokenizer becomes the tokenizer).
    """
    import torch
    from transformers import AutoProcessor, AutoTokenizer

    if model_class not in MODEL_CLASSES:
        raise ValueError(f"unknown model_class {model_class!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype}")
    kwargs: dict[str, Any] = {
        "trust_remote_code": trust_remote_code,
        "dtype": dtype if dtype == "auto" else getattr(torch, dtype),
    }
    model, loaded_class = _from_pretrained(path, model_class, kwargs)
    from vthinker.models.rope import install_published_rope

    install_published_rope(model)  # Qwen2.5-VL positions after a video (models/rope.py)
    if device == "auto":
        device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    model.to(device)
    model.eval()
    model.requires_grad_(False)
    if processor and loaded_class == "image_text_to_text":
        proc = AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
        return LoadedModel(model, proc.tokenizer, proc, loaded_class)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    return LoadedModel(model, tokenizer, tokenizer if processor else None, loaded_class)


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
        spec = self.spec
        loaded = load_local_model(
            spec.path,
            dtype=spec.dtype,
            device=spec.device,
            trust_remote_code=spec.trust_remote_code,
            processor=True,
        )
        self._model, self._processor = loaded.model, loaded.processor

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
