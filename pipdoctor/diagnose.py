"""Glue for a live pip run: the log's findings, backed by facts read from this machine, with their fixes."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from pipdoctor.errors import UsageError
from pipdoctor.findings import Finding
from pipdoctor.records import record

if TYPE_CHECKING:
    from pipdoctor.installers.base import Installer
    from pipdoctor.logtext import Log

# The log side (classifier, rules) is imported by diagnose_run only: `pipdoctor check` never loads it,
# which keeps its start-up short (scripts/bench, section check).


@record
class RunDiagnosis:
    """A pip run's findings: the log's, root cause first, then the live check's that the log could not show
    (HTTP-cache owners, blockers chown cannot cure, HOME, sudo). Only the log can name the root cause: what
    the check alone finds may have nothing to do with why pip failed."""

    from_log: tuple
    check: Optional["AccountReport"] = None  # the live check, when it ran (install --fix plans from it)

    @property
    def findings(self) -> tuple:
        return self.from_log + self.from_check

    @property
    def from_check(self) -> tuple:
        """The live check's findings whose codes the log does not show."""
        if self.check is None:
            return ()
        seen = {f.code for f in self.from_log}
        return tuple(f for f in self.check.findings if f.code not in seen)

    @property
    def root_cause(self) -> Optional[Finding]:
        return self.from_log[0] if self.from_log else None


def diagnose_run(log: "Log", args: Sequence[str], environ: Mapping[str, str], *, failed: bool,
                 installer: "Installer") -> RunDiagnosis:
    """The log's findings with their fixes; when the installer failed or a rule fired, the live check's too.
    `installer` is whose run `args` are (pip's from its command on, uv's after `uv`)."""
    from pipdoctor.checker import reconcile
    from pipdoctor.classifier import classify
    from pipdoctor.findings import has_problem
    from pipdoctor.remediation import run_scope, suggest
    from pipdoctor.rules._common import cache_paths_named
    from pipdoctor.runfacts import collect_facts, pick_alternate_cache

    named = cache_paths_named(log)
    facts = collect_facts(installer, named, environ)
    facts = facts._replace(cache_dir=next(iter(named.values()), None),
                           alternate_cache=pick_alternate_cache(installer, facts.identity, environ))
    found = classify(log, facts)
    live = _live_check(installer, args, environ) if failed or has_problem(found) else None
    # The live check's walk tells the safety gate what a chown -R of the log's paths would reach.
    scope = run_scope(facts, live.facts if live is not None and live.cache_path == facts.cache_dir else None)
    # uv stops at the first foreign entry it meets: its cure gives back every one the check found.
    foreign = next((f for f in live.findings if f.code == "PD103"), None) if live is not None else None
    tops = tuple(foreign.facts.get("chown", ())) if foreign is not None and not installer.falls_back else ()
    from_log = tuple(suggest(f, facts, args, scope, tops) for f in found)
    return RunDiagnosis(reconcile(from_log, live.findings) if live is not None else from_log, live)


def _live_check(installer: "Installer", pip_args: Sequence[str], environ: Mapping[str, str]
                ) -> Optional["AccountReport"]:
    """`pipdoctor check` of the installer's cache for the user who ran it, with the run's own cache options
    (pip's after its command; uv reads its whole argv); after the run, a problem reading the machine must not
    hide the installer's diagnosis, so it costs only the extra findings."""
    from pipdoctor.host.accounts import self_account

    try:
        return check_account(installer, self_account(environ), live_check_args(installer, pip_args))
    except (OSError, UsageError):
        return None


def live_check_args(installer: "Installer", args: Sequence[str]) -> list:
    """What the check of a run's cache is given: pip's options after its command; uv's whole command line
    (where its cache is depends on the command and the options anywhere in it)."""
    return list(args[1:]) if installer.name == "pip" else list(args)


# --- pipdoctor check -----------------------------------------------------------------------------------


