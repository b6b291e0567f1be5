"""usersite: the pip in the user site is the one Python imports, unless site.py turns the user site off."""

from __future__ import annotations

import os

from pipdoctor.installers.pip.usersite import user_site_pip_version


def _python(tmp_path, venv_cfg=None):
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib" / "python3.11").mkdir(parents=True)
    (prefix / "lib" / "python3.11" / "os.py").write_text("")
    python = prefix / "bin" / "python3"
    python.write_text("")
    if venv_cfg is not None:
        (prefix / "pyvenv.cfg").write_text(venv_cfg)
    home = tmp_path / "home"
    (home / ".local" / "lib" / "python3.11" / "site-packages" / "pip-26.3.dist-info").mkdir(parents=True)
    return str(python), str(prefix), {"HOME": str(home)}


def test_user_site_pip_comes_first(tmp_path):
    python, prefix, env = _python(tmp_path)
    assert user_site_pip_version(python, prefix, env) == "26.3"
    # site.py: PYTHONNOUSERSITE (any non-empty value) turns the user site off
    assert user_site_pip_version(python, prefix, {**env, "PYTHONNOUSERSITE": "1"}) is None
    # PYTHONUSERBASE moves it
    assert user_site_pip_version(python, prefix, {**env, "PYTHONUSERBASE": os.fspath(tmp_path / "none")}) is None


def test_a_venv_has_no_user_site_unless_it_includes_the_system_site(tmp_path):
    python, prefix, env = _python(tmp_path, "home = /usr/bin\ninclude-system-site-packages = false\n")
    assert user_site_pip_version(python, prefix, env) is None
    (tmp_path / "prefix" / "pyvenv.cfg").write_text("include-system-site-packages = true\n")
    assert user_site_pip_version(python, prefix, env) == "26.3"
