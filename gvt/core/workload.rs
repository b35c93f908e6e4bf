//! Workloads: each guest ELSP element becomes a workload that runs on a host shadow context.
//!
//! Why a shadow: the guest's context and ring live in its own memory, where it can change them
//! at any time, and its PPGTT root names guest pages. So at submission the core copies the
//! context image and the ring slice `[head, tail)` once each (bulk reads through the vGPU's
//! GGTT), has the command scanner check (and patch) exactly those bytes, and builds the host's
//! copy: context image with the shadow PPGTT root substituted, ring with the inhibit-context
//! register restore in front. Privileged (GGTT) batches the ring starts are copied as the
//! scanner reaches them and run from host shadows of the scanned bytes (`batch`), the ring's
//! and their batch starts pointed at the shadows. Nothing the guest changes afterwards reaches
//! the host. When the host reports the workload done, its shadows are freed, the context image
//! goes back to the guest with its own root and ring head = tail, then the guest sees its
//! interrupts and CSB events (`execlist`).
//!
//! [`Exec`] is the execution half of one vGPU. It is separate from `Vgpu` because its storage
//! is large and the glue allocates it on its own: shadow tables, the workload queue, a scratch
//! buffer for the bulk copies, the batch arena and the batch shadows' records
//! ([`ExecStorage`]). The glue calls [`Exec::kick`] after the guest's register writes (it
//! picks up ELSP submissions, PVINFO notifications and resets the `Vgpu` latched),
//! [`Exec::dispatch`] when the scheduler gives the vGPU the GPU, [`Exec::complete`] when the
//! host finishes a workload, and [`Exec::page_write`] for a trapped write to a write-protected
//! guest page table.

use super::batch::{self, Copies, Shadow};
use super::cmd_scanner::{self, MAX_BATCHES};
use super::error::{GvtError, Result};
use super::execlist::{self, Desc, Events, Execlist, Plan, Submitted};
use super::host::{Completion, HostExec, HostWorkload};
use super::hw::Platform;
use super::mmio_context;
use super::num::{u32_as_usize, u64_as_usize, usize_as_u64};
use super::ppgtt::pool::{Pool, SptStorage};
use super::ppgtt::{self, Env, Fault, Ppgtt, PAGE};
use super::regs::{Engine, GEN8_GAMW_ECO_DEV_RW_IA, RING_EIR, RING_EMR, RING_HEAD, RING_TAIL};
use super::report::{Cause, Notice, Place, Submission};
use super::resources::Partition;
use super::vgpu::{write_counters, Vgpu, VgpuStorage};
use crate::mpt::MptOps;

/// Longest ring slice one submission may carry (bytes); longer ones are refused as garbage.
pub const MAX_RING_SLICE: usize = 64 << 10;
/// Room in front of the ring slice for the inhibit-context restore.
pub const RESTORE_BYTES: usize = 4096;
/// Pages of a Gen9 logical ring context image: render, and every other engine.
pub const CONTEXT_PAGES_RCS: u32 = 22;
/// See [`CONTEXT_PAGES_RCS`].
pub const CONTEXT_PAGES_OTHER: u32 = 2;
/// Bytes the scratch buffer of [`ExecStorage`] must have: a render context image.
pub const SCRATCH_BYTES: usize = u32_as_usize(CONTEXT_PAGES_RCS) * PAGE;

// Dword indices of register values in the ring context (page 1 of the image).
const CTX_CONTEXT_CONTROL: usize = 0x03;
const CTX_RING_HEAD: usize = 0x05;
const CTX_RING_TAIL: usize = 0x07;
const CTX_RING_START: usize = 0x09;
const CTX_RING_CTL: usize = 0x0b;
/// Dword index of the PML4 address's upper half in the ring context (the host reads the root).
pub const CTX_PDP0_UDW: usize = 0x31;
/// Dword index of its lower half.
pub const CTX_PDP0_LDW: usize = 0x33;
const CTX_RESTORE_INHIBIT: u32 = 1;
/// Bytes of the register state page that hold the ring context the core reads at submission
/// (through `CTX_PDP0_LDW`).
const RING_CONTEXT_BYTES: usize = 0x100;
const HEAD_ADDR: u32 = 0x001f_fffc;
const TAIL_ADDR: u32 = 0x001f_fff8;

/// Pages of `e`'s context image.
pub fn context_pages(e: Engine) -> u32 {
    if e == Engine::Rcs {
        CONTEXT_PAGES_RCS
    } else {
        CONTEXT_PAGES_OTHER
    }
}

/// Guest memory as the command scanner may read it: through the vGPU's GGTT, or through the
/// PPGTT of the workload being scanned (the guest tables as shadowed).
pub trait GuestMem {
    /// Reads `buf.len()` bytes at graphics address `gm`.
    fn read_ggtt(&mut self, gm: u64, buf: &mut [u8]) -> Result;
    /// Reads `buf.len()` bytes at PPGTT address `gva`.
    fn read_ppgtt(&mut self, gva: u64, buf: &mut [u8]) -> Result;
}

/// What a successful scan found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// MI_USER_INTERRUPTs the scanner took out of the commands: the core raises the user
    /// interrupt when the workload has completed.
    pub user_interrupts: u32,
    /// Offset in the ring slice of an invalid instruction: what precedes it runs, then the
    /// engine stops with a command streamer error, as hardware does.
    pub stop_at: Option<u32>,
}

/// Why a command scanner rejected a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanFailure {
    /// A command the guest may not run: what, where and why (the vGPU's failsafe cause).
    Refused(cmd_scanner::ScanError),
    /// The scanner itself failed, not the guest's commands.
    Error(GvtError),
}

impl From<cmd_scanner::ScanError> for ScanFailure {
    fn from(e: cmd_scanner::ScanError) -> ScanFailure {
        ScanFailure::Refused(e)
    }
}

impl From<GvtError> for ScanFailure {
    fn from(e: GvtError) -> ScanFailure {
        ScanFailure::Error(e)
    }
}

/// The command scanner: checks (and may patch) the copied ring slice of a workload, and the
/// batch buffers it copies from `mem` into `batches`, before anything reaches the host. The
/// privileged batches it marks in `batches` ([`Copies::keep`]) are run from shadows of those
/// copies. A failure rejects the workload and puts the vGPU in failsafe.
pub trait CommandScanner {
    /// Scans the ring slice `ring` of a workload on `engine`. A refused command's place is
    /// an offset in `ring`, or in a batch it names.
    fn scan(
        &mut self,
        engine: Engine,
        ring: &mut [u8],
        mem: &mut dyn GuestMem,
        batches: &mut Copies<'_>,
    ) -> core::result::Result<ScanReport, ScanFailure>;
}

