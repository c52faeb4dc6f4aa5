"""The on-disk reply cache: `request_key` (what a request is, never its key) and
`ResponseCache`."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vthinker.llm.endpoint import (
    Usage,
)

log = logging.getLogger(__name__)


def request_key(base_url: str, body: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a request: the endpoint URL and the JSON body (model, messages,
    parameters), canonically serialised. The API key is not part of it."""
    canonical = json.dumps(
        {"url": base_url.rstrip("/"), "body": body},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class _Cached:
    text: str
    usage: Usage


class ResponseCache:
    """Replies on disk, one JSON file per request key (``root/ab/abcd….json``).

    Files are written atomically (temporary file + rename), so a crash never leaves a
    half-written entry; an unreadable entry counts as a miss.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> _Cached | None:
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            usage = entry.get("usage") or {}
            return _Cached(
                text=str(entry["text"]),
                usage=Usage(
                    int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
                ),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("ignoring unreadable cache entry %s: %s", path, err)
            return None

    def put(self, key: str, text: str, usage: Usage, model: str) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        entry = {
            "key": key,
            "model": model,
            "text": text,
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            },
        }
        tmp.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    def keys(self) -> set[str]:
        """All keys with an entry."""
        return {p.stem for p in self.root.glob("*/*.json")}


# --- the client -----------------------------------------------------------------------------
