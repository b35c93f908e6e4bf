//! The virtual monitor's EDID: by default one 128-byte EDID 1.4 block for a DisplayPort
//! monitor whose preferred (first detailed) timing is the vGPU type's resolution; a backend
//! may replace it with its own (VFIO's EDID region), which [`validate`] checks first. Served
//! over I2C-over-AUX and GMBUS at DDC address 0x50, from the vGPU's storage.

use super::super::error::{GvtError, Result};
use super::super::vgpu_type::Resolution;

/// Size of an EDID block.
pub const EDID_SIZE: usize = 128;
/// Largest EDID a vGPU's monitor takes: the base block and one extension, all that DDC
/// address 0x50 reaches without the E-DDC segment pointer (not emulated).
pub const EDID_MAX_SIZE: usize = 2 * EDID_SIZE;
/// How every EDID starts.
const HEADER: [u8; 8] = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];
/// The DDC address an EDID answers on.
pub const EDID_ADDR: u8 = 0x50;

/// A display mode's timings (pixels and lines, clock in kHz).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Pixel clock in kHz.
    pub clock_khz: u32,
    /// Active pixels per line.
    pub hactive: u32,
    /// Front porch, sync and back porch, in pixels.
    pub hfp: u32,
    /// Horizontal sync width.
    pub hsync: u32,
    /// Horizontal back porch.
    pub hbp: u32,
    /// Active lines.
    pub vactive: u32,
    /// Vertical front porch, in lines.
    pub vfp: u32,
    /// Vertical sync width.
    pub vsync: u32,
    /// Vertical back porch.
    pub vbp: u32,
    /// Positive horizontal sync.
    pub hsync_positive: bool,
    /// Positive vertical sync.
    pub vsync_positive: bool,
}

impl Mode {
    /// The mode of a vGPU type's monitor: 1024x768 at 60 Hz (VESA DMT) or 1920x1200 at 60 Hz
    /// with reduced blanking (CVT-RB), the timings upstream's virtual monitors advertise.
    pub const fn of(res: Resolution) -> Mode {
        match res {
            Resolution::R1024x768 => Mode {
                clock_khz: 65_000,
                hactive: 1024,
                hfp: 24,
                hsync: 136,
                hbp: 160,
                vactive: 768,
                vfp: 3,
                vsync: 6,
                vbp: 29,
                hsync_positive: false,
                vsync_positive: false,
            },
            Resolution::R1920x1200 => Mode {
                clock_khz: 154_000,
                hactive: 1920,
                hfp: 48,
                hsync: 32,
                hbp: 80,
                vactive: 1200,
                vfp: 3,
                vsync: 6,
                vbp: 26,
                hsync_positive: true,
                vsync_positive: false,
            },
        }
    }

    /// Pixels per line, blanking included.
    pub const fn htotal(&self) -> u32 {
        self.hactive
            .saturating_add(self.hfp)
            .saturating_add(self.hsync)
            .saturating_add(self.hbp)
    }

    /// Lines per frame, blanking included.
    pub const fn vtotal(&self) -> u32 {
        self.vactive
            .saturating_add(self.vfp)
            .saturating_add(self.vsync)
            .saturating_add(self.vbp)
    }

    /// Refresh rate in mHz (0 for a degenerate mode).
    pub fn refresh_mhz(&self) -> u32 {
        refresh_mhz(u64::from(self.clock_khz), self.htotal(), self.vtotal())
    }
}

/// Refresh rate in mHz of a pixel clock over a frame of `htotal` x `vtotal` pixels, rounded;
/// 0 if a value is zero or the result does not fit.
pub fn refresh_mhz(clock_khz: u64, htotal: u32, vtotal: u32) -> u32 {
    let frame = u64::from(htotal).saturating_mul(u64::from(vtotal));
    if frame == 0 {
        return 0;
    }
    let num = clock_khz
        .saturating_mul(1_000_000)
        .saturating_add(frame / 2);
    num.checked_div(frame)
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(0)
}

/// Standard timings (width, aspect code, refresh) the 1920x1200 monitor also lists.
const WIDE_STANDARD: [(u32, u8); 7] = [
    (1920, 3), // 1920x1080 (16:9)
    (1280, 3), // 1280x720
    (1280, 1), // 1280x960 (4:3)
    (1280, 2), // 1280x1024 (5:4)
    (1440, 0), // 1440x900 (16:10)
    (1600, 1), // 1600x1200
    (1680, 0), // 1680x1050
];

