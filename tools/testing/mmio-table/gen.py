#!/usr/bin/env python3
"""Generates gvt/core/mmio_list.rs: the offsets upstream GVT-g tracks on Gen9, as facts.

Reads i915's intel_gvt_mmio_table.c (the list of tracked registers per platform family) and
evaluates each register expression with i915's register macros, using the Gen9 display
layout (pipes at 0x70000 + 0x1000 n, transcoders at 0x60000 + 0x1000 n, eDP 0x6f000,
cursors at 0x70080 + 0x1000 n) and no second video engine. Only offsets and sizes are kept.

usage: gen.py <linux-source> > gvt/core/mmio_list.rs
"""
import os, re, sys

SRC = sys.argv[1]
I915 = os.path.join(SRC, "drivers/gpu/drm/i915")

macros = {}
def load(path):
    text = open(path, errors="replace").read().replace("\\\n", " ")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    for line in text.split("\n"):
        m = re.match(r"\s*#\s*define\s+([A-Za-z_]\w*)(\(([^)]*)\))?\s*(.*)$", line)
        if not m or m.group(1) in macros:
            continue
        params = None
        if m.group(2) is not None:
            params = [p.strip() for p in m.group(3).split(",") if p.strip()]
        macros[m.group(1)] = (params, m.group(4).strip())

for d in ["", "gt", "gt/uc", "display", "gvt"]:
    base = os.path.join(I915, d)
    for f in sorted(os.listdir(base)):
        if f.endswith(".h"):
            load(os.path.join(base, f))

ENUMS = {
    "PIPE_A": 0, "PIPE_B": 1, "PIPE_C": 2, "PIPE_D": 3,
    "TRANSCODER_A": 0, "TRANSCODER_B": 1, "TRANSCODER_C": 2, "TRANSCODER_D": 3, "TRANSCODER_EDP": 4,
    "PORT_A": 0, "PORT_B": 1, "PORT_C": 2, "PORT_D": 3, "PORT_E": 4,
    "AUX_CH_A": 0, "AUX_CH_B": 1, "AUX_CH_C": 2, "AUX_CH_D": 3,
    "DPIO_PHY0": 0, "DPIO_PHY1": 1, "DPIO_PHY2": 2, "DPIO_CH0": 0, "DPIO_CH1": 1,
    "PLANE_PRIMARY": 0, "PLANE_SPRITE0": 1, "PLANE_1": 0, "PLANE_2": 1, "PLANE_3": 2,
    "_PIPE_EDP": 4, "INTEL_FBC_A": 0, "SKL_PG0": 0, "SKL_PG1": 1, "SKL_PG2": 2, "dev_priv": 0, "display": 0, "i915": 0,
}
PIPE = {0: 0x70000, 1: 0x71000, 2: 0x72000, 3: 0x73000, 4: 0x7f000}
TRANS = {0: 0x60000, 1: 0x61000, 2: 0x62000, 3: 0x63000, 4: 0x6f000}
CURSOR = {0: 0x70080, 1: 0x71080, 2: 0x72080, 3: 0x73080}

def split_args(s):
    args, depth, cur = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            args.append(cur); cur = ""; continue
        if ch in "([{": depth += 1
        if ch in ")]}": depth -= 1
        cur += ch
    args.append(cur)
    return [a.strip() for a in args]

