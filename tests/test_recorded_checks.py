"""The live view beside the log view: what `pipdoctor check` found right after each recorded run
(tests/data/logs/<scenario>/check-<pip>.json for pip, check-uv-<uv>.json for uv: `check --tool uv` with the
run's cache options; written by scripts/record-logs in the same state, as the same user) against what `explain`
reads in that run's log."""

import json
import re
from pathlib import Path

import pytest

from pipdoctor.classifier import classify, scan_blocks
from pipdoctor.findings import Severity

LOGS = Path(__file__).parent / "data" / "logs"
CHECKS = sorted(LOGS.glob("*/check-*.json"))
CODE = re.compile(r"^PD\d{3}$")
# The recorder's work dir: the home of every recording is <this>/<scenario>/<pip>/home (scripts/record-logs).
RECORDINGS = "/var/tmp/pipdoctor-sandbox/rec"

# A cache or HOME problem that pip ran into is still on the machine after the run: the check must see it,
# under one of these codes.
BACKED_BY = {
    "PD101": {"PD103", "PD104"},
    "PD102": {"PD102"},
    "PD105": {"PD105"},
    # uv --no-cache keeps its cache in a read-only TMPDIR (uv-no-cache-tmp-read-only): the log names the
    # read-only filesystem, the check the temp dir it makes unusable
    "PD106": {"PD106", "PD303"},
    "PD201": {"PD201"},
    "PD303": {"PD303"},
}
# pip succeeds and prints nothing, yet the machine is broken: only the live view can tell.
ONLY_LIVE = {
    "http-root-owned": "pip swallows HTTP-cache write errors (local --find-links: it never even opens it)",
    "https-http-root-owned": "pip swallows HTTP-cache write errors (SafeFileCache)",
    "tmpdir-unwritable": "Python's tempfile falls back to /tmp",
    "pip-no-cache-dir-false": "pip turns its cache off without a word",
    "uv-no-passwd": "uv succeeds into a stray .uv_cache in the working dir; only the check sees the bare uid",
}
# The log shows a problem the check does not look for: cache content, site-packages, PEP 668, the build.
ONLY_LOG = {
    "http-cache-truncated": "the check reads owners, modes and mounts, never the cache's content",
    "http-cache-garbled": "the check reads owners, modes and mounts, never the cache's content",
    "http-files-garbled": "the check reads owners, modes and mounts, never the cache's content",
    "http-cache-truncated-read-with-zstd": "the check reads owners, modes and mounts, never the cache's content",
    "corrupt-wheel": "the check reads owners, modes and mounts, never the cache's content",
    "after-sudo-install": "site-packages is not the check's business",
    "venv-root-owned": "site-packages is not the check's business",
    "externally-managed": "PEP 668 is the interpreter's, not the cache's",
    "build-failed": "a failing build is the package's own problem",
    "source-tree-root-owned": "a source checkout is not the check's business",
    "wheel-dir-root-owned": "a --wheel-dir is not the check's business",
    "target-dir-root-owned": "an install target is not the check's business",
    "target-dir-parent-root-owned": "an install target is not the check's business",
    "prefix-dir-root-owned": "an install target is not the check's business",
    "user-base-root-owned": "an install target is not the check's business",
    "uv-venv-lock-root-owned": "an install target (the venv's .lock) is not the check's business",
}


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _tool(check: dict) -> str:
    return "uv" if "uv_version" in check else "pip"


def _version(check: dict) -> str:
    return check[f"{_tool(check)}_version"]


def _stem(check: dict) -> str:
    """The recording's file stem: pip-<version> or uv-<version>."""
    return f"{_tool(check)}-{_version(check)}"


def _log_findings(scenario: str, stem: str):
    log = LOGS / scenario / f"{stem}.log"
    return classify(scan_blocks([log.read_bytes()]))


def _problems(findings) -> list:
    return [f for f in findings if f.severity is not Severity.INFO]


def _live_codes(check: dict) -> list:
    return [f["code"] for f in check["findings"] if f["severity"] != "info"]


def _views():
    """(scenario, the recording's stem, log problem codes, live problem codes, the installer's exit code) for
    every recorded run."""
    for path in CHECKS:
        check = _json(path)
        label = _json(path.with_name(f"{_stem(check)}.json"))
        log = [f.code for f in _problems(_log_findings(check["scenario"], _stem(check)))]
        yield check["scenario"], _stem(check), log, _live_codes(check), label["exit_code"]


