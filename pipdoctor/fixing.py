"""Glue for `pipdoctor fix` and `install --fix`: check, plan, confirm, apply (repair/), check again."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Mapping, Optional

from pipdoctor import exitcodes
from pipdoctor.errors import OutputError, UsageError
from pipdoctor.findings import fix_acts_on, has_problem
from pipdoctor.progress import on_terminal
from pipdoctor.terminal import read_line, write


@dataclass
class FixRequest:
    """What `pipdoctor fix` was asked (cli.parse_fix_args fills it)."""

    yes: bool = False
    dry_run: bool = False
    undo: bool = False
    journal: Optional[str] = None
    persist: bool = False
    user: Optional[str] = None
    pip_args: list = field(default_factory=list)  # --cache-dir/--no-cache-dir, as pip spells them
    tool: Optional[str] = None  # --tool pip|uv: only that installer's cache (None: every cache it covers)
    jobs: Optional[int] = None  # --jobs N: the walk's workers (None: one per CPU this process may use)


def stamp() -> str:
    """UTC, sortable, safe in a file name: 20250101T120000Z (journal names and moved-aside suffixes)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _account(request: FixRequest, environ: Mapping[str, str]):
    from pipdoctor.host.accounts import named_account, self_account

    if request.user is None:
        return self_account(environ)
    if os.geteuid() != 0:
        raise UsageError(f"--user needs root (run: sudo pipdoctor fix --user {request.user})")
    account = named_account(request.user, environ)
    if account is None:
        raise UsageError(f"unknown user {request.user!r} (no passwd entry)")
    return account


def _home_of(account) -> Optional[str]:
    return account.environ.get("HOME") or account.passwd_home


def root_listing(path: Optional[str]) -> Optional[list]:
    """The top-level names in the cache, for the plan's "does it look like pip's cache"."""
    if not path:
        return None
    try:
        return os.listdir(path)
    except OSError:
        return None


def changes_phrase(count: int) -> str:
    return "this change" if count == 1 else f"these {count} changes"


def confirm(question: str, yes: bool) -> tuple[bool, str]:
    """--yes, else ask on the terminal; no terminal, EOF or anything but y/yes is "no"."""
    if yes:
        return True, ""
    if not os.isatty(0):
        return False, "not confirmed: no terminal to ask on (pass --yes to apply the plan)"
    try:
        write(2, question)
    except OutputError:
        return False, "not confirmed: the question could not be shown (standard error is closed)"
    answer = read_line(0)
    if answer.strip().lower() in ("y", "yes"):
        return True, ""
    return False, "not confirmed: nothing was changed"


def _refused_before_walk(facts) -> Optional[str]:
    """Refuse a cache root that is /, a system dir, a HOME, a symlink or another account's before the check walks
    it (a cache dir of / would make the check read the whole machine first)."""
    from pipdoctor.remediation import refused_cache_root

    if facts is None or not facts.cache_path:
        return None
    reason = refused_cache_root(facts)
    return reason + "; nothing was changed" if reason else None


def plan_for(report, *, persist: bool, pip_args=None, log_findings=(), when: Optional[str] = None):
    from pipdoctor.remediation import make_plan

    facts = report.facts
    return make_plan(facts, report.findings, as_root=os.geteuid() == 0, stamp=when or stamp(), persist=persist,
                     root_names=root_listing(facts.cache_path), pip_args=pip_args, log_findings=log_findings)


def journal_store(account):
    """Root journals in its own store (per account uid); a user in their data dir (repair/store.py)."""
    from pipdoctor.repair.store import root_store, user_store

    if os.geteuid() == 0:
        return root_store(account.uid)
    return user_store(_home_of(account), account.environ)


def apply(plan, account, pip_argv: Optional[list]):
    from pipdoctor.repair.apply import apply_plan
    from pipdoctor.repair.fs import RepairError

    try:
        return apply_plan(plan, store=journal_store(account), environ=account.environ, pip_command=pip_argv)
    except RepairError as error:
        raise UsageError(str(error)) from None


@dataclass
class CacheFix:
    """One installer's cache in a `pipdoctor fix`: the check before, the plan, and once applied what was done
    and the check after (None until then)."""

    before: object  # diagnose.AccountReport
    plan: object  # remediation.Plan
    outcome: object = None  # repair.outcome.Outcome
    after: object = None


def fix_installers(request: FixRequest) -> list:
    """The installers whose caches `fix` may cover, in the order it applies them (check's CHECK_TOOLS): pip's
    and uv's, or the one --tool names."""
    from pipdoctor.diagnose import CHECK_TOOLS
    from pipdoctor.installers import installer_named

    return [installer_named(name) for name in CHECK_TOOLS if request.tool in (None, name)]


