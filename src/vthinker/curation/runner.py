"""The curation runner: ``vthinker curate --config configs/curation/….yaml``.

Streams `VideoSample` JSONL inputs through a list of steps (`vthinker.curation.steps`) and
writes, in ``output_dir``:

- ``accepted.jsonl``: one `VideoSample` per accepted sample, with ``trace`` set and
  ``meta["curation"]`` (steps run, trace attempts, verifier answers, models); readable by
  `vthinker.data.schema.read_jsonl`, so SFT/GRPO configs can point ``train_file`` at it.
  Relative video paths are rewritten to resolve from ``output_dir``.
- ``rejected.jsonl``: one record per dropped sample: ``id, source, reason, detail,
  trace_attempts, steps, input, sample`` (the input sample as it was).
- ``report.json``: per source ``in / accepted / rejected by reason / failed / pending`` and
  trace-attempt histograms; endpoint requests, retries, cache hits, tokens and estimated
  cost; bad input records. Also printed at the end.

Both JSONL files are append-only, one ``write`` + flush (+ fsync) per finished sample, in
the order samples finish. **Resuming:** a restart reads them back, skips every id already
accepted or rejected and processes the rest; a last line cut by a crash (no trailing
newline) is detected and cut off the file first, so that sample is simply done again. With
``cache_dir`` every LLM reply already received is served from disk, so a resumed run pays
for nothing twice.

**Failures** are not rejections: a sample whose LLM call fails for good (retries
exhausted, HTTP 400, …) or that hits an unexpected error is written nowhere, counted as
``failed`` in the report with the error, and tried again on the next run; the command
then exits with status 1. A bad key, URL or model (HTTP 401/403/404), or
``max_consecutive_errors`` failures in a row, stop the run early.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vthinker.curation.steps import CurationContext, Reject, SampleLog, Step
from vthinker.data.schema import ReadReport, SampleError, VideoSample, iter_jsonl
from vthinker.jsonl_log import JsonlAppender, cut_torn_tail, read_log
from vthinker.llm.client import ChatClient, Endpoint, LLMError

log = logging.getLogger(__name__)

__all__ = [
    "ACCEPTED_FILE",
    "REJECTED_FILE",
    "REPORT_FILE",
    "CurationRunner",
    "CurationStopped",
    "JsonlAppender",
    "build_parser",
    "main",
    "recover_jsonl",
]

ACCEPTED_FILE = "accepted.jsonl"
REJECTED_FILE = "rejected.jsonl"
REPORT_FILE = "report.json"


class CurationStopped(RuntimeError):
    """The run stopped early (too many failures in a row); the report says why."""


# --- append-only outputs ---------------------------------------------------------------------


def recover_jsonl(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], int]:
    """Read an output file of the runner back, repairing what a crash can leave.

    A last line without its newline is a write cut short by a crash: it is cut off the
    file (so the next append starts on a fresh line) and its sample counts as not done.

    Returns:
        The records, and the number of bytes cut off (0 when the file was intact or absent).

    Raises:
        SampleError: for a complete line that is not a JSON object with an ``id``
            (naming the file and line); the file is then left untouched.
    """
    contents = read_log(path)
    if contents.bad:
        lineno, why = contents.bad[0]
        raise SampleError(
            f"{path}:{lineno}: {why}; the output file is damaged, repair or remove that "
            "line before resuming"
        )
    return contents.records, cut_torn_tail(path, contents)


# --- the runner ------------------------------------------------------------------------------


@dataclass
class _Outcome:
    sample: VideoSample
    input_file: str
    video_path: Path
    log: SampleLog
    accepted: VideoSample | None = None
    reject: Reject | None = None
    error: str | None = None
    fatal: LLMError | None = None


@dataclass
class _RunState:
    input_source: dict[str, str] = field(default_factory=dict)
    read_reports: list[ReadReport] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    new_accepted: int = 0
    new_rejected: int = 0
    repaired_bytes: int = 0


class CurationRunner:
    """Runs the curation steps over JSONL inputs (see the module docstring).

    Args:
        inputs: VideoSample / Video-R1 JSONL files (bad records are reported and skipped).
        output_dir: Where ``accepted.jsonl``, ``rejected.jsonl`` and ``report.json`` go.
        steps: The steps, in order (``class_path`` entries in YAML).
        cache_dir: On-disk LLM response cache (None: no cache).
        video_root: Folder relative video paths are resolved against; default: the
            folder of each input file.
        max_in_flight: Samples processed at once (endpoints also limit their own requests).
        limit: Use only the first ``limit`` input samples (quick runs).
        keep_video_paths: Write video paths as given instead of rewriting relative ones to
            resolve from ``output_dir``.
        max_consecutive_errors: Stop after this many failed samples in a row.
        fsync: fsync the outputs after each record (survives power loss, not just crashes).
        progress: Show a progress bar.
        client_factory: Builds the client of an endpoint (tests); not a config option.
    """

    def __init__(
        self,
        inputs: list[str],
        output_dir: str,
        steps: list[Step],
        cache_dir: str | None = None,
        video_root: str | None = None,
        max_in_flight: int = 16,
        limit: int | None = None,
        keep_video_paths: bool = False,
        max_consecutive_errors: int = 20,
        fsync: bool = True,
        progress: bool = True,
        client_factory: Callable[[Endpoint], ChatClient] | None = None,
    ) -> None:
        if not inputs:
            raise ValueError("curation needs at least one input file")
        if not steps:
            raise ValueError("curation needs at least one step")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if max_consecutive_errors < 1:
            raise ValueError(f"max_consecutive_errors must be >= 1, got {max_consecutive_errors}")
        missing = [p for p in inputs if not Path(p).is_file()]
        if missing:
            raise FileNotFoundError(f"input file(s) not found: {', '.join(missing)}")
        self.inputs = [str(p) for p in inputs]
        self.output_dir = Path(output_dir)
        self.steps = list(steps)
        self.cache_dir = cache_dir
        self.video_root = Path(video_root) if video_root is not None else None
        self.max_in_flight = max_in_flight
        self.limit = limit
        self.keep_video_paths = keep_video_paths
        self.max_consecutive_errors = max_consecutive_errors
        self.fsync = fsync
        self.progress = progress
        self.client_factory = client_factory

    @property
    def accepted_path(self) -> Path:
        return self.output_dir / ACCEPTED_FILE

    @property
    def rejected_path(self) -> Path:
        return self.output_dir / REJECTED_FILE

    @property
    def report_path(self) -> Path:
        return self.output_dir / REPORT_FILE

    def run(self) -> dict[str, Any]:
        """Run to the end (or until stopped); returns the report (also written to disk).

        Raises:
            LLMError: when an endpoint answers that no call can succeed (bad key, URL or
                model), after writing the report.
            CurationStopped: after ``max_consecutive_errors`` failures in a row, likewise.
        """
        return asyncio.run(self.run_async())

    # --- inputs ---

    def _video_path(self, sample: VideoSample, input_file: str) -> Path:
        p = Path(sample.video)
        if p.is_absolute():
            return p
        root = self.video_root if self.video_root is not None else Path(input_file).parent
        return root / p

    def _output_video(self, sample: VideoSample, video_path: Path) -> str:
        if self.keep_video_paths or Path(sample.video).is_absolute():
            return sample.video
        return os.path.relpath(video_path.absolute(), self.output_dir.absolute())

    def _iter_inputs(
        self, state: _RunState, tick: Callable[[int], Any]
    ) -> Iterator[tuple[VideoSample, str, Path]]:
        """Input samples still to do; counts every sample seen into ``state`` and calls
        ``tick(n)`` for input lines that need no work (bad, duplicate, already done)."""
        seen = 0
        for path in self.inputs:
            report = ReadReport(path)
            state.read_reports.append(report)
            bad = 0
            for sample in iter_jsonl(path, strict=False, report=report):
                if len(report.skipped) > bad:
                    tick(len(report.skipped) - bad)
                    bad = len(report.skipped)
                if self.limit is not None and seen >= self.limit:
                    return
                seen += 1
                if sample.id in state.input_source:
                    state.duplicates.append(sample.id)
                    log.warning("%s: duplicate sample id %r skipped", path, sample.id)
                    tick(1)
                    continue
                state.input_source[sample.id] = sample.source or "unknown"
                if sample.id in state.accepted or sample.id in state.rejected:
                    tick(1)
                    continue
                yield sample, path, self._video_path(sample, path)
            if len(report.skipped) > bad:
                tick(len(report.skipped) - bad)

    def _count_inputs(self) -> int:
        n = 0
        for path in self.inputs:
            with open(path, "rb") as f:
                n += sum(1 for line in f if line.strip())
        return n if self.limit is None else min(n, self.limit)

    # --- one sample ---

    async def _process(self, sample: VideoSample, input_file: str, video_path: Path) -> _Outcome:
        out = _Outcome(sample, input_file, video_path, SampleLog(video_path=video_path))
        current = sample
        try:
            for step in self.steps:
                if step.applies(current):
                    current = await step.run(current, out.log)
                    out.log.steps.append(step.name)
            if not current.trace:
                raise Reject("pipeline", "no_trace", "no step wrote a trace for this sample")
            out.accepted = current
        except Reject as rej:
            out.reject = rej
        except LLMError as err:
            out.error = f"LLMError: {err}"
            if err.fatal:
                out.fatal = err
        except Exception as err:  # a bug or an unexpected input: report, retry next run
            log.error(
                "sample %r failed:\n%s",
                sample.id,
                "".join(traceback.format_exception(type(err), err, err.__traceback__)),
            )
            out.error = f"{type(err).__name__}: {err}"
        return out

    def _accepted_record(self, out: _Outcome) -> dict[str, Any]:
        assert out.accepted is not None
        record = out.accepted.to_dict()
        record["video"] = self._output_video(out.sample, out.video_path)
        record["meta"] = dict(record.get("meta") or {})
        record["meta"]["curation"] = {
            "steps": out.log.steps,
            "trace_attempts": out.log.trace_attempts,
            "verifier_answers": out.log.verifier_answers,
            "models": {s.name: s.describe() for s in self.steps if s.name in out.log.steps},
        }
        return record

    def _rejected_record(self, out: _Outcome) -> dict[str, Any]:
        assert out.reject is not None
        return {
            "id": out.sample.id,
            "source": out.sample.source or "unknown",
            "reason": out.reject.reason,
            "detail": out.reject.detail,
            "trace_attempts": out.log.trace_attempts,
            "steps": out.log.steps,
            "input": out.input_file,
            "sample": out.sample.to_dict(),
        }

    # --- the loop ---

    async def run_async(self) -> dict[str, Any]:
        """`run` inside a running event loop."""
        started = time.monotonic()
        ctx = CurationContext(self.cache_dir, self.client_factory)
        for step in self.steps:
            step.setup(ctx, self.steps)
        for client in ctx.clients:
            endpoint = getattr(client, "endpoint", None)
            if endpoint is not None:
                endpoint.api_key()  # fail before any work when a key variable is unset
        state = _RunState()
        acc, cut_a = recover_jsonl(self.accepted_path)
        rej, cut_r = recover_jsonl(self.rejected_path)
        state.repaired_bytes = cut_a + cut_r
        state.accepted = {r["id"]: r for r in acc}
        state.rejected = {r["id"]: r for r in rej}
        both = set(state.accepted) & set(state.rejected)
        if both:
            raise SampleError(
                f"{self.output_dir}: id(s) both accepted and rejected: {sorted(both)[:5]}"
            )
        stop: str | None = None
        fatal: LLMError | None = None
        bar = self._progress_bar()
        try:
            with (
                JsonlAppender(self.accepted_path, self.fsync) as acc_w,
                JsonlAppender(self.rejected_path, self.fsync) as rej_w,
            ):
                stop, fatal = await self._loop(state, acc_w, rej_w, bar, ctx)
        except BaseException:
            stop = stop or "interrupted"
            raise
        finally:
            if bar is not None:
                bar.close()
            await ctx.close()
            report = self._report(state, ctx, stop, time.monotonic() - started)
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self.report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            if self.progress or stop:
                print(format_report(report), file=sys.stderr)
        if fatal is not None:
            raise fatal
        if stop is not None:
            raise CurationStopped(f"curation stopped: {stop}")
        return report

    async def _loop(
        self,
        state: _RunState,
        acc_w: JsonlAppender,
        rej_w: JsonlAppender,
        bar: Any,
        ctx: CurationContext,
    ) -> tuple[str | None, LLMError | None]:
        inputs = self._iter_inputs(state, bar.update if bar is not None else lambda n: None)
        pending: set[asyncio.Task[_Outcome]] = set()
        exhausted = False
        consecutive = 0
        stop: str | None = None
        fatal: LLMError | None = None
        try:
            while True:
                while not exhausted and stop is None and len(pending) < self.max_in_flight:
                    item = next(inputs, None)
                    if item is None:
                        exhausted = True
                        break
                    pending.add(asyncio.create_task(self._process(*item)))
                if not pending:
                    break
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    out = task.result()
                    sid = out.sample.id
                    if out.accepted is not None:
                        record = self._accepted_record(out)
                        acc_w.write(record)
                        state.accepted[sid] = record
                        state.new_accepted += 1
                        consecutive = 0
                    elif out.reject is not None:
                        record = self._rejected_record(out)
                        rej_w.write(record)
                        state.rejected[sid] = record
                        state.new_rejected += 1
                        consecutive = 0
                    else:
                        state.failures[sid] = out.error or "unknown error"
                        consecutive += 1
                        log.warning("sample %r failed (retried next run): %s", sid, out.error)
                        if out.fatal is not None and fatal is None:
                            fatal = out.fatal
                            stop = f"endpoint refused the request: {out.fatal}"
                        elif consecutive >= self.max_consecutive_errors and stop is None:
                            stop = (
                                f"{consecutive} samples failed in a row (last: {out.error}); "
                                "is the endpoint up?"
                            )
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix_str(self._postfix(state, ctx), refresh=False)
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if stop is not None:
            for _ in inputs:  # count the samples left undone as pending in the report
                pass
        return stop, fatal

    # --- progress and report ---

    def _progress_bar(self) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self._count_inputs(), unit="sample", desc="curate", dynamic_ncols=True)

    @staticmethod
    def _postfix(state: _RunState, ctx: CurationContext) -> str:
        acc, rej = len(state.accepted), len(state.rejected)
        rate = acc / (acc + rej) if acc + rej else 0.0
        retries = sum(c.retries for c in ctx.clients)
        tokens = sum(c.usage.total_tokens for c in ctx.clients)
        cost = sum(c.cost for c in ctx.clients)
        return (
            f"acc={acc} rej={rej} fail={len(state.failures)} rate={rate:.0%} "
            f"retries={retries} tok={tokens} cost=${cost:.4f}"
        )

    def _report(
        self, state: _RunState, ctx: CurationContext, stop: str | None, elapsed: float
    ) -> dict[str, Any]:
        sources: dict[str, dict[str, Any]] = defaultdict(
            lambda: {
                "in": 0,
                "accepted": 0,
                "rejected": 0,
                "rejected_by_reason": Counter(),
                "failed": 0,
                "pending": 0,
                "attempts": {"accepted": Counter(), "rejected": Counter()},
            }
        )
        for sid, source in state.input_source.items():
            s = sources[source]
            s["in"] += 1
            if sid in state.accepted:
                s["accepted"] += 1
                n = (
                    (state.accepted[sid].get("meta") or {})
                    .get("curation", {})
                    .get("trace_attempts", 0)
                )
                s["attempts"]["accepted"][str(n)] += 1
            elif sid in state.rejected:
                r = state.rejected[sid]
                s["rejected"] += 1
                s["rejected_by_reason"][r.get("reason", "unknown")] += 1
                s["attempts"]["rejected"][str(r.get("trace_attempts", 0))] += 1
            elif sid in state.failures:
                s["failed"] += 1
            else:
                s["pending"] += 1
        out_sources = {}
        for name in sorted(sources):
            s = sources[name]
            finished = s["accepted"] + s["rejected"]
            out_sources[name] = {
                **s,
                "rejected_by_reason": dict(sorted(s["rejected_by_reason"].items())),
                "acceptance_rate": s["accepted"] / finished if finished else None,
                "attempts": {k: dict(sorted(v.items())) for k, v in s["attempts"].items()},
            }
        totals = {
            k: sum(s[k] for s in out_sources.values())
            for k in ("in", "accepted", "rejected", "failed", "pending")
        }
        finished = totals["accepted"] + totals["rejected"]
        totals["acceptance_rate"] = totals["accepted"] / finished if finished else None
        endpoints = {}
        for c in ctx.clients:
            endpoints[c.label if hasattr(c, "label") else c.endpoint.label] = {
                "requests": c.requests,
                "retries": c.retries,
                "cache_hits": c.cache_hits,
                "prompt_tokens": c.usage.prompt_tokens,
                "completion_tokens": c.usage.completion_tokens,
                "cost": round(c.cost, 6),
            }
        bad = [
            {"file": r.path, "line": line, "reason": why}
            for r in state.read_reports
            for line, why in r.skipped
        ]
        return {
            "output_dir": str(self.output_dir),
            "accepted_file": str(self.accepted_path),
            "rejected_file": str(self.rejected_path),
            "complete": stop is None and totals["failed"] == 0 and totals["pending"] == 0,
            "stopped": stop,
            "elapsed_s": round(elapsed, 3),
            "this_run": {
                "accepted": state.new_accepted,
                "rejected": state.new_rejected,
                "failed": len(state.failures),
            },
            "totals": totals,
            "sources": out_sources,
            "failures": [{"id": k, "error": v} for k, v in sorted(state.failures.items())],
            "endpoints": endpoints,
            "cost": round(sum(e["cost"] for e in endpoints.values()), 6),
            "inputs": {
                "files": self.inputs,
                "bad_records": bad,
                "duplicate_ids": state.duplicates,
                "repaired_partial_bytes": state.repaired_bytes,
            },
        }


def format_report(report: dict[str, Any]) -> str:
    """The report as a few lines of text."""
    t = report["totals"]
    rate = t["acceptance_rate"]
    lines = [
        f"curation: {t['in']} in, {t['accepted']} accepted, {t['rejected']} rejected, "
        f"{t['failed']} failed, {t['pending']} pending"
        + (f" (acceptance {rate:.1%})" if rate is not None else ""),
    ]
    for name, s in report["sources"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in s["rejected_by_reason"].items()) or "-"
        attempts = ", ".join(f"{k}:{v}" for k, v in s["attempts"]["accepted"].items()) or "-"
        lines.append(
            f"  {name}: in {s['in']}, accepted {s['accepted']}, rejected {s['rejected']} "
            f"({reasons}), failed {s['failed']}, trace attempts of accepted {attempts}"
        )
    for label, e in report["endpoints"].items():
        lines.append(
            f"  {label}: {e['requests']} requests, {e['retries']} retries, "
            f"{e['cache_hits']} cached, {e['prompt_tokens']}+{e['completion_tokens']} tokens, "
            f"${e['cost']:.4f}"
        )
    bad = report["inputs"]["bad_records"]
    if bad:
        lines.append(
            f"  skipped {len(bad)} bad input record(s), e.g. {bad[0]['file']}:"
            f"{bad[0]['line']}: {bad[0]['reason']}"
        )
    if report["failures"]:
        lines.append(
            f"  {len(report['failures'])} failed sample(s) will be retried on the "
            f"next run, e.g. {report['failures'][0]['id']}: "
            f"{report['failures'][0]['error']}"
        )
    if report["stopped"]:
        lines.append(f"  stopped early: {report['stopped']}")
    lines.append(
        f"  outputs: {report['accepted_file']}, {report['rejected_file']}; report: "
        f"{Path(report['output_dir']) / REPORT_FILE}"
    )
    return "\n".join(lines)


# --- command line ----------------------------------------------------------------------------


def build_parser() -> Any:
    """The ``vthinker curate`` argument parser (jsonargparse; ``--config`` YAML)."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    parser = ArgumentParser(
        prog="vthinker curate",
        description="Hindsight curation: build verified Video-Thinker traces with LLMs.",
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML config file")
    parser.add_class_arguments(
        CurationRunner, nested_key=None, as_group=False, skip={"client_factory"}
    )
    return parser


def runner_from_args(argv: Sequence[str] | None = None) -> CurationRunner:
    """Parse ``argv`` (``--config …``) and build the runner with its steps."""
    parser = build_parser()
    cfg = parser.parse_args(list(argv) if argv is not None else None)
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    init = instantiate(cfg)
    kwargs = {k: v for k, v in vars(init).items() if k not in ("config", "__path__")}
    return CurationRunner(**kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the curation from the command line; returns the exit status."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    runner = runner_from_args(argv)
    try:
        report = runner.run()
    except (LLMError, CurationStopped) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0 if report["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
