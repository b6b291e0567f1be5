"""Test isolation: no test reads the machine's pip config or touches the real user's cache (STYLE.md 12)."""

import os

import pytest

# Drop the machine's pip settings (this machine sets PIP_FIND_LINKS and friends) for every test.
for _name in [n for n in os.environ if n.startswith("PIP_")]:
    del os.environ[_name]
os.environ["PIP_CONFIG_FILE"] = os.devnull
os.environ["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
os.environ["PIP_NO_INPUT"] = "1"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """HOME and XDG dirs point into a temp dir, so nothing a test runs can use the real ~/.cache/pip."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def user():
    """A real throwaway unprivileged user with an empty home (root-only tests); removed afterwards."""
    from tests import sandbox

    with sandbox.unprivileged_user("pdt") as made:
        yield made


def pytest_runtest_setup(item):
    if item.get_closest_marker("root") and os.geteuid() != 0:
        pytest.skip("needs root: creates users, chowns files to them and runs pip as them")


@pytest.fixture
def seal(tmp_path):
    """A sealed machine (tests/sealed.py) for commands run as root: read-only /, writable scratch and homes."""
    if os.geteuid() != 0:
        pytest.skip("needs root: seals the machine with a private read-only mount namespace")
    from tests.sealed import Seal

    scratch = tmp_path / "sealed"
    scratch.mkdir()
    return Seal(scratch)
