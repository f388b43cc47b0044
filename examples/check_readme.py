#!/usr/bin/env python3
"""Fails when a C++ code block of README.md is not an example program: each
```cpp block must be the text of an examples/*.cpp file from its first
#include on, so the README shows only code that CI compiles and runs.

    check_readme.py README.md EXAMPLE.cpp ...
"""
import re
import sys


def from_first_include(text: str) -> str:
    at = text.find("#include")
    return text[at:].strip() if at >= 0 else text.strip()


def main() -> int:
    readme = open(sys.argv[1], encoding="utf-8").read()
    examples = [from_first_include(open(p, encoding="utf-8").read()) for p in sys.argv[2:]]
    blocks = re.findall(r"^```cpp\n(.*?)^```$", readme, flags=re.S | re.M)
    stray = [b for b in blocks if b.strip() not in examples]
    for block in stray:
        print("check_readme: a cpp block of README.md is no examples/*.cpp file:\n" + block[:300],
              file=sys.stderr)
    return 1 if stray or not blocks else 0


if __name__ == "__main__":
    sys.exit(main())
