"""What every installer has in common, as plain records: where its cache is for one invocation (CacheLocation),
and what differs between installers that the shared code (check, fix, the report) reads (Installer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Sequence, Tuple, Union

from pipdoctor.records import record

if TYPE_CHECKING:
    from pipdoctor.host.accounts import Account
    from pipdoctor.host.dirs import DirFacts


@record
class CacheLocation:
    """Where an installer keeps its cache for one invocation, as the installer itself would decide it."""

    path: Optional[str]  # absolute cache dir the installer will use (None when the cache is off)
    # the user turned the cache off (pip: --no-cache-dir, PIP_NO_CACHE_DIR, no-cache-dir in a config file)
    disabled: bool
    # which source decided: "--cache-dir", "PIP_CACHE_DIR", "config file F [global] cache-dir", ...
    source: str
    # the config files the installer reads for this command that exist, lowest precedence first
    config_files: Tuple[str, ...]
    # `path` before symlinks are resolved: absolute and normalized, as configured (None when the cache is off)
    configured: Optional[str] = None
    # the value as written of the no-cache-dir setting (file or PIP_NO_CACHE_DIR) that turned the cache off
    setting_value: Optional[str] = None
    # ((path, why), ...): config files the installer would read that pipdoctor did not (not regular files,
    # too large); the location is decided without them
    unusable: Tuple[Tuple[str, str], ...] = ()
    # (value, source) of --python / PIP_PYTHON / python = (pip >= 22.3): pip runs itself again under that
    # interpreter, whose sys.prefix holds the site config; resolve_cache_location follows it (None: no such)
    python: Optional[Tuple[str, str]] = None


@record
class Installer:
    """What the shared code needs to know of one installer (pip, uv): how users name it and its cache
    settings, the names it writes in its cache, and its root rule. One value per installer, defined in its
    own folder (installers/pip/__init__.py: PIP)."""

    name: str  # the command users type, and how messages name the cache's owner: "pip", "uv"
    cache_env: str  # the environment variable that sets the cache dir: "PIP_CACHE_DIR"
    cache_dir_option: str  # the option that sets it for one run: "--cache-dir"
    no_cache_option: str  # the option that runs without a cache: "--no-cache-dir"
    no_cache_env: str  # the environment variable that does the same: "PIP_NO_CACHE_DIR"
    writes: Tuple[str, ...]  # the top-level directories it writes in its cache
    always_written: Tuple[str, ...]  # of those, the ones every run writes (checked even before they exist)
    # The sources of a default cache location (CacheLocation.source), which a cache dir in the user's own
    # config outranks: only then does writing one there take effect.
    default_sources: Tuple[str, ...]
    # The user's command when only a log is known (explain): "pip install ...".
    example_args: Tuple[str, ...]
    # Its root rule: whether it uses this cache root at all (pip's check_path_owner); None when it has none
    # and uses whatever cache it is given (uv).
    keeps_cache: Optional[Callable[["DirFacts", "Account"], bool]] = None
    # What it does with a cache it cannot write: run on without it (pip: a warning, or silently) or stop
    # with an error (uv), so that a foreign entry costs speed or the whole command.
    falls_back: bool = True
    # Its own command (after its name) that empties its whole cache: check's cure of a full disk or a large cache.
    clear_cache: Tuple[str, ...] = ("cache", "purge")
    # What the account meets of its lock files outside the cache (uv: $TMPDIR/uv-*.lock), for the check's PD303;
    # None when it keeps none there (pip).
    temp_locks: Optional[Callable[["Account"], object]] = None
    # Its own command (after its name) that writes a cache dir, appended, into the user's config, and the one
    # that takes it out again (`fix --persist`; its undo); None when there is no such command.
    config_set_cache_dir: Optional[Tuple[str, ...]] = None
    config_unset_cache_dir: Optional[Tuple[str, ...]] = None
    # Whether a name at the top of a cache dir is one it makes (pip's subdirs, uv's buckets and markers): the
    # fix's "does this look like its cache" before it acts on one (remediation.cache_names_problem).
    makes_top_level: Callable[[str], bool] = lambda name: False
    # What running without a cache still needs, said with that cure ("" when nothing).
    no_cache_needs: str = ""
    # Cache options added to the user's command go before it (uv's are global: after `uv run script` they would
    # be the script's), else after it (pip's options follow its command).
    options_first: bool = False

    def uses_cache(self, root: "DirFacts", account: "Account") -> bool:
        """The installer's own verdict on the cache root: its root rule, or always for one that has none."""
        return self.keeps_cache is None or self.keeps_cache(root, account)


def release_of(version: Union[str, Sequence[int], None], newest: Tuple[int, ...]) -> Tuple[int, ...]:
    """An installer's version as the release numbers its rules are chosen by: "0.9.30" or (0, 9, 30) ->
    (0, 9, 30); None, or a version PEP 440 cannot read: `newest`, the newest whose rules are known. A
    pre-release already carries its release's code, so only the release numbers count (packaging.version)."""
    if version is None:
        return newest
    if not isinstance(version, str):
        return tuple(version)
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version).release
    except InvalidVersion:
        return newest