/// The Gen9 command scanner (`cmd_scanner`) on the workload path: the ring slice and the
/// privileged (GGTT) batches it starts are scanned from their copies with the register
/// whitelist and the GGTT audit against the vGPU's partition, and every privileged batch is
/// kept for shadowing; PPGTT batches are left to the hardware's PPGTT confinement (upstream's
/// default); LRIs whose value needs the device model are accepted only for MOCS/L3CC (i915
/// loads them from its first request; they live in the context image on the render engine).
pub struct Gen9Scanner {
    platform: Platform,
    part: Partition,
    scan_ppgtt: u8,
}

impl Gen9Scanner {
    /// The scanner for a vGPU with partition `part` on a `platform` GPU.
    pub fn new(platform: Platform, part: Partition) -> Gen9Scanner {
        Gen9Scanner {
            platform,
            part,
            scan_ppgtt: 0,
        }
    }

    /// The engines ([`Engine::mask`] bits) whose PPGTT (non-privileged) batches are loaded and
    /// scanned too: upstream's `scan_nonprivbb` debugfs switch, for finding what a guest's
    /// user space submits. Off by default, as upstream: the hardware confines those batches.
    /// A refused command in one puts the vGPU in failsafe like any other.
    pub fn scan_ppgtt(&self) -> u8 {
        self.scan_ppgtt
    }

    /// Sets [`Gen9Scanner::scan_ppgtt`]; bits of no engine are ignored.
    pub fn set_scan_ppgtt(&mut self, engines: u8) {
        self.scan_ppgtt = Engine::ALL.iter().fold(0, |m, e| m | (e.mask() & engines));
    }
}

impl CommandScanner for Gen9Scanner {
    fn scan(
        &mut self,
        engine: Engine,
        ring: &mut [u8],
        mem: &mut dyn GuestMem,
        batches: &mut Copies<'_>,
    ) -> core::result::Result<ScanReport, ScanFailure> {
        let scanner = cmd_scanner::Scanner::new(
            self.platform,
            engine,
            &self.part,
            cmd_scanner::Policy {
                scan_ppgtt: self.scan_ppgtt & engine.mask() != 0,
            },
        );
        let mut mediate = |w: &cmd_scanner::RegWrite| w.why == cmd_scanner::Mediation::Mocs;
        let (report, stop_at) =
            match scanner.scan_ring(ring, &mut batches.source(mem), &mut mediate) {
                Ok(r) => (r, None),
                // An invalid instruction in the ring is the guest's own error, which hardware
                // reports with a CS error interrupt (i915's live_error_interrupt provokes it): the
                // commands before it are scanned and run, nothing after it.
                Err(e)
                    if e.reason == cmd_scanner::Reason::UnknownCommand
                        && e.at.buf == cmd_scanner::Buf::Ring =>
                {
                    let at = usize::try_from(e.at.offset).map_err(|_| GvtError::Invalid)?;
                    let before = ring.get(..at).ok_or(GvtError::Invalid)?;
                    batches.clear();
                    let r = scanner.scan_ring(before, &mut batches.source(mem), &mut mediate)?;
                    (r, Some(e.at.offset))
                }
                Err(e) => return Err(e.into()),
            };
        for rec in report
            .batches()
            .filter(|b| b.space == cmd_scanner::AddrSpace::Ggtt)
        {
            batches.keep(rec)?;
        }
        Ok(ScanReport {
            user_interrupts: report.user_interrupts,
            stop_at,
        })
    }
}

/// Where a workload is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    /// Slot unused.
    #[default]
    Free,
    /// Waiting for dispatch.
    Queued,
    /// On the host.
    Running,
    /// On the host, but its vGPU was reset or went to failsafe: it completes silently.
    Orphan,
}

/// One workload (a queue slot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    /// Where it is.
    pub state: State,
    engine: Option<Engine>,
    tag: u32,
    order: u64,
    lrca: u64,
    plan: Plan,
    root: usize,
    ctx_host: u64,
    ring_host: u64,
    ring_pages: u32,
    ring_len: u32,
    head: u32,
    tail: u32,
    user_irqs: u32,
    /// Guest ring offset of the invalid instruction the workload stops at, if any.
    stop_at: Option<u32>,
}

/// The storage of an [`Exec`], allocated by the glue.
pub trait ExecStorage {
    /// All three buffers at once.
    fn parts(&mut self) -> ExecParts<'_>;
}

/// An [`ExecStorage`] in any owning slice types: the glue's kernel buffers, the tests'
/// vectors. The one implementation both use.
pub struct ExecBuffers<S, Q, B, H> {
    /// Shadow page-table slots.
    pub spts: S,
    /// Workload slots.
    pub queue: Q,
    /// Scratch, at least [`SCRATCH_BYTES`].
    pub scratch: B,
    /// The batch arena, at least [`batch::ARENA_BYTES`].
    pub batches: B,
    /// Batch shadow records, [`MAX_BATCHES`] per workload slot.
    pub shadows: H,
}

impl<S, Q, B, H> ExecStorage for ExecBuffers<S, Q, B, H>
where
    S: SptStorage,
    Q: core::ops::DerefMut<Target = [Workload]>,
    B: core::ops::DerefMut<Target = [u8]>,
    H: core::ops::DerefMut<Target = [Shadow]>,
{
    fn parts(&mut self) -> ExecParts<'_> {
        ExecParts {
            spts: self.spts.pool(),
            queue: &mut self.queue,
            scratch: &mut self.scratch,
            batches: &mut self.batches,
            shadows: &mut self.shadows,
        }
    }
}

/// The buffers of an [`ExecStorage`]: shadow tables (their number bounds the shadow PPGTT),
/// queue slots (they bound the workloads in flight), at least [`SCRATCH_BYTES`] of scratch,
/// at least [`batch::ARENA_BYTES`] of batch arena, and [`MAX_BATCHES`] shadow records per
/// queue slot.
pub struct ExecParts<'a> {
    /// Shadow page-table slots (8 KiB each) and their indexes.
    pub spts: Pool<'a>,
    /// Workload slots.
    pub queue: &'a mut [Workload],
    /// Scratch for the bulk copies.
    pub scratch: &'a mut [u8],
    /// Where the scanner's batch copies go.
    pub batches: &'a mut [u8],
    /// The shadows of queue slot `i`'s privileged batches are entries `i * MAX_BATCHES..`.
    pub shadows: &'a mut [Shadow],
}

/// The shadow records of queue slot `slot`.
fn shadows_of(shadows: &mut [Shadow], slot: usize) -> Option<&mut [Shadow]> {
    let first = slot.checked_mul(MAX_BATCHES)?;
    shadows.get_mut(first..first.checked_add(MAX_BATCHES)?)
}

