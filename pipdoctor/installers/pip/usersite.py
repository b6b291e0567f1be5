"""Which pip a Python imports first: one in the user site (`pip install --user pip`) before its own."""

from __future__ import annotations

import glob
import os
import re
from typing import Mapping, Optional


def _python_version(python: str, prefix: str) -> Optional[str]:
    """"3.11" for the interpreter: from its resolved name (python3.11), else from its prefix's lib/python3.N."""
    match = re.fullmatch(r"python(\d+\.\d+)", os.path.basename(os.path.realpath(python)))
    if match:
        return match.group(1)
    found = sorted(glob.glob(os.path.join(glob.escape(prefix), "lib", "python3.*", "os.py")))
    return os.path.basename(os.path.dirname(found[-1]))[len("python"):] if found else None


def _user_site_enabled(prefix: str, environ: Mapping[str, str]) -> bool:
    """site.py check_enableusersite and venv(): PYTHONNOUSERSITE (any non-empty value) turns it off, and so
    does a venv unless its pyvenv.cfg says include-system-site-packages = true."""
    from pipdoctor.userfiles import read_head

    if environ.get("PYTHONNOUSERSITE"):
        return False
    config = os.path.join(prefix, "pyvenv.cfg")
    if not os.path.lexists(config):
        return True
    for line in read_head(config, 8192).decode("utf-8", "replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip().lower() == "include-system-site-packages":
            return value.strip().lower() == "true"
    return False


def user_site_pip_version(python: str, prefix: str, environ: Mapping[str, str]) -> Optional[str]:
    """The version of the pip in `python`'s user site, which it imports before the pip of its prefix (site.py
    puts the user site ahead of site-packages on sys.path); None when there is none or the user site is off.
    site.py _getuserbase: PYTHONUSERBASE, else ~/.local (HOME from `environ`)."""
    if not _user_site_enabled(prefix, environ):
        return None
    base = environ.get("PYTHONUSERBASE") or (os.path.join(environ["HOME"], ".local") if environ.get("HOME") else None)
    version = _python_version(python, prefix)
    if not base or not version:
        return None
    site = os.path.join(base, "lib", f"python{version}", "site-packages")
    found = sorted(glob.glob(os.path.join(glob.escape(site), "pip-*.dist-info")))
    return os.path.basename(found[-1])[len("pip-"):-len(".dist-info")] if found else None
