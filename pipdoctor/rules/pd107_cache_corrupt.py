"""PD107 cache-corrupt: an entry in pip's cache is damaged (a truncated download or a garbled wheel).

pip ignores a bad HTTP-cache entry (`Cache entry deserialization failed, entry ignored`) but stops on a
bad cached wheel: pip 20.3-21.3 crash with a `BadZipFile` traceback that never names the file, pip 22+ say
`Wheel 'X' located at P is invalid.` Removing that one entry cures it; a blind purge is never needed.

pip 26.1 and 26.1.1 print the HTTP-cache warning for entries that are not damaged at all: their urllib3 adds
`zstd` to Accept-Encoding where zstd can be imported (`backports.zstd` before Python 3.14), so a response
another interpreter or another pip stored under `Vary: Accept-Encoding` no longer matches the request, and
cachecontrol reports the mismatch as a failed deserialization (26.1 src/pip/_vendor/urllib3/util/request.py:22-32,
src/pip/_vendor/cachecontrol/serialize.py:99-103, controller.py:166; fixed in 26.1.2, NEWS #14012). When
the log shows that one of those pips ran, that warning alone is not reported: pip names its version in its
upgrade notice (on by default, `[notice] A new release of pip is available: 26.1 -> ...`), in `pip -V`,
and with `-v` (`Using pip 26.1 from ...`). A log without any of these cannot tell the two apart.

A cached download whose bytes were damaged while its entry still reads fine is served as if it were good:
pip says `Using cached X (N kB)` and then stops on the hash the index gave for X (`THESE PACKAGES DO NOT
MATCH THE HASHES`, `Expected sha256 A` / `Got B`). That is this code too (an error) when the index's own
hash (the link's `#sha256=A`) is not what the cached file has; a hash pinned by the user that differs
from the index's is the user's pin, not the cache, and is left alone.
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.lazyre import lazy_compile
from pipdoctor.pathkinds import PathKind, path_kind
from pipdoctor.rules._common import evidence, known_cache_roots

CODE = "PD107"
NAME = "cache-corrupt"
SEVERITY = Severity.ERROR
# The hash-mismatch block's lines (see _HASHED_FROM): " from URL#" spelled once per algorithm, so that the
# scanner's gate can look for the rare "#sha" rather than the frequent " from ".
TRIGGERS = (rb"Cache entry deserialization failed", rb"BadZip[Ff]ile", rb"located at .* is invalid",
            rb"Error -3 while decompressing", rb"unsupported pickle protocol", rb"msgpack\.exceptions\.",
            rb" from \S+#md5=[0-9a-f]| from \S+#sha\d+=[0-9a-f]", rb"Expected (md5|sha\d+) [0-9a-f]",
            rb"Got +[0-9a-f]{32}", rb"A new release of pip is available: \S+ -> ",
            rb"^(?:Using )?pip \S+ from \S+ \(python ")
# "Using cached X" is in most healthy runs, and matters only before a hash mismatch: captured (the first
# line of each file pip took from its cache), not kept as a line.
CAPTURES = (rb"Using cached (\S+)",)

# pip's own message (cachecontrol serialize.py, pip 8+), and the crashes of pips whose cachecontrol did not
# catch a bad entry: a truncated zlib body, a pickle or msgpack written by another Python or pip.
_HTTP_ENTRY = lazy_compile(r"Cache entry deserialization failed, entry ignored|Error -3 while decompressing"
                         r"|unsupported pickle protocol|msgpack\.exceptions\.")
# pip's version, as it states it: the self-check notice (self_outdated_check.py, 22.2+), `pip -V`, or
# `pip install -v` (commands/install.py: logger.verbose("Using %s", get_pip_version()), 21.2+).
_PIP_VERSION = lazy_compile(r"A new release of pip is available: (\S+) -> |^(?:Using )?pip (\S+) from \S+ \(python ")
# The pips whose "entry ignored" warning may be a Vary mismatch, not damage (see the docstring).
_SPURIOUS_WARNING_PIPS = ("26.1", "26.1.1")
_BAD_ZIP = lazy_compile(r"BadZip[Ff]ile\b")
_INVALID_WHEEL = lazy_compile(r"""Wheel ['"](.+?)['"] located at (.+?) is invalid""")
# pip/_internal/network/download.py: "Using cached URL-or-file (size)" for an HTTP-cache hit (the URL, or
# the file name on PyPI's file host); operations/prepare.py: "Using cached FILE.whl" for a wheel-cache hit.
_USING_CACHED = lazy_compile(r"Using cached (\S+)")
# pip's HashMismatch (exceptions.py, 20.3-26.3): "    NAME from URL#sha256=A:", then
# "        Expected sha256 A" ("             or B" ...), then "             Got        C".
_HASHED_FROM = lazy_compile(r"\sfrom (\S+?)#(md5|sha\d+)=([0-9a-f]+)")
_EXPECTED = lazy_compile(r"^\s*Expected (md5|sha\d+) [0-9a-f]+\s*$")
_GOT = lazy_compile(r"^\s*Got +([0-9a-f]{32,})\s*$")


