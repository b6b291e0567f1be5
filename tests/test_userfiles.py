"""userfiles: a user's files read as regular files only, never blocking, bounded; as root, with the user's ids
in a child whose answer is checked like any input. And configparser's errors without the file's lines."""

from __future__ import annotations

import os
import time

import pytest

from pipdoctor import userfiles
from pipdoctor.installers.pip.locations import ConfigFile, PipInputError, decide_cache_location
from pipdoctor.userfiles import MAX_FILE_BYTES, ReaderFailed, UserFile, read_bounded, read_files_as


def test_regular_files_directories_and_missing_names_read_as_pip_meets_them(tmp_path):
    conf = tmp_path / "pip.conf"
    conf.write_bytes(b"[global]\ncache-dir = /c\n")
    assert read_bounded(str(conf)) == UserFile(str(conf), b"[global]\ncache-dir = /c\n")
    # configparser cannot open a directory and skips it; os.path.exists is False for the rest
    assert read_bounded(str(tmp_path)) == UserFile(str(tmp_path), b"")
    for missing in (tmp_path / "none", tmp_path / "pip.conf" / "below", "/tmp/nul\0byte"):
        assert read_bounded(str(missing)) == UserFile(str(missing), None)
    dangling = tmp_path / "dangling"
    os.symlink(tmp_path / "none", dangling)
    assert read_bounded(str(dangling)).data is None


def test_fifos_devices_and_huge_files_are_not_read(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero"
    os.symlink("/dev/zero", zero)
    huge = tmp_path / "huge"
    huge.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    exact = tmp_path / "exact"
    exact.write_bytes(b"#" * MAX_FILE_BYTES)
    started = time.monotonic()
    assert read_bounded(str(fifo)).problem == "it is a FIFO (named pipe), not a regular file"
    assert read_bounded(str(zero)).problem == "it is a character device, not a regular file"
    assert read_bounded(str(huge)) == UserFile(str(huge), b"", "it is larger than 1 MiB, more than any pip "
                                               "config file")
    assert read_bounded(str(exact)).data == b"#" * MAX_FILE_BYTES
    assert time.monotonic() - started < 5


@pytest.mark.root
def test_the_child_reads_with_the_users_ids_only(user):
    tmp_path = user.home  # root's files in a dir the user can enter
    secret = tmp_path / "secret"
    secret.write_bytes(b"root only\n")
    secret.chmod(0o600)
    readable = tmp_path / "readable"
    readable.write_bytes(b"[global]\n")
    readable.chmod(0o644)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o666)
    paths = [str(secret), str(readable), str(fifo), str(tmp_path / "none")]
    got = read_files_as(user.uid, user.gid, (user.gid,), paths)
    assert got == (UserFile(str(secret), b""), UserFile(str(readable), b"[global]\n"),
                   UserFile(str(fifo), b"", "it is a FIFO (named pipe), not a regular file"),
                   UserFile(str(tmp_path / "none"), None))
    # a file only the user's group may read: the supplementary groups are taken too
    group_only = tmp_path / "group-only"
    group_only.write_bytes(b"group\n")
    os.chown(group_only, 0, user.gid)
    group_only.chmod(0o640)
    assert read_files_as(user.uid, 12345, (user.gid,), [str(group_only)])[0].data == b"group\n"
    assert read_files_as(user.uid, 12345, (), [str(group_only)])[0].data == b""


@pytest.mark.root
def test_a_reader_out_of_time_is_killed_and_reaped(user):
    with pytest.raises(ReaderFailed, match="took longer than 0 s"):
        read_files_as(user.uid, user.gid, (user.gid,), ["/etc/hostname"], timeout=0.0)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind, not even a zombie


@pytest.mark.parametrize("answer, why", [
    (b"", "cut short"),
    (b"D\x05\x00\x00\x00abc", "malformed"),  # says 5 bytes, holds 3
    (b"X\x00\x00\x00\x00", "malformed"),  # no such kind
    (b"M\x00\x00\x00\x00M\x00\x00\x00\x00", "malformed"),  # one answer too many
    (b"D" + (MAX_FILE_BYTES + 1).to_bytes(4, "little") + b"#" * (MAX_FILE_BYTES + 1), "malformed"),
])
def test_the_childs_answer_is_checked_like_input(answer, why):
    with pytest.raises(ReaderFailed, match=why):
        userfiles._parse(answer, ["/p"])


def _decide(text: bytes):
    files = [ConfigFile("env", "/c", text)]
    return decide_cache_location(["install"], {"HOME": "/h", "PIP_CONFIG_FILE": "/c"}, files, cwd="/")


@pytest.mark.parametrize("text, where", [
    (b"SECRET-LINE\n[global]\n", "line 1: no [section] header before the first setting"),
    (b"[global]\ncache-dir = /x\nSECRET-LINE\n", "line 3: not a [section] header or a `name = value` setting"),
    (b"[global]\n[SECRET-LINE]\n[SECRET-LINE]\n", "line 3: a section that was already given"),
    (b"[global]\nSECRET-LINE = 1\nSECRET-LINE = 2\n", "line 3: a setting given twice in one section"),
])
def test_config_errors_name_a_line_never_its_text(text, where):
    with pytest.raises(PipInputError) as raised:
        _decide(text)
    assert raised.value.message == f"Configuration file could not be loaded: {where} in /c."
    assert "SECRET" not in str(raised.value)


def test_an_invalid_yes_no_in_a_file_is_not_repeated():
    with pytest.raises(PipInputError) as raised:
        _decide(b"[global]\nno-cache-dir = SECRET-LINE\n")
    assert raised.value.message == "--no-cache-dir error: invalid truth value"


def test_location_keeps_the_unusable_files_and_decides_without_them():
    files = [ConfigFile("user", "/h/.config/pip/pip.conf", b"", "it is a FIFO (named pipe), not a regular file")]
    location = decide_cache_location(["install"], {"HOME": "/h"}, files, cwd="/")
    assert location.path == "/h/.cache/pip"
    assert location.unusable == (("/h/.config/pip/pip.conf", "it is a FIFO (named pipe), not a regular file"),)


def test_a_relative_cache_dir_in_a_deleted_cwd_names_nothing():
    with pytest.raises(PipInputError, match="relative path and the current directory no longer exists"):
        decide_cache_location(["install"], {"HOME": "/h", "PIP_CACHE_DIR": "rel"}, [], cwd=None)
    assert decide_cache_location(["install"], {"HOME": "/h"}, [], cwd=None).path == "/h/.cache/pip"
