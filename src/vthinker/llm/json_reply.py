"""`extract_json`: JSON out of fenced or chatty model replies."""

from __future__ import annotations

import json
import re
from typing import Any

from vthinker.llm.endpoint import (
    JSONExtractError,
)

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
_REASONING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def extract_json(text: str, expect: type | tuple[type, ...] = (dict, list)) -> Any:
    """Read a JSON value out of an LLM reply.

    Tried in order: the whole reply; each fenced code block (```` ```json … ``` ````); then
    the first ``{`` or ``[`` from which a complete JSON value parses (text around it is
    ignored). A leading ``<think>…</think>`` block (reasoning models) is removed first.

    Args:
        text: The reply.
        expect: Type(s) the value must have (default: an object or an array).

    Raises:
        JSONExtractError: if no candidate parses to a value of the expected type.
    """
    if not isinstance(text, str):
        raise JSONExtractError(f"reply is not text: {type(text).__name__}")
    body = _REASONING.sub("", text).strip()
    candidates = [body] + [m.group(2).strip() for m in _FENCE.finditer(body)]
    for cand in candidates:
        try:
            value = json.loads(cand)
        except ValueError:
            continue
        if isinstance(value, expect):
            return value
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[\[{]", body):
        try:
            value, _ = decoder.raw_decode(body, m.start())
        except ValueError:
            continue
        if isinstance(value, expect):
            return value
    snippet = body if len(body) <= 200 else body[:200] + "…"
    raise JSONExtractError(f"no JSON value found in the reply: {snippet!r}")


# --- rate limiting and cache ----------------------------------------------------------------
