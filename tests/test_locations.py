"""pipdoctor.installers.pip.locations against the real pip: in every scenario our path is the one `pip cache dir` prints.

Every scenario runs the pip of .venv (23.2.1); the core ones also the newest sandbox pip, and those
where pip versions disagree also the oldest (20.3.4, appdirs) and 25.3 (per-file config values). All
pip runs happen once, in parallel, in a module fixture; the tests then compare. macOS and Windows
defaults are pure unit tests, since no such pip runs here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import pytest

from pipdoctor.errors import UsageError
from pipdoctor.host.accounts import passwd_home
from pipdoctor.installers.base import CacheLocation, release_of
from pipdoctor.installers.pip import locations
from pipdoctor.installers.pip.locations import ConfigFile, PipInputError, decide_cache_location
from tests import sandbox

REPO = Path(__file__).resolve().parent.parent
DISABLED = "ERROR: pip cache commands can not function since cache is disabled."
# base_command.py, when the cache dir's nearest existing parent is not the user's: prints the cache dir
# for any command, so `pip install` (no requirement) reveals the cache dir of the [install] section.
NOT_OWNED = re.compile(r"The directory '(.*?)' or its parent directory is not owned")
ETC_PIP_CONF = "/etc/pip.conf"  # the machine's global config (it sets only `cert`): read, never changed
OTHER_UID = 4242  # owns dirs that root's pip must not consider its own


@dataclass(frozen=True)
class Pip:
    label: str
    version: str
    python: str
    prefix: str  # sys.prefix of its Python: where its site pip.conf is
    package: str  # the pip package dir, runnable with any Python as `python <package>`


@dataclass(frozen=True)
class Scenario:
    """One pip invocation. Strings may use {tmp}, {home} and {cwd}; `files` are written below {tmp}."""

    id: str
    env: Dict[str, Optional[str]] = field(default_factory=dict)  # over sandbox.pip_env(); None removes
    args: tuple = ("cache", "dir")
    files: Dict[str, str] = field(default_factory=dict)
    source: Optional[str] = None  # expected CacheLocation.source
    path: Optional[str] = None  # expected path, where all pips agree (checked on top of pip's own answer)
    pips: str = "venv"  # "all": pip versions disagree here, so run all four (CORE ones: .venv's and newest)
    not_owned: tuple = ()  # dirs (relative to {tmp}) to chown to OTHER_UID, for NOT_OWNED
    site_config: Optional[str] = None  # a pip.conf in sys.prefix: runs pip with a fresh venv's Python
    other_python: Optional[str] = None  # a pip.conf in the prefix of another venv, {tmp}/other (for --python)


CFG = "{tmp}/pip.conf"
WITH_CFG = {"PIP_CONFIG_FILE": CFG}
NO_CFG = {"PIP_CONFIG_FILE": "{tmp}/absent.conf"}  # every config file is read, PIP_CONFIG_FILE's is missing
USER_CFG = "home/.config/pip/pip.conf"
CACHE_DIR = ("cache", "dir")


def ini(section: str, *lines: str) -> str:
    return f"[{section}]\n" + "".join(f"{line}\n" for line in lines)


def glob(*lines: str) -> str:
    return ini("global", *lines)


def cfg(*sections: str) -> dict:
    """The file PIP_CONFIG_FILE names in WITH_CFG."""
    return {"pip.conf": "".join(sections)}


SCENARIOS = [
    Scenario("default", source="platform default", path="{home}/.cache/pip"),
    Scenario("xdg-cache-home", {"XDG_CACHE_HOME": "{tmp}/xdg"}, source="XDG_CACHE_HOME",
             path="{tmp}/xdg/pip"),
    Scenario("xdg-cache-home-relative", {"XDG_CACHE_HOME": "rel"}, pips="all"),
    Scenario("xdg-cache-home-empty", {"XDG_CACHE_HOME": ""}, pips="all"),
    Scenario("xdg-cache-home-padded", {"XDG_CACHE_HOME": " {tmp}/pad "}, pips="all"),
    Scenario("xdg-cache-home-tilde", {"XDG_CACHE_HOME": "~/tilde"}, pips="all"),
    Scenario("home-unset", {"HOME": None}, source="platform default"),
    Scenario("home-empty", {"HOME": ""}, pips="all"),
    Scenario("home-relative", {"HOME": "rel-home"}, path="{cwd}/rel-home/.cache/pip"),
    Scenario("home-tilde", {"HOME": "~"}, pips="all"),
    Scenario("env-cache-dir", {"PIP_CACHE_DIR": "{tmp}/env"}, source="PIP_CACHE_DIR", path="{tmp}/env"),
    Scenario("env-cache-dir-empty", {"PIP_CACHE_DIR": ""}, source="platform default",
             path="{home}/.cache/pip"),
    Scenario("env-cache-dir-tilde", {"PIP_CACHE_DIR": "~/t"}, path="{home}/t"),
    Scenario("env-cache-dir-var", {"PIP_CACHE_DIR": "$HOME/v"}, path="{cwd}/$HOME/v"),
    Scenario("cli-cache-dir", args=(*CACHE_DIR, "--cache-dir", "{tmp}/cli"), source="--cache-dir",
             path="{tmp}/cli"),
    Scenario("cli-cache-dir-equals", args=(*CACHE_DIR, "--cache-dir={tmp}/cli"), path="{tmp}/cli"),
    Scenario("cli-cache-dir-abbreviated", args=(*CACHE_DIR, "--cache", "{tmp}/abbr"), path="{tmp}/abbr"),
    Scenario("cli-cache-dir-relative", args=(*CACHE_DIR, "--cache-dir", "rel/c"), path="{cwd}/rel/c"),
    Scenario("cli-cache-dir-tilde", args=(*CACHE_DIR, "--cache-dir", "~/c"), path="{home}/c"),
    Scenario("cli-cache-dir-empty", args=(*CACHE_DIR, "--cache-dir="), source="--cache-dir"),
    Scenario("cli-before-command", args=("--timeout", "5", "--cache-dir", "{tmp}/g", *CACHE_DIR),
             path="{tmp}/g"),
    Scenario("cli-no-cache-dir", args=(*CACHE_DIR, "--no-cache-dir"), source="--no-cache-dir"),
    Scenario("cli-no-cache-abbreviated", args=(*CACHE_DIR, "--no-cache"), source="--no-cache-dir"),
    Scenario("cli-later-wins", args=(*CACHE_DIR, "--no-cache-dir", "--cache-dir", "{tmp}/l"), path="{tmp}/l"),
    Scenario("cli-later-wins-off", args=(*CACHE_DIR, "--cache-dir", "{tmp}/l", "--no-cache-dir"),
             source="--no-cache-dir"),
    Scenario("cli-no-cache-dir-with-value", args=(*CACHE_DIR, "--no-cache-dir=1")),
    Scenario("cli-cache-dir-missing-value", args=(*CACHE_DIR, "--cache-dir")),
    *[Scenario(f"env-no-cache-dir-{value}", {"PIP_NO_CACHE_DIR": value}, source="PIP_NO_CACHE_DIR")
      for value in ("false", "0", "1", "yes", "off")],
    Scenario("env-no-cache-dir-garbage", {"PIP_NO_CACHE_DIR": "garbage"}),
    Scenario("env-no-cache-dir-empty", {"PIP_NO_CACHE_DIR": ""}, source="platform default"),
    Scenario("env-no-cache-dir-beats-env-cache-dir", {"PIP_NO_CACHE_DIR": "0", "PIP_CACHE_DIR": "{tmp}/e"},
             source="PIP_NO_CACHE_DIR"),
    Scenario("cli-cache-dir-beats-env-no-cache-dir", {"PIP_NO_CACHE_DIR": "1"},
             args=(*CACHE_DIR, "--cache-dir", "{tmp}/c"), source="--cache-dir", path="{tmp}/c"),
    Scenario("config-global", WITH_CFG, files=cfg(glob("cache-dir = {tmp}/g")),
             source=f"config file {CFG} [global] cache-dir", path="{tmp}/g"),
    Scenario("config-cache-section-beats-global", WITH_CFG,
             files=cfg(glob("cache-dir = {tmp}/g"), ini("cache", "cache-dir = {tmp}/c"),
                       ini("install", "cache-dir = /i")),
             source=f"config file {CFG} [cache] cache-dir", path="{tmp}/c"),
    Scenario("config-install-section-for-install", WITH_CFG, args=("install",), not_owned=("theirs",),
             files=cfg(glob("cache-dir = {tmp}/theirs/g"), ini("install", "cache-dir = {tmp}/theirs/i")),
             source=f"config file {CFG} [install] cache-dir", path="{tmp}/theirs/i"),
    Scenario("config-install-section-not-for-cache", WITH_CFG,
             files=cfg(glob("cache-dir = {tmp}/g"), ini("install", "cache-dir = {tmp}/i")),
             path="{tmp}/g"),
    Scenario("config-cache-dir-false", WITH_CFG, files=cfg(glob("cache-dir = false")),
             path="{cwd}/false"),
    Scenario("config-cache-dir-relative", WITH_CFG, files=cfg(glob("cache-dir = rel")), path="{cwd}/rel"),
    Scenario("config-cache-dir-tilde", WITH_CFG, files=cfg(glob("cache-dir = ~/t")), path="{home}/t"),
    Scenario("config-cache-dir-vars", WITH_CFG, files=cfg(glob("cache-dir = $HOME/%(x)s")),
             path="{cwd}/$HOME/%(x)s"),
    Scenario("config-cache-dir-empty", WITH_CFG, files=cfg(glob("cache-dir =")),
             source="platform default"),
    Scenario("config-no-cache-dir-true", WITH_CFG, files=cfg(glob("no-cache-dir = true")),
             source=f"config file {CFG} [global] no-cache-dir"),
    Scenario("config-no-cache-dir-false", WITH_CFG, files=cfg(glob("no-cache-dir = false")),
             source=f"config file {CFG} [global] no-cache-dir"),
    Scenario("config-no-cache-dir-beats-env-cache-dir", {**WITH_CFG, "PIP_CACHE_DIR": "{tmp}/e"},
             files=cfg(glob("No_Cache_Dir = yes")), source=f"config file {CFG} [global] no_cache_dir"),
    Scenario("config-no-cache-dir-garbage", WITH_CFG, files=cfg(glob("no-cache-dir = x"))),
    Scenario("config-no-cache-dir-garbage-other-command", WITH_CFG,
             files=cfg(ini("install", "no-cache-dir = x")),
             source="platform default"),
    Scenario("config-no-cache-dir-garbage-this-command", WITH_CFG,
             files=cfg(ini("cache", "no-cache-dir = x"))),
    Scenario("env-beats-config", {**WITH_CFG, "PIP_CACHE_DIR": "{tmp}/e"},
             files=cfg(ini("cache", "cache-dir = {tmp}/c")), source="PIP_CACHE_DIR", path="{tmp}/e"),
    Scenario("config-key-spellings", WITH_CFG, files=cfg(glob("--Cache_Dir = {tmp}/k")), path="{tmp}/k"),
    Scenario("config-same-key-twice-normalized", WITH_CFG, pips="all",
             files=cfg(glob("cache-dir = {tmp}/a", "cache_dir = {tmp}/b"))),
    Scenario("config-default-section", WITH_CFG,
             files=cfg(ini("DEFAULT", "cache-dir = {tmp}/d"), ini("cache")),
             source=f"config file {CFG} [DEFAULT] cache-dir", path="{tmp}/d"),
    Scenario("config-section-names-case-sensitive", WITH_CFG, files=cfg(ini("Global", "cache-dir = {tmp}/G")),
             source="platform default"),
    Scenario("config-inline-comment-is-value", WITH_CFG, files=cfg(glob("cache-dir = a # b")),
             path="{cwd}/a # b"),
    Scenario("config-no-section", WITH_CFG, files=cfg("cache-dir = /x\n")),
    Scenario("config-not-utf8", WITH_CFG, files=cfg(glob("cache-dir = /\udcff"))),
    Scenario("config-file-devnull", {"XDG_CONFIG_DIRS": "{tmp}/xd"}, source="platform default",
             files={USER_CFG: glob("cache-dir = /u"), "xd/pip/pip.conf": glob("cache-dir = /x")}),
    Scenario("config-file-absent-user-read", NO_CFG, files={USER_CFG: glob("cache-dir = {tmp}/u")},
             source=f"config file {{tmp}}/{USER_CFG} [global] cache-dir", path="{tmp}/u"),
    Scenario("config-file-present-user-skipped", WITH_CFG, source="platform default",
             files={**cfg(glob("x = 1")), USER_CFG: glob("cache-dir = /u")}),
    Scenario("config-file-empty-user-read", {"PIP_CONFIG_FILE": ""},
             files={USER_CFG: glob("cache-dir = {tmp}/u")}, path="{tmp}/u"),
    Scenario("config-file-is-a-dir", {"PIP_CONFIG_FILE": "{tmp}/home"},
             files={USER_CFG: glob("cache-dir = /u")}, source="platform default"),
    Scenario("user-config-xdg-config-home", {**NO_CFG, "XDG_CONFIG_HOME": "{tmp}/xc"},
             files={"xc/pip/pip.conf": glob("cache-dir = {tmp}/xc-cache")},
             source="config file {tmp}/xc/pip/pip.conf [global] cache-dir", path="{tmp}/xc-cache"),
    Scenario("user-config-xdg-config-home-relative", {**NO_CFG, "XDG_CONFIG_HOME": "xc"}, pips="all",
             files={"cwd/xc/pip/pip.conf": glob("cache-dir = {tmp}/rel")}),
    Scenario("user-config-new-beats-legacy", NO_CFG, path="{tmp}/new",
             files={"home/.pip/pip.conf": glob("cache-dir = {tmp}/legacy"),
                    USER_CFG: glob("cache-dir = {tmp}/new")}),
    Scenario("user-config-legacy", NO_CFG, files={"home/.pip/pip.conf": glob("cache-dir = {tmp}/legacy")},
             source="config file {tmp}/home/.pip/pip.conf [global] cache-dir", path="{tmp}/legacy"),
    Scenario("global-config-later-dir-wins", {**NO_CFG, "XDG_CONFIG_DIRS": "{tmp}/d1:{tmp}/d2"},
             path="{tmp}/d2",
             files={"d1/pip/pip.conf": glob("cache-dir = {tmp}/d1"),
                    "d2/pip/pip.conf": glob("cache-dir = {tmp}/d2")}),
    Scenario("global-config-tilde-dir", {**NO_CFG, "XDG_CONFIG_DIRS": "~/xd"}, pips="all",
             files={"home/xd/pip/pip.conf": glob("cache-dir = {tmp}/expanded"),
                    "cwd/~/xd/pip/pip.conf": glob("cache-dir = {tmp}/literal")}),
    Scenario("user-config-beats-global", {**NO_CFG, "XDG_CONFIG_DIRS": "{tmp}/d1"}, path="{tmp}/u",
             files={"d1/pip/pip.conf": glob("cache-dir = {tmp}/d1"),
                    USER_CFG: glob("cache-dir = {tmp}/u")}),
    Scenario("global-command-section-beats-env-file-global-section",
             {**WITH_CFG, "XDG_CONFIG_DIRS": "{tmp}/d1"},
             files={"d1/pip/pip.conf": ini("cache", "cache-dir = {tmp}/d1"),
                    **cfg(glob("cache-dir = {tmp}/e"))},
             source="config file {tmp}/d1/pip/pip.conf [cache] cache-dir", path="{tmp}/d1"),
    Scenario("empty-value-in-higher-file", {**WITH_CFG, "XDG_CONFIG_DIRS": "{tmp}/d1"}, pips="all",
             files={"d1/pip/pip.conf": glob("cache-dir = {tmp}/d1"), **cfg(glob("cache-dir ="))}),
    Scenario("isolated-ignores-env-and-user", {**NO_CFG, "PIP_CACHE_DIR": "/e"},
             args=(*CACHE_DIR, "--isolated"),
             files={USER_CFG: glob("cache-dir = /u")}, source="platform default"),
    Scenario("isolated-keeps-config-file", WITH_CFG, args=("--isolated", *CACHE_DIR),
             files=cfg(glob("cache-dir = {tmp}/e")), path="{tmp}/e"),
    Scenario("isolated-still-checks-env", {"PIP_NO_CACHE_DIR": "garbage"}, args=("--isolated", *CACHE_DIR)),
    Scenario("isolated-mode-env-var-does-not-isolate", {"PIP_ISOLATED_MODE": "1", "PIP_CACHE_DIR": "{tmp}/e"},
             path="{tmp}/e"),
    Scenario("site-config", NO_CFG, site_config=glob("cache-dir = {tmp}/site"),
             files={USER_CFG: glob("cache-dir = {tmp}/user")}, path="{tmp}/site"),
    Scenario("config-file-beats-site-config", WITH_CFG, site_config=glob("cache-dir = /site"),
             files=cfg(glob("cache-dir = {tmp}/env")), path="{tmp}/env"),
    # Another option's value pip cannot take stops pip (cli/parser.py _update_defaults: exit 2 or 3);
    # the cache's own parser ignores options it does not have.
    Scenario("env-timeout-not-a-number", {"PIP_TIMEOUT": "abc"}),
    Scenario("env-isolated-not-a-boolean", {"PIP_ISOLATED": "garbage"}),
    Scenario("env-verbose-negative", {"PIP_VERBOSE": "-1"}),
    Scenario("env-retries-octal-rules", {"PIP_RETRIES": "09"}),
    Scenario("env-resume-retries-only-from-25-1", {"PIP_RESUME_RETRIES": "x"}, pips="all"),
    Scenario("config-exists-action-each-word", WITH_CFG, files=cfg(glob("exists-action = s x"))),
    Scenario("config-bad-value-in-install-section-not-for-cache", WITH_CFG, source="platform default",
             files=cfg(ini("install", "timeout = abc"))),
    Scenario("config-install-option-not-in-cache-parser", WITH_CFG, source="platform default",
             files=cfg(glob("progress-bar = garbage"))),
    Scenario("config-install-option-bad-for-install", WITH_CFG, args=("install",),
             files=cfg(glob("progress-bar = garbage"))),
    # (pip 25.3 dropped --no-use-pep517: its `pip install` then gets as far as naming a cache not its own)
    Scenario("env-no-use-pep517-any-value", {"PIP_NO_USE_PEP517": "1", "PIP_CACHE_DIR": "{tmp}/theirs"},
             args=("install",), not_owned=("theirs",), pips="all"),
    Scenario("env-python-version-not-a-version", {"PIP_PYTHON_VERSION": "3.x"}, args=("install",)),
    Scenario("env-config-settings-without-equals", {"PIP_CONFIG_SETTINGS": "foo"}, args=("install",)),
    Scenario("config-bad-value-hidden-by-higher-file", {**WITH_CFG, "XDG_CONFIG_DIRS": "{tmp}/d1"},
             files={"d1/pip/pip.conf": glob("timeout = abc"), **cfg(glob("timeout = 5"))}, pips="all"),
    # pip 25.2 to 25.x: one dict per file, so of two spellings of a key the last wins before empty values go
    Scenario("config-two-spellings-last-empty", WITH_CFG, pips="all",
             files=cfg(glob("cache-dir = {tmp}/a", "cache_dir ="))),
    Scenario("env-two-spellings-last-empty", {"PIP_CACHE_DIR": "{tmp}/a", "PIP_cache_dir": ""}, pips="all"),
    # pip 25.2: the variables are kept under the file name ":env:", which replaces a config file of that name
    Scenario("config-file-named-env", {"PIP_CONFIG_FILE": ":env:"}, pips="all",
             files={"cwd/:env:": glob("cache-dir = {tmp}/e"), USER_CFG: glob("cache-dir = {tmp}/u")}),
    # pip >= 22.3 runs itself again under --python / PIP_PYTHON / python =, whose prefix holds the site config
    Scenario("env-python-other-site-config", {**NO_CFG, "PIP_PYTHON": "{tmp}/other"}, pips="all",
             other_python=glob("cache-dir = {tmp}/other-site")),
    Scenario("cli-python-other-site-config", NO_CFG, args=("--python", "{tmp}/other/bin/python", *CACHE_DIR),
             other_python=glob("cache-dir = {tmp}/other-site"), path="{tmp}/other-site"),
    Scenario("config-python-other-site-config", WITH_CFG, files=cfg(glob("python = {tmp}/other")),
             other_python=glob("cache-dir = {tmp}/other-site"), path="{tmp}/other-site"),
    Scenario("env-python-missing", {"PIP_PYTHON": "{tmp}/nope"}, pips="all"),
    Scenario("config-python-in-command-section", WITH_CFG, files=cfg(ini("cache", "python = {tmp}/other")),
             other_python=glob("cache-dir = {tmp}/other-site"), pips="all"),
    Scenario("config-file-also-global-file",
             {"PIP_CONFIG_FILE": "{tmp}/d1/pip/pip.conf", "XDG_CONFIG_DIRS": "{tmp}/d1"},
             site_config=glob("cache-dir = {tmp}/site"), pips="all",
             files={"d1/pip/pip.conf": glob("cache-dir = {tmp}/d1")}),
]

# Also run with the newest pip, so that a newer sandbox pip with new rules shows up here.
CORE = {"default", "xdg-cache-home", "home-unset", "env-cache-dir", "cli-cache-dir", "cli-no-cache-dir",
        "env-no-cache-dir-garbage", "config-global", "config-cache-section-beats-global",
        "config-install-section-for-install", "config-file-devnull", "config-file-present-user-skipped",
        "user-config-xdg-config-home", "user-config-new-beats-legacy", "global-config-later-dir-wins",
        "global-command-section-beats-env-file-global-section", "isolated-ignores-env-and-user",
        "isolated-still-checks-env", "site-config", "env-timeout-not-a-number", "env-isolated-not-a-boolean",
        "config-install-option-bad-for-install"}


def roles(scenario: Scenario) -> tuple:
    if scenario.pips == "all":
        return ("venv", "old", "per-file", "new")
    return ("venv", "new") if scenario.id in CORE else ("venv",)


RUNS = [(scenario, role) for scenario in SCENARIOS for role in roles(scenario)]


def fill(text: str, tmp: Path) -> str:
    for name, value in (("{tmp}", tmp), ("{home}", tmp / "home"), ("{cwd}", tmp / "cwd")):
        text = text.replace(name, str(value))
    return text


@dataclass
class Outcome:
    scenario: Scenario
    pip: Pip
    tmp: Path
    env: dict
    args: list
    site_prefix: str
    returncode: int
    output: str


def _describe(python: str) -> Pip:
    probe = ("import json, os, sys, pip\n"
             "print(json.dumps([pip.__version__, sys.prefix, os.path.dirname(pip.__file__)]))")
    said = subprocess.check_output([python, "-c", probe], env=sandbox.pip_env())
    version, prefix, package = json.loads(said)
    return Pip(f"pip-{version}", version, python, prefix, package)


@pytest.fixture(scope="module")
def pips() -> dict:
    """The pips to compare with: .venv's, and the sandbox's oldest, per-file-config and newest."""
    found = {"venv": _describe(str(REPO / ".venv" / "bin" / "python"))}
    for role, version in (("old", "20.3.4"), ("per-file", "25.3"), ("new", sandbox.PIP_VERSIONS[-1])):
        try:
            found[role] = _describe(str(sandbox.python_of(sandbox.pip_venv(version))))
        except (FileNotFoundError, RuntimeError) as error:  # no wheelhouse: those tests skip, saying why
            print(f"test_locations: no pip {version}: {error}")
    return found


def _bare_venv(venv: Path, pip_conf: str) -> Path:
    """A venv without pip is a fresh sys.prefix (pyvenv.cfg next to bin/), with this site pip.conf."""
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sandbox.READABLE_PYTHON)
    (venv / "pyvenv.cfg").write_text(f"home = {sandbox.READABLE_PYTHON.parent}\n")
    (venv / "pip.conf").write_text(pip_conf)
    return venv


def _run(scenario: Scenario, pip: Pip, base: Path) -> Outcome:
    tmp = base / f"{scenario.id}-{pip.label}"
    for sub in ("home", "cwd"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    for rel, text in scenario.files.items():
        target = tmp / fill(rel, tmp)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fill(text, tmp), errors="surrogateescape")
    for rel in scenario.not_owned:
        (tmp / rel).mkdir(exist_ok=True)
        os.chown(tmp / rel, OTHER_UID, OTHER_UID)
    env = sandbox.pip_env(HOME=str(tmp / "home"))
    for name, value in scenario.env.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = fill(value, tmp)
    argv, prefix = [pip.python, "-m", "pip"], pip.prefix
    if scenario.site_config is not None:
        venv = _bare_venv(tmp / "venv", fill(scenario.site_config, tmp))
        argv, prefix = [str(venv / "bin" / "python"), pip.package], str(venv)
    if scenario.other_python is not None:
        _bare_venv(tmp / "other", fill(scenario.other_python, tmp))
    args = [fill(a, tmp) for a in scenario.args]
    proc = subprocess.run(argv + args, env=env, cwd=tmp / "cwd", stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    return Outcome(scenario, pip, tmp, env, args, prefix, proc.returncode, proc.stdout)


@pytest.fixture(scope="module")
def outcomes(pips, tmp_path_factory) -> dict:
    """Every (scenario, pip) run of the real pip, run in parallel once: {(scenario id, role): Outcome}."""
    base = tmp_path_factory.mktemp("locations")
    jobs = [(scenario, role) for scenario, role in RUNS if role in pips and _can_run(scenario)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(lambda job: _run(job[0], pips[job[1]], base), jobs)
        return {(scenario.id, role): outcome for (scenario, role), outcome in zip(jobs, results)}


def _can_run(scenario: Scenario) -> bool:
    return not scenario.not_owned or os.geteuid() == 0  # chown; and root's pip checks ownership, not access


def _ours(outcome: Outcome):
    try:
        return locations.resolve_cache_location(
            outcome.args, outcome.env, cwd=str(outcome.tmp / "cwd"), site_prefix=outcome.site_prefix,
            pip_version=outcome.pip.version,
        )
    except PipInputError as error:
        return error


@pytest.mark.parametrize("scenario, role", RUNS, ids=[f"{s.id}-{role}" for s, role in RUNS])
def test_matches_real_pip(scenario, role, outcomes, pips):
    if role not in pips:
        pytest.skip(f"no {role} pip in the wheelhouse (scripts/fetch-wheels)")
    if not _can_run(scenario):
        pytest.skip("needs root: chowns a dir to another uid so that pip prints its cache dir")
    outcome = outcomes[(scenario.id, role)]
    ours = _ours(outcome)
    said = outcome.output.strip()
    context = f"{outcome.pip.label} said (exit {outcome.returncode}):\n{said}\nwe said: {ours!r}"
    last = said.splitlines()[-1] if said else ""
    refused = ("Traceback", "Could not locate Python interpreter", "must be placed before the pip subcommand")
    if outcome.returncode in (2, 3) or any(sign in said for sign in refused):
        assert isinstance(ours, PipInputError), context  # pip refused its input before touching a cache
        return
    assert isinstance(ours, CacheLocation), context
    if scenario.not_owned:
        match = NOT_OWNED.search(said)
        assert match and not ours.disabled and ours.path == match.group(1), context
    elif last == DISABLED:
        assert ours.disabled and ours.path is None, context
    else:
        assert outcome.returncode == 0 and not ours.disabled and ours.path == last, context
    if scenario.source is not None:
        assert ours.source == fill(scenario.source, outcome.tmp), context
    if scenario.path is not None:
        assert ours.path == fill(scenario.path, outcome.tmp), context


def test_config_files_lists_existing_files_lowest_precedence_first(tmp_path):
    home = tmp_path / "home"
    for rel in ("home/.pip/pip.conf", "home/.config/pip/pip.conf", "xd/pip/pip.conf", "prefix/pip.conf",
                "env.conf"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("[global]\n")
    env = {"HOME": str(home), "XDG_CONFIG_DIRS": f"{tmp_path}/xd:{tmp_path}/nothing"}

    def files(args, **extra):
        location = locations.resolve_cache_location(args, {**env, **extra}, cwd=str(tmp_path),
                                                    site_prefix=str(tmp_path / "prefix"))
        return location.config_files

    system = (f"{tmp_path}/xd/pip/pip.conf", *[f for f in (ETC_PIP_CONF,) if os.path.exists(f)])
    user = (f"{home}/.pip/pip.conf", f"{home}/.config/pip/pip.conf")
    site = (f"{tmp_path}/prefix/pip.conf",)
    env_file = str(tmp_path / "env.conf")
    assert files(["install"]) == (*system, *user, *site)
    assert files(["install", "--isolated"]) == (*system, *site)
    assert files(["install"], PIP_CONFIG_FILE=env_file) == (*system, *site, env_file)
    assert files(["install"], PIP_CONFIG_FILE=os.devnull) == ()


@pytest.mark.root
def test_no_home_and_no_passwd_entry_is_relative_to_cwd(pips):
    """Without HOME and passwd entry, expanduser leaves "~": pip's cache is <cwd>/~/.cache/pip."""
    uid = next(u for u in range(4243, 5000) if passwd_home(u) is None)
    cwd = sandbox.homes_base() / f"nopasswd-{uid}"
    shutil.rmtree(cwd, ignore_errors=True)
    cwd.mkdir()
    os.chown(cwd, uid, uid)
    env = sandbox.pip_env(HOME=None)
    try:
        for pip in pips.values():
            # Debian's python, since the pyenv one is root's only; sys.prefix is then /usr.
            argv = [str(sandbox.READABLE_PYTHON), pip.package, *CACHE_DIR]
            said = sandbox.run_as_uid(uid, uid, argv, env=env, cwd=cwd).stdout.decode().strip()
            try:
                ours = locations.resolve_cache_location(list(CACHE_DIR), env, cwd=str(cwd), uid=uid,
                                                        site_prefix="/usr", pip_version=pip.version)
            except PipInputError as error:  # pip 26.3's platformdirs raises RuntimeError
                assert "RuntimeError: could not determine the home directory" in said, (pip, said)
                assert error.source == "HOME"
                continue
            assert ours.path == said.splitlines()[-1] == f"{cwd}/~/.cache/pip", (pip, said)
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