def _file_name(url: str) -> str:
    return url.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _pip_versions(log) -> set:
    return {m.group(1) or m.group(2) for _, m in log.matching(_PIP_VERSION)}


def cached_hash_mismatches(log):
    """(using-cached line, from line, got line, file) for each download pip took from its cache whose bytes
    do not hash to what the index's link says (the link's #algo=hash fragment)."""
    cached: dict = {}
    for line in log.captured:
        using = _USING_CACHED.search(line.text)
        if using:
            cached.setdefault(_file_name(using.group(1)), line)
    found = []
    current = algo = None
    for line in log.lines:
        hashed = _HASHED_FROM.search(line.text)
        if hashed:
            current, algo = (line, _file_name(hashed.group(1)), hashed.group(2), hashed.group(3)), None
            continue
        expected = _EXPECTED.match(line.text)
        if expected and current is not None:
            algo = expected.group(1)
            continue
        got = _GOT.match(line.text)
        if got and current is not None:
            from_line, name, link_algo, link_hash = current
            if algo == link_algo and got.group(1) != link_hash and name in cached \
                    and cached[name].number < line.number:
                found.append((cached[name], from_line, line, name))
            current = algo = None
    return found


def match(log, facts=None):
    # A user's own broken wheel file is not the cache's business (and must never be removed by a fix).
    roots = known_cache_roots(log, facts)
    invalid = [(line, m) for line, m in log.matching(_INVALID_WHEEL)
               if path_kind(m.group(2).strip(), roots) is PathKind.CACHE]
    bad_zip = log.matching(_BAD_ZIP)
    http = log.matching(_HTTP_ENTRY)
    if invalid or bad_zip:
        paths = tuple(dict.fromkeys(m.group(2).strip() for _, m in invalid))
        subject = f"the cached wheel {paths[0]}" if paths else "a cached wheel"
        return [Finding(
            CODE, NAME, Severity.ERROR,
            message=f"pip cannot read {subject}: the file is not a valid wheel (zip).",
            why="A wheel in the cache was truncated or overwritten (an interrupted build, a full disk, a copy "
                "of the cache between machines); pip reuses it on every run until it is removed.",
            paths=paths,
            evidence=evidence([line for line, _ in invalid + bad_zip + http]),
        )]
    mismatched = cached_hash_mismatches(log)
    if mismatched:
        names = list(dict.fromkeys(name for *_, name in mismatched))
        # A bare "Using cached X.whl" is the wheel cache (prepare.py); a size or a URL, the HTTP cache.
        http_hit = any("(" in using.text or "://" in using.text for using, *_ in mismatched)
        return [Finding(
            CODE, NAME, Severity.ERROR,
            message=f"pip took {', '.join(names)} from its cache, and the bytes do not match the hash the "
                    "index gives for it: the cached copy is damaged.",
            why="An HTTP-cache entry whose body was truncated or overwritten still reads as a valid "
                "response; pip serves it on every run until the entry is removed, and its hash check stops "
                "the install.",
            evidence=evidence([line for group in mismatched for line in group[:3]]
                              + [line for line, _ in http]),
            facts={"http_cache": True} if http_hit else {},
        )]
    if http:
        crashed = any("entry ignored" not in line.text for line, _ in http)
        if not crashed and _pip_versions(log) & set(_SPURIOUS_WARNING_PIPS):
            return []
        return [Finding(
            CODE, NAME, Severity.ERROR if crashed else Severity.WARNING,
            message="pip could not read an entry of its HTTP cache and stopped." if crashed else
                    "pip found a damaged entry in its HTTP cache and ignored it.",
            why="An HTTP-cache file was truncated or written by another pip version; pip downloads the file "
                "again, so this only costs time, unless it repeats on every run.",
            evidence=evidence(line for line, _ in http),
            facts={"http_cache": True},
        )]
    return []
