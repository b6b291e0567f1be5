"""Every wording of pip 6.0 to 26.3, taken from each release's own source by scripts/extract-pip-wordings
(tests/data/pip-wordings.json), formatted as pip formats it and classified: the pips that cannot run here
are covered by their real message templates, the ones that can by tests/test_recorded_logs.py."""

import json
from pathlib import Path

import pytest

from pipdoctor.classifier import classify, scan_blocks

WORDINGS = json.loads((Path(__file__).parent / "data" / "pip-wordings.json").read_text())["wordings"]
CACHE = "/home/alice/.cache/pip"


def templates(key: str, must_contain: str = "") -> list:
    found = [(text, versions) for text, versions in WORDINGS[key].items() if must_contain in text]
    assert found, f"no {key!r} wording extracted"
    return found


def fill(template: str, *values: str) -> str:
    """Format a template the way pip does: %-style before 20-something, str.format/f-strings after."""
    if "%s" in template:
        return template % values[: template.count("%s")]
    return template.format(*values[: template.count("{}")])


def codes(*lines: str) -> list:
    return [f.code for f in classify(scan_blocks(["\n".join(lines).encode() + b"\n"]))]


def _ids(items):
    return [f"{versions[0]}-{versions[-1]}" for _, versions in items]


CACHE_DISABLED = [t for t in templates("cache-disabled") if "debug log" not in t[0]]


@pytest.mark.parametrize("template,versions", CACHE_DISABLED, ids=_ids(CACHE_DISABLED))
@pytest.mark.parametrize("prefix", ["", "WARNING: ", "  "])  # WARNING: from 19.1; indented in CI logs
def test_cache_disabled_every_wording(template, versions, prefix):
    found = codes(prefix + fill(template, CACHE))
    assert found[:1] == ["PD102"], (versions, found)


DEBUG_LOG = [t for t in templates("cache-disabled") if "debug log" in t[0]]


@pytest.mark.parametrize("template,versions", DEBUG_LOG, ids=_ids(DEBUG_LOG))
def test_pip_6_debug_log_warning_is_not_the_cache(template, versions):
    assert "PD102" not in codes(fill(template, "/home/alice/.cache/pip/log"))


@pytest.mark.parametrize("template,versions", templates("could-not-install"),
                         ids=_ids(templates("could-not-install")))
def test_install_failure_the_path_decides_not_the_hint(template, versions):
    hint = fill(next(iter(WORDINGS["user-hint"]))) + " or check the permissions."
    error = str(PermissionError(13, "Permission denied", f"{CACHE}/wheels/50/24/4d/abc"))
    assert codes(f"ERROR: {template}: {error}", hint)[:1] == ["PD101"]
    target = str(PermissionError(13, "Permission denied", "/usr/lib/python3/dist-packages/yaml"))
    found = codes(f"ERROR: {template}: {target}", hint)
    assert found[:1] == ["PD301"] and "PD101" not in found


@pytest.mark.parametrize("template,versions", templates("building-wheel-failed"),
                         ids=_ids(templates("building-wheel-failed")))
def test_storing_a_built_wheel_failing_is_the_cache_not_the_build(template, versions):
    error = str(PermissionError(13, "Permission denied", f"{CACHE}/wheels/b1"))
    closing = [fill(t, "pyyaml") for t, _ in templates("could-not-build-wheels")]
    found = codes("  WARNING: " + fill(template, "pyyaml", error), "Failed to build pyyaml", *closing)
    assert found == ["PD101"]


@pytest.mark.parametrize("template,versions", templates("failed-building-wheel"),
                         ids=_ids(templates("failed-building-wheel")))
def test_a_real_build_failure(template, versions):
    found = codes("  error: command 'gcc' failed with exit status 1", "  ERROR: " + fill(template, "psutil"))
    assert found == ["PD304"]


@pytest.mark.parametrize("template,versions", templates("could-not-build-wheels") +
                         templates("failed-installable-wheels", "({})"),
                         ids=_ids(templates("could-not-build-wheels") + templates("failed-installable-wheels", "({})")))
def test_closing_lines_name_the_package_not_their_words(template, versions):
    [finding] = classify(scan_blocks([("ERROR: " + fill(template, "numpy")).encode()]))
    assert finding.code == "PD304" and finding.facts["packages"] == ["numpy"]


@pytest.mark.parametrize("template,versions", templates("invalid-wheel", "Wheel '"),
                         ids=_ids(templates("invalid-wheel", "Wheel '")))
def test_invalid_wheel_only_in_the_cache(template, versions):
    cached = f"{CACHE}/wheels/4c/36/ab/0123/pdtiny-1.0-py3-none-any.whl"
    assert codes("ERROR: " + fill(template, "pdtiny", cached))[:1] == ["PD107"]
    assert "PD107" not in codes("ERROR: " + fill(template, "pdtiny", "/home/alice/dist/pdtiny-1.0-py3-none-any.whl"))


@pytest.mark.parametrize("template,versions", templates("http-cache-entry"), ids=_ids(templates("http-cache-entry")))
def test_http_cache_entry(template, versions):
    [finding] = classify(scan_blocks([b"WARNING: " + template.encode()]))
    assert (finding.code, finding.severity.value) == ("PD107", "warning")


@pytest.mark.parametrize("template,versions", templates("temp-folder"), ids=_ids(templates("temp-folder")))
def test_pip_6_temp_folder_check(template, versions):
    assert codes(fill(template, "/tmp/pip_build_alice")) == ["PD303"]


@pytest.mark.parametrize("template,versions", templates("externally-managed"),
                         ids=_ids(templates("externally-managed")))
def test_externally_managed(template, versions):
    assert codes("error: " + template) == ["PD302"]


# pip 1.4.1 locations.py:77 (before 1.5's wording above): quoted from the source, pip 1.x cannot run here.
def test_pip_1_4_temp_folder_check():
    assert codes("The temporary folder for building (/tmp/pip_build_alice) is not owned by your user!") == ["PD303"]
    assert codes("The temporary folder for building (/tmp/pip_build_alice) is owned by you.") == []
