#![no_main]
//! Shadow PPGTT: arbitrary 8-byte, 4-byte and odd-sized writes to the guests' page-table
//! pages (trapped or not, committed or not, by vGPU), tables pointing at each other or at
//! huge pages, PVINFO PPGTT notifications, and submissions through the result.
use guest_model::machine::DATA_GVA;
use guest_model::{Transport, TransportExt};
use gvt::model::pvinfo::field;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gvt_fuzz::exec_input(|w| {
        for op in data.chunks_exact(12) {
            let vm = usize::from(op[0] % 3);
            let v = u64::from_le_bytes(op[4..12].try_into().unwrap());
            let g = &mut w.guests[vm];
            let mut t = w.m.guest(vm);
            // The guest's tables on the path to DATA_GVA (and the batch): PML4, PDP, PD, PT.
            let gva = if op[1] & 1 == 0 {
                DATA_GVA
            } else {
                guest_model::machine::BATCH_GVA
            };
            let level = u32::from(op[1] >> 1 & 3) + 1;
            let Ok(entry) = g.ppgtt.entry_addr(&mut t, &mut g.alloc, gva, level) else {
                continue;
            };
            let table = entry & !0xfff;
            let slot = u64::from(op[2]) * 16 % 4096;
            let _ = match op[3] & 7 {
                0 => t.ram_write(table + slot, &v.to_le_bytes()),
                1 => t.ram_write(table + slot + 4, &(v as u32).to_le_bytes()),
                2 => {
                    let len = usize::from(op[3] >> 3 & 7) + 1;
                    t.ram_write(table + slot + u64::from(op[2] & 7), &v.to_le_bytes()[..len])
                }
                3 => t.ram_write(entry, &((v & 0x3f_f000) | 0x83).to_le_bytes()),
                4 => {
                    let _ = t.write32(field::PDP0_LO, v as u32);
                    let _ = t.write32(field::PDP0_LO + 4, (v >> 32) as u32);
                    t.write32(field::G2V_NOTIFY, 2 + u32::from(op[3] >> 3 & 3))
                }
                5 => t
                    .write32(field::PDP0_LO, g.ppgtt.pml4 as u32)
                    .and_then(|()| t.write32(field::G2V_NOTIFY, 4 + u32::from(op[3] >> 3 & 1))),
                _ => g.submit(&mut t, &[DATA_GVA + (v & 0x7ffc)], v as u32, gva),
            };
        }
    });
});
