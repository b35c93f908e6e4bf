#![no_main]
//! Execlists: arbitrary ELSP dwords, CSB pointer writes, engine resets, corrupted context
//! images and rings, mixed with well-formed submissions, on three vGPUs; the GPU runs after
//! every input.
use guest_model::machine::DATA_GVA;
use guest_model::{Transport, TransportExt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gvt_fuzz::exec_input(|w| {
        for op in data.chunks_exact(10) {
            let vm = usize::from(op[0] % 3);
            let v = u32::from_le_bytes([op[2], op[3], op[4], op[5]]);
            let x = u32::from_le_bytes([op[6], op[7], op[8], op[9]]);
            let base = [0x2000u32, 0x12000, 0x22000, 0x1a000][usize::from(op[1] & 3)];
            let g = &mut w.guests[vm];
            let mut t = w.m.guest(vm);
            let _ = match op[1] >> 2 & 7 {
                0 => t.write32(base + 0x230, v),
                1 => t.write32(base + 0x3a0, v),
                2 => t.write32(0x941c, v & 0x3f),
                3 => t.ram_write(g.ctx.regs + u64::from(x % 0x400) * 4, &v.to_le_bytes()),
                4 => t.ram_write(g.ctx.ring.1 + u64::from(x % 0x1000) * 4, &v.to_le_bytes()),
                5 => g.submit(&mut t, &[DATA_GVA + u64::from(x % 0x8000)], v, DATA_GVA),
                6 => t.read32(base + 0x234).map(|_| ()),
                _ => {
                    w.m.run();
                    Ok(())
                }
            };
        }
    });
});
