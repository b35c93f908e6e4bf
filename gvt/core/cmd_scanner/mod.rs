//! The command scanner: decides whether a guest's commands may run on the host GPU.
//!
//! A vGPU's ring and privileged batch buffers execute with the host's privileges, so every
//! command in them is decoded and checked before the workload reaches the GPU: the command
//! must exist on that engine (the 225 Gen9 descriptors in [`table`]), fit in its buffer, touch
//! only registers command buffers may touch, and address only the vGPU's own graphics memory.
//!
//! The scanner is pure and allocation-free. It never reads guest memory itself: the caller
//! copies the ring slice once, and each batch buffer through [`BatchSource`] (its start, then
//! more only when a command runs past the copy, every byte copied once); the scanner checks
//! those copies and the caller executes exactly them (privileged batches are run from a shadow
//! copy, see [`BatchRecord`]), so what was scanned is what runs.
//!
//! Batch starts follow the Gen9 command streamer: a batch started from the ring is first-level
//! (a second-level start from the ring is refused, as upstream does); a second-level batch
//! returns to its first-level batch and starts nothing; chaining replaces the current batch; a
//! PPGTT (non-privileged) batch can only start PPGTT batches, whatever its address-space bit
//! says, while a GGTT batch's starts go where their bit says.
//!
//! Interface for the workload code:
//! * [`Scanner::new`] per engine and vGPU partition, then [`Scanner::scan_ring`] over the copied
//!   ring slice `[head, tail)`, or [`Scanner::scan_batch`] over one batch (e.g. an indirect
//!   context).
//! * [`BatchSource`]: loads the batch at a graphics address (GGTT or PPGTT, translated by the
//!   caller) into one of [`MAX_BATCHES`] slots, extends the copy on demand, and hands the bytes
//!   back.
//! * A mediation callback sees every accepted register write the device model must know about
//!   ([`RegWrite`]: write-patched registers, PDP roots, MOCS); returning `false` rejects it.
//! * The result, [`ScanReport`], counts the interrupts the slice raises and lists the batches
//!   scanned, each with where its `MI_BATCH_BUFFER_START` sits so it can be pointed at the shadow.
//! * A rejection, [`ScanError`], names the command and where it is; the vGPU goes to failsafe.
//!
//! Limits (fixed, no allocation): [`MAX_BATCHES`] batch loads per scan (a self-chaining batch
//! runs into it), [`MAX_DEPTH`] levels below the ring, three frames of scan state on the stack.
//! Decoding is one compile-time table indexed by header bits 31:16 (256 KiB of rodata) whose
//! entries hold the length rule, the engines and the descriptor, so commands that need only
//! their length are skipped with one load and no branch; the rest take the checked path.
//!
//! Departures from upstream, all deliberate: `MI_SEMAPHORE_WAIT`, `MI_STORE_DATA_INDEX`,
//! `MI_CLFLUSH`, `MI_COPY_MEM_MEM`, `MI_REPORT_PERF_COUNT` and `MI_CONDITIONAL_BATCH_BUFFER_END`
//! are accepted with their GGTT addresses audited (upstream refuses them all); SRM may read and
//! LRM/LRR may load any command-accessible register that needs no mediation (upstream allows
//! only two registers), and SRM/LRR may read the engine's own ring registers; post-sync depth and timestamp writes of `PIPE_CONTROL` are audited too;
//! `MI_DISPLAY_FLIP` is refused (upstream emulates it; a 6.12 guest flips through MMIO);
//! `MI_RS_STORE_DATA_IMM` and the URB memory commands may not use the GGTT (upstream lets
//! their addresses through unaudited); `MFX_WAIT` is one dword (upstream reads a length field it
//! does not have).

#[rustfmt::skip] // generated: tools/testing/cmd-table/gen.py
pub mod table;

use core::fmt;

use super::host::MMIO_SIZE;
use super::hw::Platform;
use super::mmio_table::{mmio_index, MmioIndex, F_CMD_ACCESS, F_CMD_WRITE_PATCH};
use super::num::{lower_8_bits, u16_as_usize, u32_as_usize, u8_as_u32, u8_as_usize, usize_as_u64};
use super::regs::*;
use super::resources::Partition;

/// How many batch buffers one scan may load (first-level, second-level and chained together).
/// Also bounds a batch that chains to itself: the loop runs out of slots and is refused.
pub const MAX_BATCHES: usize = 16;

/// Nesting levels below the ring: a first-level batch may call one second-level batch.
pub const MAX_DEPTH: u8 = 2;

/// Largest graphics memory range one command may address (upstream's `max_surface_size`).
const MAX_OP_SIZE: u64 = 36 << 20;

/// How a command's length in dwords follows from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    /// Always this many dwords.
    Fixed(u8),
    /// The low `n` bits of the header hold the length minus 2.
    Var(u8),
    /// As [`Len::Var`], and the result must be exactly the second number.
    VarExact(u8, u8),
}

/// The semantic check a command needs beyond its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Nothing: the command cannot reach outside the context.
    None,
    /// `MI_LOAD_REGISTER_IMM`: every register on the whitelist.
    Lri,
    /// `MI_LOAD_REGISTER_REG`: both registers on the whitelist.
    Lrr,
    /// `MI_LOAD_REGISTER_MEM`: register and GGTT source audited.
    Lrm,
    /// `MI_STORE_REGISTER_MEM`: register and GGTT destination audited.
    Srm,
    /// `PIPE_CONTROL`: register and GGTT post-sync writes, notify.
    PipeControl,
    /// `MI_USER_INTERRUPT`: counted.
    UserInterrupt,
    /// `MI_BATCH_BUFFER_START`: followed.
    BatchStart,
    /// `MI_BATCH_BUFFER_END`: returns.
    BatchEnd,
    /// `MI_STORE_DATA_IMM`: GGTT destination audited.
    StoreDataImm,
    /// `MI_ATOMIC`: GGTT operand audited.
    Op2f,
    /// `MI_FLUSH_DW`: GGTT post-sync write audited, notify.
    FlushDw,
    /// Never allowed from a vGPU (`MI_UPDATE_GTT`, `MI_DISPLAY_FLIP`).
    Forbidden,
    /// `MI_SEMAPHORE_WAIT`: GGTT semaphore audited.
    SemaphoreWait,
    /// `MI_CONDITIONAL_BATCH_BUFFER_END`: GGTT operand audited.
    CondBatchEnd,
    /// `MI_REPORT_PERF_COUNT`: GGTT report audited.
    ReportPerfCount,
    /// `MI_STORE_DATA_INDEX`: writes inside the context's status page only.
    StoreDataIndex,
    /// `MI_COPY_MEM_MEM`: both GGTT operands audited.
    Op2e,
    /// `MI_CLFLUSH`: GGTT range audited.
    Clflush,
    /// A memory operand the scanner does not audit (`MI_RS_STORE_DATA_IMM`, `MI_LOAD_URB_MEM`,
    /// `MI_STORE_URB_MEM`): allowed through the PPGTT only.
    PpgttOnly,
}

