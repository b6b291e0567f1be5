# -*- coding: utf-8 -*-
# Copyright: pipdoctor's authors
# MIT License (see the repository's LICENSE / setup.cfg)
"""What the two modules share: find pipdoctor on the node, run it with --json, read its document.

pipdoctor does the work; this file only runs it and reads its JSON contract (README "JSON output",
docs/schemas/). The pure functions below take a document and return data, so the unit tests run them
without a node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

# Where the collection's `install` role puts pipdoctor (roles/install/defaults/main.yml: pipdoctor_prefix).
INSTALL_BIN_DIR = "/opt/pipdoctor/venv/bin"
# README "JSON output": schema_version changes only on an incompatible change.
SCHEMA_VERSION = 1
# README "Exit codes": 2 is a usage error or a refusal before any change; 0 and 1 are findings.
EXIT_USAGE = 2
SEVERITIES = ("error", "warning", "info")
# Every key of pipdoctor's documents that these modules and the fleet report read, by document
# (docs/schemas/NAME.schema.json in pipdoctor's repository; "*" is each item of an array). The repository's
# tests/test_fleet_modules.py fails when a schema stops requiring one of them: the modules must follow.
READS = {
    "check": (
        ("schema_version",), ("pipdoctor_version",), ("command",), ("findings", "*", "code"),
        ("findings", "*", "severity"), ("accounts", "*", "user"), ("accounts", "*", "uid"),
        ("accounts", "*", "home"), ("accounts", "*", "cache", "path"), ("accounts", "*", "findings", "*", "code"),
        ("accounts", "*", "findings", "*", "severity"), ("accounts", "*", "findings", "*", "tool"),
        ("accounts", "*", "caches", "*", "tool"), ("accounts", "*", "caches", "*", "path"),
    ),
    "fix": (
        ("schema_version",), ("command",), ("exit_code",), ("plan", "refused"), ("plan", "steps", "*", "changes_files"),
        ("applied", "journal"), ("applied", "chowned"), ("applied", "restored"), ("applied", "renamed"),
        ("before",), ("after",), ("note",), ("caches", "*", "tool"), ("caches", "*", "before"),
        ("caches", "*", "plan", "refused"), ("caches", "*", "plan", "steps", "*", "changes_files"),
        ("caches", "*", "applied", "journal"), ("caches", "*", "applied", "chowned"),
        ("caches", "*", "applied", "restored"), ("caches", "*", "applied", "renamed"), ("caches", "*", "after"),
    ),
    "fix-undo": (
        ("schema_version",), ("command",), ("exit_code",), ("undone", "journal"), ("undone", "chowned"),
        ("undone", "restored"), ("undone", "renamed"), ("journals", "*", "journal"), ("journals", "*", "chowned"),
        ("journals", "*", "restored"), ("journals", "*", "renamed"),
    ),
    "error": (("schema_version",), ("error",)),
}


class PipdoctorError(Exception):
    """pipdoctor failed (exit 2), or printed no document these modules can read; `document` when it did."""

    def __init__(self, message, document=None):
        super(PipdoctorError, self).__init__(message)
        self.document = document


def executable(module):
    """The pipdoctor to run: the `executable` option, else the role's install location, else PATH."""
    given = module.params.get("executable")
    if given:
        return given
    found = module.get_bin_path("pipdoctor", opt_dirs=[INSTALL_BIN_DIR])
    if not found:
        module.fail_json(msg="pipdoctor is neither in %s nor on PATH: install it with the role "
                             "pipdoctor.fleet.install, or give its path as executable" % INSTALL_BIN_DIR)
    return found


def command(pipdoctor, subcommand, user=None, all_users=False, tool=None, extra=()):
    """The argv of one pipdoctor run with its JSON document on stdout (README "Commands")."""
    argv = [pipdoctor, "--json", subcommand]
    if all_users:
        argv.append("--all-users")
    if user is not None:
        argv.append("--user=" + user)  # one argument: no name can pass for an option
    if tool is not None:
        argv.append("--tool=" + tool)
    argv += list(extra)
    return argv


def parse_document(rc, stdout, stderr, expected_command):
    """pipdoctor's JSON document from one run; PipdoctorError with pipdoctor's own words when it failed."""
    error_line = last_line(stderr)
    try:
        document = json.loads(stdout)
    except ValueError:
        if rc == EXIT_USAGE and error_line:  # an error before any document: pipdoctor's one line says it
            raise PipdoctorError(error_line)
        raise PipdoctorError("pipdoctor exited %d without a JSON document: %s" % (rc, error_line or "no output"))
    if not isinstance(document, dict):
        raise PipdoctorError("pipdoctor exited %d; its output is not a JSON object" % rc)
    if document.get("schema_version") != SCHEMA_VERSION:
        raise PipdoctorError(
            "pipdoctor's JSON has schema_version %r; this collection reads %d: install the pipdoctor that ships "
            "with it (role pipdoctor.fleet.install)" % (document.get("schema_version"), SCHEMA_VERSION))
    if isinstance(document.get("error"), str):  # docs/schemas/error.schema.json
        raise PipdoctorError(document["error"], document)
    if document.get("command") != expected_command:
        raise PipdoctorError("pipdoctor answered %r to %r" % (document.get("command"), expected_command), document)
    if rc == EXIT_USAGE:
        raise PipdoctorError(error_line or document.get("note") or "pipdoctor exited 2", document)
    return document


