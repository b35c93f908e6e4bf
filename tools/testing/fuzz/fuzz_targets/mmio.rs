#![no_main]
//! MMIO: arbitrary register reads and writes in BAR0, biased to the tracked window.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut w = gvt_fuzz::world().lock().unwrap();
    let w = &mut *w;
    w.clear_logs();
    let host = w.host;
    for op in data.chunks(12) {
        if op.len() < 12 {
            break;
        }
        let raw = u32::from_le_bytes([op[0], op[1], op[2], op[3]]);
        // Mostly inside the 2 MiB register window, sometimes anywhere.
        let off = if op[4] & 0x40 != 0 {
            u64::from(raw)
        } else {
            u64::from(raw & 0x1f_ffff)
        };
        let len = gvt_fuzz::SIZES[usize::from(op[4] & 7)];
        let payload = &op[4..];
        if op[4] & 0x80 != 0 {
            let mut b = [0u8; 16];
            let _ = w.vgpu.mmio_read(off, &mut b[..len]);
        } else {
            let _ = w
                .vgpu
                .mmio_write(host, &mut w.hv, off, &payload[..len.min(payload.len())]);
        }
    }
});
