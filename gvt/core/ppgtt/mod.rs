//! Shadow PPGTT: the guest's 4-level (48-bit) page tables mirrored into host memory, with every
//! leaf pointing at a DMA-mapped guest page, so the GPU can never reach memory the guest's VM
//! does not own.
//!
//! One shadow table ([`Spt`]) exists per guest table page and level, in storage that grows as
//! the guest binds more ([`pool`]); trees with common subtrees share them by reference count. Each keeps the guest's entries as last shadowed
//! (`guest`) and the host entries built from them (`shadow`), so an update touches only the
//! entries that changed and a teardown knows exactly which mappings to drop. Guest pages are
//! read with one bulk read per table (upstream reads one entry at a time).
//!
//! Keeping the shadows in step with the guest: where the backend tracks writes, a trapped
//! 8-byte aligned write is applied at once, other writes (4-byte halves) unshadow the entries
//! they touch and are re-applied before the next submission; where it cannot, or a page could
//! not be tracked, every untracked table of the tree a submission runs on is re-read and
//! compared before it runs.
//!
//! Out-of-sync pages: a guest binding a buffer rewrites many entries of one table between two
//! submissions, and each trapped write is a VM exit. A tracked table that takes
//! [`OOS_WRITES`] trapped writes before the next submission has its write protection lifted;
//! the guest then writes it freely, and before the next submission it is protected again
//! first and re-read and compared second, so no write can fall between the two. At most
//! [`MAX_OOS`] pages of a vGPU are out of sync at once; past that, writes keep trapping.
//!
//! 64 KiB pages (a PDE with IPS set, when the guest enabled 64 KiB IPS) are split into 16
//! 4 KiB shadow entries; 2 MiB pages are mapped natively; 1 GiB pages and other malformed
//! entries fail the shadowing, which puts the vGPU in failsafe. Roots are found by the PML4
//! address of a context or a PVINFO notification and reclaimed least-recently-used first when
//! the table storage runs out.
//!
//! A failure says where ([`Fault`]): the guest's table, entry or page that broke the shadow,
//! which the vGPU records as its failsafe cause, or the host.

pub mod log;
pub mod pool;

use core::fmt;

use super::error::GvtError;
use super::host::HostExec;
use super::num::usize_as_u64;
use super::vgpu::write_counters;
use crate::mpt::MptOps;
use pool::Pool;

/// Entries per table page.
pub const ENTRIES: usize = 512;
/// Bytes per table page.
pub const PAGE: usize = 4096;
/// Entry bit: present.
pub const PTE_PRESENT: u64 = 1;
/// Entry bit: writable (`GEN8_PAGE_RW`; i915 clears it in the PTEs of read-only objects).
pub const PTE_RW: u64 = 1 << 1;
/// Entry bit: page size (2 MiB in a PDE, 1 GiB in a PDPE).
pub const PTE_PS: u64 = 1 << 7;
/// PDE bit: the page table it points at maps 64 KiB pages (Gen9 IPS).
pub const PDE_IPS_64K: u64 = 1 << 11;
/// Address bits of an entry (46:12, as upstream's Gen8 mask).
pub const ADDR_MASK: u64 = 0x0000_7fff_ffff_f000;
/// Roots one vGPU may have shadowed at once.
pub const MAX_ROOTS: usize = 16;
/// Trapped writes to one table between two submissions that take it out of sync. Lifting and
/// restoring the protection and one re-read cost about as much as a few traps; a single
/// entry written as two 4-byte halves stays tracked.
pub const OOS_WRITES: u8 = 4;
/// Pages of one vGPU out of sync at once: bounds the re-protection and re-reads before a
/// submission.
pub const MAX_OOS: u32 = 64;

const SIZE_2M: u64 = 2 << 20;
const PAGES_64K: usize = 16;

/// Bookkeeping of one shadow table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SptMeta {
    /// In use.
    pub live: bool,
    /// Guest frame of the table.
    pub gfn: u64,
    /// Host address of the shadow table page.
    pub host: u64,
    /// 4 = PML4, 3 = PDP, 2 = PD, 1 = PT.
    pub level: u8,
    /// A page table of 64 KiB entries.
    pub ips: bool,
    /// Write-protected by the backend (else re-validated before submissions).
    pub tracked: bool,
    /// Tracked, with the protection lifted until the next submission re-protects and re-reads
    /// it.
    pub oos: bool,
    /// Trapped writes since the last submission.
    pub writes: u8,
    /// References: parent entries and roots.
    pub refs: u32,
    /// Entries whose guest value changed by a partial write and awaits shadowing.
    pub deferred: [u64; 8],
    /// The [`Ppgtt::sync`] that last walked it (0: none since it was built).
    pub seen: u64,
}

/// One shadow table: its bookkeeping, the guest entries it mirrors and the host entries.
#[derive(Clone, Debug)]
pub struct Spt {
    /// Bookkeeping.
    pub meta: SptMeta,
    /// The guest's table as last shadowed (little-endian entries).
    pub guest: [u8; PAGE],
    /// The shadow entries, as written to host memory.
    pub shadow: [u8; PAGE],
}

