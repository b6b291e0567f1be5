"""Where uv's cache is for this argv + environment + config files, and which source decided, by uv's rules (no uv)."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import sys
from typing import Callable, Collection, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from pipdoctor.errors import UsageError
from pipdoctor.host.accounts import passwd_home
from pipdoctor.host.dirs import current_dir
from pipdoctor.installers.base import CacheLocation, release_of
from pipdoctor.records import record
from pipdoctor.userfiles import UserFile

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser under its PyPI name (setup.cfg: tomli for Python < 3.11)
    import tomli as tomllib

# Citations name uv's files under crates/ at the tags 0.4.30 and 0.9.30 of github.com/astral-sh/uv, and at
# 0.12.5 (the newest release in the snapshot read; 0.13.9's source was not at hand, so where 0.13.9 differs
# the rule below was seen by running it: tests/test_uv_locations.py asks every uv in the wheelhouse).
#
# The decision, uv/src/lib.rs run() and uv/src/settings.rs CacheSettings::resolve, the same in all three:
#   no_cache  = --no-cache/-n/--no-cache-dir or UV_NO_CACHE (clap, env fallback)  OR  the files' no-cache
#   cache_dir = --cache-dir or UV_CACHE_DIR (clap)  OR ELSE  the files' cache-dir
# then uv-cache/src/cli.rs Cache::from_settings: no_cache -> a temporary directory (tempfile's
# `$TMPDIR/.tmpXXXXXX`, removed when uv exits; `uv cache dir --no-cache` prints it), else cache_dir as given
# (not expanded, relative to the working directory), else uv-dirs user_cache_dir: etcetera's XDG strategy,
# `$XDG_CACHE_HOME/uv` (absolute values only) else `$HOME/.cache/uv`, else `.uv_cache` (no home at all).
# The files (uv/src/lib.rs "Load configuration from the filesystem"): --config-file/UV_CONFIG_FILE alone; else
# none with --no-config/UV_NO_CONFIG (or the deprecated --isolated on a non-project command); else for `uv
# tool` (and `uv self` from 0.5.16) user then system; else the project's (uv.toml or pyproject.toml
# [tool.uv], nearest at or above the workspace root, uv-settings/src/lib.rs FilesystemOptions::find; the
# search starts from --project/UV_PROJECT or the working directory after --directory/UV_WORKING_DIR), then
# user, then system; each setting from the first of them that has it (uv-settings/src/combine.rs).
# Not modelled: Windows and macOS (the legacy ~/Library/Caches/uv), and the rest of uv's settings schema.

#: The newest uv whose rules this module knows; `uv_version=None` means these rules.
LATEST_KNOWN_UV = (0, 13, 9)

# Sources, as CacheLocation.source spells them (a config file's are built by _file_source).
CLI_CACHE_DIR = "--cache-dir"
CLI_NO_CACHE = "--no-cache"
UV_CACHE_DIR = "UV_CACHE_DIR"
UV_NO_CACHE = "UV_NO_CACHE"
XDG_CACHE_HOME = "XDG_CACHE_HOME"
PLATFORM_DEFAULT = "platform default"

# clap's BoolishValueParser (clap_builder util/str_to_bool.rs), used for UV_NO_CACHE and UV_NO_CONFIG in
# uv-cli/src/lib.rs and uv-cache/src/cli.rs: these words in any case; anything else (also "") stops uv.
_TRUE_WORDS = frozenset(("y", "yes", "t", "true", "on", "1"))
_FALSE_WORDS = frozenset(("n", "no", "f", "false", "off", "0"))

# uv-cli/src/lib.rs: the global options that take a value (the next argument, or after "="), so that the
# value is not taken for the command's name. Only the first positional (the command) matters here.
_GLOBAL_VALUE_OPTIONS = frozenset(
    "--cache-dir --config-file --directory --project --color --python-preference --python-fetch "
    "--python-downloads --allow-insecure-host --trusted-host --preview-features --preview-feature".split()
)
# `uv run` and `uv tool run` pass everything after their command on to it (RunArgs/ToolRunArgs
# `command: ExternalCommand`, trailing_var_arg): a `--cache-dir` there is the command's. Their options
# that take a value, so that a value is not taken for the command (a partial list: see the report).
_RUN_VALUE_OPTIONS = _GLOBAL_VALUE_OPTIONS | frozenset(
    "--with -w --with-editable --with-requirements --extra --group --only-group --no-group --package "
    "--env-file --python -p --index --default-index --index-url -i --extra-index-url --find-links -f "
    "--from --constraints -c --overrides --build-constraints -b --config-setting -C".split()
)
# uv/src/lib.rs: the deprecated global --isolated turns config discovery off only for the commands that are
# not Project, Tool or Python ones (uv-cli/src/lib.rs ProjectCommand, 0.4.30 to 0.12.5).
_PROJECT_COMMANDS = frozenset(
    "run init add remove version sync lock upgrade export tree format check audit tool python".split()
)
# Bounds on the files looked at for one invocation. uv reads without limit; pipdoctor reads each file with
# the user's rights and up to userfiles.MAX_FILE_BYTES, and a user sets both lists (a deep working directory,
# a long XDG_CONFIG_DIRS). These keep one decision to at most 2 + 16 + 2 * 40 files; what lies beyond is
# named in CacheLocation.unusable and the decision goes on without it.
MAX_SYSTEM_DIRS = 16
MAX_PROJECT_LEVELS = 40
# The top-level names a uv.toml or [tool.uv] may hold: the union of the top-level `properties` of
# uv.schema.json (generated from uv-settings' Options) at 0.4.30, 0.9.30 and 0.12.5 (none was removed), and
# the four more that 0.13.9 lists in its own "unknown field ..., expected one of" (tests/test_uv_locations.py
# checks that every uv of the wheelhouse lists no name missing here).
_UV_TOML_KEYS = frozenset("""
    add-bounds allow-insecure-host audit build-backend build-constraint-dependencies cache-dir cache-keys
    check-url compile-bytecode concurrent-builds concurrent-downloads concurrent-installs config-settings
    config-settings-package conflicts graalpy-install-mirror minimum-libc-version pyodide-install-mirror
    require-build-hashes constraint-dependencies default-groups dependency-groups
    dependency-metadata dev-dependencies environments exclude-dependencies exclude-newer exclude-newer-package
    extra-build-dependencies extra-build-variables extra-index-url find-links fork-strategy http-proxy
    https-proxy index index-strategy index-url keyring-provider link-mode managed native-tls no-binary
    no-binary-package no-build no-build-isolation no-build-isolation-package no-build-package no-cache
    no-index no-proxy no-sources no-sources-package offline override-dependencies package pip prerelease
    prerelease-package preview preview-features publish-url pypy-install-mirror python-downloads
    python-downloads-json-url python-install-mirror python-preference reinstall reinstall-package
    required-environments required-version resolution sources system-certs torch-backend
    trusted-publishing upgrade upgrade-package workspace""".split())
# uv-settings/src/lib.rs validate_uv_toml (0.9.30): fields only a pyproject.toml's [tool.uv] may hold
_PYPROJECT_ONLY_FIELDS = frozenset("""conflicts workspace sources dev-dependencies default-groups
    dependency-groups managed package build-backend environments required-environments""".split())
# uv.toml names (uv-settings/src/settings.rs GlobalOptions, serde kebab-case)
_CACHE_DIR_KEY = "cache-dir"
_NO_CACHE_KEY = "no-cache"


class UvInputError(UsageError):
    """uv would stop on this input before it touches any cache (exit status 2, or 1, or a panic).

    `message` is uv's own complaint (its first line); `source` names the input to fix.
    """

    def __init__(self, message: str, source: str) -> None:
        self.message = " ".join(message.split())  # TOML errors span lines; the user sees one
        self.source = source
        super().__init__(f"uv would refuse to run: {self.message} (from {source})")


# --- uv versions ------------------------------------------------------------------------------------------


@record
class _Rules:
    """The behaviours that differ between the uv versions this module knows."""

    # HOME="" counts as a home dir "" (etcetera 0.8 through the `home` crate: a relative `.cache/uv`);
    # etcetera 0.9 (uv 0.6.4, Cargo.lock) takes the passwd entry then. Seen: 0.4.30 vs 0.9.30.
    empty_home_is_home: bool
    # UV_PROJECT (uv 0.6.11, uv-static/src/env_vars.rs), UV_WORKING_DIRECTORY (0.9.1), UV_WORKING_DIR (0.9.14;
    # uv/src/lib.rs still reads UV_WORKING_DIRECTORY when it is unset)
    env_project: bool
    env_working_directory: bool
    env_working_dir: bool
    # `uv self` reads only the user and system config, like `uv tool` (uv/src/lib.rs, from 0.5.16)
    self_is_user_level: bool
    # An empty XDG_CONFIG_DIRS entry ends the list (uv-dirs locate_system_config_xdg: take_while, still in
    # 0.12.5); 0.13.9 skips it and reads on (seen).
    xdg_dirs_skip_empty: bool
    # 0.13.9: `cache-dir = ""` in a config file stops uv ("cannot make an empty path absolute"); 0.4.30 and
    # 0.9.30 use "" as it is, i.e. the working directory itself (seen).
    empty_file_cache_dir_refused: bool
    # the message uv gives when its working directory was deleted (0.4.30 panics, exit 101)
    missing_cwd_message: str
    # unknown top-level names in a config file are checked (_UV_TOML_KEYS is known up to LATEST_KNOWN_UV; a
    # newer uv may know more names, so for it they are not checked rather than refused wrongly)
    known_keys: bool
    # a uv.toml with a pyproject.toml-only field stops uv (validate_uv_toml, from 0.5.0; its 0.9.30 list)
    pyproject_only_fields: bool
    version: Tuple[int, ...] = LATEST_KNOWN_UV


def _rules_for(version: Union[str, Sequence[int], None]) -> _Rules:
    v = release_of(version, LATEST_KNOWN_UV)
    return _Rules(
        empty_home_is_home=v < (0, 6, 4),
        env_project=v >= (0, 6, 11),
        env_working_directory=v >= (0, 9, 1),
        env_working_dir=v >= (0, 9, 14),
        self_is_user_level=v >= (0, 5, 16),
        # both first seen in 0.13.9; 0.12.5's source still has the old behaviour
        xdg_dirs_skip_empty=v >= (0, 12, 6),
        empty_file_cache_dir_refused=v >= (0, 12, 6),
        # uv-fs/src/path.rs CWD (0.4.30: `.expect("The current directory must exist")`); later uv/src/lib.rs
        missing_cwd_message=("Current directory does not exist" if v >= (0, 5) else
                             "The current directory must exist (uv panics, exit status 101)"),
        known_keys=v <= LATEST_KNOWN_UV,
        pyproject_only_fields=v >= (0, 9, 30),
        version=v,
    )


# --- uv's argv and environment ----------------------------------------------------------------------------


@record
class _Invocation:
    """What uv's argv and environment say about the cache and the config files."""

    cache_dir: Optional[Tuple[str, str]]  # (value, source)
    no_cache: Optional[Tuple[str, str]]  # (value as written, source): the cache is off
    config_file: Optional[Tuple[str, str]]  # (path, source)
    no_config: bool
    isolated: bool
    directory: Optional[str]
    project: Optional[str]
    command: Tuple[str, ...]  # the first one or two names: ("pip", "install"), ("tool", "run"), ("sync",)


