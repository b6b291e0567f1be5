"""uv: how it is run, where its cache is and who decided, what it writes there (no root rule), its wordings.

UV is what the shared code reads of uv; importing it stays cheap (no locations.py), as for pip's PIP.
"""

from pipdoctor.installers.base import Installer
from pipdoctor.installers.uv.cache import FALLS_BACK_WITHOUT_CACHE, KNOWN_BUCKETS, uv_makes_top_level

# Every bucket (directory) a uv this project knows writes at its cache's top; a bucket of another format version
# is uv's too (cache.classify_top_level), which the walk's verdict on foreign entries does not depend on. The
# root's markers (ROOT_MARKERS) are files: the walk judges their owners, not the check of the dirs it writes.
_WRITES = tuple(sorted(set().union(*KNOWN_BUCKETS.values())))


def _temp_locks(account):
    """Imported on use: `explain` reads UV and never looks at a temp dir."""
    from pipdoctor.installers.uv.templocks import temp_lock_facts

    return temp_lock_facts(account)


UV = Installer(name="uv", cache_env="UV_CACHE_DIR", cache_dir_option="--cache-dir", no_cache_option="--no-cache",
               no_cache_env="UV_NO_CACHE", writes=_WRITES, always_written=(),
               # uv-dirs / etcetera: $XDG_CACHE_HOME/uv, else ~/.cache/uv (installers/uv/locations.py)
               default_sources=("platform default", "XDG_CACHE_HOME"), example_args=("pip", "install", "..."),
               # uv has no root rule: `sudo uv` writes root-owned entries into the cache it is given, and a
               # cache it cannot use stops it (installers/uv/cache.py HAS_ROOT_RULE, FALLS_BACK_WITHOUT_CACHE)
               keeps_cache=None, falls_back=FALLS_BACK_WITHOUT_CACHE,
               # uv/src/commands/cache_clean.rs: `uv cache clean` removes every entry (`uv cache prune` the unused)
               clear_cache=("cache", "clean"), temp_locks=_temp_locks, makes_top_level=uv_makes_top_level,
               # --no-cache is a temporary cache in std::env::temp_dir() (uv-cache/src/lib.rs Cache::temp)
               no_cache_needs=" uv still makes a temporary cache in $TMPDIR (else /tmp), which must be writable.",
               # uv-cache/src/cli.rs CacheArgs (TopLevelArgs, uv-cli/src/lib.rs): `global = true`, so valid before it
               options_first=True)