def test_symlinked_cache_dir_is_reported_as_its_target(tmp_path):
    """normalize_path() resolves symlinks: pip uses, and prints, the link's target."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    env = sandbox.pip_env(HOME=str(tmp_path))
    args = [*CACHE_DIR, "--cache-dir", str(tmp_path / "link")]
    pip = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "pip", *args], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    ours = locations.resolve_cache_location(args, env, cwd=str(tmp_path))
    assert ours.path == pip == str(tmp_path / "real")


def test_option_table_matches_pip(pips):
    """Our general-options table against each pip's own parsers; "--ca" and "--no-ca" are unambiguous."""
    dump = (
        "import json\n"
        "from pip._internal.cli.main_parser import create_main_parser\n"
        "from pip._internal.commands import commands_dict, create_command\n"
        "def longs(p): return {n: o.takes_value() for o in p._get_all_options() for n in o._long_opts}\n"
        "out = {'': longs(create_main_parser())}\n"
        "out.update({name: longs(create_command(name).parser) for name in commands_dict})\n"
        "print(json.dumps(out))\n"
    )
    for pip in pips.values():
        parsers = json.loads(subprocess.check_output([pip.python, "-c", dump], env=sandbox.pip_env()))
        for name, takes_value in parsers[""].items():
            assert name in locations._GENERAL_OPTIONS, (pip.label, name)
            assert (name in locations._GENERAL_VALUE_OPTIONS) == takes_value, (pip.label, name)
        for command, options in parsers.items():
            for option, shortest in locations._SHORTEST_PREFIX.items():
                matches = [o for o in options if o.startswith(option[:shortest])]
                shorter = [o for o in options if o.startswith(option[: shortest - 1])]
                assert matches == [option] and shorter != [option], (pip.label, command, option)


