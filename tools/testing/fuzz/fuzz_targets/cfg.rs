#![no_main]
//! Config space: arbitrary reads and writes (offset, size, data), sequences of them per input.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut w = gvt_fuzz::world().lock().unwrap();
    let w = &mut *w;
    w.clear_logs();
    for op in data.chunks(8) {
        if op.len() < 4 {
            break;
        }
        let off = u32::from(u16::from_le_bytes([op[0], op[1]])) & 0x1fff;
        let len = gvt_fuzz::SIZES[usize::from(op[2] & 7)];
        let payload = &op[3..];
        if op[2] & 0x80 != 0 {
            let mut b = [0u8; 16];
            let _ = w.vgpu.cfg_read(off, &mut b[..len]);
        } else {
            let _ = w
                .vgpu
                .cfg_write(&mut w.hv, off, &payload[..len.min(payload.len())]);
        }
    }
});