def _parse_args(uv_args: Sequence[str]) -> dict:
    """The global options uv's clap parser sees anywhere in argv (they are `global = true`), up to `--` or
    the command of `uv run`/`uv tool run`. A repeated option: the last one counts (seen with --cache-dir)."""
    found: Dict[str, object] = {"command": ()}
    command: List[str] = []
    index = 0
    while index < len(uv_args):
        arg = uv_args[index]
        index += 1
        if arg == "--":
            break
        runs = command[:1] == ["run"] or command[:2] == ["tool", "run"]
        if arg.startswith("--"):
            name, has_value, value = arg.partition("=")
            if name in ("--cache-dir", "--config-file", "--directory", "--project"):
                if not has_value:
                    if index >= len(uv_args):
                        raise UvInputError(f"a value is required for '{name}' but none was supplied", name)
                    value = uv_args[index]
                    index += 1
                if value == "":  # clap: "a value is required for '--cache-dir <CACHE_DIR>' but none..."
                    raise UvInputError(f"a value is required for '{name}' but none was supplied", name)
                found[name] = value
            elif name in ("--no-cache", "--no-cache-dir", "--no-config", "--isolated") and not has_value:
                found["--no-cache" if name == "--no-cache-dir" else name] = True  # alias, uv-cache cli.rs
            elif not has_value and name in (_RUN_VALUE_OPTIONS if runs else _GLOBAL_VALUE_OPTIONS):
                index += 1
        elif arg.startswith("-") and arg != "-":
            if re.fullmatch(r"-[qvn]+", arg):  # short flags, clustered: -n is --no-cache (-q, -v global)
                if "n" in arg:
                    found["--no-cache"] = True
            elif runs and arg in _RUN_VALUE_OPTIONS:
                index += 1
        else:
            if runs:
                break  # the command uv runs: the rest is its argv
            if len(command) < 2:
                command.append(arg)
    found["command"] = tuple(command)
    return found