# --- pure: other platforms, other users, the pieces ------------------------------------------------------


def decide(args, environ, files=(), **kwargs):
    """decide_cache_location over candidate_config_files, `files` being {path: text} (others missing)."""
    facts = {k: kwargs.pop(k) for k in ("platform", "home", "pip_version") if k in kwargs}
    candidates = locations.candidate_config_files(environ, existing_dirs=kwargs.pop("existing_dirs", ()),
                                                  site_prefix=kwargs.pop("site_prefix", None), **facts)
    texts = dict(files)
    config = [ConfigFile(kind, path, texts[path].encode() if path in texts else None)
              for kind, path in candidates]
    return decide_cache_location(args, environ, config, cwd=kwargs.pop("cwd", "/cwd"), **facts, **kwargs)


def test_macos_default_is_library_caches():
    # pip/_vendor/platformdirs/macos.py user_cache_dir: ~/Library/Caches/$appname
    env = {"HOME": "/Users/me", "XDG_CACHE_HOME": "/xdg"}
    location = decide(["install"], env, platform="darwin", pip_version="23.2.1")
    assert (location.path, location.source) == ("/Users/me/Library/Caches/pip", "platform default")
    # platformdirs 4.10 (pip 26.2): class MacOS(XDGMixin, _MacOSDefaults), so XDG_CACHE_HOME counts there too
    assert decide(["install"], env, platform="darwin", pip_version="26.3").path == "/xdg/pip"