@record
class AccountReport:
    """One account's check of one installer's cache: who, where the cache is and which source decided, and the
    findings."""

    user: Optional[str]
    uid: int
    home: Optional[str]
    cache_path: Optional[str]
    cache_disabled: bool
    cache_source: str
    findings: tuple
    config_files: tuple = ()
    facts: object = None  # the CheckFacts judged (for `fix`)
    tool: str = "pip"  # whose cache: the installer's name

    @property
    def disabled_by(self) -> Optional[str]:
        """Why the installer will run without a cache, as the findings predict it, or None when it will use one:
        "pip-stops"/"uv-stops" (it stops before it looks at a cache: its configuration, or no HOME at all),
        "configuration" (--no-cache-dir, PIP_NO_CACHE_DIR, no-cache-dir in a config file), "ownership" (pip's own
        check_path_owner fails: PD102), "home-missing" (HOME does not exist: PD201)."""
        if self.cache_source.startswith("none:"):
            return f"{self.tool}-stops"
        if self.cache_disabled:
            return "configuration"
        codes = {f.code: f for f in self.findings}
        if "PD102" in codes:
            return "ownership"
        if "PD201" in codes and codes["PD201"].facts.get("home"):
            return "home-missing"
        return None


def _setting_value(location, environ: Mapping[str, str]) -> str:
    """The source that turned the cache off, with its value when it is an env var or a config-file line
    (the value as the one read of that file gave it: the file is never opened again)."""
    source = location.source
    if source in environ:
        return f"{source}={environ[source]}"
    if source.startswith("config file ") and " [" in source and location.setting_value is not None:
        path, _, rest = source[len("config file "):].rpartition(" [")
        section, _, name = rest.partition("] ")
        return f"{name} = {location.setting_value} in {path} [{section}]"
    return source


def _reader(account):
    """How the account's config files are read: in a child holding the uid, gid and groups of whoever controls
    them (userfiles): the account, when root checks another one; the user who started root when sudo kept that
    user's environment (HOME, XDG_*, PIP_CONFIG_FILE are then theirs: input, read with their rights, never
    root's); else with this process's own rights."""
    from pipdoctor.userfiles import read_files_as

    if not account.is_self:
        return lambda paths: read_files_as(account.uid, account.gid, account.groups, paths)
    invoker = _environment_owner(account)
    if invoker is None:
        return None
    return lambda paths: read_files_as(*invoker, paths)


def _environment_owner(account) -> Optional[tuple]:
    """(uid, gid, groups) of the user whose environment root runs with: sudo's invoking user (SUDO_UID), else the
    owner of HOME when that is not root; None when this process is not root or the environment is root's own.
    Dropping to any non-root uid can only read less than root would, so a forged SUDO_UID gains nothing."""
    import pwd

    if account.uid != 0:
        return None
    uid = None
    sudo_uid = account.environ.get("SUDO_UID", "")
    if sudo_uid.isascii() and sudo_uid.isdigit() and 0 < int(sudo_uid) < 2**32 - 1:
        uid = int(sudo_uid)
    elif account.environ.get("HOME"):
        try:
            owner = os.stat(account.environ["HOME"]).st_uid
        except (OSError, ValueError):
            owner = 0
        uid = owner or None
    if uid is None:
        return None
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return uid, uid, ()
    try:
        groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    except OSError:
        groups = (entry.pw_gid,)
    return uid, entry.pw_gid, groups


