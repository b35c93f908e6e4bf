#![no_main]
//! MMIO: arbitrary register reads and writes in BAR0, biased to the tracked window. Every host
//! write stays in the vGPU's partition, and a dword written to a register the table gives no
//! handler reads back as the register's mode says: plain storage (untracked registers, and
//! every register in failsafe but the ones that still answer) what was written; a read-only
//! register its old value; read-only bits their old bits; a masked register the selected low
//! bits (bits 31:16 of the write choose) and 0 in the high half.
use gvt::model::host::HostGpu;
use gvt::model::mmio_table::{mmio_index, Handler, MmioDef, F_MODE_MASK};
use gvt::model::vgpu::GGTT_MMIO_OFFSET;
use libfuzzer_sys::fuzz_target;

/// How a register holds a guest's write.
#[derive(Clone, Copy)]
enum Mode {
    Plain,
    Table(&'static MmioDef),
}

/// What a dword register reads after `v` is written over `old`.
fn expected(mode: Mode, old: u32, v: u32) -> u32 {
    let def = match mode {
        Mode::Plain => return v,
        Mode::Table(def) => def,
    };
    let ro = def.ro_mask;
    if ro == u32::MAX {
        old
    } else if def.flags & F_MODE_MASK != 0 {
        let select = (v >> 16) & !ro;
        (old & 0xffff & !select) | (v & select)
    } else {
        (v & !ro) | (old & ro)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut w = gvt_fuzz::world().lock().unwrap();
    let w = &mut *w;
    w.clear_logs();
    let host = w.fenced();
    let table = mmio_index(host.info().platform);
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
            continue;
        }
        let data = &payload[..len.min(payload.len())];
        // The oracle's registers: whole aligned dwords with no handler (or in failsafe).
        let reg = u32::try_from(off)
            .ok()
            .filter(|&r| len == 4 && r % 4 == 0 && u64::from(r) < GGTT_MMIO_OFFSET);
        let mode = reg.and_then(|r| {
            let def = table.lookup(r);
            let answers = def.is_some_and(|d| d.handler.answers_in_failsafe());
            match def {
                _ if w.vgpu.failsafe().is_some() && !answers => Some(Mode::Plain),
                None if table.block(r).is_none() => Some(Mode::Plain),
                Some(d) if d.handler == Handler::Default && d.ro_mask >> 16 == 0 => {
                    Some(Mode::Table(d))
                }
                Some(d) if d.handler == Handler::Default && d.ro_mask == u32::MAX => {
                    Some(Mode::Table(d))
                }
                _ => None,
            }
        });
        let read = |w: &mut gvt_fuzz::World| {
            let mut b = [0u8; 4];
            w.vgpu
                .mmio_read(off, &mut b)
                .map(|()| u32::from_le_bytes(b))
        };
        let old = mode.map(|_| read(w));
        let r = w.vgpu.mmio_write(&host, &mut w.hv, off, data);
        if let (Some(mode), Some(Ok(old)), Ok(())) = (mode, old, r) {
            let v = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            let now = read(w).expect("a register just written reads");
            assert_eq!(
                now,
                expected(mode, old, v),
                "register {off:#x}: {v:#x} written over {old:#x}"
            );
        }
    }
});