/// One command descriptor.
#[derive(Clone, Copy, Debug)]
pub struct Desc {
    /// Upstream's name, used in errors.
    pub name: &'static str,
    /// Command type, header bits 31:29 (0 MI, 2 2D, 3 3D/media/MFX/VEBOX).
    pub ty: u8,
    /// Opcode as the engine decodes it (MI: bits 28:23; 2D: 28:22; type 3: 28:16), with the
    /// type bits above it as upstream spells opcodes.
    pub key: u16,
    /// Length rule.
    pub len: Len,
    /// Engines the command is valid on ([`Engine::mask`] bits).
    pub engines: u8,
    /// Semantic check.
    pub check: Check,
}

/// Builds a descriptor (keeps the generated table short).
pub(crate) const fn c(
    name: &'static str,
    ty: u8,
    key: u16,
    len: Len,
    engines: u8,
    check: Check,
) -> Desc {
    Desc {
        name,
        ty,
        key,
        len,
        engines,
        check,
    }
}

impl Desc {
    /// The command's length in dwords for this header, or `None` when the header's length field
    /// contradicts a fixed-length rule.
    #[inline]
    pub fn dwords(&self, header: u32) -> Option<u32> {
        match self.len {
            Len::Fixed(n) => Some(u32::from(n)),
            Len::Var(bits) => Some((header & low_mask(bits)).wrapping_add(2)),
            Len::VarExact(bits, n) => {
                let l = (header & low_mask(bits)).wrapping_add(2);
                (l == u32::from(n)).then_some(l)
            }
        }
    }
}

const fn low_mask(bits: u8) -> u32 {
    match 1u32.checked_shl(u8_as_u32(bits)) {
        Some(v) => v.wrapping_sub(1),
        None => u32::MAX,
    }
}

/// Header and operand bits the checks read, with i915's names (gt/intel_gpu_commands.h;
/// gvt/cmd_parser.c for the batch start's).
mod bits {
    /// MI_BATCH_BUFFER_START: the batch is in the PPGTT (else the GGTT).
    pub(super) const MI_BATCH_PPGTT_HSW: u32 = 1 << 8;
    /// MI_BATCH_BUFFER_START: add the offset register to the address (the Gen9 "add offset
    /// enable"; i915 never sets it).
    pub(super) const MI_BATCH_ADD_OFFSET: u32 = 1 << 16;
    /// MI_BATCH_BUFFER_START: a second-level batch (upstream's `BATCH_BUFFER_2ND_LEVEL_BIT`).
    pub(super) const MI_BATCH_2ND_LEVEL: u32 = 1 << 22;
    /// The address is in the GGTT: MI_STORE_DWORD_IMM, MI_SEMAPHORE_WAIT,
    /// MI_CONDITIONAL_BATCH_BUFFER_END, MI_ATOMIC, MI_CLFLUSH and LRM/SRM
    /// (`MI_SRM_LRM_GLOBAL_GTT`); the source address of MI_COPY_MEM_MEM.
    pub(super) const MI_USE_GGTT: u32 = 1 << 22;
    /// MI_COPY_MEM_MEM: the destination address is in the GGTT.
    pub(super) const MI_COPY_MEM_MEM_DST_GGTT: u32 = 1 << 21;
    /// MI_ATOMIC: the operands follow inline (eleven dwords).
    pub(super) const MI_ATOMIC_INLINE_DATA: u32 = 1 << 18;
    /// PIPE_CONTROL: the post-sync write goes to the GGTT.
    pub(super) const PIPE_CONTROL_GLOBAL_GTT_IVB: u32 = 1 << 24;
    /// PIPE_CONTROL: the post-sync operation writes a register instead of memory.
    pub(super) const PIPE_CONTROL_MMIO_WRITE: u32 = 1 << 23;
    /// PIPE_CONTROL and MI_FLUSH_DW: the address is an index into the status page.
    pub(super) const STORE_DATA_INDEX: u32 = 1 << 21;
    /// PIPE_CONTROL and MI_FLUSH_DW: raise the engine's user interrupt.
    pub(super) const NOTIFY: u32 = 1 << 8;
    /// MI_FLUSH_DW: the post-sync write goes to the GGTT (in the address dword).
    pub(super) const MI_FLUSH_DW_USE_GTT: u32 = 1 << 2;
    /// MI_REPORT_PERF_COUNT: the address is in the GGTT (in the address dword).
    pub(super) const MI_REPORT_PERF_COUNT_GGTT: u32 = 1 << 0;
}
use bits::*;

/// Entries in the decode table: one per value of header bits 31:16, which hold the command
/// type and every opcode bit of every type (MI opcodes are bits 28:23, 2D 28:22,
/// 3D/media/MFX/VEBOX 28:16; the flag bits below an opcode select copies of its entry).
const FLAT_LEN: usize = 1 << 16;

