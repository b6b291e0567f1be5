"""LogScanner: pip's output streamed in any chunking gives the same kept lines, numbers and bounded memory."""

import tracemalloc

from pipdoctor.classifier import MAX_CAPTURED, MAX_KEPT, MAX_LINE, LogScanner
from pipdoctor.logtext import clean_text

TRIGGERS = (rb"\[Errno \d+\]",)
ERROR = b"ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied: '/x'"


def _scan(chunks, triggers=TRIGGERS, captures=()):
    scanner = LogScanner(triggers, captures)
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.finish()


def test_line_numbers_are_editor_line_numbers_whatever_the_chunking():
    data = b"a\nb\n" + ERROR + b"\nc\n\nd\n" + ERROR + b"\nlast without newline"
    whole = _scan([data])
    assert [line.number for line in whole.lines] == [3, 7]
    assert whole.total_lines == 8
    for size in (1, 2, 3, 7, 64):
        chunked = _scan([data[i:i + size] for i in range(0, len(data), size)])
        assert chunked == whole


def test_the_last_line_without_newline_is_scanned():
    log = _scan([b"x\n", ERROR])
    assert [(line.number, line.text) for line in log.lines] == [(2, ERROR.decode())]


def test_terminal_capture_is_cleaned_colors_and_redraws():
    # pip's rich output on a tty: SGR colors, cursor hiding, \r redraws of a progress bar.
    raw = b"\x1b[?25l\x1b[38;5;237m\xe2\x94\x81\xe2\x94\x81 1/2 MB\r\x1b[31m" + ERROR + b"\x1b[0m"
    assert clean_text(raw).endswith(ERROR.decode())
    assert "\x1b" not in clean_text(raw)


def test_invalid_utf8_does_not_stop_the_scan():
    log = _scan([b"\xff\xfe garbage\n" + ERROR.replace(b"/x", b"/h\xe9me") + b"\n"])
    assert "Permission denied" in log.lines[0].text


def test_a_huge_line_is_cut_around_the_match():
    line = b"=" * (5 * MAX_LINE) + ERROR + b"=" * (5 * MAX_LINE)
    [kept] = _scan([line + b"\n"]).lines
    assert "[Errno 13]" in kept.text and len(kept.text) <= MAX_LINE


def test_memory_stays_bounded_on_endless_matching_output():
    tracemalloc.start()
    scanner = LogScanner(TRIGGERS)
    block = (ERROR + b"\n") * 1000
    for _ in range(200):  # 200,000 matching lines, ~18 MB
        scanner.feed(block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    log = scanner.finish()
    assert len(log.lines) <= MAX_KEPT
    assert log.lines[0].number == 1 and log.lines[-1].number == 200_000  # first and last kept
    assert peak < 8 * 1024 * 1024


def test_output_without_any_newline_is_flushed_in_bounded_pieces():
    scanner = LogScanner(TRIGGERS)
    for _ in range(40):
        scanner.feed(b"\r progress " * 10_000)
    assert len(scanner._pending) < 2 * 1024 * 1024


def test_output_in_tiny_chunks_is_gathered_and_scanned_in_order():
    data = b"".join(b"line %d\n" % n + (ERROR + b"\n" if n % 1000 == 0 else b"") for n in range(1, 20_001))
    whole = _scan([data])
    assert len(whole.lines) == 20 and whole.total_lines == 20_020
    assert _scan([data[i:i + 100] for i in range(0, len(data), 100)]) == whole


def test_a_line_is_kept_for_a_later_gate_string_when_the_first_one_is_a_false_hint():
    # "Errno" in a word first (no trigger there), then the real [Errno 13] on the same line.
    log = _scan([b"Errnoless words, then [Errno 13] Permission denied\n"])
    assert [line.number for line in log.lines] == [1]


CAPTURES = (rb"Using cached (\S+)",)


def test_captures_keep_the_first_line_of_each_value_whatever_the_chunking():
    data = (b"Using cached a.whl (1 kB)\nx\nUsing cached b.tar.gz\n" + ERROR + b"\nUsing cached a.whl (1 kB)\n"
            b"Using cached a.whl.metadata (2 kB)\n")
    whole = _scan([data], captures=CAPTURES)
    assert [(line.number, line.text) for line in whole.captured] == [
        (1, "Using cached a.whl (1 kB)"), (3, "Using cached b.tar.gz"), (6, "Using cached a.whl.metadata (2 kB)")]
    assert [line.number for line in whole.lines] == [4]  # captured lines are not kept lines
    for size in (1, 5, 17):
        assert _scan([data[i:i + size] for i in range(0, len(data), size)], captures=CAPTURES) == whole


def test_captures_stay_bounded_and_keep_the_most_recent_values():
    tracemalloc.start()
    scanner = LogScanner(TRIGGERS, CAPTURES)
    for block in range(50):
        scanner.feed(b"".join(b"Using cached f%d-1.0.tar.gz (3 kB)\n" % (block * 1000 + n) for n in range(1000)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    captured = scanner.finish().captured
    assert len(captured) == MAX_CAPTURED and captured[-1].number == 50_000
    assert peak < 8 * 1024 * 1024
