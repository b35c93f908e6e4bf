//! `i915`: the physical GPU as i915 drives it.
//!
//! The kernel half (`gvt/glue/i915.rs` and the C shim `i915_host.c`, which is the only code
//! that includes i915's private headers) registers with i915 through `intel_gvt_set_ops()`,
//! reads the device's facts and drives its GGTT, fences and engines. This is the pure half,
//! shared with the host-side tests:
//! - [`host_info`]: the core's [`HostInfo`] from what the shim read off the device, checked;
//! - [`gm_nodes`]: the GGTT ranges a vGPU's partition takes out of i915's allocator;
//! - [`load_context`] / [`save_context`]: which parts of the core's shadow context image go
//!   into the i915 context a workload runs on, and which come back when it has run;
//! - [`completion`]: when a submitted request counts as done, from the events the shim saw.

use crate::model::error::{GvtError, Result};
use crate::model::host::{Completion, HostInfo, HostReserve, PciIdentity};
use crate::model::hw::Platform;
use crate::model::regs::Engine;
use crate::model::resources::{Partition, Span, GM_ALIGN};

const MB: u64 = 1 << 20;

/// Intel's PCI vendor id.
pub const INTEL_VENDOR: u16 = 0x8086;

/// The host reserve upstream GVT-g keeps on every GPU (`HOST_LOW_GM_SIZE`,
/// `HOST_HIGH_GM_SIZE`, `HOST_FENCE`): i915 keeps at least this much for itself.
pub const HOST_RESERVE: HostReserve = HostReserve {
    low_gm: 128 * MB,
    high_gm: 384 * MB,
    fences: 4,
};

/// Most fence registers a Gen9 GPU has.
pub const MAX_FENCES: u32 = 32;

/// Where the GGTT starts in BAR0 (after the 2 MiB of registers and reserved space).
pub const GGTT_BAR0_OFFSET: u64 = 8 * MB;

/// Bytes per GGTT entry.
pub const GGTT_ENTRY_BYTES: u64 = 8;

/// What the shim reads off an i915 device when i915 hands it to gvt.ko.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// PCI vendor id.
    pub vendor: u16,
    /// PCI device id.
    pub device: u16,
    /// PCI revision id.
    pub revision: u8,
    /// PCI subsystem vendor id.
    pub subsystem_vendor: u16,
    /// PCI subsystem id.
    pub subsystem_device: u16,
    /// Length of BAR0 (GTTMMADR).
    pub bar0_size: u64,
    /// Physical address of the aperture (GMADR, `ggtt->gmadr.start`).
    pub aperture_pa: u64,
    /// Bytes of mappable aperture (`ggtt->mappable_end`).
    pub aperture_size: u64,
    /// Bytes of graphics memory the GGTT maps (`ggtt->vm.total`).
    pub ggtt_size: u64,
    /// Fence registers (`ggtt->num_fences`).
    pub fence_count: u32,
    /// The engines present, as core engine mask bits (`Engine::mask`).
    pub engines: u8,
    /// i915's GGTT entry for its scratch page (`vm.scratch[0]->encode`: the page's DMA address
    /// with the present and caching bits), what every unused entry holds. The core writes it
    /// as is (`HostInfo::scratch_page`), so a vGPU's unused entries are valid, like i915's.
    pub scratch_pte: u64,
}