def test_macos_user_config_needs_application_support_dir():
    # pip/_internal/utils/appdirs.py _macos_user_config_dir: ~/Library/Application Support/pip if it is a
    # dir, else ~/.config/pip; site_config_dirs: /Library/Application Support/pip.
    env = {"HOME": "/Users/me"}
    app_support = "/Users/me/Library/Application Support/pip"
    assert locations.macos_user_data_dir(env) == app_support
    files = {f"{app_support}/pip.conf": glob("cache-dir = /as"),
             "/Users/me/.config/pip/pip.conf": glob("cache-dir = /dotconfig"),
             "/Library/Application Support/pip/pip.conf": glob("cache-dir = /global")}
    assert decide(["install"], env, files, platform="darwin", existing_dirs={app_support}).path == "/as"
    assert decide(["install"], env, files, platform="darwin").path == "/dotconfig"
    del files["/Users/me/.config/pip/pip.conf"]
    assert decide(["install"], env, files, platform="darwin").path == "/global"


def test_windows_default_is_localappdata_pip_cache():
    # platformdirs windows.py user_cache_dir: CSIDL_LOCAL_APPDATA\$appname\Cache (appauthor=False,
    # opinion=True); normalize_path() then os.path.normcase()s it, which lower-cases on Windows.
    env = {"LocalAppData": r"C:\Users\Me\AppData\Local", "USERPROFILE": r"C:\Users\Me", "XDG_CACHE_HOME": "x"}
    location = decide(["install"], env, platform="win32", cwd="C:\\work")
    assert (location.path, location.source) == (r"c:\users\me\appdata\local\pip\cache", "platform default")
    tilde = decide(["install", "--cache-dir", "~/c"], env, platform="win32", cwd="C:\\w")
    assert tilde.path == r"c:\users\me\c"


