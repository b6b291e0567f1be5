"""scripts/demo: README's "What it looks like" built for real for a throwaway user, and nothing left behind."""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import sys
import time

import pytest

from tests import sandbox

pytestmark = pytest.mark.root

DEMO = sandbox.REPO / "scripts" / "demo"


def _demo(*args) -> subprocess.Popen:
    # The test's environment: PIPDOCTOR_WHEELHOUSE / PIPDOCTOR_SANDBOX reach the demo as they would a user's.
    return subprocess.Popen([sys.executable, DEMO, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)


def _gone(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return not (sandbox.homes_base() / name).exists()
    return False


def test_demo_shows_pd101_and_the_chown_fix_then_removes_its_user():
    proc = _demo()
    out, err = proc.communicate(timeout=600)
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    name = f"pddemo{proc.pid}"
    assert text.startswith(f"{name}@demo:~$ pipdoctor install --no-index --find-links ./dist pdtiny\n")
    assert "root cause: PD101 cache-permission-denied" in text
    home = sandbox.homes_base() / name
    assert re.search(rf"^    sudo chown -R \d+:\d+ {re.escape(str(home))}/\.cache/pip/wheels$", text, re.M), text
    assert _gone(name)


def test_keep_leaves_the_broken_state_and_says_how_to_remove_it():
    proc = _demo("--keep")
    out, err = proc.communicate(timeout=600)
    name = f"pddemo{proc.pid}"
    try:
        assert proc.returncode == 0, (out + err).decode()
        assert "root cause: PD101" in out.decode()
        user = pwd.getpwnam(name)
        wheels = sandbox.homes_base() / name / ".cache" / "pip" / "wheels"
        assert os.stat(wheels).st_uid == 0 and os.stat(wheels.parent).st_uid == user.pw_uid
        removal = next(line for line in err.decode().splitlines() if line.startswith("Remove it with: "))
        subprocess.run(removal[len("Remove it with: "):], shell=True, check=True)
        assert _gone(name)
    finally:
        sandbox.remove_user(name)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)],
                         ids=["ctrl-c", "sigterm"])
def test_an_interrupted_demo_removes_its_user(signum, status):
    proc = _demo()
    name = f"pddemo{proc.pid}"
    deadline = time.monotonic() + 60
    while not (sandbox.homes_base() / name / "dist").exists():  # the user is made, the state half built
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    try:
        assert proc.returncode == status, (out + err).decode()
        assert _gone(name)
    finally:
        sandbox.remove_user(name)