/// The core's facts about an i915 GPU, or why gvt.ko cannot drive it: `NotSupported` for a
/// device the core has no tables for, `Invalid` for a layout it cannot partition.
pub fn host_info(f: &Facts) -> Result<HostInfo> {
    if f.vendor != INTEL_VENDOR {
        return Err(GvtError::NotSupported);
    }
    let platform = Platform::from_device_id(f.device).ok_or(GvtError::NotSupported)?;
    // The core emulates the four Gen9 engines; a render engine is the least it needs.
    if f.engines & Engine::Rcs.mask() == 0 {
        return Err(GvtError::NotSupported);
    }
    let aligned = |v: u64| v % GM_ALIGN == 0;
    if f.ggtt_size == 0
        || f.aperture_size == 0
        || f.aperture_size > f.ggtt_size
        || !aligned(f.aperture_size)
        || !aligned(f.ggtt_size)
        || f.fence_count > MAX_FENCES
    {
        return Err(GvtError::Invalid);
    }
    // BAR0 must hold the GGTT where the guest expects it (vGPUs present the host's BAR0).
    let ggtt_bytes = (f.ggtt_size / GM_ALIGN)
        .checked_mul(GGTT_ENTRY_BYTES)
        .ok_or(GvtError::Invalid)?;
    match GGTT_BAR0_OFFSET.checked_add(ggtt_bytes) {
        Some(end) if end <= f.bar0_size => {}
        _ => return Err(GvtError::Invalid),
    }
    // Nothing left for vGPUs once the host has its share: not worth driving.
    if f.aperture_size <= HOST_RESERVE.low_gm
        || f.ggtt_size.saturating_sub(f.aperture_size) <= HOST_RESERVE.high_gm
        || f.fence_count <= HOST_RESERVE.fences
    {
        return Err(GvtError::NoSpace);
    }
    Ok(HostInfo {
        platform,
        pci: PciIdentity {
            vendor: f.vendor,
            device: f.device,
            revision: f.revision,
            subsystem_vendor: f.subsystem_vendor,
            subsystem_device: f.subsystem_device,
        },
        bar0_size: f.bar0_size,
        aperture_size: f.aperture_size,
        gm_size: f.ggtt_size,
        fence_count: f.fence_count,
        engines: f.engines & crate::model::regs::ALL_ENGINES,
        reserve: HOST_RESERVE,
        aperture_pa: f.aperture_pa,
        scratch_page: f.scratch_pte,
    })
}

/// The two GGTT ranges (low GM, high GM) a vGPU's partition takes out of i915's allocator,
/// checked against the GPU's layout: low GM inside the aperture, high GM above it, both
/// non-empty and page-aligned. Anything else would hand i915's own memory to a vGPU.
pub fn gm_nodes(info: &HostInfo, part: &Partition) -> Result<[Span; 2]> {
    let ok = |s: &Span, lo: u64, hi: u64| {
        s.size != 0
            && s.start % GM_ALIGN == 0
            && s.size % GM_ALIGN == 0
            && s.start >= lo
            && s.start.checked_add(s.size).is_some_and(|e| e <= hi)
    };
    if !ok(&part.low, 0, info.aperture_size) || !ok(&part.high, info.aperture_size, info.gm_size) {
        return Err(GvtError::Invalid);
    }
    Ok([part.low, part.high])
}

/// The fence registers (the core's host fence indices) a partition uses, checked against the
/// GPU's count.
pub fn fence_range(info: &HostInfo, part: &Partition) -> Result<core::ops::Range<u32>> {
    let start = u32::try_from(part.fences.start).map_err(|_| GvtError::Invalid)?;
    let end = u32::try_from(part.fences.end()).map_err(|_| GvtError::Invalid)?;
    if part.fences.size == 0 || end > info.fence_count.min(MAX_FENCES) {
        return Err(GvtError::Invalid);
    }
    Ok(start..end)
}

/// Bytes of a context image page.
pub const PAGE: usize = 4096;

// Dword indices in the ring context (page 1 of a Gen9 logical ring context image), from the
// layout of the register state the hardware saves and restores.
const CTX_CONTEXT_CONTROL: usize = 0x03;
const CTX_TIMESTAMP: usize = 0x23;
/// Values of the PDP registers: PDP3 upper, lower, ... PDP0 upper, lower.
const CTX_PDPS: [usize; 8] = [0x25, 0x27, 0x29, 0x2b, 0x2d, 0x2f, 0x31, 0x33];
/// The blitter's tile register value.
const CTX_BCS_TILE: usize = 0x43;
/// Dwords of the ring context proper: registers i915 owns for its ring (start, head, tail,
/// control) live here, so the register values the host takes from the core start after it.
pub const RING_CTX_DWORDS: usize = 0x50;
/// Dwords of the ring context's register block as GVT-g writes it back to the guest.
const RING_CTX_STATE_DWORDS: usize = 0x34;
const CTX_RESTORE_INHIBIT: u32 = 1;
/// The masked-write enable bits of CONTEXT_CONTROL.
const MASK_ALL: u32 = 0xffff_0000;

fn dword(buf: &[u8], i: usize) -> Option<u32> {
    let o = i.checked_mul(4)?;
    buf.get(o..o.checked_add(4)?)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
}

