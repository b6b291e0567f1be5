"""Runs run_installer in a process of its own, so tests can give it a terminal and send it signals.

Usage: runner_driver.py SPEC_JSON, SPEC = {"command": [...], "pip_args": [...], "result": PATH,
"stdout_to_stderr": bool, "keep_output": bool, "fail_in_on_output": bool, "start_waits_for": PATH}. Writes to
PATH what run_installer returned and what on_output saw (size, sha256, and the bytes in hex when keep_output), then
exits with the InstallerRun's returncode. fail_in_on_output makes on_output raise, as a buggy classifier would.
start_waits_for makes on_started wait (up to 10 s) until pip has made that file, as slow work would.
"""

import hashlib
import json
import os
import resource
import sys
import time

from pipdoctor.runner import InstallerNotFound, run_installer


def main(spec):
    seen = {"size": 0, "chunks": 0, "largest_chunk": 0, "sha256": hashlib.sha256(), "bytes": bytearray()}

    def on_output(chunk):
        if spec.get("fail_in_on_output"):
            raise RuntimeError("classifier bug")
        seen["size"] += len(chunk)
        seen["chunks"] += 1
        seen["largest_chunk"] = max(seen["largest_chunk"], len(chunk))
        seen["sha256"].update(chunk)
        if spec.get("keep_output"):
            seen["bytes"] += chunk

    started = {}

    def on_started():
        started["output_before"] = seen["size"]
        deadline = time.monotonic() + 10
        while not os.path.exists(spec["start_waits_for"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        started["pip_ran_meanwhile"] = os.path.exists(spec["start_waits_for"])

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        run = run_installer(
            spec["command"],
            spec.get("pip_args", []),
            on_output=on_output,
            on_started=on_started if "start_waits_for" in spec else None,
            stdout_to_stderr=spec.get("stdout_to_stderr", False),
        )
    except InstallerNotFound as error:
        result = {"error": str(error)}
        returncode = 2
    else:
        result = {"command": list(run.command), "returncode": run.returncode}
        returncode = run.returncode
    result.update(
        output_size=seen["size"],
        output_chunks=seen["chunks"],
        largest_chunk=seen["largest_chunk"],
        output_sha256=seen["sha256"].hexdigest(),
        output=seen["bytes"].hex(),
        rss_growth_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before,
        started=started,
    )
    with open(spec["result"], "w") as file:
        json.dump(result, file)
    return returncode


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
