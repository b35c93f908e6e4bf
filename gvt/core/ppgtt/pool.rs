//! Where shadow tables live: slots in chunks that the glue allocates as a vGPU's PPGTT grows,
//! and two hash indexes over them, by guest frame and by host address.
//!
//! A guest may bind gigabytes into one PPGTT: i915's own `igt_ctx_exec` binds a 4 GiB object
//! in each context, 2,048 page tables under one root. A fixed table store sized for that
//! would cost every vGPU tens of megabytes it mostly never uses, so storage starts with one
//! chunk and grows to [`MAX_TABLES`]. With thousands of tables, a linear search per lookup
//! (every child found, every entry dropped) made building one such tree quadratic; the
//! indexes make each lookup a few probes. They are open-addressed with linear probing and
//! hold slot numbers only: a bucket's key is read from its slot, so removal shifts the probe
//! run back instead of leaving tombstones.

use super::super::error::{GvtError, Result};
use super::super::num::usize_as_u64;
use super::log::{LogStore, SptEvent, SptEventKind, SptLog};
use super::Spt;

/// Slots per chunk (1 MiB of guest and shadow copies).
pub const CHUNK: usize = 128;
/// Chunks a vGPU may have: 16,384 tables, 32 GiB of 4 KiB mappings. i915's
/// `igt_shared_ctx_exec` binds four 4 GiB objects in one address space (8,200 tables), and
/// the vGPU's other trees come on top.
pub const MAX_CHUNKS: usize = 128;
/// Shadow tables a vGPU may have.
pub const MAX_TABLES: usize = CHUNK * MAX_CHUNKS;
/// Buckets of each index: twice the tables, so probe runs stay short.
pub const INDEX_BUCKETS: usize = 2 * MAX_TABLES;

/// Chunks of [`CHUNK`] slots, allocated on demand (the glue's vmalloc buffers, the tests'
/// vectors).
pub trait Chunks {
    /// Chunks allocated.
    fn count(&self) -> usize;
    /// Chunk `k`.
    fn chunk(&self, k: usize) -> Option<&[Spt]>;
    /// Chunk `k`, writable.
    fn chunk_mut(&mut self, k: usize) -> Option<&mut [Spt]>;
    /// Adds one chunk of empty slots; false at the limit or when memory is short.
    fn grow(&mut self) -> bool;
}

/// The storage of a [`Pool`] that lives between calls: chunks, indexes, allocation cursor,
/// event log.
pub struct Tables<C, I, L = SptLog> {
    /// The slots.
    pub chunks: C,
    /// Index by guest frame, [`INDEX_BUCKETS`] zeroed buckets.
    pub by_gfn: I,
    /// Index by host address, [`INDEX_BUCKETS`] zeroed buckets.
    pub by_host: I,
    /// Where the next free slot is looked for first.
    pub cursor: usize,
    /// Live tables.
    pub live: usize,
    /// The latest table events, for trace events.
    pub log: L,
}

/// What holds a vGPU's shadow tables between calls.
pub trait SptStorage {
    /// The pool over this storage.
    fn pool(&mut self) -> Pool<'_>;
}

impl<C: Chunks, I: core::ops::DerefMut<Target = [u32]>, L: LogStore> SptStorage
    for Tables<C, I, L>
{
    fn pool(&mut self) -> Pool<'_> {
        Pool {
            chunks: &mut self.chunks,
            by_gfn: &mut self.by_gfn,
            by_host: &mut self.by_host,
            cursor: &mut self.cursor,
            live: &mut self.live,
            log: self.log.log(),
        }
    }
}

/// The shadow table slots of one vGPU, with their indexes.
pub struct Pool<'a> {
    chunks: &'a mut dyn Chunks,
    by_gfn: &'a mut [u32],
    by_host: &'a mut [u32],
    cursor: &'a mut usize,
    live: &'a mut usize,
    log: &'a mut SptLog,
}

/// Which index.
#[derive(Clone, Copy)]
enum Key {
    Gfn,
    Host,
}

fn key_of(t: &Spt, k: Key) -> u64 {
    match k {
        Key::Gfn => t.meta.gfn,
        Key::Host => t.meta.host >> 12,
    }
}

