"""The command line contract: options in both places, one-line errors, documented exit codes, colors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipdoctor import exitcodes
from pipdoctor.report import use_color

LOGS = Path(__file__).parent / "data" / "logs"


def pipdoctor(*args, stdin=b"", env=None):
    return subprocess.run([sys.executable, "-m", "pipdoctor", *map(str, args)], input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


@pytest.fixture(scope="module")
def seed_log() -> Path:
    """A recorded real pip log of the seed failure (root-owned wheels/), from scripts/record-logs."""
    return sorted((LOGS / "wheels-root-owned").glob("pip-*.log"))[-1]


@pytest.fixture(scope="module")
def healthy_log() -> Path:
    return sorted((LOGS / "healthy").glob("pip-*.log"))[-1]


def test_version_and_help():
    assert pipdoctor("--version").stdout.startswith(b"pipdoctor ")
    shown = pipdoctor("--help")
    assert shown.returncode == 0 and b"usage: pipdoctor" in shown.stdout


def test_explain_exit_codes(seed_log, healthy_log):
    assert pipdoctor("explain", seed_log).returncode == exitcodes.FINDINGS
    clean = pipdoctor("explain", healthy_log)
    assert clean.returncode == exitcodes.OK and b"no known problem" in clean.stdout


def test_explain_reads_stdin(seed_log):
    for args in (("explain", "-"), ("explain",)):
        result = pipdoctor(*args, stdin=seed_log.read_bytes())
        assert result.returncode == 1 and b"PD101" in result.stdout


@pytest.mark.parametrize("placement", [("--json", "explain"), ("explain", "--json")])
def test_json_before_or_after_the_subcommand(seed_log, placement):
    result = pipdoctor(*placement, seed_log)
    document = json.loads(result.stdout)
    assert document["schema_version"] == 1 and document["command"] == "explain"
    assert document["exit_code"] == result.returncode == 1
    first = document["findings"][0]
    assert set(first) >= {"code", "name", "severity", "message", "paths", "evidence", "fixes"}
    assert first["code"] == "PD101"
    assert all(set(fix) >= {"command", "safe"} for fix in first["fixes"])
    assert all(isinstance(e["line"], int) for e in first["evidence"])


def _one_line_error(result):
    assert result.returncode == exitcodes.USAGE
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipdoctor: error: ") and "Traceback" not in lines[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    binary = tmp_path / "garbage.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    unreadable = tmp_path / "secret.log"
    unreadable.write_text("x")
    unreadable.chmod(0)
    cases = [("explain", tmp_path / "missing.log"), ("explain", binary), ("explain", tmp_path),
             ("explain", "a.log", "b.log"), ("explain", "PD999"), ("--color", "purple", "install"),
             ("--bogus", "install"), ("--python", tmp_path / "nope", "install", "x")]
    if os.geteuid() != 0:  # root reads anything
        cases.append(("explain", unreadable))
    for args in cases:
        _one_line_error(pipdoctor(*args))


def test_no_arguments_is_a_usage_error():
    result = pipdoctor()
    assert result.returncode == exitcodes.USAGE and b"usage:" in result.stderr


def test_color_is_one_decision():
    assert use_color("auto", True, {}) is True
    assert use_color("auto", False, {}) is False
    assert use_color("auto", True, {"NO_COLOR": "1"}) is False
    assert use_color("auto", True, {"TERM": "dumb"}) is False
    assert use_color("auto", False, {"FORCE_COLOR": "1"}) is True
    assert use_color("never", True, {"FORCE_COLOR": "1"}) is False
    assert use_color("always", False, {"NO_COLOR": "1"}) is True


def test_report_is_plain_when_piped_and_colored_when_forced(seed_log):
    assert b"\x1b[" not in pipdoctor("explain", seed_log).stdout
    assert b"\x1b[" in pipdoctor("--color", "always", "explain", seed_log).stdout
    env = dict(os.environ, FORCE_COLOR="1", NO_COLOR="1")
    assert b"\x1b[" not in pipdoctor("explain", seed_log, env=env).stdout


def test_explain_code_prints_its_page():
    result = pipdoctor("explain", "pd101")
    assert result.returncode == 0 and result.stdout.startswith(b"# PD101")


@pytest.mark.parametrize("args", [["explain", "a\0b.log"], ["install", "pkg\0"], ["--python", "/usr/bin/py\0"]])
def test_nul_byte_in_an_argument_is_one_line_and_exit_2(args, capfd):
    from pipdoctor.cli import main

    assert main(args) == exitcodes.USAGE
    out, err = capfd.readouterr()
    assert out == "" and err.startswith("pipdoctor: error: an argument holds a NUL byte: ") and err.count("\n") == 1


@pytest.mark.parametrize("json_flag", [["--json"], []])
def test_a_reader_that_left_keeps_the_findings_exit_status(seed_log, json_flag):
    read, written = os.pipe()
    os.close(read)  # the reader has left before pipdoctor writes a byte: EPIPE on the first write
    try:
        result = subprocess.run([sys.executable, "-m", "pipdoctor", *json_flag, "explain", seed_log], stdout=written,
                                stderr=subprocess.PIPE)
    finally:
        os.close(written)
    assert (result.returncode, result.stderr) == (exitcodes.FINDINGS, b"")


def test_full_stdout_is_one_line_and_exit_3(seed_log):
    for args in (["--version"], ["--help"], ["explain", seed_log], ["explain", "PD101"]):
        with open("/dev/full", "wb") as full:
            result = subprocess.run([sys.executable, "-m", "pipdoctor", *args], stdout=full, stderr=subprocess.PIPE)
        assert result.returncode == exitcodes.OUTPUT_FAILED
        assert result.stderr == b"pipdoctor: error: cannot write to standard output: No space left on device\n"
