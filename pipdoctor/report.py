"""Renders findings for people (colored on a terminal) and for scripts (one versioned JSON object)."""

from __future__ import annotations

import json
import os
from typing import Mapping, Optional, Sequence

from pipdoctor import __version__
from pipdoctor.findings import Finding

# Bump on any incompatible change to the JSON document; adding keys is compatible (README, "JSON output").
SCHEMA_VERSION = 1


def use_color(choice: str, isatty: bool, environ: Mapping[str, str]) -> bool:
    """One decision, as https://no-color.org and most CLIs make it: flag, then NO_COLOR/FORCE_COLOR, then tty."""
    if choice in ("always", "never"):
        return choice == "always"
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return isatty and environ.get("TERM") != "dumb"


class _Style:
    def __init__(self, color: bool):
        if color:
            from colorama import Fore, Style

            self.codes = {"error": Fore.RED + Style.BRIGHT, "warning": Fore.YELLOW + Style.BRIGHT,
                          "info": Fore.CYAN, "bold": Style.BRIGHT, "dim": Style.DIM, "fix": Fore.GREEN}
            self.reset = Style.RESET_ALL
        else:
            self.codes, self.reset = {}, ""

    def __call__(self, kind: str, text: str) -> str:
        code = self.codes.get(kind)
        return f"{code}{text}{self.reset}" if code else text


def _finding_lines(finding: Finding, paint: _Style) -> list[str]:
    head = paint(finding.severity.value, f"{finding.severity.value} {finding.code}") + " " + paint(
        "bold", finding.name)
    lines = [head, f"  {finding.message}"]
    if finding.why:
        lines.append(f"  why: {finding.why}")
    if finding.evidence:
        lines.append("  evidence:")
        for item in finding.evidence:
            where = f"line {item.line}: " if item.line is not None else ""
            lines.append(paint("dim", f"    {where}{item.text}"))
    if finding.fixes:
        lines.append("  fix:")
        for fix in finding.fixes:
            lines.append("    " + paint("fix", fix.command))
            note = fix.description if fix.safe else f"{fix.description} (review before running)"
            lines.append(paint("dim", f"      {note}"))
    lines.append(paint("dim", f"  more: pipdoctor explain {finding.code}"))
    return lines


def render_human(findings: Sequence[Finding], *, color: bool, headline: Optional[str] = None) -> str:
    paint = _Style(color)
    out = []
    if headline:
        out.append(paint("bold", headline))
    for index, finding in enumerate(findings):
        if index == 1:
            out.append("")
            out.append(paint("bold", "Also found:"))
        elif index > 1:
            out.append("")
        out.extend(_finding_lines(finding, paint))
    return "\n".join(out) + "\n"


def finding_to_json(finding: Finding) -> dict:
    return {
        "code": finding.code,
        "name": finding.name,
        "severity": finding.severity.value,
        "message": finding.message,
        "why": finding.why,
        "paths": list(finding.paths),
        "evidence": [{"line": e.line, "text": e.text} for e in finding.evidence],
        "fixes": [{"command": f.command, "description": f.description, "safe": f.safe} for f in finding.fixes],
        "doc": finding.doc_path,
    }


def _document(command: str, exit_code: int, **body) -> str:
    """Every --json document: versioned, the command and pipdoctor's exit status, then the command's own keys."""
    document = {"schema_version": SCHEMA_VERSION, "pipdoctor_version": __version__, "command": command,
                "exit_code": exit_code, **body}
    return json.dumps(document, indent=2) + "\n"


def render_json(command: str, findings: Sequence[Finding], exit_code: int, **extra) -> str:
    return _document(command, exit_code, **extra, findings=[finding_to_json(f) for f in findings])


def render_run_json(command: str, run, diagnosis, exit_code: int, **extra) -> str:
    """A pip command's document: pip's run, the root cause (null when pip's output shows none), the findings."""
    cause = diagnosis.root_cause
    return render_json(command, diagnosis.findings, exit_code, pip=_run_json(run),
                       root_cause=cause.code if cause else None, **extra)


def _run_json(run) -> dict:
    return {"command": list(run.command), "exit_code": run.returncode}


def write(fd: int, text: str) -> None:
    """Write straight to a file descriptor, as pip's bytes are: nothing buffers between pip and the report."""
    data = text.encode("utf-8", "replace")
    while data:
        written = os.write(fd, data)
        data = data[written:]


# --- pipdoctor check ----------------------------------------------------------------------------------

_GROUPS = (("error", "Errors"), ("warning", "Warnings"), ("info", "Info"))


