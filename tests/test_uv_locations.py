"""pipdoctor.installers.uv.locations against the real uv: in every scenario our path is the one `uv cache dir`
prints, for every uv in tests.sandbox.UV_VERSIONS, and where uv stops, we raise UvInputError.

uv prints its cache dir as it holds it (relative when configured relative); the oracle path is that output
joined to uv's working directory. uv runs with a clean environment (PATH, HOME, LANG, TMPDIR, and an empty
XDG_CONFIG_DIRS dir so the machine's /etc/xdg never counts), plus what the scenario sets.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from pipdoctor.errors import UsageError
from pipdoctor.installers.uv.locations import (MAX_PROJECT_LEVELS, MAX_SYSTEM_DIRS, UvInputError, decide_uv_cache,
                                               resolve_uv_cache, uv_config_candidates)
from pipdoctor.userfiles import UserFile, read_files_as
from tests import sandbox

CACHE_DIR = ("cache", "dir")
USER_TOML = "home/.config/uv/uv.toml"


@dataclass(frozen=True)
class Scenario:
    """One `uv ... cache dir`. Strings may use {tmp} and {home}; `files` are written below {tmp}."""

    id: str
    args: Tuple[str, ...] = CACHE_DIR
    env: Dict[str, Optional[str]] = field(default_factory=dict)  # over the clean env; None removes
    files: Dict[str, str] = field(default_factory=dict)
    cwd: str = "work/sub"  # below {tmp}; made if missing
    source: Optional[str] = None  # expected CacheLocation.source
    versions: Optional[Tuple[str, ...]] = None  # None: every uv; else only these (with `why`)
    why: str = ""


def toml(*lines: str) -> str:
    return "".join(f"{line}\n" for line in lines)


SCENARIOS = [
    Scenario("default", source="platform default"),
    Scenario("xdg-cache-home", env={"XDG_CACHE_HOME": "{tmp}/xdg"}, source="XDG_CACHE_HOME"),
    Scenario("xdg-cache-home-relative-ignored", env={"XDG_CACHE_HOME": "xdg"}, source="platform default"),
    Scenario("xdg-cache-home-empty-ignored", env={"XDG_CACHE_HOME": ""}, source="platform default"),
    Scenario("uv-cache-dir-absolute", env={"UV_CACHE_DIR": "{tmp}/env-cache"}, source="UV_CACHE_DIR"),
    Scenario("uv-cache-dir-relative", env={"UV_CACHE_DIR": "rel/../env-cache"}, source="UV_CACHE_DIR"),
    Scenario("uv-cache-dir-tilde-literal", env={"UV_CACHE_DIR": "~/x"}, source="UV_CACHE_DIR"),
    Scenario("cli-cache-dir-over-env", args=("--cache-dir", "./a/./b/", *CACHE_DIR),
             env={"UV_CACHE_DIR": "{tmp}/env-cache"}, source="--cache-dir"),
    Scenario("cli-cache-dir-after-command-last-wins", args=("--cache-dir=/first", *CACHE_DIR, "--cache-dir", "{tmp}/c"),
             source="--cache-dir"),
    Scenario("user-uv-toml", files={USER_TOML: toml('cache-dir = "{tmp}/user-cache"')},
             source="config file {home}/.config/uv/uv.toml cache-dir"),
    Scenario("user-uv-toml-relative-to-cwd", files={USER_TOML: toml('cache-dir = "relu"')},
             source="config file {home}/.config/uv/uv.toml cache-dir"),
    Scenario("env-over-user-uv-toml", env={"UV_CACHE_DIR": "{tmp}/env-cache"},
             files={USER_TOML: toml('cache-dir = "{tmp}/user-cache"')}, source="UV_CACHE_DIR"),
    Scenario("xdg-config-home", env={"XDG_CONFIG_HOME": "{tmp}/xc"},
             files={"xc/uv/uv.toml": toml('cache-dir = "{tmp}/xc-cache"'),
                    USER_TOML: toml('cache-dir = "{tmp}/user-cache"')},
             source="config file {tmp}/xc/uv/uv.toml cache-dir"),
    Scenario("system-via-xdg-config-dirs", env={"XDG_CONFIG_DIRS": "{tmp}/sys1:{tmp}/sys2"},
             files={"sys2/uv/uv.toml": toml('cache-dir = "{tmp}/sys2-cache"')},
             source="config file {tmp}/sys2/uv/uv.toml cache-dir"),
    Scenario("system-first-dir-wins", env={"XDG_CONFIG_DIRS": "{tmp}/sys1:{tmp}/sys2"},
             files={"sys1/uv/uv.toml": toml('cache-dir = "{tmp}/sys1-cache"'),
                    "sys2/uv/uv.toml": toml('cache-dir = "{tmp}/sys2-cache"')},
             source="config file {tmp}/sys1/uv/uv.toml cache-dir"),
    Scenario("system-empty-entry-ends-list", env={"XDG_CONFIG_DIRS": ":{tmp}/sys1"},
             files={"sys1/uv/uv.toml": toml('cache-dir = "{tmp}/sys1-cache"')}, source="platform default",
             versions=("0.4.30", "0.9.30"), why="0.13.9 skips an empty XDG_CONFIG_DIRS entry (next scenario)"),
    Scenario("system-empty-entry-skipped", env={"XDG_CONFIG_DIRS": ":{tmp}/sys1"},
             files={"sys1/uv/uv.toml": toml('cache-dir = "{tmp}/sys1-cache"')},
             source="config file {tmp}/sys1/uv/uv.toml cache-dir",
             versions=("0.13.9",), why="0.4.30 and 0.9.30 stop at an empty entry (previous scenario)"),
    Scenario("user-over-system", env={"XDG_CONFIG_DIRS": "{tmp}/sys1"},
             files={"sys1/uv/uv.toml": toml('cache-dir = "{tmp}/sys1-cache"'),
                    USER_TOML: toml('cache-dir = "{tmp}/user-cache"')},
             source="config file {home}/.config/uv/uv.toml cache-dir"),
    Scenario("project-uv-toml-in-cwd", files={"work/sub/uv.toml": toml('cache-dir = "{tmp}/proj-cache"'),
                                              USER_TOML: toml('cache-dir = "{tmp}/user-cache"')},
             source="config file {tmp}/work/sub/uv.toml cache-dir"),
    Scenario("project-uv-toml-in-parent", files={"work/uv.toml": toml('cache-dir = "{tmp}/proj-cache"')},
             source="config file {tmp}/work/uv.toml cache-dir"),
    Scenario("pyproject-tool-uv-in-cwd",
             files={"work/sub/pyproject.toml": toml("[tool.uv]", 'cache-dir = "rel-pyproj"'),
                    "work/uv.toml": toml('cache-dir = "{tmp}/parent-cache"')},
             source="pyproject.toml {tmp}/work/sub/pyproject.toml [tool.uv] cache-dir"),
    Scenario("pyproject-tool-uv-in-parent",
             files={"work/pyproject.toml": toml("[tool.uv]", 'cache-dir = "{tmp}/pyproj-cache"')},
             source="pyproject.toml {tmp}/work/pyproject.toml [tool.uv] cache-dir"),
    Scenario("pyproject-without-tool-uv-passed-by",
             files={"work/sub/pyproject.toml": toml("[tool.black]", "line-length = 1"),
                    "work/uv.toml": toml('cache-dir = "{tmp}/parent-cache"')},
             source="config file {tmp}/work/uv.toml cache-dir"),
    Scenario("pyproject-unparsable-passed-by",
             files={"work/sub/pyproject.toml": toml("[tool.uv"),
                    "work/uv.toml": toml('cache-dir = "{tmp}/parent-cache"')},
             source="config file {tmp}/work/uv.toml cache-dir"),
    Scenario("pyproject-unknown-field-passed-by",
             files={"work/sub/pyproject.toml": toml("[tool.uv]", 'cache-dir = "{tmp}/pyproj-cache"', "bogus = 1"),
                    "work/uv.toml": toml('cache-dir = "{tmp}/parent-cache"')},
             source="config file {tmp}/work/uv.toml cache-dir"),
    Scenario("pyproject-only-field-in-uv-toml-before-0.5", files={"work/sub/uv.toml": toml(
                 'cache-dir = "{tmp}/proj-cache"', "[workspace]", "members = []")},
             source="config file {tmp}/work/sub/uv.toml cache-dir",
             versions=("0.4.30",), why="from 0.5.0 uv refuses it (test_uv_refusals)"),
    Scenario("uv-toml-beats-pyproject-in-same-dir",
             files={"work/sub/pyproject.toml": toml("[tool.uv]", 'cache-dir = "{tmp}/pyproj-cache"'),
                    "work/sub/uv.toml": toml('cache-dir = "{tmp}/uvtoml-cache"')},
             source="config file {tmp}/work/sub/uv.toml cache-dir"),
    Scenario("workspace-root-skips-uv-toml-below-it",  # find() starts at the project, not the cwd
             files={"work/pyproject.toml": toml("[project]", 'name = "p"', 'version = "0"'),
                    "work/sub/uv.toml": toml('cache-dir = "{tmp}/below-cache"'),
                    USER_TOML: toml('cache-dir = "{tmp}/user-cache"')},
             source="config file {home}/.config/uv/uv.toml cache-dir"),
    Scenario("workspace-member-uses-root-config",
             files={"work/pyproject.toml": toml("[tool.uv.workspace]", 'members = ["sub"]',
                                                "[tool.uv]", 'cache-dir = "{tmp}/root-cache"'),
                    "work/sub/pyproject.toml": toml("[project]", 'name = "m"', 'version = "0"',
                                                    "[tool.uv]", 'cache-dir = "{tmp}/member-cache"')},
             source="pyproject.toml {tmp}/work/pyproject.toml [tool.uv] cache-dir"),
    Scenario("no-config", args=("--no-config", *CACHE_DIR),
             files={"work/sub/uv.toml": toml('cache-dir = "{tmp}/proj-cache"')}, source="platform default"),
    Scenario("uv-no-config", env={"UV_NO_CONFIG": "1"},
             files={USER_TOML: toml('cache-dir = "{tmp}/user-cache"')}, source="platform default"),
    Scenario("uv-no-config-false", env={"UV_NO_CONFIG": "Off"},
             files={USER_TOML: toml('cache-dir = "{tmp}/user-cache"')},
             source="config file {home}/.config/uv/uv.toml cache-dir"),
    Scenario("isolated-on-cache-command", args=("--isolated", *CACHE_DIR),
             files={"work/sub/uv.toml": toml('cache-dir = "{tmp}/proj-cache"')}, source="platform default"),
    Scenario("config-file-alone", args=("--config-file", "../../cf.toml", *CACHE_DIR),
             files={"cf.toml": toml('cache-dir = "{tmp}/cf-cache"'),
                    "work/sub/uv.toml": toml('cache-dir = "{tmp}/proj-cache"')},
             source="config file {tmp}/work/sub/../../cf.toml cache-dir"),
    Scenario("uv-config-file-beats-no-config", args=("--no-config", *CACHE_DIR),
             env={"UV_CONFIG_FILE": "{tmp}/cf.toml"}, files={"cf.toml": toml('cache-dir = "{tmp}/cf-cache"')},
             source="config file {tmp}/cf.toml cache-dir"),
    Scenario("directory-option", args=("--directory", "{tmp}/other", *CACHE_DIR),
             files={"other/uv.toml": toml('cache-dir = "here"')}, source="config file {tmp}/other/uv.toml cache-dir"),
    Scenario("working-dir-env", env={"UV_WORKING_DIR": "{tmp}/other"},
             files={"other/uv.toml": toml('cache-dir = "{tmp}/other-cache"')},
             source="config file {tmp}/other/uv.toml cache-dir",
             versions=("0.9.30", "0.13.9"), why="UV_WORKING_DIR came in uv 0.9.14"),
    Scenario("project-env", env={"UV_PROJECT": "{tmp}/other"},
             files={"other/uv.toml": toml('cache-dir = "{tmp}/other-cache"')},
             source="config file {tmp}/other/uv.toml cache-dir",
             versions=("0.9.30", "0.13.9"), why="UV_PROJECT came in uv 0.6.11"),
    Scenario("home-unset", env={"HOME": None}, source="platform default"),
    Scenario("home-relative", env={"HOME": "relhome"}, source="platform default"),
    Scenario("home-empty-is-relative", env={"HOME": ""}, source="platform default",
             versions=("0.4.30",), why="from 0.6.4 (etcetera 0.9) an empty HOME means the passwd entry"),
    Scenario("home-empty-is-passwd", env={"HOME": ""}, source="platform default",
             versions=("0.9.30", "0.13.9"), why="0.4.30 takes HOME='' as a home (previous scenario)"),
    Scenario("empty-cache-dir-in-file", files={USER_TOML: toml('cache-dir = ""')},
             source="config file {home}/.config/uv/uv.toml cache-dir",
             versions=("0.4.30", "0.9.30"), why="0.13.9 refuses it (test_uv_refusals)"),
]


def _fmt(text: str, tmp: Path) -> str:
    return text.format(tmp=tmp, home=tmp / "home")


def _setup(scenario: Scenario, tmp: Path) -> Tuple[dict, list, Path]:
    (tmp / "home").mkdir(exist_ok=True)
    (tmp / "t").mkdir(exist_ok=True)
    (tmp / "nosys").mkdir(exist_ok=True)
    for rel, text in scenario.files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_fmt(text, tmp))
    cwd = tmp / scenario.cwd
    cwd.mkdir(parents=True, exist_ok=True)
    env = {"PATH": sandbox.PATH, "HOME": str(tmp / "home"), "LANG": "C.UTF-8", "TMPDIR": str(tmp / "t"),
           "XDG_CONFIG_DIRS": str(tmp / "nosys")}
    for name, value in scenario.env.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = _fmt(value, tmp)
    return env, [_fmt(a, tmp) for a in scenario.args], cwd


def _uv(version: str, args, env, cwd) -> subprocess.CompletedProcess:
    uv = sandbox.uv_venv(version) / "bin" / "uv"
    return subprocess.run([str(uv), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def tmp(tmp_path) -> Path:
    return Path(os.path.realpath(tmp_path))


@pytest.mark.parametrize("version", sandbox.UV_VERSIONS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_cache_dir_is_uvs(scenario, version, tmp):
    if scenario.versions is not None and version not in scenario.versions:
        pytest.skip(f"uv {version}: {scenario.why}")
    env, args, cwd = _setup(scenario, tmp)
    proc = _uv(version, args, env, cwd)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.rstrip("\n")
    directory = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--directory"), None)
    base = os.path.join(cwd, directory) if directory else str(cwd)
    uv_says = os.path.normpath(os.path.join(base, printed))

    ours = resolve_uv_cache(args, env, cwd=str(cwd), uv_version=version)

    assert (ours.configured, ours.source) == (uv_says, _fmt(scenario.source, tmp))
    assert ours.path == os.path.realpath(uv_says)
    assert not ours.disabled


@pytest.mark.parametrize("version", sandbox.UV_VERSIONS)
@pytest.mark.parametrize("args, env, files, source, value", [
    (("cache", "dir", "--no-cache"), {}, {}, "--no-cache", None),
    (("-n", "cache", "dir"), {}, {}, "--no-cache", None),
    (("cache", "dir"), {"UV_NO_CACHE": "Yes", "UV_CACHE_DIR": "{tmp}/env-cache"}, {}, "UV_NO_CACHE", "Yes"),
    (("cache", "dir"), {"UV_CACHE_DIR": "{tmp}/env-cache"}, {USER_TOML: toml("no-cache = true")},
     "config file {home}/.config/uv/uv.toml no-cache", "true"),
], ids=["cli", "short", "env-over-cache-dir", "user-file"])
def test_no_cache_is_a_temporary_dir(version, args, env, files, source, value, tmp):
    """uv then uses a fresh `$TMPDIR/.tmpXXXXXX` (tempfile), removed at exit: `uv cache dir` prints it."""
    env, args, cwd = _setup(Scenario("no-cache", args=args, env=env, files=files), tmp)
    proc = _uv(version, args, env, cwd)
    printed = Path(proc.stdout.strip())
    assert (proc.returncode, printed.parent, printed.name[:4]) == (0, tmp / "t", ".tmp"), proc.stderr

    ours = resolve_uv_cache(args, env, cwd=str(cwd), uv_version=version)

    assert (ours.disabled, ours.path, ours.source, ours.setting_value) == (True, None, _fmt(source, tmp), value)


@pytest.mark.parametrize("version", sandbox.UV_VERSIONS)
@pytest.mark.parametrize("args, env, files, complaint, source", [
    (CACHE_DIR, {"UV_NO_CACHE": "maybe"}, {}, "invalid value 'maybe' for '--no-cache'", "UV_NO_CACHE"),
    (("--no-cache", *CACHE_DIR), {"UV_NO_CACHE": ""}, {}, "invalid value '' for '--no-cache'", "UV_NO_CACHE"),
    (CACHE_DIR, {"UV_NO_CONFIG": "2"}, {}, "invalid value '2' for '--no-config'", "UV_NO_CONFIG"),
    (("--cache-dir", "/c", *CACHE_DIR), {"UV_CACHE_DIR": ""}, {}, "a value is required for '--cache-dir",
     "UV_CACHE_DIR"),
    (("--config-file", "{tmp}/absent.toml", *CACHE_DIR), {}, {}, "failed to open file `{tmp}/absent.toml`",
     "--config-file"),
    (CACHE_DIR, {}, {USER_TOML: toml('cache-dir = "/a')}, "Failed to parse: ",
     "config file {home}/.config/uv/uv.toml"),
    (CACHE_DIR, {}, {USER_TOML: toml("cache-dir = 3")}, "Failed to parse: ",
     "config file {home}/.config/uv/uv.toml"),
    (CACHE_DIR, {}, {"work/uv.toml": toml("[broken")}, "Failed to parse: ", "config file {tmp}/work/uv.toml"),
    (CACHE_DIR, {}, {USER_TOML: toml("bogus-key = 1")}, "unknown field `bogus-key`",
     "config file {home}/.config/uv/uv.toml"),
    (CACHE_DIR, {}, {"work/uv.toml": toml("[workspace]", "members = []")},
     "The `workspace` field is not allowed in a `uv.toml` file", "config file {tmp}/work/uv.toml"),
    (CACHE_DIR, {}, {USER_TOML: toml('cache-dir = ""')}, "cannot make an empty path absolute",
     "config file {home}/.config/uv/uv.toml cache-dir"),
], ids=["bad-no-cache", "empty-no-cache", "bad-no-config", "empty-cache-dir-env", "missing-config-file",
        "user-toml-syntax", "user-toml-type", "project-uv-toml-syntax", "unknown-field", "pyproject-only-field",
        "empty-cache-dir-in-file"])
def test_uv_refusals(version, args, env, files, complaint, source, tmp):
    """Where uv stops (exit 2) before it touches a cache, we raise UvInputError naming the input to fix."""
    if complaint.startswith("cannot make") and version != "0.13.9":
        pytest.skip(f"uv {version} takes an empty cache-dir as the working directory")
    if "`workspace`" in complaint and version == "0.4.30":
        pytest.skip("uv 0.4.30 accepts pyproject.toml-only fields in a uv.toml (validate_uv_toml came in 0.5.0)")
    env, args, cwd = _setup(Scenario("refusal", args=args, env=env, files=files), tmp)
    proc = _uv(version, args, env, cwd)
    assert proc.returncode == 2 and _fmt(complaint, tmp) in proc.stderr, proc.stderr

    with pytest.raises(UvInputError) as raised:
        resolve_uv_cache(args, env, cwd=str(cwd), uv_version=version)

    assert _fmt(complaint, tmp) in raised.value.message
    assert raised.value.source == _fmt(source, tmp)
    assert isinstance(raised.value, UsageError)  # cli prints it as one `pipdoctor: error:` line


@pytest.mark.parametrize("version", sandbox.UV_VERSIONS)
def test_every_config_name_uv_knows_is_known(version, tmp):
    """uv lists the names it accepts when it meets another one; none of them may be refused by us."""
    env, args, cwd = _setup(Scenario("names", files={USER_TOML: toml("bogus-key = 1")}), tmp)
    proc = _uv(version, args, env, cwd)
    listed = re.findall(r"`([a-z-]+)`", proc.stderr.partition("expected one of")[2])
    assert len(listed) > 40, proc.stderr
    refused = []
    for name in listed:
        (tmp / USER_TOML).write_text(f"{name} = 1\n")  # maybe a wrong type for it, but a name uv knows
        try:
            resolve_uv_cache(args, env, cwd=str(cwd), uv_version=version)
        except UvInputError as error:
            if "unknown field" in error.message:
                refused.append(name)
    assert refused == []


@pytest.mark.parametrize("version", sandbox.UV_VERSIONS)
def test_deleted_working_directory(version, tmp):
    gone = tmp / "gone"
    gone.mkdir()
    env, args, _ = _setup(Scenario("gone"), tmp)
    proc = subprocess.run([str(sandbox.uv_venv(version) / "bin" / "uv"), *args], env=env, cwd=gone,
                          capture_output=True, text=True, preexec_fn=lambda: os.rmdir(gone), timeout=60)
    assert proc.returncode in (1, 101) and "directory" in proc.stderr, proc.stderr

    with pytest.raises(UvInputError, match="uv would refuse to run: .*(does not exist|must exist)"):
        decide_uv_cache(args, env, [], cwd=None, home=str(tmp / "home"), uv_version=version)


def test_run_passes_args_on(tmp):
    """`uv run CMD ...` hands everything after CMD to it; `uv pip install X --cache-dir D` is uv's own."""
    env, _, cwd = _setup(Scenario("run"), tmp)
    run = decide_uv_cache(["run", "--with", "x", "echo", "--cache-dir", "/x", "--no-cache"], env, [],
                          cwd=str(cwd), home=None)
    install = decide_uv_cache(["pip", "install", "x", "--cache-dir", "/x"], env, [], cwd=str(cwd), home=None)
    assert (run.source, run.disabled, install.path) == ("platform default", False, "/x")


