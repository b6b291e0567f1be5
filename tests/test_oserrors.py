"""oserrors: every spelling of an OS error pip prints, made by Python's own str(OSError), parsed back."""

import errno

import pytest

from pipdoctor.logtext import Line
from pipdoctor.oserrors import ErrorKind, os_errors_in


def _line(text: str) -> Line:
    return Line(1, text)


@pytest.mark.parametrize("number,kind", [
    (errno.EACCES, ErrorKind.PERMISSION), (errno.EPERM, ErrorKind.PERMISSION),
    (errno.ENOSPC, ErrorKind.NO_SPACE), (errno.EDQUOT, ErrorKind.NO_SPACE), (errno.EROFS, ErrorKind.READ_ONLY),
])
def test_python_formatted_errors_give_kind_errno_and_path(number, kind):
    text = "ERROR: Could not install packages due to an OSError: " + str(
        OSError(number, "message in any language", "/home/alice/.cache/pip/wheels/b1"))
    [report] = os_errors_in(_line(text))
    assert (report.kind, report.number, report.path) == (kind, number, "/home/alice/.cache/pip/wheels/b1")


def test_rename_names_source_and_destination():
    text = str(PermissionError(errno.EACCES, "Permission denied", "/usr/lib/python3/x.py", None,
                                "/tmp/pip-uninstall-a/x.py"))
    [report] = os_errors_in(_line(text))
    assert report.path == "/usr/lib/python3/x.py"
    assert report.destination == "/tmp/pip-uninstall-a/x.py"


def test_windows_paths_come_back_with_single_backslashes():
    # CPython's OSError_str on Windows: "[WinError %S] %S: %R"; repr doubles the backslashes.
    text = "[WinError 5] Access is denied: " + repr(r"C:\Users\bob\AppData\Local\pip\Cache\wheels\ab")
    [report] = os_errors_in(_line(text))
    assert report.kind is ErrorKind.PERMISSION
    assert report.path == r"C:\Users\bob\AppData\Local\pip\Cache\wheels\ab"


def test_quoted_path_with_an_apostrophe_is_kept_whole():
    path = "/home/o'neil/.cache/pip/wheels/ab"
    [report] = os_errors_in(_line(str(PermissionError(13, "Permission denied", path))))
    assert report.path == path


def test_several_errors_on_one_line_are_all_reported():
    errors = [str(PermissionError(13, "Permission denied", f"/tmp/pip-req-build-x/{n}")) for n in "ab"]
    reports = os_errors_in(_line(repr([("src", "dst", e) for e in errors])))
    assert [r.path for r in reports] == ["/tmp/pip-req-build-x/a", "/tmp/pip-req-build-x/b"]


def test_errno_without_path_and_unrelated_errno_lines():
    [report] = os_errors_in(_line("PermissionError: " + str(PermissionError(1, "Operation not permitted"))))
    assert report.path is None and report.kind is ErrorKind.PERMISSION
    assert os_errors_in(_line(str(FileNotFoundError(2, "No such file or directory", "/x")))) == []


def test_unnumbered_strerror_spellings_from_distutils_and_the_shell():
    [ro] = os_errors_in(_line("error: could not create '/usr/lib/python3.7/site-packages/x': Read-only file system"))
    assert (ro.kind, ro.path) == (ErrorKind.READ_ONLY, "/usr/lib/python3.7/site-packages/x")
    [sh] = os_errors_in(_line("/bin/sh: 1: /tmp/pip-build-env-abc/overlay/bin/cmake: Permission denied"))
    assert (sh.kind, sh.path) == (ErrorKind.PERMISSION, "/tmp/pip-build-env-abc/overlay/bin/cmake")


def test_healthy_lines_report_nothing():
    for text in ("Successfully installed pdtiny-1.0", "Requirement already satisfied: pip in ./venv",
                 "  Stored in directory: /home/alice/.cache/pip/wheels/7f/e5/23/abc"):
        assert os_errors_in(_line(text)) == []


def test_a_full_disk_copy_is_about_its_destination():
    # shutil's _fastcopy_sendfile sets filename (src) and filename2 (dst); the full disk is dst's.
    text = str(OSError(errno.ENOSPC, "No space left on device", "/tmp/pip-wheel-a/x.whl", None,
                       "/home/alice/.cache/pip/wheels/ab/cd/ef/0123/x.whl"))
    [report] = os_errors_in(_line(text))
    assert (report.kind, report.path) == (ErrorKind.NO_SPACE, "/home/alice/.cache/pip/wheels/ab/cd/ef/0123/x.whl")
    # A refused rename stays about its source (test_rename_names_source_and_destination).


@pytest.mark.parametrize("printed,about", [
    # tempfile's own name, refused: it never existed; the dir it was to be made in is what refused.
    ("/home/alice/.cache/pip/wheels/ab/cd/ef/0123/tmpl1zw0c_s", "/home/alice/.cache/pip/wheels/ab/cd/ef/0123"),
    # Look-alikes: names of real files that only start like it.
    ("/home/alice/.cache/pip/wheels/ab/cd/ef/0123/tmpfile.whl",) * 2,
    ("/srv/tmp12345678x", "/srv/tmp12345678x"),
])
def test_a_refused_tempfile_name_is_about_its_dir(printed, about):
    [report] = os_errors_in(_line(str(PermissionError(errno.EACCES, "Permission denied", printed))))
    assert report.path == about