def _check_header(report, paint: _Style) -> str:
    who = f"{report.user} (uid {report.uid})" if report.user is not None else f"uid {report.uid} (no passwd entry)"
    if report.cache_disabled or report.cache_path is None:
        cache = f"cache off ({report.cache_source})"
    else:
        cache = f"cache {report.cache_path} ({report.cache_source})"
    return paint("bold", f"pipdoctor check: {who}, {cache}")


def _check_finding_lines(finding: Finding, paint: _Style, number: int) -> list[str]:
    head = paint(finding.severity.value, f"[{number}] {finding.code}") + " " + paint("bold", finding.name)
    lines = [head, f"  {finding.message}"]
    if finding.why:
        lines.append(f"  why: {finding.why}")
    for item in finding.evidence:
        where = f"line {item.line}: " if item.line is not None else ""
        lines.append(paint("dim", f"    - {where}{item.text}"))
    lines.append(paint("dim", f"  more: pipdoctor explain {finding.code}"))
    return lines


def _not_reached(report) -> Optional[dict]:
    """What the walk of the cache could not reach, and why (ownership.CacheWalk), or None when not walked."""
    walk = getattr(report.facts, "walk", None)
    if walk is None:
        return None
    return {"count": walk.not_reached_count, "reasons": dict(walk.not_reached),
            "samples": [{"path": _text(path), "error": reason} for path, reason in walk.not_reached_samples]}


def _not_reached_line(report) -> Optional[str]:
    from pipdoctor.safety import shell_quote

    walk = getattr(report.facts, "walk", None)
    if walk is None or not walk.not_reached_count:
        return None
    reasons = ", ".join(f"{name}: {count:,}" for name, count in walk.not_reached)
    # shell-quoted: a name's control characters come out as $'\x1b...', never raw on the terminal
    samples = ", ".join(f"{shell_quote(path)} ({why})" for path, why in walk.not_reached_samples)
    return (f"note: {walk.not_reached_count:,} entries in the cache could not be read ({reasons}): they and what "
            f"lies below them are not counted: {samples}")


def _check_account_lines(report, paint: _Style, fixes: bool) -> list[str]:
    out = [_check_header(report, paint)]
    not_reached = _not_reached_line(report)
    if not_reached:
        out.append(paint("warning", not_reached))
    findings = list(report.findings)
    if not any(f.severity.value != "info" for f in findings):
        out.append("No problems found: pip can use its cache." if not report.cache_disabled
                   else "No problems found.")
    numbered = {id(f): index for index, f in enumerate(sorted(findings, key=lambda f: f.severity.rank), 1)}
    for severity, title in _GROUPS:
        group = [f for f in findings if f.severity.value == severity]
        if not group:
            continue
        out.append("")
        out.append(paint(severity, f"{title}:"))
        for finding in group:
            out.extend(_check_finding_lines(finding, paint, numbered[id(finding)]))
    fixable = [f for f in sorted(findings, key=lambda f: f.severity.rank) if f.fixes] if fixes else []
    if fixable:
        out.append("")
        out.append(paint("bold", "Fix (copy and run; the first command of each finding is the least invasive):"))
        for finding in fixable:
            out.append(paint("dim", f"  # [{numbered[id(finding)]}] {finding.code} {finding.name}"))
            for fix in finding.fixes:
                note = fix.description if fix.safe else f"{fix.description} (review before running)"
                out.append(paint("dim", f"  # {note}"))
                out.append("  " + paint("fix", fix.command))
    return out


def render_check_human(reports: Sequence, *, color: bool, fixes: bool = True) -> str:
    """`pipdoctor check`'s report: per account, findings grouped by severity, the fix commands last (not when
    `fix` prints its plan instead)."""
    paint = _Style(color)
    out: list[str] = []
    for index, report in enumerate(reports):
        if index:
            out.append("")
            out.append(paint("dim", "-" * 72))
        out.extend(_check_account_lines(report, paint, fixes))
    if not reports:
        out.append("pipdoctor check: no account to check.")
    return "\n".join(out) + "\n"


def _text(path: Optional[str]) -> Optional[str]:
    """A path for JSON: bytes that are not UTF-8 (surrogate-escaped) become \\xNN, never lone surrogates."""
    return None if path is None else os.fsencode(path).decode("utf-8", "backslashreplace")


def _account_to_json(report) -> dict:
    return {
        "user": report.user,
        "uid": report.uid,
        "home": _text(report.home),
        "cache": {"path": _text(report.cache_path), "disabled": report.cache_disabled,
                  "source": _text(report.cache_source), "not_reached": _not_reached(report)},
        "findings": [finding_to_json(f) for f in report.findings],
    }


def render_check_json(reports: Sequence, exit_code: int) -> str:
    """`accounts` for every account; `findings` is the account's findings for a single-account check, every
    account's findings in account order for --all-users."""
    return _document("check", exit_code, accounts=[_account_to_json(r) for r in reports],
                     findings=[finding_to_json(f) for r in reports for f in r.findings])


