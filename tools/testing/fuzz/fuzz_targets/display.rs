#![no_main]
//! Display: arbitrary accesses to the display registers (AUX, GMBUS, transcoders, DDIs, planes,
//! cursors) mixed with vblank ticks, plane queries, hotplugs and custom EDIDs, on a vGPU that
//! owns host planes. Checks that every forwarded write is a plane register of an owned plane and every
//! decoded plane lies inside the vGPU's memory.
use gvt::model::display::plane::{locate, PlaneKind};
use libfuzzer_sys::fuzz_target;

/// Registers the emulation handles, by block start and length in dwords.
const BLOCKS: [(u32, u32); 10] = [
    (0x70000, 0x180), // pipe A: TRANSCONF, counters, cursor, planes
    (0x71000, 0x180), // pipe B
    (0x72000, 0x140), // pipe C
    (0x7f008, 1),     // TRANSCONF(EDP)
    (0x60000, 0x20),  // transcoder A timings and M/N
    (0x64000, 0x140), // DDI buffers, AUX channels, DP transport A-E
    (0xc5100, 0x9),   // GMBUS0-5
    (0x44400, 0x1c),  // pipe and port interrupts
    (0x46074, 3),     // port PLLs
    (0x44200, 1),     // master interrupt
];

fuzz_target!(|data: &[u8]| {
    let mut w = gvt_fuzz::display_world().lock().unwrap();
    let w = &mut *w;
    w.hv.msis.clear();
    let host = w.host;
    for op in data.chunks(8) {
        let [kind, sel, lo, hi, a, b, c, d] = <[u8; 8]>::try_from(op).unwrap_or([0; 8]);
        let v = u32::from_le_bytes([a, b, c, d]);
        let (start, len) = BLOCKS[usize::from(sel) % BLOCKS.len()];
        let off = start + 4 * (u32::from(u16::from_le_bytes([lo, hi])) % len);
        match kind % 8 {
            0..=3 => {
                let _ = w
                    .vgpu
                    .mmio_write(host, &mut w.hv, u64::from(off), &v.to_le_bytes());
            }
            4 => {
                let mut buf = [0u8; 4];
                let _ = w.vgpu.mmio_read(u64::from(off), &mut buf);
            }
            5 => {
                w.now = w.now.saturating_add(u64::from(v) * 16);
                let _ = w.vgpu.display_tick(&mut w.hv, w.now);
            }
            6 => {
                for k in [PlaneKind::Primary, PlaneKind::Sprite, PlaneKind::Cursor] {
                    if let Ok(p) = w.vgpu.query_plane(k) {
                        assert!(w.vgpu.partition().owns_gm(p.gm, p.size), "{p:?}");
                    }
                }
            }
            _ => match a % 4 {
                0 | 1 => {
                    let _ = w.vgpu.display_hotplug(&mut w.hv, a & 1 != 0);
                }
                // A VMM's EDID: the monitor's with a byte changed, checksums fixed or not, one
                // or two blocks. Refused, it must leave the EDID as it was.
                2 => {
                    let mut e = [0u8; 256];
                    let cur = w.vgpu.edid().to_vec();
                    e[..cur.len().min(256)].copy_from_slice(&cur[..cur.len().min(256)]);
                    let len = if b & 1 == 0 { 128 } else { 256 };
                    e[usize::from(c) % len] = d;
                    if b & 2 != 0 {
                        for block in e[..len].chunks_mut(128) {
                            let sum = block[..127].iter().fold(0u8, |s, &x| s.wrapping_add(x));
                            block[127] = 0u8.wrapping_sub(sum);
                        }
                    }
                    if w.vgpu.set_edid(Some(&e[..len])).is_err() {
                        assert_eq!(w.vgpu.edid(), &cur[..]);
                    }
                }
                _ => {
                    let _ = w.vgpu.set_edid(None);
                }
            },
        }
        while let Some(f) = w.vgpu.take_forward() {
            let (pipe, plane, _) = locate(f.offset).expect("a plane register");
            let bit = pipe.index() * 4 + plane;
            assert!(w.vgpu.planes_owned() & (1 << bit) != 0, "{f:?}");
        }
    }
});