def cache_args(request: FixRequest, installer) -> list:
    """What the check of the installer's cache is given, as `check` does (diagnose_check): the cache options
    are pip's, or uv's with --tool uv (--no-cache-dir spelled uv's way); uv's cache is the one its next
    `uv pip install` would use."""
    if installer.name != "uv":
        return list(request.pip_args)
    own = [installer.no_cache_option if arg == "--no-cache-dir" else arg for arg in request.pip_args]
    return [*(own if request.tool == "uv" else ()), "pip", "install"]


def run_fix(request: FixRequest, options, environ: Mapping[str, str]) -> int:
    """`pipdoctor fix`: one plan for every cache it covers (pip's, uv's), one confirmation, the changes in that
    order (each cache its own journal), then the check again."""
    from pipdoctor.diagnose import AccountCheck, check_account, uv_in_use
    from pipdoctor.report import render_check_human, render_fix_json, render_plans_human

    account = _account(request, environ)
    if request.undo:
        return run_undo(request, account, options)
    installers = []
    for installer in fix_installers(request):
        unwalked = check_account(installer, account, cache_args(request, installer), walk=False)
        # uv's cache where the account uses uv, as `check` reports it, or when --tool names it.
        if installer.name == "uv" and request.tool is None and not uv_in_use(account, unwalked):
            continue
        refused = _refused_before_walk(unwalked.facts)
        if refused is not None:
            raise UsageError(refused if request.tool is not None or installer.name == "pip" else
                             f"{refused} ({installer.name}'s cache; `--tool pip` fixes pip's alone)")
        installers.append(installer)
    when = stamp()  # one fix, one time: its journals share it, and `fix --undo` undoes them together
    caches = []
    with on_terminal("fix: checking", quiet=options.json) as progress:
        for installer in installers:
            before = check_account(installer, account, cache_args(request, installer), jobs=request.jobs,
                                   progress=progress)
            caches.append(CacheFix(before, plan_for(before, persist=request.persist, when=when)))
    planned = [cache for cache in caches if cache.plan.steps]
    color = options.color_for(1)
    reports = [AccountCheck(tuple(cache.before for cache in caches))]
    if not planned:
        code = exitcodes.FINDINGS if any(has_problem(r.findings) for r in reports) else exitcodes.OK
        if options.json:
            write(1, render_fix_json(caches, code))
        else:
            write(1, render_check_human(reports, color=color) + ("\npipdoctor fix: nothing to change.\n"))
        return code
    if not options.json:
        write(1, render_check_human(reports, color=color, fixes=False) + "\n"
              + render_plans_human([cache.plan for cache in planned], color=color))
    changes = sum(len(cache.plan.changes) for cache in planned)
    note = ""
    if request.dry_run:
        note = "dry run: nothing was changed"
    elif not changes:
        note = "nothing in this plan changes files: run the commands shown"
    else:
        ok, note = confirm(f"Apply {changes_phrase(changes)}? [y/N] ", request.yes)
        if ok:
            note = _apply_in_order(planned, account, options, request)
    skipped = any(cache.outcome is not None and cache.outcome.skipped_count for cache in planned)
    # What was skipped still needs a hand; a cache not (yet) fixed keeps its findings.
    final = [cache.after if cache.after is not None else cache.before for cache in caches]
    code = exitcodes.FINDINGS if skipped or any(has_problem(r.findings) for r in final) else exitcodes.OK
    if options.json:
        write(1, render_fix_json(caches, code, note=note))
    else:
        from pipdoctor.report import render_outcome_human

        for cache in planned:
            if cache.outcome is not None:
                write(1, render_outcome_human(cache.outcome, cache.after, color=color))
        if note:
            write(1 if code == exitcodes.OK else 2, f"pipdoctor fix: {note}\n")
    return code


def _apply_in_order(planned: list, account, options, request: FixRequest) -> str:
    """Apply each cache's plan in turn, then check it again; the first that cannot be applied (its journal
    could not be kept: nothing of it changed) stops the rest, and its reason is the note."""
    from pipdoctor.diagnose import check_account

    fixed = []
    for cache in planned:
        if not cache.plan.changes:
            continue
        installer = cache.before.facts.installer
        try:
            cache.outcome = apply(cache.plan, account, _pip_argv(options, account) if installer.name == "pip"
                                  else None)
        except UsageError as error:
            if not fixed:
                raise
            return f"{error} ({installer.name}'s cache; {' and '.join(fixed)}'s fixed before it)"
        fixed.append(installer.name)
        with on_terminal("fix: checking again", quiet=options.json) as progress:
            cache.after = check_account(installer, account, cache_args(request, installer), jobs=request.jobs,
                                        progress=progress)
    return ""