def _boolish(environ: Mapping[str, str], name: str, option: str) -> Optional[str]:
    """The value of a boolean variable if it says true, None if unset or false; uv stops on anything else."""
    if name not in environ:
        return None
    value = environ[name]
    word = value.lower()
    if word in _TRUE_WORDS:
        return value
    if word in _FALSE_WORDS:
        return None
    raise UvInputError(f"invalid value '{value}' for '{option}': value was not a boolean", name)


def _path_variable(environ: Mapping[str, str], name: str, option: str) -> Optional[str]:
    """A path variable clap reads for an option: unset is None, "" stops uv (even beside the option)."""
    value = environ.get(name)
    if value == "":
        raise UvInputError(f"a value is required for '{option} <{option[2:].upper().replace('-', '_')}>' "
                           "but none was supplied", name)
    return value


def _invocation(uv_args: Sequence[str], environ: Mapping[str, str], rules: _Rules) -> _Invocation:
    """uv's global options with clap's env fallback: the option given wins, else the variable. clap checks
    every variable it knows even when the option is given (seen: a bad UV_NO_CACHE stops `uv --no-cache`)."""
    cli = _parse_args(uv_args)
    env_no_cache = _boolish(environ, UV_NO_CACHE, "--no-cache")
    env_no_config = _boolish(environ, "UV_NO_CONFIG", "--no-config")
    env_cache_dir = _path_variable(environ, UV_CACHE_DIR, "--cache-dir")
    env_config_file = _path_variable(environ, "UV_CONFIG_FILE", "--config-file")
    env_project = environ.get("UV_PROJECT") if rules.env_project else None
    env_directory = None
    if rules.env_working_dir:
        env_directory = environ.get("UV_WORKING_DIR")
    if env_directory is None and rules.env_working_directory:
        env_directory = environ.get("UV_WORKING_DIRECTORY")

    def chosen(option, env_value, env_name):
        if option in cli:
            return cli[option], option
        return (env_value, env_name) if env_value is not None else None

    no_cache = ("--no-cache", CLI_NO_CACHE) if "--no-cache" in cli else (
        (env_no_cache, UV_NO_CACHE) if env_no_cache is not None else None)
    return _Invocation(
        cache_dir=chosen("--cache-dir", env_cache_dir, UV_CACHE_DIR),
        no_cache=no_cache,
        config_file=chosen("--config-file", env_config_file, "UV_CONFIG_FILE"),
        no_config=bool(cli.get("--no-config")) or env_no_config is not None,
        isolated=bool(cli.get("--isolated")),
        directory=cli.get("--directory", env_directory) or None,
        project=cli.get("--project", env_project) or None,
        command=cli["command"],
    )