/// The EDID block of a vGPU type's monitor.
pub fn block(res: Resolution) -> [u8; EDID_SIZE] {
    let standard: &[(u32, u8)] = match res {
        Resolution::R1920x1200 => &WIDE_STANDARD,
        Resolution::R1024x768 => &[],
    };
    build(&Mode::of(res), standard)
}

/// An EDID block like the types' whose preferred timing is `mode` (a monitor a backend
/// offers, e.g. in tests of custom EDIDs).
pub fn block_for_mode(mode: &Mode) -> [u8; EDID_SIZE] {
    build(mode, &[])
}

/// Whether `blob` is an EDID a monitor may present: one to [`EDID_MAX_SIZE`] / 128 whole
/// blocks, the header and version 1 in the base block, its extension count matching the
/// blocks that follow, and every block's checksum right. `Invalid` otherwise.
pub fn validate(blob: &[u8]) -> Result {
    let blocks = blob.len() / EDID_SIZE;
    let ok = blob.len() % EDID_SIZE == 0
        && (1..=EDID_MAX_SIZE / EDID_SIZE).contains(&blocks)
        && blob.get(..HEADER.len()) == Some(&HEADER[..])
        && blob.get(18) == Some(&1)
        && blob.get(126).map(|&n| usize::from(n)) == Some(blocks.saturating_sub(1))
        && blob
            .chunks(EDID_SIZE)
            .all(|b| b.iter().fold(0u8, |a, &x| a.wrapping_add(x)) == 0);
    if ok {
        Ok(())
    } else {
        Err(GvtError::Invalid)
    }
}

/// The preferred mode of an EDID: its first detailed timing descriptor (EDID 1.4 makes it the
/// preferred one). `None` if the block is short or the descriptor is not a timing.
pub fn preferred_mode(blob: &[u8]) -> Option<Mode> {
    let d = blob.get(54..72)?;
    let b = |i: usize| d.get(i).map(|&x| u32::from(x)).unwrap_or(0);
    let clock_khz = (b(0) | (b(1) << 8)).saturating_mul(10);
    if clock_khz == 0 {
        return None;
    }
    let hi = |v: u32, shift: u32| ((v >> shift) & 0xf) << 8;
    let hactive = b(2) | hi(b(4), 4);
    let hblank = b(3) | hi(b(4), 0);
    let vactive = b(5) | hi(b(7), 4);
    let vblank = b(6) | hi(b(7), 0);
    let hfp = b(8) | ((b(11) >> 6) << 8);
    let hsync = b(9) | (((b(11) >> 4) & 3) << 8);
    let vfp = (b(10) >> 4) | (((b(11) >> 2) & 3) << 4);
    let vsync = (b(10) & 0xf) | ((b(11) & 3) << 4);
    let hbp = hblank.checked_sub(hfp)?.checked_sub(hsync)?;
    let vbp = vblank.checked_sub(vfp)?.checked_sub(vsync)?;
    let flags = b(17);
    // Digital separate sync carries the polarities; other sync types are not a DP monitor's.
    if flags & 0x18 != 0x18 || flags & 0x80 != 0 {
        return None;
    }
    Some(Mode {
        clock_khz,
        hactive,
        hfp,
        hsync,
        hbp,
        vactive,
        vfp,
        vsync,
        vbp,
        hsync_positive: flags & 0x02 != 0,
        vsync_positive: flags & 0x04 != 0,
    })
}