/// A submission the core refused: the error for the caller, and the vGPU's failsafe cause
/// (`None`: the host failed with `err`, which [`Exec::kick`] records as [`Submission::Host`]).
struct Refused {
    err: GvtError,
    cause: Option<Cause>,
}

impl From<GvtError> for Refused {
    fn from(err: GvtError) -> Refused {
        Refused { err, cause: None }
    }
}

impl From<Fault> for Refused {
    fn from(f: Fault) -> Refused {
        Refused {
            err: f.into(),
            cause: Some(Cause::Ppgtt(f)),
        }
    }
}

fn refused(err: GvtError, cause: Cause) -> Refused {
    Refused {
        err,
        cause: Some(cause),
    }
}

/// The byte offset in a ring of `size` bytes of the byte `off` of the slice from `head`.
fn ring_offset(head: u32, size: u32, off: u32) -> Option<u32> {
    head.checked_add(off)?.checked_rem(size)
}

/// The failsafe cause of a command refused on `e` in the ring slice from `head` of a ring
/// of `size` bytes.
fn refused_command(e: Engine, head: u32, size: u32, r: &cmd_scanner::ScanError) -> Cause {
    let place = match r.at.buf {
        cmd_scanner::Buf::Ring => {
            Place::Ring(ring_offset(head, size, r.at.offset).unwrap_or(r.at.offset))
        }
        cmd_scanner::Buf::Batch(_) => Place::Batch {
            offset: r.at.offset,
            batch: r.batch,
        },
    };
    Cause::Command {
        engine: e,
        command: r.command,
        header: r.header,
        place,
        reason: r.reason,
    }
}

/// Counters of the execution half.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Workloads created from ELSP elements.
    pub created: u64,
    /// Workloads handed to the host.
    pub dispatched: u64,
    /// Workloads the host completed.
    pub completed: u64,
    /// Of those, per engine ([`Engine::ALL`] order).
    pub completed_per_engine: [u64; 4],
    /// Workloads the host reported hung.
    pub hangs: u64,
    /// Workloads that stopped at an invalid instruction (command streamer errors).
    pub cs_errors: u64,
    /// Submissions refused (bad descriptor, context, ring, PPGTT, scan or batch shadow).
    pub rejected: u64,
    /// Of those, refused by the command scanner.
    pub scan_refusals: u64,
    /// Privileged batches shadowed.
    pub batches_shadowed: u64,
    /// Bytes of privileged batch code shadowed.
    pub batch_bytes: u64,
}

impl ExecStats {
    /// Writes the counters as `key: value` lines (after [`VgpuStats::write_to`]'s in the
    /// debugfs `stats` file). New fields go in the destructuring, which does not compile
    /// without them.
    pub fn write_to(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        let ExecStats {
            created,
            dispatched,
            completed,
            completed_per_engine: [rcs, vcs, bcs, vecs],
            hangs,
            cs_errors,
            rejected,
            scan_refusals,
            batches_shadowed,
            batch_bytes,
        } = *self;
        write_counters(
            out,
            &[
                ("workloads_created", created),
                ("workloads_dispatched", dispatched),
                ("workloads_completed", completed),
                ("workloads_completed_rcs0", rcs),
                ("workloads_completed_vcs0", vcs),
                ("workloads_completed_bcs0", bcs),
                ("workloads_completed_vecs0", vecs),
                ("workload_hangs", hangs),
                ("cs_errors", cs_errors),
                ("submissions_rejected", rejected),
                ("scan_refusals", scan_refusals),
                ("batches_shadowed", batches_shadowed),
                ("batch_bytes_shadowed", batch_bytes),
            ],
        )
    }
}

/// The execution half of one vGPU.
pub struct Exec<T> {
    store: T,
    ppgtt: Ppgtt,
    execlists: [Execlist; 4],
    order: u64,
    tag: u32,
    stats: ExecStats,
    /// Engines stopped by a command streamer error until the guest resets them.
    stalled: u8,
}

fn engine_index(e: Engine) -> usize {
    match e {
        Engine::Rcs => 0,
        Engine::Vcs => 1,
        Engine::Bcs => 2,
        Engine::Vecs => 3,
    }
}

/// Whether the guest enabled 64 KiB pages (all four IPS bits of GAMW_ECO_DEV_RW_IA).
fn ips_enabled<S: VgpuStorage>(vgpu: &Vgpu<S>) -> bool {
    GEN8_GAMW_ECO_DEV_RW_IA(vgpu.vreg(GEN8_GAMW_ECO_DEV_RW_IA::OFFSET))
        .get(GEN8_GAMW_ECO_DEV_RW_IA::GAMW_ECO_ENABLE_64K_IPS_FIELD)
        == 0xf
}

fn dword(buf: &[u8], i: usize) -> u32 {
    let o = i.wrapping_mul(4);
    buf.get(o..o.wrapping_add(4))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes)
}

fn set_dword(buf: &mut [u8], i: usize, v: u32) {
    let o = i.wrapping_mul(4);
    if let Some(b) = buf.get_mut(o..o.wrapping_add(4)) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// Copies `len` bytes between guest graphics memory at `gm` and `buf`, one hypervisor call
/// per run of guest-physically contiguous pages.
fn ggtt_copy<S: VgpuStorage>(
    vgpu: &Vgpu<S>,
    mpt: &mut dyn MptOps,
    gm: u64,
    buf: &mut [u8],
    write: bool,
) -> Result {
    let mut done = 0usize;
    while done < buf.len() {
        let at = gm.checked_add(usize_as_u64(done)).ok_or(GvtError::Fault)?;
        let gpa = vgpu.gm_to_gpa(at).ok_or(GvtError::Fault)?;
        // Extend the run while the next page follows in guest physical memory.
        let mut run = PAGE
            .wrapping_sub(u64_as_usize(at & 0xfff))
            .min(buf.len().wrapping_sub(done));
        while done.wrapping_add(run) < buf.len() {
            let next = at.wrapping_add(usize_as_u64(run));
            if vgpu.gm_to_gpa(next) != Some(gpa.wrapping_add(usize_as_u64(run))) {
                break;
            }
            run = run.wrapping_add(PAGE).min(buf.len().wrapping_sub(done));
        }
        let chunk = buf
            .get_mut(done..done.wrapping_add(run))
            .ok_or(GvtError::Fault)?;
        if write {
            mpt.write_gpa(gpa, chunk)?;
        } else {
            mpt.read_gpa(gpa, chunk)?;
        }
        done = done.wrapping_add(run);
    }
    Ok(())
}

struct View<'a, S> {
    vgpu: &'a Vgpu<S>,
    mpt: &'a mut dyn MptOps,
    spts: &'a Pool<'a>,
    pml4: u64,
}

