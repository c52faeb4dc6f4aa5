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

Both JSONL files are append-only `vthinker.jsonl_log` logs, one ``write`` + flush (+ fsync)
per finished sample, in the order samples finish (records: `vthinker.curation.outputs`;
report: `vthinker.curation.report`). **Resuming:** a restart reads them back, skips every
id already accepted or rejected and processes the rest; a last line cut by a crash (no
trailing newline) is detected and cut off the file first, so that sample is simply done
again. With ``cache_dir`` every LLM reply already received is served from disk, so a
resumed run pays for nothing twice.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vthinker.curation.outputs import (
    ACCEPTED_FILE,
    REJECTED_FILE,
    REPORT_FILE,
    Outcome,
    accepted_record,
    recover_jsonl,
    rejected_record,
)
from vthinker.curation.report import RunState, build_report, format_report, progress_postfix
from vthinker.curation.steps import CurationContext, Reject, SampleLog, Step
from vthinker.data.schema import ReadReport, SampleError, VideoSample, iter_jsonl
from vthinker.jsonl_log import JsonlAppender
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
    "format_report",
    "main",
    "recover_jsonl",
    "runner_from_args",
]


class CurationStopped(RuntimeError):
    """The run stopped early (too many failures in a row); the report says why."""


# --- the runner ------------------------------------------------------------------------------


@dataclass
class _LoopState:
    """Bookkeeping of `CurationRunner._loop`."""

    exhausted: bool = False
    consecutive: int = 0
    stop: str | None = None
    fatal: LLMError | None = None


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
        self, state: RunState, tick: Callable[[int], Any]
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

    async def _process(self, sample: VideoSample, input_file: str, video_path: Path) -> Outcome:
        out = Outcome(sample, input_file, video_path, SampleLog(video_path=video_path))
        current = sample
        try:
            if sample.data_type == "image":  # Video-R1 sources read image questions too
                raise Reject("pipeline", "image_question", "curation builds traces for videos")
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
        state = self._resume_state()
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
            report = self._write_report(state, ctx, stop, time.monotonic() - started)
        if fatal is not None:
            raise fatal
        if stop is not None:
            raise CurationStopped(f"curation stopped: {stop}")
        return report

    def _resume_state(self) -> RunState:
        """The state with the records already on disk (a torn last line cut off)."""
        state = RunState()
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
        return state

    async def _loop(
        self,
        state: RunState,
        acc_w: JsonlAppender,
        rej_w: JsonlAppender,
        bar: Any,
        ctx: CurationContext,
    ) -> tuple[str | None, LLMError | None]:
        """Keep up to ``max_in_flight`` samples running and write each as it finishes."""
        inputs = self._iter_inputs(state, bar.update if bar is not None else lambda n: None)
        pending: set[asyncio.Task[Outcome]] = set()
        loop = _LoopState()
        try:
            while True:
                self._start_more(pending, inputs, loop)
                if not pending:
                    break
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    self._finish(task.result(), state, loop, acc_w, rej_w)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix_str(progress_postfix(state, ctx.clients), refresh=False)
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if loop.stop is not None:
            for _ in inputs:  # count the samples left undone as pending in the report
                pass
        return loop.stop, loop.fatal

    def _start_more(
        self,
        pending: set[asyncio.Task[Outcome]],
        inputs: Iterator[tuple[VideoSample, str, Path]],
        loop: _LoopState,
    ) -> None:
        """Start samples until ``max_in_flight`` run, the inputs end or the run stops."""
        while not loop.exhausted and loop.stop is None and len(pending) < self.max_in_flight:
            item = next(inputs, None)
            if item is None:
                loop.exhausted = True
                return
            pending.add(asyncio.create_task(self._process(*item)))

    def _finish(
        self,
        out: Outcome,
        state: RunState,
        loop: _LoopState,
        acc_w: JsonlAppender,
        rej_w: JsonlAppender,
    ) -> None:
        """Write a finished sample, or count its failure (and decide whether to stop)."""
        sid = out.sample.id
        if out.accepted is not None:
            video = self._output_video(out.sample, out.video_path)
            record = accepted_record(out, video, self.steps)
            acc_w.write(record)
            state.accepted[sid] = record
            state.new_accepted += 1
            loop.consecutive = 0
        elif out.reject is not None:
            record = rejected_record(out)
            rej_w.write(record)
            state.rejected[sid] = record
            state.new_rejected += 1
            loop.consecutive = 0
        else:
            state.failures[sid] = out.error or "unknown error"
            loop.consecutive += 1
            log.warning("sample %r failed (retried next run): %s", sid, out.error)
            if out.fatal is not None and loop.fatal is None:
                loop.fatal = out.fatal
                loop.stop = f"endpoint refused the request: {out.fatal}"
            elif loop.consecutive >= self.max_consecutive_errors and loop.stop is None:
                loop.stop = (
                    f"{loop.consecutive} samples failed in a row (last: {out.error}); "
                    "is the endpoint up?"
                )

    # --- progress and report ---

    def _progress_bar(self) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self._count_inputs(), unit="sample", desc="curate", dynamic_ncols=True)

    def _write_report(
        self, state: RunState, ctx: CurationContext, stop: str | None, elapsed: float
    ) -> dict[str, Any]:
        """Build the report, write ``report.json`` and print it (always when stopped)."""
        report = build_report(
            state, ctx.clients, stop, elapsed, output_dir=self.output_dir, inputs=self.inputs
        )
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        if self.progress or stop:
            print(format_report(report), file=sys.stderr)
        return report


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
