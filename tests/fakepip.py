"""A stand-in for pip in the runner's tests: performs the steps named on its command line, in order.

    out HEX / err HEX   write these bytes to stdout / stderr (unbuffered, exactly)
    flood N             write N bytes of flood_bytes() to stdout, in 64 KiB writes
    args ...            print the remaining arguments as JSON and exit 0
    isatty              print which of fds 0, 1, 2 are terminals, as JSON
    winsize             print "rows x cols" of the terminal on fd 1
    ask PROMPT          write PROMPT to stdout, read one line from stdin, print it back as "got <repr>"
    ready               print "ready PID": the test may now act
    pause               wait for a signal whose default action ends the process
    sigwait SIGNAL      block SIGNAL, print "waiting", then print how it arrived: "got SIGNAL code=C pid=P"
                        (blocked first, so one sent as soon as "waiting" shows cannot slip past the wait)
    die SIGNAL          die of SIGNAL
    exit CODE           exit with CODE
"""

import json
import os
import resource
import signal
import sys


def flood_bytes(size):
    """Every byte value, so invalid UTF-8, NUL, CR and LF all cross the runner."""
    block = bytes(range(256)) * 256
    return (block * (size // len(block) + 1))[:size]


def say(text):
    os.write(1, text.encode() + b"\n")


def main(steps):
    while steps:
        step = steps.pop(0)
        if step in ("out", "err"):
            os.write(1 if step == "out" else 2, bytes.fromhex(steps.pop(0)))
        elif step == "flood":
            data = memoryview(flood_bytes(int(steps.pop(0))))
            while data:
                data = data[os.write(1, data[: 64 * 1024]) :]
        elif step == "args":
            say(json.dumps(steps))
            return 0
        elif step == "isatty":
            say(json.dumps([os.isatty(fd) for fd in (0, 1, 2)]))
        elif step == "winsize":
            size = os.get_terminal_size(1)
            say(f"{size.lines} x {size.columns}")
        elif step == "ask":
            os.write(1, steps.pop(0).encode())
            say(f"got {sys.stdin.readline()!r}")
        elif step == "touch":
            open(steps.pop(0), "w").close()
        elif step == "ready":
            say(f"ready {os.getpid()}")
        elif step == "pause":
            signal.pause()
        elif step == "sigwait":
            signum = signal.Signals[steps.pop(0)]
            signal.pthread_sigmask(signal.SIG_BLOCK, [signum])
            say("waiting")
            info = signal.sigwaitinfo([signum])
            say(f"got {signum.name} code={info.si_code} pid={info.si_pid}")
        elif step == "die":
            signum = signal.Signals[steps.pop(0)]
            if signum != signal.SIGKILL:  # the one signal with no handler to reset
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
            os.kill(os.getpid(), signum)
            signal.pause()
        elif step == "exit":
            return int(steps.pop(0))
        else:
            raise SystemExit(f"fakepip: unknown step {step!r}")
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # dying of SIGQUIT must not leave a core file
    sys.exit(main(sys.argv[1:]))
