//! `sim`: a software Gen9 host.
//!
//! Where there is no Intel GPU, `sim` stands in for one behind the same [`HostGpu`] trait as the
//! i915 host, so the whole stack (gvt.ko, both backends, guests) runs in QEMU. It is a product
//! feature, like vkms in DRM, not a test mock: it models an Apollo Lake GPU closely enough for
//! a guest i915 driver.
//!
//! This first half models what the device model programs on the host: the GGTT, the fence
//! registers, the aperture's place in host physical memory and the register snapshot vGPUs
//! start from. The GGTT (8 bytes per 4 KiB page of graphics memory, 8 MiB for 4 GiB) is storage
//! the caller provides, so the same code runs with a kernel `KVVec` or a test `Vec`. Every method
//! takes `&self` and uses atomics, because one host is shared by all vGPUs of a GPU.
//!
//! The second half, [`engine`], executes command streams the way the GPU's engines would. The
//! host's own share of the GGTT ([`GgttReserve`]) maps the core's shadows of privileged batches
//! for the engines to run.

// Integer casts go through `model::num`, as in the core.
#![cfg_attr(not(test), deny(clippy::as_conversions))]

pub mod engine;
pub mod exec;

use core::ops::Deref;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::model::error::{GvtError, Result};
use crate::model::host::{
    HostGpu, HostInfo, HostReserve, PciIdentity, CFG_SPACE_SIZE, MMIO_DWORDS,
};
use crate::model::hw::Platform;
use crate::model::num::u32_as_usize;
use crate::model::regs::ALL_ENGINES;
use crate::model::vgpu::{GEN8_PAGE_PRESENT, GTT_ADDR_MASK, GTT_PAGE_SIZE};

const MB: u64 = 1 << 20;

/// Number of fence registers a Gen9 GPU has.
pub const SIM_FENCES: usize = 32;

/// Where the sim's config space places its aperture (BAR2). Nothing is there: aperture
/// accesses are translated through the GGTT (`HostGpu::has_aperture_bar`).
pub const SIM_APERTURE_PA: u64 = 0x4000_0000;

/// DMA address of the sim host's scratch page.
pub const SIM_SCRATCH_PAGE: u64 = 0x7fff_f000;

/// The facts of a `platform` GPU as the sim presents it: the platform's sim part
/// (`hw::SimPart`) and fences, what the BIOS chose (a 1 GiB aperture and a 4 GiB GGTT, the most a
/// Gen9 BIOS gives), and the host reserve upstream GVT-g keeps (128 MiB low, 384 MiB high, 4
/// fences).
pub const fn info(platform: Platform) -> HostInfo {
    let hw = platform.hw();
    let (device, revision) = (hw.sim.device, hw.sim.revision);
    HostInfo {
        platform,
        pci: PciIdentity {
            vendor: 0x8086,
            device,
            revision,
            subsystem_vendor: 0x8086,
            subsystem_device: 0x2212,
        },
        bar0_size: 16 * MB,
        aperture_size: 1024 * MB,
        gm_size: 4096 * MB,
        fence_count: hw.fences,
        engines: ALL_ENGINES,
        reserve: HostReserve {
            low_gm: 128 * MB,
            high_gm: 384 * MB,
            fences: 4,
        },
        aperture_pa: SIM_APERTURE_PA,
        scratch_page: SIM_SCRATCH_PAGE,
    }
}

/// Number of GGTT entries a host with these facts needs.
pub fn ggtt_entries(info: &HostInfo) -> usize {
    usize::try_from(info.gm_size / 4096).unwrap_or(0)
}

/// GMCH graphics control (config 0x50) for a host with these facts: 64 MiB of stolen memory
/// (GMS, bits 15:8, = 2) and GGMS (bits 7:6) sized for the whole GGTT. On Gen8+ GGMS = n means
/// `1 << n` MiB of 8-byte PTEs (i915's `gen8_get_total_gtt_size`), and a guest i915 derives
/// its GGTT's size from it and refuses ballooning ranges past it.
fn gmch(info: &HostInfo) -> u16 {
    let pte_mib = (info.gm_size / GTT_PAGE_SIZE).saturating_mul(8) >> 20;
    let ggms: u16 = match pte_mib {
        0..=2 => 1,
        3..=4 => 2,
        _ => 3,
    };
    (2 << 8) | (ggms << 6)
}

