"""Glue for `pipdoctor fix` and `install --fix`: check, plan, confirm, apply (repair/), check again."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Mapping, Optional

from pipdoctor import exitcodes
from pipdoctor.errors import OutputError, UsageError
from pipdoctor.findings import fix_acts_on, has_problem
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


def _refused_before_walk(account, pip_args) -> Optional[str]:
    """Refuse a cache root that is /, a system dir, a HOME, a symlink or another account's before the check walks
    it (a cache dir of / would make the check read the whole machine first)."""
    from pipdoctor.diagnose import check_account
    from pipdoctor.installers.pip import PIP
    from pipdoctor.remediation import refused_cache_root

    facts = check_account(PIP, account, pip_args, walk=False).facts
    if facts is None or not facts.cache_path:
        return None
    reason = refused_cache_root(facts)
    return reason + "; nothing was changed" if reason else None


def plan_for(report, *, persist: bool, pip_args=None, log_findings=()):
    from pipdoctor.remediation import make_plan

    facts = report.facts
    return make_plan(facts, report.findings, as_root=os.geteuid() == 0, stamp=stamp(), persist=persist,
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


def run_fix(request: FixRequest, options, environ: Mapping[str, str]) -> int:
    """`pipdoctor fix`: the plan, then (confirmed) the changes, then the check again."""
    from pipdoctor.diagnose import check_account
    from pipdoctor.installers.pip import PIP
    from pipdoctor.report import render_check_human, render_fix_human, render_fix_json

    account = _account(request, environ)
    if request.undo:
        return run_undo(request, account, options)
    refused = _refused_before_walk(account, request.pip_args)
    if refused is not None:
        raise UsageError(refused)
    before = check_account(PIP, account, request.pip_args, jobs=request.jobs)
    plan = plan_for(before, persist=request.persist)
    color = options.color_for(1)
    if not plan.steps:
        code = exitcodes.FINDINGS if has_problem(before.findings) else exitcodes.OK
        if options.json:
            write(1, render_fix_json(before, plan, None, None, code))
        else:
            write(1, render_check_human([before], color=color) + ("\npipdoctor fix: nothing to change.\n"))
        return code
    if not options.json:
        write(1, render_check_human([before], color=color, fixes=False) + "\n" + render_fix_human(plan, color=color))
    outcome = after = None
    note = ""
    if request.dry_run:
        note = "dry run: nothing was changed"
    elif not plan.changes:
        note = "nothing in this plan changes files: run the commands shown"
    else:
        ok, note = confirm(f"Apply {changes_phrase(len(plan.changes))}? [y/N] ", request.yes)
        if ok:
            outcome = apply(plan, account, _pip_argv(options, account))
            after = check_account(PIP, account, request.pip_args, jobs=request.jobs)
    if after is not None:
        skipped = outcome is not None and outcome.skipped_count > 0  # what was skipped still needs a hand
        code = exitcodes.FINDINGS if skipped or has_problem(after.findings) else exitcodes.OK
    else:
        code = exitcodes.FINDINGS if has_problem(before.findings) else exitcodes.OK
    if options.json:
        write(1, render_fix_json(before, plan, outcome, after, code, note=note))
    else:
        from pipdoctor.report import render_outcome_human

        if outcome is not None:
            write(1, render_outcome_human(outcome, after, color=color))
        if note:
            write(1 if code == exitcodes.OK else 2, f"pipdoctor fix: {note}\n")
    return code


def _pip_argv(options, account) -> Optional[list]:
    from pipdoctor import runner

    if not account.is_self:
        return None
    try:
        return runner.pip_command(options.python, account.environ)
    except runner.InstallerNotFound:
        return None


def _journal_to_undo(request: FixRequest, account, passed_over: list):
    """The journal `fix --undo` acts on, opened: as root only one of root's store (the default: the account's
    newest there), as a user the named one or the newest of their own."""
    from pipdoctor.repair.journal import latest_journal
    from pipdoctor.repair.store import root_journal_at, user_journal_at

    if request.journal is not None:
        if os.geteuid() == 0:
            store, name = root_journal_at(_absolute(request.journal))
        else:
            store, name = user_journal_at(request.journal)
        return _open_for_undo(store, name)
    store = journal_store(account)
    if store is None:
        raise UsageError("no place for journals (HOME and XDG_DATA_HOME are unset): give one: pipdoctor fix "
                         "--undo JOURNAL")
    name = latest_journal(store, passed_over)
    if name is None:
        hint = (f"; a fix {account.user or account.uid} made themselves is undone by them (pipdoctor fix --undo)"
                if os.geteuid() == 0 and account.uid != 0 else "")
        raise UsageError(f"no journal to undo in {store.path}{hint}")
    return _open_for_undo(store, name)


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
    from pipdoctor.remediation import cache_names_problem, holds_moved_cache
    from pipdoctor.safety import unsafe_cache_root
    from pipdoctor.repair.fs import RepairError
    from pipdoctor.repair.undo import undo
    from pipdoctor.report import render_undo_human, render_undo_json

    passed_over: list = []  # journals the default pick could not read, said in the outcome
    homes = (_home_of(account), account.passwd_home)
    try:
        journal = _journal_to_undo(request, account, passed_over)
        # A user's own fix may have moved the whole cache aside (journaled in the dir holding it); root's never.
        names_ok = cache_names_problem if os.geteuid() == 0 else holds_moved_cache
        outcome = undo(journal, names_ok, lambda root: unsafe_cache_root(root, homes))
    except RepairError as error:
        raise UsageError(str(error)) from None
    outcome.notes[:0] = passed_over
    code = exitcodes.OK if outcome.skipped_count == 0 else exitcodes.FINDINGS
    if options.json:
        write(1, render_undo_json(outcome, code))
    else:
        write(1, render_undo_human(outcome, color=options.color_for(1)))
    return code


# --- install --fix ------------------------------------------------------------------------------------------


def _pip_once(pip_args: list, options, environ):
    from pipdoctor.diagnose import diagnose_run
    from pipdoctor.installers.pip import PIP
    from pipdoctor.wrapper import watch_installer

    run, log = watch_installer("pip", pip_args, options, environ)
    return run, diagnose_run(log, pip_args, environ, failed=run.returncode != 0, installer=PIP), list(run.installer)


def run_install_fix(pip_args: list, options, environ: Mapping[str, str]) -> int:
    """`pipdoctor --fix install ...`: pip once; on a cache finding, the plan (confirmed), the cure, and pip once
    more when the first run failed; both runs reported, then the check again. Exit status: pip's last."""
    from pipdoctor.diagnose import check_account
    from pipdoctor.host.accounts import self_account
    from pipdoctor.installers.pip import PIP
    from pipdoctor.report import (render_after_human, render_fix_human, render_human, render_outcome_human,
                                  render_run_fix_json)

    from pipdoctor.wrapper import report_run

    color = options.color_for(2)
    run, diagnosis, command = _pip_once(pip_args, options, environ)
    # Only what pip's output shows is worth a cure and a second run: the live check's findings alone may have
    # nothing to do with this failure. A reused locally built wheel (PD108, info) counts only as the root cause
    # of a failed run.
    cause = diagnosis.root_cause
    cache_problem = [f for f in diagnosis.from_log if fix_acts_on(f) and f.code != "PD108"] or (
        run.returncode != 0 and cause is not None and cause.code == "PD108")
    if not options.json:
        report_run(run, diagnosis, options)
    if not cache_problem:
        if options.json:
            write(1, render_run_fix_json(pip_args[0], run, diagnosis, None, None, None, None, None, run.returncode))
        return run.returncode
    account = self_account(environ)
    # The check that diagnosed the run is the one to plan from: the cache is not walked twice.
    before = diagnosis.check or check_account(PIP, account, list(pip_args[1:]))
    plan = plan_for(before, persist=options.persist, pip_args=pip_args, log_findings=diagnosis.from_log)
    if not options.json:
        write(2, "\n" + render_fix_human(plan, color=color))
    outcome = retry = retry_diagnosis = after = None
    note = ""
    wanted = plan.changes or (run.returncode != 0 and plan.retry_args)
    if not plan.steps or not wanted:
        note = "nothing to apply" if not plan.steps else "nothing in this plan changes files"
    else:
        if plan.changes:
            question = f"Apply {changes_phrase(len(plan.changes))}" + (" and run pip again" if run.returncode else "")
        else:
            question = f"Run pip again with {' '.join(plan.retry_args)}"
        ok, note = confirm(question + "? [y/N] ", options.yes)
        if ok:
            if plan.changes:
                try:
                    outcome = apply(plan, account, command)
                except UsageError as error:  # the journal could not be kept: nothing changed, pip's status stands
                    note = str(error)
                else:
                    if not options.json:
                        write(2, render_outcome_human(outcome, None, color=color))
            if run.returncode != 0 and not note:
                again = list(pip_args) + list(plan.retry_args)
                if not options.json:
                    write(2, f"\npipdoctor: running pip again: pip {' '.join(again)}\n")
                retry, retry_diagnosis, _ = _pip_once(again, options, environ)
                if not options.json:
                    state = "succeeded" if retry.returncode == 0 else f"exited with status {retry.returncode}"
                    write(2, f"\npipdoctor: first run exited with status {run.returncode}; after the fix, pip "
                              f"{state}.\n")
                    if retry.returncode != 0 and retry_diagnosis.findings:
                        write(2, render_human(retry_diagnosis.findings, color=color,
                                               headline="pipdoctor: the second run"))
            after = None if note else check_account(PIP, account, list(pip_args[1:]))
            if after is not None and not options.json:
                write(2, render_after_human(after, color=color))
    if note and not options.json:
        write(2, f"pipdoctor: {note}\n")
    code = retry.returncode if retry is not None else run.returncode
    if options.json:
        write(1, render_run_fix_json(pip_args[0], run, diagnosis, plan, outcome, retry, retry_diagnosis, after, code,
                                      note=note))
    return code