def test_every_log_has_a_check_and_every_check_a_log():
    logs = {(p.parent.name, p.stem) for pattern in ("*/pip-*.log", "*/uv-*.log") for p in LOGS.glob(pattern)}
    checks = {(p.parent.name, _stem(_json(p))) for p in CHECKS}
    assert logs and logs == checks, (sorted(logs - checks), sorted(checks - logs))
    assert any(stem.startswith("uv-") for _, stem in checks)


@pytest.mark.parametrize("path", CHECKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_check_record_is_valid(path):
    check = _json(path)
    tool = _tool(check)
    assert set(check) == {"scenario", f"{tool}_version", "user", "expected", "exit_code", "findings"}
    name = f"check-{_version(check)}" if tool == "pip" else f"check-uv-{_version(check)}"
    assert check["scenario"] == path.parent.name and path.name == f"{name}.json"
    assert check["user"] == _json(path.with_name(f"{_stem(check)}.json"))["user"]
    assert all(CODE.match(code) for code in check["expected"])
    for finding in check["findings"]:
        assert CODE.match(finding["code"]) and finding["severity"] in ("error", "warning", "info")
        # uv's check is of uv's cache only: every finding says so (pip's records predate `tool`)
        assert finding.get("tool", "pip") == tool
        # Stable across recordings: ~/... and work-dir-relative paths, never the recorder's temp names.
        assert all(isinstance(p, str) and "/rec/" not in p for p in finding["paths"]), finding
    # pipdoctor check exits 1 on a warning or error finding, else 0 (README, exit codes).
    assert check["exit_code"] == (1 if _live_codes(check) else 0)


@pytest.mark.parametrize("path", CHECKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_check_found_what_the_scenario_expects(path):
    check = _json(path)
    assert _live_codes(check) == check["expected"]


def test_healthy_is_clean_in_both_views():
    for scenario, version, log, live, _ in _views():
        if scenario == "healthy":
            assert (log, live) == ([], []), version


def test_a_cache_or_home_problem_in_the_log_is_seen_live_too():
    for scenario, version, log, live, _ in _views():
        for code in log:
            if code == "PD101" and "PD201" in live:
                continue  # uv cannot create its cache under a HOME that does not exist: PD201 says why
            if code in BACKED_BY:
                assert BACKED_BY[code] & set(live), (scenario, version, code, live)


def test_the_log_and_the_check_name_the_same_directory():
    """PD101's path (where pip's write failed) lies in a directory the check calls foreign or unwritable."""
    compared = 0
    for path in CHECKS:
        check = _json(path)
        scenario, version = check["scenario"], _version(check)
        home = f"{RECORDINGS}/{scenario}/{version}/home"
        # Below the cache root: the root itself is in every PD103/PD104's paths (it is all there is when the
        # whole cache is another's).
        root = f"~/.cache/{_tool(check)}"
        live_paths = [p for f in check["findings"] if f["code"] in ("PD103", "PD104")
                      for p in ([q for q in f["paths"] if q != root] or f["paths"])]
        for finding in _log_findings(scenario, _stem(check)):
            if finding.code != "PD101" or "PD201" in _live_codes(check):  # no HOME: nothing there to walk
                continue
            for failed in finding.paths:
                if not failed.startswith("/tmp/"):  # a shared cache under /tmp is shown as it is
                    assert failed.startswith(home + "/"), failed
                    failed = "~" + failed[len(home):]
                # The check's paths are saved with a wheel-cache entry's key masked (record-logs VOLATILE).
                failed = re.sub(r"wheels/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{50}", "wheels/KEY", failed)
                assert any(failed == p or failed.startswith(p.rstrip("/") + "/") for p in live_paths), (
                    scenario, version, failed, live_paths)
                compared += 1
    assert compared


def test_what_only_the_live_view_sees():
    """Silent successes: pip exits 0 with nothing in its log, and the check finds the broken state."""
    seen = {}
    for scenario, version, log, live, exit_code in _views():
        if exit_code == 0 and not log and live:
            seen.setdefault(scenario, set()).add(version)
    assert set(seen) == set(ONLY_LIVE)
    for scenario in ONLY_LIVE:  # on every version, not just some
        assert seen[scenario] == {_stem(_json(p)) for p in LOGS.glob(f"{scenario}/check-*.json")}


def test_what_only_the_log_sees():
    seen = {scenario for scenario, _, log, live, _ in _views() if log and not live}
    assert seen == set(ONLY_LOG)
