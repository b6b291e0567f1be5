"""Where pip's cache is for this argv + environment, and which source decided, by pip's rules (no pip)."""

from __future__ import annotations

import io
import ntpath
import os
import posixpath
import sys
from typing import Callable, Collection, Iterator, Mapping, Optional, Sequence, Tuple, Union

from pipdoctor.errors import UsageError
from pipdoctor.host.accounts import passwd_home
from pipdoctor.host.dirs import current_dir
from pipdoctor.installers.base import CacheLocation, release_of
from pipdoctor.installers.pip.options import value_problem
from pipdoctor.installers.pip.sources import (CLI_CACHE_DIR, CLI_NO_CACHE_DIR, CLI_PYTHON, PLATFORM_DEFAULT,
                                             XDG_CACHE_HOME)
from pipdoctor.records import record

# Citations below name pip's files under pip/_internal/ (pip 23.2.1 unless a version is given) and the
# platformdirs (appdirs before pip 21.3) that pip vendors under pip/_vendor/.

#: The newest pip whose rules this module knows; `pip_version=None` means these rules.
LATEST_KNOWN_PIP = (26, 3)

# cli/cmdoptions.py general_group, pip 20.3 to 26.3: the main parser (the options before the command)
# knows only these, and every command's parser has them too. The next argument belongs to these ones:
_GENERAL_VALUE_OPTIONS = frozenset(
    "--cache-dir --cert --client-cert --default-timeout --exists-action --keyring-provider --local-log --log "
    "--log-file --proxy --python --resume-retries --retries --timeout --trusted-host --use-deprecated "
    "--use-feature".split()
)
_GENERAL_FLAG_OPTIONS = frozenset(
    "--debug --disable-pip-version-check --help --isolated --no-cache-dir --no-color --no-input "
    "--no-proxy-env --no-python-version-warning --quiet --require-venv --require-virtualenv --verbose "
    "--version".split()
)
_GENERAL_OPTIONS = _GENERAL_VALUE_OPTIONS | _GENERAL_FLAG_OPTIONS
# optparse accepts any unambiguous prefix of a long option. In every command of pip 20.3 to 26.3 "--ca"
# is the shortest prefix that means --cache-dir and "--no-ca" the shortest for --no-cache-dir.
_SHORTEST_PREFIX = {"--cache-dir": 4, "--no-cache-dir": 7}


class PipInputError(UsageError):
    """pip would stop on this input before it touches any cache (exit status 2, or a traceback).

    `message` is pip's own complaint; `source` names the input to fix (an env var, a config file, an option).
    """

    def __init__(self, message: str, source: str) -> None:
        self.message = " ".join(message.split())  # configparser's errors span lines; the user sees one
        self.source = source
        super().__init__(f"pip would refuse to run: {self.message} (from {source})")


@record
class ConfigFile:
    """One config file pip looks for, and its bytes (None: the file does not exist, so pip skips it)."""

    kind: str  # pip's configuration kinds: "global", "user", "site", "env" (PIP_CONFIG_FILE)
    path: str
    data: Optional[bytes] = None
    problem: Optional[str] = None  # why it was not read although it exists (userfiles.read_bounded)


# --- pip versions ----------------------------------------------------------------------------------------


@record
class _Rules:
    """The behaviours that differ between the pip versions this module knows."""

    xdg: str  # how XDG_* variables are read: "appdirs", "platformdirs", "stripped", "absolute"
    xdg_dirs_expanduser: bool  # XDG_CONFIG_DIRS entries get expanduser'd
    macos_xdg: bool  # macOS honours XDG_* variables too
    files_by_path: bool  # a file read at two levels counts once, at its first (lowest) level
    per_file_items: bool  # empty values and no-cache-dir checks are per file, not per merged key
    normalized_option_names: bool  # cache_dir and cache-dir in one section are the same option (duplicate)
    version: Tuple[int, ...] = LATEST_KNOWN_PIP  # which options pip's parsers have (options.py)


def _rules_for(version: Union[str, Sequence[int], None]) -> _Rules:
    v = release_of(version, LATEST_KNOWN_PIP)
    if v < (21, 3):
        xdg = "appdirs"  # pip 21.3 replaced the vendored appdirs by platformdirs 2.4
    elif v < (26, 2):
        xdg = "platformdirs"
    elif v < (26, 3):
        xdg = "stripped"  # platformdirs 4.10, _xdg.py: os.environ.get(...).strip()
    else:
        xdg = "absolute"  # platformdirs 4.12, _xdg.py _xdg_dir: only an absolute path counts
    return _Rules(
        xdg=xdg,
        # platformdirs 2.4 to 3.8 unix.py _with_multi_path expanduser()s each dir; 4.2 (pip 24.1) stopped.
        xdg_dirs_expanduser=(21, 3) <= v < (24, 1),
        macos_xdg=v >= (26, 2),  # platformdirs 4.10 macos.py: class MacOS(XDGMixin, ...)
        # pip 25.2 configuration.py keeps values per file name (_config[variant][fname]), and
        # cli/parser.py _get_ordered_configuration_items yields every file's non-empty value; pip 26.0
        # merges per key again ("fallthrough logic"), still over files keyed by name.
        files_by_path=v >= (25, 2),
        per_file_items=(25, 2) <= v < (26, 0),
        # pip 26.3 configuration.py _RawConfigParser.optionxform = _normalize_name
        normalized_option_names=v >= (26, 3),
        version=v,
    )


