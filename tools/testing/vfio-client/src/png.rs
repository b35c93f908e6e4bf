//! A PNG encoder for screenshots, and the text framing that carries one over a serial console.
//!
//! The image is 8-bit RGB. When it has at most 256 colours (a text console has 16) it is
//! written indexed (colour type 3 with a `PLTE`) with the fewest bits a pixel that index it
//! (1, 2, 4 or 8: a 16-colour console row is then a quarter of a byte a pixel, and each glyph
//! row of 8 pixels is 4 bytes that deflate finds again), else truecolour (colour type 2). Every row uses filter 0; the rows are deflated with miniz_oxide (zlib
//! stream, level 6), so a mostly black console screen of 1920x1200 ends up a few tens of KiB.
//!
//! [`frame`] wraps a file in lines a host can pick out of a serial log among kernel messages
//! (`tools/testing/qemu/extract-png.py`):
//!
//! ```text
//! GVT-PNG-BEGIN NAME size=BYTES crc32=HEX8
//! GVT-PNG: <76 base64 characters>
//! ...
//! GVT-PNG: <the rest, at most 76>
//! GVT-PNG-END NAME
//! ```

use std::collections::HashMap;

/// The PNG file signature.
pub const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
/// Base64 characters per framed line.
pub const LINE: usize = 76;
/// zlib/deflate level (miniz_oxide's default).
const LEVEL: u8 = 6;

/// CRC-32 (ISO 3309, as PNG and zlib's `crc32` have it) of `data`, continuing from `crc`
/// (start with 0). Bitwise: it only ever runs over the compressed bytes.
pub fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) -> Result<(), String> {
    let len = u32::try_from(data.len())
        .ok()
        .filter(|&l| l <= 0x7fff_ffff)
        .ok_or("PNG chunk too big")?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(crc32(0, kind), data).to_be_bytes());
    Ok(())
}

/// The image's palette, if it has at most 256 colours: the colours in first-seen order.
fn palette(rgb: &[u8]) -> Option<Vec<[u8; 3]>> {
    let mut seen: HashMap<[u8; 3], u8> = HashMap::new();
    let mut order = Vec::new();
    for px in rgb.chunks_exact(3) {
        let c = [*px.first()?, *px.get(1)?, *px.get(2)?];
        if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(c) {
            e.insert(u8::try_from(order.len()).ok()?);
            order.push(c);
        }
    }
    Some(order)
}

