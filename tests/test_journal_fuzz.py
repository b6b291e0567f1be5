"""A journal fuzzer: seeded random and mutated journals through the reader and the schema in-process (thousands
of cases), a sample of them through root's real `fix --undo` in the seal, and a 1 GB journal read in bounded
memory. Never a traceback; whatever is accepted is plain names and in-range ids; nothing outside the cache
changes."""

from __future__ import annotations

import json
import os
import random

import pytest

from pipdoctor.repair import journal as journal_io
from pipdoctor.repair import schema
from pipdoctor.repair.fs import RepairError
from pipdoctor.repair.store import JournalFile, Store
from tests.fixkit import (fix_as_root, host_path, journal_header, journal_of, listing, outside_file,
                          plant_root_journal, root_journals, seed_failure)

HEADER = schema.Header("/home/u/.cache/pip", 64768, 1234, 1000, 1000, "u", 10 ** 18)
CASES = 5000

_ODD_VALUES = [None, True, False, -1, 0, 1, 1.5, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32 + 5, 2 ** 64, -2 ** 63,
               "", ".", "..", "/", "a/../b", "\0", "\udcff", "\ud800", "x" * 300, [], {}, [[[]]], "1e999"]


def _valid_lines(rng: random.Random) -> list:
    """A journal the writer could have made: a header, chown chunks and renames with their `done`, an end."""
    lines = [schema.header_line(HEADER, {"steps": ["chown"]})]
    n = 0
    for _ in range(rng.randint(0, 4)):
        n += 1
        if rng.random() < 0.7:
            entries = [[f"wheels/{rng.randrange(256):02x}/e{i}", rng.randrange(1, 10 ** 7), 0, 0,
                        rng.choice([0o40755, 0o100644, 0o120777])] for i in range(rng.randint(1, 6))]
            lines += schema.chown_lines(n, HEADER.dev, HEADER.uid, HEADER.gid, 10 ** 18 + n,
                                        schema.entries_json(entries))
        else:
            lines.append(schema.rename_line(schema.Rename(n, "", "wheels", f"wheels.pipdoctor-{n}", HEADER.dev,
                                                          rng.randrange(1, 10 ** 7), 0o40755)))
        if rng.random() < 0.8:
            lines.append(schema.done_line(n, 10 ** 18 + n))
    if rng.random() < 0.7:
        lines.append(schema.end_line("2026-01-01T00:00:00+0000"))
    return lines


def _mutate_record(rng: random.Random, line: str) -> str:
    """Replace, drop or add one field of a record, or one item of a chown entry, with an odd value."""
    obj = json.loads(line)
    target = obj
    if obj.get("entries") and rng.random() < 0.5:
        target = rng.choice(obj["entries"])
        target[rng.randrange(len(target))] = rng.choice(_ODD_VALUES)
        return json.dumps(obj)
    key = rng.choice(list(target))
    what = rng.random()
    if what < 0.2:
        del target[key]
    elif what < 0.3:
        target[rng.choice(["t", "op", "zz"])] = rng.choice(["header", "planned", "done", "end", "undone", "rm", 1])
    else:
        target[key] = rng.choice(_ODD_VALUES)
    return json.dumps(obj)


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    choice = rng.random()
    if choice < 0.3 and data:  # cut at any byte: a kill -9, a full disk
        return data[:rng.randrange(len(data))]
    if choice < 0.6 and data:  # flip some bytes
        raw = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    if choice < 0.8:  # splice in nesting, garbage or a long line
        junk = rng.choice([b"[" * rng.randint(1, 5000), b"{" * 50 + b"}" * 50, b"\xff\xfe\x00", b"\n" * 3,
                           b'"' * 7, b"\\", b"9" * 5000, b'{"t":"done","n":1,"at_ns":1}'])
        at = rng.randrange(len(data) + 1)
        return data[:at] + junk + data[at:]
    lines = data.split(b"\n")  # swap or duplicate lines
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _check_accepted(header: schema.Header, records: list) -> None:
    """What the reader hands undo is always within the schema, whatever the input was."""
    for rec in records:
        if isinstance(rec, schema.Chown):
            for entry in rec.entries:
                assert schema.plain_rel(entry.rel, allow_root=True)
                assert all(type(v) is int for v in (entry.ino, entry.uid, entry.gid, entry.mode))
                assert 0 <= entry.uid <= schema.MAX_ID and 0 <= entry.gid <= schema.MAX_ID
        elif isinstance(rec, schema.Rename):
            assert schema.plain_name(rec.old) and schema.plain_name(rec.new)
            assert schema.plain_rel(rec.parent, allow_root=True)
    assert 0 <= header.uid <= schema.MAX_ID and 0 <= header.gid <= schema.MAX_ID


def _read(data: bytes, root_store: bool = True):
    """check_journal then every record newest first, on a memfd holding data: (header, records) or the error."""
    fd = os.memfd_create("journal")
    try:
        os.write(fd, data)
        journal = JournalFile(fd, "fuzz.jsonl", Store("/nowhere", root_store))
        try:
            header, _ = journal_io.check_journal(journal, len(data))
        except RepairError as error:
            assert str(error).count("\n") == 0
            return error
        return header, list(journal_io.records_newest_first(journal, len(data), header))
    finally:
        os.close(fd)