# --- where uv looks for config files ----------------------------------------------------------------------


@record
class _Places:
    """The directories uv works from and the config files it may read, by role."""

    cwd: Optional[str]  # after --directory
    project_dir: Optional[str]
    config_file: Optional[Tuple[str, str]]  # (absolute path, source): the only file read
    discover: str  # "none", "user" (user + system only), "project" (project, user, system)
    user: Optional[str]
    system: Tuple[str, ...]  # candidates, first existing wins; /etc/uv/uv.toml last
    ancestors: Tuple[str, ...]  # project_dir and its parents, nearest first
    # (path, why) of the files uv may read that pipdoctor will not look at (the bounds below)
    beyond_bounds: Tuple[Tuple[str, str], ...] = ()


def _home(environ: Mapping[str, str], home: Optional[str], empty_is_home: bool) -> Optional[str]:
    """The home dir a Rust crate finds: HOME, else the passwd entry (`home`); HOME="" per `empty_is_home`."""
    value = environ.get("HOME")
    if value is None or (value == "" and not empty_is_home):
        return home
    return value


def _user_config(environ: Mapping[str, str], home: Optional[str]) -> Optional[str]:
    """uv-settings/src/lib.rs user_config_dir (0.4.30: dirs_sys::home_dir, which skips HOME="") and uv-dirs
    user_config_dir (0.9.30 on: etcetera, the same): `$XDG_CONFIG_HOME` if absolute, else `~/.config`."""
    xdg = environ.get("XDG_CONFIG_HOME")
    if xdg and posixpath.isabs(xdg):
        base = xdg
    else:
        user_home = _home(environ, home, empty_is_home=False)
        if user_home is None:
            return None
        base = posixpath.join(user_home, ".config")
    return posixpath.join(base, "uv", "uv.toml")


def _system_configs(environ: Mapping[str, str], rules: _Rules) -> Tuple[Tuple[str, ...], list]:
    """uv-dirs locate_system_config_xdg + system_config_file: `<dir>/uv/uv.toml` for each XDG_CONFIG_DIRS
    entry (relative ones too; unset or "" means /etc/xdg), then /etc/uv/uv.toml; the first that is a file.
    A repeated entry is looked at once (its answer cannot change); past MAX_SYSTEM_DIRS, none."""
    value = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    dirs: List[str] = []
    for entry in value.split(":"):
        if not entry:
            if rules.xdg_dirs_skip_empty:
                continue
            break
        if entry not in dirs:
            dirs.append(entry)
    beyond = []
    if len(dirs) > MAX_SYSTEM_DIRS:
        beyond.append((posixpath.join(dirs[MAX_SYSTEM_DIRS], "uv", "uv.toml"),
                       f"XDG_CONFIG_DIRS names more than {MAX_SYSTEM_DIRS} directories; pipdoctor looks in the "
                       "first ones only"))
        dirs = dirs[:MAX_SYSTEM_DIRS]
    return tuple(posixpath.join(d, "uv", "uv.toml") for d in dirs) + ("/etc/uv/uv.toml",), beyond