# --- paths, as os.path would compute them on the target platform ------------------------------------------


def _is_windows(platform: str) -> bool:
    return platform.startswith("win")  # utils/compat.py WINDOWS (pip's "cli" on nt case aside)


def _pathmod(platform: str):
    return ntpath if _is_windows(platform) else posixpath


def _platform_environ(environ: Mapping[str, str], platform: str) -> Mapping[str, str]:
    """Windows' environment is case-insensitive: os.environ there has upper-case keys."""
    if _is_windows(platform):
        return {key.upper(): value for key, value in environ.items()}
    return environ


def _expanduser(
    path: str,
    environ: Mapping[str, str],
    *,
    platform: str = sys.platform,
    home: Optional[str] = None,
    user_homes: Optional[Mapping[str, str]] = None,
) -> str:
    """os.path.expanduser for a given environment: HOME, else `home` (the passwd entry), else unchanged.

    Like posixpath.expanduser: HOME="" gives "/", and without HOME and passwd entry "~" stays, so the
    path becomes relative to the working directory. `~name` is looked up in `user_homes`.
    """
    if not path.startswith("~"):
        return path
    if _is_windows(platform):
        return _expand_user_nt(path, environ)
    end = path.find("/", 1)
    if end < 0:
        end = len(path)
    if end == 1:
        userhome = environ["HOME"] if "HOME" in environ else home
    else:
        userhome = (user_homes or {}).get(path[1:end])
    if userhome is None:
        return path
    userhome = userhome.rstrip("/")
    return (userhome + path[end:]) or "/"


def _expand_user_nt(path: str, environ: Mapping[str, str]) -> str:
    # ntpath.expanduser (Python >= 3.8 ignores HOME on Windows)
    end = 1
    while end < len(path) and path[end] not in "/\\":
        end += 1
    if "USERPROFILE" in environ:
        userhome = environ["USERPROFILE"]
    elif "HOMEPATH" not in environ:
        return path
    else:
        userhome = ntpath.join(environ.get("HOMEDRIVE", ""), environ["HOMEPATH"])
    if end != 1:
        target = path[1:end]
        current = environ.get("USERNAME")
        if target != current:
            if current != ntpath.basename(userhome):
                return path
            userhome = ntpath.join(ntpath.dirname(userhome), target)
    return userhome + path[end:]


class _Context:
    """The facts every rule below needs: platform, environment, passwd facts and the pip version's rules."""

    def __init__(self, environ: Mapping[str, str], platform: str, home: Optional[str],
                 user_homes: Optional[Mapping[str, str]], rules: _Rules) -> None:
        self.environ = _platform_environ(environ, platform)
        self.platform = platform
        self.home = home
        self.user_homes = user_homes
        self.rules = rules
        self.path = _pathmod(platform)

    def expanduser(self, path: str) -> str:
        return _expanduser(path, self.environ, platform=self.platform, home=self.home,
                           user_homes=self.user_homes)

    def platformdirs_home(self, tilde_path: str, what: str) -> str:
        """platformdirs' own expansion of its "~/..." defaults, which pip 26.3 made stricter."""
        if self.rules.xdg != "absolute":
            return self.expanduser(tilde_path)
        # platformdirs 4.12 _xdg.py _expand_user: an empty HOME counts as unset, and no home is an error.
        if self.environ.get("HOME", None) == "" and not _is_windows(self.platform):
            expanded = tilde_path if self.home is None else (self.home.rstrip("/") + tilde_path[1:] or "/")
        else:
            expanded = self.expanduser(tilde_path)
        if expanded.startswith("~"):
            # "HOME" alone: there is no home at all (HOME unset or empty, no passwd entry); else HOME is set to
            # a value that is itself a "~" path (HOME=~), which expanduser cannot expand either.
            home = self.environ.get("HOME") or ""
            raise PipInputError(
                f"could not determine the home directory for {tilde_path!r}, set HOME or an absolute XDG "
                f"variable (pip needs it for {what})",
                f"HOME={home}" if home else "HOME",
            )
        return expanded

    def xdg_home(self, name: str) -> Optional[str]:
        """The XDG_*_HOME value pip's platformdirs uses, or None for "fall back to the default"."""
        value = self.environ.get(name)
        if self.rules.xdg == "appdirs":
            return value  # appdirs.py: os.getenv(name, default): set at all, even empty, counts
        value = value or ""
        if self.rules.xdg == "platformdirs":
            return value if value.strip() else None  # unix.py: `if not path.strip():` default; else as is
        value = value.strip()
        if self.rules.xdg == "stripped":
            return value or None
        return value if posixpath.isabs(value) else None

    def xdg_dirs(self, name: str) -> Optional[list]:
        """The dirs of XDG_CONFIG_DIRS / XDG_DATA_DIRS with "pip" appended, or None for "use the default"."""
        value = self.environ.get(name)
        if self.rules.xdg == "appdirs":
            # appdirs.py site_config_dir: os.getenv(...) or '/etc/xdg'; empty entries dropped, rstrip(os.sep)
            dirs = [self.expanduser(d.rstrip("/")) for d in (value or "").split(":") if d]
            if not value:
                return None
        elif self.rules.xdg == "platformdirs":
            if not (value or "").strip():  # unix.py: `if not path.strip(): path = "/etc/xdg"`
                return None
            dirs = value.split(":")
            if self.rules.xdg_dirs_expanduser:
                dirs = [self.expanduser(d) for d in dirs]
        elif self.rules.xdg == "stripped":
            stripped = (value or "").strip()
            if not stripped:
                return None
            dirs = [d for d in stripped.split(":") if d.strip()]
        else:  # _xdg.py _xdg_dir_list: stripped entries, absolute ones only
            dirs = [d.strip() for d in (value or "").split(":") if posixpath.isabs(d.strip())]
            if not dirs:
                return None
        return [posixpath.join(d, "pip") for d in dirs]


