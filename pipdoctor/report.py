"""Renders findings for people (colored on a terminal, every name escaped) and for scripts (one versioned JSON
object)."""

from __future__ import annotations

import json
import os
from typing import Mapping, Optional, Sequence

from pipdoctor import __version__
from pipdoctor.findings import Finding
from pipdoctor.terminal import TerminalText, terminal_safe

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


class _Span:
    """Text shown in a style (error, warning, info, bold, dim, fix): the only way color enters a report. A
    line is a str, a _Span, or a tuple of both; every str in it is escaped when the report is assembled."""

    __slots__ = ("style", "text")

    def __init__(self, style: str, text: str):
        self.style = style
        self.text = text

    def __format__(self, spec: str) -> str:
        raise TypeError("a styled span is a part of a line (a tuple), not a value for an f-string")


def _paint(style: str, text: str) -> _Span:
    return _Span(style, text)


def _color_codes() -> dict:
    from colorama import Fore, Style

    return {"error": Fore.RED + Style.BRIGHT, "warning": Fore.YELLOW + Style.BRIGHT, "info": Fore.CYAN,
            "bold": Style.BRIGHT, "dim": Style.DIM, "fix": Fore.GREEN, "reset": Style.RESET_ALL}


def _assemble(lines: Sequence, color: bool) -> TerminalText:
    """The one place a human report becomes text: each part escaped (terminal_safe), styles turned into
    colors, one line each, a newline at the end."""
    codes = _color_codes() if color else None

    def part(item) -> str:
        if not isinstance(item, _Span):
            return terminal_safe(item)
        text = terminal_safe(item.text)
        return f"{codes[item.style]}{text}{codes['reset']}" if codes else text

    out = ["".join(map(part, line)) if isinstance(line, tuple) else part(line) for line in lines]
    return TerminalText("\n".join(out) + "\n")


def _finding_lines(finding: Finding) -> list:
    lines = [(_paint(finding.severity.value, f"{finding.severity.value} {finding.code}"), " ",
              _paint("bold", finding.name)), f"  {finding.message}"]
    if finding.why:
        lines.append(f"  why: {finding.why}")
    if finding.evidence:
        lines.append("  evidence:")
        for item in finding.evidence:
            where = f"line {item.line}: " if item.line is not None else ""
            lines.append(_paint("dim", f"    {where}{item.text}"))
    if finding.fixes:
        lines.append("  fix:")
        for fix in finding.fixes:
            lines.append(("    ", _paint("fix", fix.command)))
            note = fix.description if fix.safe else f"{fix.description} (review before running)"
            lines.append(_paint("dim", f"      {note}"))
    lines.append(_paint("dim", f"  more: pipdoctor explain {finding.code}"))
    return lines


def render_human(findings: Sequence[Finding], *, color: bool, headline: Optional[str] = None) -> TerminalText:
    out: list = []
    if headline:
        out.append(_paint("bold", headline))
    for index, finding in enumerate(findings):
        if index == 1:
            out.append("")
            out.append(_paint("bold", "Also found:"))
        elif index > 1:
            out.append("")
        out.extend(_finding_lines(finding))
    return _assemble(out, color)


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


def _document(command: str, exit_code: int, **body) -> TerminalText:
    """Every --json document: versioned, the command and pipdoctor's exit status, then the command's own keys.
    json.dumps escapes every character that is not printable ASCII, so the document is terminal-safe as it is
    and keeps every name exact."""
    document = {"schema_version": SCHEMA_VERSION, "pipdoctor_version": __version__, "command": command,
                "exit_code": exit_code, **body}
    return TerminalText(json.dumps(document, indent=2) + "\n")


def render_json(command: str, findings: Sequence[Finding], exit_code: int, **extra) -> TerminalText:
    return _document(command, exit_code, **extra, findings=[finding_to_json(f) for f in findings])