def _places(inv: _Invocation, environ: Mapping[str, str], *, cwd: Optional[str], home: Optional[str],
            rules: _Rules) -> _Places:
    if inv.directory is not None:  # uv/src/lib.rs: set_current_dir(directory) first
        cwd = posixpath.join(cwd, inv.directory) if cwd is not None else (
            inv.directory if posixpath.isabs(inv.directory) else None)
    if inv.project is not None:
        project_dir = posixpath.join(cwd, inv.project) if cwd is not None else (
            inv.project if posixpath.isabs(inv.project) else None)
    else:
        project_dir = cwd
    if project_dir is None:  # uv reads its working directory to find the project (uv-fs CWD)
        raise UvInputError(rules.missing_cwd_message, "the working directory (it was deleted)")
    project_dir = posixpath.normpath(project_dir)  # uv-workspace discover: absolute, normalize_path
    config_file = None
    if inv.config_file is not None:
        value, source = inv.config_file
        if not posixpath.isabs(value) and cwd is None:
            raise UvInputError(rules.missing_cwd_message, "the working directory (it was deleted)")
        config_file = (posixpath.join(cwd or "", value), source)
    deprecated_isolated = inv.isolated and (inv.command[:1] or ("",))[0] not in _PROJECT_COMMANDS
    if config_file is not None or inv.no_config or deprecated_isolated:
        discover = "none"
    elif inv.command[:1] == ("tool",) or (inv.command[:1] == ("self",) and rules.self_is_user_level):
        discover = "user"
    else:
        discover = "project"
    ancestors = []
    here = project_dir
    while True:
        ancestors.append(here)
        parent = posixpath.dirname(here)
        if parent == here:
            break
        here = parent
    system, beyond = _system_configs(environ, rules)
    if discover == "project" and len(ancestors) > MAX_PROJECT_LEVELS:
        beyond.append((posixpath.join(ancestors[MAX_PROJECT_LEVELS], "uv.toml"),
                       f"the project directory is more than {MAX_PROJECT_LEVELS} levels deep; pipdoctor looks "
                       "for uv.toml and pyproject.toml in the nearest ones only"))
        ancestors = ancestors[:MAX_PROJECT_LEVELS]
    return _Places(cwd, project_dir, config_file, discover, _user_config(environ, home), system,
                   tuple(ancestors), tuple(beyond) if discover != "none" else ())


def _in_cwd(places: _Places, path: str) -> Optional[str]:
    """`path` as uv opens it, from its working directory; None for a relative one when that was deleted."""
    if posixpath.isabs(path):
        return path
    return posixpath.join(places.cwd, path) if places.cwd is not None else None


def _wanted_files(places: _Places) -> List[str]:
    """Every file the decision may look at, for one read (with the user's rights) before deciding."""
    if places.config_file is not None:
        return [places.config_file[0]]
    if places.discover == "none":
        return []
    wanted = [_in_cwd(places, p) for p in places.system]
    if places.user is not None:
        wanted.append(_in_cwd(places, places.user))
    if places.discover == "project":
        for directory in places.ancestors:
            wanted += [posixpath.join(directory, "uv.toml"), posixpath.join(directory, "pyproject.toml")]
    return [path for path in wanted if path is not None]


# --- reading the files ------------------------------------------------------------------------------------


@record
class _Options:
    """The settings of one config file that matter here (uv-settings GlobalOptions cache_dir, no_cache)."""

    path: str
    pyproject: bool
    cache_dir: Optional[str] = None
    no_cache: Optional[bool] = None


def _toml(data: bytes) -> dict:
    """toml-rs reads UTF-8 text (fs_err::read_to_string): invalid UTF-8 is a read error in uv."""
    return tomllib.loads(data.decode("utf-8"))


def _global_options(path: str, table: object, pyproject: bool, rules: _Rules) -> _Options:
    """The two settings, checked as serde checks their types (a wrong type fails the whole file), and the
    top-level names (uv-settings OptionsWire: deny_unknown_fields), where this module knows them."""
    if not isinstance(table, dict):
        raise ValueError("invalid type: expected a table")
    if rules.known_keys:
        unknown = next((key for key in table if key not in _UV_TOML_KEYS), None)
        if unknown is not None:
            raise ValueError(f"unknown field `{unknown}`")
    cache_dir = table.get(_CACHE_DIR_KEY)
    no_cache = table.get(_NO_CACHE_KEY)
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise ValueError(f"invalid type for `{_CACHE_DIR_KEY}`: expected a string")
    if no_cache is not None and not isinstance(no_cache, bool):
        raise ValueError(f"invalid type for `{_NO_CACHE_KEY}`: expected a boolean")
    return _Options(path, pyproject, cache_dir, no_cache)


