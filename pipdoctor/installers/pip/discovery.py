"""Which pip the user would run, found without running it: its Python's prefix and pip's version."""

from __future__ import annotations

import os
from typing import Mapping, Optional

from pipdoctor.records import record


@record
class InstalledPip:
    """The pip a user would run (runner.pip_command's choice): its Python's prefix and pip's version."""

    command: str
    prefix: Optional[str]  # sys.prefix of its Python: where its site pip.conf lives
    version: Optional[str]


def _shebang_python(script: str) -> Optional[str]:
    from pipdoctor.userfiles import read_head

    first = read_head(script, 512).split(b"\n", 1)[0]  # a FIFO named pip on PATH must not hang the check
    if not first.startswith(b"#!"):
        return None
    words = first[2:].strip().split()
    if not words:
        return None
    if os.path.basename(words[0]) == b"env" and len(words) > 1:
        return None  # `#!/usr/bin/env python3`: PATH decides, leave it to the caller's prefix guess
    return os.fsdecode(words[0]) if b"python" in os.path.basename(words[0]) else None


def installed_pip(environ: Mapping[str, str]) -> Optional[InstalledPip]:
    """Find the user's pip without running it (a Python start-up costs more than this whole check):
    the prefix from the interpreter's path, the version from pip's .dist-info directory name."""
    import glob

    python = environ.get("PIPDOCTOR_PYTHON")
    command = python
    if not python:
        from pipdoctor.runner import users_pip_on_path

        pip = users_pip_on_path(environ)
        if not pip:
            return None
        command = pip
        python = _shebang_python(pip) or os.path.join(os.path.dirname(pip), "python")
    prefix = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    version = None
    patterns = [os.path.join(prefix, "lib", "python3*", "site-packages", "pip-*.dist-info"),
                os.path.join(prefix, "lib", "python3*", "dist-packages", "pip-*.dist-info"),
                os.path.join(prefix, "lib", "python3", "dist-packages", "pip-*.dist-info")]
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            version = os.path.basename(found[-1])[len("pip-"):-len(".dist-info")]
            break
    from pipdoctor.installers.pip.usersite import user_site_pip_version

    version = user_site_pip_version(python, prefix, environ) or version  # `pip install --user pip` runs first
    return InstalledPip(command, prefix, version)
