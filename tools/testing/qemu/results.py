#!/usr/bin/env python3
"""Turns a QEMU console log into results: scenario checks, KUnit cases and kernel complaints.

Prints one line per failure, a summary line "qemu: N passed, N failed", and exits non-zero if
anything failed. Counted: every GVT-CHECK line, every KUnit test case (KTAP "ok"/"not ok" lines
nested in a suite), plus one check each that the scenario finished and that the kernel logged no
warning, oops, lockdep splat or kmemleak report.
"""
import re
import sys

CHECK = re.compile(r"GVT-CHECK: (PASS|FAIL) (.*)")
KTAP_CASE = re.compile(r"^\s{4}(ok|not ok) \d+ (\S+)(.*)$")
KTAP_SUITE = re.compile(r"^(ok|not ok) \d+ (\S+)")
COMPLAINTS = re.compile(
    r"WARNING:|BUG:|Oops|Call Trace|general protection|kernel panic|"
    r"possible circular locking|suspicious RCU|unreferenced object|UBSAN|"
    r"Unknown symbol|rust_panic|panicked at"
)
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ")
# A nested guest's log, its QEMU's output and the vGPU's trace events and debugfs files, which
# L1 prints prefixed: the scenario judges them with checks of its own; they are not this
# kernel's complaints.
NESTED = ("L2| ", "QEMU| ", "TRACE| ", "DEBUGFS| ", "GVT-PNG", "GVT-TRACE")


def main(path):
    passed, failed = 0, []
    finished = False
    allowed_complaints = set()
    complaints = []
    with open(path, errors="replace") as f:
        for raw in f:
            line = TIMESTAMP.sub("", raw.rstrip("\n").replace("\r", ""))
            if line.startswith(NESTED):
                continue
            m = CHECK.search(line)
            if m:
                if m.group(1) == "PASS":
                    passed += 1
                else:
                    failed.append("check " + m.group(2))
                continue
            # A scenario may announce a complaint it provokes on purpose (e.g. loading a backend
            # before gvt.ko logs "Unknown symbol"): GVT-EXPECT: <regex>.
            if "GVT-EXPECT: " in line:
                allowed_complaints.add(line.split("GVT-EXPECT: ", 1)[1])
                continue
            if "GVT-SCENARIO: END" in line:
                finished = True
            m = KTAP_CASE.match(line)
            if m:
                if m.group(1) == "ok":
                    passed += 1
                else:
                    failed.append("kunit " + m.group(2))
                continue
            m = KTAP_SUITE.match(line)
            if m and m.group(1) == "not ok":
                failed.append("kunit suite " + m.group(2))
            if COMPLAINTS.search(line) and not any(re.search(a, line) for a in allowed_complaints):
                complaints.append(line)
    for name, ok in (("scenario finished", finished), ("kernel log clean", not complaints)):
        if ok:
            passed += 1
        else:
            failed.append(name)
    for c in complaints[:20]:
        print("  kernel: " + c)
    for f in failed:
        print("FAILED: " + f)
    print(f"qemu: {passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
