"""The published JSON Schemas (docs/schemas/) against the documents the real pipdoctor prints on real states:
every `--json` document validates, the schemas are valid draft 2020-12, and a broken document is refused."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="the schema tests need jsonschema: pip install -e '.[test]'")
referencing = pytest.importorskip("referencing", reason="jsonschema >= 4.18 brings referencing")
from jsonschema import Draft202012Validator  # noqa: E402
from referencing.jsonschema import DRAFT202012  # noqa: E402

from tests import sandbox  # noqa: E402
from tests.checkkit import check_as, pipdoctor_bin, with_pip  # noqa: E402
from tests.fixkit import links_fixture, seed_failure  # noqa: E402

SCHEMAS = sandbox.REPO / "docs" / "schemas"
LOGS = sandbox.REPO / "tests" / "data" / "logs"
DOCUMENTS = ("install", "explain", "check", "fix", "fix-undo", "install-fix", "error", "uv")


def _load_all() -> dict:
    return {p.name: json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.schema.json"))}


def _registry():
    """The schemas by file name: their $refs are relative to the folder (common.schema.json#/$defs/...)."""
    return referencing.Registry().with_resources(
        (name, DRAFT202012.create_resource(schema)) for name, schema in _load_all().items())


def validator(document: str) -> Draft202012Validator:
    return Draft202012Validator(_load_all()[f"{document}.schema.json"], registry=_registry())


def assert_valid(document: str, doc: dict) -> dict:
    errors = sorted(validator(document).iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    return doc


def pipdoctor(*args, env=None, stdin=None) -> subprocess.CompletedProcess:
    """This checkout's pipdoctor, as the test's own user (no root needed)."""
    return subprocess.run([sys.executable, "-m", "pipdoctor", *map(str, args)], input=stdin, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


# --- the schemas themselves ----------------------------------------------------------------------------------


def test_one_schema_per_document_and_each_is_valid_draft_2020_12_with_resolvable_refs():
    schemas = _load_all()
    assert sorted(schemas) == sorted(f"{d}.schema.json" for d in DOCUMENTS + ("common",))
    resolver = _registry().resolver()
    for name, schema in schemas.items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        Draft202012Validator.check_schema(schema)
        for ref in _refs(schema):
            target = ref if ref.startswith("common.") else ("common.schema.json" + ref if name.startswith("common")
                                                            else name + ref)
            resolver.lookup(target)  # raises on a dangling $ref


def test_shared_parts_are_referenced_not_copied():
    for name, schema in _load_all().items():
        if name != "common.schema.json":
            assert "$defs" not in schema, f"{name} keeps its own $defs: share them in common.schema.json"
            assert any(ref.startswith("common.schema.json#/$defs/") for ref in _refs(schema)), name


# --- explain: every recorded real pip log ----------------------------------------------------------------------


def test_explain_documents_of_every_recorded_scenario_validate():
    logs = sorted(LOGS.glob(f"*/pip-{sandbox.PIP_VERSIONS[-1]}.log"))
    assert len(logs) >= 30, logs
    codes = set()
    for log in logs:
        proc = pipdoctor("--json", "explain", log)
        assert proc.returncode in (0, 1), proc.stderr.decode()
        doc = assert_valid("explain", json.loads(proc.stdout))
        assert doc["log"] == str(log) and doc["exit_code"] == proc.returncode
        codes.update(f["code"] for f in doc["findings"])
    # the documents cover what the classifier can say: errors, a warning, an info finding
    assert {"PD101", "PD102", "PD105", "PD106", "PD107", "PD108", "PD201", "PD301", "PD302", "PD303", "PD304",
            "PD399"} <= codes, codes


def test_explain_from_stdin_has_a_null_log():
    log = (LOGS / "wheels-root-owned" / f"pip-{sandbox.PIP_VERSIONS[-1]}.log").read_bytes()
    proc = pipdoctor("--json", "explain", "-", stdin=log)
    doc = assert_valid("explain", json.loads(proc.stdout))
    assert doc["log"] is None and doc["findings"][0]["code"] == "PD101"


# --- the schemas can fail ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explain_doc() -> dict:
    log = LOGS / "wheels-root-owned" / f"pip-{sandbox.PIP_VERSIONS[-1]}.log"
    return assert_valid("explain", json.loads(pipdoctor("--json", "explain", log).stdout))


def _check_doc(tmp_path: Path) -> dict:
    """A check of a fresh HOME as the test's own user: a real check document, no root needed."""
    env = sandbox.pip_env(HOME=tmp_path)
    proc = pipdoctor("--json", "check", env=env)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return assert_valid("check", json.loads(proc.stdout))


def _drop(*path):
    def change(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return change


def _set(value, *path):
    def change(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


BROKEN_EXPLAIN = {
    "no schema_version": _drop("schema_version"),
    "schema_version 2": _set(2, "schema_version"),
    "exit_code as text": _set("1", "exit_code"),
    "no findings": _drop("findings"),
    "a finding without code": _drop("findings", 0, "code"),
    "an unknown severity": _set("fatal", "findings", 0, "severity"),
    "paths as one string": _set("/home/alice/.cache/pip", "findings", 0, "paths"),
    "evidence line as text": _set("12", "findings", 0, "evidence", 0, "line"),
    "a fix without safe": _drop("findings", 0, "fixes", 0, "safe"),
    "safe as text": _set("yes", "findings", 0, "fixes", 0, "safe"),
    "no log": _drop("log"),
    "doc a relative path": _set("docs/codes/PD101.md", "findings", 0, "doc"),
    "a finding without facts": _drop("findings", 0, "facts"),
    "raw bytes not by pointer": _set({"findings": "eA=="}, "raw_bytes"),
}

BROKEN_CHECK = {
    "no accounts": _drop("accounts"),
    "uid as text": _set("0", "accounts", 0, "uid"),
    "cache without disabled": _drop("accounts", 0, "cache", "disabled"),
    "disabled as text": _set("no", "accounts", 0, "cache", "disabled"),
    "command of another document": _set("explain", "command"),
    "disabled without a reason": _set(True, "accounts", 0, "cache", "disabled"),
    "an unknown disabled_by": _set("mood", "accounts", 0, "cache", "disabled_by"),
    "no raw_bytes": _drop("raw_bytes"),
}


@pytest.mark.parametrize("change", BROKEN_EXPLAIN.values(), ids=BROKEN_EXPLAIN.keys())
def test_an_explain_document_missing_a_key_or_with_a_wrong_type_is_refused(change, explain_doc):
    broken = copy.deepcopy(explain_doc)
    change(broken)
    assert list(validator("explain").iter_errors(broken)), f"the schema accepts a broken document: {broken}"


def test_a_check_document_missing_a_key_or_with_a_wrong_type_is_refused(tmp_path):
    doc = _check_doc(tmp_path)
    for what, change in BROKEN_CHECK.items():
        broken = copy.deepcopy(doc)
        change(broken)
        assert list(validator("check").iter_errors(broken)), f"{what}: the schema accepts {broken}"


def test_a_document_validates_only_against_its_own_schema(tmp_path, explain_doc):
    explain, check = explain_doc, _check_doc(tmp_path)
    assert list(validator("check").iter_errors(explain)) and list(validator("explain").iter_errors(check))
    assert list(validator("install").iter_errors(explain)) and list(validator("fix").iter_errors(check))


# --- errors under --json ------------------------------------------------------------------------------------------

BAD_INPUT = {"a missing log": ("--json", "explain", "/nonexistent/pip.log"),
             "an unknown code": ("--json", "explain", "PD999"),
             "an unknown option": ("--json", "check", "--no-such-option"),
             "--json after the bad option": ("check", "--no-such-option", "--json"),
             "fix options that contradict": ("--json", "fix", "--yes", "--dry-run"),
             "a bad --color": ("--json", "--color", "sometimes", "install", "six"),
             "no command at all": ("--json",),
             "--json after an option's value": ("--color", "never", "--python", "python3", "explain", "--json",
                                                "/nonexistent/pip.log")}


@pytest.mark.parametrize("args", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_an_error_under_json_is_an_error_document(args):
    proc = pipdoctor(*args)
    assert proc.returncode == 2, proc.stderr.decode()
    doc = assert_valid("error", json.loads(proc.stdout))
    assert doc["exit_code"] == proc.returncode
    if args == ("--json",):  # the person gets the usage, the script the error
        assert proc.stderr.decode().startswith("usage: pipdoctor") and doc["error"].startswith("no command given")
    else:
        assert proc.stderr.decode() == f"pipdoctor: error: {doc['error']}\n"  # the same one line on stderr


def test_without_json_an_error_prints_nothing_on_stdout():
    proc = pipdoctor("check", "--no-such-option")
    assert proc.returncode == 2 and proc.stdout == b"" and proc.stderr.startswith(b"pipdoctor: error: ")


# --- check, fix, undo and install as real users on real caches (root) ----------------------------------------

links = links_fixture("schemas", "pdtiny")


def _as_root(*args, seal) -> subprocess.CompletedProcess:
    """pipdoctor as root, sealed (tests/sealed.py): its stdout and stderr apart."""
    return sandbox.run([pipdoctor_bin(), *args], env=with_pip(None), mount_setup=seal.setup, separate_stderr=True,
                       timeout=600)


def _doc(proc: subprocess.CompletedProcess, document: str) -> dict:
    assert proc.stdout.strip(), proc.stderr.decode()
    doc = assert_valid(document, json.loads(proc.stdout))
    assert doc["exit_code"] == proc.returncode, proc.stderr.decode()
    return doc


@pytest.mark.root
def test_check_documents_of_one_account_and_of_all_users_validate(user, seal):
    seed_failure(user)
    own = check_as(user)
    assert [f["code"] for f in assert_valid("check", own.doc)["findings"]] == ["PD103"]
    everyone = _doc(_as_root("--json", "check", "--all-users", seal=seal), "check")
    users = {a["user"] for a in everyone["accounts"]}
    assert user.name in users and "root" in users


@pytest.mark.root
def test_fix_documents_dry_run_applied_refused_and_undo_validate(user, seal):
    cache = seed_failure(user)
    dry = _doc(_as_root("--json", "fix", "--user", user.name, "--dry-run", seal=seal), "fix")
    assert dry["applied"] is None and dry["after"] is None and dry["note"]
    assert dry["plan"]["steps"][0]["kind"] == "chown"

    applied = _doc(_as_root("--json", "fix", "--user", user.name, "--yes", seal=seal), "fix")
    assert applied["applied"]["chowned"] > 0  # (the sealed / is read-only: the check after finds no usable /tmp)
    assert "PD103" not in [f["code"] for f in applied["after"]["findings"]]

    undone = _doc(_as_root("--json", "fix", "--undo", "--user", user.name, seal=seal), "fix-undo")
    assert undone["command"] == "fix --undo" and undone["undone"]["restored"] > 0
    assert os.stat(cache / "wheels").st_uid == 0  # root's again: the undo really ran

    stray = cache / "notes.txt"  # not a name pip makes: the cache is refused, the document says why
    stray.write_text("mine\n")
    os.chown(stray, user.uid, user.gid)
    refused = _doc(_as_root("--json", "fix", "--user", user.name, "--yes", seal=seal), "fix")
    assert "notes.txt" in refused["plan"]["refused"] and refused["applied"] is None
    assert os.stat(cache / "wheels").st_uid == 0


def _install(user, links, *pipdoctor_args, target: str) -> subprocess.CompletedProcess:
    argv = [pipdoctor_bin(), "--json", *pipdoctor_args, "install", "--no-index", "--find-links", links,
            "--target", user.home / target, "pdtiny"]
    return sandbox.run_as(user, argv, env=with_pip(sandbox.pip_env(HOME=user.home)), separate_stderr=True,
                          timeout=600)


@pytest.mark.root
def test_install_and_install_fix_documents_validate(user, links):
    seed_failure(user)
    failed = _doc(_install(user, links, target="t1"), "install")
    assert failed["root_cause"] == "PD101" and failed["pip"]["exit_code"] != 0 and "fix" not in failed

    cured = _doc(_install(user, links, "--fix", "--yes", target="t2"), "install-fix")
    assert cured["fix"]["retry"]["pip"]["exit_code"] == 0 and cured["fix"]["applied"]["renamed"]

    healthy = _doc(_install(user, links, "--fix", target="t3"), "install-fix")
    assert healthy["exit_code"] == 0 and healthy["fix"] is None  # pip succeeded: nothing to cure