def test_windows_config_files_and_case_insensitive_environment():
    # configuration.py: pip.ini; legacy ~\pip\pip.ini; user %APPDATA%\pip\pip.ini (roaming);
    # global %ProgramData%\pip\pip.ini. os.environ is case-insensitive on Windows: pip_cache_dir counts.
    env = {"USERPROFILE": r"C:\Users\Me", "APPDATA": r"C:\Users\Me\AppData\Roaming",
           "ProgramData": r"C:\ProgramData", "LOCALAPPDATA": r"C:\Users\Me\AppData\Local"}
    assert locations.candidate_config_files(env, platform="win32", site_prefix=r"C:\Py") == [
        ("global", r"C:\ProgramData\pip\pip.ini"), ("user", r"C:\Users\Me\pip\pip.ini"),
        ("user", r"C:\Users\Me\AppData\Roaming\pip\pip.ini"), ("site", r"C:\Py\pip.ini")]
    files = {r"C:\Users\Me\AppData\Roaming\pip\pip.ini": glob(r"cache-dir = D:\Cache")}
    assert decide(["install"], env, files, platform="win32").path == r"d:\cache"
    lower_case = {**env, "pip_cache_dir": r"E:\c"}
    assert decide(["install"], lower_case, files, platform="win32").source == "PIP_CACHE_DIR"
    no_files = {**env, "PIP_CONFIG_FILE": "nul"}  # os.devnull on Windows
    assert decide(["install"], no_files, files, platform="win32").path.endswith(r"\local\pip\cache")


