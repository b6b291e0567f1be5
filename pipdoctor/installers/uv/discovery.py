"""Which uv an account would run, found by looking at file names only: pipdoctor never runs a user's uv to learn
anything (as root that would run the user's code)."""

from __future__ import annotations

import os
from typing import Optional


def installed_uv(account) -> Optional[str]:
    """The first `uv` on the account's PATH that is not pipdoctor's own (runner.users_tool_on_path: a stat and
    an access(X_OK), nothing opened or run), else one where uv's standalone installer puts it for that user:
    ~/.local/bin/uv (uv 0.5 and later, $XDG_BIN_HOME unset), ~/.cargo/bin/uv (before 0.5). A login shell puts
    ~/.local/bin on PATH (Debian's /etc/skel/.profile), but the PATH of an account root checks is root's
    (host/accounts.py), so these two are looked at in its passwd home too."""
    from pipdoctor.runner import InstallerNotFound, users_tool_on_path

    try:
        found = users_tool_on_path("uv", account.environ, instead="")
    except InstallerNotFound:  # only pipdoctor's own uv: not the user's
        found = None
    if found is not None:
        return found
    for home in dict.fromkeys(h for h in (account.environ.get("HOME"), account.passwd_home) if h):
        for candidate in (os.path.join(home, ".local", "bin", "uv"), os.path.join(home, ".cargo", "bin", "uv")):
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    return None
