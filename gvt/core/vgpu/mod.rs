//! One vGPU: its registers, config space, OpRegion and virtual GGTT, and the entry points a
//! hypervisor backend drives (config and MMIO accesses, events, resets, activation).
//!
//! Big state lives in caller-provided storage ([`VgpuStorage`]): the 2 MiB register file, the
//! virtual GGTT (8 bytes per 4 KiB page of the vGPU's own graphics memory), the 8 KiB
//! OpRegion and the monitor's EDID. The glue allocates it (vmalloc) and the `Vgpu` struct itself stays small enough to
//! move on a kernel stack. Every entry point takes `&mut self`; the glue holds the vGPU's lock.
//!
//! Guest input is hostile: every offset and value is checked, a malformed access returns an
//! error and changes nothing, and a guest that breaks the rules lands in failsafe: its MMIO and
//! GGTT become plain storage, so it can no longer reach the host.

use super::cfg_space::CfgSpace;
use super::display::edid::EDID_MAX_SIZE;
use super::display::{Display, Regs};
use super::error::{GvtError, Result};
use super::host::{HostGpu, HostInfo, MMIO_DWORDS, MMIO_SIZE};
use super::hw::Phy;
use super::irq::{self, Event};
use super::mmio_table::{self, Handler, MmioIndex, F_MODE_MASK, PVINFO_BASE, PVINFO_SIZE};
use super::num::{lower_32_bits, u32_as_usize, u64_as_usize, upper_32_bits, usize_as_u64};
use super::opregion::{self, OPREGION_SIZE};
use super::pvinfo::{self, field, G2vNotify};
use super::regs::*;
use super::report::{Access, Cause, Notice};
use super::resources::{Partition, VgpuId};
use super::vgpu_type::VgpuConfig;
use crate::mpt::MptOps;

mod display;
mod fence;
mod ggtt;
mod mmio;

/// Offset of the GGTT in BAR0.
pub const GGTT_MMIO_OFFSET: u64 = 8 << 20;
/// Bytes of graphics memory one GGTT entry maps.
pub const GTT_PAGE_SIZE: u64 = 4096;
/// GGTT entry: present.
pub const GEN8_PAGE_PRESENT: u64 = 1;
/// GGTT entry: address bits.
pub const GTT_ADDR_MASK: u64 = 0x0000_3fff_ffff_f000;
/// Fence registers the guest sees.
pub const GUEST_FENCES: u32 = 16;
/// How many half-written GGTT entries are remembered at once.
const PARTIAL_PTES: usize = 4;
/// How many PVINFO PPGTT notifications wait for the execution side at once (the oldest is
/// dropped beyond; a lost create only delays shadowing, a lost destroy is undone by reclaim).
const G2V_QUEUE: usize = 4;
/// The CSB write pointer after reset: "nothing written yet".
pub const CSB_WP_RESET: u32 = 7;
/// Register file blocks whose writes [`Written`] tracks (4 KiB each).
const BLOCK_DWORDS: usize = 1024;
const BLOCKS: usize = MMIO_DWORDS / BLOCK_DWORDS;

/// The 4 KiB blocks of a register file written since they were last loaded from the host's
/// snapshot: only those can differ from it, so a reset reloads only those (upstream copies
/// all 2 MiB, which is most of the cost of a reset). Every write to the register file marks
/// its block: [`Vgpu::set_vreg`], the display code through [`Regs`], the interrupt code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written([u64; BLOCKS / 64]);

impl Written {
    /// Every block (a register file of unknown contents).
    pub const ALL: Written = Written([u64::MAX; BLOCKS / 64]);

    /// Marks the block of the register at `offset`.
    pub fn mark(&mut self, offset: u32) {
        let b = u32_as_usize(offset >> 12);
        if let Some(w) = self.0.get_mut(b / 64) {
            *w |= 1u64 << (b % 64);
        }
    }

    /// Marks the blocks the interrupt code writes (`irq`: the groups and the master).
    pub fn mark_irq(&mut self) {
        self.mark(GEN8_MASTER_IRQ::OFFSET);
        for g in irq::IrqGroup::ALL {
            // A group's four registers share its base's block.
            self.mark(g.base());
        }
    }

    fn is_marked(&self, block: usize) -> bool {
        self.0
            .get(block / 64)
            .is_some_and(|w| w & (1u64 << (block % 64)) != 0)
    }

    fn clear(&mut self, block: usize) {
        if let Some(w) = self.0.get_mut(block / 64) {
            *w &= !(1u64 << (block % 64));
        }
    }
}

/// One engine's ELSP port: the dwords written so far and the submission they completed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ElspPort {
    dwords: [u32; 4],
    count: u8,
    latched: Option<[u64; 2]>,
}

/// What the execution side (`workload::Exec`) must pick up after register writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecRequests {
    /// Engines reset since the last pick-up: their workloads and execlist state are dropped.
    pub engine_resets: u8,
    /// A device-model, FLR or full GT reset happened: every shadow goes too.
    pub full_reset: bool,
}

/// The big buffers of a vGPU, owned by the caller. Lengths are checked once at creation:
/// [`MMIO_DWORDS`] register dwords, [`ggtt_entries`] GGTT entries, [`OPREGION_SIZE`] bytes of
/// OpRegion and [`EDID_MAX_SIZE`] bytes of EDID.
///
/// The virtual GGTT must come zeroed: freshly allocated, or as `Gvt::destroy_vgpu` handed it
/// back (the vGPU zeroes the entries it wrote on its way out, so storage can be reused without
/// touching the rest, and without one vGPU's entries showing through to the next). The register
/// file, OpRegion and EDID may hold anything: creation rewrites them.
pub trait VgpuStorage {
    /// The 2 MiB register file.
    fn vreg(&self) -> &[u32];
    /// The 2 MiB register file, mutably.
    fn vreg_mut(&mut self) -> &mut [u32];
    /// The virtual GGTT entries of the vGPU's low then high graphics memory.
    fn ggtt(&self) -> &[u64];
    /// The virtual GGTT, mutably.
    fn ggtt_mut(&mut self) -> &mut [u64];
    /// The OpRegion.
    fn opregion(&self) -> &[u8];
    /// The OpRegion, mutably.
    fn opregion_mut(&mut self) -> &mut [u8];
    /// The monitor's EDID (its first bytes; the display knows how many).
    fn edid(&self) -> &[u8];
    /// The EDID, mutably.
    fn edid_mut(&mut self) -> &mut [u8];
    /// The register file and the EDID at once (the display's DDC reads both).
    fn display_parts(&mut self) -> (&mut [u32], &[u8]);
}

/// A vGPU's buffers in any owning slice type: the glue's vmalloc buffers, the tests'
/// vectors. The one implementation of [`VgpuStorage`] both use.
pub struct Buffers<R, G, O> {
    /// The register file, [`MMIO_DWORDS`] dwords.
    pub vreg: R,
    /// The virtual GGTT, [`ggtt_entries`] entries.
    pub ggtt: G,
    /// The OpRegion, [`OPREGION_SIZE`] bytes.
    pub opregion: O,
    /// The EDID, [`EDID_MAX_SIZE`] bytes.
    pub edid: O,
}

impl<R, G, O> VgpuStorage for Buffers<R, G, O>
where
    R: core::ops::DerefMut<Target = [u32]>,
    G: core::ops::DerefMut<Target = [u64]>,
    O: core::ops::DerefMut<Target = [u8]>,
{
    fn vreg(&self) -> &[u32] {
        &self.vreg
    }
    fn vreg_mut(&mut self) -> &mut [u32] {
        &mut self.vreg
    }
    fn ggtt(&self) -> &[u64] {
        &self.ggtt
    }
    fn ggtt_mut(&mut self) -> &mut [u64] {
        &mut self.ggtt
    }
    fn opregion(&self) -> &[u8] {
        &self.opregion
    }
    fn opregion_mut(&mut self) -> &mut [u8] {
        &mut self.opregion
    }
    fn edid(&self) -> &[u8] {
        &self.edid
    }
    fn edid_mut(&mut self) -> &mut [u8] {
        &mut self.edid
    }
    fn display_parts(&mut self) -> (&mut [u32], &[u8]) {
        (&mut self.vreg, &self.edid)
    }
}

/// Number of virtual GGTT entries a vGPU with this partition needs.
pub fn ggtt_entries(part: &Partition) -> usize {
    usize::try_from((part.low.size / GTT_PAGE_SIZE).saturating_add(part.high.size / GTT_PAGE_SIZE))
        .unwrap_or(usize::MAX)
}

/// Why a vGPU stopped being emulated faithfully, coarsely: the class of its [`Cause`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failsafe {
    /// The guest driver does not know it runs on a vGPU (it never read PVINFO).
    UnsupportedGuest,
    /// The guest says it has too few resources (it wrote PVINFO `rsv5`).
    InsufficientResource,
    /// The guest did something a real GPU would not survive.
    GuestError,
}

