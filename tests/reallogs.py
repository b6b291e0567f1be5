"""Big pip logs made of real ones, for the scanner's tests and scripts/bench: the recorded logs of
tests/data/logs (scripts/record-logs regenerates them) and, where a folder of users' logs is given (the
corpus), those too, concatenated in a seeded random order. Real logs are dense with what the scanner keeps
(tracebacks, error lines), which is what makes a log hard for it; a generated healthy run is not."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional, Sequence

RECORDED = Path(__file__).parent / "data" / "logs"


def recorded_logs() -> list[bytes]:
    """Every recorded pip log, in a stable order."""
    return [path.read_bytes() for path in sorted(RECORDED.glob("*/*.log"))]


def folder_logs(folder: Path) -> list[bytes]:
    """Every NNN.log of a folder of users' logs (the corpus), or none where the folder is absent."""
    return [path.read_bytes() for path in sorted(folder.glob("*.log"))] if folder.is_dir() else []


def mixed(logs: Sequence[bytes], size: int, seed: int = 15) -> bytes:
    """About `size` bytes (at least one log): whole logs drawn at random, each ending in a newline."""
    rng = random.Random(seed)
    parts, total = [], 0
    while total < size or not parts:
        log = rng.choice(logs)
        parts.append(log if log.endswith(b"\n") else log + b"\n")
        total += len(parts[-1])
    return b"".join(parts)


def write_mix(path: Path, size: int, logs: Sequence[bytes], ending: Optional[bytes] = None,
              block: int = 8 << 20) -> int:
    """Write about `size` bytes of real logs to `path` (in blocks of mixes, so a 1 GB file needs no 1 GB in
    memory), then `ending` if given; the bytes written."""
    written = 0
    with open(path, "wb") as out:
        seed = 0
        while written < size - (len(ending) if ending else 0):
            piece = mixed(logs, min(block, size - written), seed)
            out.write(piece)
            written += len(piece)
            seed += 1
        if ending:
            out.write(ending)
            written += len(ending)
    return written
