"""explain on big real logs: the same kept lines and findings however the input arrives, and a peak memory
that does not grow with the log's size."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipdoctor.classifier import MAX_KEPT, LogScanner, classify, clean_text
from pipdoctor.rules import TRIGGERS
from reallogs import mixed, recorded_logs, write_mix

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def big_real_log() -> bytes:
    """About 9 MB of the recorded logs in random order: more than two of the scanner's batches, each with
    thousands of kept lines, so both the head and the skipped middle of a batch are exercised."""
    return mixed(recorded_logs(), 9 << 20)


def _scan(data: bytes, size: int):
    scanner = LogScanner(TRIGGERS)
    for at in range(0, len(data), size):
        scanner.feed(data[at:at + size])
    return scanner.finish()


def _every_matching_line(data: bytes) -> list:
    """The lines any trigger matches, numbered, checked one by one with no gate: what the scanner keeps."""
    anywhere = re.compile(b"|".join(b"(?:%s)" % t for t in TRIGGERS), re.MULTILINE)
    return [(number, clean_text(line)) for number, line in enumerate(data.split(b"\n"), 1) if anywhere.search(line)]


def test_kept_lines_are_every_matching_line_first_and_last(big_real_log):
    log = _scan(big_real_log, len(big_real_log))
    expected = _every_matching_line(big_real_log)
    assert len(expected) > 2 * MAX_KEPT
    assert [(line.number, line.text) for line in log.lines] == expected[:MAX_KEPT // 2] + expected[-MAX_KEPT // 2:]
    assert log.total_lines == big_real_log.count(b"\n")


@pytest.mark.parametrize("size", [4093, 65536, 1 << 20, 3_000_017])
def test_kept_lines_and_findings_do_not_depend_on_the_block_size(big_real_log, size):
    whole = _scan(big_real_log, len(big_real_log))
    chunked = _scan(big_real_log, size)
    assert chunked == whole
    assert classify(chunked) == classify(whole)


def test_one_byte_at_a_time_gives_the_same_log():
    data = mixed(recorded_logs(), 600_000, seed=7)
    assert _scan(data, 1) == _scan(data, len(data))


# Runs explain from a small process of its own and reports the child's peak RSS (KiB) on stderr: a child
# forked from pytest would carry pytest's own high-water mark in ru_maxrss.
PEAK_PROBE = """
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:]).returncode
sys.stderr.write(f"{status} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n")
"""


def _explain_peak_mb(log: Path) -> float:
    probe = subprocess.run([sys.executable, "-c", PEAK_PROBE, sys.executable, "-m", "pipdoctor", "explain", "--json",
                            str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True, cwd=REPO)
    status, peak_kib = probe.stderr.split()[-2:]
    assert int(status) == 1 and json.loads(probe.stdout)["findings"], probe.stdout[-300:]
    return int(peak_kib) / 1024


def test_explain_peak_memory_is_bounded_and_does_not_grow_with_the_log(tmp_path):
    small, large = tmp_path / "small.log", tmp_path / "large.log"
    write_mix(small, 8 << 20, recorded_logs())
    write_mix(large, 64 << 20, recorded_logs())
    small_peak, large_peak = _explain_peak_mb(small), _explain_peak_mb(large)
    assert large_peak < 60, f"explain of a 64 MB log peaked at {large_peak:.1f} MB"
    assert large_peak < small_peak + 6, f"8 MB log: {small_peak:.1f} MB at peak, 64 MB log: {large_peak:.1f} MB"
