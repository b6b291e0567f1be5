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


def render_json(command: str, findings: Sequence[Finding], exit_code: int, **extra) -> str:
    document = {
        "schema_version": SCHEMA_VERSION,
        "pipdoctor_version": __version__,
        "command": command,
        **extra,
        "exit_code": exit_code,
        "findings": [finding_to_json(f) for f in findings],
    }
    return json.dumps(document, indent=2) + "\n"


def write(fd: int, text: str) -> None:
    """Write straight to a file descriptor, as pip's bytes are: nothing buffers between pip and the report."""
    data = text.encode("utf-8", "replace")
    while data:
        written = os.write(fd, data)
        data = data[written:]
