"""PD107 cache-corrupt: an entry in pip's cache is damaged (a truncated download or a garbled wheel).

pip ignores a bad HTTP-cache entry (`Cache entry deserialization failed, entry ignored`) but stops on a
bad cached wheel: pip 20.3-21.3 crash with a `BadZipFile` traceback that never names the file, pip 22+ say
`Wheel 'X' located at P is invalid.` Removing that one entry cures it; a blind purge is never needed.
"""

from __future__ import annotations

import re

from pipdoctor.findings import Finding, Severity
from pipdoctor.pathkinds import PathKind, path_kind
from pipdoctor.rules._common import evidence, known_cache_roots

CODE = "PD107"
NAME = "cache-corrupt"
SEVERITY = Severity.ERROR
TRIGGERS = (rb"Cache entry deserialization failed", rb"BadZip[Ff]ile", rb"located at .* is invalid",
            rb"Error -3 while decompressing", rb"unsupported pickle protocol", rb"msgpack\.exceptions\.")

# pip's own message (cachecontrol serialize.py, pip 8+), and the crashes of pips whose cachecontrol did not
# catch a bad entry: a truncated zlib body, a pickle or msgpack written by another Python or pip.
_HTTP_ENTRY = re.compile(r"Cache entry deserialization failed, entry ignored|Error -3 while decompressing"
                         r"|unsupported pickle protocol|msgpack\.exceptions\.")
_BAD_ZIP = re.compile(r"BadZip[Ff]ile\b")
_INVALID_WHEEL = re.compile(r"""Wheel ['"](.+?)['"] located at (.+?) is invalid""")


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
    if http:
        crashed = any("entry ignored" not in line.text for line, _ in http)
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
