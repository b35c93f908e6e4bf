#!/usr/bin/env python3
"""Recovers the PNG files `gvt-vfio-client screenshot --base64` printed into a console log.

usage: extract-png.py LOG OUTDIR

A block in the log (vfio-client src/png.rs, frame()):

    GVT-PNG-BEGIN NAME size=BYTES crc32=HEX8
    GVT-PNG: <76 base64 characters>
    ...
    GVT-PNG: <the rest, 1 to 76 characters>
    GVT-PNG-END NAME

Lines of other output (kernel messages) between them are skipped; so are carriage returns,
and anything before a marker on its line. Each block is checked: every data line but the last
is 76 characters, the base64 decodes, the size and CRC-32 match the BEGIN line, and the file is
a PNG whose chunks' CRCs are right. Writes OUTDIR/NAME for each good block and prints
"extract-png: OUTDIR/NAME WxH BYTES bytes". Exits 1 if any block is damaged or truncated (a
BEGIN without its END, an END or data line outside a block) or the log has no block at all.
"""
import base64
import binascii
import os
import re
import struct
import sys
import zlib

LINE = 76
BEGIN = re.compile(r"GVT-PNG-BEGIN (\S+) size=(\d+) crc32=([0-9a-f]{8})\s*$")
END = re.compile(r"GVT-PNG-END (\S+)\s*$")
DATA = re.compile(r"GVT-PNG: (\S*)\s*$")
NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png(data):
    """Width and height of a PNG whose chunks are all intact; raises ValueError otherwise."""
    if not data.startswith(SIGNATURE):
        raise ValueError("no PNG signature")
    at, size, kinds = len(SIGNATURE), None, []
    while at < len(data):
        if at + 12 > len(data):
            raise ValueError("chunk header past the end")
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind = data[at + 4:at + 8]
        body = data[at + 8:at + 8 + length]
        if len(body) != length or at + 12 + length > len(data):
            raise ValueError("chunk %r past the end" % kind)
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError("bad CRC on chunk %r" % kind)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        kinds.append(kind)
        at += 12 + length
    if not kinds or kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or b"IDAT" not in kinds:
        raise ValueError("chunks %r: not IHDR ... IDAT ... IEND" % kinds)
    return size


def blocks(lines):
    """Yields (line number, name, bytes) per block, or raises ValueError on a damaged one."""
    cur = None  # [start line, name, size, crc, [data lines]]
    for n, raw in enumerate(lines, 1):
        line = raw.replace("\r", "").rstrip("\n")
        i = line.find("GVT-PNG")
        if i < 0:
            continue
        line = line[i:]
        m = BEGIN.match(line)
        if m:
            if cur:
                raise ValueError("line %d: block %s from line %d has no END" % (n, cur[1], cur[0]))
            cur = [n, m.group(1), int(m.group(2)), int(m.group(3), 16), []]
            continue
        m = END.match(line)
        if m:
            if not cur:
                raise ValueError("line %d: END of %s without BEGIN" % (n, m.group(1)))
            start, name, size, crc, data = cur
            cur = None
            if m.group(1) != name:
                raise ValueError("line %d: END of %s inside block %s" % (n, m.group(1), name))
            for k, (ln, d) in enumerate(data):
                last = k == len(data) - 1
                if len(d) > LINE or (not last and len(d) != LINE) or not d:
                    raise ValueError("line %d: %s: a data line of %d characters (damaged or cut)" % (ln, name, len(d)))
            try:
                blob = base64.b64decode("".join(d for _, d in data), validate=True)
            except (binascii.Error, ValueError) as e:
                raise ValueError("block %s at line %d: bad base64: %s" % (name, start, e))
            if len(blob) != size or zlib.crc32(blob) != crc:
                raise ValueError("block %s at line %d: %d bytes, crc32 %08x; BEGIN says %d, %08x"
                                 % (name, start, len(blob), zlib.crc32(blob), size, crc))
            yield start, name, blob
            continue
        m = DATA.match(line)
        if m:
            if not cur:
                raise ValueError("line %d: data outside a block" % n)
            cur[4].append((n, m.group(1)))
            continue
        if line.startswith("GVT-PNG-BEGIN") or line.startswith("GVT-PNG-END") or line.startswith("GVT-PNG:"):
            raise ValueError("line %d: damaged marker: %r" % (n, line[:60]))
    if cur:
        raise ValueError("block %s from line %d is truncated: no END" % (cur[1], cur[0]))


def main(log, outdir):
    with open(log, "rb") as f:
        lines = f.read().decode("utf-8", errors="replace").split("\n")
    found = 0
    try:
        for start, name, blob in blocks(lines):
            if not NAME.match(name):
                raise ValueError("block at line %d: %r is not a plain file name" % (start, name))
            width, height = check_png(blob)
            os.makedirs(outdir, exist_ok=True)
            path = os.path.join(outdir, name)
            with open(path, "wb") as f:
                f.write(blob)
            print("extract-png: %s %dx%d %d bytes" % (path, width, height, len(blob)))
            found += 1
    except ValueError as e:
        print("extract-png: %s: %s" % (log, e), file=sys.stderr)
        return 1
    if not found:
        print("extract-png: %s: no GVT-PNG block" % log, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
