"""pathkinds: the path decides the diagnosis (cache, temp, install target or other), on every platform."""

import pytest

from pipdoctor.pathkinds import PathKind, cache_root_of, path_kind


@pytest.mark.parametrize("path", [
    "/home/alice/.cache/pip/wheels/b1",  # pip's Linux default (appdirs.user_cache_dir)
    "/home/alice/.cache/pip",
    "/Users/alice/Library/Caches/pip/http/a/b",  # macOS
    r"C:\Users\alice\AppData\Local\pip\Cache\wheels\ab\cd",  # Windows
    "/srv/ci/xdg/pip/http-v2/a/b/c/d/e/0123",  # XDG_CACHE_HOME elsewhere: pip's layout gives it away
    "/custom/wheels/ab/cd/ef/0123456789abcdef",
])
def test_cache_paths(path):
    assert path_kind(path) is PathKind.CACHE


def test_a_cache_dir_named_elsewhere_in_the_log_counts_as_cache():
    assert path_kind("/__w/app/.pip-cache/selfcheck.json", ["/__w/app/.pip-cache"]) is PathKind.CACHE
    assert path_kind("/__w/app/.pip-cache-other/x", ["/__w/app/.pip-cache"]) is not PathKind.CACHE


@pytest.mark.parametrize("path", [
    "/usr/lib/python3/dist-packages/yaml/__init__.py",
    "/home/alice/venv/lib/python3.11/site-packages/pdtiny.py",
    "/Library/Python/2.7/site-packages/certifi",
    r"c:\program files\python37\lib\site-packages\pip-19.0.3.dist-info\RECORD",
    r"e:\proj\.venv\scripts\pip.exe",
    "/usr/local/bin/pipdoctor",
    # pip's uninstall stash holds files moved out of site-packages (req_uninstall.py StashedUninstallPathSet)
    r"C:\Users\bob\AppData\Local\Temp\pip-uninstall-71pdwakp\pip.exe",
])
def test_install_target_paths(path):
    assert path_kind(path) is PathKind.TARGET


@pytest.mark.parametrize("path", [
    "/tmp/pip-unpack-EMsSxf/Cuckoo-2.0.7.tar.gz",
    "/tmp/pip-req-build-mgrjuxvi/.git/objects/pack/x.pack",
    "/tmp/pip-build-env-abc/overlay/lib/python3.11/site-packages/setuptools",  # build env, not the target
    r"C:\Users\bob\AppData\Local\Temp\pip-install-xyz\pkg\setup.py",
    "/var/tmp/pip-ephem-wheel-cache-abc/wheels/x.whl",
])
def test_temp_paths(path):
    assert path_kind(path) is PathKind.TEMP


@pytest.mark.parametrize("path", ["git", "/home/alice/project/requirements.txt", None, ""])
def test_other_paths(path):
    assert path_kind(path) is PathKind.OTHER


def test_cache_root_keeps_the_paths_own_spelling():
    assert cache_root_of("/home/alice/.cache/pip/wheels/b1") == "/home/alice/.cache/pip"
    assert cache_root_of(r"C:\Users\Bob\AppData\Local\pip\Cache\wheels\ab") == r"C:\Users\Bob\AppData\Local\pip\Cache"
    assert cache_root_of("/srv/xdg/pip/http-v2/a") == "/srv/xdg/pip"
    assert cache_root_of("/home/alice/project") is None


@pytest.mark.parametrize("path,kind", [
    # A --cache-dir under /tmp is the cache by pip's own layout (cache.py buckets, cachecontrol's FileCache)...
    ("/tmp/shared-pip-cache/wheels/7f", PathKind.CACHE),
    ("/tmp/ci-cache/wheels/ab/cd/ef/0123456789abcdef/tmpab12cd34", PathKind.CACHE),
    ("/tmp/ci-cache/http-v2/a/b/c/d/e/0123", PathKind.CACHE),
    # ...not a dir that merely holds wheels or HTTP files: a --wheel-dir under /tmp is a temp dir.
    ("/tmp/wheels/pdtiny-1.0-py3-none-any.whl", PathKind.TEMP),
    ("/tmp/http/index.html", PathKind.TEMP),
    # A source checkout's build output is setuptools', not an install; an installed egg-info is one.
    ("pdtiny.egg-info", PathKind.OTHER),
    ("/home/alice/src/pdtiny/pdtiny.egg-info/PKG-INFO", PathKind.OTHER),
    ("/usr/lib/python2.7/dist-packages/pdtiny-1.0.egg-info", PathKind.TARGET),
    # The user scheme's dirs (sysconfig posix_user) are an install target; the rest of ~/.local is not.
    ("/home/alice/.local/lib", PathKind.TARGET),
    ("/home/alice/.local/bin/pdtiny", PathKind.TARGET),
    ("/home/alice/.local/share/virtualenv/x", PathKind.OTHER),
    # pip 1.x-9.x temp dirs: <tmp>/pip_build_<user>, and Python 2's 6-character mkdtemp names.
    ("/home/alice/tmp/pip_build_alice/pycrypto/setup.py", PathKind.TEMP),
    ("/home/alice/tmp/pip-Ab3_xZ-build/setup.py", PathKind.TEMP),
    ("/home/alice/tmp/pip-Ab3_xZ-unpack/x.tar.gz", PathKind.TEMP),
])
def test_path_classes_and_their_look_alikes(path, kind):
    assert path_kind(path) is kind
