"""pip: how it is run, where its cache is and who decided, what it writes there, its root rule, its wordings.

PIP is what the shared code reads of pip; importing it stays cheap (no locations.py), since `explain` does.
"""

from pipdoctor.installers.base import Installer
from pipdoctor.installers.pip.cache import ALWAYS_WRITTEN, PIP_WRITES, pip_keeps_cache, pip_makes_top_level
from pipdoctor.installers.pip.sources import DEFAULT_SOURCES

PIP = Installer(name="pip", cache_env="PIP_CACHE_DIR", cache_dir_option="--cache-dir",
                no_cache_option="--no-cache-dir", no_cache_env="PIP_NO_CACHE_DIR", writes=PIP_WRITES,
                always_written=ALWAYS_WRITTEN, default_sources=DEFAULT_SOURCES, example_args=("install", "..."),
                keeps_cache=pip_keeps_cache,
                # pip config (pip/_internal/commands/configuration.py): [global] cache-dir in the user's file
                config_set_cache_dir=("config", "--user", "set", "global.cache-dir"),
                config_unset_cache_dir=("config", "--user", "unset", "global.cache-dir"),
                makes_top_level=pip_makes_top_level)
