//! The vGPU's PCI configuration space.
//!
//! A copy of the host's config space with the parts a guest must not see changed: no stolen
//! memory (GMCH.GMS = 0), BARs unassigned, decoding off, no ROM, no OpRegion yet. Writes follow
//! a per-byte writable-bit map (the high byte of STATUS is write-1-to-clear), BAR writes size
//! and move the BARs, and turning memory decoding on or off asks the hypervisor to trap BAR0 and
//! map the vGPU's aperture slice behind BAR2 (the hooks ACRN needs; VFIO backends ignore them).
//! SWSCI (0xe8) and ASLS (0xfc) reach the OpRegion emulation. Storage is inline (256 bytes):
//! the extended space reads as zeros and ignores writes.

use super::error::{GvtError, Result};
use super::host::{HostInfo, CFG_SPACE_SIZE};
use super::num::u32_as_usize;
use super::opregion::{swsci_reply, OPREGION_PARM, OPREGION_SCIC};
use super::resources::Partition;
use crate::mpt::MptOps;

/// PCI_COMMAND.
pub const PCI_COMMAND: usize = 0x04;
/// PCI_COMMAND: I/O decoding.
pub const PCI_COMMAND_IO: u8 = 0x1;
/// PCI_COMMAND: memory decoding.
pub const PCI_COMMAND_MEMORY: u8 = 0x2;
/// PCI_COMMAND: bus mastering.
pub const PCI_COMMAND_MASTER: u8 = 0x4;
/// PCI_STATUS.
pub const PCI_STATUS: usize = 0x06;
/// PCI_STATUS: the device has a capability list.
pub const PCI_STATUS_CAP_LIST: u8 = 0x10;
/// BAR0 (GTTMMADR, 64-bit).
pub const PCI_BASE_ADDRESS_0: usize = 0x10;
/// BAR2 (GMADR, the aperture, 64-bit).
pub const PCI_BASE_ADDRESS_2: usize = 0x18;
/// BAR4 (I/O).
pub const PCI_BASE_ADDRESS_4: usize = 0x20;
/// Expansion ROM BAR.
pub const PCI_ROM_ADDRESS: usize = 0x30;
/// Capability pointer.
pub const PCI_CAPABILITY_LIST: usize = 0x34;
/// GMCH graphics control (stolen memory size in bits 15:8).
pub const INTEL_GVT_PCI_GMCH_CONTROL: usize = 0x50;
/// Software SCI trigger.
pub const INTEL_GVT_PCI_SWSCI: usize = 0xe8;
/// ASLS: guest physical address of the OpRegion.
pub const INTEL_GVT_PCI_OPREGION: usize = 0xfc;
/// Capability id of power management.
pub const PCI_CAP_ID_PM: u8 = 0x01;
/// Capability id of MSI.
pub const PCI_CAP_ID_MSI: u8 = 0x05;
/// MSI control: enable.
pub const PCI_MSI_FLAGS_ENABLE: u16 = 0x1;
/// MSI control: 64-bit address.
pub const PCI_MSI_FLAGS_64BIT: u16 = 0x80;

const SWSCI_SCI_SELECT: u32 = 1 << 15;
const SWSCI_SCI_TRIGGER: u32 = 1;

/// Writable bits per byte of the header (the STATUS high byte is RW1C); bytes past the table
/// (capabilities, device-specific registers) are plain storage but for the capabilities'
/// read-only bits ([`CfgSpace::fixed_bits`]).
// Evaluated at compile time: an out-of-range index is a build error.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const RW_BITMAP: [u8; 0x40] = {
    let mut m = [0u8; 0x40];
    m[0x04] = 0xff;
    m[0x05] = 0x07;
    m[0x07] = 0xf9;
    m[0x0c] = 0xff;
    let mut i = 0x10;
    while i < 0x28 {
        m[i] = 0xff;
        i += 1;
    }
    m[0x30] = 0x01;
    m[0x31] = 0xf8;
    m[0x32] = 0xff;
    m[0x33] = 0xff;
    m[0x3c] = 0xff;
    m
};