/// The shadow page's host address of slot `i`.
fn t_host(p: &Pool<'_>, i: usize) -> u64 {
    p.get(i).map_or(0, |t| t.meta.host)
}

/// `i` modulo `n` (0 for an empty index).
fn wrap(i: usize, n: usize) -> usize {
    i.checked_rem(n).unwrap_or(0)
}

/// The bucket a key's probe run starts at.
fn home(key: u64, buckets: usize) -> usize {
    let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
    usize::try_from(h.checked_rem(usize_as_u64(buckets)).unwrap_or(0)).unwrap_or(0)
}

impl<'a> Pool<'a> {
    /// The same pool for a shorter borrow.
    pub fn reborrow(&mut self) -> Pool<'_> {
        Pool {
            chunks: &mut *self.chunks,
            by_gfn: &mut *self.by_gfn,
            by_host: &mut *self.by_host,
            cursor: &mut *self.cursor,
            live: &mut *self.live,
            log: &mut *self.log,
        }
    }

    /// Hands the table events recorded since the last call to `f` ([`SptLog::drain`]).
    pub fn drain_events(&mut self, on: bool, f: impl FnMut(&SptEvent)) -> u64 {
        self.log.drain(on, f)
    }

    /// Records what happened to live slot `i` (for trace events).
    pub(super) fn record(&mut self, i: usize, kind: SptEventKind, arg: u64) {
        let Some(m) = self.get(i).map(|t| t.meta) else {
            return;
        };
        self.log.record(SptEvent {
            kind,
            slot: u32::try_from(i).unwrap_or(u32::MAX),
            level: m.level,
            gfn: m.gfn,
            arg,
        });
    }

    /// Slots allocated.
    pub fn len(&self) -> usize {
        self.chunks.count().saturating_mul(CHUNK)
    }

    /// Whether no slot is allocated.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live tables.
    pub fn live(&self) -> usize {
        *self.live
    }

    /// Slot `i`.
    pub fn get(&self, i: usize) -> Option<&Spt> {
        self.chunks.chunk(i / CHUNK)?.get(i % CHUNK)
    }

    /// Slot `i`, writable.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Spt> {
        self.chunks.chunk_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    fn index(&self, k: Key) -> &[u32] {
        match k {
            Key::Gfn => self.by_gfn,
            Key::Host => self.by_host,
        }
    }

    /// The live slots along `key`'s probe run in index `k`, each passed to `f` until it
    /// returns true; that slot is returned.
    fn probe(&self, k: Key, key: u64, mut f: impl FnMut(usize, &Spt) -> bool) -> Option<usize> {
        let idx = self.index(k);
        let n = idx.len();
        let mut b = home(key, n);
        for _ in 0..n {
            let s = usize::try_from(*idx.get(b)?).ok()?.checked_sub(1)?;
            if let Some(t) = self.get(s).filter(|t| t.meta.live && key_of(t, k) == key) {
                if f(s, t) {
                    return Some(s);
                }
            }
            b = wrap(b.wrapping_add(1), n);
        }
        None
    }

    /// The live table of guest frame `gfn` at `level` (`ips`: of 64 KiB entries).
    pub fn find(&self, gfn: u64, level: u8, ips: bool) -> Option<usize> {
        self.probe(Key::Gfn, gfn, |_, t| {
            t.meta.level == level && t.meta.ips == ips
        })
    }

    /// Whether a live table of guest frame `gfn` is write-protected.
    pub fn tracked(&self, gfn: u64) -> bool {
        self.probe(Key::Gfn, gfn, |_, t| t.meta.tracked).is_some()
    }

    /// The live table whose shadow page is at host address `host`.
    pub fn by_host(&self, host: u64) -> Option<usize> {
        self.probe(Key::Host, host >> 12, |_, t| t.meta.host == host)
    }

    /// The live tables of guest frame `gfn` (a page may be a table at each level; a guest
    /// cannot make more than five of one page), in `out`; returns how many.
    pub fn of_gfn(&self, gfn: u64, out: &mut [usize; 8]) -> usize {
        let mut n = 0usize;
        self.probe(Key::Gfn, gfn, |s, _| {
            if let Some(o) = out.get_mut(n) {
                *o = s;
                n = n.wrapping_add(1);
            }
            false
        });
        n
    }

    /// A free slot: after the cursor, else in a new chunk. The caller makes it live and then
    /// [`Pool::insert`]s it.
    pub fn alloc(&mut self) -> Result<usize> {
        if self.live().saturating_mul(2) >= self.by_gfn.len().min(self.by_host.len()) {
            return Err(GvtError::NoSpace);
        }
        let n = self.len();
        for step in 0..n {
            let i = wrap(self.cursor.wrapping_add(step), n);
            if self.get(i).is_some_and(|t| !t.meta.live) {
                *self.cursor = i.wrapping_add(1);
                return Ok(i);
            }
        }
        if self.chunks.grow() {
            *self.cursor = n.wrapping_add(1);
            return Ok(n);
        }
        Err(GvtError::NoSpace)
    }

    /// Indexes live slot `i` (its guest frame and host address set).
    pub fn insert(&mut self, i: usize) {
        let Some(t) = self.get(i) else { return };
        let (g, h) = (key_of(t, Key::Gfn), key_of(t, Key::Host));
        let v = u32::try_from(i.wrapping_add(1)).unwrap_or(0);
        for (idx, key) in [(&mut *self.by_gfn, g), (&mut *self.by_host, h)] {
            let n = idx.len();
            let mut b = home(key, n);
            for _ in 0..n {
                match idx.get_mut(b) {
                    Some(e) if *e == 0 => {
                        *e = v;
                        break;
                    }
                    Some(_) => b = wrap(b.wrapping_add(1), n),
                    None => break,
                }
            }
        }
        *self.live = self.live.saturating_add(1);
        let host = t_host(self, i);
        self.record(i, SptEventKind::Alloc, host);
    }

    /// Drops live slot `i` from the indexes (before its bookkeeping is cleared).
    pub fn remove(&mut self, i: usize) {
        let host = t_host(self, i);
        self.record(i, SptEventKind::Free, host);
        self.remove_from(Key::Gfn, i);
        self.remove_from(Key::Host, i);
        *self.live = self.live.saturating_sub(1);
    }

    fn remove_from(&mut self, k: Key, i: usize) {
        let Some(key) = self.get(i).map(|t| key_of(t, k)) else {
            return;
        };
        let v = u32::try_from(i.wrapping_add(1)).unwrap_or(0);
        let n = self.index(k).len();
        let mut hole = home(key, n);
        let mut found = false;
        for _ in 0..n {
            match self.index(k).get(hole) {
                Some(&e) if e == v => {
                    found = true;
                    break;
                }
                Some(&e) if e != 0 => hole = wrap(hole.wrapping_add(1), n),
                _ => break,
            }
        }
        if !found {
            return;
        }
        self.set_bucket(k, hole, 0);
        // Entries after the hole whose probe run starts at or before it move back into it.
        let mut b = hole;
        for _ in 0..n {
            b = wrap(b.wrapping_add(1), n);
            let Some(e) = self.index(k).get(b).copied().filter(|&e| e != 0) else {
                break;
            };
            let Some(h) = usize::try_from(e)
                .ok()
                .and_then(|e| e.checked_sub(1))
                .and_then(|s| self.get(s))
                .map(|t| home(key_of(t, k), n))
            else {
                break;
            };
            // Cyclic distances from the entry's home to where it is and to the hole.
            let to_here = wrap(b.wrapping_add(n).wrapping_sub(h), n);
            let to_hole = wrap(hole.wrapping_add(n).wrapping_sub(h), n);
            if to_hole < to_here {
                self.set_bucket(k, hole, e);
                self.set_bucket(k, b, 0);
                hole = b;
            }
        }
    }

    fn set_bucket(&mut self, k: Key, b: usize, v: u32) {
        let idx = match k {
            Key::Gfn => &mut *self.by_gfn,
            Key::Host => &mut *self.by_host,
        };
        if let Some(e) = idx.get_mut(b) {
            *e = v;
        }
    }
}