def _uv_toml(path: str, data: bytes, rules: _Rules) -> _Options:
    """uv-settings read_file / from_directory: a uv.toml uv reads must parse, or uv stops (exit 2)."""
    try:
        document = _toml(data)
        options = _global_options(path, document, pyproject=False, rules=rules)
    except (ValueError, UnicodeDecodeError) as error:  # tomllib.TOMLDecodeError is a ValueError
        raise UvInputError(f"Failed to parse: `{path}`: {error}", f"config file {path}") from None
    if rules.pyproject_only_fields:
        field = next((key for key in document if key in _PYPROJECT_ONLY_FIELDS), None)
        if field is not None:  # uv-settings/src/lib.rs validate_uv_toml, Error::PyprojectOnlyField
            raise UvInputError(f"Failed to parse: `{path}`. The `{field}` field is not allowed in a `uv.toml` "
                               "file.", f"config file {path}")
    return options


def _pyproject(data: bytes) -> Optional[dict]:
    """A pyproject.toml as a table, None when it does not parse (uv warns and walks on)."""
    try:
        document = _toml(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return document


def _tool_uv(document: dict) -> Optional[object]:
    tool = document.get("tool")
    return tool.get("uv") if isinstance(tool, dict) else None


# --- the project's file -----------------------------------------------------------------------------------


def _glob_escape(text: str) -> str:
    """glob::Pattern::escape for fnmatch: each special character as a one-character class."""
    return re.sub(r"([*?\[\]])", r"[\1]", text)


def _workspace_root(places: _Places, files: Mapping[str, UserFile]) -> Optional[str]:
    """uv-workspace/src/workspace.rs Workspace::discover, as far as it decides where FilesystemOptions::find
    starts: the nearest pyproject.toml's dir, or an explicit workspace root above that includes it.
    None: discovery fails (no pyproject.toml, unparsable, no [project], managed = false), and find starts
    at the project dir. Members' own pyproject.toml files are not checked (see the report)."""
    ancestors = places.ancestors
    for position, directory in enumerate(ancestors):
        found = files.get(posixpath.join(directory, "pyproject.toml"))
        if found is None or found.data is None:
            continue
        document = _pyproject(found.data)
        if document is None:
            return None
        tool_uv = _tool_uv(document)
        tool_uv = tool_uv if isinstance(tool_uv, dict) else {}
        if tool_uv.get("managed") is False:
            return None
        if isinstance(tool_uv.get("workspace"), dict):
            return directory
        if "project" not in document:
            return None
        return _workspace_above(directory, ancestors[position + 1:], files) or directory
    return None


def _workspace_above(project: str, above: Sequence[str], files: Mapping[str, UserFile]) -> Optional[str]:
    """workspace.rs find_workspace: the first pyproject.toml above decides (include and exclude globs are
    glob::Pattern over absolute paths, whose `*` also matches `/`, like fnmatch)."""
    for directory in above:
        found = files.get(posixpath.join(directory, "pyproject.toml"))
        if found is None or found.data is None:
            continue
        document = _pyproject(found.data)
        if document is None:
            return None  # WorkspaceError::Toml: discovery fails; treated as "no workspace above"
        tool_uv = _tool_uv(document)
        workspace = tool_uv.get("workspace") if isinstance(tool_uv, dict) else None
        if not isinstance(workspace, dict):
            if "project" in document:
                return None
            continue

        def matches(key):
            globs = workspace.get(key) or []
            return any(isinstance(g, str) and fnmatch.fnmatchcase(
                project, posixpath.join(_glob_escape(directory), posixpath.normpath(g))) for g in globs)

        return directory if matches("members") and not matches("exclude") else None
    return None


def _project_options(start: str, places: _Places, files: Mapping[str, UserFile], rules: _Rules,
                     unusable: List[Tuple[str, str]]) -> Optional[_Options]:
    """uv-settings FilesystemOptions::find + from_directory: walking up from `start`, a uv.toml (which must
    parse) or a pyproject.toml with [tool.uv] (one that does not parse is warned about and passed by)."""
    for directory in places.ancestors[places.ancestors.index(start):]:
        path = posixpath.join(directory, "uv.toml")
        found = files.get(path)
        if found is not None and found.data is not None:
            if found.problem is not None:
                unusable.append((path, found.problem))
                continue
            return _uv_toml(path, found.data, rules)
        path = posixpath.join(directory, "pyproject.toml")
        found = files.get(path)
        if found is None or found.data is None:
            continue
        if found.problem is not None:
            unusable.append((path, found.problem))
            continue
        document = _pyproject(found.data)
        if document is None:
            unusable.append((path, "it does not parse as TOML (uv warns and reads on)"))
            continue
        tool_uv = _tool_uv(document)
        if tool_uv is None:
            continue
        try:
            return _global_options(path, tool_uv, pyproject=True, rules=rules)
        except ValueError as error:
            unusable.append((path, f"its [tool.uv] does not parse: {error} (uv warns and reads on)"))
    return None


# --- putting it together ----------------------------------------------------------------------------------


def _file_source(options: _Options, key: str) -> str:
    if options.pyproject:
        return f"pyproject.toml {options.path} [tool.uv] {key}"
    return f"config file {options.path} {key}"


def _read_config_files(places: _Places, files: Mapping[str, UserFile], rules: _Rules,
                       unusable: List[Tuple[str, str]]) -> List[_Options]:
    """The config files uv reads for this command, highest precedence first (uv/src/lib.rs run)."""
    if places.config_file is not None:
        path, source = places.config_file
        found = files.get(path)
        if found is None or found.data is None:
            # uv-settings from_file -> fs_err::read_to_string (0.4.30 splits this over two lines)
            raise UvInputError(f"failed to open file `{path}`: No such file or directory (os error 2)", source)
        if found.problem is not None:
            unusable.append((path, found.problem))
            return []
        return [_uv_toml(path, found.data, rules)]
    if places.discover == "none":
        return []
    chosen: List[_Options] = []
    if places.discover == "project":
        root = _workspace_root(places, files)
        project = _project_options(root or places.project_dir, places, files, rules, unusable)
        if project is not None:
            chosen.append(project)
    if places.user is not None:  # FilesystemOptions::user: a missing file is no file
        path = _in_cwd(places, places.user)
        found = files.get(path)
        if found is not None and found.data is not None:
            if found.problem is not None:
                unusable.append((path, found.problem))
            else:
                chosen.append(_uv_toml(path, found.data, rules))
    for candidate in places.system:  # FilesystemOptions::system: the first that is a file
        path = _in_cwd(places, candidate)
        found = files.get(path)
        if found is None or found.data is None:
            continue
        if found.problem is not None:
            unusable.append((path, found.problem))
        else:
            chosen.append(_uv_toml(path, found.data, rules))
        break
    return chosen


def _legacy_cache_dir(environ: Mapping[str, str], home: Optional[str], rules: _Rules) -> Optional[str]:
    """uv-cache cli.rs from_settings looks first at uv_dirs::legacy_user_cache_dir, used if it exists. On Linux
    it names the same dir as the default, except before uv 0.6.4 with HOME="": there it is the `directories`
    crate's, whose dirs_sys skips an empty HOME, so the passwd entry's ~/.cache/uv (None: no such case)."""
    xdg = environ.get(XDG_CACHE_HOME)
    if not rules.empty_home_is_home or environ.get("HOME") != "" or (xdg and posixpath.isabs(xdg)) or not home:
        return None
    return posixpath.join(home, ".cache", "uv")


def _default_cache_dir(environ: Mapping[str, str], home: Optional[str], rules: _Rules,
                       existing_dirs: Collection[str]) -> Tuple[str, str]:
    """uv-dirs user_cache_dir: etcetera choose_base_strategy (Xdg on Linux) cache_dir().join("uv")."""
    legacy = _legacy_cache_dir(environ, home, rules)
    if legacy is not None and legacy in existing_dirs:
        return legacy, PLATFORM_DEFAULT
    user_home = _home(environ, home, rules.empty_home_is_home)
    if user_home is None:  # etcetera finds no home: no strategy at all; uv-cache cli.rs falls back
        return ".uv_cache", PLATFORM_DEFAULT
    xdg = environ.get(XDG_CACHE_HOME)
    if xdg and posixpath.isabs(xdg):  # etcetera: a relative or empty XDG_CACHE_HOME is ignored
        return posixpath.join(xdg, "uv"), XDG_CACHE_HOME
    return posixpath.join(user_home, ".cache", "uv"), PLATFORM_DEFAULT


def _by_path(config_files: Sequence[UserFile]) -> Dict[str, UserFile]:
    return {f.path: f for f in config_files}


def _decide(uv_args, environ, config_files, *, cwd, home, uv_version,
            existing_dirs) -> Tuple[CacheLocation, Optional[str]]:
    """decide_uv_cache, plus the path as uv joins it (for realpath, which needs the disk)."""
    rules = _rules_for(uv_version)
    inv = _invocation(uv_args, environ, rules)
    places = _places(inv, environ, cwd=cwd, home=home, rules=rules)
    unusable: List[Tuple[str, str]] = list(places.beyond_bounds)
    chosen = _read_config_files(places, _by_path(config_files), rules, unusable)
    existing = tuple(reversed([o.path for o in chosen]))  # lowest precedence first, as for pip
    unusable_t = tuple(unusable)

    file_no_cache = next((o for o in chosen if o.no_cache is not None), None)  # combine: first Some wins
    if inv.no_cache is not None:
        value, source = inv.no_cache
        written = None if source == CLI_NO_CACHE else value  # as for pip: only a variable's value is kept
        return CacheLocation(None, True, source, existing, None, written, unusable_t), None
    if file_no_cache is not None and file_no_cache.no_cache:
        return CacheLocation(None, True, _file_source(file_no_cache, _NO_CACHE_KEY), existing, None, "true",
                             unusable_t), None

    if inv.cache_dir is not None:
        value, source = inv.cache_dir
    else:
        file_cache_dir = next((o for o in chosen if o.cache_dir is not None), None)
        if file_cache_dir is not None:
            value, source = file_cache_dir.cache_dir, _file_source(file_cache_dir, _CACHE_DIR_KEY)
            if value == "" and rules.empty_file_cache_dir_refused:
                raise UvInputError("cannot make an empty path absolute", source)
        else:
            value, source = _default_cache_dir(environ, home, rules, existing_dirs)
    if "\0" in value:
        raise UvInputError("the cache dir holds a NUL byte", source)
    if places.cwd is None and not posixpath.isabs(value):
        raise UvInputError(rules.missing_cwd_message, "the working directory (it was deleted)")
    # uv does not expand "~" or variables (seen: UV_CACHE_DIR='~/x' prints `~/x`); a relative dir is taken
    # relative to the working directory after --directory
    raw = posixpath.join(places.cwd or "", value)
    configured = posixpath.normpath(raw)
    return CacheLocation(configured, False, source, existing, configured, None, unusable_t), raw


def decide_uv_cache(
    uv_args: Sequence[str],
    environ: Mapping[str, str],
    config_files: Sequence[UserFile],
    *,
    cwd: Optional[str],
    home: Optional[str],
    uv_version: Union[str, Sequence[int], None] = None,
    existing_dirs: Collection[str] = (),
) -> CacheLocation:
    """The pure part: uv's argv (after `uv`), environment and config files as read -> where the cache is.

    `config_files` are userfiles.UserFile values (path, data: None when missing, problem: not read), for
    the paths uv_config_candidates() lists; a path not among them counts as missing. `cwd` None: the working
    directory was deleted. `home` is the passwd entry's home (used when HOME is unset). `existing_dirs`:
    whether legacy_cache_dir() exists, for the one uv that asks (see there). Symlinks are not resolved.
    Raises UvInputError where uv itself would stop before it touches the cache.
    """
    location, _ = _decide(uv_args, environ, config_files, cwd=cwd, home=home, uv_version=uv_version,
                          existing_dirs=existing_dirs)
    return location


def uv_config_candidates(
    uv_args: Sequence[str],
    environ: Mapping[str, str],
    *,
    cwd: Optional[str],
    home: Optional[str],
    uv_version: Union[str, Sequence[int], None] = None,
) -> List[str]:
    """Every path decide_uv_cache may want to see for this invocation (absolute unless cwd is None)."""
    rules = _rules_for(uv_version)
    inv = _invocation(uv_args, environ, rules)
    return _wanted_files(_places(inv, environ, cwd=cwd, home=home, rules=rules))


def legacy_cache_dir(environ: Mapping[str, str], *, home: Optional[str],
                     uv_version: Union[str, Sequence[int], None] = None) -> Optional[str]:
    """The dir whose existence decide_uv_cache needs to know (`existing_dirs`), or None when none matters."""
    return _legacy_cache_dir(environ, home, _rules_for(uv_version))


# --- I/O ---------------------------------------------------------------------------------------------------


def resolve_uv_cache(
    uv_args: Sequence[str],
    environ: Mapping[str, str],
    *,
    cwd: Optional[str] = None,
    uid: Optional[int] = None,
    read_files: Optional[Callable[[Sequence[str]], Sequence]] = None,
    uv_version: Union[str, Sequence[int], None] = None,
) -> CacheLocation:
    """Where uv's cache is for `uv <uv_args>` run in `environ` and `cwd`, and which source decided.

    read_files reads the candidate config files, all in one call (userfiles.read_files: with this process's
    rights; root passes a reader that reads with the user's, userfiles.read_files_as). Each file is read
    only if regular and at most userfiles.MAX_FILE_BYTES. cwd None: this process's working directory.
    The home used without HOME is the passwd entry of `uid` (default: this process's user).
    Raises UvInputError where uv itself would stop.
    """
    from pipdoctor.userfiles import read_files as read_own

    read_files = read_own if read_files is None else read_files
    cwd = current_dir() if cwd is None else cwd
    home = passwd_home(uid)
    wanted = uv_config_candidates(uv_args, environ, cwd=cwd, home=home, uv_version=uv_version)
    files = read_files(wanted) if wanted else ()
    legacy = legacy_cache_dir(environ, home=home, uv_version=uv_version)
    # uv's `exists()`, asked with this process's rights (a stat, nothing opened)
    existing = (legacy,) if legacy is not None and os.path.exists(legacy) else ()
    location, raw = _decide(uv_args, environ, files, cwd=cwd, home=home, uv_version=uv_version,
                            existing_dirs=existing)
    if raw is not None:
        location = location._replace(path=os.path.realpath(raw))  # where the entries really land
    return location