/// Offsets of the capabilities in the sim's config space.
const CAP_VENDOR: u8 = 0x40;
const CAP_MSI: u8 = 0xac;
const CAP_PM: u8 = 0xd0;

/// The config space an integrated Gen9 GPU shows at 00:02.0, as firmware left it.
fn cfg_snapshot(info: &HostInfo) -> [u8; CFG_SPACE_SIZE] {
    let mut c = [0u8; CFG_SPACE_SIZE];
    let p = &info.pci;
    let aperture_lo = u32::try_from(info.aperture_pa & 0xffff_ffff).unwrap_or(0);
    let fields: [(usize, &[u8]); 22] = [
        (0x00, &p.vendor.to_le_bytes()),
        (0x02, &p.device.to_le_bytes()),
        (0x04, &0x0007u16.to_le_bytes()), // IO | MEM | MASTER, as the host driver runs it
        (0x06, &0x0010u16.to_le_bytes()), // capability list
        (0x08, &[p.revision, 0x00, 0x00, 0x03]), // VGA-compatible display controller
        (0x10, &0xa000_0004u32.to_le_bytes()), // BAR0: 64-bit memory
        (0x18, &(aperture_lo | 0x0c).to_le_bytes()), // BAR2: 64-bit prefetchable
        (0x20, &0xf001u32.to_le_bytes()), // BAR4: I/O
        (0x2c, &p.subsystem_vendor.to_le_bytes()),
        (0x2e, &p.subsystem_device.to_le_bytes()),
        (0x34, &[CAP_VENDOR]),
        (0x3c, &[0xff, 0x01]), // no line, INTA
        // Vendor-specific capability (length 12), then MSI, then PM.
        (usize::from(CAP_VENDOR), &[0x09, CAP_MSI, 0x0c]),
        (0x50, &gmch(info).to_le_bytes()),
        (0x62, &[0x03]), // MSAC: 1 GiB aperture
        (usize::from(CAP_MSI), &[0x05, CAP_PM]),
        (usize::from(CAP_PM), &[0x01, 0x00]),
        (0xd2, &0x0022u16.to_le_bytes()), // PM 1.2, D1/D2 not supported
        (0xfc, &0x7a8e_d018u32.to_le_bytes()), // ASLS: the host's OpRegion
        (0x0e, &[0x00]),                  // header type 0
        (0x3e, &[0x00, 0x00]),
        (0x0c, &[0x00]),
    ];
    for (off, bytes) in fields {
        let end = off.saturating_add(bytes.len());
        if let Some(dst) = c.get_mut(off..end) {
            dst.copy_from_slice(bytes);
        }
    }
    c
}

/// Registers whose snapshot value is not zero on every Gen9 host: what a running host left
/// behind when GVT started (display powered, GuC idle, GT awake). The platform's own golden
/// registers (`hw::Hw::golden`: fuses, memory, clocks, PHYs) follow. The core sanitizes the
/// display/PHY parts away for vGPUs, as upstream does.
const SNAPSHOT: &[(u32, u32)] = &[
    (0x2098, 0x0000_0100), // RCS RING_INSTPM
    (0x209c, 0x0000_0200), // RCS RING_MI_MODE: STOP_RING clear, idle
    // The other engines are idle too: MODE_IDLE, what intel_engine_stop_cs waits for.
    (0x1209c, 0x0000_0200),  // VCS RING_MI_MODE
    (0x1a09c, 0x0000_0200),  // VECS RING_MI_MODE
    (0x2209c, 0x0000_0200),  // BCS RING_MI_MODE
    (0x229c, 0x0000_8000),   // RCS GFX_MODE (execlists enabled by the host)
    (0x40e0, 0x0007_0406),   // GEN8_PRIVATE_PAT_LO
    (0x40e4, 0x0007_0707),   // GEN8_PRIVATE_PAT_HI
    (0x42000, 0x8e00_0000),  // SKL_FUSE_STATUS: download done, PG0..PG2 distributed
    (0x45008, 0xc000_0000),  // DBUF_CTL: powered
    (0x45404, 0xf000_0000),  // HSW_PWR_WELL_CTL2: PW1, PW2 requested and on
    (0xa090, 0x0000_0000),   // GEN6_RC_CONTROL: RC6 off
    (0xc000, 0x0000_8000),   // GUC_STATUS: idle, MIA not in reset
    (0x13805c, 0x0000_00ff), // GEN6_GT_THREAD_STATUS_REG: threads busy
    (0x138060, 0x0000_0003), // GEN6_GT_CORE_STATUS: C6
];