impl Spt {
    /// An unused slot.
    pub const EMPTY: Spt = Spt {
        meta: SptMeta {
            live: false,
            gfn: 0,
            host: 0,
            level: 0,
            ips: false,
            tracked: false,
            oos: false,
            writes: 0,
            refs: 0,
            deferred: [0; 8],
            seen: 0,
        },
        guest: [0; PAGE],
        shadow: [0; PAGE],
    };
}

/// Entries compared at once when looking for the present or changed ones: guest tables are
/// mostly empty and mostly unchanged, and a run that is all zero or all the same costs one
/// slice compare instead of a branch per entry.
const RUN: usize = 8;

/// Bytes of the run of entries starting at entry `first`.
fn run(page: &[u8; PAGE], first: usize) -> &[u8] {
    let off = first.wrapping_mul(8);
    page.get(off..off.wrapping_add(RUN * 8)).unwrap_or(&[])
}

fn zero_run(page: &[u8; PAGE], first: usize) -> bool {
    run(page, first) == [0u8; RUN * 8]
}

fn entry(page: &[u8; PAGE], i: usize) -> u64 {
    let off = i.wrapping_mul(8);
    page.get(off..off.wrapping_add(8))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

fn set_entry(page: &mut [u8; PAGE], i: usize, v: u64) {
    let off = i.wrapping_mul(8);
    if let Some(b) = page.get_mut(off..off.wrapping_add(8)) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// Why shadowing failed: what of the guest's tables broke it, or the host. Tables are named by
/// level as the guest walks them: 4 PML4, 3 PDP, 2 PD, 1 PT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A PML4 address that is not a page-aligned guest physical address (the address).
    BadRoot(u64),
    /// The guest table at `gfn` could not be read: not guest RAM as its hypervisor knows it
    /// (`err` is the hypervisor's answer).
    Table {
        /// Guest frame of the table.
        gfn: u64,
        /// Its level.
        level: u8,
        /// The hypervisor's error.
        err: GvtError,
    },
    /// The page at `gfn` an entry of a level-`level` table maps (a 2 MiB page from a PD) could
    /// not be mapped for the GPU: not guest RAM.
    Page {
        /// Guest frame of the page.
        gfn: u64,
        /// Level of the table whose entry maps it.
        level: u8,
        /// The hypervisor's error.
        err: GvtError,
    },
    /// Entry `index` (`value`) of the level-`level` table at `gfn` is one the shadow does not
    /// take: a 2 MiB page not 2 MiB aligned (level 2), a 1 GiB or larger page (levels 3, 4).
    Entry {
        /// Guest frame of the table.
        gfn: u64,
        /// Its level.
        level: u8,
        /// The entry's index in it.
        index: u16,
        /// The entry.
        value: u64,
    },
    /// No shadow table or root slot is left: the vGPU's trees in use fill its storage.
    Full,
    /// The host failed (memory for a shadow table, writing it, committing a guest write), or
    /// the backend reported a write no guest store makes.
    Host(GvtError),
}

impl From<GvtError> for Fault {
    /// Anything not traced to the guest's tables is the host's.
    fn from(err: GvtError) -> Fault {
        Fault::Host(err)
    }
}

impl From<Fault> for GvtError {
    fn from(f: Fault) -> GvtError {
        match f {
            Fault::BadRoot(_) => GvtError::Invalid,
            Fault::Table { err, .. } | Fault::Page { err, .. } | Fault::Host(err) => err,
            // A misaligned 2 MiB page is malformed; larger pages are not supported.
            Fault::Entry { level: 2, .. } => GvtError::Invalid,
            Fault::Entry { .. } => GvtError::NotSupported,
            Fault::Full => GvtError::NoSpace,
        }
    }
}

/// The name of a level's tables.
fn level_name(level: u8) -> &'static str {
    match level {
        4 => "PML4",
        3 => "PDP",
        2 => "PD",
        _ => "PT",
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::BadRoot(a) => {
                write!(f, "PML4 address {a:#x} is not a page-aligned guest address")
            }
            Fault::Table { gfn, level, err } => {
                write!(
                    f,
                    "page table outside guest RAM: gfn {gfn:#x} (level {level}, {}; {err})",
                    level_name(level)
                )
            }
            Fault::Page { gfn, level: 2, err } => write!(
                f,
                "2 MiB page outside guest RAM: gfn {gfn:#x} (mapped by a PD; {err})"
            ),
            Fault::Page { gfn, level, err } => write!(
                f,
                "page outside guest RAM: gfn {gfn:#x} (mapped by a {}; {err})",
                level_name(level)
            ),
            Fault::Entry {
                gfn,
                level,
                index,
                value,
            } => {
                let what = if level == 2 {
                    "2 MiB page not 2 MiB aligned"
                } else {
                    "page of 1 GiB or more (not supported)"
                };
                write!(
                    f,
                    "{what}: entry {index} = {value:#x} of the {} at gfn {gfn:#x}",
                    level_name(level)
                )
            }
            Fault::Full => f.write_str(
                "no shadow page table left: the vGPU's page tables in use fill its storage",
            ),
            Fault::Host(err) => write!(f, "host error while shadowing page tables: {err}"),
        }
    }
}