impl<S: VgpuStorage> GuestMem for View<'_, S> {
    fn read_ggtt(&mut self, gm: u64, buf: &mut [u8]) -> Result {
        ggtt_copy(self.vgpu, self.mpt, gm, buf, false)
    }

    fn read_ppgtt(&mut self, gva: u64, buf: &mut [u8]) -> Result {
        let mut done = 0usize;
        while done < buf.len() {
            let at = gva.checked_add(usize_as_u64(done)).ok_or(GvtError::Fault)?;
            let gpa = ppgtt::guest_translate(self.spts, self.pml4, at).ok_or(GvtError::Fault)?;
            let run = PAGE
                .wrapping_sub(u64_as_usize(at & 0xfff))
                .min(buf.len().wrapping_sub(done));
            self.mpt.read_gpa(
                gpa,
                buf.get_mut(done..done.wrapping_add(run))
                    .ok_or(GvtError::Fault)?,
            )?;
            done = done.wrapping_add(run);
        }
        Ok(())
    }
}

impl<T: ExecStorage> Exec<T> {
    /// The execution half over `store`; `Invalid` if its scratch is smaller than
    /// [`SCRATCH_BYTES`], its batch arena smaller than [`batch::ARENA_BYTES`], it has no queue
    /// slot or fewer than [`MAX_BATCHES`] shadow records per slot.
    pub fn new(mut store: T) -> core::result::Result<Exec<T>, (GvtError, T)> {
        let p = store.parts();
        let records = p.queue.len().checked_mul(MAX_BATCHES);
        if p.scratch.len() < SCRATCH_BYTES
            || p.batches.len() < batch::ARENA_BYTES
            || p.queue.is_empty()
            || records.filter(|&n| p.shadows.len() >= n).is_none()
        {
            return Err((GvtError::Invalid, store));
        }
        Ok(Exec {
            store,
            ppgtt: Ppgtt::default(),
            execlists: [Execlist::default(); 4],
            order: 0,
            tag: 0,
            stats: ExecStats::default(),
            stalled: 0,
        })
    }

    /// Counters.
    pub fn stats(&self) -> &ExecStats {
        &self.stats
    }

    /// The shadow PPGTT's counters.
    pub fn ppgtt_stats(&self) -> &ppgtt::PpgttStats {
        self.ppgtt.stats()
    }

    /// Shadowed PPGTT roots.
    pub fn ppgtt_roots(&mut self) -> usize {
        self.ppgtt.roots()
    }

    /// Shadow tables in use.
    pub fn shadow_tables(&mut self) -> usize {
        self.store.parts().spts.live()
    }

    /// Hands the shadow table events since the last call to `f` and returns how many were
    /// dropped; `on` says whether to keep recording them (`ppgtt::log`).
    pub fn spt_events(&mut self, on: bool, f: impl FnMut(&ppgtt::log::SptEvent)) -> u64 {
        self.store.parts().spts.drain_events(on, f)
    }

    /// Engines with a workload on the host.
    pub fn busy(&mut self) -> u8 {
        self.store
            .parts()
            .queue
            .iter()
            .filter(|w| matches!(w.state, State::Running | State::Orphan))
            .filter_map(|w| w.engine)
            .fold(self.stalled, |m, e| m | e.mask())
    }

    /// The engines stopped by a command streamer error, waiting for the guest to reset them.
    pub fn stalled(&self) -> u8 {
        self.stalled
    }

    /// Whether workload `tag` on `engine` is on the host and still wanted: not orphaned by an
    /// engine or vGPU reset. A host that runs workloads in slices stops one that is not.
    pub fn running(&mut self, engine: Engine, tag: u32) -> bool {
        self.store
            .parts()
            .queue
            .iter()
            .any(|w| w.state == State::Running && w.tag == tag && w.engine == Some(engine))
    }

    /// Whether workloads wait for dispatch.
    pub fn has_queued(&mut self) -> bool {
        self.store
            .parts()
            .queue
            .iter()
            .any(|w| w.state == State::Queued)
    }

    /// Gives the storage back, after [`Exec::reset`] freed what it held on the host.
    pub fn into_storage(self) -> T {
        self.store
    }

    /// Whether nothing lives in the storage any more (no shadow table, workload or batch
    /// shadow), as after [`Exec::reset`] with the host done: then it may back a new `Exec`,
    /// unzeroed.
    pub fn is_clean(&mut self) -> bool {
        let p = self.store.parts();
        p.spts.live() == 0
            && p.queue.iter().all(|w| w.state == State::Free)
            && p.shadows.iter().all(|s| s.pages == 0)
    }