/// A BAR's emulation state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bar {
    /// Size in bytes (a power of two).
    pub size: u64,
    /// Whether the hypervisor currently traps (BAR0) or maps (BAR2) it.
    pub tracked: bool,
}

/// The virtual config space of one vGPU.
#[derive(Clone, Debug)]
pub struct CfgSpace {
    bytes: [u8; CFG_SPACE_SIZE],
    /// BAR0 (registers + GGTT).
    pub bar0: Bar,
    /// BAR2 (aperture).
    pub bar2: Bar,
    /// Offset of the PM control/status register, if the device has PM.
    pmcsr: Option<usize>,
    /// Offset of the MSI capability, if any.
    msi: Option<usize>,
    /// The guest entered D3hot since the last reset.
    pub d3_entered: bool,
    /// Guest physical address of the OpRegion, once the guest wrote ASLS.
    pub opregion_gpa: Option<u64>,
    /// Host physical address of the aperture.
    aperture_pa: u64,
    /// Where the capabilities are ([`CfgSpace::fixed_bits`]).
    caps: [u8; CAPS],
}

fn rd16(b: &[u8], off: usize) -> u16 {
    let mut v = [0u8; 2];
    if let Some(s) = b.get(off..off.saturating_add(2)) {
        v.copy_from_slice(s);
    }
    u16::from_le_bytes(v)
}

fn rd32(b: &[u8], off: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(off..off.saturating_add(4)) {
        v.copy_from_slice(s);
    }
    u32::from_le_bytes(v)
}

