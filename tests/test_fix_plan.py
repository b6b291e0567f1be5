"""The fix plan over hand-built facts (pure, no root): which cure for whom, and the commands it shows."""

from __future__ import annotations


import pytest

from pipdoctor import checker
from pipdoctor.cachewalk import CacheWalk
from pipdoctor.findings import Finding, Severity
from pipdoctor.installers.pip import PIP
from pipdoctor.remediation import cache_names_problem, make_plan, suggest_check
from pipdoctor.safety import unsafe_cache_root
from tests.test_check_pure import CACHE, ROOT, _dir, _facts, _mount

STAMP = "20250101T000000Z"


def _walk(areas=(("wheels", 10, 1000),), entries=20):
    foreign = sum(n for _, n, _ in areas)
    return CacheWalk(CACHE, entries, 8, 12, 0, 2000, foreign, 1000, 0, ((ROOT, foreign),), tuple(areas), (), 1,
                     0, (), 0, (), 0, (), 0)


def _plan(facts, as_root, **kw):
    findings = [suggest_check(f, facts) for f in checker.check(facts)]
    return make_plan(facts, findings, as_root=as_root, stamp=STAMP, root_names=["wheels", "http-v2"], **kw)


def _seed(**changes):
    return _facts(walk=_walk(), subdirs=(_dir(CACHE + "/wheels", ROOT, writable=False), _dir(CACHE + "/http-v2")),
                  **changes)


def test_root_chowns_back_with_the_same_command_the_check_shows():
    facts = _seed()
    plan = _plan(facts, as_root=True)
    [step] = plan.steps
    assert (step.kind, step.code, step.needs_root, step.uid, step.gid) == ("chown", "PD103", True, 1001, 1001)
    check_fix = suggest_check(checker.check(facts)[0], facts).fixes[0].command
    assert step.command == check_fix
    assert plan.needs_root and plan.changes == (step,)


def test_user_alone_moves_the_area_aside_in_its_own_cache_root():
    plan = _plan(_seed(), as_root=False)
    [step] = plan.steps
    assert step.kind == "rename" and not step.needs_root
    assert step.targets == (f"{CACHE}/wheels",) and step.new_names == (f"{CACHE}/wheels.pipdoctor-{STAMP}",)
    assert step.command == f"mv -n -T -- {CACHE}/wheels {CACHE}/wheels.pipdoctor-{STAMP}"
    assert step.later == f"sudo rm -rf -- {CACHE}/wheels.pipdoctor-{STAMP}"


def test_whole_cache_foreign_without_root_points_pip_elsewhere():
    facts = _facts(walk=_walk(entries=10), root=_dir(CACHE, ROOT, writable=False, mode_writable=False),
                   keeps_cache=False)
    plan = _plan(facts, as_root=False, pip_args=["install", "pdtiny"])
    kinds = [s.kind for s in plan.steps]
    assert kinds == ["alternate-cache"]
    assert plan.retry_args == ("--cache-dir", "/home/alice/.cache/pip-fresh")
    assert plan.steps[0].command == "pip install pdtiny --cache-dir /home/alice/.cache/pip-fresh"
    assert plan.changes == ()
    persisted = _plan(facts, as_root=False, persist=True)
    assert persisted.steps[0].command == "pip config --user set global.cache-dir /home/alice/.cache/pip-fresh"
    assert persisted.steps[0].changes_files


def test_one_alternate_cache_step_cures_every_finding_that_asked_for_one():
    # The user's own cache root, mode 0555: PD104 (unwritable) and PD102 (pip turns its cache off).
    facts = _facts(root=_dir(CACHE, mode=0o555, writable=False, mode_writable=False), keeps_cache=False)
    steps = _plan(facts, as_root=False, pip_args=["install", "x"]).steps
    alternates = [s for s in steps if s.kind == "alternate-cache"]
    assert [(s.command, s.cures) for s in alternates] == [
        ("pip install x --cache-dir /home/alice/.cache/pip-fresh", ("PD102", "PD104"))]
    assert [s.command for s in steps if s.kind == "none"] == ["chmod u+rwx /home/alice/.cache/pip"]


