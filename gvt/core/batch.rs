//! Privileged batch buffers: their copies for the command scanner and their shadows on the host.
//!
//! A batch the ring starts through the GGTT runs with the ring's privileges, so it is scanned
//! like the ring, and like the ring it must not be read from guest memory again after the scan:
//! the guest can rewrite it at any time before the GPU gets to it. So the scanner reads each
//! batch from a copy ([`Copies`]: an arena in the vGPU's execution storage, filled a guest page
//! at a time as the scan reaches it, every byte copied once), and after an accepted scan every
//! privileged batch that will run is written from those same bytes into host pages mapped into
//! the host's own part of the GGTT ([`shadow`]). The `MI_BATCH_BUFFER_START`s that reach them,
//! in the shadow ring and in the shadows of chaining or calling batches, are pointed at the
//! shadows. The workload keeps its [`Shadow`]s until it completes, is dropped, or its vGPU is
//! reset or destroyed ([`release`]).
//!
//! PPGTT batches are not copied here: the hardware runs them unprivileged, confined to the
//! context's PPGTT, which the device model shadows (upstream's default, `Policy::scan_ppgtt`).

use super::cmd_scanner::{AddrSpace, At, BatchRecord, BatchSource, Buf, MAX_BATCHES};
use super::error::{GvtError, Result};
use super::host::HostExec;
use super::num::{u64_as_usize, usize_as_u64};
use super::ppgtt::PAGE;
use super::workload::GuestMem;

/// Bytes of the arena the batch copies of one workload share: the most privileged batch
/// code one submission may carry.
pub const ARENA_BYTES: usize = 128 << 10;

/// The command streamer prefetches past a batch's last command: every shadow is followed by one
/// more zeroed page (`MI_NOOP`s) mapped with it.
const PREFETCH_PAGES: u32 = 1;

/// Where one batch's copy is in the arena.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Arena offset and length of the copy.
    start: usize,
    len: usize,
    /// Graphics address of the first byte not copied yet.
    next: u64,
    /// Its address space; `None` for an unused slot.
    space: Option<AddrSpace>,
    /// To be shadowed: the bytes the scan accepted, and the batch start that runs it.
    keep: Option<(usize, At)>,
}

/// The copies of the batches one scan loaded, in an arena of caller-provided storage.
pub struct Copies<'a> {
    arena: &'a mut [u8],
    used: usize,
    slots: [Slot; MAX_BATCHES],
}

impl<'a> Copies<'a> {
    /// No copies yet, in `arena`.
    pub fn new(arena: &'a mut [u8]) -> Copies<'a> {
        Copies {
            arena,
            used: 0,
            slots: [Slot::default(); MAX_BATCHES],
        }
    }

    /// Forgets every copy (before scanning again).
    pub fn clear(&mut self) {
        self.used = 0;
        self.slots = [Slot::default(); MAX_BATCHES];
    }

    /// The scanner's view: loads batches from `mem` into these copies.
    pub fn source<'b>(&'b mut self, mem: &'b mut dyn GuestMem) -> Source<'b, 'a> {
        Source { copies: self, mem }
    }

    /// Marks the privileged batch the scan accepted as `rec` for shadowing: its first `rec.len`
    /// bytes, started by the command at `rec.started_at`.
    pub fn keep(&mut self, rec: &BatchRecord) -> Result {
        let s = self
            .slots
            .get_mut(usize::from(rec.slot))
            .ok_or(GvtError::Invalid)?;
        let len = usize::try_from(rec.len).map_err(|_| GvtError::Invalid)?;
        if rec.space != AddrSpace::Ggtt
            || s.space != Some(AddrSpace::Ggtt)
            || len == 0
            || len > s.len
        {
            return Err(GvtError::Invalid);
        }
        s.keep = Some((len, rec.started_at));
        Ok(())
    }

    /// The bytes of `slot`'s copy.
    fn bytes(&self, slot: usize) -> &[u8] {
        self.slots
            .get(slot)
            .and_then(|s| self.arena.get(s.start..s.start.wrapping_add(s.len)))
            .unwrap_or(&[])
    }

