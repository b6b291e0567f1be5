"""Renders findings for people (colored on a terminal, every name escaped) and for scripts (one versioned JSON
object)."""

from __future__ import annotations

import json
import os
from typing import Mapping, Optional, Sequence

from pipdoctor import __version__
from pipdoctor.findings import Finding, fix_acts_on
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


# The root cause's evidence shown in full; the rest is counted (--json has every line).
_EVIDENCE_SHOWN = 4


def _title(finding: Finding) -> tuple:
    return (_paint(finding.severity.value, f"{finding.severity.value} {finding.code}"), " ",
            _paint("bold", finding.name))


def _cause_lines(finding: Finding, cures: Sequence) -> list:
    """The root cause for a person, in the order they act on it: what broke, the evidence, the one fix that
    works (the first: remediation orders them), pipdoctor's own cure, then the other ways and why."""
    lines = [_title(finding), f"  {finding.message}"]
    if finding.evidence:
        lines.append("  evidence:")
        for item in finding.evidence[:_EVIDENCE_SHOWN]:
            where = f"line {item.line}: " if item.line is not None else ""
            lines.append(_paint("dim", f"    {where}{item.text}"))
        if len(finding.evidence) > _EVIDENCE_SHOWN:
            lines.append(_paint("dim", f"    ... and {len(finding.evidence) - _EVIDENCE_SHOWN} more (--json shows "
                                       "them all)"))
    if finding.fixes:
        first, others = finding.fixes[0], finding.fixes[1:]
        lines += ["  fix:", ("    ", _paint("fix", first.command)), _paint("dim", f"      {_fix_note(first)}")]
    else:
        others = ()
    if cures:
        lines.append("  or let pipdoctor cure it (you confirm each change; `pipdoctor fix --undo` reverts it):")
        # A shell comment after the command: the line can be pasted as it is.
        lines += [("    ", _paint("fix", command), _paint("dim", f"  # {what}")) for command, what in cures]
    if others:
        lines.append("  other ways:")
        lines += [("    ", _paint("fix", fix.command)) + (() if fix.safe else (_paint("dim", "  # review before "
                                                                                          "running"),))
                  for fix in others]
    if finding.why:
        lines.append(f"  why: {finding.why}")
    lines.append(_paint("dim", f"  more: pipdoctor explain {finding.code}"))
    return lines


def _fix_note(fix) -> str:
    return fix.description if fix.safe else f"{fix.description} (review before running)"


def _folded(finding: Finding, cause: Finding) -> tuple:
    """Another finding in one line. A build failure after another cause follows from it (the cache or the disk
    that failed made the build fail): it is said so, never shown as a second cause."""
    if finding.code == "PD304" and cause.code != "PD304":
        return ("  ", _paint("dim", f"then {finding.code} {finding.name}: "
                                    f"pip's build failure follows from {cause.code}, it is not a second cause"))
    return ("  ", _paint(finding.severity.value, f"{finding.severity.value} {finding.code}"),
            f" {finding.name}: {finding.message}")


def render_human(findings: Sequence[Finding], *, color: bool, headline: Optional[str] = None, cures: Sequence = (),
                 also: Sequence[Finding] = ()) -> TerminalText:
    """A report shaped for a person: the root cause (findings[0]) in full on the first screen, with `cures`
    ((command, what it does) pairs: pipdoctor's own cure); what else pip's output shows, then `also` (what
    the check of the machine found), one line each."""
    out: list = [_paint("bold", headline)] if headline else []
    if not findings:
        return _assemble(out, color)
    cause = findings[0]
    out += _cause_lines(cause, cures)
    rest = [*findings[1:], *also]
    if rest:
        out += ["", _paint("bold", "Also found" + (" (one line each; `pipdoctor check` shows the machine's in full):"
                                                   if also else ":"))]
        out += [_folded(finding, cause) for finding in rest]
    return _assemble(out, color)


