"""Sysadmin modes of `pipdoctor check`: --user NAME, --all-users, --quiet, and the exit codes."""

from __future__ import annotations

import os

import pytest

from tests import sandbox
from tests.checkkit import (check_as, check_as_root, chown_to_root, deep_entries, new_user_cache, pipdoctor_bin,
                            with_pip)

pytestmark = pytest.mark.root


@pytest.fixture
def healthy():
    with sandbox.unprivileged_user("pdh") as made:
        new_user_cache(made)
        yield made


@pytest.fixture
def broken():
    with sandbox.unprivileged_user("pdx") as made:
        cache = new_user_cache(made)
        chown_to_root(deep_entries(cache, "wheels", 2) + deep_entries(cache, "http-v2", 1))
        yield made


def test_user_as_root_judges_like_the_user(broken):
    own = check_as(broken)
    judged = check_as_root("--user", broken.name)
    assert judged.returncode == own.returncode == 1
    assert judged.codes() == own.codes() == ["PD103"]
    account = judged.account
    assert (account["user"], account["uid"], account["home"]) == (broken.name, broken.uid, str(broken.home))
    assert judged.cache == own.cache
    assert judged.finding("PD103")["message"] == own.finding("PD103")["message"]
    # the caller's environment is not the user's: root's PIP_CACHE_DIR does not apply
    env = with_pip(sandbox.pip_env(PIP_CACHE_DIR="/nonexistent-root-setting"))
    assert check_as_root("--user", broken.name, env=env).cache == own.cache
    # a numeric uid with a passwd entry names the same account
    assert check_as_root("--user", str(broken.uid)).account["user"] == broken.name


def test_all_users_one_section_per_account(healthy, broken, seal):
    result = check_as_root("--all-users", mount_setup=seal.setup)
    assert result.returncode == 1, result.output
    accounts = {a["user"]: a for a in result.doc["accounts"]}
    assert accounts[healthy.name]["findings"] == []
    assert [f["code"] for f in accounts[broken.name]["findings"]] == ["PD103"]
    assert "root" in accounts
    uids = [a["uid"] for a in result.doc["accounts"]]
    assert uids == sorted(uids) and len(uids) == len(set(uids))
    assert "nobody" not in accounts  # /nonexistent is no home
    human = sandbox.run([pipdoctor_bin(), "check", "--all-users"], env=with_pip(None), mount_setup=seal.setup)
    text = human.stdout.decode()
    # one summary line per account first; in full only the accounts with findings
    assert f"\n    {healthy.name} (uid {healthy.uid}): no problems\n" in text
    assert f"\n  ! {broken.name} (uid {broken.uid}): 1 error (PD103)\n" in text
    assert f"pipdoctor check: {healthy.name} (uid {healthy.uid})" not in text
    assert f"pipdoctor check: {broken.name} (uid {broken.uid})" in text
    section = text.split(f"pipdoctor check: {broken.name} ")[1].split("pipdoctor check: ")[0]
    assert "PD103 cache-foreign-owned" in section and "--no-cache-dir" in section, section
    assert section.rstrip().endswith(f"\n  pipdoctor fix --user {broken.name}"), section  # the cure, last


def test_quiet_prints_nothing_and_exits_with_the_verdict(healthy, broken):
    for user, status in ((healthy, 0), (broken, 1)):
        proc = sandbox.run_as(user, [pipdoctor_bin(), "check", "--quiet"],
                              env=with_pip(sandbox.pip_env(HOME=user.home)))
        assert (proc.returncode, proc.stdout) == (status, b"")
    proc = sandbox.run([pipdoctor_bin(), "check", "--quiet", "--user", "no-such-user-pd"], env=with_pip(None))
    assert proc.returncode == 2  # usage errors still say what is wrong, on stderr
    assert proc.stdout.startswith(b"pipdoctor: error:")


def test_info_findings_do_not_fail_the_check(healthy, monkeypatch):
    # PD109 is the one info code; make the cache look big with a sparse file (no real disk used)
    big = healthy.home / ".cache" / "pip" / "wheels" / "big.whl"
    with open(big, "wb") as out:
        out.truncate(6 << 30)
    os.chown(big, healthy.uid, healthy.gid)
    result = check_as(healthy)
    assert result.codes() == ["PD109"]
    assert result.returncode == 0 and result.doc["exit_code"] == 0