// A decode entry: what the plain path needs in one load.
/// Bits 15:0: the mask of the header's length field (0 for a fixed length).
const E_LEN_MASK: u32 = 0xffff;
/// Bits 17:16: dwords added to the length field (the length of a fixed-length command).
const E_ADD_SHIFT: u32 = 16;
/// Bit 18: the command needs more than its length (a check, an exact length, or another
/// engine's descriptor of the same opcode with a different rule).
const E_SLOW: u32 = 1 << 18;
/// Bits 22:19: the engines the opcode decodes on ([`Engine::mask`] bits).
const E_ENGINE_SHIFT: u32 = 19;
/// Bits 31:24: the descriptor index (its [`Decode::alt`] if the engine is not its).
const E_INDEX_SHIFT: u32 = 24;
/// Descriptor index of "no such command".
const NONE: u8 = u8::MAX;

/// The decode table (header bits 31:16 to entry, 256 KiB) and, for the few opcodes that name
/// different commands on different engines (media on the render engine, MFX on video), each
/// descriptor's sibling. Built at compile time so a command that needs only its length is
/// skipped with one load and no branch.
struct Decode {
    flat: [u32; FLAT_LEN],
    alt: [u8; 256],
}

/// The entry bits a plain command has on `e`: its engine bit, and not [`E_SLOW`].
const fn plain_bits(e: Engine) -> (u32, u32) {
    let bit = u8_as_u32(e.mask()) << E_ENGINE_SHIFT;
    (bit | E_SLOW, bit)
}

/// The engines ([`Engine::mask`] bits) that decode `d`: the blitter decodes 2D and no type 3;
/// only the blitter decodes 2D.
const fn decodes_on(d: &Desc) -> u8 {
    let bcs = Engine::Bcs.mask();
    d.engines
        & match d.ty {
            2 => bcs,
            3 => !bcs,
            _ => 0xf,
        }
}

#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
// Compile-time only: an out-of-range index, a descriptor of an unknown command type, two
// descriptors claiming the same opcode on one engine, or three on one opcode fail the build.
const fn build_decode() -> Decode {
    let mut d = Decode {
        flat: [u8_as_u32(NONE) << E_INDEX_SHIFT; FLAT_LEN],
        alt: [NONE; 256],
    };
    assert!(
        table::DESCS.len() < u8_as_usize(NONE),
        "descriptor index does not fit"
    );
    let mut i = 0;
    while i < table::DESCS.len() {
        let desc = &table::DESCS[i];
        // Length mask and added dwords; a check or an exact length takes the slow path.
        let rule = match desc.len {
            Len::Fixed(n) => {
                assert!(n < 4, "fixed length does not fit the entry");
                u8_as_u32(n) << E_ADD_SHIFT
            }
            Len::Var(bits) => {
                assert!(bits <= 16, "length field does not fit the entry");
                low_mask(bits) | (2 << E_ADD_SHIFT)
            }
            Len::VarExact(..) => E_SLOW,
        } | if matches!(desc.check, Check::None) {
            0
        } else {
            E_SLOW
        };
        let engines = u8_as_u32(decodes_on(desc));
        // The opcode's bits within header bits 31:16, and how many flag bits lie below it.
        assert!(matches!(desc.ty, 0 | 2 | 3), "bad command type");
        let (first, copies) = match desc.ty {
            0 => ((u16_as_usize(desc.key) & 0x3f) << 7, 1 << 7),
            2 => ((2 << 13) | ((u16_as_usize(desc.key) & 0x7f) << 6), 1 << 6),
            _ => ((3 << 13) | (u16_as_usize(desc.key) & 0x1fff), 1),
        };
        let mut c = 0;
        while c < copies {
            let e = d.flat[first + c];
            let other = u32_as_usize(e >> E_INDEX_SHIFT);
            if other == u8_as_usize(NONE) {
                d.flat[first + c] = (u8_as_u32(lower_8_bits(i)) << E_INDEX_SHIFT)
                    | (engines << E_ENGINE_SHIFT)
                    | rule;
            } else {
                let theirs = (e >> E_ENGINE_SHIFT) & 0xf;
                assert!(
                    theirs & engines == 0,
                    "two descriptors for one opcode on one engine"
                );
                assert!(
                    d.alt[other] == NONE || d.alt[other] == lower_8_bits(i),
                    "three descriptors for one opcode"
                );
                d.alt[other] = lower_8_bits(i);
                // One rule serves both engines only if it is the same rule.
                let slow = if e & (E_SLOW | E_LEN_MASK | (3 << E_ADD_SHIFT)) == rule {
                    0
                } else {
                    E_SLOW
                };
                d.flat[first + c] = e | (engines << E_ENGINE_SHIFT) | slow;
            }
            c += 1;
        }
        i += 1;
    }
    d
}

static DECODE: Decode = build_decode();

/// The decode entry of `header`.
#[inline(always)]
fn entry(header: u32) -> u32 {
    DECODE
        .flat
        .get(u32_as_usize(header >> 16))
        .copied()
        .unwrap_or(u32::from(NONE) << E_INDEX_SHIFT)
}

/// The descriptor of the command starting with `header` on `engine`, if it is valid there.
#[inline]
pub fn decode(engine: Engine, header: u32) -> Option<&'static Desc> {
    let index = u8::try_from(entry(header) >> E_INDEX_SHIFT).unwrap_or(NONE);
    let mine = |i: u8| {
        table::DESCS
            .get(usize::from(i))
            .filter(|d| decodes_on(d) & engine.mask() != 0)
    };
    mine(index).or_else(|| mine(*DECODE.alt.get(usize::from(index))?))
}

/// Which address space a batch buffer lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrSpace {
    /// The global GTT: a privileged batch.
    Ggtt,
    /// The context's per-process GTT: a non-privileged batch.
    Ppgtt,
}

/// A buffer the scanner read: the ring slice or one of the loaded batch slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    /// The ring slice given to [`Scanner::scan_ring`].
    Ring,
    /// Batch slot `n` of the [`BatchSource`].
    Batch(u8),
}

/// A place in the scanned copies: a buffer and a byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    /// The buffer.
    pub buf: Buf,
    /// Byte offset from the start of the copy.
    pub offset: u32,
}