fn build(mode: &Mode, standard: &[(u32, u8)]) -> [u8; EDID_SIZE] {
    let mut e = [0u8; EDID_SIZE];
    let mut put = |at: usize, bytes: &[u8]| {
        if let Some(dst) = e.get_mut(at..at.saturating_add(bytes.len())) {
            dst.copy_from_slice(bytes);
        }
    };
    put(0, &HEADER);
    // Manufacturer "GVT" (three 5-bit letters, 'A' = 1), product 0x5247 ("GR"), no serial.
    let id: u16 = (7 << 10) | (22 << 5) | 20;
    put(8, &id.to_be_bytes());
    put(10, &[0x47, 0x52, 0, 0, 0, 0]);
    // Week 1 of 2016; EDID 1.4.
    put(16, &[1, 26, 1, 4]);
    // Digital, 8 bits per colour, DisplayPort; size in cm; gamma 2.2; sRGB, preferred timing
    // native, RGB 4:4:4.
    let (w_mm, h_mm) = (
        mode.hactive.saturating_mul(27) / 100,
        mode.vactive.saturating_mul(27) / 100,
    );
    put(20, &[0xa5, byte(w_mm / 10), byte(h_mm / 10), 120, 0x06]);
    put(25, &chromaticity());
    // Established timings: 640x480@60, 800x600@60, 1024x768@60.
    put(35, &[0x21, 0x08, 0x00]);
    for (at, i) in (38..54).step_by(2).zip(0usize..) {
        let st = match standard.get(i) {
            Some(&(w, aspect)) => [byte((w / 8).saturating_sub(31)), aspect << 6],
            None => [0x01, 0x01],
        };
        put(at, &st);
    }
    put(54, &detailed_timing(mode, w_mm, h_mm));
    // Range limits: 50-75 Hz, 30-83 kHz, 170 MHz, no secondary timing formula.
    put(
        72,
        &[
            0, 0, 0, 0xfd, 0, 50, 75, 30, 83, 17, 0, 0x0a, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
        ],
    );
    put(
        90,
        &[
            0, 0, 0, 0xfc, 0, b'G', b'V', b'T', b'-', b'g', b' ', b'v', b'D', b'P', 0x0a, 0x20,
            0x20, 0x20,
        ],
    );
    put(108, &[0, 0, 0, 0x10, 0]);
    let sum = e
        .iter()
        .take(EDID_SIZE - 1)
        .fold(0u8, |a, &b| a.wrapping_add(b));
    if let Some(last) = e.last_mut() {
        *last = 0u8.wrapping_sub(sum);
    }
    e
}

fn byte(v: u32) -> u8 {
    u8::try_from(v & 0xff).unwrap_or(0)
}

/// sRGB primaries and D65 white as EDID's 10-bit fractions (value * 1024).
fn chromaticity() -> [u8; 10] {
    // red x, red y, green x, green y, blue x, blue y, white x, white y
    let c: [u16; 8] = [655, 338, 307, 614, 154, 61, 320, 337];
    let lo = |a: u16, b: u16, d: u16, f: u16| -> u8 {
        let v = ((a & 3) << 6) | ((b & 3) << 4) | ((d & 3) << 2) | (f & 3);
        u8::try_from(v).unwrap_or(0)
    };
    let hi = |v: u16| u8::try_from(v >> 2).unwrap_or(0);
    [
        lo(c[0], c[1], c[2], c[3]),
        lo(c[4], c[5], c[6], c[7]),
        hi(c[0]),
        hi(c[1]),
        hi(c[2]),
        hi(c[3]),
        hi(c[4]),
        hi(c[5]),
        hi(c[6]),
        hi(c[7]),
    ]
}