def test_pure_precedence():
    """The order uv combines its sources, as data: option > env > project > user > system > XDG > home."""
    home = "/h"
    user = UserFile("/h/.config/uv/uv.toml", b'cache-dir = "/user"\nno-cache = false\n')
    system = UserFile("/etc/xdg/uv/uv.toml", b'cache-dir = "/system"\nno-cache = true\n')
    project = UserFile("/p/uv.toml", b'cache-dir = "/project"\n')
    env = {"HOME": home, "XDG_CACHE_HOME": "/xdg"}

    def where(args=("cache", "dir"), files=(user, system, project), **extra):
        location = decide_uv_cache(list(args), {**env, **extra}, list(files), cwd="/p", home=home)
        return location.path, location.source

    assert where(["--cache-dir", "/cli"], UV_CACHE_DIR="/env") == ("/cli", "--cache-dir")
    assert where(UV_CACHE_DIR="/env") == ("/env", "UV_CACHE_DIR")
    assert where() == ("/project", "config file /p/uv.toml cache-dir")
    assert where(files=(user, system)) == ("/user", "config file /h/.config/uv/uv.toml cache-dir")
    # the user file's `no-cache = false` masks the system's `true` (combine: the first file that sets it)
    assert where(files=(system,)) == (None, "config file /etc/xdg/uv/uv.toml no-cache")
    assert where(files=()) == ("/xdg/uv", "XDG_CACHE_HOME")
    assert where(files=(), XDG_CACHE_HOME="") == ("/h/.cache/uv", "platform default")
    located = decide_uv_cache(["cache", "dir"], env, [user, system, project], cwd="/p", home=home)
    assert located.config_files == ("/etc/xdg/uv/uv.toml", "/h/.config/uv/uv.toml", "/p/uv.toml")
    # `uv tool ...` reads no project config (uv/src/lib.rs: "commands that operate at the user-level")
    assert where(["tool", "install", "x"]) == ("/user", "config file /h/.config/uv/uv.toml cache-dir")