    fn env<'a>(
        parts: &'a mut ExecParts<'_>,
        host: &'a dyn HostExec,
        mpt: &'a mut dyn MptOps,
        ips: bool,
    ) -> Result<Env<'a>> {
        let scratch = parts
            .scratch
            .first_chunk_mut::<PAGE>()
            .ok_or(GvtError::Invalid)?;
        Ok(Env {
            spts: parts.spts.reborrow(),
            scratch,
            host,
            mpt,
            ips,
        })
    }

    /// Picks up what the guest's register writes latched in `vgpu`: resets, PVINFO PPGTT
    /// notifications, ELSP submissions (each element becomes a queued workload, scanned by
    /// `scanner`, and the engine acknowledges the submission in the CSB at once). A
    /// submission the core cannot run puts the vGPU in failsafe, with what was wrong as the
    /// cause (`report::Cause`), and its error comes back. A CSB report that could not reach
    /// the guest's HWSP (or raise its interrupt) comes back as an error too, without
    /// failsafe, as at completion.
    pub fn kick<S: VgpuStorage>(
        &mut self,
        vgpu: &mut Vgpu<S>,
        host: &dyn HostExec,
        mpt: &mut dyn MptOps,
        scanner: &mut dyn CommandScanner,
    ) -> Result {
        let req = vgpu.take_exec_requests();
        for &e in &Engine::ALL {
            if req.engine_resets & e.mask() != 0 {
                self.drop_engine(host, Some(e));
            }
        }
        if req.full_reset {
            self.reset(host, mpt);
        }
        let ips = ips_enabled(vgpu);
        while let Some((create, pml4)) = vgpu.take_g2v() {
            let mut parts = self.store.parts();
            let mut env = Self::env(&mut parts, host, mpt, ips)?;
            if create {
                // A notification names a tree to shadow early; failing here is not fatal, the
                // submission that uses it will report.
                let _ = self.ppgtt.notify_create(&mut env, pml4);
            } else {
                self.ppgtt.notify_destroy(&mut env, pml4);
            }
        }
        let mut result = Ok(());
        for &e in &Engine::ALL {
            let Some([d0, d1]) = vgpu.take_submission(e) else {
                continue;
            };
            if vgpu.failsafe().is_some() {
                continue;
            }
            match self.submit(vgpu, host, mpt, scanner, e, Desc(d0), Desc(d1), ips) {
                // Accepted: the engine acknowledges it now. A HWSP the guest left unmapped
                // only costs it the mirror, as at completion.
                Ok(ev) => {
                    let el = self
                        .execlists
                        .get(engine_index(e))
                        .copied()
                        .unwrap_or_default();
                    if let Err(err) = execlist::report(vgpu, mpt, e, &el, ev.as_slice()) {
                        result = Err(err);
                    }
                }
                Err(r) => {
                    self.stats.rejected = self.stats.rejected.saturating_add(1);
                    if matches!(r.cause, Some(Cause::Command { .. })) {
                        self.stats.scan_refusals = self.stats.scan_refusals.saturating_add(1);
                    }
                    vgpu.enter_failsafe(r.cause.unwrap_or(Cause::Submission {
                        engine: e,
                        what: Submission::Host(r.err),
                    }));
                    result = Err(r.err);
                }
            }
        }
        if vgpu.failsafe().is_some() {
            self.drop_engine(host, None);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn submit<S: VgpuStorage>(
        &mut self,
        vgpu: &mut Vgpu<S>,
        host: &dyn HostExec,
        mpt: &mut dyn MptOps,
        scanner: &mut dyn CommandScanner,
        e: Engine,
        d0: Desc,
        d1: Desc,
        ips: bool,
    ) -> core::result::Result<Events, Refused> {
        let why = |what| Cause::Submission { engine: e, what };
        let check = |d: Desc| {
            d.check()
                .map_err(|err| refused(err, why(Submission::Descriptor(d.0))))
        };
        check(d0)?;
        let d1 = if d1.valid() {
            check(d1).map(|()| Some(d1))?
        } else {
            None
        };
        let el = self
            .execlists
            .get_mut(engine_index(e))
            .ok_or(GvtError::Invalid)?;
        let mut probe = *el;
        let (sub, events) = probe
            .submit(d0, d1)
            .map_err(|err| refused(err, why(Submission::SlotsBusy)))?;
        let plans = match sub {
            Submitted::Slot(p) | Submitted::LiteRestore(p) => p,
        };
        let mut made = [None; 2];
        // A bounded index: an open `0usize..` carries an overflow check (a panic path) that
        // the optimizer does not always see through.
        for ((&d, &plan), i) in [Some(d0), d1].iter().zip(plans.iter()).zip(0..made.len()) {
            let (Some(d), Some(plan)) = (d, plan) else {
                continue;
            };
            match self.create(vgpu, host, mpt, scanner, e, d, plan, ips) {
                Ok(slot) => {
                    if let Some(m) = made.get_mut(i) {
                        *m = Some(slot);
                    }
                }
                Err(err) => {
                    for &slot in made.iter().flatten() {
                        self.free(host, slot);
                    }
                    return Err(err);
                }
            }
        }
        if let Submitted::LiteRestore(_) = sub {
            self.mark_lite(e, d0.ctx_id(), made.first().copied().flatten());
        }
        if let Some(el) = self.execlists.get_mut(engine_index(e)) {
            *el = probe;
        }
        Ok(events)
    }

    /// Marks the newest earlier workload of context `ctx_id` on `e` as followed by a lite
    /// restore.
    fn mark_lite(&mut self, e: Engine, ctx_id: u32, except: Option<usize>) {
        let parts = self.store.parts();
        let newest = parts
            .queue
            .iter_mut()
            .zip(0usize..)
            .filter(|(w, i)| {
                Some(*i) != except
                    && matches!(w.state, State::Queued | State::Running)
                    && w.engine == Some(e)
                    && w.plan.ctx_id == ctx_id
            })
            .max_by_key(|(w, _)| w.order);
        if let Some((w, _)) = newest {
            w.plan.lite_next = true;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create<S: VgpuStorage>(
        &mut self,
        vgpu: &mut Vgpu<S>,
        host: &dyn HostExec,
        mpt: &mut dyn MptOps,
        scanner: &mut dyn CommandScanner,
        e: Engine,
        d: Desc,
        plan: Plan,
        ips: bool,
    ) -> core::result::Result<usize, Refused> {
        let why = |what| Cause::Submission { engine: e, what };
        let pages = context_pages(e);
        let ctx_bytes = u32_as_usize(pages).wrapping_sub(1).wrapping_mul(PAGE);
        let lrca = d.lrca();
        // The previous workload of this context ends where this one starts: the guest's
        // context image may not have been written back yet.
        let prev_tail = {
            let parts = self.store.parts();
            parts
                .queue
                .iter()
                .filter(|w| {
                    matches!(w.state, State::Queued | State::Running)
                        && w.lrca == lrca
                        && w.engine == Some(e)
                })
                .max_by_key(|w| w.order)
                .map(|w| w.tail)
        };
        let slot = self
            .store
            .parts()
            .queue
            .iter()
            .position(|w| w.state == State::Free)
            .ok_or_else(|| refused(GvtError::Busy, why(Submission::QueueFull)))?;
        let mut parts = self.store.parts();
        // The ring context at the start of the register state page; the whole image is copied
        // once the PPGTT is in step (which may read guest tables through the scratch page).
        let mut ring_ctx = [0u8; RING_CONTEXT_BYTES];
        ggtt_copy(
            vgpu,
            mpt,
            lrca.wrapping_add(usize_as_u64(PAGE)),
            &mut ring_ctx,
            false,
        )
        .map_err(|err| refused(err, why(Submission::Context { lrca, err })))?;
        let img = &ring_ctx[..];
        let ctl = dword(img, CTX_RING_CTL);
        let size = ((ctl >> 12) & 0x1ff).wrapping_add(1).wrapping_mul(4096);
        let start = u64::from(dword(img, CTX_RING_START) & 0xffff_f000);
        let head = prev_tail.unwrap_or(dword(img, CTX_RING_HEAD) & HEAD_ADDR);
        let tail = dword(img, CTX_RING_TAIL) & TAIL_ADDR;
        if ctl & 1 == 0
            || head >= size
            || tail >= size
            || !vgpu.partition().owns_gm(start, u64::from(size))
        {
            return Err(refused(
                GvtError::Invalid,
                why(Submission::Ring {
                    lrca,
                    start,
                    ctl,
                    head,
                    tail,
                }),
            ));
        }
        let bytes = if tail >= head {
            tail.wrapping_sub(head)
        } else {
            size.wrapping_sub(head).wrapping_add(tail)
        };
        let len = usize::try_from(bytes).map_err(|_| GvtError::Invalid)?;
        if len > MAX_RING_SLICE {
            return Err(refused(
                GvtError::Invalid,
                why(Submission::RingTooLong { lrca, len: bytes }),
            ));
        }
        let pml4 =
            (u64::from(dword(img, CTX_PDP0_UDW)) << 32) | u64::from(dword(img, CTX_PDP0_LDW));
        let inhibit = dword(img, CTX_CONTEXT_CONTROL) & CTX_RESTORE_INHIBIT != 0;

        // Shadow the PPGTT and bring its tree in step (the scan reads the guest's tables
        // through it), then build the host context image.
        let (root, root_host) = {
            let mut env = Self::env(&mut parts, host, mpt, ips)?;
            let (root, root_host) = self.ppgtt.pin(&mut env, pml4)?;
            if let Err(fault) = self.ppgtt.sync(&mut env, &[root]) {
                self.ppgtt.unpin(root);
                return Err(fault.into());
            }
            (root, root_host)
        };
        let ctx_host = match host.alloc_pages(pages) {
            Ok(a) => a,
            Err(err) => {
                self.ppgtt.unpin(root);
                return Err(err.into());
            }
        };
        let built = self.build(
            vgpu, host, mpt, scanner, e, slot, lrca, ctx_host, ctx_bytes, pml4, root_host, head,
            len, start, size, inhibit,
        );
        let (ring_host, ring_pages, ring_len, user_irqs, stop_at) = match built {
            Ok(x) => x,
            Err(err) => {
                host.free_pages(ctx_host, pages);
                self.ppgtt.unpin(root);
                return Err(err);
            }
        };
        self.order = self.order.wrapping_add(1);
        self.tag = self.tag.wrapping_add(1);
        let w = Workload {
            state: State::Queued,
            engine: Some(e),
            tag: self.tag,
            order: self.order,
            lrca,
            plan,
            root,
            ctx_host,
            ring_host,
            ring_pages,
            ring_len,
            head,
            tail,
            user_irqs,
            stop_at,
        };
        if let Some(q) = self.store.parts().queue.get_mut(slot) {
            *q = w;
        }
        self.stats.created = self.stats.created.saturating_add(1);
        Ok(slot)
    }

    /// Writes the host context image (the guest's at `lrca`, copied through scratch) and builds
    /// the scanned host ring, with the shadows of its privileged batches recorded for queue
    /// slot `slot`.
    #[allow(clippy::too_many_arguments)]
    fn build<S: VgpuStorage>(
        &mut self,
        vgpu: &mut Vgpu<S>,
        host: &dyn HostExec,
        mpt: &mut dyn MptOps,
        scanner: &mut dyn CommandScanner,
        e: Engine,
        slot: usize,
        lrca: u64,
        ctx_host: u64,
        ctx_bytes: usize,
        pml4: u64,
        root_host: u64,
        head: u32,
        len: usize,
        start: u64,
        size: u32,
        inhibit: bool,
    ) -> core::result::Result<(u64, u32, u32, u32, Option<u32>), Refused> {
        let why = |what| Cause::Submission { engine: e, what };
        let parts = self.store.parts();
        let img = parts
            .scratch
            .get_mut(..ctx_bytes)
            .ok_or(GvtError::Invalid)?;
        ggtt_copy(vgpu, mpt, lrca.wrapping_add(usize_as_u64(PAGE)), img, false)
            .map_err(|err| refused(err, why(Submission::Context { lrca, err })))?;
        let ring_len = u32::try_from(len).map_err(|_| GvtError::Invalid)?;
        set_dword(img, CTX_RING_HEAD, 0);
        set_dword(img, CTX_RING_TAIL, ring_len);
        let [l0, l1, l2, l3, h0, h1, h2, h3] = root_host.to_le_bytes();
        set_dword(img, CTX_PDP0_UDW, u32::from_le_bytes([h0, h1, h2, h3]));
        set_dword(img, CTX_PDP0_LDW, u32::from_le_bytes([l0, l1, l2, l3]));
        host.write_mem(ctx_host.wrapping_add(usize_as_u64(PAGE)), img)?;

        // Ring: [restore][guest slice], the slice copied in at most two pieces (wrap).
        let prefix = match parts.scratch.get_mut(..RESTORE_BYTES) {
            Some(out) if inhibit => mmio_context::restore_inhibit(e, |r| vgpu.vreg(r), out),
            _ => 0,
        };
        let total = prefix.checked_add(len).ok_or(GvtError::Invalid)?;
        let slice = parts
            .scratch
            .get_mut(prefix..total)
            .ok_or(GvtError::Invalid)?;
        let first =
            len.min(usize::try_from(size.wrapping_sub(head)).map_err(|_| GvtError::Invalid)?);
        let (a, b) = slice.split_at_mut(first);
        let unreadable = |err| refused(err, why(Submission::RingUnreadable { lrca, start, err }));
        ggtt_copy(vgpu, mpt, start.wrapping_add(u64::from(head)), a, false).map_err(unreadable)?;
        ggtt_copy(vgpu, mpt, start, b, false).map_err(unreadable)?;
        let mut copies = Copies::new(parts.batches);
        let report = {
            let mut view = View {
                vgpu,
                mpt,
                spts: &parts.spts,
                pml4,
            };
            scanner.scan(e, slice, &mut view, &mut copies)
        };
        let report = report.map_err(|f| match f {
            ScanFailure::Refused(r) => {
                refused(GvtError::Invalid, refused_command(e, head, size, &r))
            }
            ScanFailure::Error(err) => Refused::from(err),
        })?;
        // A workload that stops at an invalid instruction runs only what precedes it.
        let invalid = report
            .stop_at
            .map(|off| dword(slice, u32_as_usize(off / 4)));
        let run = match report.stop_at {
            Some(off) => usize::try_from(off)
                .map_err(|_| GvtError::Invalid)?
                .min(len),
            None => len,
        };
        let total = prefix.checked_add(run).ok_or(GvtError::Invalid)?;
        let slice = parts
            .scratch
            .get_mut(prefix..total)
            .ok_or(GvtError::Invalid)?;
        let stop = match report.stop_at {
            Some(off) => Some(ring_offset(head, size, off).ok_or(GvtError::Invalid)?),
            None => None,
        };
        let host_len = u32::try_from(total).map_err(|_| GvtError::Invalid)?;
        let shadows = shadows_of(parts.shadows, slot).ok_or(GvtError::Invalid)?;
        batch::shadow(&mut copies, slice, host, shadows)?;
        let (ring_host, pages) =
            match Self::host_ring(host, parts.scratch.get(..total).ok_or(GvtError::Invalid)?) {
                Ok(r) => r,
                Err(err) => {
                    batch::release(host, shadows);
                    return Err(err.into());
                }
            };
        for s in shadows.iter().filter(|s| s.pages != 0) {
            self.stats.batches_shadowed = self.stats.batches_shadowed.saturating_add(1);
            self.stats.batch_bytes = self.stats.batch_bytes.saturating_add(u64::from(s.len));
        }
        if let (Some(ring_offset), Some(header)) = (stop, invalid) {
            vgpu.notice(Notice::InvalidCommand {
                engine: e,
                ring_offset,
                header,
            });
        }
        Ok((ring_host, pages, host_len, report.user_interrupts, stop))
    }

    /// The shadow ring: `bytes` in fresh host pages.
    fn host_ring(host: &dyn HostExec, bytes: &[u8]) -> Result<(u64, u32)> {
        let pages =
            u32::try_from(bytes.len().div_ceil(PAGE).max(1)).map_err(|_| GvtError::Invalid)?;
        let ring_host = host.alloc_pages(pages)?;
        if let Err(err) = host.write_mem(ring_host, bytes) {
            host.free_pages(ring_host, pages);
            return Err(err);
        }
        Ok((ring_host, pages))
    }

    fn free(&mut self, host: &dyn HostExec, slot: usize) {
        let Some(w) = self.store.parts().queue.get(slot).copied() else {
            return;
        };
        if w.state == State::Free {
            return;
        }
        if let Some(e) = w.engine {
            host.free_pages(w.ctx_host, context_pages(e));
        }
        host.free_pages(w.ring_host, w.ring_pages);
        if let Some(shadows) = shadows_of(self.store.parts().shadows, slot) {
            batch::release(host, shadows);
        }
        self.ppgtt.unpin(w.root);
        if let Some(q) = self.store.parts().queue.get_mut(slot) {
            *q = Workload::default();
        }
    }

    /// Drops the queued workloads of `engine` (all engines for `None`) and forgets their
    /// execlist state; workloads on the host complete silently.
    fn drop_engine(&mut self, host: &dyn HostExec, engine: Option<Engine>) {
        let n = self.store.parts().queue.len();
        for slot in 0..n {
            let Some(w) = self.store.parts().queue.get(slot).copied() else {
                continue;
            };
            if engine.is_some() && w.engine != engine {
                continue;
            }
            match w.state {
                State::Queued => self.free(host, slot),
                State::Running => {
                    if let Some(q) = self.store.parts().queue.get_mut(slot) {
                        q.state = State::Orphan;
                    }
                }
                State::Free | State::Orphan => {}
            }
        }
        for &e in &Engine::ALL {
            if engine.is_none() || engine == Some(e) {
                if let Some(el) = self.execlists.get_mut(engine_index(e)) {
                    el.reset();
                }
                self.stalled &= !e.mask();
            }
        }
    }

    /// Drops every queued workload and every shadow PPGTT not in use by a workload on the
    /// host (vGPU reset; before destruction, once the host has no workload of the vGPU).
    pub fn reset(&mut self, host: &dyn HostExec, mpt: &mut dyn MptOps) {
        self.drop_engine(host, None);
        let mut parts = self.store.parts();
        if let Ok(mut env) = Self::env(&mut parts, host, mpt, false) {
            self.ppgtt.forget_unpinned(&mut env);
        }
    }

    /// Hands the oldest queued workload of every idle engine to the host, after bringing the
    /// shadow PPGTT trees they run on in step with the guest (deferred writes, untracked
    /// tables). Returns the
    /// engines started. A shadow that cannot be brought in step puts the vGPU in failsafe.
    pub fn dispatch<S: VgpuStorage>(
        &mut self,
        vgpu: &mut Vgpu<S>,
        host: &dyn HostExec,
        mpt: &mut dyn MptOps,
    ) -> Result<u8> {
        if vgpu.failsafe().is_some() {
            self.drop_engine(host, None);
            return Ok(0);
        }
        let busy = self.busy();
        let mut picks = [None; 4];
        {
            let parts = self.store.parts();
            for &e in &Engine::ALL {
                if busy & e.mask() != 0 {
                    continue;
                }
                let oldest = parts
                    .queue
                    .iter()
                    .zip(0usize..)
                    .filter(|(w, _)| w.state == State::Queued && w.engine == Some(e))
                    .min_by_key(|(w, _)| w.order)
                    .map(|(_, i)| i);
                if let Some(p) = picks.get_mut(engine_index(e)) {
                    *p = oldest;
                }
            }
        }
        if picks.iter().all(Option::is_none) {
            return Ok(0);
        }
        let ips = ips_enabled(vgpu);
        let synced = {
            let mut parts = self.store.parts();
            let mut roots = [usize::MAX; 4];
            for (r, &slot) in roots.iter_mut().zip(picks.iter()) {
                if let Some(w) = slot.and_then(|i| parts.queue.get(i)) {
                    *r = w.root;
                }
            }
            Self::env(&mut parts, host, mpt, ips)
                .map_err(Fault::from)
                .and_then(|mut env| self.ppgtt.sync(&mut env, &roots))
        };
        if let Err(fault) = synced {
            vgpu.enter_failsafe(Cause::Ppgtt(fault));
            self.drop_engine(host, None);
            return Err(fault.into());
        }
        let mut started = 0u8;
        for &slot in picks.iter().flatten() {
            let Some(w) = self.store.parts().queue.get(slot).copied() else {
                continue;
            };
            let Some(e) = w.engine else { continue };
            let hw = HostWorkload {
                vgpu: vgpu.id().get(),
                engine: e,
                tag: w.tag,
                context: w.ctx_host,
                context_pages: context_pages(e),
                ring: w.ring_host,
                ring_len: w.ring_len,
            };
            host.submit(&hw)?;
            if let Some(q) = self.store.parts().queue.get_mut(slot) {
                q.state = State::Running;
            }
            self.stats.dispatched = self.stats.dispatched.saturating_add(1);
            started |= e.mask();
        }
        Ok(started)
    }

    /// The host finished workload `tag` on `engine`. `Done`: the context image goes back to
    /// the guest, then its user interrupts and CSB events arrive. `Hang`: no event at all, and
    /// the engine's other queued workloads are dropped, so the guest's hang check resets it.
    pub fn complete<S: VgpuStorage>(
        &mut self,
        vgpu: &mut Vgpu<S>,
        host: &dyn HostExec,
        mpt: &mut dyn MptOps,
        engine: Engine,
        tag: u32,
        how: Completion,
    ) -> Result {
        let slot = self
            .store
            .parts()
            .queue
            .iter()
            .position(|w| {
                matches!(w.state, State::Running | State::Orphan)
                    && w.tag == tag
                    && w.engine == Some(engine)
            })
            .ok_or(GvtError::NotFound)?;
        let Some(w) = self.store.parts().queue.get(slot).copied() else {
            return Err(GvtError::NotFound);
        };
        if w.state == State::Orphan || vgpu.failsafe().is_some() {
            self.free(host, slot);
            return Ok(());
        }
        if how == Completion::Hang {
            self.stats.hangs = self.stats.hangs.saturating_add(1);
            self.free(host, slot);
            self.drop_engine(host, Some(engine));
            return Ok(());
        }
        self.stats.completed = self.stats.completed.saturating_add(1);
        if let Some(n) = self
            .stats
            .completed_per_engine
            .get_mut(engine_index(engine))
        {
            *n = n.saturating_add(1);
        }
        if let Some(at) = w.stop_at {
            self.free(host, slot);
            return self.stop(vgpu, mpt, engine, at, w.user_irqs);
        }
        let back = self.write_back(vgpu, host, mpt, engine, &w);
        self.free(host, slot);
        back?;
        let base = engine.base();
        vgpu.set_vreg(RING_HEAD::offset(base), w.tail);
        vgpu.set_vreg(RING_TAIL::offset(base), w.tail);
        if w.user_irqs > 0 {
            vgpu.raise_event(mpt, execlist::user_event(engine))?;
        }
        let el = self
            .execlists
            .get_mut(engine_index(engine))
            .ok_or(GvtError::Invalid)?;
        let events = el.complete(&w.plan);
        let el = *el;
        execlist::report(vgpu, mpt, engine, &el, events.as_slice())
    }

    /// The engine ran up to the invalid instruction at guest ring offset `at` and stops there,
    /// as hardware's command streamer does: its head points at it, `RING_EIR` latches the
    /// instruction error unless `RING_EMR` masks it, the CS error interrupt is raised, and no
    /// context switch is reported. The engine takes no more work until the guest resets it
    /// (i915 does so from the interrupt, marking the request guilty).
    fn stop<S: VgpuStorage>(
        &mut self,
        vgpu: &mut Vgpu<S>,
        mpt: &mut dyn MptOps,
        e: Engine,
        at: u32,
        user_irqs: u32,
    ) -> Result {
        self.stats.cs_errors = self.stats.cs_errors.saturating_add(1);
        self.stalled |= e.mask();
        let base = e.base();
        let head = vgpu.vreg(RING_HEAD::offset(base));
        vgpu.set_vreg(RING_HEAD::offset(base), (head & !HEAD_ADDR) | at);
        if user_irqs > 0 {
            vgpu.raise_event(mpt, execlist::user_event(e))?;
        }
        let unmasked = RING_EIR::I915_ERROR_INSTRUCTION.mask() & !vgpu.vreg(RING_EMR::offset(base));
        if unmasked == 0 {
            return Ok(());
        }
        let eir = vgpu.vreg(RING_EIR::offset(base));
        vgpu.set_vreg(RING_EIR::offset(base), eir | unmasked);
        vgpu.raise_event(mpt, execlist::error_event(e))
    }

    /// Copies the host context image back to the guest, but for what the guest owns: its
    /// ring's tail, start and control and its PPGTT root stay as the guest wrote them (a
    /// hardware context save writes the same values back). i915 writes the next tail into the
    /// image before its ELSP write, and this workload may end in between: writing our tail
    /// over it would make that submission empty, as upstream's `update_guest_context` avoids.
    /// The head moves to where this workload ended.
    fn write_back<S: VgpuStorage>(
        &mut self,
        vgpu: &mut Vgpu<S>,
        host: &dyn HostExec,
        mpt: &mut dyn MptOps,
        e: Engine,
        w: &Workload,
    ) -> Result {
        let ctx_bytes = u32_as_usize(context_pages(e))
            .wrapping_sub(1)
            .wrapping_mul(PAGE);
        let regs = w.lrca.wrapping_add(usize_as_u64(PAGE));
        let parts = self.store.parts();
        let img = parts
            .scratch
            .get_mut(..ctx_bytes)
            .ok_or(GvtError::Invalid)?;
        // The head's upper bits (wrap count) are the guest's.
        let mut head = [0u8; 4];
        ggtt_copy(
            vgpu,
            mpt,
            regs.wrapping_add(usize_as_u64(CTX_RING_HEAD.wrapping_mul(4))),
            &mut head,
            false,
        )?;
        host.read_mem(w.ctx_host.wrapping_add(usize_as_u64(PAGE)), img)?;
        set_dword(
            img,
            CTX_RING_HEAD,
            (u32::from_le_bytes(head) & !HEAD_ADDR) | w.tail,
        );
        // Byte ranges written back: all but the tail..control block and the PPGTT root.
        let at = |dw: usize| dw.wrapping_mul(4);
        let spans = [
            (0, at(CTX_RING_TAIL)),
            (at(CTX_RING_CTL.wrapping_add(1)), at(CTX_PDP0_UDW)),
            (at(CTX_PDP0_LDW.wrapping_add(1)), ctx_bytes),
        ];
        for &(from, to) in &spans {
            let bytes = img.get_mut(from..to).ok_or(GvtError::Invalid)?;
            ggtt_copy(
                vgpu,
                mpt,
                regs.wrapping_add(usize_as_u64(from)),
                bytes,
                true,
            )?;
        }
        Ok(())
    }

    /// A trapped guest write of `data` at `gpa` to a write-protected page (see
    /// `MptOps::page_track_add`). `committed`: the hypervisor already wrote it to guest memory
    /// (KVM); if not (ACRN), the core commits it. A write that breaks the shadow (1 GiB page,
    /// unmappable page) puts the vGPU in failsafe.
    pub fn page_write<S: VgpuStorage>(
        &mut self,
        vgpu: &mut Vgpu<S>,
        host: &dyn HostExec,
        mpt: &mut dyn MptOps,
        gpa: u64,
        data: &[u8],
        committed: bool,
    ) -> Result {
        vgpu.count_page_track_write();
        let ips = ips_enabled(vgpu);
        let r = {
            let mut parts = self.store.parts();
            Self::env(&mut parts, host, mpt, ips)
                .map_err(Fault::from)
                .and_then(|mut env| self.ppgtt.page_write(&mut env, gpa, data, committed))
        };
        if let Err(fault) = r {
            vgpu.enter_failsafe(Cause::PageTrackWrite { gpa, fault });
        }
        Ok(r?)
    }
}
