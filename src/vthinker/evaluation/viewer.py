"""``vthinker view RUN_DIR``: a static HTML page of what a model reasoned, question by question.

For each question of an evaluation run (``predictions.jsonl``): the frame of the video at
each ``<time>`` window the model cited (its middle frame), next to the window's
``<caption>`` and ``<think>`` text; a timeline of the video with the gold evidence windows
above the cited ones; the options, the model's answer, the gold answer and whether it was
right. The page filters by correctness and by question type (``problem_type`` and the
``groups`` fields); a filter can be given in the address (``index.html#correct=wrong``,
``#type=template:first_appears``).

The page is one file (data and script inline, no network) beside a ``frames/`` folder of
JPEG thumbnails; it opens from disk in any browser. A video that cannot be read is named on
its questions (no frames), never a crash.
"""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path
from typing import Any

from vthinker.data.image import read_image
from vthinker.data.schema import read_jsonl
from vthinker.data.video import VideoDecodeError, read_frames, video_info
from vthinker.evaluation.store import SUMMARY_JSON, read_rows

log = logging.getLogger(__name__)

__all__ = ["build_view", "view"]


def _video_root(summary: dict[str, Any], video_root: str | None) -> Path | None:
    if video_root is not None:
        return Path(video_root)
    data = (summary.get("settings") or {}).get("data") or {}
    if data.get("video_root"):
        return Path(data["video_root"])
    return Path(data["test_file"]).parent if data.get("test_file") else None


def _sample_videos(summary: dict[str, Any]) -> dict[str, str]:
    """Id -> video path from the run's test file (runs written before rows named their
    video); empty when the file is gone or not VideoSample JSONL."""
    test_file = ((summary.get("settings") or {}).get("data") or {}).get("test_file")
    if not test_file or not Path(test_file).is_file():
        return {}
    try:
        return {s.id: s.video for s in read_jsonl(test_file)}
    except (ValueError, OSError) as err:
        log.warning("%s: not read for video paths (%s)", test_file, err)
        return {}


class _Frames:
    """Thumbnails of cited windows, one JPEG per window, and each video's duration."""

    def __init__(self, out: Path, width: int) -> None:
        self.dir = out / "frames"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.width = width
        self.durations: dict[Path, float | str] = {}

    def duration(self, path: Path) -> float | None:
        if path not in self.durations:
            try:
                self.durations[path] = video_info(path).duration
            except (VideoDecodeError, ValueError) as err:
                self.durations[path] = str(err)
        d = self.durations[path]
        return d if isinstance(d, float) else None

    def error(self, path: Path) -> str | None:
        d = self.durations.get(path)
        return d if isinstance(d, str) else None

    def thumbnail(self, path: Path, start: float, end: float, name: str) -> str | None:
        """The window's middle frame as ``frames/<name>.jpg`` (None: not decodable)."""

        duration = self.duration(path)
        if duration is None:
            return None
        lo, hi = max(0.0, min(start, duration)), max(0.0, min(end, duration))
        try:
            clip = read_frames(path, num_frames=1, start=lo, end=max(hi, lo + 1e-3))
        except (VideoDecodeError, ValueError) as err:
            log.warning("%s [%.1f, %.1f]: %s", path, start, end, err)
            return None
        return self._save(clip.frames[0], name)

    def still(self, path: Path, name: str) -> tuple[str | None, str | None]:
        """An image question's image as ``frames/<name>.jpg``: (its path, or None and why)."""
        try:
            return self._save(read_image(path), name), None
        except VideoDecodeError as err:
            return None, str(err)

    def _save(self, frame: Any, name: str) -> str:
        """One RGB frame, scaled to the thumbnail width, as ``frames/<name>.jpg``."""
        from PIL import Image

        image = Image.fromarray(frame)
        if image.width > self.width:
            image = image.resize((self.width, round(image.height * self.width / image.width)))
        elif image.width < 96:  # tiny toy frames: enlarged, pixels kept sharp
            scale = 96 / image.width
            image = image.resize((96, round(image.height * scale)), Image.Resampling.NEAREST)
        target = self.dir / f"{name}.jpg"
        image.save(target, quality=85)
        return f"frames/{target.name}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _question(n: int, row: dict[str, Any], video: Path | None, frames: _Frames) -> dict[str, Any]:
    """The record of question ``n`` (its row) for the page. An image question shows its
    image instead of a timeline (it has no times)."""
    if row.get("data_type") == "image":
        name = f"{n:05d}_{_safe(row['id'])}"
        still, error = frames.still(video, name) if video is not None else (None, "no path")
        return {**_record(row, [], None, video), "image": still, "video_error": error}
    segments = []
    for k, seg in enumerate((row.get("trace") or {}).get("segments") or []):
        start, end = seg.get("start"), seg.get("end")
        frame = None
        if video is not None and start is not None and end is not None:
            name = f"{n:05d}_{_safe(row['id'])}_{k}"  # the index keeps names unique
            frame = frames.thumbnail(video, float(start), float(end), name)
        segments.append({**seg, "frame": frame})
    duration = frames.duration(video) if video is not None else None
    record = _record(row, segments, duration, video)
    record["video_error"] = frames.error(video) if video is not None else "no video path"
    return record