def run_cures(pip_args: Sequence[str], python: Optional[str] = None) -> list:
    """pipdoctor's own cure of a cache problem, as commands to paste: the same pip command with --fix (the plan,
    confirmed, then pip again), and `pipdoctor fix` (the plan only). Every argument shell-quoted."""
    from pipdoctor.safety import shell_quote

    own = f"--python {shell_quote(python)} " if python else ""
    args = " ".join(shell_quote(arg) for arg in pip_args[1:])
    rerun = (f"pipdoctor {own}{shell_quote(pip_args[0])} --fix {args}" if pip_args[0] == "install"
             else f"pipdoctor {own}--fix {' '.join(shell_quote(arg) for arg in pip_args)}")
    return [(rerun.rstrip(), "cure the cache, then run pip again"), ("pipdoctor fix", "only cure the cache")]


def uv_run_cures(check, uv_args: Sequence[str], uv: Optional[str] = None) -> list:
    """pipdoctor's own cure of uv's cache after a uv run (`check`: the live check of it, None when it could not
    run): the same uv command with --fix (the plan, confirmed, then uv again), `pipdoctor fix` of uv's cache as
    the user (moves the foreign entries aside, no root) and, for a user with a name, root's `fix --user` (gives
    them back). Every argument shell-quoted."""
    from pipdoctor.remediation import fix_args
    from pipdoctor.safety import shell_quote

    facts = check.facts if check is not None else None
    args = " ".join(shell_quote(a) for a in (fix_args(facts) if facts is not None else ("--tool", "uv")))
    own = f"--uv {shell_quote(uv)} " if uv else ""
    cures = [(f"pipdoctor --fix {own}uv {' '.join(shell_quote(a) for a in uv_args)}".rstrip(),
              "cure uv's cache, then run uv again"),
             (f"pipdoctor fix {args}", "only cure uv's cache (no root: the foreign entries are moved aside)")]
    account = facts.account if facts is not None else None
    if account is not None and account.uid != 0 and account.user is not None:
        cures.append((f"sudo pipdoctor fix {args} --user {shell_quote(account.user)}",
                      "as root: give them back to you (journaled, undone with --undo)"))
    return cures


# On the machine the log came from: `explain` has no pip command to run again.
EXPLAIN_CURES = {"pip": (("pipdoctor fix", "on the machine where pip ran: cure the cache"),),
                 "uv": (("pipdoctor fix --tool uv", "on the machine where uv ran: cure uv's cache"),)}


def finding_to_json(finding: Finding) -> dict:
    return {
        "code": finding.code,
        "tool": finding.tool,
        "name": finding.name,
        "severity": finding.severity.value,
        "message": finding.message,
        "why": finding.why,
        "paths": list(finding.paths),
        "evidence": [{"line": e.line, "text": e.text} for e in finding.evidence],
        "fixes": [{"command": f.command, "description": f.description, "safe": f.safe} for f in finding.fixes],
        "facts": _facts_json(finding.facts),
        "doc": finding.doc_path,
    }


def _facts_json(value):
    """What a rule read (Finding.facts) as plain JSON values: an owner as {name, uid, gid, group}, a record as
    an object, tuples as arrays."""
    if isinstance(value, (str, int, float)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(key): _facts_json(item) for key, item in value.items()}
    if hasattr(value, "_asdict"):
        fields = value._asdict()
        if {"uid", "gid", "user", "group"} <= set(fields):
            return _owner_json(value)
        return {key: _facts_json(item) for key, item in fields.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_facts_json(item) for item in value]
    return str(value)


def _owner_json(owner) -> Optional[dict]:
    if owner is None:
        return None
    return {"name": owner.user, "uid": owner.uid, "gid": owner.gid, "group": owner.group}


def _document(command: str, exit_code: int, **body) -> TerminalText:
    """Every --json document: versioned, the command and pipdoctor's exit status, then the command's own keys."""
    return _dump({"schema_version": SCHEMA_VERSION, "pipdoctor_version": __version__, "command": command,
                  "exit_code": exit_code, **body})


def _dump(document: dict) -> TerminalText:
    """json.dumps escapes every character that is not printable ASCII, so the text is terminal-safe as it is;
    names that are not UTF-8 are encoded once for the whole document (_exact_strings)."""
    raw: dict = {}
    document = _exact_strings(document, "", raw)
    document["raw_bytes"] = raw
    return TerminalText(json.dumps(document, indent=2) + "\n")


