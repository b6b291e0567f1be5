"""The classifier over every recorded real pip log (scripts/record-logs): the labelled first finding, and
for each code the look-alike scenarios where it must not fire at all (ShellCheck's verify / verifyNot)."""

import json
import re
from pathlib import Path

import pytest

from pipdoctor.classifier import classify, scan_blocks
from pipdoctor.findings import has_problem
from pipdoctor.rules import RULES

LOGS = Path(__file__).parent / "data" / "logs"
LABELS = sorted(LOGS.glob("*/pip-*.json"))

# code -> recorded scenarios that look alike but are something else: the code must not appear in them.
LOOK_ALIKES = {
    "PD101": [
        "venv-root-owned", "tmp-unusable", "cache-root-owned", "http-root-owned", "https-http-root-owned",
        "healthy",
    ],
    "PD102": ["wheels-root-owned", "wheels-bucket-root-owned", "no-cache-dir", "pip-no-cache-dir-false"],
    "PD105": ["cache-read-only", "wheels-root-owned", "build-failed"],
    "PD106": ["wheels-immutable", "wheels-acl-deny", "disk-full"],
    "PD107": ["cached-local-wheel", "healthy", "http-root-owned", "https-http-root-owned"],
    "PD108": ["healthy", "build-failed", "wheels-root-owned"],
    "PD201": ["home-root-owned", "home-cache-root-owned", "cache-root-owned", "sudo-keeps-home"],
    "PD301": ["wheels-root-owned", "wheels-immutable", "tmp-unusable", "externally-managed"],
    "PD302": ["venv-root-owned", "healthy"],
    "PD303": ["tmpdir-unwritable", "wheels-root-owned", "venv-root-owned", "disk-full"],
    "PD304": ["wheels-root-owned", "wheels-bucket-root-owned", "healthy"],
    "PD399": ["venv-root-owned", "tmp-unusable", "wheels-root-owned", "after-sudo-install"],
}


def _findings(log_path: Path):
    return classify(scan_blocks([log_path.read_bytes()]))


def _label(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("label_path", LABELS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_first_finding_is_the_label(label_path):
    label = _label(label_path)
    findings = _findings(label_path.with_suffix(".log"))
    if label["primary"] is None:
        assert not has_problem(findings), [f.code for f in findings]
    else:
        assert findings and findings[0].code == label["primary"], [f.code for f in findings]


@pytest.mark.parametrize("code", sorted(LOOK_ALIKES))
def test_look_alikes_do_not_fire(code):
    logs = [log for scenario in LOOK_ALIKES[code] for log in sorted((LOGS / scenario).glob("pip-*.log"))]
    assert logs, f"no recorded look-alike for {code}"
    for log in logs:
        assert code not in [f.code for f in _findings(log)], log


def test_every_code_has_look_alikes_and_recorded_matches_where_pip_can_show_it():
    assert set(LOOK_ALIKES) == {rule.CODE for rule in RULES}
    matched = {_label(p)["primary"] for p in LABELS}
    # PD399 (a permission error outside cache, target and temp) has no recordable scenario yet.
    assert {rule.CODE for rule in RULES} - matched <= {"PD399"}


def test_at_least_two_pip_versions_per_scenario():
    for scenario in {p.parent.name for p in LABELS}:
        assert len(list((LOGS / scenario).glob("pip-*.log"))) >= 2, scenario


# PD107 for a damaged download served from pip's HTTP cache (http-files-garbled): pip says "Using cached F"
# and then stops on the index's hash for F. Its look-alikes are made from that real output by changing only
# what distinguishes them.
GARBLED = sorted((LOGS / "http-files-garbled").glob("pip-*.log"))
_FRAGMENT = re.compile(r"#sha256=([0-9a-f]{64})")
_GOT = re.compile(r"Got {8}([0-9a-f]{64})")


@pytest.mark.parametrize("log_path", GARBLED, ids=lambda p: p.stem)
def test_cached_download_that_fails_the_index_hash_is_a_corrupt_cache(log_path):
    [finding] = [f for f in _findings(log_path) if f.code == "PD107"]
    assert finding.severity.value == "error" and finding.facts["http_cache"] and not finding.paths
    assert any("Using cached" in e.text for e in finding.evidence)


@pytest.mark.parametrize("log_path", GARBLED, ids=lambda p: p.stem)
def test_hash_mismatch_look_alikes_are_not_the_cache(log_path):
    text = log_path.read_text()
    got = _GOT.search(text).group(1)
    # A fresh download (no "Using cached"): the index or a proxy served other bytes, not the cache.
    fresh = text.replace("Using cached", "Downloading")
    # The file is what the index says (the link's hash is the one pip got): a hash the user pinned is wrong.
    user_pin = _FRAGMENT.sub(f"#sha256={got}", text)
    # The index gives no hash to compare with.
    no_index_hash = _FRAGMENT.sub("", text)
    for variant in (fresh, user_pin, no_index_hash):
        assert variant != text
        assert "PD107" not in [f.code for f in classify(scan_blocks([variant.encode()]))]


def test_cached_download_is_remembered_however_much_pip_printed_before_the_mismatch():
    # Thousands of kept lines around it (their budget drops the middle ones), and other cached files:
    # "Using cached F" is captured, not kept, so the mismatch for F is still the cache's.
    text = GARBLED[-1].read_text()
    noise = "".join(f"  WARNING: Retrying after [Errno 101] Network is unreachable: /simple/p{n}/\n"
                    f"  Using cached p{n}-1.0.tar.gz (3 kB)\n" for n in range(6000))
    variant = re.sub(r"(  Using cached .*\n)", lambda m: noise + m.group(1) + noise, text, count=1)
    assert variant != text
    assert "PD107" in [f.code for f in classify(scan_blocks([variant.encode()]))]