def check_account(installer: "Installer", account, args: Sequence[str], *, cwd: Optional[str] = None,
                  walk: bool = True, jobs: Optional[int] = None, progress=None) -> AccountReport:
    """Resolve the account's cache as the installer would (`args`: its cache options, as it spells them), read
    the facts, judge them, attach the fixes. Every finding carries the installer's name (Finding.tool).

    Raises AccountUnreadable when the account's config files could not be read at all; a config file or
    setting the installer cannot use is a finding (PD205), never an error of the whole check."""
    from pipdoctor.checker import check, order
    from pipdoctor.checkfacts import collect_check_facts
    from pipdoctor.remediation import suggest_check
    from pipdoctor.safety import unsafe_cache_root

    environ = account.environ
    if cwd is None and not account.is_self:
        cwd = account.passwd_home or "/"  # None for the user itself: its own current dir, if it still exists
    resolve = _resolve_uv if installer.name == "uv" else _resolve_pip
    location, own, version, pip_error = resolve(account, args, cwd)
    if location is None:
        path, disabled, config_files, configured = None, True, (), None
        source = (f"none: pip {version or ''} stops, HOME is unset" if pip_error else
                  f"none: {installer.name} stops on its configuration")
    else:
        path, disabled, source = location.path, location.disabled, location.source
        config_files, configured = tuple(location.config_files), location.configured
        if disabled:
            source = _setting_value(location, environ)
    if walk and path and unsafe_cache_root(path, (environ.get("HOME"), account.passwd_home)):
        walk = False  # /, a system dir or a HOME: fix refuses it, and a walk would read all of it (/: the machine)
    facts = collect_check_facts(installer, account, path, disabled, source, walk=walk, pip_version=version,
                                pip_error=pip_error, configured=configured, jobs=jobs, progress=progress)
    if facts.cache_configured:
        source = f"{source}, reached through a symlink: {facts.cache_configured}"
    findings = tuple(suggest_check(f, facts) for f in order([*own, *check(facts)]))
    home = facts.home.path
    return AccountReport(account.user, account.uid, home, facts.cache_path, facts.cache_disabled, source,
                         findings, config_files, facts, installer.name)


def _resolve_pip(account, pip_args: Sequence[str], cwd: Optional[str]) -> tuple:
    """(CacheLocation or None, PD205 findings, pip's version, pip's own complaint that it has no HOME) for
    `pip install <pip_args>`, as the account's pip would decide it (its config files read with its rights)."""
    from pipdoctor.configfindings import input_finding, unusable_findings
    from pipdoctor.installers.pip.discovery import installed_pip
    from pipdoctor.installers.pip.locations import PipInputError, resolve_cache_location
    from pipdoctor.userfiles import ReaderFailed

    environ = account.environ
    pip = installed_pip(environ)
    version = pip.version if pip is not None else None
    try:
        # `pip install` reads [global] and [install]: the cache a real install would use.
        location = resolve_cache_location(["install", *pip_args], environ, cwd=cwd, home=account.passwd_home,
                                          site_prefix=pip.prefix if pip is not None else None, pip_version=version,
                                          read_files=_reader(account))
    except ReaderFailed as error:
        raise AccountUnreadable(account.label, f"its pip config files could not be read: {error}") from None
    except PipInputError as error:
        if error.source == "HOME":
            # No HOME and no passwd entry: pip >= 26.3 stops before it looks at any cache (a finding, PD201).
            return None, [], version, error.message
        return None, [input_finding(error)], version, None
    return location, unusable_findings(location.unusable), version, None


def _resolve_uv(account, uv_args: Sequence[str], cwd: Optional[str]) -> tuple:
    """The same for `uv <uv_args>` (installers/uv/locations.py), by the rules of the uv the account would run.
    Its version is never asked of it (as root that would run the user's code): it is the name of the
    .dist-info pip installed it with (installers/uv/discovery.py); for a uv without one, the newest rules
    pipdoctor knows decide (uv_version=None), which differ from older uv's only at the edges (an empty HOME,
    the UV_WORKING_DIR variables, a uv.toml's pyproject-only fields)."""
    from pipdoctor.configfindings import input_finding, unusable_findings
    from pipdoctor.installers.uv.discovery import installed_uv, uv_version_of
    from pipdoctor.installers.uv.locations import UvInputError, resolve_uv_cache
    from pipdoctor.userfiles import ReaderFailed

    uv = installed_uv(account)
    try:
        location = resolve_uv_cache(list(uv_args), account.environ, cwd=cwd, uid=account.uid,
                                    read_files=_reader(account), uv_version=uv_version_of(uv) if uv else None)
    except ReaderFailed as error:
        raise AccountUnreadable(account.label, f"its uv config files could not be read: {error}") from None
    except UvInputError as error:
        return None, [input_finding(error, "uv")], None, None
    return location, unusable_findings(location.unusable, "uv"), None, None


class AccountUnreadable(UsageError):
    """An account's installer setup could not be read at all (its reader timed out or died): `check` reports the
    account so (PD206) and goes on with the others; `fix` stops."""

    def __init__(self, label: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"cannot check {label}: {reason}")


