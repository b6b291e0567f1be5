"""pipdoctor.installers.uv.cache against what the real uv writes: every uv in tests.sandbox.UV_VERSIONS syncs a
tiny project (no dependencies, offline) into a fresh cache and $TMPDIR; every name it leaves is recognised."""

from __future__ import annotations

import os
import subprocess

import pytest

from pipdoctor.installers.uv.cache import (KNOWN_BUCKETS, SDISTS_MARKERS, classify_top_level, is_uv_temp_lock,
                                           temp_lock_glob)
from tests import sandbox

PYPROJECT = '[project]\nname = "p"\nversion = "0"\nrequires-python = ">=3.9"\ndependencies = []\n'


@pytest.fixture(params=sandbox.UV_VERSIONS)
def synced(request, tmp_path):
    """(uv version, cache dir, temp dir) after `uv sync --offline` of a project without dependencies."""
    version = request.param
    project, cache, temp = tmp_path / "p", tmp_path / "cache", tmp_path / "tmp"
    project.mkdir()
    temp.mkdir()
    (project / "pyproject.toml").write_text(PYPROJECT)
    env = {"PATH": sandbox.PATH, "HOME": str(tmp_path), "TMPDIR": str(temp), "UV_CACHE_DIR": str(cache),
           "UV_NO_CONFIG": "1", "UV_PYTHON": str(sandbox.READABLE_PYTHON), "UV_PYTHON_DOWNLOADS": "never"}
    uv = sandbox.uv_venv(version) / "bin" / "uv"
    proc = subprocess.run([str(uv), "sync", "--offline"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return version, cache, temp


def test_every_top_level_name_uv_writes_is_known(synced):
    version, cache, _ = synced
    names = sorted(os.listdir(cache))
    kinds = {name: classify_top_level(name) for name in names}

    assert [n for n, c in kinds.items() if c.kind == "foreign"] == []
    buckets = [n for n, c in kinds.items() if c.kind == "bucket"]
    assert buckets and all(version in kinds[n].known_in for n in buckets), buckets
    assert set(buckets) <= KNOWN_BUCKETS[version]
    markers = {n for n, c in kinds.items() if c.kind == "marker"}
    # the root's .lock came with uv 0.8.19
    assert markers == ({"CACHEDIR.TAG", ".gitignore"} | ({".lock"} if version != "0.4.30" else set()))
    sdists = next(n for n in buckets if kinds[n].bucket == "sdists")
    assert set(SDISTS_MARKERS) <= set(os.listdir(cache / sdists))


def test_lock_files_outside_the_cache_are_recognised(synced):
    """uv >= 0.9 locks a project's environment with $TMPDIR/uv-<digest>.lock (uv/src/commands/project/mod.rs)."""
    version, _, temp = synced
    locks = [name for name in os.listdir(temp) if name.startswith("uv-")]

    assert all(is_uv_temp_lock(name) for name in locks), locks
    assert bool(locks) == (version != "0.4.30")
    assert temp_lock_glob({"TMPDIR": str(temp)}) == f"{temp}/uv-*.lock"


@pytest.mark.parametrize("name", ["pip", "wheels", "sdists-v11.bak", "Wheels-v5", "sdists-v", "http-v2",
                                  ".lock2", "uv-setuptools-x.lock"])
def test_look_alikes_are_not_uvs(name):
    assert classify_top_level(name).kind == "foreign"
    assert not is_uv_temp_lock(name)


def test_a_bucket_of_another_uv_is_still_uvs():
    """An old uv's bucket stays beside a newer uv's (the format version is in the name): still uv's."""
    old = classify_top_level("wheels-v1")
    assert (old.kind, old.bucket, old.format_version, old.known_in) == ("bucket", "wheels", 1, ())