/// The GGTT entries the host lends the core for its own buffers (privileged batch shadows):
/// the host's reserve of hidden graphics memory, which no vGPU is ever given. A free entry
/// points at the scratch page, so the GGTT itself is the allocation map, and entries are
/// claimed with compare-and-swap: vGPUs map their shadows at the same time, each under its own
/// lock.
pub struct GgttReserve {
    /// First entry and number of entries.
    first: u64,
    count: u64,
    scratch: u64,
    /// Where the next search starts, relative to `first`.
    next: AtomicU64,
}

impl GgttReserve {
    /// The reserve of a host with these facts: the first `reserve.high_gm` bytes above the
    /// aperture.
    pub fn new(info: &HostInfo) -> GgttReserve {
        GgttReserve {
            first: info.aperture_size / GTT_PAGE_SIZE,
            count: info.reserve.high_gm / GTT_PAGE_SIZE,
            scratch: info.scratch_page,
            next: AtomicU64::new(0),
        }
    }

    /// Maps the `pages` pages of host memory from `addr` at free entries of the reserve in
    /// `ggtt`; their graphics address. `NoSpace` if no run of free entries is long enough.
    pub fn map(&self, ggtt: &[AtomicU64], addr: u64, pages: u32) -> Result<u64> {
        let n = u64::from(pages);
        let last = n
            .checked_sub(1)
            .and_then(|l| l.checked_mul(GTT_PAGE_SIZE))
            .and_then(|o| addr.checked_add(o))
            .ok_or(GvtError::Invalid)?;
        if addr % GTT_PAGE_SIZE != 0 || last & !GTT_ADDR_MASK != 0 {
            return Err(GvtError::Invalid);
        }
        if n > self.count {
            return Err(GvtError::NoSpace);
        }
        let entry = |i: u64| {
            usize::try_from(self.first.wrapping_add(i))
                .ok()
                .and_then(|i| ggtt.get(i))
        };
        let pte = |k: u64| addr.wrapping_add(k.wrapping_mul(GTT_PAGE_SIZE)) | GEN8_PAGE_PRESENT;
        let mut i = self
            .next
            .load(Ordering::Relaxed)
            .checked_rem(self.count)
            .unwrap_or(0);
        let mut tried = 0u64;
        while tried <= self.count {
            if i.wrapping_add(n) > self.count {
                tried = tried.wrapping_add(self.count.wrapping_sub(i));
                i = 0;
                continue;
            }
            // Claim the run entry by entry; on a taken one, give back what was claimed and
            // search on past it.
            let mut claimed = 0u64;
            while claimed < n {
                let Some(e) = entry(i.wrapping_add(claimed)) else {
                    return Err(GvtError::Invalid);
                };
                if e.compare_exchange(
                    self.scratch,
                    pte(claimed),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_err()
                {
                    break;
                }
                claimed = claimed.wrapping_add(1);
            }
            if claimed == n {
                self.next.store(i.wrapping_add(n), Ordering::Relaxed);
                return Ok(self.first.wrapping_add(i).wrapping_mul(GTT_PAGE_SIZE));
            }
            for k in 0..claimed {
                if let Some(e) = entry(i.wrapping_add(k)) {
                    e.store(self.scratch, Ordering::Release);
                }
            }
            i = i.wrapping_add(claimed).wrapping_add(1);
            tried = tried.wrapping_add(claimed).wrapping_add(1);
        }
        Err(GvtError::NoSpace)
    }

    /// Points the `pages` entries from graphics address `gm` back at the scratch page, if they
    /// lie in the reserve.
    pub fn unmap(&self, ggtt: &[AtomicU64], gm: u64, pages: u32) {
        let Some(i) = (gm / GTT_PAGE_SIZE).checked_sub(self.first) else {
            return;
        };
        if gm % GTT_PAGE_SIZE != 0
            || i.checked_add(u64::from(pages))
                .filter(|&end| end <= self.count)
                .is_none()
        {
            return;
        }
        for k in 0..u64::from(pages) {
            if let Some(e) = usize::try_from(self.first.wrapping_add(i).wrapping_add(k))
                .ok()
                .and_then(|x| ggtt.get(x))
            {
                e.store(self.scratch, Ordering::Release);
            }
        }
    }

    /// Entries of the reserve mapped now.
    pub fn mapped(&self, ggtt: &[AtomicU64]) -> usize {
        let first = usize::try_from(self.first).unwrap_or(usize::MAX);
        let count = usize::try_from(self.count).unwrap_or(0);
        let used = |n: usize, e: &AtomicU64| {
            if e.load(Ordering::Relaxed) != self.scratch {
                n.saturating_add(1)
            } else {
                n
            }
        };
        ggtt.iter().skip(first).take(count).fold(0, used)
    }
}

/// A software Gen9 GPU whose GGTT lives in `G` (one `AtomicU64` per 4 KiB of graphics memory).
pub struct SimHost<G> {
    info: HostInfo,
    cfg: [u8; CFG_SPACE_SIZE],
    ggtt: G,
    reserve: GgttReserve,
    fences: [AtomicU64; SIM_FENCES],
    flushes: AtomicU64,
}

impl<G: Deref<Target = [AtomicU64]>> SimHost<G> {
    /// A sim host with these facts over `ggtt`, which must have [`ggtt_entries`] entries. All
    /// GGTT entries start pointing at the scratch page.
    pub fn new(info: HostInfo, ggtt: G) -> Result<SimHost<G>> {
        if ggtt.len() != ggtt_entries(&info)
            || usize::try_from(info.fence_count).map_or(true, |n| n > SIM_FENCES)
        {
            return Err(GvtError::Invalid);
        }
        for e in ggtt.iter() {
            e.store(info.scratch_page, Ordering::Relaxed);
        }
        Ok(SimHost {
            cfg: cfg_snapshot(&info),
            reserve: GgttReserve::new(&info),
            info,
            ggtt,
            fences: [const { AtomicU64::new(0) }; SIM_FENCES],
            flushes: AtomicU64::new(0),
        })
    }