/// Encodes `width` x `height` pixels of 8-bit RGB (`rgb`, row after row, 3 bytes a pixel) as
/// a PNG file.
pub fn encode(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, String> {
    if width == 0 || height == 0 || width > 0x7fff_ffff || height > 0x7fff_ffff {
        return Err(format!("cannot encode a {width}x{height} image"));
    }
    let w = usize::try_from(width).map_err(|e| e.to_string())?;
    let row = w.checked_mul(3).ok_or("image too wide")?;
    let want = usize::try_from(height)
        .ok()
        .and_then(|h| h.checked_mul(row))
        .ok_or("image too big")?;
    if rgb.len() != want {
        return Err(format!(
            "{} bytes of pixels for {width}x{height} RGB (want {want})",
            rgb.len()
        ));
    }
    let pal = palette(rgb);
    let rows = rgb.chunks_exact(row);
    let (colour_type, depth, raw, plte) = match &pal {
        Some(p) => {
            let index: HashMap<[u8; 3], u8> =
                p.iter().zip(0u8..=255).map(|(c, i)| (*c, i)).collect();
            // The fewest bits that index the palette: 1, 2, 4 or 8.
            let depth: u8 = match p.len() {
                0..=2 => 1,
                3..=4 => 2,
                5..=16 => 4,
                _ => 8,
            };
            let per_byte = 8usize.checked_div(usize::from(depth)).unwrap_or(1);
            let packed = w.div_ceil(per_byte);
            let mut raw = Vec::with_capacity(packed.saturating_add(1).saturating_mul(rows.len()));
            for line in rows {
                raw.push(0);
                // Pixels fill each byte from its most significant bits.
                for px in line.chunks(per_byte.saturating_mul(3)) {
                    let mut b = 0u8;
                    for (k, c) in px.chunks_exact(3).enumerate() {
                        let i = index.get(c).copied().unwrap_or(0);
                        let shift = 8usize
                            .saturating_sub(usize::from(depth).saturating_mul(k.saturating_add(1)));
                        b |= i
                            .checked_shl(u32::try_from(shift).unwrap_or(0))
                            .unwrap_or(0);
                    }
                    raw.push(b);
                }
            }
            (
                3u8,
                depth,
                raw,
                p.iter().flatten().copied().collect::<Vec<u8>>(),
            )
        }
        None => {
            let mut raw = Vec::with_capacity(row.saturating_add(1).saturating_mul(rows.len()));
            for line in rows {
                raw.push(0);
                raw.extend_from_slice(line);
            }
            (2u8, 8u8, raw, Vec::new())
        }
    };
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth, colour type, deflate, filter method 0, no interlace.
    ihdr.extend_from_slice(&[depth, colour_type, 0, 0, 0]);
    let idat = miniz_oxide::deflate::compress_to_vec_zlib(&raw, LEVEL);
    let mut out = Vec::with_capacity(idat.len().saturating_add(plte.len()).saturating_add(64));
    out.extend_from_slice(&SIGNATURE);
    chunk(&mut out, b"IHDR", &ihdr)?;
    if !plte.is_empty() {
        chunk(&mut out, b"PLTE", &plte)?;
    }
    chunk(&mut out, b"IDAT", &idat)?;
    chunk(&mut out, b"IEND", &[])?;
    Ok(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648, with padding).
pub fn base64(data: &[u8]) -> String {
    let sym = |v: u32| {
        char::from(
            B64.get(usize::try_from(v & 63).unwrap_or(0))
                .copied()
                .unwrap_or(b'A'),
        )
    };
    let mut s = String::with_capacity(data.len().div_ceil(3).saturating_mul(4));
    for g in data.chunks(3) {
        let b = |i: usize| u32::from(g.get(i).copied().unwrap_or(0));
        let v = (b(0) << 16) | (b(1) << 8) | b(2);
        s.push(sym(v >> 18));
        s.push(sym(v >> 12));
        s.push(if g.len() > 1 { sym(v >> 6) } else { '=' });
        s.push(if g.len() > 2 { sym(v) } else { '=' });
    }
    s
}

/// Whether `name` can stand in a frame's BEGIN line and be a file name on the host.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The file `data` named `name` as framed lines (see the module documentation), each ending
/// in `\n`.
pub fn frame(name: &str, data: &[u8]) -> Result<String, String> {
    if !valid_name(name) {
        return Err(format!(
            "'{name}' is not a frame name (letters, digits, '.', '_', '-')"
        ));
    }
    let b = base64(data);
    let mut s = format!(
        "GVT-PNG-BEGIN {name} size={} crc32={:08x}\n",
        data.len(),
        crc32(0, data)
    );
    // Base64 is ASCII, so byte chunks are whole characters.
    for line in b.as_bytes().chunks(LINE) {
        s.push_str("GVT-PNG: ");
        s.push_str(&String::from_utf8_lossy(line));
        s.push('\n');
    }
    s.push_str(&format!("GVT-PNG-END {name}\n"));
    Ok(s)
}

/// A minimal PNG decoder for the tests: what [`encode`] writes (8-bit RGB or indexed, filter
/// 0), checking the signature, every chunk's CRC and the zlib stream's Adler-32.
#[cfg(test)]
pub mod decode {
    use super::*;

    /// Decoded image: width, height, RGB bytes, colour type and bit depth.
    pub type Image = (u32, u32, Vec<u8>, (u8, u8));

    /// A chunk's type and data.
    pub type Chunk = ([u8; 4], Vec<u8>);

    /// The chunks, CRCs checked.
    pub fn chunks(png: &[u8]) -> Result<Vec<Chunk>, String> {
        if png.get(..8) != Some(&SIGNATURE[..]) {
            return Err("no PNG signature".into());
        }
        let mut at = 8;
        let mut out = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png.get(at..at + 4).ok_or("short")?.try_into().unwrap())
                as usize;
            let kind: [u8; 4] = png.get(at + 4..at + 8).ok_or("short")?.try_into().unwrap();
            let data = png.get(at + 8..at + 8 + len).ok_or("chunk past the end")?;
            let crc = u32::from_be_bytes(
                png.get(at + 8 + len..at + 12 + len)
                    .ok_or("short")?
                    .try_into()
                    .unwrap(),
            );
            if crc != crc32(crc32(0, &kind), data) {
                return Err(format!("bad CRC on {}", String::from_utf8_lossy(&kind)));
            }
            out.push((kind, data.to_vec()));
            at += 12 + len;
        }
        Ok(out)
    }

    /// Decodes to RGB.
    pub fn decode(png: &[u8]) -> Result<Image, String> {
        let cs = chunks(png)?;
        let (k, ihdr) = cs.first().ok_or("no chunks")?;
        if k != b"IHDR" || ihdr.len() != 13 || cs.last().map(|c| &c.0) != Some(b"IEND") {
            return Err("IHDR first and IEND last".into());
        }
        let w = u32::from_be_bytes(ihdr[0..4].try_into().unwrap());
        let h = u32::from_be_bytes(ihdr[4..8].try_into().unwrap());
        let (depth, ct) = (ihdr[8], ihdr[9]);
        if !matches!((ct, depth), (2, 8) | (3, 1 | 2 | 4 | 8)) || ihdr[10..] != [0, 0, 0] {
            return Err("unsupported IHDR".into());
        }
        let plte: Vec<u8> = cs
            .iter()
            .filter(|c| &c.0 == b"PLTE")
            .flat_map(|c| c.1.clone())
            .collect();
        let z: Vec<u8> = cs
            .iter()
            .filter(|c| &c.0 == b"IDAT")
            .flat_map(|c| c.1.clone())
            .collect();
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&z)
            .map_err(|e| format!("inflate: {e:?}"))?;
        let bits = if ct == 2 { 24 } else { depth as usize };
        let row = (w as usize * bits).div_ceil(8);
        if raw.len() != (row + 1) * h as usize {
            return Err("wrong amount of data".into());
        }
        let mut rgb = Vec::new();
        for line in raw.chunks_exact(row + 1) {
            if line[0] != 0 {
                return Err("filter".into());
            }
            let data = &line[1..];
            if ct == 2 {
                rgb.extend_from_slice(data);
                continue;
            }
            for x in 0..w as usize {
                let bit = x * bits;
                let p = (data[bit / 8] >> (8 - bits - bit % 8)) as usize & ((1 << bits) - 1);
                rgb.extend_from_slice(plte.get(p * 3..p * 3 + 3).ok_or("index past the palette")?);
            }
            // Padding bits at the end of the row are zero.
            let used = w as usize * bits % 8;
            if used != 0 && data[row - 1] & (0xff >> used) != 0 {
                return Err("padding bits set".into());
            }
        }
        Ok((w, h, rgb, (ct, depth)))
    }
}