def _record(
    row: dict[str, Any], segments: list[dict[str, Any]], duration: float | None, video: Path | None
) -> dict[str, Any]:
    """The page's fields of one prediction row (`_question` adds the pictures)."""
    return {
        "id": row["id"],
        "status": row.get("status"),
        "reason": row.get("reason"),
        "question": row.get("question", ""),
        "options": row.get("options") or [],
        "gold": row.get("gold"),
        "answer": row.get("extracted"),
        "correct": row.get("correct"),
        "types": list(  # problem_type may also be a `groups` field: listed once
            dict.fromkeys(
                [f"problem_type:{row['problem_type']}"] * bool(row.get("problem_type"))
                + [f"{k}:{v}" for k, v in sorted((row.get("groups") or {}).items())]
            )
        ),
        "output": row.get("output", ""),
        "segments": segments,
        "gold_spans": row.get("gold_spans") or [],
        "pred_spans": row.get("pred_spans") or [],
        "duration": duration,
        "video": str(video) if video is not None else None,
        "image": None,
    }


def build_view(
    run: str | Path,
    out: str | Path | None = None,
    video_root: str | None = None,
    thumb_width: int = 192,
    limit: int | None = None,
) -> Path:
    """Write the page of a run (module docstring) and return its path.

    Args:
        run: The run folder (``predictions.jsonl``, ``summary.json``).
        out: Output folder (default ``RUN/view``).
        video_root: Folder the rows' relative video paths are under (default: each row's
            ``video_path``, the file the evaluation opened; for older runs, the run's test
            file's folder).
        thumb_width: Thumbnail width in pixels.
        limit: Show only the first this many questions.

    Raises:
        FileNotFoundError: when the folder holds no predictions.
    """
    from tqdm.auto import tqdm

    run = Path(run)
    rows = read_rows(run)
    if not rows:
        raise FileNotFoundError(f"{run}: no predictions.jsonl rows to show")
    summary_path = run / SUMMARY_JSON
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    root = _video_root(summary, video_root)
    known = _sample_videos(summary)
    target = Path(out) if out is not None else run / "view"
    frames = _Frames(target, thumb_width)
    questions = []
    for n, row in enumerate(tqdm(rows[:limit], desc="view", unit="question")):
        video = None
        if row.get("video_path") and video_root is None:
            video = Path(row["video_path"])  # the file the evaluation opened
        elif rel := row.get("video") or known.get(row["id"]):
            video = Path(rel) if Path(rel).is_absolute() or root is None else root / rel
        questions.append(_question(n, row, video, frames))
    title = f"{summary.get('benchmark', run.parent.name)} · {summary.get('model', run.name)}"
    page = target / "index.html"
    page.write_text(_page(title, questions), encoding="utf-8")
    return page


def view(
    run: str,
    *,
    out: str | None = None,
    video_root: str | None = None,
    thumb_width: int = 192,
    limit: int | None = None,
) -> None:
    """Write a static HTML page of a run's reasoning: cited frames beside their captions,
    gold and cited windows on a timeline, answers; filters by correctness and type.

    Args:
        run: The run folder (``predictions.jsonl``, ``summary.json``).
        out: Output folder (default ``RUN/view``).
        video_root: Folder the rows' relative video paths are under (default: the run's
            ``data.video_root``, else its test file's folder).
        thumb_width: Thumbnail width in pixels.
        limit: Show only the first this many questions.
    """
    print(build_view(run, out, video_root, thumb_width, limit))


