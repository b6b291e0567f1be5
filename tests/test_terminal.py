"""What reaches a terminal: the one escaping of names and log lines, kept by every human renderer, and the
one writer (a reader that leaves is not an error, a closed or full stdout is)."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest

from pipdoctor.errors import OutputError
from pipdoctor.findings import Evidence, Finding, Fix, Severity
from pipdoctor.report import render_error_json, render_human, render_json
from pipdoctor.terminal import TerminalText, terminal_safe, write

FORGED = "wheels/x\n\x1b[32mOK all good\x07\r\x9b2J\u202eevil\u2028"
NOT_UTF8 = os.fsdecode(b"wheels/caf\xe9")


@pytest.mark.parametrize("text, shown", [
    (FORGED, "wheels/x\\n\\x1b[32mOK all good\\x07\\r\\x9b2J\\u202eevil\\u2028"),
    (NOT_UTF8, "wheels/caf\\xe9"),  # a byte that is not UTF-8, as `ls -b` shows it
    ("tab\there\x7f", "tab\\there\\x7f"),
])
def test_control_characters_and_bytes_that_are_not_utf8_are_escaped(text, shown):
    assert terminal_safe(text) == shown


@pytest.mark.parametrize("text", [
    "sudo chown -R 1001:1001 $'/home/a/.cache/pip/wheels/x\\n\\x1b[32m'",  # shell_quote's form: not escaped twice
    r"C:\Users\pip\cache",
    "café ünïcödé 日本語 🙂",
    "",
])
def test_printable_text_is_unchanged(text):
    assert terminal_safe(text) == text


def _finding() -> Finding:
    return Finding("PD103", "cache-foreign-owned", Severity.ERROR, f"2 entries in {FORGED} are root's",
                   why=f"why {NOT_UTF8}", paths=(FORGED, NOT_UTF8),
                   evidence=(Evidence(f"{FORGED} (dir, root 0:0)"), Evidence(f"ERROR: {FORGED}", 7)),
                   fixes=(Fix(f"rm -r {FORGED}", f"note {FORGED}", False),))


def _controls(text: str) -> list:
    return [c for c in text if not c.isprintable() and c != "\n"]


@pytest.mark.parametrize("color", [False, True])
def test_human_report_shows_every_part_escaped(color):
    text = render_human([_finding()], color=color, headline=f"pipdoctor: root cause {FORGED}")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text) if color else text
    assert "\x1b" in text if color else "\x1b" not in text
    assert _controls(plain) == []
    lines = plain.splitlines()
    assert not any(line.lstrip().startswith("OK all good") for line in lines)
    # headline, message, why, evidence x2, fix command and note: each one line that shows the name escaped
    assert sum(terminal_safe(FORGED) in line for line in lines) == 6
    assert plain.encode("utf-8")  # no lone surrogate left to encode


def test_json_keeps_names_exact():
    text = render_json("explain", [_finding()], 1)
    document = json.loads(text)
    finding = document["findings"][0]
    assert finding["paths"][0] == FORGED and finding["evidence"][1] == {"line": 7, "text": f"ERROR: {FORGED}"}
    # A byte that is not UTF-8: shown as \xNN, its exact bytes in raw_bytes by JSON Pointer; never a lone
    # surrogate (\udce9), which strict parsers refuse and others replace.
    assert finding["paths"][1] == "wheels/caf\\xe9" and finding["why"] == "why wheels/caf\\xe9"
    raw = {pointer: base64.b64decode(value) for pointer, value in document["raw_bytes"].items()}
    assert raw == {"/findings/0/paths/1": b"wheels/caf\xe9", "/findings/0/why": b"why wheels/caf\xe9"}
    assert "\\udc" not in text and text.isascii()


def test_json_error_document_keeps_a_name_that_is_not_utf8():
    document = json.loads(render_error_json(f"cannot read {NOT_UTF8}: No such file", 2))
    assert document["error"] == "cannot read wheels/caf\\xe9: No such file" and document["exit_code"] == 2
    assert base64.b64decode(document["raw_bytes"]["/error"]) == b"cannot read wheels/caf\xe9: No such file"


def test_any_other_text_is_a_message_kept_to_its_one_line_when_written(tmp_path):
    out = tmp_path / "out"
    with open(out, "wb") as file:
        write(file.fileno(), f"\npipdoctor fix: {FORGED}\n")
        write(file.fileno(), "\n" + render_human([_finding()], color=True))
    lines = out.read_text().split("\n")
    assert lines[:3] == ["", "pipdoctor fix: " + terminal_safe(FORGED), ""]
    assert lines[3].startswith("\x1b[31m")  # the rendered report's own colors survive the str added to it
    assert "\x1b" + TerminalText("a\n") == "\\x1ba\n"


def test_a_reader_that_left_is_not_an_error_and_a_full_disk_is():
    read, written = os.pipe()
    os.close(read)
    write(written, "nobody reads this\n")  # EPIPE: dropped without a word
    os.close(written)
    with open("/dev/full", "wb") as full, pytest.raises(OutputError, match="No space left on device"):
        write(full.fileno(), "x\n")
