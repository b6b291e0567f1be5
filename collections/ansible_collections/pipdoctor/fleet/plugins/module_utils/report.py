# -*- coding: utf-8 -*-
# Copyright: pipdoctor's authors
# MIT License (see the repository's LICENSE / setup.cfg)
"""The fleet report: every host's pip_cache_info result gathered into one document and one table (pure)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pipdoctor.fleet.plugins.module_utils.pipdoctor import (
    SEVERITIES,
    account_name,
    tool_of,
    worst_severity,
)

REPORT_VERSION = 1
# Rows worst first: hosts that could not be checked, then by their worst finding, clean hosts last.
_RANK = {"unreachable": 0, "failed": 1, "error": 2, "warning": 3, "info": 4, None: 5}


def host_entry(result):
    """One host of the report from its registered pip_cache_info result (ignore_unreachable/ignore_errors)."""
    if not isinstance(result, dict) or not result:
        return {"status": "failed", "message": "no result (the host was not checked)", "worst": None, "accounts": {}}
    if result.get("unreachable"):
        return {"status": "unreachable", "message": result.get("msg"), "worst": None, "accounts": {}}
    document = (result.get("ansible_facts") or {}).get("pipdoctor")
    if result.get("failed") or result.get("skipped") or not isinstance(document, dict):
        message = result.get("msg") or ("skipped" if result.get("skipped") else "no pipdoctor document")
        return {"status": "failed", "message": message, "worst": None, "accounts": {}}
    accounts = {}
    for account in document.get("accounts", []):
        cache = account.get("cache") or {}
        accounts[account_name(account)] = {
            "uid": account.get("uid"),
            "home": account.get("home"),
            "cache": cache.get("path"),
            # each installer's cache checked, pip's first (uv's where the account uses uv)
            "caches": [{"tool": c.get("tool") or "pip", "path": c.get("path")}
                       for c in account.get("caches") or [dict(cache, tool="pip")]],
            "findings": account.get("findings", []),
        }
    return {
        "status": "ok",
        "message": None,
        "pipdoctor_version": document.get("pipdoctor_version"),
        "worst": worst_severity(document.get("findings", [])),
        "accounts": accounts,
    }


def column(finding):
    """A finding's column in the table and key in `hosts_by_tool`'s counts: its code, with the installer named
    when it is not pip (uv:PD103), so a uv cache problem is never read as pip's."""
    tool = tool_of(finding)
    return finding["code"] if tool == "pip" else "%s:%s" % (tool, finding["code"])


def build_report(results):
    """{host: registered result} -> the fleet report: host -> accounts -> findings, and a summary.
    `hosts_by_code` counts the hosts with a code in any installer's cache, `hosts_by_tool` per installer."""
    hosts = dict((str(name), host_entry(result)) for name, result in sorted(results.items()))
    codes, by_tool = {}, {}
    for entry in hosts.values():
        findings = [f for a in entry["accounts"].values() for f in a["findings"]]
        for code in set(f["code"] for f in findings):
            codes[code] = codes.get(code, 0) + 1
        for tool, code in set((tool_of(f), f["code"]) for f in findings):
            by_tool.setdefault(tool, {})[code] = by_tool.get(tool, {}).get(code, 0) + 1
    return {
        "report_version": REPORT_VERSION,
        "hosts": hosts,
        "summary": {
            "hosts": len(hosts),
            "checked": sorted(h for h, e in hosts.items() if e["status"] == "ok"),
            "unreachable": sorted(h for h, e in hosts.items() if e["status"] == "unreachable"),
            "failed": sorted(h for h, e in hosts.items() if e["status"] == "failed"),
            "hosts_by_code": dict(sorted(codes.items())),
            "hosts_by_tool": dict((tool, dict(sorted(counts.items()))) for tool, counts in sorted(by_tool.items())),
        },
    }


def _code_order(report):
    """Every column of the report (a code, uv:CODE for uv's), the most severe first, then pip's before uv's, then
    by code."""
    severity_of = {}
    for entry in report["hosts"].values():
        for account in entry["accounts"].values():
            for finding in account["findings"]:
                rank = SEVERITIES.index(finding["severity"]) if finding["severity"] in SEVERITIES else len(SEVERITIES)
                severity_of[column(finding)] = min(rank, severity_of.get(column(finding), rank))
    return sorted(severity_of, key=lambda label: (severity_of[label], ":" in label, label))


def _problems(entry):
    return sum(1 for a in entry["accounts"].values() for f in a["findings"] if f["severity"] != "info")


def host_order(report):
    """Host names worst first (see _RANK), then by how many warning/error findings, then by name."""
    hosts = report["hosts"]

    def key(name):
        entry = hosts[name]
        rank = _RANK[entry["status"]] if entry["status"] != "ok" else _RANK[entry["worst"]]
        return (rank, -_problems(entry), name)

    return sorted(hosts, key=key)


def render_table(report):
    """A table a person can read: one row per host (worst first), one column per code (most severe first; uv's
    codes as uv:CODE); a cell counts the host's accounts with that code."""
    codes = _code_order(report)
    header = ["host", "status", "worst", "accounts"] + codes
    rows = []
    for name in host_order(report):
        entry = report["hosts"][name]
        counts = []
        for code in codes:
            n = sum(1 for a in entry["accounts"].values() if any(column(f) == code for f in a["findings"]))
            counts.append(str(n) if n else ".")
        status = entry["status"]
        rows.append([_printable(name), status, entry["worst"] or "-", str(len(entry["accounts"])) if status == "ok"
                     else "-"] + counts)
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header] + rows]
    notes = ["%s: %s %s" % (_printable(name), report["hosts"][name]["status"],
                            _printable(report["hosts"][name]["message"] or ""))
             for name in host_order(report) if report["hosts"][name]["status"] != "ok"]
    summary = report["summary"]
    lines += ["", "%d hosts: %d checked, %d unreachable, %d failed" % (
        summary["hosts"], len(summary["checked"]), len(summary["unreachable"]), len(summary["failed"]))]
    return "\n".join(lines + notes) + "\n"


def _printable(text):
    """Text for a terminal: control characters escaped as repr shows them (README: names are shown escaped)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text).replace("\n", " ").strip())