def test_what_chown_cannot_cure_gets_no_change_and_the_alternate_cache():
    facts = _seed(root=_dir(CACHE, immutable=True, writable=False))
    plan = _plan(facts, as_root=True)
    assert [s.kind for s in plan.steps][:2] == ["none", "alternate-cache"]
    assert "chown cannot cure it: immutable" in plan.steps[0].description
    assert not any(s.kind == "chown" for s in plan.steps)
    ro = _plan(_seed(mount=_mount(read_only=True)), as_root=True)
    assert [(s.kind, s.cures) for s in ro.steps] == [("none", ("PD103", "PD106")),
                                                      ("alternate-cache", ("PD103", "PD106"))]


@pytest.mark.parametrize("source", ["PIP_CACHE_DIR", "--cache-dir", "config file /home/alice/venv/pip.conf [global] "
                                               "cache-dir"])
def test_persist_is_not_offered_where_the_users_pip_config_would_not_count(source):
    facts = _facts(walk=_walk(entries=10), root=_dir(CACHE, ROOT, writable=False, mode_writable=False),
                   keeps_cache=False, cache_source=source)
    [step] = _plan(facts, as_root=False, persist=True, pip_args=["install", "pdtiny"]).steps
    assert not step.persist and not step.changes_files
    assert step.command == "pip install pdtiny --cache-dir /home/alice/.cache/pip-fresh"
    assert f"change {source}" in step.description


def test_the_check_and_the_plan_speak_the_checked_installers_names():
    """The shared check and plan take every name from the installer: one without pip's root rule and without a
    config command (as uv) gets its own variable and options, and no `pip config` step."""
    other = PIP._replace(name="uv", cache_env="UV_CACHE_DIR", no_cache_option="--no-cache", no_cache_env="UV_NO_CACHE",
                         example_args=("pip", "install", "..."), keeps_cache=None, config_set_cache_dir=None,
                         config_unset_cache_dir=None)
    facts = _facts(installer=other, walk=_walk(entries=10), root=_dir(CACHE, ROOT, writable=False,
                                                                      mode_writable=False))
    findings = [suggest_check(f, facts) for f in checker.check(facts)]
    assert [f.code for f in findings] == ["PD103"]  # no root rule: nothing says the cache is turned off
    assert findings[0].message.startswith(f"uv's whole cache {CACHE} is owned by root 0:0")
    commands = [fix.command for fix in findings[0].fixes]
    assert "export UV_CACHE_DIR=/home/alice/.cache/pip-fresh" in commands
    assert "uv pip install ... --no-cache" in commands
    [step] = make_plan(facts, findings, as_root=False, stamp=STAMP, persist=True, pip_args=["sync"]).steps
    assert step.command == "uv sync --cache-dir /home/alice/.cache/pip-fresh" and not step.persist
    assert "set UV_CACHE_DIR in the shell profile" in step.description


@pytest.mark.parametrize("root", ["/", "/etc", "/usr", "/var", "/home/alice"])
def test_unsafe_roots(root):
    assert unsafe_cache_root(root, ("/home/alice",))
    facts = _seed(cache_path=root)
    plan = _plan(facts, as_root=True)
    assert plan.refused and not plan.changes


@pytest.mark.parametrize("root", ["/usr", "/home/alice"])
def test_a_refused_root_gets_no_chown_even_to_review_when_chown_could_not_cure_it(root):
    # PIP_CACHE_DIR=/usr with foreign entries behind an immutable flag, or in a shared dir: still no chown.
    for facts in (_seed(cache_path=root, root=_dir(root, immutable=True, writable=False)),
                  _seed(cache_path=root, root=_dir(root, ROOT, writable=False))):
        findings = [suggest_check(f, facts) for f in checker.check(facts)]
        assert findings and not any("chown" in fix.command for f in findings for fix in f.fixes)
        plan = make_plan(facts, findings, as_root=True, stamp=STAMP, root_names=["wheels"])
        assert plan.refused and not plan.changes
        assert not any("chown" in step.command for step in plan.steps)


