"""What scripts/test does around pytest on a fresh machine: the ACL test skips with its reason when setfacl is
missing, and the sandbox the tests leave is named, measured and removable (`scripts/test --clean`)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys

import pytest

from tests import sandbox

ACL_TEST = "tests/test_check_blockers.py::test_acl_denies_the_user_a_shared_cache"


def test_without_setfacl_the_acl_test_is_skipped_with_its_reason(tmp_path):
    bare = tmp_path / "bin"  # a PATH with no setfacl on it: a machine without Debian's acl package
    bare.mkdir()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", ACL_TEST],
                          cwd=sandbox.REPO, env={**os.environ, "PATH": str(bare)}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert "1 skipped" in proc.stdout and "setfacl is missing: apt-get install acl" in proc.stdout, proc.stdout


def test_summary_names_the_sandbox_and_its_size(tmp_path):
    top = tmp_path / "sandbox"
    assert sandbox.summary(top) is None  # no sandbox, no line
    (top / "venvs").mkdir(parents=True)
    (top / "venvs" / "big").write_bytes(os.urandom(3_000_000))
    line = sandbox.summary(top)
    assert line == (f"test sandbox: {top} holds 3 MB (pip venvs, test users' homes); "
                    "remove it with scripts/test --clean")


def _clean(top) -> subprocess.CompletedProcess:
    return subprocess.run([sandbox.REPO / "scripts" / "test", "--clean"], env={**os.environ,
                          "PIPDOCTOR_SANDBOX": str(top)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)


def test_scripts_test_clean_removes_the_sandbox_and_runs_no_test(tmp_path):
    top = tmp_path / "sandbox"
    (top / "venvs" / "pip-26.3" / "bin").mkdir(parents=True)
    (top / "venvs" / "pip-26.3" / "bin" / "python").symlink_to("/usr/bin/python3")
    proc = _clean(top)
    assert proc.returncode == 0 and proc.stdout == f"scripts/test: removed {top}\n", proc.stdout
    assert not top.exists() and os.path.exists("/usr/bin/python3")
    extra = subprocess.run([sandbox.REPO / "scripts" / "test", "--clean", "-x"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    assert extra.returncode == 2 and "--clean takes no other argument" in extra.stdout


@pytest.mark.root
def test_clean_also_removes_a_user_a_crashed_run_left_in_it(tmp_path):
    top = tmp_path / "sandbox"
    name = f"pdclean{os.getpid()}"
    home = top / "homes" / name
    home.mkdir(parents=True)
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--user-group", name], check=True)
    try:
        os.chown(home, pwd.getpwnam(name).pw_uid, pwd.getpwnam(name).pw_gid)
        proc = _clean(top)
        assert proc.returncode == 0, proc.stdout
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
        assert not top.exists()
    finally:
        sandbox.remove_user(name)