/// The result of shadowing.
pub type Result<T = ()> = core::result::Result<T, Fault>;

/// What shadowing works with: the table storage, the host and the hypervisor.
pub struct Env<'a> {
    /// Shadow table slots.
    pub spts: Pool<'a>,
    /// A page of scratch for comparing guest tables.
    pub scratch: &'a mut [u8; PAGE],
    /// Host memory.
    pub host: &'a dyn HostExec,
    /// The VM's hypervisor.
    pub mpt: &'a mut dyn MptOps,
    /// The guest enabled 64 KiB pages (GAMW_ECO_DEV_RW_IA).
    pub ips: bool,
}

/// A shadowed root (PML4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Root {
    gfn: u64,
    spt: usize,
    /// Workloads queued or running on it.
    pins: u32,
    /// The guest announced it through PVINFO.
    notified: bool,
    last_use: u64,
}

/// Counters of the shadow PPGTT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpgttStats {
    /// Shadow tables built.
    pub tables_shadowed: u64,
    /// Guest table pages re-read by re-validation.
    pub tables_revalidated: u64,
    /// Entries re-shadowed because the guest changed them.
    pub entries_updated: u64,
    /// Trapped writes handled.
    pub trapped_writes: u64,
    /// Roots reclaimed to make room.
    pub roots_reclaimed: u64,
    /// Pages taken out of sync (write protection lifted).
    pub pages_unsynced: u64,
    /// Out-of-sync tables re-protected and re-read before a submission.
    pub tables_resynced: u64,
}

impl PpgttStats {
    /// Writes the counters as `key: value` lines (after [`super::workload::ExecStats`]'s in
    /// the debugfs `stats` file).
    pub fn write_to(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        let PpgttStats {
            tables_shadowed,
            tables_revalidated,
            entries_updated,
            trapped_writes,
            roots_reclaimed,
            pages_unsynced,
            tables_resynced,
        } = *self;
        write_counters(
            out,
            &[
                ("ppgtt_tables_shadowed", tables_shadowed),
                ("ppgtt_tables_revalidated", tables_revalidated),
                ("ppgtt_entries_updated", entries_updated),
                ("ppgtt_trapped_writes", trapped_writes),
                ("ppgtt_roots_reclaimed", roots_reclaimed),
                ("ppgtt_pages_unsynced", pages_unsynced),
                ("ppgtt_tables_resynced", tables_resynced),
            ],
        )
    }
}

/// The shadow PPGTT roots of one vGPU. The tables themselves live in the storage passed in
/// [`Env`].
#[derive(Debug, Default)]
pub struct Ppgtt {
    roots: [Option<Root>; MAX_ROOTS],
    clock: u64,
    /// Pages out of sync since the last complete [`Ppgtt::sync`] (an upper bound).
    oos: u32,
    /// Counts [`Ppgtt::sync`] calls: a table walked by this one has `seen == epoch`.
    epoch: u64,
    stats: PpgttStats,
}

impl Ppgtt {
    /// Counters.
    pub fn stats(&self) -> &PpgttStats {
        &self.stats
    }

    /// Number of shadowed roots.
    pub fn roots(&self) -> usize {
        self.roots
            .iter()
            .flatten()
            .fold(0, |n, _| n.saturating_add(1))
    }

    /// Shadows (or finds) the tree under the PML4 at `pml4_gpa` and pins it for a workload.
    /// Returns the root's index and the host address of its shadow PML4.
    pub fn pin(&mut self, env: &mut Env<'_>, pml4_gpa: u64) -> Result<(usize, u64)> {
        let r = self.get_root(env, pml4_gpa)?;
        let root = self
            .roots
            .get_mut(r)
            .and_then(|x| x.as_mut())
            .ok_or(GvtError::Invalid)?;
        root.pins = root.pins.saturating_add(1);
        let host = env
            .spts
            .get(root.spt)
            .map(|s| s.meta.host)
            .ok_or(GvtError::Invalid)?;
        Ok((r, host))
    }

    /// Drops a workload's pin on root `r`.
    pub fn unpin(&mut self, r: usize) {
        if let Some(root) = self.roots.get_mut(r).and_then(|x| x.as_mut()) {
            root.pins = root.pins.saturating_sub(1);
        }
    }

    /// PVINFO: the guest created the 4-level PPGTT at `pml4_gpa`; it is shadowed now and kept
    /// until the guest destroys it.
    pub fn notify_create(&mut self, env: &mut Env<'_>, pml4_gpa: u64) -> Result {
        let r = self.get_root(env, pml4_gpa)?;
        if let Some(root) = self.roots.get_mut(r).and_then(|x| x.as_mut()) {
            root.notified = true;
        }
        Ok(())
    }