    /// Copies the rest of the guest page at `slot`'s next address onto its copy, moving the copy
    /// to the end of the arena first if another batch was loaded after it.
    fn fetch(&mut self, slot: usize, mem: &mut dyn GuestMem) -> bool {
        let Some(s) = self.slots.get_mut(slot) else {
            return false;
        };
        let Some(space) = s.space else { return false };
        let chunk = PAGE.wrapping_sub(u64_as_usize(s.next & 0xfff));
        let at_end = s.start.wrapping_add(s.len) == self.used;
        let need = if at_end {
            chunk
        } else {
            s.len.saturating_add(chunk)
        };
        if need > self.arena.len().saturating_sub(self.used) {
            return false;
        }
        if !at_end {
            // The copy lies below `used`, its new place from `used` on.
            let (below, above) = self.arena.split_at_mut(self.used.min(self.arena.len()));
            let (Some(from), Some(to)) = (
                below.get(s.start..s.start.wrapping_add(s.len)),
                above.get_mut(..s.len),
            ) else {
                return false;
            };
            for (d, b) in to.iter_mut().zip(from) {
                *d = *b;
            }
            s.start = self.used;
            self.used = self.used.wrapping_add(s.len);
        }
        let Some(next) = s.next.checked_add(usize_as_u64(chunk)) else {
            return false;
        };
        let Some(dst) = self.arena.get_mut(self.used..self.used.wrapping_add(chunk)) else {
            return false;
        };
        let read = match space {
            AddrSpace::Ggtt => mem.read_ggtt(s.next, dst),
            AddrSpace::Ppgtt => mem.read_ppgtt(s.next, dst),
        };
        if read.is_err() {
            return false;
        }
        s.len = s.len.wrapping_add(chunk);
        s.next = next;
        self.used = self.used.wrapping_add(chunk);
        true
    }
}

/// [`Copies`] as the scanner's [`BatchSource`], reading guest memory through `mem`.
pub struct Source<'b, 'a> {
    copies: &'b mut Copies<'a>,
    mem: &'b mut dyn GuestMem,
}

impl BatchSource for Source<'_, '_> {
    fn load(&mut self, slot: usize, space: AddrSpace, addr: u64) -> bool {
        let used = self.copies.used;
        let Some(s) = self.copies.slots.get_mut(slot) else {
            return false;
        };
        *s = Slot {
            start: used,
            len: 0,
            next: addr,
            space: Some(space),
            keep: None,
        };
        self.copies.fetch(slot, self.mem)
    }

    fn more(&mut self, slot: usize) -> bool {
        self.copies.fetch(slot, self.mem)
    }

    fn bytes(&self, slot: usize) -> &[u8] {
        self.copies.bytes(slot)
    }
}

/// A privileged batch's shadow: `pages` host pages at `host`, mapped in the host GGTT at `gm`
/// (`pages` 0: none), holding `len` bytes of scanned commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shadow {
    /// Host address of its pages.
    pub host: u64,
    /// Graphics address the GPU runs it from.
    pub gm: u64,
    /// Pages allocated and mapped.
    pub pages: u32,
    /// Bytes of commands in it.
    pub len: u32,
}

/// Writes `gm` into the address dwords of the batch start at `offset` in `buf`.
fn point(buf: &mut [u8], offset: u32, gm: u64) -> Result {
    let from = usize::try_from(offset)
        .map_err(|_| GvtError::Invalid)?
        .checked_add(4)
        .ok_or(GvtError::Invalid)?;
    let dst = buf
        .get_mut(from..from.wrapping_add(8))
        .ok_or(GvtError::Invalid)?;
    dst.copy_from_slice(&gm.to_le_bytes());
    Ok(())
}