/// Where batch buffers come from. The scanner asks for each batch once, and for more of it
/// only when a command runs past what was copied; the implementation copies guest memory into
/// slot `slot` and must hand back exactly the bytes it copied from [`BatchSource::bytes`]
/// afterwards (never re-reading the guest).
pub trait BatchSource {
    /// Copies the start of the batch buffer at graphics address `addr` in `space` into slot
    /// `slot` (`< MAX_BATCHES`): as many bytes as the implementation chooses (the batch's
    /// mapping, up to its own limit). Returns `false` if the address cannot be translated.
    fn load(&mut self, slot: usize, space: AddrSpace, addr: u64) -> bool;
    /// Appends the next bytes of the batch in `slot` to its copy, the bytes already there
    /// unchanged; `false` if there are none (the batch runs off its mapping or the
    /// implementation's limit). A source that copies whole batches at once keeps this default.
    fn more(&mut self, _slot: usize) -> bool {
        false
    }
    /// The bytes loaded into `slot` (empty if none).
    fn bytes(&self, slot: usize) -> &[u8];
}

/// A source with no batch buffers: every batch start is refused.
pub struct NoBatches;

impl BatchSource for NoBatches {
    fn load(&mut self, _: usize, _: AddrSpace, _: u64) -> bool {
        false
    }
    fn bytes(&self, _: usize) -> &[u8] {
        &[]
    }
}

/// Why a register write needs the device model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mediation {
    /// The register has a write handler (`F_CMD_WRITE_PATCH`): the value may need patching.
    WritePatch,
    /// A PDP/PML4 root of the engine: the shadow page tables must follow.
    PpgttRoot,
    /// A MOCS or L3CC entry: the virtual register file keeps the value.
    Mocs,
}

/// An accepted `MI_LOAD_REGISTER_IMM` (or `PIPE_CONTROL` register write) the device model must
/// see: `value_at` locates the value dword in the scanned copy, where it can be patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegWrite {
    /// The register's MMIO offset.
    pub reg: u32,
    /// The value written.
    pub value: u32,
    /// Where the value dword is.
    pub value_at: At,
    /// Why it is reported.
    pub why: Mediation,
}

/// A batch buffer the scan loaded and accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchRecord {
    /// The slot it was loaded into.
    pub slot: u8,
    /// 1 for a first-level batch (chained ones too), 2 for a second-level one.
    pub level: u8,
    /// Its address space; [`AddrSpace::Ggtt`] batches are privileged and must be executed from
    /// a shadow copy of the scanned bytes.
    pub space: AddrSpace,
    /// Its graphics address.
    pub addr: u64,
    /// Bytes scanned from the start of the slot, through its `MI_BATCH_BUFFER_END` or chaining
    /// `MI_BATCH_BUFFER_START`: what the shadow copy must hold.
    pub len: u32,
    /// The `MI_BATCH_BUFFER_START` that runs it: its address dwords (1 and 2) are what to patch
    /// to point at the shadow copy.
    pub started_at: At,
}

/// What an accepted scan found.
#[derive(Clone, Copy, Debug)]
pub struct ScanReport {
    /// Commands scanned.
    pub commands: u32,
    /// `MI_USER_INTERRUPT`s executed (ring and batches).
    pub user_interrupts: u32,
    /// `PIPE_CONTROL`s with notify.
    pub pipe_control_notifies: u32,
    /// `MI_FLUSH_DW`s with notify.
    pub flush_dw_notifies: u32,
    /// PPGTT batches left unscanned ([`Policy::scan_ppgtt`] off): the hardware runs them
    /// unprivileged.
    pub unscanned_batches: u32,
    batches: [Option<BatchRecord>; MAX_BATCHES],
    nbatches: u8,
}

impl ScanReport {
    const fn new() -> ScanReport {
        ScanReport {
            commands: 0,
            user_interrupts: 0,
            pipe_control_notifies: 0,
            flush_dw_notifies: 0,
            unscanned_batches: 0,
            batches: [None; MAX_BATCHES],
            nbatches: 0,
        }
    }

    /// The batches scanned, in the order they were loaded (slot order).
    pub fn batches(&self) -> impl Iterator<Item = &BatchRecord> {
        self.batches.iter().flatten()
    }
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No such command on this engine.
    UnknownCommand,
    /// The header's length is not one the command can have.
    BadLength,
    /// The command runs past the end of its buffer, or a batch has no end.
    Truncated,
    /// A register the command may not access (offset given).
    Register(u32),
    /// A GGTT address outside the vGPU's partition (address given).
    Address(u64),
    /// The command is never allowed from a vGPU.
    Forbidden,
    /// A batch start deeper than [`MAX_DEPTH`], or a second-level batch starting another.
    TooDeep,
    /// A batch start the scanner cannot follow: second-level from the ring (the hardware would
    /// return to a stale first-level address), or a privileged one with Add Offset Enable (the
    /// hardware would add the context's `BB_OFFSET` to the audited address).
    BadBatchStart,
    /// More than [`MAX_BATCHES`] batches (including a batch chaining to itself).
    TooManyBatches,
    /// The batch buffer's address could not be loaded.
    BatchFault(u64),
    /// `MI_BATCH_BUFFER_END` in the ring.
    EndOutsideBatch,
    /// The device model refused a mediated register write.
    Mediation(u32),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::UnknownCommand => f.write_str("no such command on this engine"),
            Reason::BadLength => f.write_str("a length the command cannot have"),
            Reason::Truncated => {
                f.write_str("runs past the end of its buffer (or a batch has no end)")
            }
            Reason::Register(r) => write!(f, "register {r:#x} not allowed"),
            Reason::Address(a) => write!(f, "graphics address {a:#x} outside the vGPU's memory"),
            Reason::Forbidden => f.write_str("never allowed from a vGPU"),
            Reason::TooDeep => f.write_str("batch buffers nested too deep"),
            Reason::BadBatchStart => f.write_str("a batch start the scanner cannot follow"),
            Reason::TooManyBatches => write!(f, "more than {MAX_BATCHES} batch buffers"),
            Reason::BatchFault(a) => write!(f, "batch buffer at {a:#x} cannot be read"),
            Reason::EndOutsideBatch => f.write_str("batch end in the ring"),
            Reason::Mediation(r) => {
                write!(f, "write to register {r:#x} refused by the device model")
            }
        }
    }
}