def _pip_argv(options, account) -> Optional[list]:
    from pipdoctor import runner

    if not account.is_self:
        return None
    try:
        return runner.pip_command(options.python, account.environ)
    except runner.InstallerNotFound:
        return None


def _journals_to_undo(request: FixRequest, account, passed_over: list) -> list:
    """The store and names of the journals `fix --undo` acts on: as root only of root's store (the default:
    the account's newest fix there, one journal per cache it fixed), as a user the named one or their own
    newest fix; --tool: that installer's newest journal."""
    from pipdoctor.repair.journal import latest_fix_journals
    from pipdoctor.repair.store import root_journal_at, user_journal_at

    if request.journal is not None:
        if os.geteuid() == 0:
            store, name = root_journal_at(_absolute(request.journal))
        else:
            store, name = user_journal_at(request.journal)
        return [(store, name)]
    store = journal_store(account)
    if store is None:
        raise UsageError("no place for journals (HOME and XDG_DATA_HOME are unset): give one: pipdoctor fix "
                         "--undo JOURNAL")
    names = latest_fix_journals(store, request.tool, passed_over)
    if not names:
        hint = (f"; a fix {account.user or account.uid} made themselves is undone by them (pipdoctor fix --undo)"
                if os.geteuid() == 0 and account.uid != 0 else "")
        whose = f" of {request.tool}'s cache" if request.tool is not None else ""
        raise UsageError(f"no journal{whose} to undo in {store.path}{hint}")
    return [(store, name) for name in names]


def _open_for_undo(store, name: str):
    """Writable, to append the `undone` record; a journal that cannot be written (a read-only file or
    filesystem) is still undone, unmarked (undo says so in a note)."""
    from pipdoctor.repair.fs import RepairError
    from pipdoctor.repair.store import open_journal

    try:
        return open_journal(store, name, writable=True)
    except RepairError:
        return open_journal(store, name, writable=False)


def _absolute(path: str) -> str:
    try:
        return os.path.abspath(path)
    except OSError as error:  # a relative path and a deleted current directory
        raise UsageError(f"cannot find {path}: {error.strerror}; give its full path") from None


def run_undo(request: FixRequest, account, options) -> int:
    """`fix --undo`: each journal of the fix, newest first (each re-checks its own cache); one that is refused
    stops the rest with one line (`--tool` then undoes the other cache's alone)."""
    from pipdoctor.report import render_undo_human, render_undo_json

    from pipdoctor.repair.fs import RepairError

    passed_over: list = []  # journals the default pick could not read, said in the outcome
    try:
        journals = _journals_to_undo(request, account, passed_over)
    except RepairError as error:
        raise UsageError(str(error)) from None
    outcomes = [_undo_one(store, name, request, account) for store, name in journals]
    outcomes[0].notes[:0] = passed_over
    code = exitcodes.OK if all(outcome.skipped_count == 0 for outcome in outcomes) else exitcodes.FINDINGS
    if options.json:
        write(1, render_undo_json(outcomes, code))
    else:
        write(1, render_undo_human(outcomes, color=options.color_for(1)))
    return code


def _undo_one(store, name: str, request: FixRequest, account):
    from pipdoctor.installers import installer_named
    from pipdoctor.remediation import holds_moved_cache, names_check
    from pipdoctor.repair.fs import RepairError
    from pipdoctor.repair.undo import undo
    from pipdoctor.safety import unsafe_cache_root

    homes = (_home_of(account), account.passwd_home)
    # A user's own fix may have moved the whole cache aside (journaled in the dir holding it); root's never.
    names_ok = names_check if os.geteuid() == 0 else holds_moved_cache

    def names_ok_for(tool: str):
        if request.tool is not None and tool != request.tool:
            raise RepairError(f"{store.path}/{name} is a fix of {tool}'s cache, not {request.tool}'s; nothing was "
                              "changed")
        return names_ok(installer_named(tool))

    try:
        return undo(_open_for_undo(store, name), names_ok_for, lambda root: unsafe_cache_root(root, homes))
    except RepairError as error:
        raise UsageError(str(error)) from None


# --- install --fix, uv --fix ---------------------------------------------------------------------------------


