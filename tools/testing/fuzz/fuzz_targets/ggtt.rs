#![no_main]
//! GGTT: arbitrary entry writes and reads (full, split, misaligned) over the whole window, and
//! flushes. Every host write stays in the vGPU's partition; an entry the vGPU owns reads back
//! what was written, one it does not own reads 0; a whole entry written outside failsafe puts a
//! host entry that is present exactly when the guest's is (scratch when it is not).
use gvt::model::host::HostGpu;
use gvt::model::vgpu::GGTT_MMIO_OFFSET;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut w = gvt_fuzz::world().lock().unwrap();
    let w = &mut *w;
    w.clear_logs();
    let host = w.fenced();
    let part = *w.vgpu.partition();
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
                let data = &pte[..len.min(8)];
                let failsafe = w.vgpu.failsafe().is_some();
                if w.vgpu.mmio_write(&host, &mut w.hv, off, data).is_err() {
                    continue;
                }
                let owned = part.owns_gm(idx * 4096, 4096);
                let mut b = [0u8; 8];
                let back = &mut b[..data.len()];
                w.vgpu
                    .mmio_read(off, back)
                    .expect("an entry just written reads");
                if owned {
                    assert_eq!(back, data, "entry {idx:#x} at +{sub} reads back");
                } else {
                    assert!(back.iter().all(|&x| x == 0), "entry {idx:#x} is not ours");
                }
                if owned && !failsafe && data.len() == 8 {
                    let guest = u64::from_le_bytes(pte.try_into().unwrap());
                    let h = host.ggtt_read(idx);
                    if guest & 1 == 0 {
                        assert_eq!(h, host.info().scratch_page, "entry {idx:#x} not present");
                    } else {
                        assert_eq!(h & 1, 1, "entry {idx:#x} present");
                    }
                }
            }
            2 => {
                let mut b = [0u8; 16];
                let _ = w.vgpu.mmio_read(off, &mut b[..len]);
            }
            _ => w.vgpu.flush_ggtt(&host),
        }
    }
});