/// Shadows every batch of `copies` marked with [`Copies::keep`]: its scanned bytes in fresh host
/// pages (one more page for prefetch), mapped into the host's GGTT, and every batch start that
/// runs one (in `ring`, the scanned ring slice, or in another kept copy) pointed at its shadow.
/// `out` (at least [`MAX_BATCHES`] entries) gets the shadows by slot. On error nothing of them
/// is left on the host.
pub fn shadow(
    copies: &mut Copies<'_>,
    ring: &mut [u8],
    host: &dyn HostExec,
    out: &mut [Shadow],
) -> Result {
    let made = place(copies, ring, host, out);
    if made.is_err() {
        release(host, out);
    }
    made
}

fn place(
    copies: &mut Copies<'_>,
    ring: &mut [u8],
    host: &dyn HostExec,
    out: &mut [Shadow],
) -> Result {
    if out.len() < MAX_BATCHES {
        return Err(GvtError::Invalid);
    }
    for (s, o) in copies.slots.iter().zip(out.iter_mut()) {
        let Some((len, _)) = s.keep else { continue };
        let bytes = u32::try_from(len).map_err(|_| GvtError::Invalid)?;
        let pages = u32::try_from(len.div_ceil(PAGE))
            .map_err(|_| GvtError::Invalid)?
            .saturating_add(PREFETCH_PAGES);
        let at = host.alloc_pages(pages)?;
        match host.map_ggtt(at, pages) {
            Ok(gm) => {
                *o = Shadow {
                    host: at,
                    gm,
                    pages,
                    len: bytes,
                }
            }
            Err(e) => {
                host.free_pages(at, pages);
                return Err(e);
            }
        }
    }
    // Point the batch starts at the shadows, then write the shadows with their own starts
    // already pointed.
    for i in 0..MAX_BATCHES {
        let (Some(&s), Some(o)) = (copies.slots.get(i), out.get(i)) else {
            continue;
        };
        let Some((_, at)) = s.keep else { continue };
        match at.buf {
            Buf::Ring => point(ring, at.offset, o.gm)?,
            Buf::Batch(p) => {
                let parent = copies
                    .slots
                    .get(usize::from(p))
                    .copied()
                    .ok_or(GvtError::Invalid)?;
                let (len, _) = parent.keep.ok_or(GvtError::Invalid)?;
                let bytes = copies
                    .arena
                    .get_mut(parent.start..parent.start.wrapping_add(len))
                    .ok_or(GvtError::Invalid)?;
                point(bytes, at.offset, o.gm)?;
            }
        }
    }
    for (s, o) in copies.slots.iter().zip(out.iter()) {
        let Some((len, _)) = s.keep else { continue };
        let bytes = copies
            .arena
            .get(s.start..s.start.wrapping_add(len))
            .ok_or(GvtError::Invalid)?;
        host.write_mem(o.host, bytes)?;
    }
    Ok(())
}

