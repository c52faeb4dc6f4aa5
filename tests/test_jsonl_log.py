"""The crash-safe JSONL log shared by curation outputs and evaluation predictions: a line
torn by a crash is reported and cut off, other bad lines are reported, appends resume on a
fresh line."""

import json

import pytest

from vthinker.jsonl_log import (
    JsonlAppender,
    append_record,
    cut_torn_tail,
    read_log,
    rewrite_log,
)


def test_absent_file_reads_empty(tmp_path):
    contents = read_log(tmp_path / "none.jsonl")
    assert contents.records == [] and contents.bad == [] and contents.torn == 0
    assert cut_torn_tail(tmp_path / "none.jsonl", contents) == 0


def test_append_writes_one_line_per_record(tmp_path):
    p = tmp_path / "sub" / "log.jsonl"
    with JsonlAppender(p) as w:
        w.write({"id": "a", "text": "é"})
        w.write({"id": "b"})
    append_record(p, {"id": "c"}, fsync=False)
    assert p.read_text(encoding="utf-8").splitlines() == [
        '{"id": "a", "text": "é"}',
        '{"id": "b"}',
        '{"id": "c"}',
    ]
    with pytest.raises(RuntimeError, match="not open"):
        JsonlAppender(p).write({"id": "d"})


@pytest.mark.parametrize("torn", [b'{"id": "c", "tr', b'{"id": "c"}'])
def test_torn_last_line_is_cut_and_resumption_appends_after_it(tmp_path, caplog, torn):
    """A crash mid-write leaves a last line without its newline; it is never trusted (even
    when it parses), cut off, and the record written again starts on a fresh line."""
    p = tmp_path / "log.jsonl"
    intact = b'{"id": "a"}\n\n{"id": "b"}\n'
    p.write_bytes(intact + torn)
    contents = read_log(p)
    assert [r["id"] for r in contents.records] == ["a", "b"]
    assert contents.bad == [] and contents.torn == len(torn)
    assert p.read_bytes() == intact + torn  # reading changes nothing
    assert cut_torn_tail(p, contents) == len(torn)
    assert "partial last line" in caplog.text
    assert p.read_bytes() == intact
    with JsonlAppender(p) as w:  # resume: redo the torn record, then go on
        w.write({"id": "c"})
        w.write({"id": "d"})
    again = read_log(p)
    assert [r["id"] for r in again.records] == ["a", "b", "c", "d"] and again.torn == 0
    assert cut_torn_tail(p, again) == 0


def test_bad_complete_lines_are_reported_with_their_line(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_bytes(b'{"id": "a"}\ngarbage\n{"no_id": 1}\n["id"]\n{"id": "b"}\n')
    contents = read_log(p)
    assert [r["id"] for r in contents.records] == ["a", "b"]
    assert [n for n, _ in contents.bad] == [2, 3, 4]
    assert contents.bad[0][1].startswith("not a JSON record")
    assert contents.bad[1][1] == "record without a string 'id'"
    assert contents.torn == 0 and contents.intact_bytes == p.stat().st_size


def test_rewrite_replaces_atomically(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_bytes(b'{"id": "a"}\ngarbage\n{"id": "b", "tr')
    rewrite_log(p, [{"id": "a"}, {"id": "b"}])
    assert [json.loads(x)["id"] for x in p.read_text().splitlines()] == ["a", "b"]
    assert not list(tmp_path.glob("*.tmp"))
