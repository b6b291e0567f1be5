"""The progress line of long work, as a person sees it: on a terminal for a slow explain (NO_COLOR or not),
redrawn in place and wiped at the end; nothing on a pipe, nothing under --json."""

import os
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pipdoctor.progress import describe
from reallogs import mixed, recorded_logs

REPO = Path(__file__).resolve().parent.parent
SLOW_SECONDS = 2.5  # well past the second after which the line appears


def _explain_slow_fifo(tmp_path: Path, *, stderr_on_pty: bool, json: bool = False) -> tuple[bytes, bytes, float]:
    """Run explain on a FIFO that real pip lines trickle into for SLOW_SECONDS, with stderr on a new pty or a
    pipe: (what reached stderr, stdout, seconds the run took)."""
    fifo = tmp_path / "slow.log"
    os.mkfifo(fifo)
    # A FIFO opened for reading and writing is open at once on Linux (fifo(7)): the writer is there before
    # explain opens the FIFO, which it does without waiting and would otherwise read as an empty log.
    writer = os.open(fifo, os.O_RDWR)
    master, slave = os.openpty() if stderr_on_pty else os.pipe()
    argv = [sys.executable, "-m", "pipdoctor", *(["--json"] if json else []), "explain", str(fifo)]
    with tempfile.TemporaryFile() as stdout:
        started = time.monotonic()
        # NO_COLOR set: the line is not color, it still shows (https://no-color.org).
        proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=stdout, stderr=slave,
                                env={**os.environ, "NO_COLOR": "1"})
        os.close(slave)
        seen = bytearray()
        data = mixed(recorded_logs(), 1 << 20)
        pieces = 50
        for index in range(pieces):
            os.write(writer, data[index * len(data) // pieces:(index + 1) * len(data) // pieces])
            deadline = time.monotonic() + SLOW_SECONDS / pieces
            while (wait := deadline - time.monotonic()) > 0:
                if select.select([master], [], [], wait)[0]:
                    seen += os.read(master, 65536)
        os.close(writer)
        while True:  # to the end: EIO (pty) or EOF (pipe) once explain has exited
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        assert proc.wait(timeout=60) == 1
        seconds = time.monotonic() - started
        stdout.seek(0)
        return bytes(seen), stdout.read(), seconds


def test_a_slow_log_on_a_terminal_shows_one_line_redrawn_in_place_then_wiped(tmp_path):
    stderr, stdout, seconds = _explain_slow_fifo(tmp_path, stderr_on_pty=True)
    redraws = stderr.split(b"\r")
    shown = [line.decode() for line in redraws if line.strip()]
    assert shown, f"no progress line on the terminal: {stderr!r}"
    # A FIFO has no size: bytes read so far and the rate, growing.
    line_shape = re.compile(r"pipdoctor: explain: [\d.]+ [kM]?B read, [\d.]+ [kM]?B/s *")
    assert all(line_shape.fullmatch(line) for line in shown), shown
    assert len(shown) <= seconds * 10 + 2  # at most about ten redraws a second
    assert redraws[-1] == b"" and redraws[-2].strip() == b""  # wiped: the cursor back at the start of a blank line
    assert b"\n" not in stderr
    assert b"pipdoctor" in stdout  # the report itself is on stdout, after the wiped line


def test_a_slow_log_piped_shows_nothing(tmp_path):
    stderr, stdout, _ = _explain_slow_fifo(tmp_path, stderr_on_pty=False)
    assert stderr == b""
    assert stdout


def test_a_slow_log_with_json_shows_nothing_even_on_a_terminal(tmp_path):
    stderr, stdout, _ = _explain_slow_fifo(tmp_path, stderr_on_pty=True, json=True)
    assert stderr == b""
    assert stdout.startswith(b"{")


@pytest.mark.parametrize("args, shown", [
    (("explain", 45 << 20, 100 << 20, "bytes", 2.0), "pipdoctor: explain: 45.0 of 100.0 MB, 22.5 MB/s, 0:02 left"),
    (("explain", 300 << 10, None, "bytes", 0.5), "pipdoctor: explain: 300.0 kB read, 600.0 kB/s"),
    (("check", 120_345, None, "entries", 2.0), "pipdoctor: check: 120,345 entries, 60,172/s"),
    (("check", 1_000, 200_000, "entries", 1.0), "pipdoctor: check: 1,000 of 200,000 entries, 1,000/s, 3:19 left"),
])
def test_the_line_says_how_far_how_fast_and_how_long_is_left_where_known(args, shown):
    assert describe(*args) == shown


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_walk_counts_every_entry_on_the_line_serial_or_parallel(tmp_path, capfd, jobs):
    """The walks of `check` and `fix` report their running count to the one line (Progress.counter): with a
    clock that makes the walk look slow, the line shows, its counts grow, and the last drawn is the walk's total
    at most; the parallel walk's workers add up to the same total as the serial walk."""
    from pipdoctor.cachewalk import walk_cache
    from pipdoctor.progress import Progress

    for top in range(40):  # 40 x 60 files in two levels: more than the first look, so jobs=2 really forks
        for sub in range(3):
            directory = tmp_path / "cache" / f"{top:02x}" / f"{sub}"
            directory.mkdir(parents=True)
            for name in range(20):
                (directory / f"{name}.whl").write_bytes(b"")
    ticks = iter(range(10_000))
    progress = Progress("check", shown=True, check_every=1, clock=lambda: next(ticks) * 0.5)
    with progress:
        walk = walk_cache(str(tmp_path / "cache"), os.getuid(), os.getgroups(), jobs=jobs,
                          progress=progress.counter(), progress_every=100, first_look=(200, 2))
    stderr = capfd.readouterr().err
    counts = [int(match.replace(",", "")) for match in re.findall(r"pipdoctor: check: ([\d,]+) entries", stderr)]
    assert counts, stderr
    assert counts == sorted(counts) and counts[-1] <= walk.entries
    # every worker's count reached the parent: each (and the parent's first look) is at most one interval short
    assert progress.done >= walk.entries - (jobs + 1) * 100
    assert stderr.endswith("\r")  # wiped at the end