# --- the default cache dir -------------------------------------------------------------------------------


def _default_cache_dir(ctx: _Context) -> Tuple[str, str]:
    """locations/base.py USER_CACHE_DIR = appdirs.user_cache_dir("pip"), and which variable decided it."""
    if _is_windows(ctx.platform):
        # platformdirs windows.py user_cache_dir: CSIDL_LOCAL_APPDATA\pip\Cache (appauthor=False, opinion).
        # Windows asks the shell for that folder; %LOCALAPPDATA% is how a process sees the same folder.
        local = ctx.environ.get("LOCALAPPDATA") or ntpath.join(ctx.expanduser("~"), "AppData", "Local")
        return ntpath.join(ntpath.normpath(local), "pip", "Cache"), PLATFORM_DEFAULT
    if ctx.platform != "darwin" or ctx.rules.macos_xdg:
        xdg = ctx.xdg_home("XDG_CACHE_HOME")
        if xdg is not None:
            return posixpath.join(xdg, "pip"), XDG_CACHE_HOME
    if ctx.platform == "darwin":
        return posixpath.join(ctx.platformdirs_home("~/Library/Caches", "its cache"), "pip"), PLATFORM_DEFAULT
    return posixpath.join(ctx.platformdirs_home("~/.cache", "its cache"), "pip"), PLATFORM_DEFAULT


# --- config files ----------------------------------------------------------------------------------------


def _macos_user_data_dir(ctx: _Context) -> str:
    """platformdirs user_data_dir("pip") on macOS, where pip looks first for its user config."""
    if ctx.rules.macos_xdg:
        xdg = ctx.xdg_home("XDG_DATA_HOME")
        if xdg is not None:
            return posixpath.join(xdg, "pip")
    return posixpath.join(ctx.platformdirs_home("~/Library/Application Support", "its config"), "pip")


def _config_file_paths(ctx: _Context, site_prefix: Optional[str], existing_dirs: Collection[str]) -> list:
    """configuration.py get_configuration_files + iter_config_files: (kind, path), lowest precedence first."""
    env = ctx.environ
    windows = _is_windows(ctx.platform)
    join = ctx.path.join
    basename = "pip.ini" if windows else "pip.conf"  # configuration.py CONFIG_BASENAME

    # utils/appdirs.py site_config_dirs
    if windows:
        program_data = env.get("PROGRAMDATA") or env.get("ALLUSERSPROFILE") or "C:\\ProgramData"
        global_dirs = [ntpath.join(ntpath.normpath(program_data), "pip")]
    elif ctx.platform == "darwin":
        # site_data_dir; pip >= 24.1 also lists Homebrew's <prefix>/share/pip first: not modelled here
        xdg_dirs = ctx.xdg_dirs("XDG_DATA_DIRS") if ctx.rules.macos_xdg else None
        global_dirs = xdg_dirs or ["/Library/Application Support/pip"]
    else:
        # "Unix-y system. Look in /etc as well."
        global_dirs = (ctx.xdg_dirs("XDG_CONFIG_DIRS") or ["/etc/xdg/pip"]) + ["/etc"]

    # legacy ~/.pip/pip.conf uses plain os.path.expanduser("~"), even where platformdirs is stricter
    legacy = join(ctx.expanduser("~"), "pip" if windows else ".pip", basename)
    # utils/appdirs.py user_config_dir
    if windows:
        user_dir = ntpath.join(ntpath.normpath(env.get("APPDATA") or ntpath.join(
            ctx.expanduser("~"), "AppData", "Roaming")), "pip")
    elif ctx.platform == "darwin":
        user_dir = _macos_user_data_dir(ctx)
        if user_dir not in existing_dirs:  # _macos_user_config_dir: "if os.path.isdir(path)", else ~/.config
            user_dir = posixpath.join(ctx.expanduser("~/.config/"), "pip")
    else:
        xdg = ctx.xdg_home("XDG_CONFIG_HOME")
        if xdg is None:
            xdg = ctx.platformdirs_home("~/.config", "its config")
        user_dir = posixpath.join(xdg, "pip")

    files = [("global", join(d, basename)) for d in global_dirs]
    files += [("user", legacy), ("user", join(user_dir, basename))]  # "legacy ... overridden by the new"
    if site_prefix is not None:
        files.append(("site", join(site_prefix, basename)))  # os.path.join(sys.prefix, CONFIG_BASENAME)
    if "PIP_CONFIG_FILE" in env:
        files.append(("env", env["PIP_CONFIG_FILE"]))  # OVERRIDE_ORDER: GLOBAL, USER, SITE, ENV, ENV_VAR
    return files


