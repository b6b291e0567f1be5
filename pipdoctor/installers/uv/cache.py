"""What uv writes in its cache and beside it: versioned buckets, the root's markers, its lock files in $TMPDIR."""

from __future__ import annotations

import posixpath
import re
from typing import Mapping, Optional

from pipdoctor.lazyre import lazy_compile
from pipdoctor.records import record

# Citations name uv's files under crates/ at the tags 0.4.30 and 0.9.30 of github.com/astral-sh/uv, and at
# 0.12.5 (the newest release in the snapshot read). 0.13.9's bucket names are the ones its binary holds
# (the source of 0.13.9 was not at hand): they agree with the observation (sdists-v11, wheels-v8).

# uv-cache/src/lib.rs CacheBucket::to_str, for each uv this project tests. A bucket's name carries its
# format's version; uv never reads a bucket of another version (it makes a new one beside it), so an old
# uv's buckets stay in a cache a newer uv uses. What each bucket holds (CacheBucket's doc comments):
BUCKET_KINDS = {
    "sdists": "built wheels of source distributions (and their metadata)",
    "built-wheels": "built wheels of source distributions (the name before sdists, uv < 0.3)",
    "wheels": "downloaded wheels (and their metadata)",
    "archive": "unzipped wheels, shared by the environments that link to them",
    "interpreter": "what uv learned by querying each Python interpreter",
    "builds": "the isolated build environments",
    "simple": "the responses of package indexes (the simple API)",
    "flat-index": "the responses of --find-links locations",
    "git": "clones of Git repositories",
    "environments": "ephemeral environments (uv run --with, uv tool run)",
    "python": "Python download metadata",
    "binaries": "downloaded tool binaries (ruff for uv format)",
    "osv": "vulnerability data (uv audit)",
}
KNOWN_BUCKETS = {
    "0.4.30": frozenset("sdists-v5 flat-index-v1 git-v0 interpreter-v2 simple-v13 wheels-v2 archive-v0 builds-v0 "
                        "environments-v1".split()),
    "0.9.30": frozenset("sdists-v9 flat-index-v2 git-v0 interpreter-v4 simple-v19 wheels-v5 archive-v0 builds-v0 "
                        "environments-v2 python-v0 binaries-v0".split()),
    "0.12.5": frozenset("sdists-v9 flat-index-v4 git-v0 interpreter-v4 simple-v24 wheels-v6 archive-v0 builds-v0 "
                        "environments-v2 python-v0 binaries-v0 osv-v0".split()),
    "0.13.9": frozenset("sdists-v11 flat-index-v7 git-v2 interpreter-v5 simple-v28 wheels-v8 archive-v0 builds-v0 "
                        "environments-v2 python-v1 binaries-v0 osv-v1".split()),
}
_BUCKET_NAME = lazy_compile(r"(%s)-v(\d{1,4})" % "|".join(re.escape(kind) for kind in BUCKET_KINDS))

# uv-cache/src/lib.rs Cache::init (0.4.30) / create_base_files (0.9.30 on), at the cache's root:
ROOT_MARKERS = {
    "CACHEDIR.TAG": "the cache directory tag (cachedir::ensure_tag, bford.net/cachedir)",
    ".gitignore": "'*', so Git ignores a cache inside a repository",
    # Cache::init takes a shared lock on it, `uv cache clean`/`prune` an exclusive one (uv >= 0.8.19)
    ".lock": "the cache's lock file (uv >= 0.8.19)",
}
# uv unpacks each downloaded wheel into a temp dir at the cache's root before it moves it into archive-v0
# (uv-distribution/src/distribution_database.rs, `tempfile::tempdir_in(cache.root())`; interpreter.rs the
# same): the tempfile crate's names, ".tmp" and 6 letters or digits, which a killed uv leaves behind.
_TEMP_DIR_NAME = lazy_compile(r"\.tmp[0-9A-Za-z]{6}")
# Inside the sdists bucket, from the same functions: an empty `.gitignore` and a phony `.git` file (so that
# build backends walking up for a repository stop there). uv opens `.git` for writing at every start: that
# is the `failed to open file .../sdists-v11/.git: Permission denied` of a root-owned bucket.
SDISTS_MARKERS = (".gitignore", ".git")