def _run_once(installer, args: list, options, environ):
    from pipdoctor.diagnose import diagnose_run
    from pipdoctor.wrapper import watch_installer

    run, log = watch_installer(installer.name, args, options, environ)
    return run, diagnose_run(log, args, environ, failed=run.returncode != 0, installer=installer), list(run.installer)


def _with_retry_args(installer, args: list, retry_args) -> list:
    """The command run again with the plan's cache options, where the installer takes them (options_first)."""
    return [*retry_args, *args] if installer.options_first else [*args, *retry_args]


def run_install_fix(args: list, options, environ: Mapping[str, str], installer=None) -> int:
    """`pipdoctor --fix install ...` (pip) and `pipdoctor --fix uv ...` (installer UV, args after `uv`): the
    installer once; on a cache finding, the plan (confirmed), the cure, and the installer once more when the
    first run failed; both runs reported, then the check again. Exit status: the installer's last."""
    from pipdoctor.diagnose import check_account, live_check_args
    from pipdoctor.host.accounts import self_account
    from pipdoctor.installers.pip import PIP
    from pipdoctor.report import (render_after_human, render_fix_human, render_human, render_outcome_human,
                                  render_run_fix_json)

    from pipdoctor.wrapper import report_run

    installer = installer or PIP
    tool = installer.name
    color = options.color_for(2)
    run, diagnosis, command = _run_once(installer, args, options, environ)
    # Only what the installer's output shows is worth a cure and a second run: the live check's findings alone
    # may have nothing to do with this failure. A reused locally built wheel (PD108, info) counts only as the
    # root cause of a failed run.
    cause = diagnosis.root_cause
    cache_problem = [f for f in diagnosis.from_log if fix_acts_on(f) and f.code != "PD108"] or (
        run.returncode != 0 and cause is not None and cause.code == "PD108")
    if not options.json:
        report_run(run, diagnosis, options, installer=tool)
    if not cache_problem:
        if options.json:
            write(1, render_run_fix_json(args, run, diagnosis, None, None, None, None, None, run.returncode, tool))
        return run.returncode
    account = self_account(environ)
    # The check that diagnosed the run is the one to plan from: the cache is not walked twice.
    before = diagnosis.check or check_account(installer, account, live_check_args(installer, args))
    # The log's own cures (a damaged wheel, a locally built one) are pip's: pip's paths and `pip cache`.
    plan = plan_for(before, persist=options.persist, pip_args=args,
                    log_findings=diagnosis.from_log if tool == "pip" else ())
    if not options.json:
        write(2, "\n" + render_fix_human(plan, color=color))
    outcome = retry = retry_diagnosis = after = None
    note = ""
    wanted = plan.changes or (run.returncode != 0 and plan.retry_args)
    if not plan.steps or not wanted:
        note = "nothing to apply" if not plan.steps else "nothing in this plan changes files"
    else:
        if plan.changes:
            question = f"Apply {changes_phrase(len(plan.changes))}" + (f" and run {tool} again" if run.returncode
                                                                       else "")
        else:
            question = f"Run {tool} again with {' '.join(plan.retry_args)}"
        ok, note = confirm(question + "? [y/N] ", options.yes)
        if ok:
            if plan.changes:
                try:
                    outcome = apply(plan, account, command if tool == "pip" else None)
                except UsageError as error:  # the journal could not be kept: nothing changed, the status stands
                    note = str(error)
                else:
                    if not options.json:
                        write(2, render_outcome_human(outcome, None, color=color))
            if run.returncode != 0 and not note:
                again = _with_retry_args(installer, args, plan.retry_args)
                if not options.json:
                    write(2, f"\npipdoctor: running {tool} again: {tool} {' '.join(again)}\n")
                retry, retry_diagnosis, _ = _run_once(installer, again, options, environ)
                if not options.json:
                    state = "succeeded" if retry.returncode == 0 else f"exited with status {retry.returncode}"
                    write(2, f"\npipdoctor: first run exited with status {run.returncode}; after the fix, {tool} "
                              f"{state}.\n")
                    if retry.returncode != 0 and retry_diagnosis.findings:
                        write(2, render_human(retry_diagnosis.findings, color=color,
                                               headline="pipdoctor: the second run"))
            after = None if note else check_account(installer, account, live_check_args(installer, args))
            if after is not None and not options.json:
                write(2, render_after_human(after, color=color))
    if note and not options.json:
        write(2, f"pipdoctor: {note}\n")
    code = retry.returncode if retry is not None else run.returncode
    if options.json:
        write(1, render_run_fix_json(args, run, diagnosis, plan, outcome, retry, retry_diagnosis, after, code, tool,
                                      note=note))
    return code