def test_mutated_journals_are_read_or_refused_never_a_crash():
    rng = random.Random(20261206)
    accepted = refused = 0
    for _ in range(CASES):
        lines = _valid_lines(rng)
        if rng.random() < 0.5 and len(lines) > 1:
            index = rng.randrange(1, len(lines)) if rng.random() < 0.9 else 0
            lines[index] = _mutate_record(rng, lines[index])
        data = ("\n".join(lines) + "\n").encode("ascii", "backslashreplace")
        if rng.random() < 0.5:
            data = _mutate_bytes(rng, data)
        result = _read(data, root_store=rng.random() < 0.8)
        if isinstance(result, RepairError):
            refused += 1
        else:
            accepted += 1
            _check_accepted(*result)
    assert accepted > CASES // 10 and refused > CASES // 10, (accepted, refused)


def test_an_unmutated_journal_reads_back_every_record_newest_first():
    rng = random.Random(7)
    for _ in range(300):
        lines = _valid_lines(rng)
        header, records = _read(("\n".join(lines) + "\n").encode())
        assert header == HEADER
        expected = [schema.parse_record(json.loads(line), HEADER) for line in lines[1:]]
        assert records == expected[::-1]


@pytest.mark.parametrize("seed", range(3))
def test_reading_backwards_and_forwards_agree_on_random_bytes(seed, monkeypatch):
    """Tiny blocks and a tiny line limit, so every boundary case happens: the same lines both ways, long ones
    replaced by None, never more than MAX_LINE held."""
    rng = random.Random(seed)
    monkeypatch.setattr(journal_io, "BLOCK", 7)
    monkeypatch.setattr(schema, "MAX_LINE", 20)
    for _ in range(500):
        data = bytes(rng.choice(b"ab\n\n") for _ in range(rng.randint(0, 200)))
        if rng.random() < 0.3:
            data += b"x" * rng.randint(15, 60)
        fd = os.memfd_create("lines")
        try:
            os.write(fd, data)
            forward = list(journal_io.lines_forward(fd, len(data)))
            backward = list(journal_io.lines_backward(fd, len(data)))
        finally:
            os.close(fd)
        expected = [line if len(line) <= 20 else None for line in data.split(b"\n")]
        if expected and expected[-1] == b"":
            expected.pop()  # a last newline ends the last line
        assert forward == [line for line in expected], data
        assert backward == ([b""] if data.endswith(b"\n") else []) + expected[::-1], data


@pytest.mark.root
def test_a_sample_of_mutated_real_journals_through_roots_undo(user, seal):
    """A real fix's journal, mutated a dozen ways, each through root's sealed `fix --undo`: exit 0, 1 or a
    one-line 2, never a traceback, and the victim outside the cache never changes."""
    cache = seed_failure(user)
    victim = seal.scratch / "victim"
    victim.mkdir()
    outside_file(victim)
    before_victim = listing(victim)
    fixed = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert fixed.returncode == 0, fixed.text()
    real = host_path(seal, journal_of(fixed)).read_bytes()
    rng = random.Random(11)
    for case in range(12):
        lines = real.decode().rstrip("\n").split("\n")
        if case % 2:
            index = rng.randrange(1, len(lines))
            lines[index] = _mutate_record(rng, lines[index])
        data = ("\n".join(lines) + "\n").encode("ascii", "backslashreplace")
        if case % 3:
            data = _mutate_bytes(rng, data)
        journal = plant_root_journal(seal, user.uid, f"fuzz-{case}.jsonl", [data])
        result = fix_as_root(seal, "--user", user.name, "--undo", journal, "--json")
        assert result.returncode in (0, 1, 2) and b"Traceback" not in result.errors, result.text()
        if result.returncode == 2:
            assert result.errors.startswith(b"pipdoctor: error: ") and result.errors.count(b"\n") == 1
        assert listing(victim) == before_victim
        assert {v[0] for v in listing(cache).values()} <= {0, user.uid}


@pytest.mark.root
def test_a_1_gb_journal_is_undone_in_bounded_memory(user, seal):
    """1 GB of valid records (padded to just under the line limit) after a real header: both passes read it
    all, in blocks, and the peak RSS stays well under 100 MB."""
    from tests.test_attack_journal import undo_measured

    cache = seed_failure(user)
    header = journal_header(cache, user.uid, user.gid)
    journal = plant_root_journal(seal, user.uid, "big.jsonl", [header])
    record = schema.undone_line("2026-01-01T00:00:00+0000", 0, 0)
    padded = (record[:-1] + " " * (schema.MAX_LINE - len(record) - 1) + "}\n").encode()
    big = root_journals(seal, user.uid) / "big.jsonl"
    try:
        with open(big, "ab") as handle:
            for _ in range(2 ** 30 // len(padded) + 1):
                handle.write(padded)
        assert os.path.getsize(big) > 2 ** 30
        before = listing(cache)
        code, out, errors, rss = undo_measured(seal, user, journal)
    finally:
        big.unlink()  # pytest keeps the last runs' tmp dirs: not a GB of them
    assert code == 0 and not errors, (out, errors)
    assert any("undone before" in note for note in json.loads(out)["undone"]["notes"])
    assert rss < 100_000, rss
    assert listing(cache) == before


def test_a_cut_line_of_escaped_quotes_is_refused_in_one_pass():
    """A chunk line cut by kill -9 or a full disk inside a name of '"' characters (the user's to choose): the
    string scan took every escaped quote as a new start (hours for 4 MB); one linear pass now. The alarm turns
    a regression into a failure instead of a hang."""
    import signal

    line = b'{"t":"planned","n":1,"op":"chown","entries":[["' + b'\\"' * (2 << 20)
    signal.signal(signal.SIGALRM, signal.default_int_handler)
    signal.alarm(60)
    try:
        with pytest.raises(schema.BadRecord):
            schema.decode_line(line)
    finally:
        signal.alarm(0)
