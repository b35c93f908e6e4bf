#!/usr/bin/env python3
"""Registers are named where they are used (issue 17): the device model's code outside the
register definitions (gvt/core/regs.rs, gvt/core/display/regs.rs) and the generated tables
has no bare offset that
  - equals a defined register's offset (use the definition), or
  - carries a register's name in a comment (`0x70008 // TRANSCONF`: define it, then use it).
Test modules are exempt: their offsets are the inputs a guest would write.
Prints each offender as file:line and exits 1 if there is any."""
import os, re, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
core = os.path.join(root, "gvt", "core")
DEFS = ["regs.rs", os.path.join("display", "regs.rs")]
GENERATED = ["mmio_list.rs", os.path.join("cmd_scanner", "table.rs")]
ENGINE_BASES = [0x2000, 0x12000, 0x1A000, 0x22000]

defined = {}
for d in DEFS:
    for m in re.finditer(r"^\s*(\w+) @ (\+?)0x([0-9a-fA-F_]+)\b", open(os.path.join(core, d)).read(), re.M):
        name, rel, off = m.group(1), m.group(2), int(m.group(3).replace("_", ""), 16)
        for base in ENGINE_BASES if rel else [0]:
            defined.setdefault(base + off, name)

HEX = re.compile(r"(?<![\w.])0x([0-9a-fA-F_]+)\b")
NAMED = re.compile(r"0x[0-9a-fA-F_]+\b[^/\n]*//\s*([A-Z][A-Z0-9]*_[A-Z0-9_]+)")
bad = []
for dirpath, _, files in os.walk(core):
    for f in sorted(files):
        path = os.path.join(dirpath, f)
        rel = os.path.relpath(path, core)
        if not f.endswith(".rs") or rel in DEFS + GENERATED or f == "tests.rs":
            continue
        for n, line in enumerate(open(path), 1):
            if line.strip() == "#[cfg(test)]":
                break
            code = line.split("//")[0]
            for m in HEX.finditer(code):
                v = int(m.group(1).replace("_", ""), 16)
                if v >= 0x2000 and v in defined:
                    bad.append(f"gvt/core/{rel}:{n}: 0x{v:x} is {defined[v]}")
            m = NAMED.search(line)
            if m:
                bad.append(f"gvt/core/{rel}:{n}: {m.group(1)} is named in a comment, not defined")
print("\n".join(bad))
print(f"check-reg-names: {len(bad)} bare register offsets", file=sys.stderr)
sys.exit(1 if bad else 0)