def test_a_home_reached_through_a_symlink_is_refused(tmp_path):
    real = tmp_path / "real-home"
    real.mkdir()
    (tmp_path / "home-link").symlink_to(real)
    assert "HOME directory" in unsafe_cache_root(str(real), (str(tmp_path / "home-link"),))


def test_symlinked_root_and_foreign_names_are_refused():
    plan = _plan(_seed(cache_configured="/home/alice/link-to-cache"), as_root=True)
    assert "is a symlink" in plan.refused and not plan.changes
    assert cache_names_problem(PIP, ["wheels", "http-v2", "selfcheck", "wheels.pipdoctor-1"]) is None
    assert "does not look like pip's cache" in cache_names_problem(PIP, ["wheels", ".bashrc"])
    facts = _seed()
    findings = [suggest_check(f, facts) for f in checker.check(facts)]
    plan = make_plan(facts, findings, as_root=True, stamp=STAMP, root_names=["wheels", "Documents"])
    assert plan.refused and not plan.changes


def test_log_findings_move_only_the_named_entry_aside_or_use_pip_cache_remove():
    facts = _facts()
    bad = f"{CACHE}/wheels/ab/cd/ef/0123/pdtiny-1.0-py3-none-any.whl"
    log = [Finding("PD107", "cache-corrupt", Severity.ERROR, "bad", paths=(bad,)),
           Finding("PD108", "cached-local-wheel", Severity.INFO, "reused", facts={"packages": ["pdtiny"]}),
           Finding("PD107", "cache-corrupt", Severity.ERROR, "bad", paths=("/home/alice/src/x.whl",))]
    plan = make_plan(facts, [], as_root=False, stamp=STAMP, root_names=["wheels"], log_findings=log)
    aside = f"{bad}.pipdoctor-{STAMP}"
    assert [(s.kind, s.command) for s in plan.steps] == [("rename", f"mv -n -T -- {bad} {aside}")]
    assert plan.steps[0].new_names == (aside,) and plan.steps[0].later == f"rm -- {aside}"
    # a reused local build is cured only when it is the cause (the first finding), never beside another
    plan = make_plan(facts, [], as_root=False, stamp=STAMP, root_names=["wheels"], log_findings=log[1:])
    assert [(s.kind, s.command) for s in plan.steps] == [("pip-cache-remove", "pip cache remove pdtiny")]


def test_a_damaged_http_cache_goes_aside_only_when_pip_stopped_on_it():
    facts = _facts(walk=_walk(areas=()))  # the walk found no mount point: `rm -rf` of the moved copy is safe
    stopped = Finding("PD107", "cache-corrupt", Severity.ERROR, "bad bytes", facts={"http_cache": True})
    plan = make_plan(facts, [], as_root=False, stamp=STAMP, root_names=["wheels", "http-v2"], log_findings=[stopped])
    [step] = plan.steps
    aside = f"{CACHE}/http-v2.pipdoctor-{STAMP}"
    assert (step.kind, step.targets, step.new_names) == ("rename", (f"{CACHE}/http-v2",), (aside,))
    assert step.later == f"rm -rf -- {aside}"
    # pip ignored the entry and downloaded again (a warning): nothing to cure
    ignored = stopped.but(severity=Severity.WARNING)
    assert make_plan(facts, [], as_root=False, stamp=STAMP, root_names=["http-v2"], log_findings=[ignored]).steps == ()
    # a cache root the user cannot rename in, and no root: a fresh cache for the retry instead
    foreign_root = _facts(root=facts.root._replace(owner=facts.root.owner._replace(uid=0)))
    [step] = make_plan(foreign_root, [], as_root=False, stamp=STAMP, root_names=["http-v2"],
                       log_findings=[stopped]).steps
    assert step.kind == "alternate-cache" and step.retry_args[0] in ("--cache-dir", "--no-cache-dir")


def test_plan_json_is_plain_data():
    import json

    plan = _plan(_seed(), as_root=False)
    doc = json.loads(json.dumps(plan.to_json()))
    assert doc["steps"][0]["kind"] == "rename" and doc["needs_root"] is False
    assert plan._replace(steps=()).to_json()["steps"] == []
