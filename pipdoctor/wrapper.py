"""The pip wrapper's run: the user's pip with its output scanned as it passes, then the report after it
(`pipdoctor install ...` and `install --fix`, which cli and fixing both drive)."""

from __future__ import annotations

from pipdoctor.errors import UsageError
from pipdoctor.terminal import tell


def watch_pip(pip_args: list[str], options, environ):
    """Runs the user's pip (see runner.pip_command) with its output scanned: (the run, the scanned log)."""
    from pipdoctor import runner

    scanner = None

    def load_rules() -> None:  # while pip starts: its imports and regex compiles cost nothing then
        nonlocal scanner
        from pipdoctor.classifier import LogScanner
        from pipdoctor.rules import TRIGGERS

        scanner = LogScanner(TRIGGERS)

    try:
        command = runner.pip_command(options.python, environ, notice=lambda line: tell(line + "\n"))
        run = runner.run_pip(command, pip_args, on_output=lambda data: scanner.feed(data), on_started=load_rules,
                             stdout_to_stderr=options.json)
    except runner.PipNotFound as error:
        raise UsageError(str(error)) from None
    _warn_lost_output(run)
    return run, scanner.finish()


def _warn_lost_output(run) -> None:
    """pip's output could not all be passed on (stdout closed or full): say so once on stderr. pip's status
    stays the exit status: pip did its work, and what it printed is pip's (README, "Exit codes")."""
    if run.lost is not None:
        tell(f"pipdoctor: warning: pip's output was lost: cannot write to {run.lost}\n")


def report_run(run, diagnosis, options, pip_args=None) -> None:
    """The human report after pip's output, on stderr: nothing when pip succeeded and nothing is wrong. What
    the check of the machine found is shown (one line each) only when pip's output names a cache cause: after
    a typo or a missing package it would only bury the answer. With `pip_args` (not under --fix, which cures
    next) it ends with the commands that cure it. When stderr is closed or full there is no one to tell, and
    pip's status stays the answer."""
    from pipdoctor.findings import fix_acts_on, has_problem, is_cache_cause
    from pipdoctor.report import render_human, run_cures

    findings, cause = diagnosis.findings, diagnosis.root_cause
    text = ""
    if cause is not None and (run.returncode != 0 or has_problem(findings)):
        status = f"pip exited with status {run.returncode}" if run.returncode else "pip succeeded"
        cures = run_cures(pip_args, options.python) if fix_acts_on(cause) and pip_args and not options.fix else ()
        text = "\n" + render_human(diagnosis.from_log, color=options.color_for(2), cures=cures,
                                   also=diagnosis.from_check if is_cache_cause(cause) else (),
                                   headline=f"pipdoctor: {status}; root cause: {cause.code} {cause.name}")
    elif run.returncode != 0:
        text = f"\npipdoctor: pip exited with status {run.returncode}; no known cause in its output.\n"
    tell(text)