/// A refused command: what, where and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanError {
    /// The command's name (`"unknown"` if it has none).
    pub command: &'static str,
    /// Its header dword.
    pub header: u32,
    /// Where it starts.
    pub at: At,
    /// The batch it is in (`at` in [`Buf::Batch`]): address space and graphics address.
    pub batch: Option<(AddrSpace, u64)>,
    /// Why it was refused.
    pub reason: Reason,
}

/// Scanning choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Also load and scan PPGTT (unprivileged) batches. Upstream's default is off: the hardware
    /// confines them to the context's PPGTT and refuses privileged commands in them.
    pub scan_ppgtt: bool,
}

/// Registers command buffers may access beyond the `F_CMD_ACCESS` table entries: what Mesa and
/// i915 load and store on Gen9 (predicates, command streamer GPRs, indirect draw and dispatch
/// parameters, L3 and slice configuration, context timestamps). `(offset, size in bytes)`.
const EXTRA_REGS: &[(u32, u32)] = &[
    (MI_PREDICATE_SRC0::offset(RENDER_RING_BASE), 0x20), // SRC0, SRC1, DATA, RESULT, RESULT_1
    (MI_PREDICATE_RESULT_2::offset(RENDER_RING_BASE), 4),
    (0x2440, 4),                 // 3DPRIM_BASE_VERTEX
    (0x2500, 12),                // GPGPU dispatch dimensions X, Y and Z
    (GEN8_L3CNTLREG::OFFSET, 4), // (F_CMD_ACCESS on BXT only upstream)
    (GEN9_SLICE_COMMON_ECO_CHICKEN1::OFFSET, 4),
    (GEN8_RING_CS_GPR::offset(RENDER_RING_BASE), 0x80), // RCS CS_GPR 0..15
    (GEN8_RING_CS_GPR::offset(GEN6_BSD_RING_BASE), 0x80), // VCS CS_GPR
    (GEN8_RING_CS_GPR::offset(VEBOX_RING_BASE), 0x80),  // VECS CS_GPR
    (GEN8_RING_CS_GPR::offset(BLT_RING_BASE), 0x80),    // BCS CS_GPR
    (RING_CTX_TIMESTAMP::offset(RENDER_RING_BASE), 4), // RCS RING_CTX_TIMESTAMP (i915's Gen9 blitter parser allows BCS's)
    (RING_CTX_TIMESTAMP::offset(GEN6_BSD_RING_BASE), 4), // VCS RING_CTX_TIMESTAMP
    (RING_CTX_TIMESTAMP::offset(VEBOX_RING_BASE), 4),  // VECS RING_CTX_TIMESTAMP
    (RING_CTX_TIMESTAMP::offset(BLT_RING_BASE), 4),    // BCS RING_CTX_TIMESTAMP
];

/// One level of the scan: which buffer, where in it, and what it is.
#[derive(Clone, Copy)]
struct Frame {
    buf: Buf,
    pos: usize,
    level: u8,
    space: AddrSpace,
}

/// What a run over one buffer ended with.
enum Step {
    /// The ring slice is done.
    RingDone,
    /// `MI_BATCH_BUFFER_END`: pop a level.
    End,
    /// `MI_BATCH_BUFFER_START` to follow; the frame's position is past it.
    Start {
        at: At,
        header: u32,
        addr: u64,
        space: AddrSpace,
        second: bool,
    },
}

/// Scans one engine's commands for one vGPU.
pub struct Scanner<'a> {
    engine: Engine,
    regs: &'static MmioIndex,
    part: &'a Partition,
    policy: Policy,
}