def test_unusable_file_is_noted_not_read():
    """A config file userfiles would not read (a FIFO, too large) is skipped and named, not guessed at."""
    fifo = UserFile("/h/.config/uv/uv.toml", b"", "it is a FIFO (named pipe), not a regular file")
    location = decide_uv_cache(["cache", "dir"], {"HOME": "/h"}, [fifo], cwd="/p", home="/h")
    assert (location.path, location.unusable) == ("/h/.cache/uv", (("/h/.config/uv/uv.toml", fifo.problem),))


def test_what_a_user_lists_is_bounded():
    """A long XDG_CONFIG_DIRS or a deep working directory cannot make root read without end: the files past
    the bounds are named in `unusable`, and the decision is made with the rest."""
    deep = "/" + "/".join(f"d{i}" for i in range(100))
    env = {"HOME": "/h", "XDG_CONFIG_DIRS": ":".join(f"/s{i}" for i in range(1000)) + ":/s0"}
    wanted = uv_config_candidates(["cache", "dir"], env, cwd=deep, home="/h")
    location = decide_uv_cache(["cache", "dir"], env, [], cwd=deep, home="/h")

    assert len(wanted) == len(set(wanted)) == MAX_SYSTEM_DIRS + 1 + 1 + 2 * MAX_PROJECT_LEVELS
    assert [path for path, _ in location.unusable] == ["/s16/uv/uv.toml", "/".join(deep.split("/")[:61]) + "/uv.toml"]
    assert location.path == "/h/.cache/uv"