def render_run_json(command: str, run, diagnosis, exit_code: int, **extra) -> TerminalText:
    """A pip command's document: pip's run, the root cause (null when pip's output shows none), the findings."""
    cause = diagnosis.root_cause
    return render_json(command, diagnosis.findings, exit_code, pip=_run_json(run),
                       root_cause=cause.code if cause else None, **extra)


def _run_json(run) -> dict:
    return {"command": list(run.command), "exit_code": run.returncode}


# --- pipdoctor check ----------------------------------------------------------------------------------

_GROUPS = (("error", "Errors"), ("warning", "Warnings"), ("info", "Info"))


def _check_header(report) -> _Span:
    who = f"{report.user} (uid {report.uid})" if report.user is not None else f"uid {report.uid} (no passwd entry)"
    if report.cache_disabled or report.cache_path is None:
        cache = f"cache off ({report.cache_source})"
    else:
        cache = f"cache {report.cache_path} ({report.cache_source})"
    return _paint("bold", f"pipdoctor check: {who}, {cache}")


def _check_finding_lines(finding: Finding, number: int) -> list:
    lines = [(_paint(finding.severity.value, f"[{number}] {finding.code}"), " ", _paint("bold", finding.name)),
             f"  {finding.message}"]
    if finding.why:
        lines.append(f"  why: {finding.why}")
    for item in finding.evidence:
        where = f"line {item.line}: " if item.line is not None else ""
        lines.append(_paint("dim", f"    - {where}{item.text}"))
    lines.append(_paint("dim", f"  more: pipdoctor explain {finding.code}"))
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


def _check_account_lines(report, fixes: bool) -> list:
    out: list = [_check_header(report)]
    not_reached = _not_reached_line(report)
    if not_reached:
        out.append(_paint("warning", not_reached))
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
        out.append(_paint(severity, f"{title}:"))
        for finding in group:
            out.extend(_check_finding_lines(finding, numbered[id(finding)]))
    fixable = [f for f in sorted(findings, key=lambda f: f.severity.rank) if f.fixes] if fixes else []
    if fixable:
        out.append("")
        out.append(_paint("bold", "Fix (copy and run; the first command of each finding is the least invasive):"))
        for finding in fixable:
            out.append(_paint("dim", f"  # [{numbered[id(finding)]}] {finding.code} {finding.name}"))
            for fix in finding.fixes:
                note = fix.description if fix.safe else f"{fix.description} (review before running)"
                out.append(_paint("dim", f"  # {note}"))
                out.append(("  ", _paint("fix", fix.command)))
    return out


def _check_lines(reports: Sequence, fixes: bool) -> list:
    out: list = []
    for index, report in enumerate(reports):
        if index:
            out.append("")
            out.append(_paint("dim", "-" * 72))
        out.extend(_check_account_lines(report, fixes))
    if not reports:
        out.append("pipdoctor check: no account to check.")
    return out


def render_check_human(reports: Sequence, *, color: bool, fixes: bool = True) -> TerminalText:
    """`pipdoctor check`'s report: per account, findings grouped by severity, the fix commands last (not when
    `fix` prints its plan instead)."""
    return _assemble(_check_lines(reports, fixes), color)


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


def render_check_json(reports: Sequence, exit_code: int) -> TerminalText:
    """`accounts` for every account; `findings` is the account's findings for a single-account check, every
    account's findings in account order for --all-users."""
    return _document("check", exit_code, accounts=[_account_to_json(r) for r in reports],
                     findings=[finding_to_json(f) for r in reports for f in r.findings])


# --- pipdoctor fix ---------------------------------------------------------------------------------------