    /// The value of host fence register `index` (0 for a bad index).
    pub fn fence(&self, index: u32) -> u64 {
        self.fences
            .get(u32_as_usize(index))
            .map_or(0, |f| f.load(Ordering::Relaxed))
    }

    /// The host GGTT, as the engines walk it.
    pub fn ggtt(&self) -> &[AtomicU64] {
        &self.ggtt
    }

    /// How many times the GGTT was flushed.
    pub fn flush_count(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Maps host memory for the engines into the host's reserve (see [`GgttReserve::map`]).
    pub fn map_ggtt(&self, addr: u64, pages: u32) -> Result<u64> {
        self.reserve.map(&self.ggtt, addr, pages)
    }

    /// Takes back what [`SimHost::map_ggtt`] mapped.
    pub fn unmap_ggtt(&self, gm: u64, pages: u32) {
        self.reserve.unmap(&self.ggtt, gm, pages)
    }

    /// Entries of the host's reserve mapped now.
    pub fn reserve_mapped(&self) -> usize {
        self.reserve.mapped(&self.ggtt)
    }
}

impl<G: Deref<Target = [AtomicU64]>> HostGpu for SimHost<G> {
    fn info(&self) -> &HostInfo {
        &self.info
    }

    fn cfg_snapshot(&self) -> &[u8; CFG_SPACE_SIZE] {
        &self.cfg
    }