def candidate_config_files(
    environ: Mapping[str, str],
    *,
    platform: str = sys.platform,
    home: Optional[str] = None,
    site_prefix: Optional[str] = None,
    pip_version: Union[str, Sequence[int], None] = None,
    existing_dirs: Collection[str] = (),
    user_homes: Optional[Mapping[str, str]] = None,
) -> list:
    """Every config file pip may read, as (kind, path), lowest precedence first; whether each exists is I/O.

    `existing_dirs` matters only on macOS, where pip reads ~/Library/Application Support/pip/pip.conf only
    if that directory exists (utils/appdirs.py _macos_user_config_dir).
    """
    ctx = _Context(environ, platform, home, user_homes, _rules_for(pip_version))
    return _config_file_paths(ctx, site_prefix, existing_dirs)


def macos_user_data_dir(
    environ: Mapping[str, str],
    *,
    home: Optional[str] = None,
    pip_version: Union[str, Sequence[int], None] = None,
) -> str:
    """The directory whose existence decides where pip looks for the user config on macOS."""
    return _macos_user_data_dir(_Context(environ, "darwin", home, None, _rules_for(pip_version)))


@record
class _Setting:
    section: str  # "global", a command name, or ":env:"
    key: str  # normalized like configuration.py _normalize_name: "cache-dir", "no-cache-dir"
    value: str
    source: str  # for CacheLocation.source


def _normalize_name(name: str) -> str:
    """configuration.py _normalize_name: how a file's or PIP_*'s name becomes an option name."""
    name = name.lower().replace("_", "-")
    return name[2:] if name.startswith("--") else name


def _parse_config(path: str, data: bytes, encoding: Optional[str], rules: _Rules) -> list:
    """configuration.py _construct_parser + _load_file: one file's settings, or pip's load error."""
    import configparser  # only when a config file exists (its import and regexes: ~1.5 ms of a check)

    if encoding is None:
        import locale

        encoding = locale.getpreferredencoding(False)  # configuration.py _construct_parser
    parser = configparser.RawConfigParser()
    if rules.normalized_option_names:
        parser.optionxform = _normalize_name  # as configparser's docs override it, on the instance
    try:
        # parser.read(fname, encoding=locale_encoding): universal newlines, strict decoding
        parser.read_file(io.TextIOWrapper(io.BytesIO(data), encoding=encoding), source=path)
    except UnicodeDecodeError:
        raise PipInputError(f"Configuration file contains invalid {encoding} characters in {path}.",
                            f"config file {path}") from None
    except configparser.Error as error:
        raise PipInputError(f"Configuration file could not be loaded: {_parse_problem(error)} in {path}.",
                            f"config file {path}") from None
    defaults = parser.defaults()
    settings = []
    for section in parser.sections():  # parser.items(section) includes [DEFAULT]'s keys
        for name, value in parser.items(section):
            key = _normalize_name(name)
            # the name as the file spells it (lower-cased; pip 26.3 normalizes it) and the section holding it
            written_in = "DEFAULT" if defaults.get(name) == value else section
            settings.append(_Setting(section, key, value, f"config file {path} [{written_in}] {name}"))
    return settings


def _parse_problem(error) -> str:
    """configparser's error as a line number and a reason: its own messages quote the offending line, and
    the file may be one its reader was never meant to show (a secret, another user's file)."""
    import configparser

    lineno = getattr(error, "lineno", None)
    if isinstance(error, configparser.MissingSectionHeaderError):
        reason = "no [section] header before the first setting"
    elif isinstance(error, configparser.ParsingError):
        lineno = error.errors[0][0] if error.errors else None
        more = len(error.errors) - 1
        reason = "not a [section] header or a `name = value` setting" + (f" (and {more} more lines)" if more else "")
    elif isinstance(error, configparser.DuplicateSectionError):
        reason = "a section that was already given"
    elif isinstance(error, configparser.DuplicateOptionError):
        reason = "a setting given twice in one section"
    else:
        reason = "not an INI file"
    return f"line {lineno}: {reason}" if lineno is not None else reason