def run(module, argv, expected_command):
    """Run pipdoctor on the node and return its document; fail the task with pipdoctor's own error line."""
    # LANG: pipdoctor's messages and pip's, the same on every node whatever its locale.
    rc, stdout, stderr = module.run_command(argv, environ_update={"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
    try:
        return parse_document(rc, stdout, stderr, expected_command)
    except PipdoctorError as error:
        module.fail_json(msg=str(error), rc=rc, cmd=argv, stderr=stderr, document=error.document)


def last_line(text):
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def worst_severity(findings):
    """The most severe of the findings' severities, or None for no finding."""
    present = set(f.get("severity") for f in findings)
    for severity in SEVERITIES:
        if severity in present:
            return severity
    return None


def account_name(account):
    """The account's user name, or `uid:N` for a uid without passwd entry (README: user may be null)."""
    return account["user"] if account.get("user") is not None else "uid:%d" % account["uid"]


def needs_care(account):
    """True when the account has a warning or error finding (check's exit 1), not only info."""
    return any(f.get("severity") != "info" for f in account.get("findings", []))


def tool_of(finding):
    """The installer a finding is about (README "JSON output": `tool`, pip or uv); pip's before uv came."""
    return finding.get("tool") or "pip"


def tools_checked(account):
    """The installers whose caches were checked for the account (its `caches`, pip's first); pip before uv came."""
    return [cache.get("tool") or "pip" for cache in account.get("caches") or [{"tool": "pip"}]]


def check_summary(document):
    """accounts, the codes found (every installer's), the worst severity and the accounts that need care, from a
    check document; `tools` says the same per installer checked (pip, and uv where an account uses it)."""
    accounts = document.get("accounts", [])
    findings = [f for account in accounts for f in account.get("findings", [])]
    tools = {}
    for tool in sorted(set(t for account in accounts for t in tools_checked(account)), key=lambda t: (t != "pip", t)):
        own = [f for f in findings if tool_of(f) == tool]
        tools[tool] = {
            "accounts": sum(1 for account in accounts if tool in tools_checked(account)),
            "codes": sorted(set(f["code"] for f in own)),
            "worst": worst_severity(own),
            "needs_care": [account_name(a) for a in accounts
                           if any(tool_of(f) == tool and f.get("severity") != "info" for f in a.get("findings", []))],
        }
    return {
        "accounts": len(accounts),
        "codes": sorted(set(f["code"] for f in findings)),
        "worst": worst_severity(findings),
        "needs_care": [account_name(a) for a in accounts if needs_care(a)],
        "tools": tools,
    }


def changes_planned(plan):
    """True when a fix plan has a step that changes files (a dry run's `would change`)."""
    if not plan or plan.get("refused"):
        return False
    return any(step.get("changes_files") for step in plan.get("steps", []))


def changed_by(outcome):
    """True when a fix's `applied` or an undo's `undone` changed an owner or a name."""
    if not outcome:
        return False
    return bool(outcome.get("chowned") or outcome.get("restored") or outcome.get("renamed"))


def fix_caches(document):
    """Each cache a `fix` document covered (its `caches`, in the order applied); pip's alone before uv came."""
    return document.get("caches") or [{"tool": "pip", "before": document.get("before"), "plan": document.get("plan"),
                                       "applied": document.get("applied"), "after": document.get("after")}]


def fix_result(document, check_mode):
    """The fix module's result from a `fix` document: the first cache with a plan at the top level, as pipdoctor
    puts it, and `tools` with each cache's (pip's, uv's); changed when any cache changed (would, in check mode)."""
    tools = {}
    for cache in fix_caches(document):
        plan, applied = cache.get("plan"), cache.get("applied")
        tools[cache["tool"]] = {
            "changed": changes_planned(plan) if check_mode else changed_by(applied),
            "planned_changes": changes_planned(plan),
            "plan": plan,
            "applied": applied,
            "journal": (applied or {}).get("journal"),
            "before": cache.get("before"),
            "after": cache.get("after"),
        }
    applied = document.get("applied")
    return {
        "changed": any(tool["changed"] for tool in tools.values()),
        "planned_changes": any(tool["planned_changes"] for tool in tools.values()),
        "plan": document.get("plan"),
        "applied": applied,
        "journal": (applied or {}).get("journal"),
        "before": document.get("before"),
        "after": document.get("after"),
        "note": document.get("note"),
        "exit_code": document.get("exit_code"),
        "tools": tools,
    }


def undo_result(document):
    """The fix module's result from a `fix --undo` document: every journal undone (one per cache the fix
    changed, newest first; only `undone` before uv came), changed when any of them changed something."""
    undone = document.get("undone")
    journals = document.get("journals") or ([undone] if undone else [])
    return {
        "changed": any(changed_by(outcome) for outcome in journals),
        "undone": undone,
        "journals": journals,
        "journal": (undone or {}).get("journal"),
        "exit_code": document.get("exit_code"),
    }