    fn mmio_snapshot(&self, first_dword: usize, dst: &mut [u32]) {
        let end = first_dword.saturating_add(dst.len()).min(MMIO_DWORDS);
        let n = end.saturating_sub(first_dword);
        for d in dst.iter_mut().take(n) {
            *d = 0;
        }
        let golden = self.info.platform.hw().golden.iter().flat_map(|l| l.iter());
        for &(off, val) in SNAPSHOT.iter().chain(golden) {
            let dw = u32_as_usize(off / 4);
            if (first_dword..end).contains(&dw) {
                if let Some(d) = dst.get_mut(dw.wrapping_sub(first_dword)) {
                    *d = val;
                }
            }
        }
    }

    fn ggtt_read(&self, index: u64) -> u64 {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.ggtt.get(i))
            .map_or(0, |e| e.load(Ordering::Relaxed))
    }

    fn ggtt_write(&self, index: u64, pte: u64) {
        if let Some(e) = usize::try_from(index).ok().and_then(|i| self.ggtt.get(i)) {
            e.store(pte, Ordering::Relaxed);
        }
    }

    fn ggtt_flush(&self) {
        self.flushes.fetch_add(1, Ordering::Release);
    }

    /// The sim has no aperture in host memory: `aperture_pa` only places BAR2 in config
    /// space, and the device model translates aperture accesses through the GGTT.
    fn has_aperture_bar(&self) -> bool {
        false
    }