def _unchecked(account, reason: str, tool: str = "pip") -> AccountReport:
    from pipdoctor.configfindings import unreadable_finding

    return AccountReport(account.user, account.uid, account.passwd_home, None, False, "unknown: not checked",
                         (unreadable_finding(account.label, reason, tool),), tool=tool)


@record
class AccountCheck:
    """`pipdoctor check` of one account: one AccountReport per installer checked, pip's first."""

    caches: tuple

    @property
    def user(self) -> Optional[str]:
        return self.caches[0].user

    @property
    def uid(self) -> int:
        return self.caches[0].uid

    @property
    def findings(self) -> tuple:
        """Every installer's findings, pip's first (each names its installer: Finding.tool)."""
        return tuple(f for report in self.caches for f in report.findings)


# The installers `pipdoctor check` knows, in the order it reports them (--tool picks one).
CHECK_TOOLS = ("pip", "uv")


def _check_one(installer: "Installer", account, args: Sequence[str], jobs: Optional[int], progress) -> AccountReport:
    """check_account, with what one account's files did turned into a report saying so (PD206): the other
    accounts and installers are still checked."""
    try:
        return check_account(installer, account, args, jobs=jobs, progress=progress)
    except AccountUnreadable as error:
        return _unchecked(account, error.reason, installer.name)
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        return _unchecked(account, f"reading its facts failed: {reason}", installer.name)


def uv_in_use(account, report: AccountReport) -> bool:
    """Whether the account uses uv, so that `check` reports its cache without being asked: a uv it would run
    (installers/uv/discovery.py, looked up, never run), uv's cache dir as resolved exists, a uv config file
    it reads exists, or one of them stops uv (PD205)."""
    from pipdoctor.installers.uv.discovery import installed_uv

    facts = report.facts
    cache_exists = (facts is not None and facts.root is not None and facts.cache_path is not None
                    and facts.root.existing == facts.cache_path)
    return (cache_exists or bool(report.config_files) or any(f.code == "PD205" for f in report.findings)
            or installed_uv(account) is not None)


def diagnose_check(request, environ: Mapping[str, str], progress=None) -> list[AccountCheck]:
    """`pipdoctor check`: one AccountCheck per account checked (this user, --user NAME, or --all-users): pip's
    cache, and uv's where the account uses uv (uv_in_use), or only the installer `--tool` names. The cache
    options (--cache-dir...) are the installer's --tool names, else pip's: uv is then checked as configured. An
    account that cannot be checked gets a report saying why (PD206), and the others are still checked.
    `progress` (progress.Progress): the line every walk counts its entries on."""
    from pipdoctor.host.accounts import all_accounts, named_account, self_account
    from pipdoctor.installers.pip import PIP
    from pipdoctor.installers.uv import UV

    if (request.user is not None or request.all_users) and os.geteuid() != 0:
        flag = "--user" if request.user is not None else "--all-users"
        raise UsageError(f"{flag} needs root (run: sudo pipdoctor check {flag}"
                         f"{' ' + request.user if request.user is not None else ''})")
    if request.user is not None:
        account = named_account(request.user, environ)
        if account is None:
            raise UsageError(f"unknown user {request.user!r} (no passwd entry)")
        accounts = [account]
    elif request.all_users:
        accounts = all_accounts(environ)
    else:
        accounts = [self_account(environ)]
    tool = request.tool
    # `uv pip install`: the command whose cache a user's next uv run needs (the project's, user and system
    # config, as uv reads them for it from the working directory: installers/uv/locations.py).
    uv_args = [*(request.cache_args if tool == "uv" else ()), "pip", "install"]
    checks = []
    for account in accounts:
        caches = []
        if tool in (None, "pip"):
            caches.append(_check_one(PIP, account, request.cache_args, request.jobs, progress))
        if tool in (None, "uv"):
            report = _check_one(UV, account, uv_args, request.jobs, progress)
            if tool == "uv" or uv_in_use(account, report):
                caches.append(report)
        checks.append(AccountCheck(tuple(caches)))
    return checks