def _environ_settings(environ: Mapping[str, str]) -> list:
    """configuration.py get_environ_vars: PIP_<NAME> for every option, in the environment's order
    (ENV_NAMES_IGNORED: PIP_VERSION and PIP_HELP are not options)."""
    settings = []
    for name, value in environ.items():
        if name.startswith("PIP_") and name[4:].lower() not in ("version", "help"):
            settings.append(_Setting(":env:", _normalize_name(name[4:]), value, name))
    return settings


def _files_read(files: Sequence[ConfigFile], isolated: bool, devnull: str) -> list:
    """configuration.py _load_config_files: the files one parser loads, in OVERRIDE_ORDER."""
    env_files = [f for f in files if f.kind == "env"]
    if env_files and env_files[0].path == devnull:
        return []  # "Skipping loading configuration files due to ... PIP_CONFIG_FILE being os.devnull"
    env_file_exists = bool(env_files and env_files[0].path and env_files[0].data is not None)
    load_user = not isolated and not env_file_exists  # iter_config_files: should_load_user_config
    return [f for f in files if f.kind != "user" or load_user]


def _ordered_settings(
    parsed: Sequence[Tuple[ConfigFile, list]], env_settings: list, section: Optional[str], rules: _Rules
) -> list:
    """cli/parser.py _get_ordered_configuration_items: [global], [<command>], PIP_*; no empty values."""
    order = ["global"] + ([section] if section and section != "global" else []) + [":env:"]
    by_path: dict = {}
    for config, settings in parsed:
        by_path[config.path] = settings  # read twice (PIP_CONFIG_FILE=/etc/pip.conf): keeps its first place
    if rules.files_by_path:
        # pip 25.2 configuration.py _dictionary: retval.update(self._config[variant]) over dicts keyed by file
        # name, and the PIP_* variables are kept under the name ":env:" (_load_environment_vars): a config
        # file named ":env:" (PIP_CONFIG_FILE=:env:, relative) is replaced by the variables, so it counts
        # for nothing, although it exists (and so the user's files are skipped).
        by_path.pop(":env:", None)
    files = list(by_path.values()) if rules.files_by_path else [settings for _, settings in parsed]
    if rules.per_file_items:
        # pip 25.2 configuration.py keeps values per file, and every file's non-empty value is applied in
        # turn: an empty value no longer hides a lower file's value, and each no-cache-dir is checked. Within
        # one file (and among the PIP_* variables) _normalized_keys fills one dict, so of two spellings of a
        # key (cache-dir, cache_dir; PIP_CACHE_DIR, PIP_cache_dir) the last one wins, before empty values go
        # (cli/parser.py _get_ordered_configuration_items: "ignore empty values").
        items = [s for settings in [*files, env_settings] for s in _last_spelling(settings) if s.value]
    else:
        # configuration.py _dictionary merges the files key by key (later wins) before empty values are
        # dropped: an empty value in a higher file hides a lower file's value.
        merged: dict = {}
        for settings in [*files, env_settings]:
            for setting in settings:
                merged[(setting.section, setting.key)] = setting
        items = [s for s in merged.values() if s.value]
    return [s for name in order for s in items if s.section == name]


def _python_option(settings: Sequence[_Setting], general_args: Sequence[Tuple[str, Optional[str]]], ctx: _Context):
    """cli/main_parser.py parse_command (pip >= 22.3): the main parser's --python, from [global] python,
    PIP_PYTHON (later wins) and the options before the command; pip re-runs itself under that interpreter
    unless _PIP_RUNNING_IN_SUBPROCESS is set (as in the pip it runs). (value, source) or None."""
    if ctx.rules.version < (22, 3) or "_PIP_RUNNING_IN_SUBPROCESS" in ctx.environ:
        return None
    found = None
    for setting in settings:
        if setting.key == "python":
            found = (setting.value, setting.source)
    for name, value in general_args:
        if name == CLI_PYTHON:
            found = (value, CLI_PYTHON)
    return found if found and found[0] else None  # `if general_options.python`: "" is no interpreter


def _last_spelling(settings: Sequence[_Setting]) -> list:
    """One file's settings as a dict keyed by section and key would hold them: the first place, the last value."""
    kept: dict = {}
    for setting in settings:
        kept[(setting.section, setting.key)] = setting
    return list(kept.values())


def _strtobool(value: str, show: bool) -> None:
    # utils/misc.py strtobool, whose ValueError message pip prints (with the value only when `show`: a
    # variable's value is the caller's own, a file's is not repeated)
    if value.lower() not in ("y", "yes", "t", "true", "on", "1", "n", "no", "f", "false", "off", "0"):
        raise ValueError(f"invalid truth value {value!r}" if show else "invalid truth value")


