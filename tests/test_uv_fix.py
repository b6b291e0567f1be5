"""uv's cache cured like pip's: a real user, real uv, `~/.cache/uv/sdists-vN` root-owned by a real `sudo uv` run
that kept the user's HOME (scripts/record-logs, uv-bucket-root-owned). `pipdoctor uv pip install` names it and its
cures; root's `fix --user` gives it back and the user's own `fix` moves it aside, each journaled and undone exactly;
`explain` agrees with the run. Root's pipdoctor runs sealed (tests/sealed.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from pipdoctor.installers.pip import PIP
from pipdoctor.installers.uv import UV
from pipdoctor.remediation import cache_names_problem
from tests import sandbox
from tests.checkkit import pipdoctor_bin, with_pip
from tests.fixkit import fix_as, fix_as_root, journal_of, links_folder, listing, seed_failure

pytestmark = pytest.mark.root

SYSTEM_PYTHON = "/usr/bin/python3"
VERSIONS = ("0.4.30", "0.13.9")  # `Caused by:` chains (0.4.x) and `cause:` under `Failed to initialize cache`


@pytest.fixture
def user():
    with sandbox.unprivileged_user("puf") as made:
        yield made


@pytest.fixture(scope="module")
def links():
    folder = links_folder("uvfix", "pdtiny", "pdother")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def uv_of(version: str) -> Path:
    return sandbox.uv_venv(version) / "bin" / "uv"


def uv_env(user, **extra) -> dict:
    # uv never downloads a Python here: every command names /usr/bin/python3 or a venv made from it.
    return sandbox.pip_env(HOME=str(user.home), UV_PYTHON_DOWNLOADS="never", **extra)


def install_args(links: Path, venv: Path, project: str = "pdtiny") -> list:
    return ["pip", "install", "--no-index", "--find-links", str(links), "--python", str(venv / "bin" / "python"),
            project]


def root_owned_bucket(user, links, version: str, tmp_path) -> tuple:
    """The user's venv and their ~/.cache/uv (theirs), into which root's `uv pip install pdother` (root's own
    venv, the user's HOME kept, as `sudo uv` does without -H) wrote its buckets: (venv, cache)."""
    uv = uv_of(version)
    venv = user.home / "venv"
    scratch = tmp_path / "scratch-cache"
    for path, owner in ((venv, user), (tmp_path / "root-venv", None)):
        made = sandbox.run([uv, "venv", "-p", SYSTEM_PYTHON, path], env=uv_env(user, UV_CACHE_DIR=str(scratch)))
        assert made.returncode == 0, made.stdout.decode()
        if owner is not None:
            sandbox.chown_tree(path, owner.uid, owner.gid)
    cache = user.home / ".cache" / "uv"
    cache.mkdir(parents=True)
    for path in (user.home / ".cache", cache):
        os.chown(path, user.uid, user.gid)
    by_root = sandbox.run([uv, *install_args(links, tmp_path / "root-venv", "pdother")],
                          env=uv_env(user, SUDO_USER=user.name, SUDO_UID=str(user.uid), SUDO_GID=str(user.gid)))
    assert by_root.returncode == 0, by_root.stdout.decode()
    buckets = [p for p in cache.iterdir() if p.name.startswith("sdists-v")]
    assert buckets and os.stat(buckets[0]).st_uid == 0
    return venv, cache


def doctor_uv(user, version: str, args: list):
    """`pipdoctor uv ARGS` as the user: (status, uv's output as the user saw it, pipdoctor's report)."""
    done = sandbox.run_as(user, [pipdoctor_bin(), "--uv", uv_of(version), "uv", *args], env=uv_env(user),
                          separate_stderr=True, timeout=120)
    err = done.stderr.decode()
    cut = err.find("\npipdoctor: uv ")
    return done.returncode, err[:cut] if cut >= 0 else err, err[cut:] if cut >= 0 else ""


def uv_as(user, version: str, args: list):
    return sandbox.run_as(user, [uv_of(version), *args], env=uv_env(user), timeout=120)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_root_owned_bucket_is_diagnosed_cured_by_root_and_undone(user, links, seal, tmp_path, version):
    venv, cache = root_owned_bucket(user, links, version, tmp_path)
    bucket = next(p for p in cache.iterdir() if p.name.startswith("sdists-v"))
    status, uv_said, report = doctor_uv(user, version, install_args(links, venv))

    assert status == uv_as(user, version, install_args(links, venv)).returncode == 2
    assert report.startswith(f"\npipdoctor: uv exited with status 2; root cause: PD101 "), report
    cause = report.split("\n  more: ")[0]  # the root cause's block, before what else was found
    assert f"{bucket} is owned by root 0:0" in cause
    # root's run installed into a venv on the same filesystem: uv hard-linked its files from archive-v0, so the
    # gate prints the chown that skips them (their other names are root's venv's)
    chown = cause.split("  fix:\n    ")[1].split("\n")[0]
    assert chown.startswith("sudo ") and f"chown -h {user.uid}:{user.gid} " in chown and f" {cache} " in chown
    assert f"uv --cache-dir {user.home}/.cache/uv-fresh pip install " in cause  # no root needed
    assert "uv --no-cache pip install " in cause
    assert "pipdoctor fix --tool uv  #" in cause and f"sudo pipdoctor fix --tool uv --user {user.name}  #" in cause
    assert f"pipdoctor --fix --uv {uv_of(version)} uv pip install --no-index" in cause
    as_json = sandbox.run_as(user, [pipdoctor_bin(), "--json", "--uv", uv_of(version), "uv",
                                    *install_args(links, venv)], env=uv_env(user), separate_stderr=True, timeout=120)
    fixes = json.loads(as_json.stdout)["findings"][0]["fixes"]
    assert [fix["safe"] for fix in fixes] == [True, True, True]
    # uv's cache options go before its command (global options; after `uv run script` they would be the script's)
    assert fixes[-1]["command"].startswith("uv --no-cache pip install ") and "$TMPDIR" in fixes[-1]["description"]
    # the same first finding from the saved output alone
    log = tmp_path / "uv.log"
    log.write_text(uv_said)
    explained = sandbox.run([pipdoctor_bin(), "explain", "--json", log], separate_stderr=True)
    first = json.loads(explained.stdout)["findings"][0]
    assert (first["code"], first["tool"]) == ("PD101", "uv")

    before = listing(cache)
    fixed = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    plan = fixed.doc["plan"]
    assert plan["tool"] == "uv" and {s["tool"] for s in plan["steps"]} == {"uv"}
    assert plan["steps"][0]["kind"] == "chown" and f"chown -h {user.uid}:{user.gid} " in plan["steps"][0]["command"]
    assert [c["tool"] for c in fixed.doc["caches"]] == ["pip", "uv"]  # pip's: nothing to do
    applied = fixed.doc["applied"]
    assert applied["chowned"] > 0 and applied["journal"].startswith(f"/var/lib/pipdoctor/journals/{user.uid}/")
    left = {path for path, owner in listing(cache).items() if owner[0] != user.uid}
    # only the files hard-linked into root's venv stay root's, each said so (exit 1: they need a hand)
    assert left and all(os.stat(cache / path).st_nlink > 1 for path in left)
    assert applied["skipped_count"] == len(left) and fixed.returncode == 1
    assert all("hard links" in skip["reason"] for skip in applied["skipped"])

    undone = fix_as_root(seal, "--user", user.name, "--undo", "--json")
    assert undone.returncode == 0, undone.text()
    assert undone.doc["undone"]["journal"] == journal_of(fixed)
    assert listing(cache) == before  # root's entries are root's again, exactly

    assert fix_as_root(seal, "--user", user.name, "--tool", "uv", "--yes").returncode == 1
    done = uv_as(user, version, install_args(links, venv))
    assert done.returncode == 0, done.stdout.decode()


@pytest.mark.parametrize("version", VERSIONS)
def test_the_users_own_fix_moves_the_buckets_aside_and_undoes(user, links, tmp_path, version):
    venv, cache = root_owned_bucket(user, links, version, tmp_path)
    before = listing(cache)

    fixed = fix_as(user, "--yes", "--json", env=with_pip(uv_env(user)))
    assert fixed.returncode == 0, fixed.text()
    step = fixed.doc["plan"]["steps"][0]
    assert (fixed.doc["plan"]["tool"], step["tool"], step["kind"], step["needs_root"]) == ("uv", "uv", "rename",
                                                                                           False)
    assert all(os.stat(cache / name).st_uid == user.uid for name in os.listdir(cache) if ".pipdoctor-" not in name)
    assert journal_of(fixed).startswith(f"{user.home}/.local/share/pipdoctor/journals/")

    undone = fix_as(user, "--undo", "--json", env=with_pip(uv_env(user)))
    assert undone.returncode == 0, undone.text()
    assert listing(cache) == before

    assert fix_as(user, "--tool", "uv", "--yes", env=with_pip(uv_env(user))).returncode == 0
    done = uv_as(user, version, install_args(links, venv))
    assert done.returncode == 0, done.stdout.decode()


def test_one_fix_cures_pips_cache_and_uvs_and_one_undo_restores_both(user, links, seal, tmp_path):
    """`sudo pip` and `sudo uv` both left root's entries: root's fix plans both caches (each step says whose),
    asks once, journals each cache under the fix's one stamp; `fix --undo` puts both back exactly."""
    pip_cache = seed_failure(user)
    _, uv_cache = root_owned_bucket(user, links, "0.13.9", tmp_path)
    before = {"pip": listing(pip_cache), "uv": listing(uv_cache)}

    fixed = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    caches = {cache["tool"]: cache for cache in fixed.doc["caches"]}
    assert list(caches) == ["pip", "uv"] and fixed.doc["plan"]["tool"] == "pip"
    for tool in ("pip", "uv"):
        assert {step["tool"] for step in caches[tool]["plan"]["steps"]} == {tool}
        assert caches[tool]["plan"]["steps"][0]["kind"] == "chown" and caches[tool]["applied"]["chowned"] > 0
    journals = [caches[tool]["applied"]["journal"] for tool in ("pip", "uv")]
    assert journals[0] != journals[1] and os.path.basename(journals[1]).startswith(
        os.path.basename(journals[0])[:-len(".jsonl")])  # one stamp: T.jsonl, T-2.jsonl
    assert all(owner[0] == user.uid for owner in listing(pip_cache).values())

    undone = fix_as_root(seal, "--user", user.name, "--undo", "--json")
    assert [j["journal"] for j in undone.doc["journals"]] == journals[::-1]  # newest first
    assert {"pip": listing(pip_cache), "uv": listing(uv_cache)} == before
    only_uv = fix_as_root(seal, "--user", user.name, "--undo", "--tool", "uv", "--json")
    assert [j["journal"] for j in only_uv.doc["journals"]] == [journals[1]]


@pytest.mark.parametrize("mode", ["human", "json"])
def test_fix_before_uv_cures_the_cache_and_runs_uv_again(user, links, tmp_path, mode):
    """`pipdoctor --fix uv ...` as the user: uv fails, the plan moves the foreign buckets aside (confirmed by
    --yes), uv runs again and succeeds, into the user's venv; the JSON document says the same."""
    version = "0.13.9"
    venv, cache = root_owned_bucket(user, links, version, tmp_path)
    own = ["--json"] if mode == "json" else []
    argv = [pipdoctor_bin(), *own, "--fix", "--yes", "--uv", uv_of(version), "uv", *install_args(links, venv)]
    cured = sandbox.run_as(user, argv, env=uv_env(user), separate_stderr=True, timeout=120)
    said = cured.stderr.decode()
    assert cured.returncode == 0, said
    assert list(venv.glob("lib/python3*/site-packages/pdtiny*"))
    if mode == "human":
        assert "root cause: PD101" in said and "rename (uv's cache; cures PD103" in said
        assert "pipdoctor: running uv again: uv pip install" in said
        assert "pipdoctor: first run exited with status 2; after the fix, uv succeeded." in said
        # uv made its buckets again: undo keeps the moved copies where they are, and says so
        undone = fix_as(user, "--undo", env=with_pip(uv_env(user)))
        assert undone.returncode == 1 and "exists again" in undone.text()
        return
    doc = json.loads(cured.stdout)
    assert (doc["command"], doc["uv"]["exit_code"], doc["exit_code"], doc["root_cause"]) == ("uv", 2, 0, "PD101")
    assert doc["fix"]["plan"]["tool"] == "uv" and doc["fix"]["retry"]["uv"]["exit_code"] == 0
    assert doc["fix"]["applied"]["renamed"] and doc["fix"]["after"]["cache"]["path"] == str(cache)
    schemas = pytest.importorskip("tests.test_json_schemas", reason="the schema check needs jsonschema")
    schemas.assert_valid("uv", doc)


def test_a_uv_cache_that_holds_other_names_is_refused(user, seal):
    """cache-dir in the user's uv.toml points at a dir that is not uv's cache (their notes beside a root-owned
    bucket-like dir): root's fix changes nothing there."""
    stuff = user.home / "stuff"
    (stuff / "sdists-v11").mkdir(parents=True)
    (stuff / "notes.txt").write_text("mine\n")
    config = user.home / ".config" / "uv"
    config.mkdir(parents=True)
    (config / "uv.toml").write_text(f'cache-dir = "{stuff}"\n')
    sandbox.chown_tree(user.home, user.uid, user.gid)
    os.chown(stuff / "sdists-v11", 0, 0)
    before = listing(stuff)

    refused = fix_as_root(seal, "--user", user.name, "--tool", "uv", "--yes", "--json")
    assert refused.doc["plan"]["tool"] == "uv"
    assert "notes.txt, which uv does not make: it does not look like uv's cache" in refused.doc["plan"]["refused"]
    assert all(step["kind"] != "chown" for step in refused.doc["plan"]["steps"])
    assert listing(stuff) == before


def test_each_installer_knows_its_own_names():
    assert cache_names_problem(UV, ["CACHEDIR.TAG", ".gitignore", ".lock", "sdists-v11", "wheels-v5", "archive-v0",
                                    ".tmpAb12Cd", "wheels-v8.pipdoctor-20260101T000000Z"]) is None
    assert "http-v2, wheels, which uv does not make" in cache_names_problem(UV, ["sdists-v11", "wheels", "http-v2"])
    assert "sdists-v11, which pip does not make" in cache_names_problem(PIP, ["wheels", "sdists-v11"])