impl<'a> Scanner<'a> {
    /// A scanner for `engine` of a `platform` GPU, auditing GGTT addresses against `part`.
    pub fn new(
        platform: Platform,
        engine: Engine,
        part: &'a Partition,
        policy: Policy,
    ) -> Scanner<'a> {
        Scanner {
            engine,
            regs: mmio_index(platform),
            part,
            policy,
        }
    }

    /// Scans a ring slice (the bytes from head to tail, unwrapped) and every batch it starts.
    pub fn scan_ring(
        &self,
        ring: &[u8],
        src: &mut dyn BatchSource,
        mediate: &mut dyn FnMut(&RegWrite) -> bool,
    ) -> Result<ScanReport, ScanError> {
        let top = Frame {
            buf: Buf::Ring,
            pos: 0,
            level: 0,
            space: AddrSpace::Ggtt,
        };
        self.scan(top, ring, src, mediate, ScanReport::new())
    }

    /// Scans one batch buffer at `addr` as a first-level batch (e.g. a context's indirect
    /// batch), loading it into slot 0. No command starts it, so its record's `started_at` is
    /// the start of an empty ring.
    pub fn scan_batch(
        &self,
        space: AddrSpace,
        addr: u64,
        src: &mut dyn BatchSource,
        mediate: &mut dyn FnMut(&RegWrite) -> bool,
    ) -> Result<ScanReport, ScanError> {
        let mut rep = ScanReport::new();
        let at = At {
            buf: Buf::Ring,
            offset: 0,
        };
        let top = self.enter(&mut rep, src, (at, 0), addr, space, 1)?;
        self.scan(top, &[], src, mediate, rep)
    }

    /// Scans from `top`, then names the batch a refused command is in (slot numbers mean
    /// nothing outside the scan).
    fn scan(
        &self,
        top: Frame,
        ring: &[u8],
        src: &mut dyn BatchSource,
        mediate: &mut dyn FnMut(&RegWrite) -> bool,
        mut rep: ScanReport,
    ) -> Result<ScanReport, ScanError> {
        self.walk(top, ring, src, mediate, &mut rep)
            .map_err(|mut e| {
                if let Buf::Batch(s) = e.at.buf {
                    e.batch = rep
                        .batches
                        .get(usize::from(s))
                        .copied()
                        .flatten()
                        .map(|b| (b.space, b.addr));
                }
                e
            })?;
        Ok(rep)
    }

    fn walk(
        &self,
        top: Frame,
        ring: &[u8],
        src: &mut dyn BatchSource,
        mediate: &mut dyn FnMut(&RegWrite) -> bool,
        rep: &mut ScanReport,
    ) -> Result<(), ScanError> {
        // The ring, a first-level and a second-level batch.
        let mut stack = [top; 3];
        let mut depth = 0usize;
        loop {
            let Some(frame) = stack.get_mut(depth) else {
                return Ok(());
            };
            let buf = match frame.buf {
                Buf::Ring => ring,
                Buf::Batch(s) => src.bytes(usize::from(s)),
            };
            let step = match (self.run(buf, frame, rep, mediate), frame.buf) {
                // A command runs past the copy: copy more of the batch and go on from it.
                (Err(e), Buf::Batch(s)) if e.reason == Reason::Truncated => {
                    if src.more(usize::from(s)) {
                        continue;
                    }
                    return Err(e);
                }
                (r, _) => r?,
            };
            match step {
                Step::RingDone => return Ok(()),
                Step::End => {
                    // Popping the last frame of a lone batch ends the scan.
                    let Some(d) = depth.checked_sub(1) else {
                        return Ok(());
                    };
                    depth = d;
                }
                Step::Start {
                    at,
                    header,
                    addr,
                    space,
                    second,
                } => {
                    let level = frame.level;
                    // PPGTT batches cannot start privileged ones.
                    let space = if frame.space == AddrSpace::Ppgtt {
                        AddrSpace::Ppgtt
                    } else {
                        space
                    };
                    if (level == 0 && second)
                        || (space == AddrSpace::Ggtt && header & MI_BATCH_ADD_OFFSET != 0)
                    {
                        return Err(err(BB_START, header, at, Reason::BadBatchStart));
                    }
                    let (new_level, push) = if level == 0 {
                        (1, true)
                    } else if level >= MAX_DEPTH {
                        // As upstream: a second-level batch starts nothing.
                        return Err(err(BB_START, header, at, Reason::TooDeep));
                    } else if second {
                        (level.wrapping_add(1), true)
                    } else {
                        // Chained: the rest of this batch never runs.
                        (level, false)
                    };
                    if space == AddrSpace::Ppgtt && !self.policy.scan_ppgtt {
                        rep.unscanned_batches = rep.unscanned_batches.saturating_add(1);
                        if !push {
                            // Chained away into an unscanned batch: nothing more here runs.
                            let Some(d) = depth.checked_sub(1) else {
                                return Ok(());
                            };
                            depth = d;
                        }
                        continue;
                    }
                    if space == AddrSpace::Ggtt {
                        self.audit(addr, 4)
                            .map_err(|r| err(BB_START, header, at, r))?;
                    }
                    let next = self.enter(rep, src, (at, header), addr, space, new_level)?;
                    if push {
                        depth = depth.wrapping_add(1);
                    }
                    let f =
                        stack
                            .get_mut(depth)
                            .ok_or(err(BB_START, header, at, Reason::TooDeep))?;
                    *f = next;
                }
            }
        }
    }

    /// Loads a batch into the next free slot and records it; `start` is the batch start
    /// command (where it is, its header).
    fn enter(
        &self,
        rep: &mut ScanReport,
        src: &mut dyn BatchSource,
        start: (At, u32),
        addr: u64,
        space: AddrSpace,
        level: u8,
    ) -> Result<Frame, ScanError> {
        let (at, header) = start;
        let s = rep.nbatches;
        let slot = usize::from(s);
        let Some(rec) = rep.batches.get_mut(slot) else {
            return Err(err(BB_START, header, at, Reason::TooManyBatches));
        };
        if !src.load(slot, space, addr) {
            return Err(err(BB_START, header, at, Reason::BatchFault(addr)));
        }
        *rec = Some(BatchRecord {
            slot: s,
            level,
            space,
            addr,
            len: 0,
            started_at: at,
        });
        rep.nbatches = s.wrapping_add(1);
        Ok(Frame {
            buf: Buf::Batch(s),
            pos: 0,
            level,
            space,
        })
    }

    /// Scans commands in `buf` from the frame's position until the buffer ends, a batch ends or
    /// a batch starts.
    fn run(
        &self,
        buf: &[u8],
        f: &mut Frame,
        rep: &mut ScanReport,
        mediate: &mut dyn FnMut(&RegWrite) -> bool,
    ) -> Result<Step, ScanError> {
        let mut pos = f.pos;
        let plain_bits = plain_bits(self.engine);
        let result = loop {
            // Fast path: commands that need only their length.
            let (p, plain) = skip_plain(plain_bits, buf, pos);
            pos = p;
            rep.commands = rep.commands.wrapping_add(plain);
            let at = At {
                buf: f.buf,
                offset: u32::try_from(pos).unwrap_or(u32::MAX),
            };
            let Some(header) = dword(buf, pos) else {
                if pos == buf.len() && f.buf == Buf::Ring {
                    break Ok(Step::RingDone);
                }
                break Err(err(
                    "unknown",
                    dword_partial(buf, pos),
                    at,
                    Reason::Truncated,
                ));
            };
            let Some(d) = decode(self.engine, header) else {
                break Err(err("unknown", header, at, Reason::UnknownCommand));
            };
            let Some(n) = d.dwords(header) else {
                break Err(err(d.name, header, at, Reason::BadLength));
            };
            let end = usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(4))
                .and_then(|b| pos.checked_add(b));
            let Some(cmd) = end.and_then(|e| buf.get(pos..e)) else {
                break Err(err(d.name, header, at, Reason::Truncated));
            };
            rep.commands = rep.commands.wrapping_add(1);
            let next = pos.wrapping_add(cmd.len());
            if d.check != Check::None {
                match self.check(d, cmd, at, f, rep, mediate) {
                    Err(reason) => break Err(err(d.name, header, at, reason)),
                    Ok(None) => {}
                    Ok(Some(step)) => {
                        pos = next;
                        break Ok(step);
                    }
                }
            }
            pos = next;
        };
        f.pos = pos;
        if let (Ok(Step::End | Step::Start { .. }), Buf::Batch(s)) = (&result, f.buf) {
            if let Some(Some(rec)) = rep.batches.get_mut(usize::from(s)) {
                rec.len = u32::try_from(pos).unwrap_or(u32::MAX);
            }
        }
        result
    }

    /// The semantic check of one command; `Some(step)` for flow control.
    fn check(
        &self,
        d: &Desc,
        cmd: &[u8],
        at: At,
        f: &Frame,
        rep: &mut ScanReport,
        mediate: &mut dyn FnMut(&RegWrite) -> bool,
    ) -> Result<Option<Step>, Reason> {
        let dw = |i: usize| dword(cmd, i.wrapping_mul(4)).unwrap_or(0);
        let h = dw(0);
        let n = cmd.len() / 4;
        // GGTT addressing only means something in privileged buffers.
        let ggtt = |bit: bool| bit && f.space == AddrSpace::Ggtt;
        let addr =
            |lo: usize| u64::from(dw(lo) & !3) | (u64::from(dw(lo.wrapping_add(1)) & 0xffff) << 32);
        match d.check {
            Check::None => {}
            Check::Forbidden => return Err(Reason::Forbidden),
            Check::UserInterrupt => rep.user_interrupts = rep.user_interrupts.saturating_add(1),
            Check::BatchEnd if f.buf == Buf::Ring => return Err(Reason::EndOutsideBatch),
            Check::BatchEnd => return Ok(Some(Step::End)),
            Check::BatchStart => {
                if n != 3 {
                    return Err(Reason::BadLength);
                }
                let space = if h & MI_BATCH_PPGTT_HSW != 0 {
                    AddrSpace::Ppgtt
                } else {
                    AddrSpace::Ggtt
                };
                let second = h & MI_BATCH_2ND_LEVEL != 0;
                return Ok(Some(Step::Start {
                    at,
                    header: h,
                    addr: addr(1),
                    space,
                    second,
                }));
            }
            Check::Lri => {
                if n < 3 || n % 2 == 0 {
                    return Err(Reason::BadLength);
                }
                for i in (1..n).step_by(2) {
                    let reg = dw(i) & 0x7f_fffc;
                    let value_at = At {
                        buf: at.buf,
                        offset: at.offset.wrapping_add(
                            u32::try_from(i.wrapping_add(1).wrapping_mul(4)).unwrap_or(0),
                        ),
                    };
                    self.reg_write(reg, dw(i.wrapping_add(1)), value_at, mediate)?;
                }
            }
            Check::Lrr => {
                if n != 3 {
                    return Err(Reason::BadLength);
                }
                self.reg_read(dw(1) & 0x7f_fffc)?;
                self.reg_load(dw(2) & 0x7f_fffc)?;
            }
            Check::Lrm | Check::Srm => {
                let reg = dw(1) & 0x7f_fffc;
                if d.check == Check::Lrm {
                    self.reg_load(reg)?;
                } else {
                    self.reg_read(reg)?;
                }
                if ggtt(h & MI_USE_GGTT != 0) {
                    self.audit(addr(2), 4)?;
                }
            }
            Check::PipeControl => {
                if n != 6 {
                    return Err(Reason::BadLength);
                }
                let flags = dw(1);
                let post = (flags >> 14) & 3;
                if flags & PIPE_CONTROL_MMIO_WRITE != 0 {
                    let value_at = At {
                        buf: at.buf,
                        offset: at.offset.wrapping_add(16),
                    };
                    self.reg_write(dw(2) & 0x7f_fffc, dw(4), value_at, mediate)?;
                } else if post != 0 && ggtt(flags & PIPE_CONTROL_GLOBAL_GTT_IVB != 0) {
                    self.audit_write(addr(2) & !7, 8, flags & STORE_DATA_INDEX != 0)?;
                }
                if flags & NOTIFY != 0 {
                    rep.pipe_control_notifies = rep.pipe_control_notifies.saturating_add(1);
                }
            }
            Check::FlushDw => {
                if n != 4 && n != 5 {
                    return Err(Reason::BadLength);
                }
                if (h >> 14) & 3 != 0 && ggtt(dw(1) & MI_FLUSH_DW_USE_GTT != 0) {
                    self.audit_write(addr(1) & !7, 8, h & STORE_DATA_INDEX != 0)?;
                }
                if h & NOTIFY != 0 {
                    rep.flush_dw_notifies = rep.flush_dw_notifies.saturating_add(1);
                }
            }
            Check::StoreDataImm => {
                if n < 4 {
                    return Err(Reason::BadLength);
                }
                if ggtt(h & MI_USE_GGTT != 0) {
                    let size = usize_as_u64(n).wrapping_sub(3).wrapping_mul(4);
                    self.audit(addr(1), size)?;
                }
            }
            Check::StoreDataIndex => {
                // The offset field (bits 11:2) cannot leave the status page.
                if n != 3 && n != 4 {
                    return Err(Reason::BadLength);
                }
            }
            Check::Op2f => {
                let want = if h & MI_ATOMIC_INLINE_DATA != 0 {
                    11
                } else {
                    3
                };
                if n != want {
                    return Err(Reason::BadLength);
                }
                if ggtt(h & MI_USE_GGTT != 0) {
                    let size = 4u64 << ((h >> 19) & 3);
                    self.audit(addr(1), size)?;
                }
            }
            Check::Op2e => {
                if ggtt(h & MI_USE_GGTT != 0) {
                    self.audit(addr(3), 4)?;
                }
                if ggtt(h & MI_COPY_MEM_MEM_DST_GGTT != 0) {
                    self.audit(addr(1), 4)?;
                }
            }
            Check::SemaphoreWait | Check::CondBatchEnd => {
                if ggtt(h & MI_USE_GGTT != 0) {
                    self.audit(addr(2), 4)?;
                }
            }
            Check::ReportPerfCount => {
                if ggtt(dw(1) & MI_REPORT_PERF_COUNT_GGTT != 0) {
                    self.audit(addr(1) & !0x3f, 256)?;
                }
            }
            Check::PpgttOnly => {
                if ggtt(h & MI_USE_GGTT != 0) {
                    return Err(Reason::Forbidden);
                }
            }
            Check::Clflush => {
                if n < 3 {
                    return Err(Reason::BadLength);
                }
                if ggtt(h & MI_USE_GGTT != 0) {
                    self.audit(addr(1) & !0xfff, 4096)?;
                }
            }
        }
        Ok(None)
    }

    /// A GGTT range must lie inside the vGPU's graphics memory.
    fn audit(&self, addr: u64, size: u64) -> Result<(), Reason> {
        if size <= MAX_OP_SIZE && self.part.owns_gm(addr, size) {
            Ok(())
        } else {
            Err(Reason::Address(addr))
        }
    }

    /// A post-sync write: in index mode an offset inside the status page, else a GGTT range.
    fn audit_write(&self, addr: u64, size: u64, index: bool) -> Result<(), Reason> {
        if index {
            if addr < 4096 {
                Ok(())
            } else {
                Err(Reason::Address(addr))
            }
        } else {
            self.audit(addr, size)
        }
    }

    /// Whether command buffers may access `reg`, and the table flags it has.
    fn reg_flags(&self, reg: u32) -> Option<u8> {
        if reg >= MMIO_SIZE {
            return None;
        }
        if let Some(def) = self.regs.lookup(reg) {
            if def.flags & F_CMD_ACCESS != 0 {
                return Some(def.flags);
            }
        }
        EXTRA_REGS
            .iter()
            .any(|&(o, size)| reg >= o && reg.wrapping_sub(o) < size)
            .then_some(0)
    }

    /// Why the device model must see a write to `reg`, if it must.
    fn mediation(&self, reg: u32, flags: u8) -> Option<Mediation> {
        let rel = reg.wrapping_sub(self.engine.base());
        if (0x270..0x290).contains(&rel) {
            Some(Mediation::PpgttRoot)
        } else if flags & F_CMD_WRITE_PATCH != 0 {
            Some(Mediation::WritePatch)
        } else if (GEN9_GFX_MOCS::OFFSET..0xd000).contains(&reg)
            || (GEN9_LNCFCMOCS::OFFSET..0xb0a0).contains(&reg)
        {
            Some(Mediation::Mocs)
        } else {
            None
        }
    }

    /// An immediate register write (LRI, PIPE_CONTROL MMIO write).
    fn reg_write(
        &self,
        reg: u32,
        value: u32,
        value_at: At,
        mediate: &mut dyn FnMut(&RegWrite) -> bool,
    ) -> Result<(), Reason> {
        let flags = self.reg_flags(reg).ok_or(Reason::Register(reg))?;
        if let Some(why) = self.mediation(reg, flags) {
            if !mediate(&RegWrite {
                reg,
                value,
                value_at,
                why,
            }) {
                return Err(Reason::Mediation(reg));
            }
        }
        Ok(())
    }

    /// A register loaded from memory or another register: the value is unknown here, so only
    /// registers that need no mediation.
    fn reg_load(&self, reg: u32) -> Result<(), Reason> {
        match self.reg_flags(reg) {
            Some(flags) if self.mediation(reg, flags).is_none() => Ok(()),
            _ => Err(Reason::Register(reg)),
        }
    }

    /// A register read into memory or another register: the command-accessible ones, and
    /// this engine's own ring registers (RING_TAIL/HEAD/START/CTL, +0x30..+0x40), which i915's
    /// `live_lrc_state` stores (gt/selftest_lrc.c). Upstream refuses those (no F_CMD_ACCESS in
    /// handlers.c, and its SRM check admits only two registers, cmd_parser.c
    /// `cmd_reg_handler`), which here would put the vGPU in failsafe; a read changes nothing.
    /// Loads of them stay refused.
    fn reg_read(&self, reg: u32) -> Result<(), Reason> {
        let ring = reg
            .checked_sub(self.engine.base())
            .is_some_and(|o| (0x30..0x40).contains(&o));
        if ring {
            return Ok(());
        }
        self.reg_flags(reg).map(|_| ()).ok_or(Reason::Register(reg))
    }
}