def test_home_unset_falls_back_to_passwd_entry_then_to_relative_tilde():
    assert decide(["install"], {}, home="/home/pw").path == "/home/pw/.cache/pip"
    assert decide(["install"], {}, home=None, pip_version="23.2.1").path == "/cwd/~/.cache/pip"
    with pytest.raises(PipInputError) as raised:  # platformdirs 4.12 (pip 26.3) _expand_user
        decide(["install"], {}, home=None, pip_version="26.3")
    assert raised.value.source == "HOME"
    with pytest.raises(PipInputError) as raised:  # HOME=~ is set, to a value expanduser cannot expand either
        decide(["install"], {"HOME": "~"}, home="/home/pw", pip_version="26.3")
    assert raised.value.source == "HOME=~"
    assert decide(["install"], {"HOME": "~"}, pip_version="25.3").path == "/cwd/~/.cache/pip"
    assert decide(["install"], {"XDG_CACHE_HOME": "/x", "XDG_CONFIG_HOME": "/y"}, home=None).path == "/x/pip"


def test_tilde_user_uses_that_users_home():
    location = decide(["install", "--cache-dir", "~bob/c"], {"HOME": "/me"}, user_homes={"bob": "/home/bob"})
    assert location.path == "/home/bob/c"
    assert decide(["install", "--cache-dir", "~nobody/c"], {"HOME": "/me"}).path == "/cwd/~nobody/c"


