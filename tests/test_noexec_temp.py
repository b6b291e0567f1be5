"""PD303 from a real noexec temp dir: the dynamic loader's own error, made in a private mount namespace."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import sandbox

pytestmark = pytest.mark.root
EXTENSION = next(Path("/usr/lib/python3.11/lib-dynload").glob("_json.cpython-311-*.so"), None)


@pytest.mark.skipif(EXTENSION is None, reason="needs Debian's python3.11 extension modules to load")
def test_an_extension_in_a_noexec_build_env_is_pd303(tmp_path):
    mount = tmp_path / "tmp"
    mount.mkdir()
    site = mount / "pip-build-env-k2j4x9qa" / "overlay" / "lib" / "python3.11" / "site-packages"
    setup = f"mount -t tmpfs -o noexec,size=8m tmpfs {mount}\nmkdir -p {site}\ncp {EXTENSION} {site}/_json.so"
    load = f"import importlib.util as u; s = u.spec_from_file_location('_json', '{site}/_json.so'); " \
           "u.module_from_spec(s)"
    loaded = sandbox.run([sandbox.READABLE_PYTHON, "-c", load], mount_setup=setup)
    assert loaded.returncode != 0 and b"failed to map segment from shared object" in loaded.stdout
    explained = subprocess.run([sys.executable, "-m", "pipdoctor", "explain", "--json", "-"], input=loaded.stdout,
                               stdout=subprocess.PIPE)
    first = json.loads(explained.stdout)["findings"][0]
    assert first["code"] == "PD303" and "noexec" in first["message"]
    assert f"{site}/_json.so" in first["paths"]
