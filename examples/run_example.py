#!/usr/bin/env python3
"""Runs an example in a fresh temporary directory and checks that it exits 0
and that its output holds each expected text.

    run_example.py EXECUTABLE [EXPECTED ...]
"""
import os
import subprocess
import sys
import tempfile


def main() -> int:
    exe, expected = os.path.abspath(sys.argv[1]), sys.argv[2:]
    with tempfile.TemporaryDirectory() as work:
        run = subprocess.run([exe], cwd=work, capture_output=True, text=True, timeout=60)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        print(f"run_example: {exe} exited {run.returncode}", file=sys.stderr)
        return 1
    missing = [text for text in expected if text not in run.stdout]
    for text in missing:
        print(f"run_example: missing from the output: {text!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
