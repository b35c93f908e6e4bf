#![no_main]
//! GGTT: arbitrary entry writes and reads (full, split, misaligned) over the whole window, and
//! flushes.
use gvt::model::vgpu::GGTT_MMIO_OFFSET;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut w = gvt_fuzz::world().lock().unwrap();
    let w = &mut *w;
    w.clear_logs();
    let host = w.host;
    for op in data.chunks(13) {
        if op.len() < 13 {
            break;
        }
        let idx = u64::from(u32::from_le_bytes([op[0], op[1], op[2], op[3]]) & 0x1f_ffff);
        let sub = u64::from(op[4] & 7);
        let off = GGTT_MMIO_OFFSET + idx * 8 + sub;
        let len = gvt_fuzz::SIZES[usize::from((op[4] >> 3) & 7)];
        let pte = &op[5..13];
        match op[4] >> 6 {
            0 | 1 => {
                let _ = w.vgpu.mmio_write(host, &mut w.hv, off, &pte[..len.min(8)]);
            }
            2 => {
                let mut b = [0u8; 16];
                let _ = w.vgpu.mmio_read(off, &mut b[..len]);
            }
            _ => w.vgpu.flush_ggtt(host),
        }
    }
});