def render_fix_human(plan, *, color: bool) -> TerminalText:
    """The plan: each step, the finding it cures, the equivalent shell command, and whether it needs root."""
    who = plan.user or f"uid {plan.uid}"
    count = len(plan.changes)
    root = "needs root" if plan.needs_root else "no root needed"
    out: list = [_paint("bold", f"pipdoctor fix: plan for {who}'s cache {plan.cache_root or '(none)'}"
                                f" ({count} {'change' if count == 1 else 'changes'}, {root})")]
    if plan.refused:
        out.append(_paint("warning", f"  {plan.refused}"))
    for index, step in enumerate(plan.steps, 1):
        cures = ", ".join(step.cures)
        root = "needs root" if step.needs_root else "no root"
        change = "changes files" if step.changes_files else "no change by pipdoctor"
        out.append((f"  {index}. ", _paint("bold", step.kind), f" (cures {cures}; {root}; {change})"))
        out.append(_paint("dim", f"     {step.description}"))
        if step.command:
            out.append(("     $ ", _paint("fix", step.command)))
    return _assemble(out, color)


def render_outcome_human(outcome, after, *, color: bool) -> TerminalText:
    out: list = []
    done = []
    if outcome.chowned:
        done.append(f"{outcome.chowned:,} entries given back to their user")
    for old, new in outcome.renamed:
        done.append(f"moved {old} aside to {new}")
    # Only pip's own commands ran (`pip config --user set`, `pip cache remove`): the notes say which.
    summary = "; ".join(done) or ("no file in the cache was changed" if outcome.notes else "nothing was changed")
    out.append(_paint("bold", "pipdoctor fix: " + summary))
    for note in outcome.notes:
        out.append(f"  {note}")
    if outcome.skipped_count:
        out.append(_paint("warning", f"  skipped {outcome.skipped_count:,} entries:"))
        for path, reason in outcome.skipped:
            out.append(_paint("dim", f"    {path}: {reason}"))
    if outcome.journal:
        from pipdoctor.repair.outcome import undo_command

        out.append(f"  journal: {outcome.journal}  (undo: {undo_command(outcome.journal, os.geteuid() == 0)})")
    if after is not None:
        out.extend(_after_lines(after))
    return _assemble(out, color)


def _after_lines(after) -> list:
    from pipdoctor.findings import has_problem

    if not has_problem(after.findings):
        return [_paint("bold", "After the fix, the check finds no problem: pip can use its cache.")]
    return ["", _paint("warning", "After the fix, the check still finds:"), *_check_lines([after], True)]


def render_after_human(after, *, color: bool) -> TerminalText:
    """What the check finds once a fix was applied."""
    return _assemble(_after_lines(after), color)


def _check_report_json(report) -> Optional[dict]:
    return None if report is None else _account_to_json(report)


def render_fix_json(before, plan, outcome, after, exit_code: int, note: str = "") -> TerminalText:
    return _document("fix", exit_code, before=_check_report_json(before),
                     plan=plan.to_json() if plan is not None else None,
                     applied=outcome.to_json() if outcome is not None else None, after=_check_report_json(after),
                     note=note or None, findings=[finding_to_json(f) for f in (after or before).findings])


def render_undo_human(outcome, *, color: bool) -> TerminalText:
    out: list = [_paint("bold", f"pipdoctor fix --undo: {outcome.restored:,} entries restored, {outcome.already:,} "
                                f"already as they were, {outcome.skipped_count:,} skipped")]
    for note in outcome.notes:
        out.append(f"  {note}")
    for path, reason in outcome.skipped:
        out.append(_paint("dim", f"    {path}: {reason}"))
    out.append(f"  journal: {outcome.journal}")
    return _assemble(out, color)


def render_undo_json(outcome, exit_code: int) -> TerminalText:
    return _document("fix --undo", exit_code, undone=outcome.to_json(), findings=[])


def render_run_fix_json(command: str, run, diagnosis, plan, outcome, retry, retry_diagnosis, after, exit_code: int,
                        note: str = "") -> TerminalText:
    fix = None if plan is None else {
        "plan": plan.to_json(), "applied": outcome.to_json() if outcome is not None else None,
        "retry": None if retry is None else {"pip": _run_json(retry),
                                             "findings": [finding_to_json(f) for f in retry_diagnosis.findings]},
        "after": _check_report_json(after), "note": note or None}
    return render_run_json(command, run, diagnosis, exit_code, fix=fix)