/// Skips, from `pos`, the commands that need nothing but their length; returns where the
/// first other command (or the end of `buf`) is and how many were skipped. Kept apart from the
/// checked path so its few live values stay in registers.
#[inline(never)]
fn skip_plain((mask, want): (u32, u32), buf: &[u8], mut pos: usize) -> (usize, u32) {
    let mut n = 0u32;
    while let Some(header) = dword(buf, pos) {
        let e = entry(header);
        if e & mask != want {
            break;
        }
        let dwords = (header & e & E_LEN_MASK).wrapping_add((e >> E_ADD_SHIFT) & 3);
        let bytes = dwords << 2;
        match pos.checked_add(u32_as_usize(bytes)) {
            Some(end) if end <= buf.len() => pos = end,
            _ => break,
        }
        n = n.wrapping_add(1);
    }
    (pos, n)
}

/// The bytes left at `pos` (fewer than four), for the error report.
fn dword_partial(buf: &[u8], pos: usize) -> u32 {
    let mut b = [0u8; 4];
    for (d, s) in b.iter_mut().zip(buf.iter().skip(pos)) {
        *d = *s;
    }
    u32::from_le_bytes(b)
}

/// The little-endian dword at byte `pos`, if all four bytes are there.
#[inline]
fn dword(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([
        *b.first()?,
        *b.get(1)?,
        *b.get(2)?,
        *b.get(3)?,
    ]))
}

/// Name used in errors about batch starts.
const BB_START: &str = "MI_BATCH_BUFFER_START";

fn err(command: &'static str, header: u32, at: At, reason: Reason) -> ScanError {
    ScanError {
        command,
        header,
        at,
        batch: None,
        reason,
    }
}

#[cfg(test)]
mod tests;