def _exact_strings(node, pointer: str, raw: dict):
    """One encoding for every string of a document (README, "JSON output"): a name whose bytes are not UTF-8
    (os.fsdecode keeps each such byte as a lone surrogate, PEP 383) is shown with those bytes as \\xNN, as the
    terminal and `ls -b` show them, and its exact bytes go to `raw_bytes`, base64, keyed by the string's JSON
    Pointer (RFC 6901). Lone surrogates never reach the document: RFC 8259 section 8.2 leaves their meaning
    to each parser (some refuse the whole document, some put U+FFFD in their place)."""
    if isinstance(node, str):
        if node.isascii():
            return node
        try:
            node.encode("utf-8")
            return node
        except UnicodeEncodeError:
            pass
        try:
            exact = node.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate no file name makes (os.fsdecode gives U+DC80..U+DCFF only)
            return node.encode("utf-8", "backslashreplace").decode("utf-8")
        import base64

        raw[pointer] = base64.b64encode(exact).decode("ascii")
        return exact.decode("utf-8", "backslashreplace")
    if isinstance(node, dict):
        return {key: _exact_strings(value, f"{pointer}/{_pointer_token(key)}", raw) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return [_exact_strings(value, f"{pointer}/{index}", raw) for index, value in enumerate(node)]
    return node


def _pointer_token(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def render_error_json(message: str, exit_code: int) -> TerminalText:
    """A usage or input error under --json (docs/schemas/error.schema.json): the message cli prints on stderr."""
    return _dump({"schema_version": SCHEMA_VERSION, "pipdoctor_version": __version__, "error": message,
                  "exit_code": exit_code})


def render_json(command: str, findings: Sequence[Finding], exit_code: int, **extra) -> TerminalText:
    return _document(command, exit_code, **extra, findings=[finding_to_json(f) for f in findings])


def render_run_json(command: str, run, diagnosis, exit_code: int, installer: str = "pip", **extra) -> TerminalText:
    """A pip or uv command's document: the installer's run (under the key "pip" or "uv"), the root cause (null
    when its output shows none), the findings, and the live check's account (its cache's counts, sizes, owners
    and mount as fields) when it ran."""
    cause = diagnosis.root_cause
    return render_json(command, diagnosis.findings, exit_code, **{installer: _run_json(run)},
                       root_cause=cause.code if cause else None, check=_check_report_json(diagnosis.check), **extra)


def _run_json(run) -> dict:
    return {"command": list(run.command), "exit_code": run.returncode}


# --- pipdoctor check ----------------------------------------------------------------------------------

_GROUPS = (("error", "Errors"), ("warning", "Warnings"), ("info", "Info"))


def _caches(item) -> tuple:
    """The per-installer reports of one account's check (diagnose.AccountCheck), or the one report given (fix,
    a run's live check: diagnose.AccountReport)."""
    return getattr(item, "caches", None) or (item,)


def _check_header(report, first: bool) -> _Span:
    """pip's line as it always was; uv's after pip's is a part of the same account's check."""
    if report.cache_disabled or report.cache_path is None:
        cache = f"off ({report.cache_source})"
    elif report.disabled_by == "ownership":
        cache = f"{report.cache_path} ({report.cache_source}), which pip will not use (PD102)"
    else:
        cache = f"{report.cache_path} ({report.cache_source})"
    if not first:
        return _paint("bold", f"{report.tool} cache: {cache}")
    return _paint("bold", f"pipdoctor check: {_who(report)}, {'' if report.tool == 'pip' else report.tool + ' '}"
                          f"cache {cache}")


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
    """What the walk of the cache could not reach, and why (cachewalk.CacheWalk), or None when not walked."""
    walk = getattr(report.facts, "walk", None)
    if walk is None:
        return None
    return {"count": walk.not_reached_count, "reasons": dict(walk.not_reached),
            "samples": [{"path": path, "error": reason} for path, reason in walk.not_reached_samples]}


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


def _fix_command(report) -> Optional[str]:
    """`pipdoctor fix` for the account checked: as itself, or as root with --user NAME (None: an account
    without passwd entry, which `fix --user` cannot name)."""
    from pipdoctor.safety import shell_quote

    tool = "" if report.tool == "pip" else f" --tool {report.tool}"
    if report.facts is None or report.facts.account.is_self:
        return "pipdoctor fix" + tool
    return f"pipdoctor fix{tool} --user {shell_quote(report.user)}" if report.user is not None else None


def _check_account_lines(item, fixes: bool, cure: bool = False) -> list:
    """One account: each installer's cache in turn (pip's first), the findings numbered on across them."""
    out: list = []
    first = 1
    for index, report in enumerate(_caches(item)):
        if index:
            out.append("")
        out += _check_cache_lines(report, fixes, cure, first=first, head=not index)
        first += len(report.findings)
    return out


def _check_cache_lines(report, fixes: bool, cure: bool, first: int, head: bool) -> list:
    out: list = [_check_header(report, head)]
    not_reached = _not_reached_line(report)
    if not_reached:
        out.append(_paint("warning", not_reached))
    findings = list(report.findings)
    if not any(f.severity.value != "info" for f in findings):
        out.append(f"No problems found: {report.tool} can use its cache." if not report.cache_disabled
                   else "No problems found.")
    numbered = {id(f): index for index, f in enumerate(sorted(findings, key=lambda f: f.severity.rank), first)}
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
    curable = cure and any(fix_acts_on(f) and f.severity.value != "info" for f in findings)
    command = _fix_command(report) if curable else None
    if command:
        out += ["", _paint("bold", "Or let pipdoctor cure it (you confirm each change; `pipdoctor fix --undo` "
                                   "reverts it):"), ("  ", _paint("fix", command))]
    return out


def _check_lines(reports: Sequence, fixes: bool, summary: bool = False, cure: bool = False) -> list:
    """Each account in full; after a summary only those with findings (its line says the others are fine)."""
    out: list = _summary_lines(reports) if summary and reports else []
    shown = [r for r in reports if r.findings or any(map(_not_reached_line, _caches(r)))] if out else reports
    for index, report in enumerate(shown):
        if index or out:
            out.append("")
            out.append(_paint("dim", "-" * 72))
        out.extend(_check_account_lines(report, fixes, cure))
    if not reports:
        out.append("pipdoctor check: no account to check.")
    return out


def _who(report) -> str:
    return f"{report.user} (uid {report.uid})" if report.user is not None else f"uid {report.uid} (no passwd entry)"


def _summary_lines(reports: Sequence) -> list:
    """--all-users: one line per account first, those with problems marked, then the details account by
    account."""
    troubled = [r for r in reports if any(f.severity.value != "info" for f in r.findings)]
    out: list = [_paint("bold", f"pipdoctor check: {len(reports)} accounts, {len(troubled)} with problems")]
    for item in reports:
        parts = []
        for report in _caches(item):
            counts = [f"{n} {severity}{'s' if n > 1 else ''}" for severity, n in
                      ((s, sum(f.severity.value == s for f in report.findings)) for s, _ in _GROUPS[:2]) if n]
            codes = ", ".join(dict.fromkeys(f.code for f in report.findings if f.severity.value != "info"))
            if counts:  # pip's as it always was, another installer's named
                parts.append(("" if report.tool == "pip" else f"{report.tool}'s cache has ")
                             + f"{', '.join(counts)} ({codes})")
        worst = min((f for f in item.findings if f.severity.value != "info"), key=lambda f: f.severity.rank,
                    default=None)
        if worst is not None:
            out.append(("  ", _paint(worst.severity.value, "!"), f" {_who(item)}: {'; '.join(parts)}"))
        else:
            out.append(f"    {_who(item)}: no problems")
    return out


def render_check_human(reports: Sequence, *, color: bool, fixes: bool = True, summary: bool = False,
                       cure: bool = False) -> TerminalText:
    """`pipdoctor check`'s report: with `summary` (--all-users) one line per account first; per account, findings
    grouped by severity, the fix commands last (not when `fix` prints its plan instead), and with `cure` the
    `pipdoctor fix` that cures what it can."""
    return _assemble(_check_lines(reports, fixes, summary, cure), color)


def _account_to_json(item) -> dict:
    """One account (diagnose.AccountCheck, or one installer's AccountReport): `caches` has one object per
    installer checked ({"tool": ..., and the cache's fields}), pip's first; `cache` is the first of them without
    "tool", as it always was (pip's; uv's when only uv's was checked); `findings` all of them, each with its
    `tool`."""
    caches = _caches(item)
    first = caches[0]
    facts = next((r.facts for r in caches if r.facts is not None), None)
    objects = [{"tool": report.tool, **_cache_to_json(report)} for report in caches]
    return {
        "user": first.user,
        "uid": first.uid,
        "home": first.home,
        "home_owner": _owner_json(facts.home.owner) if facts is not None else None,
        "cache": _cache_to_json(first),
        "caches": objects,
        "findings": [finding_to_json(f) for report in caches for f in report.findings],
    }


def _cache_to_json(report) -> dict:
    return {"path": report.cache_path, "disabled": report.disabled_by is not None,
            "disabled_by": report.disabled_by, "source": report.cache_source, "not_reached": _not_reached(report),
            **_cache_facts_json(report.facts)}


def _cache_facts_json(facts) -> dict:
    """The cache's facts as fields (checkfacts.CheckFacts): the root's owner and mode, the walk's counts and
    sizes with the foreign owners, and the filesystem it is on. Null where the check did not read them."""
    if facts is None:
        return {"owner": None, "mode": None, "usage": None, "mount": None}
    root = facts.root
    at_root = root is not None and root.existing == facts.cache_path and root.kind != "missing"
    walk, mount = facts.walk, facts.mount
    usage = None if walk is None else {
        "entries": walk.entries, "dirs": walk.dirs, "files": walk.files, "symlinks": walk.symlinks,
        "size": walk.size, "mount_points": walk.mount_points, "hard_links": walk.hard_links,
        "specials": walk.specials,
        "foreign": {
            "entries": walk.foreign_entries, "size": walk.foreign_size,
            "dirs_unwritable": walk.foreign_dirs_unwritable,
            "owners": [{**_owner_json(owner), "entries": count} for owner, count in walk.foreign_owners],
            "areas": [{"name": name, "entries": count, "size": size} for name, count, size in walk.foreign_areas],
            "subtree_count": walk.foreign_subtree_count,
            "subtrees": [{"path": sub.path, "owner": _owner_json(sub.owner), "mode": sub.mode, "is_dir": sub.is_dir,
                          "entries": sub.entries, "size": sub.size} for sub in walk.foreign_subtrees]}}
    return {"owner": _owner_json(root.owner) if at_root else None, "mode": root.mode if at_root else None,
            "usage": usage, "mount": None if mount is None else {
                "path": mount.path, "mountpoint": mount.mountpoint, "device": mount.device,
                "fstype": mount.fstype, "options": list(mount.options), "read_only": mount.read_only,
                "noexec": mount.noexec, "free_bytes": mount.free_bytes, "total_bytes": mount.total_bytes,
                "free_inodes": mount.free_inodes, "total_inodes": mount.total_inodes}}


def render_check_json(reports: Sequence, exit_code: int) -> TerminalText:
    """`accounts` for every account; `findings` is the account's findings for a single-account check, every
    account's findings in account order for --all-users."""
    return _document("check", exit_code, accounts=[_account_to_json(r) for r in reports],
                     findings=[finding_to_json(f) for r in reports for f in r.findings])


# --- pipdoctor fix ---------------------------------------------------------------------------------------


def render_fix_human(plan, *, color: bool) -> TerminalText:
    """The plan: each step, the finding it cures, the equivalent shell command, and whether it needs root."""
    return render_plans_human([plan], color=color)


def render_plans_human(plans: Sequence, *, color: bool) -> TerminalText:
    """One plan for every cache a fix covers (pip's, uv's), numbered through: per cache its header, then each
    step with whose cache it is about."""
    out: list = []
    number = 0
    for plan in plans:
        who = plan.user or f"uid {plan.uid}"
        count = len(plan.changes)
        root = "needs root" if plan.needs_root else "no root needed"
        out.append(_paint("bold", f"pipdoctor fix: plan for {who}'s {plan.tool} cache {plan.cache_root or '(none)'}"
                                  f" ({count} {'change' if count == 1 else 'changes'}, {root})"))
        if plan.refused:
            out.append(_paint("warning", f"  {plan.refused}"))
        for step in plan.steps:
            number += 1
            root = "needs root" if step.needs_root else "no root"
            change = "changes files" if step.changes_files else "no change by pipdoctor"
            out.append((f"  {number}. ", _paint("bold", step.kind),
                        f" ({step.tool}'s cache; cures {', '.join(step.cures)}; {root}; {change})"))
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
        return [_paint("bold", f"After the fix, the check finds no problem: {after.tool} can use its cache.")]
    return ["", _paint("warning", "After the fix, the check still finds:"), *_check_lines([after], True)]


def render_after_human(after, *, color: bool) -> TerminalText:
    """What the check finds once a fix was applied."""
    return _assemble(_after_lines(after), color)


def _check_report_json(report) -> Optional[dict]:
    return None if report is None else _account_to_json(report)


def render_fix_json(caches: Sequence, exit_code: int, note: str = "") -> TerminalText:
    """`before`, `plan`, `applied` and `after` are the first cache's with a plan (else the first cache's: pip's
    when the fix covers it, as before uv came); `caches` holds them for every cache the fix covered, in the
    order applied (fixing.CacheFix); `findings` are every cache's, after the fix where it was applied."""
    lead = next((cache for cache in caches if cache.plan.steps), caches[0])
    return _document("fix", exit_code, **_cache_fix_json(lead, with_tool=False), note=note or None,
                     caches=[_cache_fix_json(cache) for cache in caches],
                     findings=[finding_to_json(f) for cache in caches for f in (cache.after or cache.before).findings])


def _cache_fix_json(cache, with_tool: bool = True) -> dict:
    body = {"before": _check_report_json(cache.before), "plan": cache.plan.to_json(),
            "applied": cache.outcome.to_json() if cache.outcome is not None else None,
            "after": _check_report_json(cache.after)}
    return {"tool": cache.plan.tool, **body} if with_tool else body


def render_undo_human(outcomes: Sequence, *, color: bool) -> TerminalText:
    """Each journal undone (one per cache the fix changed), newest first."""
    out: list = []
    for outcome in outcomes:
        out.append(_paint("bold", f"pipdoctor fix --undo: {outcome.restored:,} entries restored, {outcome.already:,} "
                                  f"already as they were, {outcome.skipped_count:,} skipped"))
        for note in outcome.notes:
            out.append(f"  {note}")
        for path, reason in outcome.skipped:
            out.append(_paint("dim", f"    {path}: {reason}"))
        out.append(f"  journal: {outcome.journal}")
    return _assemble(out, color)


def render_undo_json(outcomes: Sequence, exit_code: int) -> TerminalText:
    """`undone` is the newest journal's (the only one before uv came); `journals` every journal undone."""
    return _document("fix --undo", exit_code, undone=outcomes[0].to_json(),
                     journals=[outcome.to_json() for outcome in outcomes], findings=[])


def render_run_fix_json(args: Sequence[str], run, diagnosis, plan, outcome, retry, retry_diagnosis, after,
                        exit_code: int, installer: str = "pip", note: str = "") -> TerminalText:
    """`--fix install ...` (command: pip's, runs under "pip") or `--fix uv ...` (command "uv", runs under "uv"):
    the run's document plus `fix`."""
    fix = None if plan is None else {
        "plan": plan.to_json(), "applied": outcome.to_json() if outcome is not None else None,
        "retry": None if retry is None else {installer: _run_json(retry),
                                             "findings": [finding_to_json(f) for f in retry_diagnosis.findings]},
        "after": _check_report_json(after), "note": note or None}
    command = args[0] if installer == "pip" else installer
    return render_run_json(command, run, diagnosis, exit_code, installer, fix=fix)