    fn fence_write(&self, index: u32, value: u64) {
        if index < self.info.fence_count {
            if let Some(f) = self.fences.get(u32_as_usize(index)) {
                f.store(value, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::hw::PLATFORMS;
    use std::boxed::Box;
    use std::vec::Vec;

    /// A `platform` sim host with its GGTT on the heap.
    pub(crate) fn sim(platform: Platform) -> SimHost<Box<[AtomicU64]>> {
        let info = info(platform);
        let ggtt: Vec<AtomicU64> = (0..ggtt_entries(&info))
            .map(|_| AtomicU64::new(0))
            .collect();
        SimHost::new(info, ggtt.into_boxed_slice()).unwrap()
    }

    /// A Broxton sim host with its GGTT on the heap.
    pub(crate) fn bxt() -> SimHost<Box<[AtomicU64]>> {
        sim(Platform::Broxton)
    }

    #[test]
    fn the_sim_is_each_supported_platform() {
        for p in PLATFORMS {
            let h = sim(p);
            assert_eq!(Platform::from_device_id(h.info().pci.device), Some(p));
            assert!(h.info().aperture_size <= h.info().gm_size);
            assert_eq!((h.info().fence_count, p.hw().fences), (32, 32));
            assert_eq!(h.ggtt_read(5), SIM_SCRATCH_PAGE);
            let c = h.cfg_snapshot();
            assert_eq!(u16::from_le_bytes([c[2], c[3]]), p.hw().sim.device);
            assert_eq!(c[8], p.hw().sim.revision);
            // The platform's golden registers are in the snapshot, after the common ones.
            for &(off, _) in p.hw().golden.iter().flat_map(|l| l.iter()) {
                let mut dw = [0u32];
                h.mmio_snapshot(off as usize / 4, &mut dw);
                assert_eq!(Some(dw[0]), p.hw().golden(off), "{p:?} {off:#x}");
            }
        }
    }

    #[test]
    fn ggtt_size_is_checked() {
        let ggtt: Box<[AtomicU64]> = (0..10).map(|_| AtomicU64::new(0)).collect();
        assert!(SimHost::new(info(Platform::Broxton), ggtt).is_err());
    }

    #[test]
    fn snapshot_windows_are_exact() {
        let h = bxt();
        let mut dw = [7u32; 4];
        h.mmio_snapshot(0x138090 / 4 - 1, &mut dw);
        assert_eq!(dw, [0, 3, 0, 0]);
        // Past the window: nothing written.
        let mut past = [7u32; 2];
        h.mmio_snapshot(MMIO_DWORDS, &mut past);
        assert_eq!(past, [7, 7]);
    }

    #[test]
    fn reserve_maps_into_free_host_entries_only() {
        let h = bxt();
        let info = *h.info();
        let first = info.aperture_size;
        let a = h.map_ggtt(0x10_0000, 3).unwrap();
        assert_eq!(a, first);
        assert_eq!(h.ggtt_read(a / 4096 + 2), 0x10_2000 | GEN8_PAGE_PRESENT);
        // A taken entry in the way: the next run starts past it.
        h.ggtt_write(first / 4096 + 4, 0x5000 | 1);
        let b = h.map_ggtt(0x20_0000, 2).unwrap();
        assert_eq!(b, first + 5 * 4096);
        assert_eq!(h.reserve_mapped(), 6);
        h.unmap_ggtt(a, 3);
        h.unmap_ggtt(b, 2);
        assert_eq!(h.reserve_mapped(), 1);
        // Outside the reserve: nothing happens; bad addresses and sizes are refused.
        h.unmap_ggtt(info.aperture_size + info.reserve.high_gm, 1);
        assert_eq!(h.map_ggtt(0x123, 1), Err(GvtError::Invalid));
        assert_eq!(h.map_ggtt(1 << 46, 1), Err(GvtError::Invalid));
        assert_eq!(h.map_ggtt(0x1000, 0), Err(GvtError::Invalid));
        assert_eq!(h.map_ggtt(0x1000, u32::MAX), Err(GvtError::NoSpace));
        // Full: every entry but one taken, a two-page run cannot be found, one page can.
        let n = u32::try_from(info.reserve.high_gm / 4096).unwrap();
        h.unmap_ggtt(first + 4 * 4096, 1);
        let all = h.map_ggtt(0x1000, n - 1).unwrap();
        assert_eq!(h.map_ggtt(0x1000, 2), Err(GvtError::NoSpace));
        let one = h.map_ggtt(0x1000, 1).unwrap();
        h.unmap_ggtt(all, n - 1);
        h.unmap_ggtt(one, 1);
        assert_eq!(h.reserve_mapped(), 0);
    }

    /// What a guest i915 6.12 computes as the command streamer's timestamp frequency from the
    /// snapshot (gt/intel_gt_clock_utils.c `gen9_read_clock_frequency`: crystal 19.2 MHz on
    /// GEN9_LP, else 24 MHz, `>> (3 - CTC_MODE[2:1])`, CTC_MODE 0xa26c).
    #[test]
    fn the_guest_reads_the_engines_timestamp_frequency() {
        for p in PLATFORMS {
            let (h, lp) = (sim(p), p.hw().lp);
            let hz: u32 = if lp { 19_200_000 } else { 12_000_000 };
            let mut ctc = [0u32];
            h.mmio_snapshot(0xa26c / 4, &mut ctc);
            assert_eq!(ctc[0] & 1, 0, "crystal clock source");
            let crystal: u32 = if lp { 19_200_000 } else { 24_000_000 };
            assert_eq!(crystal >> (3 - ((ctc[0] >> 1) & 3)), hz, "{p:?}");
            assert_eq!(p.hw().timestamp_hz, u64::from(hz));
        }
    }

    #[test]
    fn out_of_range_writes_are_ignored() {
        let h = bxt();
        h.ggtt_write(u64::MAX, 1);
        h.fence_write(99, 1);
        assert_eq!(h.fence(99), 0);
        h.fence_write(3, 0x1234);
        assert_eq!(h.fence(3), 0x1234);
    }
}