    /// PVINFO: the guest destroyed the PPGTT at `pml4_gpa`; its shadow goes once no workload
    /// uses it.
    pub fn notify_destroy(&mut self, env: &mut Env<'_>, pml4_gpa: u64) {
        let gfn = pml4_gpa >> 12;
        let found = self
            .roots
            .iter()
            .position(|r| r.is_some_and(|r| r.gfn == gfn));
        if let Some(i) = found {
            if let Some(root) = self.roots.get_mut(i).and_then(|x| x.as_mut()) {
                root.notified = false;
            }
            self.drop_unused(env, Some(i));
        }
    }

    /// Drops every shadow no workload uses, announced or not (vGPU reset, destruction).
    pub fn forget_unpinned(&mut self, env: &mut Env<'_>) {
        for slot in self.roots.iter_mut() {
            if slot.is_some_and(|r| r.pins == 0) {
                if let Some(root) = slot.take() {
                    release(env, root.spt);
                }
            } else if let Some(r) = slot.as_mut() {
                r.notified = false;
            }
        }
    }

    fn drop_unused(&mut self, env: &mut Env<'_>, only: Option<usize>) -> bool {
        for i in 0..MAX_ROOTS {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let slot = self.roots.get_mut(i);
            if let Some(s) = slot {
                if s.is_some_and(|r| r.pins == 0 && !r.notified) {
                    if let Some(root) = s.take() {
                        release(env, root.spt);
                        self.stats.roots_reclaimed = self.stats.roots_reclaimed.saturating_add(1);
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Frees the least recently used unpinned root; false if there is none.
    fn reclaim(&mut self, env: &mut Env<'_>) -> bool {
        let victim = (0..MAX_ROOTS)
            .zip(self.roots.iter())
            .filter_map(|(i, r)| r.filter(|r| r.pins == 0).map(|r| (r.last_use, i)))
            .min()
            .map(|(_, i)| i);
        let Some(i) = victim else { return false };
        if let Some(root) = self.roots.get_mut(i).and_then(|x| x.take()) {
            release(env, root.spt);
            self.stats.roots_reclaimed = self.stats.roots_reclaimed.saturating_add(1);
            return true;
        }
        false
    }

    fn get_root(&mut self, env: &mut Env<'_>, pml4_gpa: u64) -> Result<usize> {
        if pml4_gpa & !ADDR_MASK != 0 {
            return Err(Fault::BadRoot(pml4_gpa));
        }
        let gfn = pml4_gpa >> 12;
        self.clock = self.clock.wrapping_add(1);
        let now = self.clock;
        if let Some(i) = self
            .roots
            .iter()
            .position(|r| r.is_some_and(|r| r.gfn == gfn))
        {
            if let Some(r) = self.roots.get_mut(i).and_then(|x| x.as_mut()) {
                r.last_use = now;
            }
            return Ok(i);
        }
        let mut free = self.roots.iter().position(|r| r.is_none());
        if free.is_none() && self.drop_unused(env, None) {
            free = self.roots.iter().position(|r| r.is_none());
        }
        if free.is_none() && self.reclaim(env) {
            free = self.roots.iter().position(|r| r.is_none());
        }
        let slot = free.ok_or(Fault::Full)?;
        let spt = loop {
            match shadow(env, gfn, 4, false) {
                Err(Fault::Full) if self.reclaim(env) => continue,
                other => break other?,
            }
        };
        self.stats.tables_shadowed = self.stats.tables_shadowed.saturating_add(1);
        if let Some(s) = self.roots.get_mut(slot) {
            *s = Some(Root {
                gfn,
                spt,
                pins: 0,
                notified: false,
                last_use: now,
            });
        }
        Ok(slot)
    }

    /// A trapped guest write of `data` at `gpa` to a tracked page. `committed`: the hypervisor
    /// already wrote it to guest memory (KVM); otherwise (ACRN) the core writes it first.
    /// Writes to pages no shadow table mirrors are only committed.
    pub fn page_write(
        &mut self,
        env: &mut Env<'_>,
        gpa: u64,
        data: &[u8],
        committed: bool,
    ) -> Result {
        let off = usize::try_from(gpa & 0xfff).map_err(|_| GvtError::Invalid)?;
        let end = off
            .checked_add(data.len())
            .filter(|&e| e <= PAGE && !data.is_empty())
            .ok_or(GvtError::Invalid)?;
        if !committed {
            env.mpt.write_gpa(gpa, data)?;
        }
        self.stats.trapped_writes = self.stats.trapped_writes.saturating_add(1);
        let gfn = gpa >> 12;
        let whole = data.len() == 8 && off % 8 == 0;
        let mut result = Ok(());
        let mut busy = false;
        let mut tables = [0usize; 8];
        let n = env.spts.of_gfn(gfn, &mut tables);
        for &s in tables.get(..n).unwrap_or(&[]) {
            if !env.spts.get(s).is_some_and(|t| t.meta.tracked) {
                continue;
            }
            if let Some(t) = env.spts.get_mut(s) {
                if let Some(dst) = t.guest.get_mut(off..end) {
                    dst.copy_from_slice(data);
                }
                t.meta.writes = t.meta.writes.saturating_add(1);
                busy |= t.meta.writes >= OOS_WRITES;
            }
            env.spts
                .record(s, log::SptEventKind::GuestWrite, usize_as_u64(off));
            let first = off / 8;
            let last = end.wrapping_sub(1) / 8;
            for i in first..=last {
                let r = if whole {
                    update(env, s, i)
                } else {
                    defer(env, s, i);
                    Ok(())
                };
                if r.is_err() {
                    result = r;
                }
            }
            self.stats.entries_updated = self.stats.entries_updated.saturating_add(1);
        }
        if busy && result.is_ok() && self.oos < MAX_OOS {
            self.unsync(env, gfn);
        }
        result
    }

    /// Lifts the write protection of guest page `gfn`: every tracked table of the page goes
    /// out of sync until [`Ppgtt::sync`].
    fn unsync(&mut self, env: &mut Env<'_>, gfn: u64) {
        env.mpt.page_track_remove(gfn);
        let mut tables = [0usize; 8];
        let n = env.spts.of_gfn(gfn, &mut tables);
        for &s in tables.get(..n).unwrap_or(&[]) {
            if let Some(t) = env.spts.get_mut(s).filter(|t| t.meta.tracked) {
                t.meta.tracked = false;
                t.meta.oos = true;
                env.spts.record(s, log::SptEventKind::Unsync, 0);
            }
        }
        self.oos = self.oos.saturating_add(1);
        self.stats.pages_unsynced = self.stats.pages_unsynced.saturating_add(1);
    }

    /// Brings the trees under roots `roots` in step with the guest before a submission:
    /// deferred partial writes are applied and out-of-sync tables protected again and re-read
    /// (both for every tree: they are few and bounded), then the untracked tables of these
    /// trees, and only these, are re-read (one bulk read each) and compared. Without write
    /// tracking (kvmgt without KVM) every table is untracked, and a vGPU keeps up to
    /// [`MAX_ROOTS`] trees: re-reading all of them for every submission cost more than the
    /// submission.
    pub fn sync(&mut self, env: &mut Env<'_>, roots: &[usize]) -> Result {
        self.epoch = self.epoch.wrapping_add(1);
        for s in 0..env.spts.len() {
            // Most slots are free: look at them in place before copying their bookkeeping.
            let Some(meta) = env.spts.get(s).filter(|t| t.meta.live).map(|t| t.meta) else {
                continue;
            };
            if meta.writes != 0 {
                if let Some(t) = env.spts.get_mut(s) {
                    t.meta.writes = 0;
                }
            }
            if meta.deferred != [0; 8] {
                for (bits, w) in meta.deferred.iter().zip(0usize..) {
                    for b in 0..64 {
                        if bits & (1u64 << b) != 0 {
                            update(env, s, w.wrapping_mul(64).wrapping_add(b))?;
                        }
                    }
                }
                if let Some(t) = env.spts.get_mut(s) {
                    t.meta.deferred = [0; 8];
                }
            }
            if meta.oos {
                // Protected before it is read: a write in between traps and is applied.
                let gfn = meta.gfn;
                let protected = env.spts.tracked(gfn) || env.mpt.page_track_add(gfn).is_ok();
                if let Some(t) = env.spts.get_mut(s) {
                    t.meta.oos = false;
                    t.meta.tracked = protected;
                    t.meta.seen = self.epoch;
                }
                self.stats.tables_resynced = self.stats.tables_resynced.saturating_add(1);
                let changed = revalidate(env, s)?;
                env.spts.record(s, log::SptEventKind::Resync, changed);
                self.stats.entries_updated = self.stats.entries_updated.saturating_add(changed);
            }
        }
        self.oos = 0;
        for &r in roots {
            let Some(top) = self.roots.get(r).copied().flatten().map(|root| root.spt) else {
                continue;
            };
            // Out of table storage: the least recently used tree no workload uses goes (the
            // trees being synced are pinned), and the walk starts again, reading everything.
            while let Err(e) = self.walk(env, top) {
                if e != Fault::Full || !self.reclaim(env) {
                    return Err(e);
                }
                self.epoch = self.epoch.wrapping_add(1);
            }
        }
        Ok(())
    }

    /// Re-reads the untracked tables of the tree under table `top`, parents before children
    /// (a parent's new entries decide which children there are). Levels only go down, so the
    /// walk's stack holds at most four tables; a table shared by several parents or trees is
    /// read once per sync.
    fn walk(&mut self, env: &mut Env<'_>, top: usize) -> Result {
        let mut stack = [(0usize, 0usize); 4];
        let mut depth = 0usize;
        let mut next = Some(top);
        loop {
            if let Some(c) = next.take() {
                let Some(meta) = env
                    .spts
                    .get(c)
                    .map(|t| t.meta)
                    .filter(|m| m.live && m.seen != self.epoch)
                else {
                    continue;
                };
                if !meta.tracked {
                    self.stats.tables_revalidated = self.stats.tables_revalidated.saturating_add(1);
                    let changed = revalidate(env, c)?;
                    if changed != 0 {
                        env.spts.record(c, log::SptEventKind::Reread, changed);
                    }
                    self.stats.entries_updated = self.stats.entries_updated.saturating_add(changed);
                }
                if let Some(t) = env.spts.get_mut(c) {
                    t.meta.seen = self.epoch;
                }
                if meta.level > 1 {
                    if let Some(top) = stack.get_mut(depth) {
                        *top = (c, 0);
                        depth = depth.wrapping_add(1);
                    }
                }
            }
            let Some(&(s, i)) = depth.checked_sub(1).and_then(|d| stack.get(d)) else {
                return Ok(());
            };
            let Some(t) = env.spts.get(s).filter(|t| t.meta.live && i < ENTRIES) else {
                depth = depth.wrapping_sub(1);
                continue;
            };
            let step = if i % RUN == 0 && zero_run(&t.shadow, i) {
                RUN
            } else {
                1
            };
            if let Some(top) = depth.checked_sub(1).and_then(|d| stack.get_mut(d)) {
                top.1 = i.wrapping_add(step);
            }
            let se = if step == 1 { entry(&t.shadow, i) } else { 0 };
            if se & PTE_PRESENT == 0 || (t.meta.level == 2 && se & PTE_PS != 0) {
                continue;
            }
            let addr = se & ADDR_MASK;
            next = env.spts.by_host(addr);
        }
    }
}

/// Re-reads the guest table behind `s` and re-shadows the entries that changed.
fn revalidate(env: &mut Env<'_>, s: usize) -> Result<u64> {
    let (gfn, level) = env
        .spts
        .get(s)
        .map(|t| (t.meta.gfn, t.meta.level))
        .ok_or(GvtError::Invalid)?;
    env.mpt
        .read_gpa(gfn << 12, &mut env.scratch[..])
        .map_err(|err| Fault::Table { gfn, level, err })?;
    if env.spts.get(s).is_some_and(|t| t.guest == *env.scratch) {
        return Ok(0);
    }
    let mut changed = 0u64;
    for first in (0..ENTRIES).step_by(RUN) {
        if env
            .spts
            .get(s)
            .is_some_and(|t| run(&t.guest, first) == run(env.scratch, first))
        {
            continue;
        }
        for i in first..first.wrapping_add(RUN) {
            let now = entry(env.scratch, i);
            let Some(t) = env.spts.get_mut(s) else {
                return Ok(changed);
            };
            if !t.meta.live {
                return Ok(changed);
            }
            if entry(&t.guest, i) != now {
                set_entry(&mut t.guest, i, now);
                update(env, s, i)?;
                changed = changed.saturating_add(1);
            }
        }
    }
    Ok(changed)
}

/// Returns a shadow of the guest table at `gfn` (one more reference if it exists).
fn shadow(env: &mut Env<'_>, gfn: u64, level: u8, ips: bool) -> Result<usize> {
    if let Some(i) = env.spts.find(gfn, level, ips) {
        if let Some(t) = env.spts.get_mut(i) {
            t.meta.refs = t.meta.refs.saturating_add(1);
        }
        return Ok(i);
    }
    // Another table of the same page is already write-protected.
    let shared = env.spts.tracked(gfn);
    let slot = env.spts.alloc().map_err(|_| Fault::Full)?;
    let host = env.host.alloc_pages(1)?;
    let tracked = shared || (env.mpt.page_track_supported() && env.mpt.page_track_add(gfn).is_ok());
    {
        let t = env.spts.get_mut(slot).ok_or(GvtError::Invalid)?;
        t.meta = SptMeta {
            live: true,
            gfn,
            host,
            level,
            ips,
            tracked,
            oos: false,
            writes: 0,
            refs: 1,
            deferred: [0; 8],
            seen: 0,
        };
        t.shadow = [0; PAGE];
    }
    env.spts.insert(slot);
    let t = env.spts.get_mut(slot).ok_or(GvtError::Invalid)?;
    let read = env
        .mpt
        .read_gpa(gfn << 12, &mut t.guest[..])
        .map_err(|err| Fault::Table { gfn, level, err });
    let built = read.and_then(|()| populate(env, slot));
    if let Err(e) = built {
        release(env, slot);
        return Err(e);
    }
    let t = env.spts.get(slot).ok_or(GvtError::Invalid)?;
    env.host.write_mem(host, &t.shadow)?;
    Ok(slot)
}

/// Builds every shadow entry of a freshly read table. 4 KiB page tables, the bulk of any
/// tree, take a direct loop: one DMA map per present entry and nothing else.
fn populate(env: &mut Env<'_>, s: usize) -> Result {
    let leaf = env
        .spts
        .get(s)
        .is_some_and(|t| t.meta.level == 1 && !t.meta.ips);
    if leaf {
        let t = env.spts.get_mut(s).ok_or(GvtError::Invalid)?;
        for first in (0..ENTRIES).step_by(RUN) {
            if zero_run(&t.guest, first) {
                continue;
            }
            for i in first..first.wrapping_add(RUN) {
                let ge = entry(&t.guest, i);
                if ge & PTE_PRESENT != 0 {
                    let dma = map_page(env.mpt, (ge & ADDR_MASK) >> 12, 4096, 1)?;
                    set_entry(&mut t.shadow, i, (ge & !ADDR_MASK) | (dma & ADDR_MASK));
                }
            }
        }
        return Ok(());
    }
    for first in (0..ENTRIES).step_by(RUN) {
        let Some(t) = env.spts.get(s) else {
            return Ok(());
        };
        if zero_run(&t.guest, first) {
            continue;
        }
        for i in first..first.wrapping_add(RUN) {
            let Some(t) = env.spts.get(s) else {
                return Ok(());
            };
            if entry(&t.guest, i) & PTE_PRESENT != 0 {
                build(env, s, i)?;
            }
        }
    }
    Ok(())
}

/// The shadow entries for guest entry `i` of table `s`: one entry, or 16 for a 64 KiB page.
/// Written to the table's `shadow` copy only.
fn build(env: &mut Env<'_>, s: usize, i: usize) -> Result {
    let (table, level, ips, ge) = env
        .spts
        .get(s)
        .map(|t| (t.meta.gfn, t.meta.level, t.meta.ips, entry(&t.guest, i)))
        .ok_or(GvtError::Invalid)?;
    if ge & PTE_PRESENT == 0 {
        return Ok(());
    }
    let unsupported = Fault::Entry {
        gfn: table,
        level,
        index: u16::try_from(i).unwrap_or(u16::MAX),
        value: ge,
    };
    let gfn = (ge & ADDR_MASK) >> 12;
    let flags = ge & !ADDR_MASK;
    let se = match level {
        4 if ge & PTE_PS == 0 => flags | child(env, gfn, 3, false)?,
        3 if ge & PTE_PS == 0 => flags | child(env, gfn, 2, false)?,
        2 if ge & PTE_PS != 0 => {
            if gfn % 512 != 0 {
                return Err(unsupported);
            }
            flags | (map_page(env.mpt, gfn, SIZE_2M, 2)? & ADDR_MASK)
        }
        2 => {
            let ips = env.ips && ge & PDE_IPS_64K != 0;
            (flags & !PDE_IPS_64K) | child(env, gfn, 1, ips)?
        }
        1 if ips => {
            if i % PAGES_64K != 0 {
                // Only the first entry of each 16 describes a 64 KiB page.
                return Ok(());
            }
            for k in 0..PAGES_64K {
                let dma = map_page(env.mpt, gfn.wrapping_add(usize_as_u64(k)), 4096, 1)?;
                if let Some(t) = env.spts.get_mut(s) {
                    set_entry(&mut t.shadow, i.wrapping_add(k), flags | (dma & ADDR_MASK));
                }
            }
            return Ok(());
        }
        1 => flags | (map_page(env.mpt, gfn, 4096, 1)? & ADDR_MASK),
        // 1 GiB pages and huge PML4 entries are not supported.
        _ => return Err(unsupported),
    };
    if let Some(t) = env.spts.get_mut(s) {
        set_entry(&mut t.shadow, i, se);
    }
    Ok(())
}

fn child(env: &mut Env<'_>, gfn: u64, level: u8, ips: bool) -> Result<u64> {
    let c = shadow(env, gfn, level, ips)?;
    Ok(env
        .spts
        .get(c)
        .map(|t| t.meta.host)
        .ok_or(GvtError::Invalid)?)
}

/// Maps the guest page (`size` bytes) at `gfn`, which an entry of a level-`level` table maps,
/// for the GPU: its DMA address.
fn map_page(mpt: &mut dyn MptOps, gfn: u64, size: u64, level: u8) -> Result<u64> {
    mpt.dma_map_guest_page(gfn, size)
        .map_err(|err| Fault::Page { gfn, level, err })
}

/// Drops what one shadow entry of a level-`level` table holds: a DMA mapping or a reference
/// to a child table.
fn release_entry(env: &mut Env<'_>, level: u8, se: u64) {
    if se & PTE_PRESENT == 0 {
        return;
    }
    let addr = se & ADDR_MASK;
    if level == 1 || (level == 2 && se & PTE_PS != 0) {
        env.mpt.dma_unmap_guest_page(addr);
    } else if let Some(c) = env.spts.by_host(addr) {
        release(env, c);
    }
}

/// The shadow entries guest entry `i` of table `s` owns: (first, count).
fn span(meta: &SptMeta, i: usize) -> (usize, usize) {
    if meta.level == 1 && meta.ips {
        (i.wrapping_sub(i % PAGES_64K), PAGES_64K)
    } else {
        (i, 1)
    }
}

/// Clears the shadow entries of guest entry `i` of table `s`; returns what they held.
fn take(env: &mut Env<'_>, s: usize, i: usize) -> [u64; PAGES_64K] {
    let mut old = [0u64; PAGES_64K];
    if let Some(t) = env.spts.get_mut(s) {
        let (first, n) = span(&t.meta, i);
        for (o, k) in old.iter_mut().zip(0usize..).take(n) {
            *o = entry(&t.shadow, first.wrapping_add(k));
            set_entry(&mut t.shadow, first.wrapping_add(k), 0);
        }
    }
    old
}

/// Re-shadows guest entry `i` of table `s` from its guest copy: the new entry is built before
/// the old one's mappings are dropped, so a subtree kept by both is never torn down.
fn update(env: &mut Env<'_>, s: usize, i: usize) -> Result {
    let meta = env.spts.get(s).map(|t| t.meta).ok_or(GvtError::Invalid)?;
    if meta.level == 1 && meta.ips && i % PAGES_64K != 0 {
        return Ok(());
    }
    let old = take(env, s, i);
    let built = build(env, s, i);
    if built.is_err() {
        // Forget the guest entry, so that the next re-validation tries it again.
        if let Some(t) = env.spts.get_mut(s) {
            set_entry(&mut t.guest, i, 0);
        }
    }
    for se in old {
        release_entry(env, meta.level, se);
    }
    let (first, n) = span(&meta, i);
    write_back(env, s, first, n)?;
    built
}

/// Unshadows guest entry `i` of table `s` until [`Ppgtt::sync`] re-applies it.
fn defer(env: &mut Env<'_>, s: usize, i: usize) {
    let Some(meta) = env.spts.get(s).map(|t| t.meta) else {
        return;
    };
    for se in take(env, s, i) {
        release_entry(env, meta.level, se);
    }
    let (first, n) = span(&meta, i);
    // Host memory is written best effort: the entry is already zero in our copy and the
    // deferred bit makes `sync` rewrite it.
    let _ = write_back(env, s, first, n);
    if let Some(t) = env.spts.get_mut(s) {
        if let Some(w) = t.meta.deferred.get_mut(first / 64) {
            *w |= 1u64 << (first % 64);
        }
    }
}

fn write_back(env: &mut Env<'_>, s: usize, i: usize, n: usize) -> Result {
    let Some(t) = env.spts.get(s) else {
        return Err(Fault::Host(GvtError::Invalid));
    };
    let off = i.wrapping_mul(8);
    let bytes = t
        .shadow
        .get(off..off.wrapping_add(n.wrapping_mul(8)))
        .ok_or(GvtError::Invalid)?;
    Ok(env
        .host
        .write_mem(t.meta.host.wrapping_add(usize_as_u64(off)), bytes)?)
}

/// Drops one reference to table `s`; the last one tears its subtree down.
fn release(env: &mut Env<'_>, s: usize) {
    let Some(meta) = env.spts.get(s).map(|t| t.meta) else {
        return;
    };
    if !meta.live {
        return;
    }
    if meta.refs > 1 {
        if let Some(t) = env.spts.get_mut(s) {
            t.meta.refs = meta.refs.wrapping_sub(1);
        }
        return;
    }
    // Mark dead first: a malformed guest tree that loops back to this table must not recurse.
    env.spts.remove(s);
    if let Some(t) = env.spts.get_mut(s) {
        t.meta.live = false;
        t.meta.refs = 0;
    }
    for first in (0..ENTRIES).step_by(RUN) {
        let Some(t) = env.spts.get(s) else { break };
        if zero_run(&t.shadow, first) {
            continue;
        }
        for i in first..first.wrapping_add(RUN) {
            let se = env.spts.get(s).map_or(0, |t| entry(&t.shadow, i));
            release_entry(env, meta.level, se);
        }
    }
    env.host.free_pages(meta.host, 1);
    if meta.tracked && !env.spts.tracked(meta.gfn) {
        env.mpt.page_track_remove(meta.gfn);
    }
}

/// Walks the guest's tables as shadowed (the guest copies the core validated) from the root
/// at `pml4_gpa` to the guest physical address of graphics virtual address `gva`.
pub fn guest_translate(spts: &Pool<'_>, pml4_gpa: u64, gva: u64) -> Option<u64> {
    let mut t = spts.find(pml4_gpa >> 12, 4, false)?;
    for level in (1..=4u8).rev() {
        let shift = 12u32.wrapping_add(9u32.wrapping_mul(u32::from(level).wrapping_sub(1)));
        let idx = usize::try_from(gva.wrapping_shr(shift) & 0x1ff).ok()?;
        let meta = spts.get(t)?.meta;
        let (idx, ips) = if level == 1 && meta.ips {
            (idx.wrapping_sub(idx % PAGES_64K), true)
        } else {
            (idx, false)
        };
        let ge = entry(&spts.get(t)?.guest, idx);
        if ge & PTE_PRESENT == 0 {
            return None;
        }
        let addr = ge & ADDR_MASK;
        if level == 1 {
            let span = if ips {
                usize_as_u64(PAGES_64K) << 12
            } else {
                1 << 12
            };
            return Some(addr | (gva & span.wrapping_sub(1)));
        }
        if level == 2 && ge & PTE_PS != 0 {
            return Some(addr | (gva & (SIZE_2M - 1)));
        }
        let below = level.wrapping_sub(1);
        let ips_child = if level == 2 && ge & PDE_IPS_64K != 0 {
            spts.find(addr >> 12, below, true)
        } else {
            None
        };
        t = ips_child.or_else(|| spts.find(addr >> 12, below, false))?;
    }
    None
}