/// An 18-byte detailed timing descriptor.
fn detailed_timing(m: &Mode, w_mm: u32, h_mm: u32) -> [u8; 18] {
    let clock = m.clock_khz / 10;
    let hblank = m.htotal().saturating_sub(m.hactive);
    let vblank = m.vtotal().saturating_sub(m.vactive);
    let hi4 = |a: u32, b: u32| byte((((a >> 8) & 0xf) << 4) | ((b >> 8) & 0xf));
    let mut flags = 0x18; // digital separate sync
    if m.vsync_positive {
        flags |= 0x04;
    }
    if m.hsync_positive {
        flags |= 0x02;
    }
    [
        byte(clock),
        byte(clock >> 8),
        byte(m.hactive),
        byte(hblank),
        hi4(m.hactive, hblank),
        byte(m.vactive),
        byte(vblank),
        hi4(m.vactive, vblank),
        byte(m.hfp),
        byte(m.hsync),
        byte(((m.vfp & 0xf) << 4) | (m.vsync & 0xf)),
        byte(
            (((m.hfp >> 8) & 3) << 6)
                | (((m.hsync >> 8) & 3) << 4)
                | (((m.vfp >> 4) & 3) << 2)
                | ((m.vsync >> 4) & 3),
        ),
        byte(w_mm),
        byte(h_mm),
        hi4(w_mm, h_mm),
        0,
        0,
        flags,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_valid_edid_1_4() {
        for res in [Resolution::R1024x768, Resolution::R1920x1200] {
            let e = block(res);
            assert_eq!(&e[..8], &[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0]);
            assert_eq!(e.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0, "checksum");
            assert_eq!((e[18], e[19]), (1, 4));
            assert_eq!(e[126], 0, "no extensions");
            let m = Mode::of(res);
            let clock = u32::from(u16::from_le_bytes([e[54], e[55]])) * 10;
            assert_eq!(clock, m.clock_khz);
            assert_eq!(u32::from(e[56]) | (u32::from(e[58] >> 4) << 8), m.hactive);
            assert_eq!(u32::from(e[59]) | (u32::from(e[61] >> 4) << 8), m.vactive);
            assert_eq!(
                u32::from(e[57]) | (u32::from(e[58] & 0xf) << 8),
                m.htotal() - m.hactive
            );
        }
        // The wide monitor lists 1920x1080@60 first among its standard timings.
        let e = block(Resolution::R1920x1200);
        assert_eq!((e[38], e[39]), (0xd1, 0xc0));
    }

    #[test]
    fn preferred_mode_parses_back() {
        for res in [Resolution::R1024x768, Resolution::R1920x1200] {
            assert_eq!(preferred_mode(&block(res)), Some(Mode::of(res)));
        }
        let odd = Mode {
            hsync_positive: false,
            vsync_positive: true,
            ..Mode::of(Resolution::R1920x1200)
        };
        assert_eq!(preferred_mode(&block_for_mode(&odd)), Some(odd));
        assert_eq!(preferred_mode(&[0; 60]), None);
        let mut interlaced = block(Resolution::R1024x768);
        interlaced[71] |= 0x80;
        assert_eq!(preferred_mode(&interlaced), None);
    }

    #[test]
    fn modes_refresh_at_60_hz() {
        assert_eq!(Mode::of(Resolution::R1024x768).refresh_mhz(), 60_004);
        assert_eq!(Mode::of(Resolution::R1920x1200).refresh_mhz(), 59_950);
        assert_eq!(refresh_mhz(1, 0, 10), 0);
        assert_eq!(refresh_mhz(u64::MAX, 1, 1), 0);
    }

    #[test]
    fn validation_takes_whole_checked_blocks() {
        let base = block(Resolution::R1024x768);
        assert_eq!(validate(&base), Ok(()));
        let custom = block_for_mode(&Mode {
            hactive: 1280,
            vactive: 1024,
            ..Mode::of(Resolution::R1024x768)
        });
        assert_eq!(validate(&custom), Ok(()));
        // A base block announcing one extension, and the extension (a CTA block).
        let mut two = [0u8; 2 * EDID_SIZE];
        two[..EDID_SIZE].copy_from_slice(&base);
        two[126] = 1;
        two[127] = two[127].wrapping_sub(1);
        two[EDID_SIZE] = 0x02;
        two[EDID_SIZE + 1] = 0x03;
        two[2 * EDID_SIZE - 1] = 0u8.wrapping_sub(5);
        assert_eq!(validate(&two), Ok(()));
        let bad = |f: &dyn Fn(&mut [u8])| {
            let mut b = two;
            f(&mut b);
            validate(&b)
        };
        assert_eq!(
            bad(&|b| b[EDID_SIZE + 5] ^= 1),
            Err(GvtError::Invalid),
            "extension checksum"
        );
        assert_eq!(
            bad(&|b| b[20] ^= 1),
            Err(GvtError::Invalid),
            "base checksum"
        );
        assert_eq!(bad(&|b| b[0] = 1), Err(GvtError::Invalid), "header");
        assert_eq!(
            validate(&two[..EDID_SIZE]),
            Err(GvtError::Invalid),
            "an extension announced, none follows"
        );
        let mut v2 = base;
        v2[18] = 2;
        v2[127] = v2[127].wrapping_sub(1);
        assert_eq!(validate(&v2), Err(GvtError::Invalid), "EDID 2.0");
        for len in [0, 1, 127, 129, 255, 384] {
            let mut b = std::vec![0u8; len];
            if let Some(h) = b.get_mut(..8) {
                h.copy_from_slice(&HEADER);
            }
            assert_eq!(validate(&b), Err(GvtError::Invalid), "{len} bytes");
        }
    }
}