# --- pipdoctor fix ---------------------------------------------------------------------------------------


def render_fix_human(plan, *, color: bool) -> str:
    """The plan: each step, the finding it cures, the equivalent shell command, and whether it needs root."""
    paint = _Style(color)
    who = plan.user or f"uid {plan.uid}"
    count = len(plan.changes)
    root = "needs root" if plan.needs_root else "no root needed"
    out = [paint("bold", f"pipdoctor fix: plan for {who}'s cache {_text(plan.cache_root) or '(none)'}"
                         f" ({count} {'change' if count == 1 else 'changes'}, {root})")]
    if plan.refused:
        out.append(paint("warning", f"  {plan.refused}"))
    for index, step in enumerate(plan.steps, 1):
        cures = ", ".join(step.cures)
        root = "needs root" if step.needs_root else "no root"
        change = "changes files" if step.changes_files else "no change by pipdoctor"
        out.append(f"  {index}. {paint('bold', step.kind)} (cures {cures}; {root}; {change})")
        out.append(paint("dim", f"     {step.description}"))
        if step.command:
            out.append("     $ " + paint("fix", step.command))
    return "\n".join(out) + "\n"


def render_outcome_human(outcome, after, *, color: bool) -> str:
    paint = _Style(color)
    out = []
    done = []
    if outcome.chowned:
        done.append(f"{outcome.chowned:,} entries given back to their user")
    for old, new in outcome.renamed:
        done.append(f"moved {_text(old)} aside to {_text(new)}")
    # Only pip's own commands ran (`pip config --user set`, `pip cache remove`): the notes say which.
    summary = "; ".join(done) or ("no file in the cache was changed" if outcome.notes else "nothing was changed")
    out.append(paint("bold", "pipdoctor fix: " + summary))
    for note in outcome.notes:
        out.append(f"  {note}")
    if outcome.skipped_count:
        out.append(paint("warning", f"  skipped {outcome.skipped_count:,} entries:"))
        for path, reason in outcome.skipped:
            out.append(paint("dim", f"    {_text(path)}: {reason}"))
    if outcome.journal:
        from pipdoctor.repair import undo_command

        out.append(f"  journal: {_text(outcome.journal)}  (undo: {undo_command(outcome.journal, os.geteuid() == 0)})")
    if after is not None:
        out.append(render_after_human(after, color=color).rstrip("\n"))
    return "\n".join(out) + "\n"


def render_after_human(after, *, color: bool) -> str:
    """What the check finds once a fix was applied."""
    from pipdoctor.findings import has_problem

    paint = _Style(color)
    if not has_problem(after.findings):
        return paint("bold", "After the fix, the check finds no problem: pip can use its cache.") + "\n"
    return "\n" + paint("warning", "After the fix, the check still finds:") + "\n" + render_check_human([after],
                                                                                                   color=color)


def _check_report_json(report) -> Optional[dict]:
    return None if report is None else _account_to_json(report)


def render_fix_json(before, plan, outcome, after, exit_code: int, note: str = "") -> str:
    return _document("fix", exit_code, before=_check_report_json(before),
                     plan=plan.to_json() if plan is not None else None,
                     applied=outcome.to_json() if outcome is not None else None, after=_check_report_json(after),
                     note=note or None, findings=[finding_to_json(f) for f in (after or before).findings])


def render_undo_human(outcome, *, color: bool) -> str:
    paint = _Style(color)
    out = [paint("bold", f"pipdoctor fix --undo: {outcome.restored:,} entries restored, {outcome.already:,} already "
                         f"as they were, {outcome.skipped_count:,} skipped")]
    for note in outcome.notes:
        out.append(f"  {note}")
    for path, reason in outcome.skipped:
        out.append(paint("dim", f"    {_text(path)}: {reason}"))
    out.append(f"  journal: {_text(outcome.journal)}")
    return "\n".join(out) + "\n"


def render_undo_json(outcome, exit_code: int) -> str:
    return _document("fix --undo", exit_code, undone=outcome.to_json(), findings=[])


def render_run_fix_json(command: str, run, diagnosis, plan, outcome, retry, retry_diagnosis, after, exit_code: int,
                        note: str = "") -> str:
    fix = None if plan is None else {
        "plan": plan.to_json(), "applied": outcome.to_json() if outcome is not None else None,
        "retry": None if retry is None else {"pip": _run_json(retry),
                                             "findings": [finding_to_json(f) for f in retry_diagnosis.findings]},
        "after": _check_report_json(after), "note": note or None}
    return render_run_json(command, run, diagnosis, exit_code, fix=fix)