impl Failsafe {
    /// The reason's name in reports (debugfs): `unsupported_guest`, `insufficient_resource`,
    /// `guest_error`.
    pub fn name(self) -> &'static str {
        match self {
            Failsafe::UnsupportedGuest => "unsupported_guest",
            Failsafe::InsufficientResource => "insufficient_resource",
            Failsafe::GuestError => "guest_error",
        }
    }

    /// What the guest sees of failsafe, for the host log: its registers and GGTT become plain
    /// storage and its workloads are dropped, until a full GPU reset (GDRST) or a device reset.
    pub const CONSEQUENCE: &'static str =
        "its GPU work is no longer run, the guest sees a hang until it resets the GPU";
}

/// The resets a vGPU knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// Device-model level reset (VFIO_DEVICE_RESET, ACRN DM reset): everything back to the
    /// state after creation, except a guest resuming from D3 keeps its PVINFO handshake.
    DeviceModel,
    /// PCI function-level reset: same effects as [`Reset::DeviceModel`].
    Flr,
    /// GDRST full GT reset: engine registers (below 0x44200) back to the snapshot, PVINFO
    /// refreshed; config space, GGTT, fences and display untouched.
    GdrstFull,
    /// GDRST per-engine reset of the engines in the mask ([`Engine::mask`]): the engines'
    /// submission state is dropped, registers are untouched.
    GdrstEngines(u8),
}

/// Counters of the guest's traps and of its refused or unusual actions.
///
/// The trap counters count every access a backend forwards, the malformed ones included (those
/// are in `bad_accesses` too); an 8-byte access is one trap. They saturate, like the others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VgpuStats {
    /// Config-space reads emulated.
    pub cfg_reads: u64,
    /// Config-space writes emulated.
    pub cfg_writes: u64,
    /// BAR0 register (MMIO) reads emulated: BAR0 below [`GGTT_MMIO_OFFSET`].
    pub mmio_reads: u64,
    /// BAR0 register (MMIO) writes emulated.
    pub mmio_writes: u64,
    /// GGTT reads emulated: BAR0 from [`GGTT_MMIO_OFFSET`].
    pub ggtt_reads: u64,
    /// GGTT writes emulated.
    pub ggtt_writes: u64,
    /// Guest writes to write-protected pages (shadowed PPGTT tables) the backend forwarded.
    pub page_track_writes: u64,
    /// GGTT writes outside the vGPU's graphics memory, ignored.
    pub ggtt_out_of_range: u64,
    /// GGTT entries pointed at scratch because their guest page could not be mapped.
    pub ggtt_map_failures: u64,
    /// Fence accesses past the vGPU's fences, or fence values outside its graphics memory.
    pub fence_violations: u64,
    /// Malformed accesses refused (bad size, alignment or offset).
    pub bad_accesses: u64,
    /// MSIs injected.
    pub msis: u64,
    /// Engine resets requested through GDRST.
    pub engine_resets: u64,
    /// PPGTT create/destroy notifications received through PVINFO.
    pub ppgtt_notifications: u64,
    /// Full GDRST resets by the guest that took the vGPU out of failsafe.
    pub failsafe_guest_resets: u64,
    /// Device-model and function-level resets (the backend's, the VM's).
    pub device_resets: u64,
}

/// Writes `key: value` lines, one per counter: the text of the debugfs `stats` file.
pub fn write_counters(
    out: &mut impl core::fmt::Write,
    fields: &[(&str, u64)],
) -> core::fmt::Result {
    // By reference: an array's by-value iterator carries an assertion (a panic path).
    for &(key, value) in fields.iter() {
        writeln!(out, "{key}: {value}")?;
    }
    Ok(())
}

impl VgpuStats {
    /// Writes the counters as `key: value` lines, one per field in declaration order, then
    /// `failsafe: none` or `failsafe: <reason>` ([`Failsafe::name`]) and `failsafe_cause:
    /// none` or `failsafe_cause: <text>` ([`Cause`] in words): the text of the vGPU's debugfs
    /// `stats` file (Documentation/ABI/testing/debugfs-gvt). New fields go in the
    /// destructuring below, which does not compile without them.
    pub fn write_to(
        &self,
        failsafe: Option<Cause>,
        out: &mut impl core::fmt::Write,
    ) -> core::fmt::Result {
        let VgpuStats {
            cfg_reads,
            cfg_writes,
            mmio_reads,
            mmio_writes,
            ggtt_reads,
            ggtt_writes,
            page_track_writes,
            ggtt_out_of_range,
            ggtt_map_failures,
            fence_violations,
            bad_accesses,
            msis,
            engine_resets,
            ppgtt_notifications,
            failsafe_guest_resets,
            device_resets,
        } = *self;
        let fields = [
            ("cfg_reads", cfg_reads),
            ("cfg_writes", cfg_writes),
            ("mmio_reads", mmio_reads),
            ("mmio_writes", mmio_writes),
            ("ggtt_reads", ggtt_reads),
            ("ggtt_writes", ggtt_writes),
            ("page_track_writes", page_track_writes),
            ("ggtt_out_of_range", ggtt_out_of_range),
            ("ggtt_map_failures", ggtt_map_failures),
            ("fence_violations", fence_violations),
            ("bad_accesses", bad_accesses),
            ("msis", msis),
            ("engine_resets", engine_resets),
            ("ppgtt_notifications", ppgtt_notifications),
            ("failsafe_guest_resets", failsafe_guest_resets),
            ("device_resets", device_resets),
        ];
        write_counters(out, &fields)?;
        match failsafe {
            Some(cause) => writeln!(
                out,
                "failsafe: {}\nfailsafe_cause: {cause}",
                cause.class().name()
            ),
            None => writeln!(out, "failsafe: none\nfailsafe_cause: none"),
        }
    }
}

/// One vGPU.
pub struct Vgpu<S> {
    id: VgpuId,
    config: VgpuConfig,
    part: Partition,
    info: HostInfo,
    table: &'static MmioIndex,
    cfg: CfgSpace,
    active: bool,
    failsafe: Option<Cause>,
    /// What the guest did that the host log may show, not taken yet.
    notice: Option<Notice>,
    pv_notified: bool,
    ggtt_dirty: bool,
    ggtt_touched: core::ops::Range<usize>,
    /// Virtual GGTT entries written in failsafe (never sent to the host), as one span (u32:
    /// a GGTT has at most 2^20 entries, and the struct stays small).
    failsafe_ggtt: core::ops::Range<u32>,
    partial: [Option<(u32, u8)>; PARTIAL_PTES],
    tlb_pending: u8,
    display_ready: bool,
    elsp: [ElspPort; 4],
    g2v: [Option<(bool, u64)>; G2V_QUEUE],
    exec_req: ExecRequests,
    stats: VgpuStats,
    display: Display,
    written: Written,
    store: S,
}

fn dw(off: u32) -> usize {
    u32_as_usize(off >> 2)
}

/// The value of the bytes of a write, little-endian (the first eight).
fn le_value(data: &[u8]) -> u64 {
    data.iter()
        .take(8)
        .rev()
        .fold(0, |v, &b| v.wrapping_shl(8) | u64::from(b))
}

impl<S: VgpuStorage> Vgpu<S> {
    /// Builds a vGPU over `store` (called by `Gvt::create_vgpu`, which owns the partition).
    pub(crate) fn new(
        host: &dyn HostGpu,
        id: VgpuId,
        config: VgpuConfig,
        part: Partition,
        mut store: S,
    ) -> core::result::Result<Vgpu<S>, (GvtError, S)> {
        if store.vreg().len() != MMIO_DWORDS
            || store.ggtt().len() != ggtt_entries(&part)
            || store.opregion().len() != OPREGION_SIZE
            || store.edid().len() != EDID_MAX_SIZE
        {
            return Err((GvtError::Invalid, store));
        }
        let info = *host.info();
        opregion::build(
            store.opregion_mut(),
            super::display::monitor_port(info.platform),
        );
        let mut v = Vgpu {
            id,
            config,
            part,
            info,
            table: mmio_table::mmio_index(info.platform),
            cfg: CfgSpace::new(host.cfg_snapshot(), &info),
            active: false,
            failsafe: None,
            notice: None,
            pv_notified: false,
            ggtt_dirty: false,
            ggtt_touched: 0..0,
            failsafe_ggtt: 0..0,
            partial: [None; PARTIAL_PTES],
            tlb_pending: 0,
            display_ready: false,
            elsp: [ElspPort::default(); 4],
            g2v: [None; G2V_QUEUE],
            exec_req: ExecRequests::default(),
            stats: VgpuStats::default(),
            display: Display::new(config.resolution),
            written: Written::ALL,
            store,
        };
        // The EDID first: the reset lights the monitor with its preferred mode.
        v.display.default_edid(v.store.edid_mut());
        v.reset_mmio(host, true);
        Ok(v)
    }

    /// The vGPU's id.
    pub fn id(&self) -> VgpuId {
        self.id
    }

    /// The sizes it was created with.
    pub fn config(&self) -> &VgpuConfig {
        &self.config
    }

    /// Its share of the physical GPU.
    pub fn partition(&self) -> &Partition {
        &self.part
    }

    /// Whether a backend attached it to a running VM.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Why it is in failsafe, if it is, coarsely.
    pub fn failsafe(&self) -> Option<Failsafe> {
        self.failsafe.as_ref().map(Cause::class)
    }