fn set_dword(buf: &mut [u8], i: usize, v: u32) -> Result {
    let o = i.checked_mul(4).ok_or(GvtError::Invalid)?;
    let b = buf
        .get_mut(o..o.checked_add(4).ok_or(GvtError::Invalid)?)
        .ok_or(GvtError::Invalid)?;
    b.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Copies pages `2..` of `src` over those of `dst`, as far as both reach.
fn copy_engine_pages(src: &[u8], dst: &mut [u8]) {
    let (Some(s), Some(d)) = (src.get(2 * PAGE..), dst.get_mut(2 * PAGE..)) else {
        return;
    };
    let n = (s.len().min(d.len()) / PAGE).wrapping_mul(PAGE);
    if let (Some(s), Some(d)) = (s.get(..n), d.get_mut(..n)) {
        d.copy_from_slice(s);
    }
}

/// Puts the core's shadow context image `core` (page 0 onward, as the core built it: guest
/// state, shadow PPGTT root in PDP0) into the state of the i915 context `i915` (page 0
/// onward, pinned) the workload runs on. i915 keeps its own ring registers and status page,
/// and, on the render engine, its own per-context and indirect-context workaround batches:
/// the guest's pointers name privileged GGTT batches nobody scanned (the hardware would run
/// them with the host's privileges), and the host's are the same GPU's workarounds. The
/// workload brings its context control (all mask bits set, so every bit loads), timestamp,
/// the blitter's tile register and the PPGTT roots; unless the context is restore-inhibit (a
/// fresh context whose register and engine state the hardware does not load), also the rest
/// of the register state ([`copy_register_values`]) and the engine state pages.
pub fn load_context(engine: Engine, core: &[u8], i915: &mut [u8]) -> Result {
    let src = core.get(PAGE..2 * PAGE).ok_or(GvtError::Invalid)?;
    let dst = i915.get_mut(PAGE..2 * PAGE).ok_or(GvtError::Invalid)?;
    let get = |i| dword(src, i).ok_or(GvtError::Invalid);
    let ctrl = get(CTX_CONTEXT_CONTROL)?;
    if ctrl & CTX_RESTORE_INHIBIT == 0 {
        copy_register_values(src, dst)?;
    }
    set_dword(dst, CTX_CONTEXT_CONTROL, ctrl | MASK_ALL)?;
    set_dword(dst, CTX_TIMESTAMP, get(CTX_TIMESTAMP)?)?;
    if engine == Engine::Bcs {
        set_dword(dst, CTX_BCS_TILE, get(CTX_BCS_TILE)?)?;
    }
    for i in CTX_PDPS {
        set_dword(dst, i, get(i)?)?;
    }
    if ctrl & CTX_RESTORE_INHIBIT == 0 {
        copy_engine_pages(core, i915);
    }
    Ok(())
}

/// MI_NOOP's opcode (bits 28:23 of an MI command; the rest may carry an identification).
const MI_NOOP: u32 = 0;
/// MI_LOAD_REGISTER_IMM's opcode.
const MI_LOAD_REGISTER_IMM: u32 = 0x22;
/// MI_BATCH_BUFFER_END (bit 0 ignored, as i915's own layout check ignores it).
const MI_BATCH_BUFFER_END: u32 = 0x0a << 23;

/// Calls `f` with the register state `layout` (page 1 of an image) and the index of each of
/// its dwords that the engine does not parse as a command when it restores the context: the
/// values of its MI_LOAD_REGISTER_IMMs and whatever follows the closing
/// MI_BATCH_BUFFER_END. MI_NOOPs are skipped; `f` may rewrite the dwords it is given. Any
/// other command, an even LRI length field (it is 2n - 1 for n registers) or a list running
/// off the page is refused.
fn walk_register_values(
    layout: &mut [u8],
    mut f: impl FnMut(&mut [u8], usize) -> Result,
) -> Result {
    let dwords = layout.len() / 4;
    let mut i = 0usize;
    while i < dwords {
        let h = dword(layout, i).ok_or(GvtError::Invalid)?;
        let next = i.wrapping_add(1);
        if h >> 23 == MI_NOOP {
            i = next;
        } else if h & !1 == MI_BATCH_BUFFER_END {
            return (next..dwords).try_for_each(|d| f(layout, d));
        } else if h >> 23 == MI_LOAD_REGISTER_IMM && h & 1 == 1 {
            let len = usize::try_from(h & 0xff).map_err(|_| GvtError::Invalid)?;
            let end = next
                .checked_add(len)
                .and_then(|e| e.checked_add(1))
                .filter(|&e| e <= dwords)
                .ok_or(GvtError::Invalid)?;
            // Offset, value pairs: each value is the second dword of its pair.
            (next..end)
                .step_by(2)
                .try_for_each(|d| f(layout, d.wrapping_add(1)))?;
            i = end;
        } else {
            return Err(GvtError::Invalid);
        }
    }
    Ok(())
}

/// Copies the guest's register state past the ring context from `src` into i915's `dst`,
/// taking from the guest only the dwords the engine does not parse (see
/// [`walk_register_values`]), found in i915's own layout. The commands the engine runs on
/// restore stay i915's, so whatever a guest writes into its image, it can load only the
/// registers i915's context loads (upstream GVT-g instead scans the guest's list against a
/// register whitelist); a guest whose layout differs only loads wrong values into its own
/// context. i915's layout is checked whole before anything is copied.
pub fn copy_register_values(src: &[u8], dst: &mut [u8]) -> Result {
    if src.len() != dst.len() {
        return Err(GvtError::Invalid);
    }
    walk_register_values(dst, |_, _| Ok(()))?;
    walk_register_values(dst, |dst, i| {
        if i < RING_CTX_DWORDS {
            return Ok(());
        }
        set_dword(dst, i, dword(src, i).ok_or(GvtError::Invalid)?)
    })
}

/// Brings back into the core's image `core` what the workload changed in the i915 context
/// `i915` after it ran: context control and timestamp, the register state past the ring
/// context registers, and the engine state pages. The core then writes the image back to the
/// guest with the guest's own ring and PPGTT values.
pub fn save_context(i915: &[u8], core: &mut [u8]) -> Result {
    let src = i915.get(PAGE..2 * PAGE).ok_or(GvtError::Invalid)?;
    let dst = core.get_mut(PAGE..2 * PAGE).ok_or(GvtError::Invalid)?;
    for i in [CTX_CONTEXT_CONTROL, CTX_TIMESTAMP] {
        set_dword(dst, i, dword(src, i).ok_or(GvtError::Invalid)?)?;
    }
    let from = RING_CTX_STATE_DWORDS * 4;
    if let (Some(s), Some(d)) = (src.get(from..), dst.get_mut(from..)) {
        d.copy_from_slice(s);
    }
    copy_engine_pages(i915, core);
    Ok(())
}

/// Dwords i915 must reserve in the request's ring for `len` bytes of the core's shadow ring:
/// i915 emits whole qwords, so an odd dword count is padded with one MI_NOOP (zero).
pub fn ring_dwords(len: u32) -> Result<u32> {
    if len % 4 != 0 {
        return Err(GvtError::Invalid);
    }
    Ok((len / 4).next_multiple_of(2))
}

/// Events the shim records, from atomic context, for the request in flight on an engine.
pub mod event {
    /// The request's fence signalled.
    pub const SIGNALED: u32 = 1 << 0;
    /// ... with an error: the request was cancelled or the engine reset (a hang).
    pub const ERROR: u32 = 1 << 1;
    /// The context left the hardware with the request complete: its image is saved.
    pub const SWITCHED_OUT: u32 = 1 << 2;
    /// The context went onto the hardware (for the record).
    pub const SCHEDULED_IN: u32 = 1 << 3;
}

/// Whether a request in flight has finished, from the events recorded for it. It is done when
/// its fence signalled and its context switched out (only then has the hardware saved the
/// image the core copies back); it hung as soon as its fence signalled with an error (the
/// image is not used then, and a cancelled context need not switch out again).
pub fn completion(events: u32) -> Option<Completion> {
    if events & event::SIGNALED == 0 {
        return None;
    }
    if events & event::ERROR != 0 {
        return Some(Completion::Hang);
    }
    (events & event::SWITCHED_OUT != 0).then_some(Completion::Done)
}

#[cfg(test)]
mod tests;