# uv's lock files outside the cache, in std::env::temp_dir() ($TMPDIR, else /tmp; Rust takes TMPDIR="" as
# the working directory). cache_digest is 16 lowercase hex digits (uv-cache-key/src/digest.rs to_hex).
# - uv-{digest}.lock: installing into an interpreter that is not a virtualenv (`uv pip install --system`,
#   a system Python): uv-python/src/environment.rs PythonEnvironment::lock (0.4.30),
#   uv-python/src/interpreter.rs Interpreter::lock (0.9.30 on); a venv is locked by `<venv>/.lock`.
# - uv-{digest}.lock: a project's workspace (uv sync/lock/run) and a PEP 723 script's environment:
#   uv/src/commands/project/mod.rs (0.9.30 on; seen: `uv sync` of 0.9.30 and 0.13.9 leaves one, 0.4.30 none).
# - uv-setuptools-{digest}.lock: a setuptools build of a source tree, uv-build-frontend/src/lib.rs (0.9.30 on).
# Made by whoever runs uv first, mode per umask: one left by `sudo uv` is root's, and the next user run
# that needs the same lock cannot open it (the "root-owned $TMPDIR/uv-*.lock").
_TEMP_LOCK_NAME = lazy_compile(r"uv-(setuptools-)?[0-9a-f]{16}\.lock")

# The root rule, or its absence. pip checks that the cache dir belongs to the user who runs it and turns
# the cache off otherwise (pip/_internal/cli/base_command.py, utils/filesystem.py check_path_owner), so
# `sudo pip` does not leave root's files in a user's cache. uv has no such check: uv-cache/src/lib.rs
# Cache::init (0.4.30 to 0.12.5) creates the root, its markers and the sdists bucket as whoever runs it,
# with no look at owners, so `sudo uv ...` with the user's HOME or UV_CACHE_DIR writes root-owned entries
# into the user's cache. Nor does uv fall back: an error in Cache::init ends the command (uv/src/lib.rs
# `cache.init()?`; from 0.9 `Error::Init`, "Failed to initialize cache at `...`"), where pip would run on
# without a cache. --no-cache/UV_NO_CACHE is the only way around, and it too needs a writable $TMPDIR.
HAS_ROOT_RULE = False
FALLS_BACK_WITHOUT_CACHE = False


@record
class TopLevelName:
    """What one name at the top of a uv cache is."""

    name: str
    kind: str  # "bucket", "marker" (CACHEDIR.TAG, .gitignore, .lock), "temp" (.tmpXXXXXX), "foreign" (not uv's)
    bucket: Optional[str] = None  # the bucket's kind, a key of BUCKET_KINDS ("sdists")
    format_version: Optional[int] = None  # the N of -vN
    known_in: tuple = ()  # the uv versions of KNOWN_BUCKETS that write exactly this name
    about: str = ""


def classify_top_level(name: str) -> TopLevelName:
    """A top-level name of a uv cache: one of uv's buckets (of which kind, in which uv), a marker, or not
    uv's. A bucket of a version none of KNOWN_BUCKETS writes is still uv's (older or newer uv)."""
    if name in ROOT_MARKERS:
        return TopLevelName(name, "marker", about=ROOT_MARKERS[name])
    if _TEMP_DIR_NAME.fullmatch(name):
        return TopLevelName(name, "temp", about="a wheel being unpacked (left behind when uv was killed)")
    match = _BUCKET_NAME.fullmatch(name)
    if match is None:
        return TopLevelName(name, "foreign", about="not a name uv writes at the top of its cache")
    kind, number = match.group(1), int(match.group(2))
    known_in = tuple(version for version, names in KNOWN_BUCKETS.items() if name in names)
    return TopLevelName(name, "bucket", kind, number, known_in, BUCKET_KINDS[kind])


def uv_makes_top_level(name: str) -> bool:
    """A name uv makes at the top of its cache (the fix's check that a dir looks like uv's cache)."""
    return classify_top_level(name).kind != "foreign"


def temp_lock_dir(environ: Mapping[str, str]) -> str:
    """std::env::temp_dir on Unix: TMPDIR as it is (even relative or ""), else /tmp."""
    return environ.get("TMPDIR", "/tmp")


def is_uv_temp_lock(name: str) -> bool:
    """A file name in temp_lock_dir() that one of uv's locks has (see the list above)."""
    return _TEMP_LOCK_NAME.fullmatch(name) is not None


def temp_lock_glob(environ: Mapping[str, str]) -> str:
    """Where to look for uv's lock files outside the cache, as a shell pattern (for a message)."""
    return posixpath.join(temp_lock_dir(environ), "uv-*.lock")