#[cfg(test)]
mod tests {
    use super::decode::{chunks, decode};
    use super::*;

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(0, b""), 0);
        assert_eq!(crc32(0, b"123456789"), 0xcbf4_3926);
        // Continuing equals one pass.
        assert_eq!(crc32(crc32(0, b"1234"), b"56789"), 0xcbf4_3926);
        // The CRC of an empty IEND chunk every PNG ends with.
        assert_eq!(crc32(0, b"IEND"), 0xae42_6082);
    }

    #[test]
    fn base64_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    fn gradient(w: u32, h: u32) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                [
                    (i % w * 255 / w) as u8,
                    (i / w * 255 / h) as u8,
                    (i * 7) as u8,
                ]
            })
            .collect()
    }

    #[test]
    fn truecolour_round_trip() {
        let rgb = gradient(37, 23);
        let png = encode(37, 23, &rgb).unwrap();
        let kinds: Vec<[u8; 4]> = chunks(&png).unwrap().into_iter().map(|c| c.0).collect();
        assert_eq!(kinds, [*b"IHDR", *b"IDAT", *b"IEND"]);
        assert_eq!(decode(&png).unwrap(), (37, 23, rgb, (2, 8)));
    }

    /// `n` colours over a `w` x `h` image, each at least once.
    fn colours(n: u32, w: u32, h: u32) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let c = i % n;
                [c as u8, (c >> 8) as u8, 0x40]
            })
            .collect()
    }

    #[test]
    fn few_colours_are_indexed_with_the_fewest_bits() {
        for (n, depth) in [
            (1u32, 1u8),
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (16, 4),
            (17, 8),
            (256, 8),
        ] {
            // Odd widths leave padding bits at the end of packed rows.
            for w in [1u32, 3, 5, 7, 8, 9, 17, 33] {
                let h = n.div_ceil(w) + 1;
                let rgb = colours(n, w, h);
                let png = encode(w, h, &rgb).unwrap();
                let kinds: Vec<[u8; 4]> = chunks(&png).unwrap().into_iter().map(|c| c.0).collect();
                assert_eq!(kinds, [*b"IHDR", *b"PLTE", *b"IDAT", *b"IEND"]);
                assert_eq!(
                    decode(&png).unwrap(),
                    (w, h, rgb, (3, depth)),
                    "{n} colours, width {w}"
                );
            }
        }
        // 257 colours are truecolour.
        let c257 = colours(257, 17, 17);
        assert_eq!(
            decode(&encode(17, 17, &c257).unwrap()).unwrap(),
            (17, 17, c257, (2, 8))
        );
    }

    #[test]
    fn a_corrupt_byte_is_caught_by_a_crc() {
        let mut png = encode(8, 8, &gradient(8, 8)).unwrap();
        let n = png.len();
        png[n - 20] ^= 1;
        assert!(decode(&png).unwrap_err().contains("CRC"));
    }

    #[test]
    fn bad_sizes_refused() {
        assert!(encode(0, 5, &[]).is_err());
        assert!(encode(2, 2, &[0; 11]).is_err());
        assert!(encode(2, 2, &[0; 13]).is_err());
    }

    #[test]
    fn framing() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 31) as u8).collect();
        let f = frame("shot-1.png", &data).unwrap();
        let lines: Vec<&str> = f.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "GVT-PNG-BEGIN shot-1.png size=200 crc32={:08x}",
                crc32(0, &data)
            )
        );
        assert_eq!(*lines.last().unwrap(), "GVT-PNG-END shot-1.png");
        let body: Vec<&str> = lines[1..lines.len() - 1]
            .iter()
            .map(|l| l.strip_prefix("GVT-PNG: ").unwrap())
            .collect();
        // 200 bytes are 268 base64 characters: three full lines and 40.
        assert_eq!(
            body.iter().map(|l| l.len()).collect::<Vec<_>>(),
            [76, 76, 76, 40]
        );
        assert_eq!(body.concat(), base64(&data));
        assert!(f.ends_with('\n'));
        assert!(frame("../x", &data).is_err());
        assert!(frame("a b", &data).is_err());
        assert!(frame("", &data).is_err());
    }

    /// The host's decoder (tools/testing/qemu/extract-png.py) gets the file back out of a
    /// console log with CRs and kernel lines in it, and fails on a cut block.
    #[test]
    fn extract_png_py_reads_frames_back() {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu/extract-png.py");
        let dir = std::env::temp_dir().join(format!("gvt-extract-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = encode(40, 30, &gradient(40, 30)).unwrap();
        let framed = frame("shot.png", &png).unwrap();
        let mut log = String::from("[    0.1] boot\r\n");
        for (i, l) in framed.lines().enumerate() {
            log.push_str(l);
            log.push_str("\r\n");
            if i % 5 == 2 {
                log.push_str("[   12.345678] i915 0000:00:02.0: [drm] a kernel line\r\n");
            }
        }
        let run = |log: &str, out: &str| {
            std::fs::write(dir.join("log"), log).unwrap();
            std::process::Command::new("python3")
                .arg(&script)
                .arg(dir.join("log"))
                .arg(dir.join(out))
                .output()
                .unwrap()
        };
        let ok = run(&log, "ok");
        let got = std::fs::read(dir.join("ok/shot.png"));
        let cut = run(&log[..log.len() - 40], "cut");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert_eq!(got.unwrap(), png);
        assert_eq!(cut.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&cut.stderr).contains("truncated"));
    }

    #[test]
    fn a_console_screen_compresses_to_little() {
        // 1920x1200, black with grey 8x16 "glyphs" on every other text row.
        let (w, h) = (1920u32, 1200u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let on =
                    (y / 16) % 2 == 0 && x < 1200 && ((x / 8 * 7 + y % 16 * 3 + x % 8) % 5 == 0);
                if on {
                    [0xaa, 0xaa, 0xaa]
                } else {
                    [0, 0, 0]
                }
            })
            .collect();
        let png = encode(w, h, &rgb).unwrap();
        assert!(png.len() < 200 << 10, "{} bytes", png.len());
        assert_eq!(decode(&png).unwrap().2, rgb);
    }
}