def _page(title: str, questions: list[dict[str, Any]]) -> str:
    # JSON inside <script>: no "<" at all (no "</script>", no "<!--"), same JSON value.
    data = json.dumps(questions, ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    parts = {"__TITLE__": html.escape(title), "__DATA__": data}
    return re.sub("__TITLE__|__DATA__", lambda m: parts[m.group(0)], _TEMPLATE)


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
header{display:flex;gap:1em;align-items:center;flex-wrap:wrap;margin-bottom:1em}
h1{font-size:1.2em;margin:0}
article.q{background:#fff;border:1px solid #ddd;border-left:6px solid #999;border-radius:6px;
 padding:.8em 1em;margin:0 0 1em}
article.right{border-left-color:#2e7d32} article.wrong{border-left-color:#c62828}
.meta{color:#666;font-size:.85em} .opts{margin:.3em 0;padding-left:1.2em}
.verdict{font-weight:600} .right .verdict{color:#2e7d32} .wrong .verdict{color:#c62828}
.timeline{position:relative;height:34px;background:#eee;border-radius:4px;margin:.6em 0}
.timeline span{position:absolute;height:14px;border-radius:3px;opacity:.8}
.timeline .gold{top:2px;background:#2e7d32} .timeline .pred{top:18px;background:#1565c0}
.legend span{display:inline-block;width:10px;height:10px;margin:0 .3em 0 1em}
.seg{display:flex;gap:.8em;margin:.5em 0;align-items:flex-start}
.seg img{border-radius:4px;border:1px solid #ccc} .seg .noframe{width:120px;color:#999}
.time{font-family:monospace;color:#1565c0} .think{color:#555}
details pre{white-space:pre-wrap;background:#f4f4f4;padding:.5em}
#errors{color:#c62828}
</style></head><body>
<header><h1>__TITLE__</h1>
<label>answer <select id="correct"><option value="all">all</option>
<option value="right">right</option><option value="wrong">wrong</option>
<option value="skipped">skipped</option></select></label>
<label>type <select id="type"><option value="all">all</option></select></label>
<span id="count"></span>
<span class="legend"><span style="background:#2e7d32"></span>gold evidence
<span style="background:#1565c0"></span>cited in the reasoning</span></header>
<div id="errors"></div><main id="questions"></main>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
window.addEventListener("error", e => {
  document.getElementById("errors").textContent += "error: " + e.message + "\\n";
});
const QUESTIONS = JSON.parse(document.getElementById("data").textContent);
function el(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined && text !== null) n.textContent = String(text);
  return n;
}
function mmss(t) {
  const s = Math.round(t);
  return String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
}
function timeline(q) {
  const bar = el("div", "timeline");
  const spans = q.gold_spans.concat(q.pred_spans);
  const end = q.duration || Math.max(1, ...spans.map(s => s[1]));
  bar.title = "0 to " + mmss(end);
  for (const [cls, list] of [["gold", q.gold_spans], ["pred", q.pred_spans]]) {
    for (const [a, b] of list) {
      const s = el("span", cls);
      s.style.left = (100 * Math.max(0, a) / end) + "%";
      s.style.width = Math.max(0.5, 100 * (Math.min(b, end) - Math.max(0, a)) / end) + "%";
      s.title = (cls === "gold" ? "gold " : "cited ") + mmss(a) + "-" + mmss(b);
      bar.appendChild(s);
    }
  }
  return bar;
}
function card(q) {
  const verdict = q.status !== "ok" ? "skipped" : (q.correct ? "right" : "wrong");
  const a = el("article", "q " + verdict);
  a.dataset.correct = verdict;
  a.dataset.types = JSON.stringify(q.types);
  a.appendChild(el("div", "meta", q.id + " · " + q.types.join(" · ")));
  a.appendChild(el("p", "question", q.question));
  const ol = el("ul", "opts");
  for (const o of q.options) ol.appendChild(el("li", null, o));
  if (q.options.length) a.appendChild(ol);
  if (q.status !== "ok") {
    a.appendChild(el("p", "verdict", "skipped: " + (q.reason || "")));
    return a;
  }
  a.appendChild(el("p", "verdict", verdict + ": answered " + (q.answer ?? "nothing") +
    ", gold " + q.gold));
  if (q.image) {  // an image question: its image, no timeline
    const img = el("img", "still");
    img.src = q.image;
    img.alt = "the question's image";
    a.appendChild(img);
  } else {
    a.appendChild(timeline(q));
  }
  if (q.video_error) a.appendChild(el("p", "meta", "not shown: " + q.video_error));
  for (const s of q.segments) {
    const row = el("div", "seg");
    if (s.frame) {
      const img = el("img");
      img.src = s.frame;
      img.alt = "frame at " + (s.time_text || "");
      row.appendChild(img);
    } else {
      row.appendChild(el("div", "noframe", s.time_text ? "no frame" : "no time"));
    }
    const text = el("div");
    text.appendChild(el("div", "time", s.time_text || ""));
    if (s.caption) text.appendChild(el("div", "caption", s.caption));
    if (s.think) text.appendChild(el("div", "think", s.think));
    row.appendChild(text);
    a.appendChild(row);
  }
  const raw = el("details");
  raw.appendChild(el("summary", null, "raw output"));
  raw.appendChild(el("pre", null, q.output));
  a.appendChild(raw);
  return a;
}
const main = document.getElementById("questions");
for (const q of QUESTIONS) main.appendChild(card(q));
const typeSelect = document.getElementById("type");
for (const t of [...new Set(QUESTIONS.flatMap(q => q.types))].sort()) {
  const o = el("option", null, t);
  o.value = t;
  typeSelect.appendChild(o);
}
const correctSelect = document.getElementById("correct");
function apply() {
  let shown = 0;
  for (const a of main.children) {
    const ok = (correctSelect.value === "all" || a.dataset.correct === correctSelect.value) &&
      (typeSelect.value === "all" || JSON.parse(a.dataset.types).includes(typeSelect.value));
    a.hidden = !ok;
    shown += ok;
  }
  document.getElementById("count").textContent = shown + " of " + QUESTIONS.length + " questions";
}
function fromHash(select, value) {  // a value the select does not offer is ignored
  if (value && [...select.options].some(o => o.value === value)) select.value = value;
}
for (const part of location.hash.slice(1).split("&")) {
  const [k, raw] = part.split("=");
  let v = raw;
  try { v = decodeURIComponent(raw || ""); } catch (e) { v = ""; }
  if (k === "correct") fromHash(correctSelect, v);
  if (k === "type") fromHash(typeSelect, v);
}
correctSelect.addEventListener("change", apply);
typeSelect.addEventListener("change", apply);
apply();
</script></body></html>
"""