def find_call(s, i):
    """s[i] == '('; returns index after the matching ')'."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "(": depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError("unbalanced")

def ev(expr):
    return evaluate(expand(expr, 0))

SPECIAL = {
    "_MMIO": lambda a: f"({a[0]})",
    "MCR_REG": lambda a: f"({a[0]})",
    "_MMIO_PIPE2": lambda a: f"({PIPE[ev(a[1])] - PIPE[0]} + ({a[2]}))",
    "_MMIO_TRANS2": lambda a: f"({TRANS[ev(a[1])] - TRANS[0]} + ({a[2]}))",
    "_MMIO_CURSOR2": lambda a: f"({CURSOR[ev(a[1])] - CURSOR[0]} + ({a[2]}))",
    "DISPLAY_MMIO_BASE": lambda a: "0",
    "_PICK": lambda a: f"({a[1 + ev(a[0])]})",
    "_PICK_EVEN_2RANGES": lambda a: (f"({a[2]} + ({ev(a[0])}) * (({a[3]}) - ({a[2]})))" if ev(a[0]) < ev(a[1])
                                     else f"({a[4]} + ({ev(a[0]) - ev(a[1])}) * (({a[5]}) - ({a[4]})))"),
    "BUILD_BUG_ON_ZERO": lambda a: "0",
    "REG_50080": lambda a: str({(0, 0): 0x50080, (0, 1): 0x50090, (1, 0): 0x50088, (1, 1): 0x50098,
                                (2, 0): 0x5008c, (2, 1): 0x5009c}[(ev(a[0]), ev(a[1]))]),
    "REG_BIT": lambda a: f"(1 << ({a[0]}))",
    "BIT": lambda a: f"(1 << ({a[0]}))",
}

def expand(s, depth):
    if depth > 60:
        raise ValueError("recursion")
    out, i = "", 0
    while i < len(s):
        m = re.match(r"[A-Za-z_]\w*", s[i:])
        if not m:
            out += s[i]; i += 1; continue
        name = m.group(0); j = i + len(name)
        k = j
        while k < len(s) and s[k] == " ": k += 1
        has_call = k < len(s) and s[k] == "("
        if name in SPECIAL and has_call:
            end = find_call(s, k)
            args = [expand(a, depth + 1) for a in split_args(s[k + 1:end - 1])]
            out += expand(SPECIAL[name](args), depth + 1); i = end; continue
        if name in ENUMS:
            out += str(ENUMS[name]); i = j; continue
        if name in macros:
            params, body = macros[name]
            if params is None:
                out += "(" + expand(body, depth + 1) + ")"; i = j; continue
            if has_call:
                end = find_call(s, k)
                args = split_args(s[k + 1:end - 1])
                b = body
                va = None
                if params and params[-1] == "...":
                    va = ", ".join(args[len(params) - 1:])
                for p, a in zip(params, args):
                    if p != "...":
                        b = re.sub(r"\b%s\b" % re.escape(p), "(" + a + ")", b)
                if va is not None:
                    b = b.replace("__VA_ARGS__", va)
                out += "(" + expand(b, depth + 1) + ")"; i = end; continue
        out += name; i = j
    return out

def evaluate(e):
    e = re.sub(r"(0x[0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", e)
    e = e.replace("/", "//")
    if re.search(r"[A-Za-z_]\w*", re.sub(r"0x[0-9a-fA-F]+", "", e)):
        raise ValueError("unresolved: " + e)
    return int(eval(e))

SECTIONS = {
    "iterate_generic_mmio": "ALL", "iterate_bdw_plus_mmio": "ALL", "iterate_skl_plus_mmio": "ALL",
    "iterate_bxt_mmio": "BXT",
}
src = open(os.path.join(I915, "intel_gvt_mmio_table.c")).read()
RINGS = [0x02000, 0x22000, 0x12000, 0x1a000]
entries, failed = [], []
for fn in re.finditer(r"static int (iterate_\w+)\(struct intel_gvt_mmio_table_iter \*iter\)\n\{(.*?)\n\}", src, re.S):
    sec = SECTIONS.get(fn.group(1))
    if sec is None:
        continue
    body = fn.group(2)
    ring_reg = None
    cond = None
    for raw in body.split("\n"):
        line = raw.strip()
        m = re.match(r"#define (\w+)\(base\) _MMIO\(\(base\) \+ (0x[0-9a-fA-F]+)\)", line)
        if m:
            ring_reg = (m.group(1), int(m.group(2), 16)); continue
        if line.startswith("if (!IS_BROXTON"):
            cond = "NOT_BXT"; continue
        if line.startswith("if (IS_KABYLAKE"):
            cond = "KBL"; continue
        if line.startswith("IS_COFFEELAKE"):
            continue
        m = re.match(r"(MMIO_D|MMIO_F|MMIO_RING_D|MMIO_RING_F)\((.*)\);$", line)
        if not m:
            continue
        kind, args = m.group(1), split_args(m.group(2))
        plat = {"ALL": "D_ALL", "BXT": "D_BXT"}[sec]
        if cond == "NOT_BXT":
            plat = "D_SKL | D_KBL | D_CFL"
        elif cond == "KBL":
            plat = "D_KBL | D_CFL"
        cond = None
        size = 4 if kind.endswith("_D") else None
        try:
            if size is None:
                size = ev(args[1])
            if kind.startswith("MMIO_RING"):
                for base in RINGS:
                    if ring_reg and args[0] == ring_reg[0]:
                        off = base + ring_reg[1]
                    else:
                        off = ev(f"{args[0]}({base})")
                    entries.append((off, size, plat, line))
            else:
                entries.append((ev(args[0]), size, plat, line))
        except Exception as e:
            failed.append((line, str(e)[:80]))

BLOCK_MIN = 0x400
seen = set()
out = []
for off, size, plat, line in entries:
    if size >= BLOCK_MIN and off != 0xc800:
        continue  # large ranges are blocks (see GEN9_BLOCKS); MOCS stays per-dword upstream
    key = (off, plat)
    if key in seen:
        continue
    seen.add(key)
    out.append((off, size, plat))

print("// @generated by tools/testing/mmio-table/gen.py from i915's intel_gvt_mmio_table.c")
print("// (Linux 6.12): offsets and sizes only. Do not edit; regenerate.")
print("//! The offsets upstream GVT-g tracks on Gen9 (registers it snapshots from the host and")
print("//! emulates with the default handler unless `mmio_table` gives them more), merged into the")
print("//! per-platform hash tables at compile time.")
print()
print("use super::mmio_table::{D_ALL, D_BXT, D_CFL, D_KBL, D_SKL};")
print()
print("/// A tracked range: offset, size in bytes, platforms.")
print("pub type Tracked = (u32, u32, u8);")
print()
print(f"/// {len(out)} ranges from upstream's table ({len(failed)} expressions not evaluated).")
print("pub const GEN9_TRACKED: &[Tracked] = &[")
for off, size, plat in out:
    print(f"    ({off:#x}, {size:#x}, {plat}),")
print("];")
for l, e in failed:
    print("FAILED", l, e, file=sys.stderr)
print(f"{len(out)} entries, {len(failed)} failed", file=sys.stderr)