    /// Why it is in failsafe, if it is: what put it there first. A reset that takes it out of
    /// failsafe clears it.
    pub fn failsafe_cause(&self) -> Option<Cause> {
        self.failsafe
    }

    /// Whether the guest read PVINFO (it knows it runs on a vGPU).
    pub fn pv_notified(&self) -> bool {
        self.pv_notified
    }

    /// Whether the guest reported its display ready through PVINFO.
    pub fn display_ready(&self) -> bool {
        self.display_ready
    }

    /// Engines with a TLB invalidation the guest requested and the scheduler has not done yet.
    pub fn tlb_pending(&self) -> u8 {
        self.tlb_pending
    }

    /// Counters.
    pub fn stats(&self) -> &VgpuStats {
        &self.stats
    }

    /// The config space.
    pub fn cfg(&self) -> &CfgSpace {
        &self.cfg
    }

    /// The OpRegion bytes, for backends that expose it (VFIO region) or copy it into the guest.
    pub fn opregion(&self) -> &[u8] {
        self.store.opregion()
    }

    /// The current value of the register at `offset` (0 outside the window).
    pub fn vreg(&self, offset: u32) -> u32 {
        self.store.vreg().get(dw(offset)).copied().unwrap_or(0)
    }

    /// The guest's value of the GGTT entry for graphics address `gm` (0 outside the vGPU).
    pub fn guest_pte(&self, gm: u64) -> u64 {
        self.local_index(gm / GTT_PAGE_SIZE)
            .and_then(|i| self.store.ggtt().get(i).copied())
            .unwrap_or(0)
    }

    /// Gives the storage back (used by `Gvt::destroy_vgpu`).
    pub(crate) fn into_storage(self) -> S {
        self.store
    }