def _apply_settings(settings: Sequence[_Setting], ctx: _Context, default: Tuple[str, str], command: Optional[str]):
    """cli/parser.py _update_defaults + get_default_values: the cache_dir default after config and env,
    for the parser of `command` (None: the main parser). A value another option of that parser cannot
    take stops pip (exit status 2 or 3) before any cache is used: PipInputError, as pip would meet it.

    Returns (value, source, written): value False means the cache is off, else the path (expanduser'd like
    pip); written is the value as given of the no-cache-dir setting that turned it off (else None).
    """
    value, source = ctx.expanduser(default[0]), default[1]  # get_default_values: check_value -> expanduser
    disabled_by = None
    for setting in settings:
        if setting.key == "cache-dir":
            # check_default -> _path_option_check expands "~" once, get_default_values once more
            value, source = ctx.expanduser(ctx.expanduser(setting.value)), setting.source
        elif setting.key != "no-cache-dir":
            problem = value_problem(setting.key, setting.value, command, ctx.rules.version,
                                    show=setting.section == ":env:")
            if problem is not None:
                raise PipInputError(problem, setting.source)
        else:
            try:
                _strtobool(setting.value, show=setting.section == ":env:")  # cmdoptions.py _handle_no_cache_dir
            except ValueError as error:
                raise PipInputError(f"--no-cache-dir error: {error}", setting.source) from None
            disabled_by = setting
    if disabled_by is not None:
        # _handle_no_cache_dir sets parser.values.cache_dir = False, and _update_defaults applies such
        # callbacks last ("late_eval"): any valid no-cache-dir, even "false", beats every cache-dir.
        return False, disabled_by.source, disabled_by.value
    return value, source, None


# --- the command line ------------------------------------------------------------------------------------


def _match_long(opt: str) -> Optional[str]:
    """optparse _match_abbrev over the general options: the exact name, or the only one it abbreviates."""
    for name, length in _SHORTEST_PREFIX.items():
        if len(opt) >= length and name.startswith(opt):
            return name
    if opt in _GENERAL_OPTIONS:
        return opt
    matches = [name for name in _GENERAL_OPTIONS if name.startswith(opt)]
    return matches[0] if len(matches) == 1 else None


def _cli_settings(args: Sequence[str], stop_at_positional: bool) -> Tuple[list, int]:
    """optparse's walk over args: the cache options (and --python) given, in order, and where parsing stopped.

    Options that are not general options are taken as flags: only a value spelled like a cache option
    could be misread that way (`-r --cache-dir`), and pip would reject most such lines anyway.
    """
    settings = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return settings, index + 1
        if arg.startswith("--"):
            opt, has_value, explicit = arg.partition("=")
            name = _match_long(opt)
            if name in _GENERAL_VALUE_OPTIONS:
                if has_value:
                    value = explicit
                elif index + 1 < len(args):
                    index += 1
                    value = args[index]
                elif name == CLI_CACHE_DIR:
                    raise PipInputError(f"{name} option requires 1 argument", name)
                else:
                    return settings, index + 1
                if name in (CLI_CACHE_DIR, CLI_PYTHON):
                    settings.append((name, value))
            elif name == CLI_NO_CACHE_DIR:
                if has_value:
                    raise PipInputError(f"{name} option does not take a value", name)
                settings.append((CLI_NO_CACHE_DIR, None))
        elif not arg.startswith("-") or arg == "-":
            if stop_at_positional:  # main parser: disable_interspersed_args()
                return settings, index
        index += 1
    return settings, index


def _split_command(pip_args: Sequence[str]) -> Tuple[Optional[str], list, list]:
    """cli/main_parser.py parse_command: the command name, its args (the general options included), and the
    options the main parser took (those before the command)."""
    general, stop = _cli_settings(pip_args, stop_at_positional=True)
    rest = list(pip_args[stop:])
    if not rest:
        return None, list(pip_args), general
    command = rest[0]
    cmd_args = list(pip_args)
    cmd_args.remove(command)  # the first equal argument, as pip does: cmd_args.remove(cmd_name)
    return command, cmd_args, general


# --- putting it together ---------------------------------------------------------------------------------


