"""The sources that decide where pip's cache is, as CacheLocation.source spells them (the others name the variable
or the config file line). Apart from locations.py, whose import costs ~13 ms, so that PIP can name its defaults."""

CLI_CACHE_DIR = "--cache-dir"
CLI_NO_CACHE_DIR = "--no-cache-dir"
CLI_PYTHON = "--python"
XDG_CACHE_HOME = "XDG_CACHE_HOME"
PLATFORM_DEFAULT = "platform default"
# The sources of a default location: a cache-dir in the user's pip config outranks only these.
DEFAULT_SOURCES = (PLATFORM_DEFAULT, XDG_CACHE_HOME)