    /// Stores a register value (the execution side updates CSB, head and status registers).
    pub(crate) fn set_vreg(&mut self, offset: u32, v: u32) {
        if let Some(r) = self.store.vreg_mut().get_mut(dw(offset)) {
            *r = v;
            self.written.mark(offset);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Life cycle.

    /// The backend attached the vGPU to a VM: interrupts may now be delivered.
    pub fn activate(&mut self) {
        self.active = true;
    }

    /// The VM is gone or paused: no more MSIs, BAR trapping and aperture mapping undone.
    pub fn deactivate(&mut self, mpt: &mut dyn MptOps) -> Result {
        self.active = false;
        self.cfg.untrack(mpt, &self.part)
    }

    /// Resets the vGPU. The reset always completes; an error means the backend refused to
    /// stop trapping or mapping the BARs (it is reported after the reset is done).
    pub fn reset(&mut self, host: &dyn HostGpu, mpt: &mut dyn MptOps, kind: Reset) -> Result {
        let mut backend = Ok(());
        match kind {
            Reset::DeviceModel | Reset::Flr => {
                self.stats.device_resets = self.stats.device_resets.saturating_add(1);
                let d3 = self.cfg.d3_entered;
                backend = self.cfg.untrack(mpt, &self.part);
                self.reset_ggtt(host, mpt);
                self.reset_fences(host);
                self.reset_mmio(host, true);
                self.cfg = CfgSpace::new(host.cfg_snapshot(), &self.info);
                self.failsafe = None;
                self.failsafe_ggtt = 0..0;
                self.display_ready = false;
                self.tlb_pending = 0;
                self.exec_req = ExecRequests {
                    engine_resets: ALL_ENGINES,
                    full_reset: true,
                };
                self.elsp = [ElspPort::default(); 4];
                self.g2v = [None; G2V_QUEUE];
                if !d3 {
                    self.pv_notified = false;
                }
            }
            Reset::GdrstFull => {
                if self.failsafe.take().is_some() {
                    self.leave_failsafe(host, mpt);
                }
                self.reset_mmio(host, false);
                // A full GT reset also resets the GuC (upstream leaves the host's value here).
                let g = self.vreg(GUC_STATUS::OFFSET) | GUC_STATUS::GS_MIA_IN_RESET.mask();
                self.set_vreg(GUC_STATUS::OFFSET, g);
                self.tlb_pending = 0;
                self.exec_req = ExecRequests {
                    engine_resets: ALL_ENGINES,
                    full_reset: true,
                };
                self.elsp = [ElspPort::default(); 4];
                self.stats.engine_resets = self.stats.engine_resets.saturating_add(1);
            }
            Reset::GdrstEngines(mask) => {
                self.tlb_pending &= !mask;
                self.exec_req.engine_resets |= mask;
                for (i, e) in Engine::ALL.iter().enumerate() {
                    if e.mask() & mask != 0 {
                        if let Some(p) = self.elsp.get_mut(i) {
                            *p = ElspPort::default();
                        }
                        self.reset_execlist_regs(*e);
                    }
                }
                self.stats.engine_resets = self.stats.engine_resets.saturating_add(1);
            }
        }
        backend
    }

    /// Tears down what the vGPU holds on the host (before its partition is released).
    pub(crate) fn release(&mut self, host: &dyn HostGpu, mpt: &mut dyn MptOps) {
        // Best effort: the vGPU goes away whatever the backend says.
        let _ = self.cfg.untrack(mpt, &self.part);
        self.reset_ggtt(host, mpt);
        self.reset_fences(host);
        self.active = false;
    }

    /// Loads the register file from the host snapshot (all of it, or only the engine range
    /// below the interrupt registers), sanitizes it as upstream does and refreshes PVINFO.
    /// Blocks not written since their last load already hold the snapshot and are skipped.
    fn reset_mmio(&mut self, host: &dyn HostGpu, full: bool) {
        let engine_dwords = dw(GEN8_MASTER_IRQ::OFFSET);
        let vreg = self.store.vreg_mut();
        let n = if full {
            vreg.len()
        } else {
            engine_dwords.min(vreg.len())
        };
        for b in 0..BLOCKS {
            let start = b.wrapping_mul(BLOCK_DWORDS);
            let end = start.wrapping_add(BLOCK_DWORDS).min(n);
            if start >= n || !self.written.is_marked(b) {
                continue;
            }
            if let Some(part) = vreg.get_mut(start..end) {
                host.mmio_snapshot(start, part);
            }
            // A block loaded in part (the engine range ends inside one) stays marked.
            if end.wrapping_sub(start) == BLOCK_DWORDS {
                self.written.clear(b);
            }
        }
        if full {
            self.sanitize();
            let (vreg, edid) = self.store.display_parts();
            self.display
                .reset(&mut Regs(vreg, &mut self.written), edid, self.info.platform);
        }
        for e in Engine::ALL {
            let b = e.base();
            self.reset_execlist_regs(e);
            // Whatever the host's engines were doing when it was taken, the snapshot's ring
            // state is not the vGPU's: its rings are idle and error-free (`RingMiMode`,
            // `RingResetCtl`).
            let mode = self.vreg(RING_MI_MODE::offset(b)) | RING_MI_MODE::MODE_IDLE.mask();
            self.set_vreg(RING_MI_MODE::offset(b), mode);
            let ctl =
                self.vreg(RING_RESET_CTL::offset(b)) & !RING_RESET_CTL::RESET_CTL_CAT_ERROR.mask();
            self.set_vreg(RING_RESET_CTL::offset(b), ctl);
        }
        self.populate_pvinfo();
    }

    /// An engine's execlist registers after its reset, as upstream's `init_vgpu_execlist`
    /// leaves them: CSB read pointer 0 and write pointer [`CSB_WP_RESET`], so the next event
    /// lands in entry 0 (where i915's `reset_csb_pointers` expects it), and EXECLIST_STATUS
    /// idle, whatever the host's engine showed when its snapshot was taken. The HWSP copy of
    /// the write pointer is left alone: i915 rewrites it itself, and the hardware does not.
    /// The CSB entries stay.
    fn reset_execlist_regs(&mut self, e: Engine) {
        let b = e.base();
        self.set_vreg(RING_CONTEXT_STATUS_PTR::offset(b), CSB_WP_RESET);
        let st = RING_EXECLIST_STATUS_LO::offset(b);
        self.set_vreg(st, 0);
        self.set_vreg(st.wrapping_add(4), 0);
    }

    fn sanitize(&mut self) {
        let clear = |v: &mut Self, off: u32, bits: u32| {
            let x = v.vreg(off) & !bits;
            v.set_vreg(off, x);
        };
        let or = |v: &mut Self, off: u32, bits: u32| {
            let x = v.vreg(off) | bits;
            v.set_vreg(off, x);
        };
        self.set_vreg(GEN6_GT_THREAD_STATUS_REG::OFFSET, 0);
        self.set_vreg(GEN6_GT_CORE_STATUS::OFFSET, 0);
        or(self, GUC_STATUS::OFFSET, GUC_STATUS::GS_MIA_IN_RESET.mask());
        // The PVINFO page is ours: nothing of the host's survives in it.
        for off in (PVINFO_BASE..PVINFO_BASE + PVINFO_SIZE).step_by(4) {
            self.set_vreg(off, 0);
        }
        if self.info.platform.hw().display.phy == Phy::Dpio {
            clear(self, BXT_P_CR_GT_DISP_PWRON::OFFSET, 0x3);
            let good = BXT_PORT_CL1CM_DW0_BC::PHY_POWER_GOOD.mask();
            clear(self, BXT_PORT_CL1CM_DW0_BC::OFFSET, good);
            clear(self, BXT_PORT_CL1CM_DW0_A::OFFSET, good);
            // PHY1 is off, so its GRC calibration is not done; powering it on redoes it.
            clear(
                self,
                BXT_PORT_REF_DW3_A::OFFSET,
                BXT_PORT_REF_DW3_A::GRC_DONE.mask(),
            );
            let on = PHY_CTL_FAMILY_DDI::PHY_POWER_STATE.mask();
            clear(self, PHY_CTL_FAMILY_DDI::OFFSET, on);
            clear(self, PHY_CTL_FAMILY_EDP::OFFSET, on);
            let acks = BXT_PHY_CTL_DDI_A::BXT_PHY_CMNLANE_POWERDOWN_ACK.mask()
                | BXT_PHY_CTL_DDI_A::BXT_PHY_LANE_POWERDOWN_ACK.mask();
            for off in [
                BXT_PHY_CTL_DDI_A::OFFSET,
                BXT_PHY_CTL_DDI_B::OFFSET,
                BXT_PHY_CTL_DDI_C::OFFSET,
            ] {
                clear(self, off, BXT_PHY_CTL_DDI_A::BXT_PHY_LANE_ENABLED.mask());
                or(self, off, acks);
            }
            or(
                self,
                SKL_FUSE_STATUS::OFFSET,
                SKL_FUSE_STATUS::SKL_FUSE_DOWNLOAD_STATUS.mask()
                    | SKL_FUSE_STATUS::SKL_FUSE_PG0_DIST_STATUS.mask()
                    | SKL_FUSE_STATUS::SKL_FUSE_PG1_DIST_STATUS.mask()
                    | SKL_FUSE_STATUS::SKL_FUSE_PG2_DIST_STATUS.mask(),
            );
        }
    }

    fn populate_pvinfo(&mut self) {
        let low = self.part.low;
        let high = self.part.high;
        let fields = [
            (field::MAGIC, lower_32_bits(pvinfo::VGT_MAGIC)),
            (field::MAGIC + 4, upper_32_bits(pvinfo::VGT_MAGIC)),
            (field::VERSION, 1), // major 1, minor 0
            (field::VGT_ID, self.id.get()),
            (
                field::VGT_CAPS,
                pvinfo::VGT_CAPS_FULL_PPGTT
                    | pvinfo::VGT_CAPS_HWSP_EMULATION
                    | pvinfo::VGT_CAPS_HUGE_GTT,
            ),
            (field::MAPPABLE_BASE, u32::try_from(low.start).unwrap_or(0)),
            (field::MAPPABLE_SIZE, u32::try_from(low.size).unwrap_or(0)),
            (
                field::NONMAPPABLE_BASE,
                u32::try_from(high.start).unwrap_or(0),
            ),
            (
                field::NONMAPPABLE_SIZE,
                u32::try_from(high.size).unwrap_or(0),
            ),
            (
                field::FENCE_NUM,
                u32::try_from(self.part.fences.size).unwrap_or(0),
            ),
            (field::DISPLAY_READY, 0),
            (field::CURSOR_X_HOT, u32::MAX),
            (field::CURSOR_Y_HOT, u32::MAX),
        ];
        for (off, v) in fields {
            self.set_vreg(off, v);
        }
    }

    /// What a full GT reset by the guest does on top of a normal one when it takes the vGPU
    /// out of failsafe: what the guest wrote to the GGTT and fences meanwhile was kept in the
    /// vGPU only; now it goes to the host through the usual checks (entries inside the vGPU's
    /// graphics memory, mapped through the hypervisor; fences inside its aperture). The
    /// engine registers, written without their handlers' checks, come back from the snapshot
    /// in the reset itself, PVINFO is rebuilt, and whatever made the guest fail still does.
    fn leave_failsafe(&mut self, host: &dyn HostGpu, mpt: &mut dyn MptOps) {
        self.stats.failsafe_guest_resets = self.stats.failsafe_guest_resets.saturating_add(1);
        self.resync_ggtt(host, mpt);
        for n in 0..self.part.fences.size.min(u64::from(GUEST_FENCES)) {
            let lo = FENCE_REG_GEN6_LO::OFFSET
                .wrapping_add(u32::try_from(n.wrapping_mul(8)).unwrap_or(0));
            let v = self.vreg(lo);
            self.fence_write(host, lo, v);
        }
    }

    /// Counts a guest write to a write-protected page (`Exec::page_write`, the backend's page
    /// track write handler).
    pub(crate) fn count_page_track_write(&mut self) {
        self.stats.page_track_writes = self.stats.page_track_writes.saturating_add(1);
    }

    /// Takes what the guest did, since the last call, that the host log may show: the first
    /// such thing (the glue calls this after every trap).
    pub fn take_notice(&mut self) -> Option<Notice> {
        self.notice.take()
    }

    /// Keeps `n` for [`Vgpu::take_notice`] unless an earlier one waits.
    pub(crate) fn notice(&mut self, n: Notice) {
        if self.notice.is_none() {
            self.notice = Some(n);
        }
    }

    /// Counts a refused access of `len` bytes at `offset` and keeps it for the log.
    pub(super) fn refuse(&mut self, access: Access, offset: u64, len: usize) {
        self.stats.bad_accesses = self.stats.bad_accesses.saturating_add(1);
        self.notice(Notice::Refused {
            access,
            offset,
            len: u8::try_from(len).unwrap_or(u8::MAX),
        });
    }

    /// Stops faithful emulation because of `cause` (the first cause sticks).
    pub(crate) fn enter_failsafe(&mut self, cause: Cause) {
        if self.failsafe.is_none() {
            self.failsafe = Some(cause);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Config space.

    /// Emulates a config space read of 1, 2 or 4 bytes.
    pub fn cfg_read(&mut self, offset: u32, buf: &mut [u8]) -> Result {
        self.stats.cfg_reads = self.stats.cfg_reads.saturating_add(1);
        self.cfg.read(offset, buf)
    }

    /// Emulates a config space write of 1, 2 or 4 bytes.
    pub fn cfg_write(&mut self, mpt: &mut dyn MptOps, offset: u32, data: &[u8]) -> Result {
        self.stats.cfg_writes = self.stats.cfg_writes.saturating_add(1);
        let r = self.cfg.write(mpt, &self.part, offset, data);
        if r.is_err() {
            self.refuse(
                Access::CfgWrite(le_value(data)),
                u64::from(offset),
                data.len(),
            );
        }
        r
    }

    // ----------------------------------------------------------------------------------------
    // Interrupts.

    /// Raises an event (from a component of the device model) and injects an MSI if it is due.
    pub fn raise_event(&mut self, mpt: &mut dyn MptOps, e: Event) -> Result {
        irq::propagate(self.store.vreg_mut(), e);
        self.written.mark_irq();
        self.deliver(mpt)
    }

    fn deliver(&mut self, mpt: &mut dyn MptOps) -> Result {
        let pending = irq::check_pending(self.store.vreg_mut());
        self.written.mark_irq();
        if !pending || !self.active {
            return Ok(());
        }
        match self.cfg.msi() {
            Some((addr, data)) => {
                self.stats.msis = self.stats.msis.saturating_add(1);
                mpt.inject_msi(addr, data)
            }
            None => Ok(()),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Hooks for the execution side.

    /// An ELSP dword written to `engine`'s port; the fourth completes a submission, which waits
    /// for [`Vgpu::take_submission`]. A submission on a port whose previous one was not
    /// picked up is guest garbage: failsafe.
    pub(super) fn elsp_write(&mut self, off: u32, v: u32) {
        let Some(engine) = Engine::from_offset(off) else {
            return;
        };
        let Some(i) = Engine::ALL.iter().position(|&x| x == engine) else {
            return;
        };
        let mut overrun = false;
        if let Some(p) = self.elsp.get_mut(i) {
            // The i915 order is element 1 high, element 1 low, element 0 high, element 0 low.
            let slot = 3usize.saturating_sub(usize::from(p.count));
            if let Some(d) = p.dwords.get_mut(slot) {
                *d = v;
            }
            p.count = p.count.wrapping_add(1);
            if p.count == 4 {
                p.count = 0;
                let [l0, h0, l1, h1] = p.dwords.map(u64::from);
                overrun = p.latched.is_some();
                p.latched = Some([l0 | (h0 << 32), l1 | (h1 << 32)]);
            }
        }
        if overrun {
            self.enter_failsafe(Cause::ElspOverrun { engine });
        }
    }

    /// Takes the execlist submission (element 0, element 1) completed on `engine`'s ELSP.
    pub(crate) fn take_submission(&mut self, engine: Engine) -> Option<[u64; 2]> {
        let i = Engine::ALL.iter().position(|&x| x == engine)?;
        self.elsp.get_mut(i).and_then(|p| p.latched.take())
    }

    /// Takes the oldest PVINFO PPGTT notification: (create, PML4 address).
    pub(crate) fn take_g2v(&mut self) -> Option<(bool, u64)> {
        let first = self.g2v.first_mut().and_then(|x| x.take());
        self.g2v.rotate_left(1);
        first
    }

    fn push_g2v(&mut self, create: bool) {
        let lo = u64::from(self.vreg(field::PDP0_LO));
        let hi = u64::from(self.vreg(field::PDP0_LO.wrapping_add(4)));
        let n = Some((create, lo | (hi << 32)));
        match self.g2v.iter_mut().find(|x| x.is_none()) {
            Some(free) => *free = n,
            None => {
                self.g2v.rotate_left(1);
                if let Some(last) = self.g2v.last_mut() {
                    *last = n;
                }
            }
        }
    }

    /// Takes the resets the execution side has not seen yet.
    pub(crate) fn take_exec_requests(&mut self) -> ExecRequests {
        core::mem::take(&mut self.exec_req)
    }

    /// The guest physical address behind graphics address `gm`, if the vGPU's GGTT maps it.
    pub(crate) fn gm_to_gpa(&self, gm: u64) -> Option<u64> {
        let pte = self.guest_pte(gm);
        (pte & GEN8_PAGE_PRESENT != 0 && self.part.owns_gm(gm, 1))
            .then_some((pte & GTT_ADDR_MASK) | (gm & 0xfff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gvt::Gvt;
    use crate::model::test_support::Mpt;
    use crate::model::vgpu_type::find_type;
    use crate::sim::tests::bxt;
    use std::vec;
    use std::vec::Vec;

    struct Store(Vec<u32>, Vec<u64>, Vec<u8>, Vec<u8>);

    impl VgpuStorage for Store {
        fn vreg(&self) -> &[u32] {
            &self.0
        }
        fn vreg_mut(&mut self) -> &mut [u32] {
            &mut self.0
        }
        fn ggtt(&self) -> &[u64] {
            &self.1
        }
        fn ggtt_mut(&mut self) -> &mut [u64] {
            &mut self.1
        }
        fn opregion(&self) -> &[u8] {
            &self.2
        }
        fn opregion_mut(&mut self) -> &mut [u8] {
            &mut self.2
        }
        fn edid(&self) -> &[u8] {
            &self.3
        }
        fn edid_mut(&mut self) -> &mut [u8] {
            &mut self.3
        }
        fn display_parts(&mut self) -> (&mut [u32], &[u8]) {
            (&mut self.0, &self.3)
        }
    }

    fn setup() -> (
        crate::sim::SimHost<std::boxed::Box<[core::sync::atomic::AtomicU64]>>,
        Gvt,
        Mpt,
    ) {
        let host = bxt();
        let gvt = Gvt::new(&host).unwrap();
        (host, gvt, Mpt::default())
    }

    fn new_vgpu(host: &dyn HostGpu, gvt: &mut Gvt) -> Vgpu<Store> {
        let cfg = find_type("GVTg_V5_8").unwrap().config;
        let n = Gvt::ggtt_entries_for(&cfg).unwrap();
        let store = Store(
            vec![0; MMIO_DWORDS],
            vec![0; n],
            vec![0; OPREGION_SIZE],
            vec![0; EDID_MAX_SIZE],
        );
        gvt.create_vgpu(host, &cfg, store)
            .map_err(|(e, _)| e)
            .unwrap()
    }

    fn w(v: &mut Vgpu<Store>, host: &dyn HostGpu, mpt: &mut Mpt, off: u32, val: u32) {
        v.mmio_write(host, mpt, u64::from(off), &val.to_le_bytes())
            .unwrap();
    }

    fn r(v: &mut Vgpu<Store>, off: u32) -> u32 {
        let mut b = [0u8; 4];
        v.mmio_read(u64::from(off), &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    /// What differs by platform in the handlers, asked of `hw`: PCODE replies (SAGV only where
    /// there is SAGV), the power wells a guest may request, and the `GFX_MODE` bits that mean
    /// an unsupported guest (bit 1 on Coffee and Comet Lake only).
    #[test]
    fn each_platform_answers_as_its_description_says() {
        use crate::model::hw::PLATFORMS;
        for p in PLATFORMS {
            let hw = p.hw();
            let host = crate::sim::tests::sim(p);
            let mut gvt = Gvt::new(&host).unwrap();
            let mut mpt = Mpt::default();
            let mut v = new_vgpu(&host, &mut gvt);
            let (h, m) = (&host, &mut mpt);
            w(&mut v, h, m, GEN6_PCODE_DATA::OFFSET, 0);
            w(&mut v, h, m, GEN6_PCODE_MAILBOX::OFFSET, (1 << 31) | 0x21);
            assert_eq!(
                r(&mut v, GEN6_PCODE_MAILBOX::OFFSET),
                0,
                "{p:?}: done, no error"
            );
            assert_eq!(
                r(&mut v, GEN6_PCODE_DATA::OFFSET),
                u32::from(hw.pcode.sagv),
                "{p:?}: SAGV disabled"
            );
            w(&mut v, h, m, GEN6_PCODE_DATA::OFFSET, 3);
            w(&mut v, h, m, GEN6_PCODE_MAILBOX::OFFSET, (1 << 31) | 0x7);
            assert_eq!(
                r(&mut v, GEN6_PCODE_DATA::OFFSET),
                if hw.pcode.cdclk_control { 1 } else { 3 },
                "{p:?}"
            );
            w(&mut v, h, m, GEN6_PCODE_DATA::OFFSET, 0);
            w(&mut v, h, m, GEN6_PCODE_MAILBOX::OFFSET, (1 << 31) | 0x6);
            assert_eq!(
                r(&mut v, GEN6_PCODE_DATA::OFFSET),
                hw.pcode.mem_latency[0],
                "{p:?}"
            );
            w(&mut v, h, m, HSW_PWR_WELL_CTL2::OFFSET, 0xaaaa_aaaa);
            let req = hw.display.power_well_requests;
            assert_eq!(
                r(&mut v, HSW_PWR_WELL_CTL2::OFFSET),
                req | (req >> 1),
                "{p:?}"
            );
            let mode = RING_MODE_GEN7::offset(Engine::Rcs.base());
            w(&mut v, h, m, mode, masked_bit_enable(1 << 1));
            assert_eq!(
                v.failsafe().is_some(),
                hw.gfx_mode_refused & 2 != 0,
                "{p:?}"
            );
            let refused = hw.gfx_mode_refused & 2 != 0;
            assert_eq!(
                r(&mut v, mode) & 2 == 0,
                refused,
                "{p:?}: a refused bit never sticks"
            );
        }
    }

    #[test]
    fn vgpu_is_small_enough_for_a_kernel_stack() {
        // About 1 KiB of device state plus the display's (~150 bytes, `display::Display`), the
        // counters (`VgpuStats`, 150 bytes), the failsafe cause (`report::Cause`, 64 bytes), the
        // notice for the log (`report::Notice`, 32) and the config space's capability offsets.
        assert!(
            core::mem::size_of::<Vgpu<Store>>() < 1472,
            "{}",
            core::mem::size_of::<Vgpu<Store>>()
        );
    }

    #[test]
    fn storage_comes_back_zeroed_with_the_host_on_scratch_and_can_be_reused() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let p = *v.partition();
        let scratch = host.info().scratch_page;
        let entries = [
            p.low.start / GTT_PAGE_SIZE,
            p.low.end() / GTT_PAGE_SIZE - 1,
            p.high.start / GTT_PAGE_SIZE + 7,
        ];
        for (&i, gfn) in entries.iter().zip(0x100u64..) {
            let pte = (gfn << 12) | GEN8_PAGE_PRESENT;
            v.mmio_write(
                &host,
                &mut mpt,
                GGTT_MMIO_OFFSET + i * 8,
                &pte.to_le_bytes(),
            )
            .unwrap();
            assert_ne!(host.ggtt_read(i), scratch);
        }
        // A DM reset puts the guest's entries back as a destruction does.
        v.reset(&host, &mut mpt, Reset::DeviceModel).unwrap();
        assert!(entries.iter().all(|&i| host.ggtt_read(i) == scratch));
        assert_eq!(mpt.mapped, 0);
        let i = entries[1];
        v.mmio_write(
            &host,
            &mut mpt,
            GGTT_MMIO_OFFSET + i * 8,
            &((0x200 << 12) | GEN8_PAGE_PRESENT).to_le_bytes(),
        )
        .unwrap();
        let store = gvt.destroy_vgpu(&host, &mut mpt, v);
        assert_eq!(mpt.mapped, 0);
        assert!(
            store.1.iter().all(|&e| e == 0),
            "the virtual GGTT comes back zeroed"
        );
        for span in [p.low, p.high] {
            let first = span.start / GTT_PAGE_SIZE;
            assert!(
                (first..first + span.size / GTT_PAGE_SIZE).all(|i| host.ggtt_read(i) == scratch)
            );
        }
        // The next vGPU on the same storage sees none of it.
        let cfg = find_type("GVTg_V5_8").unwrap().config;
        let mut v = gvt
            .create_vgpu(&host, &cfg, store)
            .map_err(|(e, _)| e)
            .unwrap();
        assert_eq!(*v.partition(), p);
        for &i in &entries {
            let mut b = [0xffu8; 8];
            v.mmio_read(GGTT_MMIO_OFFSET + i * 8, &mut b).unwrap();
            assert_eq!(u64::from_le_bytes(b), 0);
        }
        assert_eq!(r(&mut v, field::MAGIC), pvinfo::VGT_MAGIC as u32);
    }

    #[test]
    fn resets_reload_every_block_written_since() {
        // Whatever wrote the register file (guest writes through any handler, interrupts,
        // display clocks and hotplugs), a reset that reloads only the written blocks leaves
        // it exactly as one that reloads all of it. One action per round, so no block is
        // marked by some other write than the one under test.
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        v.activate();
        let handlers = [
            GEN8_MASTER_IRQ::OFFSET,
            0x44304,
            0x44308,
            0x4430c,
            0x44408,
            0x4440c,
            0x444e4,
            0xc4004,
            0xc4008,
            0xc400c,
            0x70008,
            0x71008,
            0x64000,
            0x64040,
            0x64044,
            0x64010,
            0xc5100,
            0xc5104,
            0x70180,
            0x70184,
            0x70084,
            0xa188,
            0x2050,
            0x20d0,
            0x9400,
            0x138124,
            0x45400,
            0x46070,
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..240u64 {
            let r = next();
            let _ = match round % 8 {
                0 => v.display_tick(&mut mpt, round * 20_000_000).map(|_| ()),
                1 => v.display_hotplug(&mut mpt, r % 2 == 0),
                2 => v.raise_event(
                    &mut mpt,
                    if r % 2 == 0 {
                        Event::RcsMiUserInterrupt
                    } else {
                        Event::Gmbus
                    },
                ),
                3 => v.mmio_write(
                    &host,
                    &mut mpt,
                    ((r >> 12) % u64::from(MMIO_SIZE)) & !3,
                    &(r as u32).to_le_bytes(),
                ),
                _ => {
                    let off = handlers[(r >> 8) as usize % handlers.len()];
                    v.mmio_write(
                        &host,
                        &mut mpt,
                        u64::from(off),
                        &((r >> 32) as u32).to_le_bytes(),
                    )
                }
            };
            let kind = if r % 3 == 0 {
                Reset::GdrstFull
            } else {
                Reset::DeviceModel
            };
            v.reset(&host, &mut mpt, kind).unwrap();
            let tracked = v.store.0.clone();
            v.written = Written::ALL;
            v.reset(&host, &mut mpt, kind).unwrap();
            if tracked != v.store.0 {
                let first = tracked
                    .iter()
                    .zip(&v.store.0)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                panic!(
                    "round {round} ({kind:?}): register {:#x} not reloaded",
                    first * 4
                );
            }
        }
    }

    #[test]
    fn pvinfo_describes_the_partition() {
        let (host, mut gvt, _) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let p = *v.partition();
        let mut m = [0u8; 8];
        v.mmio_read(u64::from(field::MAGIC), &mut m).unwrap();
        assert_eq!(u64::from_le_bytes(m), pvinfo::VGT_MAGIC);
        assert!(v.pv_notified());
        assert_eq!(r(&mut v, field::VERSION), 1);
        assert_eq!(r(&mut v, field::VGT_CAPS), 0x1c);
        assert_eq!(u64::from(r(&mut v, field::MAPPABLE_BASE)), p.low.start);
        assert_eq!(u64::from(r(&mut v, field::NONMAPPABLE_SIZE)), p.high.size);
        assert_eq!(r(&mut v, field::FENCE_NUM), 4);
        assert_eq!(r(&mut v, field::CURSOR_X_HOT), u32::MAX);
    }

    #[test]
    fn status_handshakes_complete_at_once() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let (h, m) = (&host, &mut mpt);
        w(
            &mut v,
            h,
            m,
            FORCEWAKE_GT_GEN9::OFFSET,
            masked_bit_enable(1),
        );
        assert_eq!(r(&mut v, FORCEWAKE_ACK_GT_GEN9::OFFSET), 1);
        w(
            &mut v,
            h,
            m,
            FORCEWAKE_GT_GEN9::OFFSET,
            masked_bit_disable(1),
        );
        assert_eq!(r(&mut v, FORCEWAKE_ACK_GT_GEN9::OFFSET), 0);
        for e in Engine::ALL {
            let rc = RING_RESET_CTL::offset(e.base());
            w(&mut v, h, m, rc, masked_bit_enable(1));
            assert_eq!(r(&mut v, rc) & 7, 3, "{e:?}");
            w(&mut v, h, m, rc, masked_bit_disable(1));
            assert_eq!(r(&mut v, rc) & 7, 0, "{e:?}");
            let mode = RING_MI_MODE::offset(e.base());
            w(
                &mut v,
                h,
                m,
                mode,
                masked_bit_enable(RING_MI_MODE::STOP_RING.mask()),
            );
            assert_eq!(r(&mut v, mode) & 0xffff_0300, 0x300, "{e:?}");
            // MODE_IDLE is the engine's: a guest cannot clear it.
            w(&mut v, h, m, mode, masked_bit_disable(0x300));
            assert_eq!(r(&mut v, mode) & 0x300, 0x200, "{e:?}");
        }
        w(
            &mut v,
            h,
            m,
            GEN6_GDRST::OFFSET,
            GEN6_GDRST::GRDOM_BLT.mask(),
        );
        assert_eq!(r(&mut v, GEN6_GDRST::OFFSET), 0);
        assert_eq!(v.stats().engine_resets, 1);
        w(&mut v, h, m, GEN6_PCODE_MAILBOX::OFFSET, (1 << 31) | 0x6);
        assert_eq!(r(&mut v, GEN6_PCODE_MAILBOX::OFFSET), 0);
        assert_eq!(r(&mut v, GEN6_PCODE_DATA::OFFSET), 0x1608_0707);
        w(&mut v, h, m, GEN6_PCODE_MAILBOX::OFFSET, (1 << 31) | 0x6);
        assert_eq!(r(&mut v, GEN6_PCODE_DATA::OFFSET), 0x1616_1616);
        w(&mut v, h, m, HSW_PWR_WELL_CTL2::OFFSET, 0xffff_ffff);
        assert_eq!(r(&mut v, HSW_PWR_WELL_CTL2::OFFSET), 0xf000_0000);
        w(&mut v, h, m, DBUF_CTL_S0::OFFSET, 1 << 31);
        assert_eq!(r(&mut v, DBUF_CTL_S0::OFFSET), 0xc000_0000);
        w(&mut v, h, m, DBUF_CTL_S0::OFFSET, 0);
        assert_eq!(r(&mut v, DBUF_CTL_S0::OFFSET), 0);
        for pll in [BXT_DE_PLL_ENABLE::OFFSET, BXT_PORT_PLL_ENABLE_C::OFFSET] {
            w(&mut v, h, m, pll, 1 << 31);
            assert_eq!(r(&mut v, pll), 0xc000_0000);
            w(&mut v, h, m, pll, 0);
            assert_eq!(r(&mut v, pll), 0);
        }
    }

    #[test]
    fn bxt_phy_emulation() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let (h, m) = (&host, &mut mpt);
        assert_eq!(r(&mut v, BXT_PORT_CL1CM_DW0_A::OFFSET) & (1 << 16), 0);
        assert_eq!(r(&mut v, BXT_PORT_REF_DW3_A::OFFSET) & (1 << 22), 0);
        // PHY0 (DDI B/C) is already up: the virtual monitor sits on port B, as upstream.
        assert_eq!(r(&mut v, BXT_P_CR_GT_DISP_PWRON::OFFSET), 1);
        assert_eq!(
            r(&mut v, BXT_PORT_CL1CM_DW0_BC::OFFSET) & (1 << 16),
            1 << 16
        );
        // PHY1 on, as i915 does it (read-modify-write): powered, settled, GRC calibrated.
        w(&mut v, h, m, BXT_P_CR_GT_DISP_PWRON::OFFSET, 3);
        assert_eq!(
            r(&mut v, BXT_PORT_CL1CM_DW0_A::OFFSET) & ((1 << 16) | (1 << 7)),
            1 << 16
        );
        assert_eq!(r(&mut v, BXT_PORT_REF_DW3_A::OFFSET) & (1 << 22), 1 << 22);
        assert_eq!(
            r(&mut v, BXT_PORT_CL1CM_DW0_BC::OFFSET) & (1 << 16),
            1 << 16
        );
        // A request bit cleared powers that PHY down.
        w(&mut v, h, m, BXT_P_CR_GT_DISP_PWRON::OFFSET, 2);
        assert_eq!(r(&mut v, BXT_PORT_CL1CM_DW0_BC::OFFSET) & (1 << 16), 0);
        assert_eq!(r(&mut v, BXT_PORT_REF_DW3_A::OFFSET) & (1 << 22), 1 << 22);
        w(&mut v, h, m, BXT_P_CR_GT_DISP_PWRON::OFFSET, 1);
        assert_eq!(r(&mut v, BXT_PORT_CL1CM_DW0_A::OFFSET) & (1 << 16), 0);
        assert_eq!(r(&mut v, BXT_PORT_REF_DW3_A::OFFSET) & (1 << 22), 0);
        assert_eq!(
            r(&mut v, BXT_PORT_CL1CM_DW0_BC::OFFSET) & (1 << 16),
            1 << 16
        );
        w(&mut v, h, m, PHY_CTL_FAMILY_EDP::OFFSET, 1 << 31);
        assert_eq!(r(&mut v, BXT_PHY_CTL_DDI_A::OFFSET), 1 << 8);
        w(&mut v, h, m, PORT_PCS_DW12_GRP_C::OFFSET, 0x55);
        assert_eq!(v.vreg(PORT_PCS_DW12_GRP_C::OFFSET - 0x400), 0x55);
        assert_eq!(v.vreg(PORT_PCS_DW12_GRP_C::OFFSET - 0x600), 0x55);
        w(&mut v, h, m, PORT_PCS_DW12_GRP_A::OFFSET, 0x66);
        assert_eq!(v.vreg(PORT_PCS_DW12_GRP_A::OFFSET - 0x800), 0x66);
        w(&mut v, h, m, PORT_TX_DW3_LN0_B::OFFSET, u32::MAX);
        assert_eq!(r(&mut v, PORT_TX_DW3_LN0_B::OFFSET), !(1 << 27));
        w(&mut v, h, m, GEN8_PRIVATE_PAT_LO::OFFSET, 0);
        assert_eq!(r(&mut v, GEN8_PRIVATE_PAT_LO::OFFSET), 0x4000_0040);
    }

    #[test]
    fn ring_eir_clears_only_the_bits_written_as_one() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let (h, m) = (&host, &mut mpt);
        for e in Engine::ALL {
            let eir = RING_EIR::offset(e.base());
            v.set_vreg(eir, 0x11); // two latched errors
            w(&mut v, h, m, eir, 0);
            assert_eq!(r(&mut v, eir), 0x11, "writing 0 clears nothing");
            w(&mut v, h, m, eir, 0x1);
            assert_eq!(r(&mut v, eir), 0x10);
            w(&mut v, h, m, eir, !0);
            assert_eq!(r(&mut v, eir), 0);
        }
    }

    #[test]
    fn refused_and_self_clearing_writes() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let (h, m) = (&host, &mut mpt);
        assert!(v
            .mmio_write(h, m, u64::from(TRTTE::OFFSET), &1u32.to_le_bytes())
            .is_err());
        assert!(v
            .mmio_write(
                h,
                m,
                u64::from(GEN8_GAMW_ECO_DEV_RW_IA::OFFSET),
                &3u32.to_le_bytes()
            )
            .is_err());
        w(&mut v, h, m, GEN8_GAMW_ECO_DEV_RW_IA::OFFSET, 0xf);
        assert!(v
            .mmio_write(
                h,
                m,
                u64::from(RING_HWS_PGA::offset(RENDER_RING_BASE)),
                &0x1000u32.to_le_bytes()
            )
            .is_err());
        let mine = u32::try_from(v.partition().low.start).unwrap();
        w(&mut v, h, m, RING_HWS_PGA::offset(RENDER_RING_BASE), mine);
        w(&mut v, h, m, 0x426c, 1);
        assert_eq!(r(&mut v, 0x426c), 0);
        assert_eq!(v.tlb_pending(), Engine::Bcs.mask());
        w(&mut v, h, m, GEN6_MBCTL::OFFSET, 0x1f);
        assert_eq!(r(&mut v, GEN6_MBCTL::OFFSET), 0x0f);
        w(&mut v, h, m, FPGA_DBG::OFFSET, 1 << 31);
        assert_eq!(r(&mut v, FPGA_DBG::OFFSET), 0);
        w(&mut v, h, m, 0x24d0, 0x7300);
        assert_eq!(r(&mut v, 0x24d0), 0x7300);
        w(&mut v, h, m, 0x24d4, GEN6_GDRST::OFFSET);
        assert_eq!(
            r(&mut v, 0x24d4),
            0,
            "GDRST cannot be opened to user batches"
        );
        w(&mut v, h, m, 0x64834, 0xff);
        assert_eq!(r(&mut v, 0x64834), 0);
        assert_eq!(v.failsafe(), None);
        w(
            &mut v,
            h,
            m,
            CSFE_CHICKEN1::offset(RENDER_RING_BASE),
            masked_bit_enable(0x8),
        );
        assert_eq!(v.failsafe(), Some(Failsafe::UnsupportedGuest));
    }

    #[test]
    fn ggtt_maps_audits_and_unmaps() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let first = v.partition().high.start / GTT_PAGE_SIZE;
        let off = GGTT_MMIO_OFFSET + first * 8;
        v.mmio_write(&host, &mut mpt, off, &0x7003u64.to_le_bytes())
            .unwrap();
        assert_eq!(host.ggtt_read(first), (7 << 12) | (1 << 40) | 3);
        assert_eq!(v.guest_pte(first * GTT_PAGE_SIZE), 0x7003);
        let mut hi = [0u8; 4];
        v.mmio_read(off + 4, &mut hi).unwrap();
        assert_eq!(hi, [0; 4]);
        // Replace: the old mapping is dropped.
        v.mmio_write(&host, &mut mpt, off, &0x8001u64.to_le_bytes())
            .unwrap();
        assert_eq!(mpt.mapped, 1);
        // Not present: scratch, mapping dropped.
        v.mmio_write(&host, &mut mpt, off, &0u64.to_le_bytes())
            .unwrap();
        assert_eq!(host.ggtt_read(first), host.info().scratch_page);
        assert_eq!(mpt.mapped, 0);
        // Host reserve (index 0) and the end of the window are out of range.
        v.mmio_write(&host, &mut mpt, GGTT_MMIO_OFFSET, &1u64.to_le_bytes())
            .unwrap();
        v.mmio_write(&host, &mut mpt, (16 << 20) - 8, &1u64.to_le_bytes())
            .unwrap();
        assert_eq!(v.stats().ggtt_out_of_range, 2);
        assert!(v
            .mmio_write(&host, &mut mpt, 16 << 20, &1u64.to_le_bytes())
            .is_err());
        let flushes = host.flush_count();
        v.flush_ggtt(&host);
        v.flush_ggtt(&host);
        assert_eq!(host.flush_count(), flushes + 1);
    }

    #[test]
    fn aperture_mappings_go_before_their_pages() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let low = v.partition().low;
        let gm = low.start + 3 * GTT_PAGE_SIZE;
        let off = GGTT_MMIO_OFFSET + gm / GTT_PAGE_SIZE * 8;
        v.mmio_write(&host, &mut mpt, off, &0x7003u64.to_le_bytes())
            .unwrap();
        // Replaced: the invalidation comes while the old page is still mapped (2 mapped).
        v.mmio_write(&host, &mut mpt, off, &0x8003u64.to_le_bytes())
            .unwrap();
        assert_eq!(mpt.invalidated, vec![(gm, 4096, 1), (gm, 4096, 2)]);
        assert_eq!(mpt.mapped, 1);
        // The same entry again changes nothing behind the aperture.
        v.mmio_write(&host, &mut mpt, off, &0x8003u64.to_le_bytes())
            .unwrap();
        assert_eq!((mpt.invalidated.len(), mpt.mapped), (2, 1));
        // Hidden graphics memory is not behind the aperture.
        let high = GGTT_MMIO_OFFSET + v.partition().high.start / GTT_PAGE_SIZE * 8;
        v.mmio_write(&host, &mut mpt, high, &0x9003u64.to_le_bytes())
            .unwrap();
        assert_eq!((mpt.invalidated.len(), mpt.mapped), (2, 2));
        // A reset: one invalidation of the part of the slice the guest wrote, before any page
        // is unmapped.
        let flushes = host.flush_count();
        v.reset(&host, &mut mpt, Reset::DeviceModel).unwrap();
        assert_eq!(mpt.invalidated.last(), Some(&(gm, low.end() - gm, 2)));
        assert_eq!((mpt.invalidated.len(), mpt.mapped), (3, 0));
        assert_eq!(host.flush_count(), flushes + 1);
        assert_eq!(host.ggtt_read(gm / GTT_PAGE_SIZE), host.info().scratch_page);
        assert_eq!(v.guest_pte(gm), 0);
    }

    #[test]
    fn every_trap_is_counted_by_kind() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let base = *v.stats();
        let mut b4 = [0u8; 4];
        let mut b8 = [0u8; 8];
        v.cfg_read(0, &mut b4).unwrap();
        v.cfg_read(2, &mut b4[..2]).unwrap();
        v.cfg_write(&mut mpt, 0x04, &[0x07, 0]).unwrap();
        r(&mut v, field::MAGIC);
        w(&mut v, &host, &mut mpt, 0x24d0, 0x7300);
        // An 8-byte register access is one trap (two whitelisted FORCE_NONPRIV targets).
        v.mmio_write(&host, &mut mpt, 0x24d0, &0x7300_0000_7300u64.to_le_bytes())
            .unwrap();
        let pte = GGTT_MMIO_OFFSET + v.partition().low.start / GTT_PAGE_SIZE * 8;
        v.mmio_write(&host, &mut mpt, pte, &0x7003u64.to_le_bytes())
            .unwrap();
        v.mmio_read(pte, &mut b8).unwrap();
        v.mmio_read(pte + 4, &mut b4).unwrap();
        // Malformed accesses are traps too, and refused ones.
        assert!(v.mmio_read(0x24d1, &mut b4).is_err());
        assert!(v
            .mmio_write(&host, &mut mpt, 16 << 20, &1u64.to_le_bytes())
            .is_err());
        let s = *v.stats();
        assert_eq!(s.cfg_reads - base.cfg_reads, 2);
        assert_eq!(s.cfg_writes - base.cfg_writes, 1);
        assert_eq!(s.mmio_reads - base.mmio_reads, 2);
        assert_eq!(s.mmio_writes - base.mmio_writes, 2);
        assert_eq!(s.ggtt_reads - base.ggtt_reads, 2);
        assert_eq!(s.ggtt_writes - base.ggtt_writes, 2);
        assert_eq!(s.bad_accesses - base.bad_accesses, 2);
        assert_eq!(s.page_track_writes, 0);
    }

    #[test]
    fn refused_untracked_and_read_only_accesses_are_noticed() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let (h, m) = (&host, &mut mpt);
        assert_eq!(
            v.take_notice(),
            None,
            "nothing before the guest does anything"
        );
        let refused = |access, offset, len| {
            Some(Notice::Refused {
                access,
                offset,
                len,
            })
        };
        type Act<'a> = dyn Fn(&mut Vgpu<Store>, &mut Mpt) + 'a;
        let cases: [(&Act<'_>, Option<Notice>, &str); 8] = [
            (&|v, _| assert!(v.mmio_read(0x24d1, &mut [0u8; 4]).is_err()), refused(Access::MmioRead, 0x24d1, 4), "refused a 4-byte BAR0 read at 0x24d1"),
            (
                &|v, m| assert!(v.mmio_write(h, m, u64::from(TRTTE::OFFSET), &1u32.to_le_bytes()).is_err()),
                refused(Access::MmioWrite(1), u64::from(TRTTE::OFFSET), 4),
                "refused a 4-byte BAR0 write of 0x1 at 0x4df4",
            ),
            (
                &|v, m| assert!(v.mmio_write(h, m, 16 << 20, &0x1234_5678_9abc_def0u64.to_le_bytes()).is_err()),
                refused(Access::MmioWrite(0x1234_5678_9abc_def0), 16 << 20, 8),
                "refused a 8-byte BAR0 write of 0x123456789abcdef0 at 0x1000000",
            ),
            (
                &|v, m| assert!(v.cfg_write(m, 0x04, &[7, 0, 0, 0]).is_err()),
                refused(Access::CfgWrite(7), 4, 4),
                "refused a 4-byte config space write of 0x7 at 0x4",
            ),
            // Refused, though the write itself succeeds: GDRST cannot be opened to user batches.
            (&|v, m| w(v, h, m, 0x24d4, GEN6_GDRST::OFFSET), refused(Access::MmioWrite(0x941c), 0x24d4, 4), "refused a 4-byte BAR0 write of 0x941c at 0x24d4"),
            (&|v, m| w(v, h, m, field::MAGIC, 0), refused(Access::MmioWrite(0), u64::from(field::MAGIC), 4), "refused a 4-byte BAR0 write of 0x0 at 0x78000"),
            // Two untracked registers in one trap: the first is the one kept.
            (
                &|v, m| v.mmio_write(h, m, 0x8, &0x2_0000_0001u64.to_le_bytes()).unwrap(),
                Some(Notice::Untracked { reg: 0x8, value: 1 }),
                "wrote 0x00000001 to register 0x8, which the vGPU does not track: kept in its registers only",
            ),
            (
                &|v, m| w(v, h, m, 0x2370, 0xdead_beef),
                Some(Notice::ReadOnly { reg: 0x2370, value: 0xdead_beef }),
                "wrote 0xdeadbeef to read-only register 0x2370: ignored",
            ),
        ];
        for (act, notice, text) in cases {
            let bad = v.stats().bad_accesses;
            act(&mut v, m);
            let n = v.take_notice();
            assert_eq!(n, notice, "{text}");
            assert_eq!(
                n.map(|n| std::string::ToString::to_string(&n)).as_deref(),
                Some(text)
            );
            assert_eq!(
                n.is_some_and(|n| n.is_debug()),
                !matches!(n, Some(Notice::Refused { .. }))
            );
            let counted = u64::from(matches!(n, Some(Notice::Refused { .. })));
            assert_eq!(
                v.stats().bad_accesses,
                bad + counted,
                "every refusal is counted, and only those: {text}"
            );
            assert_eq!(v.take_notice(), None, "taken once");
        }
        // Handled registers notice nothing.
        w(
            &mut v,
            h,
            m,
            FORCEWAKE_GT_GEN9::OFFSET,
            masked_bit_enable(1),
        );
        assert_eq!(r(&mut v, FORCEWAKE_ACK_GT_GEN9::OFFSET), 1);
        assert_eq!(v.take_notice(), None);
    }

    #[test]
    fn trap_counters_saturate() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        v.stats.mmio_writes = u64::MAX;
        v.stats.cfg_reads = u64::MAX;
        v.stats.page_track_writes = u64::MAX;
        w(&mut v, &host, &mut mpt, 0x24d0, 1);
        v.cfg_read(0, &mut [0u8; 4]).unwrap();
        v.count_page_track_write();
        assert_eq!(
            (
                v.stats().mmio_writes,
                v.stats().cfg_reads,
                v.stats().page_track_writes
            ),
            (u64::MAX, u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn stats_text_is_one_line_per_counter_then_failsafe() {
        let stats = VgpuStats {
            cfg_reads: 1,
            cfg_writes: 2,
            mmio_reads: 3,
            mmio_writes: 4,
            ggtt_reads: 5,
            ggtt_writes: 6,
            page_track_writes: 7,
            ggtt_out_of_range: 8,
            ggtt_map_failures: 9,
            fence_violations: 10,
            bad_accesses: 11,
            msis: 12,
            engine_resets: 13,
            ppgtt_notifications: 14,
            failsafe_guest_resets: u64::MAX,
            device_resets: 15,
        };
        let mut out = std::string::String::new();
        stats.write_to(None, &mut out).unwrap();
        assert_eq!(
            out,
            "cfg_reads: 1\n\
             cfg_writes: 2\n\
             mmio_reads: 3\n\
             mmio_writes: 4\n\
             ggtt_reads: 5\n\
             ggtt_writes: 6\n\
             page_track_writes: 7\n\
             ggtt_out_of_range: 8\n\
             ggtt_map_failures: 9\n\
             fence_violations: 10\n\
             bad_accesses: 11\n\
             msis: 12\n\
             engine_resets: 13\n\
             ppgtt_notifications: 14\n\
             failsafe_guest_resets: 18446744073709551615\n\
             device_resets: 15\n\
             failsafe: none\n\
             failsafe_cause: none\n"
        );
        for (cause, name, text) in [
            (Cause::NotVgpuAware { reg: 0x229c }, "unsupported_guest", "guest turned execlists or PPGTT on (register 0x229c) without reading PVINFO: its driver does not know it runs on a vGPU"),
            (Cause::ResourcesTooSmall, "insufficient_resource", "guest reported through PVINFO that the vGPU's graphics memory or fences are too small for it"),
            (Cause::ElspOverrun { engine: Engine::Vcs }, "guest_error", "ELSP written while a submission was pending on vcs0"),
        ] {
            let mut out = std::string::String::new();
            VgpuStats::default().write_to(Some(cause), &mut out).unwrap();
            assert!(out.starts_with("cfg_reads: 0\n"));
            assert!(out.ends_with(&std::format!("device_resets: 0\nfailsafe: {name}\nfailsafe_cause: {text}\n")), "{out}");
            assert_eq!(out.lines().count(), 18);
        }
    }

    #[test]
    fn destroy_returns_everything() {
        let (host, mut gvt, mut mpt) = setup();
        let mut v = new_vgpu(&host, &mut gvt);
        let first = v.partition().low.start / GTT_PAGE_SIZE;
        v.mmio_write(
            &host,
            &mut mpt,
            GGTT_MMIO_OFFSET + first * 8,
            &0x1001u64.to_le_bytes(),
        )
        .unwrap();
        w(&mut v, &host, &mut mpt, field::MAGIC, 0); // ignored: not guest-writable
        assert_eq!(v.vreg(field::MAGIC), 0x7654_4776);
        let fence = u32::try_from(v.partition().fences.start).unwrap();
        assert_eq!(gvt.vgpu_count(), 1);
        let _store = gvt.destroy_vgpu(&host, &mut mpt, v);
        assert_eq!(gvt.vgpu_count(), 0);
        assert_eq!(mpt.mapped, 0);
        assert_eq!(host.ggtt_read(first), host.info().scratch_page);
        assert_eq!(host.fence(fence), 0);
    }
}