def _decide(
    pip_args: Sequence[str],
    environ: Mapping[str, str],
    files: Sequence[ConfigFile],
    *,
    platform: str,
    cwd: Optional[str],  # None: the current directory was deleted
    home: Optional[str],
    pip_version: Union[str, Sequence[int], None],
    encoding: Optional[str],  # None: the locale's, looked up only when a file is parsed
    user_homes: Optional[Mapping[str, str]],
) -> Tuple[CacheLocation, Optional[str]]:
    """decide_cache_location, plus the path before normalization (for realpath, which needs the disk)."""
    rules = _rules_for(pip_version)
    ctx = _Context(environ, platform, home, user_homes, rules)
    devnull = "nul" if _is_windows(platform) else "/dev/null"  # os.devnull
    default = _default_cache_dir(ctx)  # computed when pip imports locations, before anything else

    # First pass, cli/main_parser.py create_main_parser: name "global", never isolated. It loads every
    # file and PIP_* variable, so their errors stop pip even with --isolated.
    main_files = _files_read(files, isolated=False, devnull=devnull)
    parsed = {id(f): _parse_config(f.path, f.data, encoding, rules) for f in main_files if f.data is not None}
    env_settings = _environ_settings(ctx.environ)

    def settings_of(chosen):
        return [(f, parsed[id(f)]) for f in chosen if f.data is not None]

    main_settings = _ordered_settings(settings_of(main_files), env_settings, None, rules)
    _apply_settings(main_settings, ctx, default, None)
    unusable = tuple((f.path, f.problem) for f in main_files if f.problem is not None)
    command, cmd_args, general = _split_command(pip_args)
    python = _python_option(main_settings, general, ctx)

    # Second pass, the command's parser: cli/main.py create_command(isolated=("--isolated" in cmd_args)).
    isolated = "--isolated" in cmd_args
    cmd_files = _files_read(files, isolated=isolated, devnull=devnull)
    settings = _ordered_settings(settings_of(cmd_files), [] if isolated else env_settings, command, rules)
    value, source, written = _apply_settings(settings, ctx, default, command)
    cli, _ = _cli_settings(cmd_args, stop_at_positional=False)
    late = _python_option(settings, cli, ctx) if python is None and command is not None else None
    if late is not None:
        # cli/base_command.py _main (pip >= 22.3): a --python only the command's parser sees ([<command>]
        # python =, or the option after the command name) ends pip with exit status 1
        raise PipInputError("The --python option must be placed before the pip subcommand name", late[1])
    for name, given in cli:
        if name == CLI_PYTHON:
            continue
        # optparse: later options win; --cache-dir's type "path" expands "~" (_path_option_check)
        value, source, written = (ctx.expanduser(given) if name == CLI_CACHE_DIR else False), name, None
    existing = tuple(f.path for f in cmd_files if f.data is not None)

    if not value:  # base_command.py: `if options.cache_dir:` (False, or an empty --cache-dir "")
        return CacheLocation(None, True, source, existing, None, written, unusable, python), None
    value = ctx.expanduser(value)
    if "\0" in value:  # normalize_path -> os.path.realpath: "ValueError: embedded null byte", a traceback
        raise PipInputError("the cache dir holds a NUL byte (ValueError: embedded null byte)", source)
    if cwd is None and not ctx.path.isabs(value):  # os.path.abspath -> os.getcwd(): FileNotFoundError
        raise PipInputError("the cache dir is a relative path and the current directory no longer exists, "
                            "so it names no directory", source)
    # base_command.py: normalize_path(cache_dir): expanduser, realpath (abspath here), normcase
    raw = ctx.path.join(cwd or "", value)
    path = ctx.path.normcase(ctx.path.normpath(raw))
    return CacheLocation(path, False, source, existing, path, None, unusable, python), raw


def decide_cache_location(
    pip_args: Sequence[str],
    environ: Mapping[str, str],
    config_files: Sequence[ConfigFile],
    *,
    platform: str = sys.platform,
    cwd: Optional[str],
    home: Optional[str] = None,
    pip_version: Union[str, Sequence[int], None] = None,
    encoding: str = "utf-8",
    user_homes: Optional[Mapping[str, str]] = None,
) -> CacheLocation:
    """The pure part: pip's argv, environment and config files (as read) -> where the cache is.

    `config_files` is candidate_config_files()'s list with each file's bytes (None where missing).
    `cwd` None: the current directory was deleted (a relative cache dir then names nothing).
    `home` is the passwd entry's home, which expanduser uses when HOME is unset (None: no entry).
    Symlinks are not resolved (pip's realpath needs the disk; resolve_cache_location does it).
    Raises PipInputError where pip itself would exit with an error.
    """
    location, _ = _decide(pip_args, environ, config_files, platform=platform, cwd=cwd, home=home,
                          pip_version=pip_version, encoding=encoding, user_homes=user_homes)
    return location


# --- I/O ---------------------------------------------------------------------------------------------------


class _PasswdHomes(Mapping):
    """name -> home dir from the passwd database, looked up only when a path says ~name."""

    def __getitem__(self, name: str) -> str:
        import pwd

        try:
            return pwd.getpwnam(name).pw_dir
        except ValueError:  # "embedded null character": no such user, as for expanduser
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        import pwd

        return iter([entry.pw_name for entry in pwd.getpwall()])

    def __len__(self) -> int:
        import pwd

        return len(pwd.getpwall())