@pytest.mark.root
def test_root_reads_user_files_with_the_users_rights(tmp):
    """Root resolving for a user reads the user's uv.toml as that user: a symlink to a root-only file stays
    unread, so root's secrets never decide (or appear in) the user's cache location."""
    with sandbox.unprivileged_user("pul") as user:
        secret = tmp / "secret.toml"
        secret.write_text('cache-dir = "/root-only"\n')
        os.chmod(secret, 0o600)
        config = user.home / ".config" / "uv"
        config.mkdir(parents=True)
        (config / "uv.toml").symlink_to(secret)
        sandbox.chown_tree(user.home, user.uid, user.gid)
        env = {"PATH": sandbox.PATH, "HOME": str(user.home), "XDG_CONFIG_DIRS": str(tmp / "nosys")}

        def reader(paths):
            return read_files_as(user.uid, user.gid, [user.gid], paths)

        location = resolve_uv_cache(["cache", "dir"], env, cwd=str(user.home), uid=user.uid, read_files=reader)
        as_user = sandbox.run_as(user, [str(sandbox.uv_venv(sandbox.UV_VERSIONS[-1]) / "bin" / "uv"), "cache",
                                        "dir"], env=env)

    # uv run as the user cannot read it either: from 0.9 it skips an unreadable user config (PermissionDenied)
    assert location.path == f"{user.home}/.cache/uv" == as_user.stdout.decode().strip()


@pytest.mark.root
def test_empty_home_and_an_existing_passwd_cache_before_0_6_4(tmp):
    """uv 0.4.30 with HOME="": its default is a relative `.cache/uv`, but an existing ~/.cache/uv of the passwd
    entry wins (legacy_user_cache_dir); we follow both, for a real user whose home has or lacks that dir."""
    uv = str(sandbox.uv_venv("0.4.30") / "bin" / "uv")
    env = {"PATH": sandbox.PATH, "HOME": "", "XDG_CONFIG_DIRS": str(tmp / "nosys")}
    with sandbox.unprivileged_user("pul") as user:
        answers = []
        for present in (False, True):
            if present:
                (user.home / ".cache" / "uv").mkdir(parents=True)
                sandbox.chown_tree(user.home, user.uid, user.gid)
            printed = sandbox.run_as(user, [uv, "cache", "dir"], env=env, cwd="/").stdout.decode().strip()
            ours = resolve_uv_cache(["cache", "dir"], env, cwd="/", uid=user.uid, uv_version="0.4.30")
            answers.append((os.path.join("/", printed), ours.path))

    assert answers == [("/.cache/uv",) * 2, (f"{user.home}/.cache/uv",) * 2]