/// Unmaps and frees the shadows in `shadows` and clears them.
pub fn release(host: &dyn HostExec, shadows: &mut [Shadow]) {
    for s in shadows.iter_mut().filter(|s| s.pages != 0) {
        host.unmap_ggtt(s.gm, s.pages);
        host.free_pages(s.host, s.pages);
        *s = Shadow::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::host::HostWorkload;
    use std::cell::{Cell, RefCell};
    use std::vec;
    use std::vec::Vec;

    /// Guest graphics memory from `BASE`: byte `i` is `i as u8`, over `len` bytes.
    struct Mem(usize);
    const BASE: u64 = 0x10_0000;

    impl GuestMem for Mem {
        fn read_ggtt(&mut self, gm: u64, buf: &mut [u8]) -> Result {
            let off = usize::try_from(gm - BASE).unwrap();
            if gm < BASE || off + buf.len() > self.0 {
                return Err(GvtError::Fault);
            }
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (off + i) as u8;
            }
            Ok(())
        }
        fn read_ppgtt(&mut self, _: u64, _: &mut [u8]) -> Result {
            Err(GvtError::Fault)
        }
    }

    /// Host pages by address and GGTT maps; maps fail once `maps_left` is used up.
    struct Host {
        pages: RefCell<Vec<(u64, Vec<u8>)>>,
        maps: RefCell<Vec<(u64, u32)>>,
        next: Cell<u64>,
        maps_left: Cell<u32>,
    }

    impl Host {
        fn new(maps_left: u32) -> Host {
            Host {
                pages: RefCell::new(Vec::new()),
                maps: RefCell::new(Vec::new()),
                next: Cell::new(0x1000_0000),
                maps_left: Cell::new(maps_left),
            }
        }
        fn page(&self, addr: u64) -> Vec<u8> {
            self.pages
                .borrow()
                .iter()
                .find(|p| p.0 == addr)
                .unwrap()
                .1
                .clone()
        }
    }

    impl HostExec for Host {
        fn alloc_pages(&self, pages: u32) -> Result<u64> {
            let at = self.next.get();
            self.next.set(at + 0x10_0000);
            self.pages
                .borrow_mut()
                .push((at, vec![0; pages as usize * PAGE]));
            Ok(at)
        }
        fn free_pages(&self, addr: u64, _: u32) {
            self.pages.borrow_mut().retain(|p| p.0 != addr);
        }
        fn write_mem(&self, addr: u64, data: &[u8]) -> Result {
            let mut pages = self.pages.borrow_mut();
            let p = pages
                .iter_mut()
                .find(|p| p.0 == addr)
                .ok_or(GvtError::Fault)?;
            p.1[..data.len()].copy_from_slice(data);
            Ok(())
        }
        fn read_mem(&self, _: u64, _: &mut [u8]) -> Result {
            Err(GvtError::Fault)
        }
        fn map_ggtt(&self, addr: u64, pages: u32) -> Result<u64> {
            let left = self
                .maps_left
                .get()
                .checked_sub(1)
                .ok_or(GvtError::NoSpace)?;
            self.maps_left.set(left);
            self.maps.borrow_mut().push((addr, pages));
            Ok(addr >> 8)
        }
        fn unmap_ggtt(&self, gm: u64, _: u32) {
            self.maps.borrow_mut().retain(|m| m.0 >> 8 != gm);
        }
        fn mmio_read(&self, _: u32) -> u32 {
            0
        }
        fn mmio_write(&self, _: u32, _: u32) {}
        fn submit(&self, _: &HostWorkload) -> Result {
            Ok(())
        }
    }

    fn expect(from: usize, len: usize) -> Vec<u8> {
        (from..from + len).map(|i| i as u8).collect()
    }

    #[test]
    fn copies_grow_a_page_at_a_time_and_move_to_grow() {
        let mut arena = vec![0u8; 3 * PAGE];
        let mut mem = Mem(4 * PAGE);
        let mut c = Copies::new(&mut arena);
        let mut src = c.source(&mut mem);
        assert!(src.load(0, AddrSpace::Ggtt, BASE + 0xff0));
        assert_eq!(src.bytes(0), &expect(0xff0, 16)[..]);
        assert!(src.load(1, AddrSpace::Ggtt, BASE + 0x2000));
        // Slot 0 is no longer last: it moves behind slot 1, then grows by a page.
        assert!(src.more(0));
        assert_eq!(src.bytes(0), &expect(0xff0, 16 + PAGE)[..]);
        assert_eq!(src.bytes(1), &expect(0x2000, PAGE)[..]);
        // The arena is full; a PPGTT batch or a missing page loads nothing.
        assert!(!src.more(1));
        assert!(!src.load(2, AddrSpace::Ppgtt, BASE));
        let mut arena = vec![0u8; 3 * PAGE];
        let mut c = Copies::new(&mut arena);
        let mut src = c.source(&mut mem);
        assert!(src.load(0, AddrSpace::Ggtt, BASE + 0x3000));
        assert!(!src.more(0));
        assert!(!src.load(MAX_BATCHES, AddrSpace::Ggtt, BASE));
    }

    fn rec(slot: u8, len: u32, started_at: At) -> BatchRecord {
        BatchRecord {
            slot,
            level: 1,
            space: AddrSpace::Ggtt,
            addr: 0,
            len,
            started_at,
        }
    }

    /// Two copies: slot 0 started from the ring at offset 4, slot 1 from slot 0 at offset 8.
    fn two(arena: &mut [u8]) -> Copies<'_> {
        let mut mem = Mem(4 * PAGE);
        let mut c = Copies::new(arena);
        let mut src = c.source(&mut mem);
        assert!(src.load(0, AddrSpace::Ggtt, BASE) && src.load(1, AddrSpace::Ggtt, BASE + 0x1000));
        c.keep(&rec(
            0,
            64,
            At {
                buf: Buf::Ring,
                offset: 4,
            },
        ))
        .unwrap();
        c.keep(&rec(
            1,
            32,
            At {
                buf: Buf::Batch(0),
                offset: 8,
            },
        ))
        .unwrap();
        c
    }

    #[test]
    fn shadows_hold_the_scanned_bytes_and_the_starts_point_at_them() {
        let mut arena = vec![0u8; ARENA_BYTES];
        let mut c = two(&mut arena);
        let host = Host::new(2);
        let mut ring = vec![0u8; 32];
        let mut out = [Shadow::default(); MAX_BATCHES];
        shadow(&mut c, &mut ring, &host, &mut out).unwrap();
        let [s0, s1] = [out[0], out[1]];
        assert_eq!((s0.pages, s0.len, s1.pages, s1.len), (2, 64, 2, 32));
        assert_eq!(&ring[8..16], &s0.gm.to_le_bytes());
        let p0 = host.page(s0.host);
        let mut want = expect(0, 64);
        want[12..20].copy_from_slice(&s1.gm.to_le_bytes());
        assert_eq!(&p0[..64], &want[..]);
        assert!(
            p0[64..].iter().all(|&b| b == 0),
            "past the scanned bytes: MI_NOOP"
        );
        assert_eq!(
            &host.page(s1.host)[..40],
            &[expect(0x1000, 32), vec![0; 8]].concat()[..]
        );
        release(&host, &mut out);
        assert!(host.pages.borrow().is_empty() && host.maps.borrow().is_empty());
        assert_eq!(out, [Shadow::default(); MAX_BATCHES]);
    }

    #[test]
    fn a_shadow_that_cannot_be_made_leaves_nothing() {
        let mut arena = vec![0u8; ARENA_BYTES];
        let mut c = two(&mut arena);
        let host = Host::new(1);
        let mut out = [Shadow::default(); MAX_BATCHES];
        assert_eq!(
            shadow(&mut c, &mut [0u8; 32], &host, &mut out),
            Err(GvtError::NoSpace)
        );
        assert!(host.pages.borrow().is_empty() && host.maps.borrow().is_empty());
        // A start outside its buffer.
        let mut c = two(&mut arena);
        let host = Host::new(2);
        assert_eq!(
            shadow(&mut c, &mut [0u8; 8], &host, &mut out),
            Err(GvtError::Invalid)
        );
        assert!(host.pages.borrow().is_empty() && host.maps.borrow().is_empty());
    }

    #[test]
    fn only_scanned_privileged_bytes_are_kept() {
        let mut arena = vec![0u8; ARENA_BYTES];
        let mut c = two(&mut arena);
        let at = At {
            buf: Buf::Ring,
            offset: 0,
        };
        assert_eq!(c.keep(&rec(0, PAGE as u32 + 4, at)), Err(GvtError::Invalid));
        assert_eq!(c.keep(&rec(0, 0, at)), Err(GvtError::Invalid));
        assert_eq!(c.keep(&rec(2, 4, at)), Err(GvtError::Invalid));
        assert_eq!(
            c.keep(&BatchRecord {
                space: AddrSpace::Ppgtt,
                ..rec(0, 4, at)
            }),
            Err(GvtError::Invalid)
        );
    }
}
