"""Which uv an account would run, found by looking at file names only: pipdoctor never runs a user's uv to learn
anything (as root that would run the user's code)."""

from __future__ import annotations

import os
import re
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


# A site-packages a user filled with millions of names must not hold root's check up: past this many, the
# version is not known (the newest rules apply), as for a standalone uv.
MAX_SITE_NAMES = 20_000

# A version as uv's wheels name their .dist-info directory (PEP 427/491: uv-0.13.9.dist-info).
_DIST_INFO = re.compile(r"uv-(\d{1,4}(?:\.\d{1,6}){1,3})\.dist-info")


def uv_version_of(executable: str) -> Optional[str]:
    """The version of the uv at `executable` when pip (or uv) installed it from its wheel: the name of the
    .dist-info directory beside its bin dir (PREFIX/bin/uv -> PREFIX/lib/python3*/site-packages/uv-X.dist-info),
    a directory listing and nothing opened or run. None for a standalone uv (the installer script, a package)."""
    import glob

    prefix = os.path.dirname(os.path.dirname(os.path.realpath(executable)))
    found = []
    for directory in glob.glob(os.path.join(glob.escape(prefix), "lib", "python3*", "site-packages")):
        try:  # the user's directory: at most MAX_SITE_NAMES names are looked at (root reads it as metadata only)
            with os.scandir(directory) as entries:
                names = [entry.name for entry, _ in zip(entries, range(MAX_SITE_NAMES))]
        except OSError:
            continue
        found += [match.group(1) for match in map(_DIST_INFO.fullmatch, names) if match]
    return found[0] if len(set(found)) == 1 else None  # two of them: which one is installed is not known
