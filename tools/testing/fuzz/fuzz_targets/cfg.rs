#![no_main]
//! Config space: arbitrary reads and writes (offset, size, data), sequences of them per input.
//! After every access the config space is one a device could have:
//! - the BARs keep their flags, a base aligned to their size (sizing reads the size back), and
//!   no BAR4/5;
//! - what the hypervisor traps and maps is what the BARs say, only while memory decoding is
//!   on, each range trapped or mapped once, and the aperture mapping is the vGPU's own slice of
//!   the host aperture;
//! - the capability list, MSI's capability bits and PM's capabilities keep their values, and
//!   the MSI address and data the vGPU injects with are the ones the guest reads;
//! - the OpRegion address the vGPU uses is the one the guest reads in ASLS.
use std::sync::Mutex;

use guest_model::hv::MemHypervisor;
use gvt::model::cfg_space::{
    CfgSpace, INTEL_GVT_PCI_OPREGION, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_2, PCI_BASE_ADDRESS_4,
    PCI_CAPABILITY_LIST, PCI_CAP_ID_MSI, PCI_CAP_ID_PM,
};
use gvt::model::host::HostGpu;
use gvt::model::resources::Partition;
use libfuzzer_sys::fuzz_target;

/// What the hypervisor was told to trap (BAR0) and map (BAR2) and not told to stop since.
#[derive(Default)]
struct Hv {
    trap: Option<(u64, u64)>,
    map: Option<(u64, u64, u64)>,
}

impl Hv {
    /// Takes in what the vGPU asked of the hypervisor since the logs were cleared.
    fn apply(&mut self, hv: &MemHypervisor) {
        for &(start, end, on) in &hv.traps {
            if on {
                assert_eq!(self.trap, None, "BAR0 trapped twice");
                self.trap = Some((start, end));
            } else {
                assert_eq!(
                    self.trap,
                    Some((start, end)),
                    "untrapped what was not trapped"
                );
                self.trap = None;
            }
        }
        for &(gfn, mfn, nr, on) in &hv.aperture_maps {
            if on {
                assert_eq!(self.map, None, "aperture mapped twice");
                self.map = Some((gfn, mfn, nr));
            } else {
                assert_eq!(
                    self.map,
                    Some((gfn, mfn, nr)),
                    "unmapped what was not mapped"
                );
                self.map = None;
            }
        }
    }
}

fn rd16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn rd32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The capabilities of the host's config space: (offset, id).
fn caps(snap: &[u8]) -> Vec<(usize, u8)> {
    let mut v = Vec::new();
    let mut p = usize::from(snap[PCI_CAPABILITY_LIST] & !3);
    while p >= 0x40 && v.len() < 48 {
        v.push((p, snap[p]));
        p = usize::from(snap[p + 1] & !3);
    }
    v
}

fn check(c: &CfgSpace, snap: &[u8], part: &Partition, aperture_pa: u64, hv: &Hv) {
    let b = c.bytes();
    for (bar, size) in [
        (PCI_BASE_ADDRESS_0, c.bar0.size),
        (PCI_BASE_ADDRESS_2, c.bar2.size),
    ] {
        assert_eq!(b[bar] & 0xf, snap[bar] & 0xf, "BAR at {bar:#x}: flags");
        assert_eq!(c.bar_base(bar) % size, 0, "BAR at {bar:#x}: base");
    }
    assert_eq!(rd32(b, PCI_BASE_ADDRESS_4), 0, "BAR4");
    assert_eq!(rd32(b, PCI_BASE_ADDRESS_4 + 4), 0, "BAR5");
    let base0 = c.bar_base(PCI_BASE_ADDRESS_0);
    let trap = c.bar0.tracked.then(|| (base0, base0 + c.bar0.size));
    assert_eq!(hv.trap, trap, "BAR0 trap");
    let gpa = c.bar_base(PCI_BASE_ADDRESS_2) + part.low.start;
    let slice = (
        (gpa >> 12),
        (aperture_pa + part.low.start) >> 12,
        part.low.size >> 12,
    );
    assert_eq!(hv.map, c.bar2.tracked.then_some(slice), "aperture map");
    if !c.memory_enabled() {
        assert_eq!(
            (c.bar0.tracked, c.bar2.tracked),
            (false, false),
            "decode off"
        );
    }
    for (p, id) in caps(snap) {
        assert_eq!(b[p..p + 2], snap[p..p + 2], "capability at {p:#x}");
        match id {
            PCI_CAP_ID_MSI => {
                let ctl = rd16(b, p + 2);
                assert_eq!(ctl & !0x71, rd16(snap, p + 2) & !0x71, "MSI control");
                let data = if ctl & 0x80 != 0 { p + 12 } else { p + 8 };
                let want = (ctl & 1 != 0).then(|| {
                    let hi = if ctl & 0x80 != 0 { rd32(b, p + 8) } else { 0 };
                    (
                        u64::from(rd32(b, p + 4)) | u64::from(hi) << 32,
                        u32::from(rd16(b, data)),
                    )
                });
                assert_eq!(c.msi(), want, "MSI");
            }
            PCI_CAP_ID_PM => assert_eq!(b[p + 2..p + 4], snap[p + 2..p + 4], "PM capabilities"),
            _ => {}
        }
    }
    let asls = rd32(b, INTEL_GVT_PCI_OPREGION);
    assert_eq!(
        c.opregion_gpa.unwrap_or(0),
        u64::from(asls),
        "OpRegion address"
    );
}

fuzz_target!(|data: &[u8]| {
    static HV: Mutex<Option<Hv>> = Mutex::new(None);
    let mut w = gvt_fuzz::world().lock().unwrap();
    let w = &mut *w;
    let mut hv = HV.lock().unwrap();
    // The first input finds the probe's requests in the logs.
    let hv = hv.get_or_insert_with(Hv::default);
    hv.apply(&w.hv);
    w.clear_logs();
    let snap = *w.host.cfg_snapshot();
    let aperture_pa = w.host.info().aperture_pa;
    let part = *w.vgpu.partition();
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
            continue;
        }
        let data = &payload[..len.min(payload.len())];
        let r = w.vgpu.cfg_write(&mut w.hv, off, data);
        hv.apply(&w.hv);
        w.clear_logs();
        let c = w.vgpu.cfg();
        check(c, &snap, &part, aperture_pa, hv);
        // Sizing: all ones written to a BAR dword reads back the size.
        let (Ok(()), Ok(&[0xff, 0xff, 0xff, 0xff])) = (r, <&[u8; 4]>::try_from(data)) else {
            continue;
        };
        let o = off as usize;
        let sized = match o & !7 {
            PCI_BASE_ADDRESS_0 => c.bar0.size,
            PCI_BASE_ADDRESS_2 => c.bar2.size,
            _ => continue,
        };
        let mask = !(sized - 1);
        let want = match o % 8 {
            0 => (mask as u32 & !0xf) | u32::from(snap[o] & 0xf),
            4 => (mask >> 32) as u32,
            _ => continue,
        };
        assert_eq!(rd32(c.bytes(), o), want, "BAR dword at {o:#x} after sizing");
    }
});
