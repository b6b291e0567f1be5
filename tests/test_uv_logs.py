"""The classifier over every recorded real uv run (scripts/record-logs, tests/data/logs/uv-*/uv-<version>.*):
the labelled first finding and its installer, and uv's chain parser over those same recorded lines."""

import json
import re
from pathlib import Path

import pytest

from pipdoctor.classifier import classify, scan_blocks
from pipdoctor.findings import has_problem
from pipdoctor.installers.uv import wordings
from pipdoctor.oserrors import ErrorKind
from pipdoctor.remediation import suggest
from pipdoctor.rules import TRIGGERS
from tests.sandbox import UV_VERSIONS

LOGS = Path(__file__).parent / "data" / "logs"
LABELS = sorted(LOGS.glob("uv-*/uv-*.json"))
RECORDINGS = "/var/tmp/pipdoctor-sandbox/rec"


def _label(path: Path) -> dict:
    return json.loads(path.read_text())


def _log(path: Path):
    return scan_blocks([path.read_bytes()])


def _chains(scenario: str, version: str):
    return wordings.chains(_log(LOGS / scenario / f"uv-{version}.log").lines)


def _reports(scenario: str, version: str):
    return [r for chain in _chains(scenario, version) for r in wordings.os_errors(chain)]


def _cache(scenario: str, version: str) -> str:
    return f"{RECORDINGS}/{scenario}/{version}/home/.cache/uv"


def test_every_uv_version_is_recorded_for_every_uv_scenario():
    scenarios = {p.parent.name for p in LABELS}
    assert len(scenarios) >= 8
    for scenario in scenarios:
        assert {_label(p)["uv_version"] for p in LOGS.glob(f"{scenario}/uv-*.json")} == set(UV_VERSIONS), scenario


UV_LABEL_KEYS = {"scenario", "tool", "uv_version", "command", "env", "user", "exit_code", "primary", "acceptable",
                 "state"}


