"""The wrapper's run: the user's pip or uv with its output scanned as it passes, then the report after it
(`pipdoctor install ...`, `install --fix` and `pipdoctor uv ...`, which cli and fixing drive)."""

from __future__ import annotations

from pipdoctor.errors import UsageError
from pipdoctor.terminal import tell


def watch_installer(installer: str, args: list[str], options, environ):
    """Runs the user's pip or uv (`installer`; see runner.pip_command, installers/uv/command.py) with `args`, its
    output scanned: (the run, the scanned log). One run path for both: only which command runs differs."""
    from pipdoctor import runner

    scanner = None

    def load_rules() -> None:  # while the installer starts: its imports and regex compiles cost nothing then
        nonlocal scanner
        from pipdoctor.classifier import LogScanner
        from pipdoctor.rules import TRIGGERS

        scanner = LogScanner(TRIGGERS)

    try:
        command = _command(installer, options, environ)
        run = runner.run_installer(command, args, on_output=lambda data: scanner.feed(data), on_started=load_rules,
                                   stdout_to_stderr=options.json)
    except runner.InstallerNotFound as error:
        raise UsageError(str(error)) from None
    _warn_lost_output(run, installer)
    return run, scanner.finish()


def _command(installer: str, options, environ) -> list[str]:
    """The argv that runs the user's pip (--python) or uv (--uv); only this differs between the two runs."""

    def notice(line: str) -> None:
        tell(line + "\n")

    if installer == "uv":
        from pipdoctor.installers.uv.command import uv_command

        return uv_command(options.uv, environ, notice)
    from pipdoctor.runner import pip_command

    return pip_command(options.python, environ, notice)


def _warn_lost_output(run, installer: str) -> None:
    """The installer's output could not all be passed on (stdout closed or full): say so once on stderr. Its
    status stays the exit status: it did its work, and what it printed is its own (README, "Exit codes")."""
    if run.lost is not None:
        tell(f"pipdoctor: warning: {installer}'s output was lost: cannot write to {run.lost}\n")


def report_run(run, diagnosis, options, pip_args=None, installer: str = "pip", uv_args=()) -> None:
    """The human report after the installer's output, on stderr: nothing when it succeeded and nothing is wrong.
    What the check of the machine found is shown (one line each) only when the output names a cache cause: after
    a typo or a missing package it would only bury the answer. It ends with the commands that cure a cache
    cause (not under --fix, which cures next): with `pip_args` pip's, for uv (`uv_args`: its command line) the
    same with --fix and `pipdoctor fix` of uv's cache.
    When stderr is closed or full there is no one to tell, and the installer's status stays the answer."""
    from pipdoctor.findings import fix_acts_on, has_problem, is_cache_cause
    from pipdoctor.report import render_human, run_cures, uv_run_cures

    findings, cause = diagnosis.findings, diagnosis.root_cause
    text = ""
    if cause is not None and (run.returncode != 0 or has_problem(findings)):
        status = f"{installer} exited with status {run.returncode}" if run.returncode else f"{installer} succeeded"
        cures = ()
        if fix_acts_on(cause) and pip_args and not options.fix:
            cures = run_cures(pip_args, options.python)
        elif fix_acts_on(cause) and cause.tool == "uv" and not options.fix:
            cures = uv_run_cures(diagnosis.check, uv_args, options.uv)
        text = "\n" + render_human(diagnosis.from_log, color=options.color_for(2), cures=cures,
                                   also=diagnosis.from_check if is_cache_cause(cause) else (),
                                   headline=f"pipdoctor: {status}; root cause: {cause.code} {cause.name}")
    elif run.returncode != 0:
        text = f"\npipdoctor: {installer} exited with status {run.returncode}; no known cause in its output.\n"
    tell(text)