def identify_python_interpreter(python: str) -> Optional[str]:
    """cli/main_parser.py identify_python_interpreter (pip 22.3 to 26.3): an existing file as it is, a directory
    as a virtual environment (bin/python, Scripts/python.exe), else None. Existence is looked up with this
    process's rights (root's for another account), like pip's os.path.exists; nothing is opened."""
    if os.path.exists(python):
        if not os.path.isdir(python):
            return python
        for exe in ("bin/python", "Scripts/python.exe"):
            if os.path.exists(os.path.join(python, exe)):
                return os.path.join(python, exe)
    return None


def interpreter_prefix(python: str) -> str:
    """The sys.prefix an interpreter will have, without running it (site.py venv): the dir holding
    pyvenv.cfg next to the executable or one above it, else two levels above the resolved executable."""
    here = os.path.dirname(os.path.abspath(python))
    for candidate in (here, os.path.dirname(here)):
        if os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            return candidate
    return os.path.dirname(os.path.dirname(os.path.realpath(python)))


def resolve_cache_location(
    pip_args: Sequence[str],
    environ: Mapping[str, str],
    *,
    platform: str = sys.platform,
    cwd: Optional[str] = None,
    home: Optional[str] = None,
    uid: Optional[int] = None,
    site_prefix: Optional[str] = None,
    pip_version: Union[str, Sequence[int], None] = None,
    read_files: Optional[Callable[[Sequence[str]], Sequence]] = None,
    encoding: Optional[str] = None,
) -> CacheLocation:
    """Where pip's cache is for `pip <pip_args>` run in `environ` and `cwd`, and which source decided.

    pip_args are pip's own argv, e.g. ["install", "--cache-dir", "/x", "pkg"]; without a command only
    [global] applies. site_prefix is sys.prefix of the Python that runs pip (default: this one's), for
    its pip.conf. pip_version selects that pip's rules (default: the newest known). home is what
    expanduser falls back to without HOME: by default the passwd entry of `uid` (default: this process's
    user), None if it has none. Raises PipInputError where pip itself would exit with an error.
    read_files reads the config files, all in one call (userfiles.read_files: with this process's rights;
    root passes a reader that reads with the user's). cwd None: this process's current directory.
    Not decided here: pip turns the cache off when the dir is not the user's to write (pip_keeps_cache's job).
    """
    from pipdoctor.userfiles import read_files as read_own

    read_files = read_own if read_files is None else read_files
    cwd = current_dir() if cwd is None else cwd
    on_this_os = platform == sys.platform
    if home is None and on_this_os and not _is_windows(platform):
        home = passwd_home(uid)
    user_homes = _PasswdHomes() if on_this_os and not _is_windows(platform) else None
    site_prefix = sys.prefix if site_prefix is None else site_prefix
    existing_dirs = set()
    if platform == "darwin" and on_this_os:
        probe = macos_user_data_dir(environ, home=home, pip_version=pip_version)
        if os.path.isdir(os.path.join(cwd or "", probe)):
            existing_dirs.add(probe)
    def decide_with(environ: Mapping[str, str], site_prefix: str):
        candidates = candidate_config_files(environ, platform=platform, home=home, site_prefix=site_prefix,
                                            pip_version=pip_version, existing_dirs=existing_dirs,
                                            user_homes=user_homes)
        devnull = "nul" if _is_windows(platform) else "/dev/null"
        skip_all = any(kind == "env" and path == devnull for kind, path in candidates)
        # pip checks os.path.exists(fname) relative to its working directory ("" never exists; in a deleted
        # directory a relative name exists nowhere, as the reader finds); all in one read, one child for root
        wanted = [os.path.join(cwd or "", path) for _, path in candidates if path and not skip_all]
        read = iter(read_files(wanted))
        files = []
        for kind, path in candidates:
            found = next(read) if path and not skip_all else None
            files.append(ConfigFile(kind, path, found.data if found else None, found.problem if found else None))
        return _decide(pip_args, environ, files, platform=platform, cwd=cwd, home=home,
                       pip_version=pip_version, encoding=encoding, user_homes=user_homes)

    location, raw = decide_with(environ, site_prefix)
    if location.python is not None and on_this_os:
        # cli/main_parser.py parse_command: pip runs `<interpreter> <this pip>` with the same argv and
        # _PIP_RUNNING_IN_SUBPROCESS=1; that pip reads the config files again, the site one from the other
        # interpreter's sys.prefix (not this one's), and decides the cache there.
        value, source = location.python
        interpreter = identify_python_interpreter(os.path.join(cwd or "", value))
        if interpreter is None:  # a file's value is not repeated (as for every other setting of a file)
            shown = "named there" if source.startswith("config file ") else value
            raise PipInputError(f"Could not locate Python interpreter {shown}", source)
        location, raw = decide_with({**environ, "_PIP_RUNNING_IN_SUBPROCESS": "1"}, interpreter_prefix(interpreter))
    if raw is not None and on_this_os:
        # utils/misc.py normalize_path: os.path.realpath, so a symlinked cache is reported as its target
        location = location._replace(path=os.path.normcase(os.path.realpath(raw)))
    return location