@pytest.mark.parametrize("label_path", LABELS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_label_and_live_check_are_well_formed(label_path):
    label = _label(label_path)
    assert set(label) - {"note"} == UV_LABEL_KEYS and label["scenario"] == label_path.parent.name
    assert label_path.name == f"uv-{label['uv_version']}.json" and label_path.with_suffix(".log").exists()
    assert label["command"][0].endswith(f"/uv-{label['uv_version']}/bin/uv")
    check = _label(label_path.with_name(f"check-uv-{label['uv_version']}.json"))
    assert set(check) == {"scenario", "uv_version", "user", "expected", "exit_code", "findings"}
    assert (check["scenario"], check["user"]) == (label["scenario"], label["user"])


@pytest.mark.parametrize("label_path", LABELS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_first_finding_is_the_label_and_about_uv(label_path):
    label = _label(label_path)
    assert label["tool"] == "uv"
    findings = classify(_log(label_path.with_suffix(".log")))
    if label["primary"] is None:
        assert label["exit_code"] == 0 and not has_problem(findings), [f.code for f in findings]
    else:
        assert label["exit_code"] != 0
        assert findings and (findings[0].code, findings[0].tool) == (label["primary"], "uv"), findings[:1]
        message = findings[0].message.replace(RECORDINGS, "<rec>")
        assert "pip" not in message + findings[0].why


@pytest.mark.parametrize("version", UV_VERSIONS)
def test_a_root_owned_bucket_is_uvs_cache_and_never_pips_advice(version):
    finding = classify(_log(LOGS / "uv-bucket-root-owned" / f"uv-{version}.log"))[0]
    assert finding.message.startswith("uv cannot write to its cache")
    assert "sudo uv" in finding.why and "pip" not in finding.why
    assert any("/sdists-v" in p for p in finding.paths)


@pytest.mark.parametrize("version", UV_VERSIONS)
def test_the_chain_names_the_bucket_file_and_the_cache_root(version):
    reports = _reports("uv-bucket-root-owned", version)
    assert [(r.kind, r.number, r.tool) for r in reports] == [(ErrorKind.PERMISSION, 13, "uv")]
    assert reports[0].path.startswith(_cache("uv-bucket-root-owned", version) + "/sdists-v")
    assert reports[0].path.endswith("/.git")
    chains = _chains("uv-bucket-root-owned", version)
    assert wordings.cache_roots(chains, reports) == [_cache("uv-bucket-root-owned", version)]


def test_old_uv_puts_the_path_on_the_context_line_new_uv_on_the_cause_line():
    old = _chains("uv-bucket-root-owned", "0.4.30")[0]
    assert old[1].text.strip().startswith("Caused by:") and "`" not in old[1].text
    new = _chains("uv-bucket-root-owned", "0.13.9")[0]
    assert new[1].text.strip().startswith("cause:") and "`" in new[1].text
    assert "Failed to initialize cache at `.cache/uv`" in new[0].text  # relative to the working dir


def test_a_relative_cache_root_is_made_absolute_from_its_chain_and_an_absolute_one_kept():
    for scenario, version in (("uv-bucket-root-owned", "0.9.30"), ("uv-sync-bucket-root-owned", "0.9.30")):
        chains, reports = _chains(scenario, version), _reports(scenario, version)
        assert wordings.cache_roots(chains, reports) == [_cache(scenario, version)]


def test_a_refused_temp_file_is_about_the_dir_it_was_to_be_made_in():
    # 0.13.9: "Read-only file system (os error 30) at path "<cache>/.tmpXXXXXX"" under "Could not acquire lock"
    (report,) = _reports("uv-cache-read-only", "0.13.9")
    assert (report.kind, report.path) == (ErrorKind.READ_ONLY, _cache("uv-cache-read-only", "0.13.9"))
    (temp,) = _reports("uv-no-cache-tmp-read-only", "0.4.30")
    assert temp.path == f"{RECORDINGS}/uv-no-cache-tmp-read-only/0.4.30/tmp"


def test_kinds_come_from_the_errno_number():
    kinds = {(s, v): [r.kind for r in _reports(s, v)] for s in ("uv-disk-full", "uv-cache-read-only",
                                                                 "uv-home-missing") for v in UV_VERSIONS}
    assert {k for ks in kinds.values() for k in ks} == {ErrorKind.NO_SPACE, ErrorKind.READ_ONLY,
                                                        ErrorKind.PERMISSION}
    assert all(kinds[("uv-disk-full", v)] == [ErrorKind.NO_SPACE] for v in UV_VERSIONS)


def test_healthy_runs_have_no_chain():
    for scenario in ("uv-healthy", "uv-sync-healthy", "uv-no-passwd"):
        for version in UV_VERSIONS:
            assert _chains(scenario, version) == []


def test_the_root_owned_temp_lock_is_the_temp_dir_not_the_cache():
    finding = classify(_log(LOGS / "uv-temp-lock-root-owned" / "uv-0.4.30.log"))[0]
    assert (finding.code, finding.tool) == ("PD303", "uv")
    assert finding.paths[0].endswith(".lock") and "/tmp/uv-" in finding.paths[0]


def test_pip_logs_hold_no_uv_chain():
    # The recorded pip runs: none of their lines is read as uv's, so pip's parsing is what it was.
    for log in sorted(LOGS.glob("*/pip-26.3.log")) + sorted(LOGS.glob("*/pip-20.3.4.log")):
        assert wordings.chains(scan_blocks([log.read_bytes()], TRIGGERS).lines) == [], log
        assert all(f.tool == "pip" for f in classify(scan_blocks([log.read_bytes()]))), log


def _advice(finding) -> str:
    return " ".join(f.command for f in suggest(finding).fixes)


@pytest.mark.parametrize("label_path", [p for p in LABELS if _label(p)["primary"]],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_uv_failure_gets_uvs_cures_never_pips(label_path):
    findings = classify(_log(label_path.with_suffix(".log")))
    advice = " ".join(_advice(f) for f in findings)
    # pip's own commands and settings never; `uv pip ...` is uv's
    assert advice and not re.search(r"(?<!uv )\bpip\b|--no-cache-dir|PIP_", advice.replace(RECORDINGS, "")), advice
    if findings[0].code in ("PD101", "PD201"):
        assert 'UV_CACHE_DIR="$(mktemp -d)" uv' in advice and "UV_NO_CACHE=1 uv" in advice


def test_a_uv_cache_chown_names_uvs_cache_root():
    finding = classify(_log(LOGS / "uv-bucket-root-owned" / "uv-0.4.30.log"))[0]
    root = _cache("uv-bucket-root-owned", "0.4.30")
    assert suggest(finding).fixes[0].command == f'sudo chown -R "$(id -u):$(id -g)" {root}'


def test_a_pip_failure_never_gets_uvs_cures():
    for log in sorted(LOGS.glob("*/pip-26.3.log")):
        for finding in classify(_log(log)):
            assert "uv" not in _advice(finding).split() and "UV_" not in _advice(finding), log


def test_explain_offers_pipdoctor_fix_of_the_installers_own_cache(tmp_path):
    # `pipdoctor fix` cures pip's cache and uv's: explain names uv's for a uv log, never pip's alone.
    import subprocess
    import sys

    def explain(log):
        return subprocess.run([sys.executable, "-m", "pipdoctor", "explain", str(log)], stdout=subprocess.PIPE,
                              text=True).stdout

    uv_said = explain(LOGS / "uv-bucket-root-owned" / "uv-0.13.9.log")
    assert "pipdoctor fix --tool uv  #" in uv_said and "pipdoctor fix  #" not in uv_said
    pip_said = explain(LOGS / "wheels-root-owned" / "pip-26.3.log")
    assert "pipdoctor fix  #" in pip_said and "--tool uv" not in pip_said


# code -> recorded uv runs that look alike but are something else: the code must not appear in them.
UV_LOOK_ALIKES = {
    "PD101": ["uv-venv-lock-root-owned", "uv-temp-lock-root-owned", "uv-no-cache-tmp-read-only", "uv-healthy"],
    "PD303": ["uv-venv-lock-root-owned", "uv-bucket-root-owned", "uv-cache-read-only"],
    "PD301": ["uv-bucket-root-owned", "uv-cache-root-owned", "uv-temp-lock-root-owned"],
    "PD106": ["uv-bucket-root-owned", "uv-disk-full"],
}


@pytest.mark.parametrize("code", sorted(UV_LOOK_ALIKES))
def test_uv_look_alikes_do_not_fire(code):
    logs = [log for scenario in UV_LOOK_ALIKES[code] for log in sorted((LOGS / scenario).glob("uv-*.log"))]
    assert len(logs) == 3 * len(UV_LOOK_ALIKES[code])
    for log in logs:
        assert code not in [f.code for f in classify(_log(log))], log


def test_a_root_owned_venv_lock_is_the_install_target_uv_named():
    finding = classify(_log(LOGS / "uv-venv-lock-root-owned" / "uv-0.4.30.log"))[0]
    assert (finding.code, finding.tool) == ("PD301", "uv")
    assert finding.paths == (f"{RECORDINGS}/uv-venv-lock-root-owned/0.4.30/venv/.lock",)
