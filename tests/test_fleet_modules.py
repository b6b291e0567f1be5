"""The collection's modules on their own: the keys they read are the ones pipdoctor's JSON Schemas require,
their pure parts (summary, changed, the fleet report), and the modules run as Ansible runs them on a node,
with a real pipdoctor (sealed, as root) for check, fix, a second fix and undo, of pip's cache and of pip's and
uv's together."""

from __future__ import annotations

import json
import os
import sys
import tarfile

import pytest

from tests import fixkit, fleetkit, sandbox
from tests.checkkit import pipdoctor_bin, with_pip

sys.path.insert(0, str(fleetkit.COLLECTIONS))
from ansible_collections.pipdoctor.fleet.plugins.module_utils import pipdoctor, report  # noqa: E402

SCHEMAS = sandbox.REPO / "docs" / "schemas"
SYSTEM_PYTHON = "/usr/bin/python3"


def _schemas() -> dict:
    return {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")}


def _resolve(node: dict, file: str, schemas: dict) -> list:
    """The object schemas a node stands for: $ref followed, allOf merged, oneOf's non-null branches."""
    if "$ref" in node:
        target, _, pointer = node["$ref"].partition("#")
        file = target or file
        resolved = schemas[file]
        for part in pointer.strip("/").split("/") if pointer else []:
            resolved = resolved[part]
        return _resolve(resolved, file, schemas)
    found = [(node, file)] if ("properties" in node or "required" in node or "items" in node) else []
    for combined in node.get("allOf", []) + node.get("oneOf", []):
        found += _resolve(combined, file, schemas)
    return found


def _required_path(document: str, path: tuple, schemas: dict) -> list:
    """The problems with one READS path: each key must be required (and described) where the modules read it."""
    nodes = _resolve(schemas[f"{document}.schema.json"], f"{document}.schema.json", schemas)
    for key in path:
        if key == "*":
            nodes = [r for node, file in nodes if "items" in node for r in _resolve(node["items"], file, schemas)]
        else:
            if not any(key in node.get("required", ()) for node, _ in nodes):
                return [f"{document}: {'.'.join(path)}: {key!r} is not required"]
            nodes = [r for node, file in nodes
                     for r in _resolve(node.get("properties", {}).get(key, {}), file, schemas)]
        if not nodes and key != path[-1]:
            return [f"{document}: {'.'.join(path)}: nothing below {key!r}"]
    return []


@pytest.fixture(scope="module")
def ansible():
    return fleetkit.ansible_venv()


@pytest.fixture
def user():
    with sandbox.unprivileged_user("pfl") as made:
        yield made


def test_the_keys_the_modules_read_are_required_by_the_schemas():
    schemas = _schemas()
    assert set(pipdoctor.READS) <= {name[: -len(".schema.json")] for name in schemas}
    problems = [p for document, paths in pipdoctor.READS.items() for path in paths
                for p in _required_path(document, path, schemas)]
    assert not problems, "\n".join(problems)


def test_a_dropped_key_is_caught():
    """The check above can fail: a schema without `accounts.*.uid` (say, renamed) is reported."""
    schemas = _schemas()
    account = schemas["common.schema.json"]["$defs"]["account"]
    account["required"] = [k for k in account["required"] if k != "uid"]
    assert _required_path("check", ("accounts", "*", "uid"), schemas) == [
        "check: accounts.*.uid: 'uid' is not required"]


def finding(code, severity="error", tool="pip"):
    return {"code": code, "tool": tool, "severity": severity, "name": "x", "message": "m", "why": "w", "paths": [],
            "evidence": [], "fixes": [], "doc": ""}


def account(user, uid, *findings, uv=False):
    """A check account: pip's cache, and uv's too with `uv` (as `check` reports it where the account uses uv)."""
    pip = {"path": f"/home/{user}/.cache/pip", "disabled": False, "source": "default"}
    caches = [{"tool": "pip", **pip}] + ([{"tool": "uv", "path": f"/home/{user}/.cache/uv", "disabled": False,
                                           "source": "platform default"}] if uv else [])
    return {"user": user, "uid": uid, "home": f"/home/{user}", "findings": list(findings), "cache": pip,
            "caches": caches}


def check_document(*accounts):
    return {"schema_version": 1, "pipdoctor_version": "0.1.0", "command": "check", "exit_code": 1,
            "accounts": list(accounts), "findings": [f for a in accounts for f in a["findings"]]}


def test_check_summary():
    doc = check_document(account("alice", 1000, finding("PD103"), finding("PD109", "info")),
                         account(None, 1234, finding("PD102", "warning")),
                         account("bob", 1001, finding("PD109", "info")))
    pip_only = {"accounts": 3, "codes": ["PD102", "PD103", "PD109"], "worst": "error",
                "needs_care": ["alice", "uid:1234"]}
    assert pipdoctor.check_summary(doc) == {**pip_only, "tools": {"pip": {**pip_only}}}
    assert pipdoctor.check_summary(check_document(account("bob", 1001))) == {
        "accounts": 1, "codes": [], "worst": None, "needs_care": [],
        "tools": {"pip": {"accounts": 1, "codes": [], "worst": None, "needs_care": []}}}


def test_check_summary_counts_uv_s_findings_naming_the_tool():
    doc = check_document(account("alice", 1000, finding("PD109", "info"), finding("PD103", tool="uv"), uv=True),
                         account("bob", 1001, finding("PD103")))
    assert pipdoctor.check_summary(doc) == {
        "accounts": 2, "codes": ["PD103", "PD109"], "worst": "error", "needs_care": ["alice", "bob"],
        "tools": {"pip": {"accounts": 2, "codes": ["PD103", "PD109"], "worst": "error", "needs_care": ["bob"]},
                  "uv": {"accounts": 1, "codes": ["PD103"], "worst": "error", "needs_care": ["alice"]}}}
    # a document of a pipdoctor before uv (no `caches`, no `tool`) reads as pip's
    old = check_document(account("carol", 1002, finding("PD103")))
    for acc in old["accounts"]:
        del acc["caches"]
        for f in acc["findings"]:
            del f["tool"]
    assert pipdoctor.check_summary(old)["tools"] == {
        "pip": {"accounts": 1, "codes": ["PD103"], "worst": "error", "needs_care": ["carol"]}}


def test_the_command_keeps_a_user_name_one_argument():
    assert pipdoctor.command("/x/pipdoctor", "fix", user="--all-users", extra=["--yes"]) == [
        "/x/pipdoctor", "--json", "fix", "--user=--all-users", "--yes"]
    assert pipdoctor.command("pipdoctor", "check", all_users=True) == ["pipdoctor", "--json", "check", "--all-users"]
    assert pipdoctor.command("pipdoctor", "fix", user="bob", tool="uv", extra=["--undo", "--yes"]) == [
        "pipdoctor", "--json", "fix", "--user=bob", "--tool=uv", "--undo", "--yes"]


def test_the_collection_builds(ansible, tmp_path):
    proc = sandbox.run([ansible / "bin" / "ansible-galaxy", "collection", "build", "--output-path", tmp_path,
                        fleetkit.COLLECTION], env=fleetkit.ansible_env(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout.decode()
    (built,) = tmp_path.glob("pipdoctor-fleet-*.tar.gz")
    with tarfile.open(built) as tar:
        names = set(tar.getnames())
    assert {"plugins/modules/pip_cache_info.py", "plugins/modules/pip_cache_fix.py", "plugins/action/fleet_report.py",
            "roles/install/tasks/main.yml", "playbooks/triage.yml", "playbooks/repair.yml", "meta/runtime.yml",
            "README.md"} <= names
    assert not any(name.startswith("tests/output") for name in names)


def test_changed_is_what_pipdoctor_changed():
    step = {"kind": "chown", "changes_files": True}
    plan = {"refused": None, "steps": [step]}
    assert pipdoctor.fix_result({"plan": plan, "applied": None}, check_mode=True)["changed"] is True
    assert pipdoctor.fix_result({"plan": plan, "applied": None}, check_mode=False)["planned_changes"] is True
    assert pipdoctor.fix_result({"plan": {**plan, "refused": "a symlink"}, "applied": None}, True)["changed"] is False
    assert pipdoctor.fix_result({"plan": {"refused": None, "steps": [{"kind": "none", "changes_files": False}]},
                                 "applied": None}, True)["changed"] is False
    applied = {"journal": "/var/lib/pipdoctor/journals/1000/j.jsonl", "chowned": 0, "renamed": [], "restored": 0}
    result = pipdoctor.fix_result({"plan": plan, "applied": applied, "exit_code": 0}, check_mode=False)
    assert (result["changed"], result["journal"]) == (False, applied["journal"])
    assert pipdoctor.fix_result({"plan": plan, "applied": {**applied, "chowned": 3}}, False)["changed"] is True
    assert pipdoctor.undo_result({"undone": {**applied, "restored": 2}})["changed"] is True
    assert pipdoctor.undo_result({"undone": applied})["changed"] is False


def test_changed_when_any_cache_changed():
    """The top level is the first cache with a plan (pip's, changing nothing here); uv's change still counts."""
    explained = {"tool": "pip", "refused": None, "steps": [{"kind": "none", "changes_files": False}]}
    chown = {"tool": "uv", "refused": None, "steps": [{"kind": "chown", "changes_files": True}]}
    nothing = {"journal": None, "chowned": 0, "renamed": [], "restored": 0}
    uv_applied = {**nothing, "journal": "/j/T.jsonl", "chowned": 4}
    document = {"plan": explained, "applied": None, "before": {}, "after": None, "note": None, "exit_code": 0,
                "caches": [{"tool": "pip", "before": {}, "plan": explained, "applied": None, "after": None},
                           {"tool": "uv", "before": {}, "plan": chown, "applied": uv_applied, "after": {}}]}
    dry = pipdoctor.fix_result(document, check_mode=True)
    assert (dry["changed"], dry["planned_changes"], dry["journal"]) == (True, True, None)
    result = pipdoctor.fix_result(document, check_mode=False)
    assert (result["changed"], result["plan"]) == (True, explained)
    assert {tool: (r["changed"], r["journal"]) for tool, r in result["tools"].items()} == {
        "pip": (False, None), "uv": (True, "/j/T.jsonl")}
    # an undo of both: the newest journal (uv's) restored nothing that had changed, the older (pip's) did
    undone = pipdoctor.undo_result({"undone": nothing, "journals": [nothing, {**nothing, "restored": 2}]})
    assert (undone["changed"], len(undone["journals"])) == (True, 2)


@pytest.mark.parametrize("rc, stdout, stderr, message", [
    (2, "", "pipdoctor: error: no such user: 'zed'\n", "^pipdoctor: error: no such user"),
    (1, "", "Traceback...\nKeyError: 1\n", "pipdoctor exited 1 without a JSON document: KeyError"),
    (2, '{"schema_version": 1, "error": "no such user: \'zed\'", "exit_code": 2}', "", "no such user"),
    (0, '{"schema_version": 2, "command": "check"}', "", "schema_version 2"),
    (0, '[1]', "", "not a JSON object"),
    (0, '{"schema_version": 1, "command": "fix"}', "", "answered 'fix' to 'check'"),
    (2, '{"schema_version": 1, "command": "check", "note": "refused"}', "", "refused"),
])
def test_parse_document_refuses(rc, stdout, stderr, message):
    with pytest.raises(pipdoctor.PipdoctorError, match=message.replace("(", r"\(")):
        pipdoctor.parse_document(rc, stdout, stderr, "check")


def test_fleet_report_lists_every_host_worst_first():
    ok = {"ansible_facts": {"pipdoctor": check_document(account("alice", 1000, finding("PD103")),
                                                        account("bob", 1001, finding("PD102", "warning")))}}
    clean = {"ansible_facts": {"pipdoctor": check_document(account("carol", 1000))}}
    warn = {"ansible_facts": {"pipdoctor": check_document(account("dave", 1000, finding("PD102", "warning")))}}
    results = {"clean": clean, "warn": warn, "broken": ok, "down": {"unreachable": True, "msg": "ssh: refused"},
               "odd\x1bhost": {"failed": True, "msg": "pipdoctor: error: x\nsecond line"}}
    built = report.build_report(results)
    assert built["hosts"]["broken"]["accounts"]["alice"]["findings"][0]["code"] == "PD103"
    assert built["summary"] == {"hosts": 5, "checked": ["broken", "clean", "warn"], "unreachable": ["down"],
                                "failed": ["odd\x1bhost"], "hosts_by_code": {"PD102": 2, "PD103": 1},
                                "hosts_by_tool": {"pip": {"PD102": 2, "PD103": 1}}}
    lines = report.render_table(built).splitlines()
    assert lines[0].split() == ["host", "status", "worst", "accounts", "PD103", "PD102"]
    assert [line.split()[0] for line in lines[1:6]] == ["down", "odd\\x1bhost", "broken", "warn", "clean"]
    assert lines[3].split() == ["broken", "ok", "error", "2", "1", "1"]
    assert "\x1b" not in "\n".join(lines) and "odd\\x1bhost: failed pipdoctor: error: x second line" in lines


def test_fleet_report_names_uv_s_codes():
    """uv's findings are counted too, under their installer's name: never read as pip's."""
    both = {"ansible_facts": {"pipdoctor": check_document(
        account("alice", 1000, finding("PD103", tool="uv"), uv=True), account("bob", 1001, finding("PD103")))}}
    uv_only = {"ansible_facts": {"pipdoctor": check_document(
        account("carol", 1000, finding("PD303", tool="uv"), uv=True))}}
    built = report.build_report({"both": both, "uvhost": uv_only})
    assert built["hosts"]["both"]["accounts"]["alice"]["caches"] == [
        {"tool": "pip", "path": "/home/alice/.cache/pip"}, {"tool": "uv", "path": "/home/alice/.cache/uv"}]
    assert built["summary"]["hosts_by_code"] == {"PD103": 1, "PD303": 1}
    assert built["summary"]["hosts_by_tool"] == {"pip": {"PD103": 1}, "uv": {"PD103": 1, "PD303": 1}}
    lines = report.render_table(built).splitlines()
    assert lines[0].split() == ["host", "status", "worst", "accounts", "PD103", "uv:PD103", "uv:PD303"]
    assert lines[1].split() == ["both", "ok", "error", "2", "1", "1", "."]


# --- the modules as Ansible runs them ----------------------------------------------------------------


def test_arguments_are_checked(ansible, tmp_path):
    rc, result = fleetkit.run_module("pip_cache_info", {"user": "alice", "all_users": True}, tmp_path)
    assert (rc, result["failed"]) == (1, True) and "mutually exclusive" in result["msg"]
    rc, result = fleetkit.run_module("pip_cache_fix", {"undo": True, "persist": True}, tmp_path)
    assert rc == 1 and "mutually exclusive" in result["msg"]
    rc, result = fleetkit.run_module("pip_cache_info", {"users": "alice"}, tmp_path)
    assert rc == 1 and "Unsupported parameters" in result["msg"]
    rc, result = fleetkit.run_module("pip_cache_info", {"executable": str(tmp_path / "nope")}, tmp_path)
    assert rc == 1 and result["failed"]


def test_undo_in_check_mode_runs_nothing(ansible, tmp_path):
    rc, result = fleetkit.run_module("pip_cache_fix", {"undo": True, "executable": "/bin/false"}, tmp_path,
                                     check_mode=True)
    assert (rc, result["changed"], result["undone"], result["journals"]) == (0, False, None, [])
    rc, result = fleetkit.run_module("pip_cache_fix", {"tool": "conda"}, tmp_path)
    assert rc == 1 and "value of tool must be one of: pip, uv" in result["msg"], result


@pytest.mark.root
def test_info_fix_and_undo_on_a_real_cache(ansible, user, seal):
    cache = fixkit.seed_failure(user)  # wheels/ root's, as after `sudo pip install`
    before = fixkit.listing(cache)
    common = {"user": user.name, "executable": str(pipdoctor_bin())}

    def module(name, check_mode=False, **args):
        return fleetkit.run_module(name, {**common, **args}, seal.scratch, check_mode=check_mode,
                                   env=with_pip(None), mount_setup=seal.setup)

    rc, info = module("pip_cache_info", check_mode=True)
    assert (rc, info["changed"]) == (0, False)
    pip_summary = {"accounts": 1, "codes": ["PD103"], "worst": "error", "needs_care": [user.name]}
    assert info["summary"] == {**pip_summary, "tools": {"pip": pip_summary}}  # no uv for this user
    assert info["ansible_facts"]["pipdoctor"]["accounts"][0]["uid"] == user.uid

    rc, planned = module("pip_cache_fix", check_mode=True)
    assert (rc, planned["changed"], planned["applied"]) == (0, True, None)
    assert planned["plan"]["steps"][0]["kind"] == "chown" and fixkit.listing(cache) == before

    rc, fixed = module("pip_cache_fix")
    assert (rc, fixed["changed"]) == (0, True), fixed
    assert fixed["journal"].startswith(f"/var/lib/pipdoctor/journals/{user.uid}/")
    assert fixed["applied"]["chowned"] > 0 and fixed["after"]["findings"] == []
    assert {(uid, gid) for uid, gid, _, _ in fixkit.listing(cache).values()} == {(user.uid, user.gid)}

    rc, again = module("pip_cache_fix")
    assert (rc, again["changed"]) == (0, False), again

    rc, undone = module("pip_cache_fix", undo=True)
    assert (rc, undone["changed"], undone["journal"]) == (0, True, fixed["journal"]), undone
    assert fixkit.listing(cache) == before

    rc, unknown = fleetkit.run_module("pip_cache_info", {**common, "user": "no-such-user-pd"}, seal.scratch,
                                      env=with_pip(None), mount_setup=seal.setup)
    # the task's message is pipdoctor's own error (its --json error document), and the document comes along
    assert (rc, unknown["failed"]) == (1, True) and "unknown user 'no-such-user-pd'" in unknown["msg"], unknown
    assert unknown["document"]["exit_code"] == 2, unknown


def root_owned_uv_buckets(user, scratch) -> Path:
    """The user's ~/.cache/uv (theirs) in which root's `uv venv` (the user's HOME kept, as `sudo uv` does
    without -H) wrote its buckets and markers, root's: the cache."""
    cache = user.home / ".cache" / "uv"
    cache.mkdir(parents=True, exist_ok=True)
    for path in (user.home / ".cache", cache):
        os.chown(path, user.uid, user.gid)
    made = sandbox.run([sandbox.uv_venv(sandbox.UV_VERSIONS[-1]) / "bin" / "uv", "venv", "-p", SYSTEM_PYTHON,
                        scratch / "root-venv"],
                       env=sandbox.pip_env(HOME=str(user.home), UV_PYTHON_DOWNLOADS="never"))
    assert made.returncode == 0, made.stdout.decode()
    assert any(p.name.startswith("interpreter-v") and p.stat().st_uid == 0 for p in cache.iterdir())
    return cache


@pytest.mark.root
def test_fix_and_undo_report_pips_cache_and_uvs(ansible, user, seal):
    """`sudo pip` and `sudo uv` both left root's entries in one account's caches: the fix module reports each
    cache changed (its plan, what it applied, its journal), both are the user's again; the undo reports both
    journals and puts both back exactly."""
    caches = {"pip": fixkit.seed_failure(user), "uv": root_owned_uv_buckets(user, seal.scratch)}
    before = {tool: fixkit.listing(cache) for tool, cache in caches.items()}
    common = {"user": user.name, "executable": str(pipdoctor_bin())}

    def module(check_mode=False, **args):
        return fleetkit.run_module("pip_cache_fix", {**common, **args}, seal.scratch, check_mode=check_mode,
                                   env=with_pip(None), mount_setup=seal.setup)

    rc, only_uv = module(check_mode=True, tool="uv")
    assert (rc, only_uv["changed"], list(only_uv["tools"])) == (0, True, ["uv"]), only_uv
    assert {step["tool"] for step in only_uv["plan"]["steps"]} == {"uv"}

    rc, fixed = module()
    assert (rc, fixed["changed"], list(fixed["tools"])) == (0, True, ["pip", "uv"]), fixed
    for tool, cache in caches.items():
        report = fixed["tools"][tool]
        assert (report["changed"], report["plan"]["tool"]) == (True, tool), report
        assert report["applied"]["chowned"] > 0 and report["journal"] == report["applied"]["journal"]
        assert not [f for f in report["after"]["findings"] if f["severity"] != "info"], report["after"]
        assert {(uid, gid) for uid, gid, _, _ in fixkit.listing(cache).values()} == {(user.uid, user.gid)}
    journals = [fixed["tools"][tool]["journal"] for tool in ("pip", "uv")]
    assert len(set(journals)) == 2 and fixed["journal"] == journals[0]

    rc, undone = module(undo=True)
    assert (rc, undone["changed"]) == (0, True), undone
    assert [j["journal"] for j in undone["journals"]] == journals[::-1]  # newest first: uv's, then pip's
    assert all(j["restored"] > 0 for j in undone["journals"])
    assert {tool: fixkit.listing(cache) for tool, cache in caches.items()} == before