def test_command_name_is_found_after_general_options_and_their_values():
    files = {"/etc/pip.conf": ini("install", "cache-dir = /i") + ini("wheel", "cache-dir = /w")}
    env = {"HOME": "/h"}
    assert decide(["--log", "wheel", "install", "x"], env, files).path == "/i"
    assert decide(["-v", "--proxy=p", "wheel"], env, files).path == "/w"
    assert decide(["--", "install", "--cache-dir", "/ignored"], env, files).path == "/i"
    # no command (pipdoctor check's own args): only [global] and PIP_* apply
    assert decide(["--cache-dir", "/c"], env, files).path == "/c"
    assert decide([], env, files).source == "platform default"


def test_input_errors_are_usage_errors_that_name_their_source():
    with pytest.raises(UsageError) as raised:
        decide(["install"], {"HOME": "/h", "PIP_NO_CACHE_DIR": "maybe"})
    assert isinstance(raised.value, PipInputError)
    assert raised.value.source == "PIP_NO_CACHE_DIR"
    assert raised.value.message == "--no-cache-dir error: invalid truth value 'maybe'"
    with pytest.raises(PipInputError, match="requires 1 argument"):
        decide(["install", "--cache"], {"HOME": "/h"})
    with pytest.raises(PipInputError) as raised:
        decide(["install"], {"HOME": "/h", "PIP_CONFIG_FILE": "/c"}, {"/c": "cache-dir = /x\n"})
    assert "\n" not in str(raised.value) and raised.value.source == "config file /c"


@pytest.mark.parametrize("version, expected", [
    ("23.2.1", (23, 2, 1)), ("24.1b1", (24, 1)), ("26.0.dev0", (26, 0)), ((25, 2), (25, 2)),
    (None, locations.LATEST_KNOWN_PIP),
    # PEP 440 spellings a hand-made parser misread: a leading "v", an epoch, a local version
    ("v24.0", (24, 0)), ("1!24.0", (24, 0)), ("23.0.1+deb12u1", (23, 0, 1)), ("garbage", locations.LATEST_KNOWN_PIP),
])
def test_pip_version_parsing(version, expected):
    assert release_of(version, locations.LATEST_KNOWN_PIP) == expected