fn wr32(b: &mut [u8], off: usize, v: u32) {
    if let Some(s) = b.get_mut(off..off.saturating_add(4)) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// How many capabilities have their read-only bits kept ([`CfgSpace::fixed_bits`]).
const CAPS: usize = 8;

/// The offsets of the first [`CAPS`] capabilities (0 past the end of the list). Walks the list as
/// [`find_cap`] does.
fn cap_offsets(b: &[u8]) -> [u8; CAPS] {
    let mut caps = [0u8; CAPS];
    if b.get(PCI_STATUS).copied().unwrap_or(0) & PCI_STATUS_CAP_LIST == 0 {
        return caps;
    }
    let mut next = b.get(PCI_CAPABILITY_LIST).copied().unwrap_or(0) & !3;
    for c in caps.iter_mut() {
        if next < 0x40 {
            break;
        }
        *c = next;
        next = b
            .get(usize::from(next).saturating_add(1))
            .copied()
            .unwrap_or(0)
            & !3;
    }
    caps
}

/// Finds a capability by walking the list; bounded, so a looped list cannot hang us.
fn find_cap(b: &[u8], id: u8) -> Option<usize> {
    if b.get(PCI_STATUS).copied().unwrap_or(0) & PCI_STATUS_CAP_LIST == 0 {
        return None;
    }
    let mut next = usize::from(b.get(PCI_CAPABILITY_LIST).copied().unwrap_or(0) & !3);
    for _ in 0..48 {
        if next < 0x40 {
            return None;
        }
        if b.get(next).copied()? == id {
            return Some(next);
        }
        next = usize::from(b.get(next.checked_add(1)?).copied()? & !3);
    }
    None
}

impl CfgSpace {
    /// The initial config space of a vGPU of this host.
    pub fn new(snapshot: &[u8; CFG_SPACE_SIZE], info: &HostInfo) -> CfgSpace {
        let mut bytes = *snapshot;
        // No stolen memory for the guest.
        let gmch = rd16(&bytes, INTEL_GVT_PCI_GMCH_CONTROL) & !0xff00;
        if let Some(s) = bytes.get_mut(INTEL_GVT_PCI_GMCH_CONTROL..INTEL_GVT_PCI_GMCH_CONTROL + 2) {
            s.copy_from_slice(&gmch.to_le_bytes());
        }
        // BAR2's low dword shows the host aperture until the guest assigns it.
        let bar2_flags = rd32(&bytes, PCI_BASE_ADDRESS_2) & 0xf;
        let ap_lo = u32::try_from(info.aperture_pa & 0xffff_fff0).unwrap_or(0);
        wr32(&mut bytes, PCI_BASE_ADDRESS_2, ap_lo | bar2_flags);
        if let Some(c) = bytes.get_mut(PCI_COMMAND) {
            *c &= !(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        }
        for off in [
            0x14,
            0x1c,
            PCI_BASE_ADDRESS_4,
            0x24,
            INTEL_GVT_PCI_OPREGION,
            PCI_ROM_ADDRESS,
        ] {
            wr32(&mut bytes, off, 0);
        }
        let pmcsr = find_cap(&bytes, PCI_CAP_ID_PM).and_then(|c| c.checked_add(4));
        let msi = find_cap(&bytes, PCI_CAP_ID_MSI);
        CfgSpace {
            bytes,
            bar0: Bar {
                size: info.bar0_size,
                tracked: false,
            },
            bar2: Bar {
                size: info.aperture_size,
                tracked: false,
            },
            pmcsr,
            msi,
            d3_entered: false,
            opregion_gpa: None,
            aperture_pa: info.aperture_pa,
            caps: cap_offsets(&bytes),
        }
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8; CFG_SPACE_SIZE] {
        &self.bytes
    }

    /// Reads `buf.len()` (1, 2 or 4) bytes at `offset` of the 4 KiB config space.
    pub fn read(&self, offset: u32, buf: &mut [u8]) -> Result {
        check(offset, buf.len())?;
        let off = u32_as_usize(offset);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.bytes.get(off.wrapping_add(i)).copied().unwrap_or(0);
        }
        Ok(())
    }

    /// Guest physical base of a 64-bit memory BAR.
    pub fn bar_base(&self, bar: usize) -> u64 {
        let lo = u64::from(rd32(&self.bytes, bar) & !0xf);
        let hi = u64::from(rd32(&self.bytes, bar.saturating_add(4)));
        lo | (hi << 32)
    }

    /// Whether memory decoding is on.
    pub fn memory_enabled(&self) -> bool {
        self.bytes.get(PCI_COMMAND).copied().unwrap_or(0) & PCI_COMMAND_MEMORY != 0
    }

    /// The MSI address and data to inject with, if the guest enabled MSI.
    pub fn msi(&self) -> Option<(u64, u32)> {
        let cap = self.msi?;
        let ctl = rd16(&self.bytes, cap.checked_add(2)?);
        if ctl & PCI_MSI_FLAGS_ENABLE == 0 {
            return None;
        }
        let lo = u64::from(rd32(&self.bytes, cap.checked_add(4)?));
        if ctl & PCI_MSI_FLAGS_64BIT != 0 {
            let hi = u64::from(rd32(&self.bytes, cap.checked_add(8)?));
            Some((
                lo | (hi << 32),
                u32::from(rd16(&self.bytes, cap.checked_add(12)?)),
            ))
        } else {
            Some((lo, u32::from(rd16(&self.bytes, cap.checked_add(8)?))))
        }
    }

    /// Emulates a guest write of `data` (1, 2 or 4 bytes) at `offset`.
    pub fn write(
        &mut self,
        mpt: &mut dyn MptOps,
        part: &Partition,
        offset: u32,
        data: &[u8],
    ) -> Result {
        check(offset, data.len())?;
        let off = u32_as_usize(offset);
        if off >= CFG_SPACE_SIZE {
            return Ok(());
        }
        if off == PCI_COMMAND {
            if data.len() > 2 {
                return Err(GvtError::Invalid);
            }
            let was = self.memory_enabled();
            self.mem_write(off, data);
            if was != self.memory_enabled() {
                self.set_decoding(mpt, part, !was)?;
            }
            return Ok(());
        }
        let mut v = [0u8; 4];
        for (d, s) in v.iter_mut().zip(data) {
            *d = *s;
        }
        let val = u32::from_le_bytes(v);
        match off & !3 {
            PCI_ROM_ADDRESS => {
                aligned(off)?;
                if val & 0xffff_f800 == 0xffff_f800 {
                    wr32(&mut self.bytes, off, 0); // no ROM: size 0
                } else {
                    self.mem_write(off, data);
                }
            }
            0x10..=0x27 => {
                aligned(off)?;
                self.bar_write(mpt, part, off, val)?;
            }
            INTEL_GVT_PCI_SWSCI => {
                aligned(off)?;
                self.swsci(mpt, val)?;
            }
            INTEL_GVT_PCI_OPREGION => {
                aligned(off)?;
                // A 1- or 2-byte write changes part of ASLS: the address is the whole register.
                self.mem_write(off, data);
                self.opregion_gpa = Some(u64::from(rd32(&self.bytes, off)));
            }
            _ => self.mem_write(off, data),
        }
        Ok(())
    }

    fn mem_write(&mut self, off: usize, data: &[u8]) {
        for (i, &src) in data.iter().enumerate() {
            let o = off.wrapping_add(i);
            let Some(old) = self.bytes.get(o).copied() else {
                return;
            };
            let new = match RW_BITMAP.get(o) {
                Some(&mask) if o == PCI_STATUS + 1 => old & !(src & mask),
                Some(&mask) => (old & !mask) | (src & mask),
                None => {
                    let fixed = self.fixed_bits(o);
                    (old & fixed) | (src & !fixed)
                }
            };
            if let Some(b) = self.bytes.get_mut(o) {
                *b = new;
            }
        }
        if let Some(pm) = self.pmcsr {
            if off == pm && rd16(&self.bytes, pm) & 0x3 == 3 {
                self.d3_entered = true;
            }
        }
    }

    /// The read-only bits of byte `o` of the capability area, as on hardware: every capability's
    /// id and next pointer, MSI's capability bits in its control word (multiple message capable,
    /// 64-bit, per-vector masking; enable and multiple message enable are the guest's) and PM's
    /// capabilities word. The ids themselves are read-only, so they still say what each is.
    fn fixed_bits(&self, o: usize) -> u8 {
        for c in self
            .caps
            .iter()
            .map(|&c| usize::from(c))
            .take_while(|&c| c >= 0x40)
        {
            let id = self.bytes.get(c).copied().unwrap_or(0);
            match (o.wrapping_sub(c), id) {
                (0 | 1, _) => return 0xff,
                (2, PCI_CAP_ID_MSI) => return 0x8e,
                (3, PCI_CAP_ID_MSI) | (2 | 3, PCI_CAP_ID_PM) => return 0xff,
                _ => {}
            }
        }
        0
    }

    fn bar_write(
        &mut self,
        mpt: &mut dyn MptOps,
        part: &Partition,
        off: usize,
        val: u32,
    ) -> Result {
        let lo = off % 8 == 0;
        let flags = if lo { rd32(&self.bytes, off) & 0xf } else { 0 };
        let (bar, size) = match off & !7 {
            PCI_BASE_ADDRESS_0 => (Some(0), self.bar0.size),
            PCI_BASE_ADDRESS_2 => (Some(2), self.bar2.size),
            _ => (None, 0),
        };
        let Some(which) = bar else {
            // BAR4/5: the vGPU has no I/O BAR (as upstream); sizing reads 0.
            wr32(&mut self.bytes, off, 0);
            return Ok(());
        };
        let decode = self.memory_enabled();
        // Stop trapping/mapping the old place first.
        self.track(mpt, part, which, false)?;
        // Address bits below the BAR's size are hardwired to zero, so a base is aligned to the
        // size and all ones written (sizing) read back the size.
        let mask = !size.saturating_sub(1);
        let half = if lo { mask & 0xffff_fff0 } else { mask >> 32 };
        let new = val & u32::try_from(half & 0xffff_ffff).unwrap_or(0);
        wr32(&mut self.bytes, off, new | flags);
        // A sizing write leaves the BAR untracked until the guest places it.
        if val != u32::MAX {
            self.track(mpt, part, which, decode)?;
        }
        Ok(())
    }

    fn set_decoding(&mut self, mpt: &mut dyn MptOps, part: &Partition, on: bool) -> Result {
        self.track(mpt, part, 0, on)?;
        self.track(mpt, part, 2, on)
    }

    /// Traps BAR0 or maps the aperture slice behind BAR2, or undoes it.
    fn track(&mut self, mpt: &mut dyn MptOps, part: &Partition, which: usize, on: bool) -> Result {
        if which == 0 {
            if self.bar0.tracked == on {
                return Ok(());
            }
            let start = self.bar_base(PCI_BASE_ADDRESS_0);
            let end = start.checked_add(self.bar0.size).ok_or(GvtError::Invalid)?;
            mpt.set_trap_area(start, end, on)?;
            self.bar0.tracked = on;
        } else {
            if self.bar2.tracked == on {
                return Ok(());
            }
            let gpa = self
                .bar_base(PCI_BASE_ADDRESS_2)
                .checked_add(part.low.start)
                .ok_or(GvtError::Invalid)?;
            let host = self
                .aperture_pa
                .checked_add(part.low.start)
                .ok_or(GvtError::Invalid)?;
            mpt.map_aperture(gpa >> 12, host >> 12, part.low.size >> 12, on)?;
            self.bar2.tracked = on;
        }
        Ok(())
    }

    fn swsci(&mut self, mpt: &mut dyn MptOps, val: u32) -> Result {
        // Only SCI requests (not SMI) on a 0 → 1 trigger transition.
        if val & SWSCI_SCI_SELECT == 0 || val & SWSCI_SCI_TRIGGER == 0 {
            return Ok(());
        }
        let base = self.opregion_gpa.ok_or(GvtError::Fault)?;
        let scic_gpa = base.checked_add(OPREGION_SCIC).ok_or(GvtError::Fault)?;
        let parm_gpa = base.checked_add(OPREGION_PARM).ok_or(GvtError::Fault)?;
        let mut scic = [0u8; 4];
        mpt.read_gpa(scic_gpa, &mut scic)?;
        let reply = swsci_reply(u32::from_le_bytes(scic));
        mpt.write_gpa(scic_gpa, &reply.to_le_bytes())?;
        let mut parm = [0u8; 4];
        if reply != 0 {
            mpt.read_gpa(parm_gpa, &mut parm)?;
        }
        mpt.write_gpa(parm_gpa, &parm)
    }

    /// Stops trapping and mapping (before a reset or destroy).
    pub fn untrack(&mut self, mpt: &mut dyn MptOps, part: &Partition) -> Result {
        self.set_decoding(mpt, part, false)
    }
}

/// A config access is 1, 2 or 4 bytes inside one dword (a PCI config transaction is one dword
/// with byte enables): a write across a dword boundary would reach a register, such as
/// COMMAND, past the one it is emulated as.
fn check(offset: u32, len: usize) -> Result {
    let end = u32_as_usize(offset)
        .checked_add(len)
        .ok_or(GvtError::Invalid)?;
    let in_dword = u32_as_usize(offset % 4).saturating_add(len) <= 4;
    if !matches!(len, 1 | 2 | 4) || !in_dword || end > 4096 {
        return Err(GvtError::Invalid);
    }
    Ok(())
}

fn aligned(off: usize) -> Result {
    if off % 4 == 0 {
        Ok(())
    } else {
        Err(GvtError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hw::Platform;
    use crate::model::test_support::Mpt;
    use crate::sim::info as sim_info;

    fn space() -> (CfgSpace, Partition) {
        let info = sim_info(Platform::Broxton);
        let mut snap = [0u8; CFG_SPACE_SIZE];
        snap[0x06] = PCI_STATUS_CAP_LIST;
        snap[0x07] = 0xf9; // every RW1C status bit set by "hardware"
        snap[0x10] = 0x04;
        snap[0x18] = 0x0c;
        snap[0x34] = 0x40;
        snap[0x40] = PCI_CAP_ID_MSI;
        snap[0x41] = 0x50;
        snap[0x50] = PCI_CAP_ID_PM;
        snap[0x51] = 0x40; // a looped list must not hang the walk
        use crate::model::resources::Span;
        let part = Partition {
            low: Span {
                start: 0x1000_0000,
                size: 0x400_0000,
            },
            high: Span {
                start: 0x4000_0000,
                size: 0x1000_0000,
            },
            fences: Span { start: 4, size: 4 },
        };
        (CfgSpace::new(&snap, &info), part)
    }

    #[test]
    fn status_bits_are_write_one_to_clear() {
        let (mut c, part) = space();
        let mut mpt = Mpt::default();
        c.write(&mut mpt, &part, 0x06, &[0xff, 0x20]).unwrap();
        let mut s = [0u8; 2];
        c.read(0x06, &mut s).unwrap();
        assert_eq!(s, [PCI_STATUS_CAP_LIST, 0xf9 & !0x20]);
        c.write(&mut mpt, &part, 0x07, &[0xff]).unwrap();
        c.read(0x06, &mut s).unwrap();
        assert_eq!(s[1], 0);
    }

    #[test]
    fn gmch_has_no_stolen_memory_and_caps_are_found_in_a_looped_list() {
        let (c, _) = space();
        assert_eq!(c.bytes()[INTEL_GVT_PCI_GMCH_CONTROL + 1], 0);
        assert_eq!(c.msi, Some(0x40));
        assert_eq!(c.pmcsr, Some(0x54));
        assert_eq!(c.msi(), None, "MSI not enabled yet");
    }

    /// Found by the cfg fuzz target: a 2-byte write to ASLS made the OpRegion address those two
    /// bytes, while the guest read back the whole register.
    #[test]
    fn the_opregion_address_is_what_asls_reads() {
        let (mut c, part) = space();
        let mut mpt = Mpt::default();
        let asls = INTEL_GVT_PCI_OPREGION as u32;
        c.write(&mut mpt, &part, asls, &0x7a8e_d018u32.to_le_bytes())
            .unwrap();
        c.write(&mut mpt, &part, asls, &[0x00, 0xe0]).unwrap();
        let mut v = [0u8; 4];
        c.read(asls, &mut v).unwrap();
        assert_eq!(u32::from_le_bytes(v), 0x7a8e_e000);
        assert_eq!(c.opregion_gpa, Some(0x7a8e_e000));
    }

    /// Found by the cfg fuzz target: a 4-byte write at offset 1 turned memory decoding off
    /// (COMMAND is byte 4) without untrapping BAR0 or unmapping the aperture.
    #[test]
    fn accesses_do_not_cross_a_dword() {
        let (mut c, part) = space();
        let mut mpt = Mpt::default();
        c.write(&mut mpt, &part, 0x04, &[PCI_COMMAND_MEMORY])
            .unwrap();
        assert!(c.bar0.tracked && c.bar2.tracked);
        for (off, len) in [(1, 4), (2, 4), (3, 2), (0x43, 4)] {
            assert_eq!(
                c.write(&mut mpt, &part, off, &[0; 4][..len]),
                Err(GvtError::Invalid)
            );
            assert_eq!(c.read(off, &mut [0; 4][..len]), Err(GvtError::Invalid));
        }
        assert!(c.memory_enabled() && c.bar0.tracked && c.bar2.tracked);
    }

    /// Found by the cfg fuzz target: a guest rewrote the capability list and MSI's 64-bit bit,
    /// changing where the vGPU reads the MSI data it injects with.
    #[test]
    fn capability_ids_links_and_capability_bits_are_read_only() {
        let (mut c, part) = space();
        let mut mpt = Mpt::default();
        let before = *c.bytes();
        for off in [0x40, 0x50] {
            c.write(&mut mpt, &part, off, &u32::MAX.to_le_bytes())
                .unwrap();
        }
        let b = c.bytes();
        assert_eq!(b[0x40..0x42], before[0x40..0x42], "MSI id and next");
        assert_eq!(
            b[0x50..0x54],
            before[0x50..0x54],
            "PM id, next, capabilities"
        );
        // MSI enable and multiple message enable change; the capability bits do not.
        assert_eq!(u16::from_le_bytes([b[0x42], b[0x43]]), 0x71);
        c.write(&mut mpt, &part, 0x44, &0xfee0_0000u32.to_le_bytes())
            .unwrap();
        c.write(&mut mpt, &part, 0x48, &[0x41, 0]).unwrap();
        assert_eq!(c.msi(), Some((0xfee0_0000, 0x41)), "32-bit layout");
        // The rest of the capability area is the guest's.
        c.write(&mut mpt, &part, 0x60, &[0xab]).unwrap();
        assert_eq!(c.bytes()[0x60], 0xab);
    }

    #[test]
    fn decoding_traps_bar0_and_maps_only_the_vgpu_slice() {
        let (mut c, part) = space();
        let mut mpt = Mpt::default();
        c.write(&mut mpt, &part, 0x10, &0xe000_0000u32.to_le_bytes())
            .unwrap();
        c.write(&mut mpt, &part, 0x18, &0x8000_0000u32.to_le_bytes())
            .unwrap();
        c.write(&mut mpt, &part, 0x1c, &1u32.to_le_bytes()).unwrap();
        assert!(mpt.traps.is_empty(), "no decoding yet");
        c.write(&mut mpt, &part, 0x04, &[PCI_COMMAND_MEMORY])
            .unwrap();
        assert_eq!(mpt.traps, [(0xe000_0000, 0xe100_0000, true)]);
        let gfn = (0x1_8000_0000u64 + part.low.start) >> 12;
        let mfn = (sim_info(Platform::Broxton).aperture_pa + part.low.start) >> 12;
        assert_eq!(mpt.maps, [(gfn, mfn, part.low.size >> 12, true)]);
        // Moving BAR0 while decoding: untrap the old place, trap the new one.
        c.write(&mut mpt, &part, 0x10, &0xd000_0000u32.to_le_bytes())
            .unwrap();
        assert_eq!(
            mpt.traps[1..],
            [
                (0xe000_0000, 0xe100_0000, false),
                (0xd000_0000, 0xd100_0000, true)
            ]
        );
        // Sizing leaves it untrapped until placed again.
        c.write(&mut mpt, &part, 0x10, &u32::MAX.to_le_bytes())
            .unwrap();
        assert!(!c.bar0.tracked);
        let mut v = [0u8; 4];
        c.read(0x10, &mut v).unwrap();
        assert_eq!(u32::from_le_bytes(v), 0xff00_0004);
    }

    /// Found by the cfg fuzz target: a base not aligned to the BAR's size was kept, and the
    /// hypervisor trapped a BAR0 window no device could decode.
    #[test]
    fn bar_bases_are_aligned_to_the_bar_size() {
        let (mut c, part) = space();
        let mut mpt = Mpt::default();
        c.write(&mut mpt, &part, 0x10, &0xe012_3450u32.to_le_bytes())
            .unwrap();
        let size = c.bar0.size;
        assert_eq!(c.bar_base(0x10), 0xe012_3450 & !(size - 1));
        assert_eq!(c.bytes()[0x10] & 0xf, 0x04, "flags kept");
        c.write(&mut mpt, &part, 0x18, &0x8765_4320u32.to_le_bytes())
            .unwrap();
        assert_eq!(c.bar_base(0x18) % c.bar2.size, 0);
        c.write(&mut mpt, &part, 0x04, &[PCI_COMMAND_MEMORY])
            .unwrap();
        let base = c.bar_base(0x10);
        assert_eq!(mpt.traps, [(base, base + size, true)]);
    }
}
