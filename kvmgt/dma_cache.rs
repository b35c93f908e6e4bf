//! kvmgt's DMA pin cache: the guest pages gvt.ko maps for the GPU, pinned once and shared by
//! reference count, and the references gvt.ko still owes for mappings released under it.
//!
//! Why it is Rust and sans-I/O: this bookkeeping is where upstream's recurring bugs were
//! (CVE-2022-3707, a double free of a cache entry), and here it is tested on the host, every
//! sequence of operations against a model ([`tests`]). The cache only decides; pinning, DMA
//! mapping, the grants to gvt.ko and the aperture zap are the kernel side's ([`Pinner`]), and
//! entries live in any [`Map`]: the kernel's `RBTree` in kvmgt.ko, a `BTreeMap` in tests.
//!
//! A mapping can be released while gvt.ko still references it: user space unmaps the memory
//! (VFIO's `dma_unmap` callback), or the guest maps the page again at another size. gvt.ko
//! then still owes one `unmap` per reference, with a DMA address a new mapping may get again.
//! Those are counted as owed ([`DmaCache::unmap`] pays them first), never taken from the new
//! mapping's references.

/// Largest mapping: a 2 MiB guest page.
pub const MAX_SIZE: u64 = 2 << 20;
const PAGE_SHIFT: u32 = 12;
const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Pages of the largest mapping: how far before a range a mapping overlapping it may start.
const MAX_PAGES: u64 = MAX_SIZE >> PAGE_SHIFT;

/// A pinned, DMA-mapped guest range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin {
    /// First guest frame.
    pub gfn: u64,
    /// Bytes (a multiple of 4 KiB, at most [`MAX_SIZE`]).
    pub size: u64,
    /// The DMA address of its first byte.
    pub dma: u64,
    /// gvt.ko's references.
    pub refs: u32,
    /// The kernel side's handle of the pinned pages (kvmgt.ko: the first `struct page`).
    pub page: usize,
}

impl Pin {
    fn last_gfn(&self) -> u64 {
        self.gfn
            .saturating_add((self.size >> PAGE_SHIFT).saturating_sub(1))
    }
}

/// What the kernel side does for the cache.
pub trait Pinner {
    /// Why a pin failed (the caller's errno).
    type Error;
    /// Pins `size` bytes of guest memory at `gfn`, which must be physically contiguous, maps
    /// them for the GPU and grants them to gvt.ko; returns the DMA address and the pages'
    /// handle.
    fn pin(&mut self, gfn: u64, size: u64) -> Result<(u64, usize), Self::Error>;
    /// Revokes gvt.ko's grant of `p`, unmaps and unpins it. `in_use`: gvt.ko still references
    /// it, so the GGTT may point there and CPU mappings of the aperture must go too.
    fn unpin(&mut self, p: &Pin, in_use: bool);
}

/// An ordered map from `u64` keys, with fallible insertion (the kernel allocates nodes).
pub trait Map<V> {
    /// The value at `k`.
    fn get(&self, k: u64) -> Option<&V>;
    /// The value at `k`, writable.
    fn get_mut(&mut self, k: u64) -> Option<&mut V>;
    /// Inserts or replaces; false when memory is short (nothing changed then).
    fn insert(&mut self, k: u64, v: V) -> bool;
    /// Removes the value at `k`.
    fn remove(&mut self, k: u64) -> Option<V>;
    /// The smallest key at or above `k` (`&mut`: the kernel's tree gives cursors only so).
    fn next_key(&mut self, k: u64) -> Option<u64>;
}

/// Why a mapping was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError<E> {
    /// A bad frame or size.
    Invalid,
    /// The page is mapped at another size by more than one reference.
    Busy,
    /// No memory for the cache's bookkeeping.
    NoMemory,
    /// The kernel side could not pin or map it.
    Pin(E),
}

/// Counts for debugfs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Mappings cached.
    pub entries: u64,
    /// Guest pages pinned.
    pub pages: u64,
    /// `unmap`s gvt.ko owes for mappings released under it.
    pub owed: u64,
    /// References that could not be recorded as owed (memory was short): gvt.ko's later
    /// `unmap`s of them find nothing, or a newer mapping.
    pub unrecorded: u64,
}

/// The cache: mappings by first guest frame, the frame by DMA page, owed references by DMA
/// page.
pub struct DmaCache<G, D, O> {
    by_gfn: G,
    by_dma: D,
    owed: O,
    stats: Stats,
}

impl<G: Map<Pin>, D: Map<u64>, O: Map<u32>> DmaCache<G, D, O> {
    /// A cache over empty maps.
    pub fn new(by_gfn: G, by_dma: D, owed: O) -> Self {
        DmaCache {
            by_gfn,
            by_dma,
            owed,
            stats: Stats::default(),
        }
    }

    /// Counts.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// gvt.ko maps `size` bytes at `gfn` for the GPU: one more reference to the cached
    /// mapping, or a new one. Returns its DMA address.
    pub fn map<P: Pinner>(
        &mut self,
        p: &mut P,
        gfn: u64,
        size: u64,
    ) -> Result<u64, MapError<P::Error>> {
        if size == 0 || size % PAGE_SIZE != 0 || size > MAX_SIZE || gfn > u64::MAX >> PAGE_SHIFT {
            return Err(MapError::Invalid);
        }
        if let Some(&old) = self.by_gfn.get(gfn) {
            if old.size == size {
                let refs = old.refs.checked_add(1).ok_or(MapError::Busy)?;
                if let Some(e) = self.by_gfn.get_mut(gfn) {
                    e.refs = refs;
                }
                return Ok(old.dma);
            }
            // The guest now maps this page at another size: start over.
            if old.refs > 1 {
                return Err(MapError::Busy);
            }
            self.release(p, gfn);
        }
        let (dma, page) = p.pin(gfn, size).map_err(MapError::Pin)?;
        let pin = Pin {
            gfn,
            size,
            dma,
            refs: 1,
            page,
        };
        if !self.by_gfn.insert(gfn, pin) {
            p.unpin(&pin, false);
            return Err(MapError::NoMemory);
        }
        if !self.by_dma.insert(dma >> PAGE_SHIFT, gfn) {
            self.by_gfn.remove(gfn);
            p.unpin(&pin, false);
            return Err(MapError::NoMemory);
        }
        self.stats.entries = self.stats.entries.saturating_add(1);
        self.stats.pages = self.stats.pages.saturating_add(size >> PAGE_SHIFT);
        Ok(dma)
    }

    /// gvt.ko drops one reference to the mapping at `dma`: a reference owed for a mapping
    /// released under it is paid first; the last reference releases the mapping. An address
    /// the cache does not know is ignored.
    pub fn unmap<P: Pinner>(&mut self, p: &mut P, dma: u64) {
        let key = dma >> PAGE_SHIFT;
        if let Some(n) = self.owed.get(key).copied() {
            match n.checked_sub(1).filter(|&left| left > 0) {
                Some(left) => {
                    if let Some(v) = self.owed.get_mut(key) {
                        *v = left;
                    }
                }
                None => {
                    self.owed.remove(key);
                }
            }
            self.stats.owed = self.stats.owed.saturating_sub(1);
            return;
        }
        let Some(gfn) = self.by_dma.get(key).copied() else {
            return;
        };
        let Some(e) = self.by_gfn.get_mut(gfn) else {
            return;
        };
        e.refs = e.refs.saturating_sub(1);
        if e.refs == 0 {
            self.release(p, gfn);
        }
    }

    /// The mapping whose first page is at `dma`, and the byte offset of `dma` in it (what the
    /// aperture's fault handler needs to find the page).
    pub fn lookup(&self, dma: u64) -> Option<(Pin, u64)> {
        let gfn = *self.by_dma.get(dma >> PAGE_SHIFT)?;
        let pin = *self.by_gfn.get(gfn)?;
        let off = dma.checked_sub(pin.dma).filter(|&o| o < pin.size)?;
        Some((pin, off))
    }

    /// User space unmapped guest frames `first..=last` (VFIO's `dma_unmap`): every mapping
    /// that overlaps them is released, whatever gvt.ko still holds.
    pub fn user_unmap<P: Pinner>(&mut self, p: &mut P, first: u64, last: u64) {
        let mut k = first.saturating_sub(MAX_PAGES.saturating_sub(1));
        while let Some(gfn) = self.by_gfn.next_key(k).filter(|&g| g <= last) {
            if self.by_gfn.get(gfn).is_some_and(|e| e.last_gfn() >= first) {
                self.release(p, gfn);
            }
            let Some(next) = gfn.checked_add(1) else {
                break;
            };
            k = next;
        }
    }

    /// The device is closed: every mapping is released, and what gvt.ko owed is forgotten
    /// (its reset dropped its references before this).
    pub fn flush<P: Pinner>(&mut self, p: &mut P) {
        while let Some(gfn) = self.by_gfn.next_key(0) {
            self.release(p, gfn);
        }
        while let Some(k) = self.owed.next_key(0) {
            self.owed.remove(k);
        }
        self.stats.owed = 0;
    }

    /// Releases the mapping at `gfn`; the references gvt.ko still holds become owed.
    fn release<P: Pinner>(&mut self, p: &mut P, gfn: u64) {
        let Some(pin) = self.by_gfn.remove(gfn) else {
            return;
        };
        let key = pin.dma >> PAGE_SHIFT;
        self.by_dma.remove(key);
        if pin.refs > 0 {
            let owed = self
                .owed
                .get(key)
                .copied()
                .unwrap_or(0)
                .saturating_add(pin.refs);
            if self.owed.insert(key, owed) {
                self.stats.owed = self.stats.owed.saturating_add(u64::from(pin.refs));
            } else {
                self.stats.unrecorded = self.stats.unrecorded.saturating_add(u64::from(pin.refs));
            }
        }
        p.unpin(&pin, pin.refs > 0);
        self.stats.entries = self.stats.entries.saturating_sub(1);
        self.stats.pages = self.stats.pages.saturating_sub(pin.size >> PAGE_SHIFT);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::vec::Vec;

    struct Tree<V>(BTreeMap<u64, V>);

    impl<V> Map<V> for Tree<V> {
        fn get(&self, k: u64) -> Option<&V> {
            self.0.get(&k)
        }
        fn get_mut(&mut self, k: u64) -> Option<&mut V> {
            self.0.get_mut(&k)
        }
        fn insert(&mut self, k: u64, v: V) -> bool {
            self.0.insert(k, v);
            true
        }
        fn remove(&mut self, k: u64) -> Option<V> {
            self.0.remove(&k)
        }
        fn next_key(&mut self, k: u64) -> Option<u64> {
            self.0.range(k..).next().map(|(&k, _)| k)
        }
    }

    type Cache = DmaCache<Tree<Pin>, Tree<u64>, Tree<u32>>;

    fn cache() -> Cache {
        DmaCache::new(
            Tree(BTreeMap::new()),
            Tree(BTreeMap::new()),
            Tree(BTreeMap::new()),
        )
    }

    /// The kernel side: pinned frames, and DMA addresses handed out again as soon as they are
    /// free (lowest first), which is what makes a stale `unmap` dangerous.
    #[derive(Default)]
    struct FakeKernel {
        pinned: BTreeSet<u64>,
        dma_used: BTreeSet<u64>,
        pins: u64,
        unpins: u64,
        zaps: u64,
        fail_pin: bool,
    }

    impl Pinner for FakeKernel {
        type Error = i32;
        fn pin(&mut self, gfn: u64, size: u64) -> Result<(u64, usize), i32> {
            if self.fail_pin {
                return Err(-14);
            }
            let pages = size >> PAGE_SHIFT;
            for f in gfn..gfn + pages {
                assert!(self.pinned.insert(f), "frame {f:#x} pinned twice");
            }
            // Each mapping takes a 2 MiB-aligned DMA window; the lowest free one.
            let dma = (0u64..)
                .map(|i| i * MAX_SIZE)
                .find(|d| !self.dma_used.contains(d));
            let dma = dma.unwrap();
            self.dma_used.insert(dma);
            self.pins += 1;
            Ok((dma, 0))
        }
        fn unpin(&mut self, p: &Pin, in_use: bool) {
            for f in p.gfn..p.gfn + (p.size >> PAGE_SHIFT) {
                assert!(
                    self.pinned.remove(&f),
                    "frame {f:#x} unpinned twice or never pinned"
                );
            }
            assert!(self.dma_used.remove(&p.dma), "DMA {:#x} freed twice", p.dma);
            assert_eq!(in_use, p.refs > 0);
            self.unpins += 1;
            self.zaps += u64::from(in_use);
        }
    }

    #[test]
    fn pin_once_share_and_release_on_the_last_unmap() {
        let (mut c, mut k) = (cache(), FakeKernel::default());
        let a = c.map(&mut k, 0x100, 4096).unwrap();
        assert_eq!(c.map(&mut k, 0x100, 4096), Ok(a));
        assert_eq!(k.pins, 1);
        c.unmap(&mut k, a);
        assert_eq!(c.stats().entries, 1);
        c.unmap(&mut k, a);
        assert_eq!((c.stats().entries, k.unpins, k.zaps), (0, 1, 0));
        // A double unmap finds nothing.
        c.unmap(&mut k, a);
        assert_eq!(k.unpins, 1);
    }

    #[test]
    fn refusals_leave_nothing_pinned() {
        let (mut c, mut k) = (cache(), FakeKernel::default());
        for (gfn, size) in [(1, 0), (1, 100), (1, MAX_SIZE + 4096), (u64::MAX, 4096)] {
            assert_eq!(c.map(&mut k, gfn, size), Err(MapError::Invalid));
        }
        k.fail_pin = true;
        assert_eq!(c.map(&mut k, 1, 4096), Err(MapError::Pin(-14)));
        assert_eq!((c.stats(), k.pinned.len()), (Stats::default(), 0));
    }

    #[test]
    fn user_unmap_while_pinned_makes_the_references_owed() {
        let (mut c, mut k) = (cache(), FakeKernel::default());
        let a = c.map(&mut k, 0x200, MAX_SIZE).unwrap();
        c.map(&mut k, 0x200, MAX_SIZE).unwrap();
        // The range covers the middle of the 2 MiB mapping only.
        c.user_unmap(&mut k, 0x300, 0x300);
        assert_eq!((c.stats().entries, c.stats().owed, k.zaps), (0, 2, 1));
        // A new mapping gets the same DMA address; gvt.ko's two stale unmaps are paid, not
        // taken from it.
        let b = c.map(&mut k, 0x900, 4096).unwrap();
        assert_eq!(a, b);
        c.unmap(&mut k, a);
        c.unmap(&mut k, a);
        assert_eq!((c.stats().entries, c.stats().owed), (1, 0));
        assert_eq!(c.lookup(b).map(|(p, _)| p.refs), Some(1));
        c.unmap(&mut k, b);
        assert_eq!(k.pinned.len(), 0);
    }

    #[test]
    fn another_size_starts_over_unless_shared() {
        let (mut c, mut k) = (cache(), FakeKernel::default());
        c.map(&mut k, 0x400, 4096).unwrap();
        c.map(&mut k, 0x400, 4096).unwrap();
        assert_eq!(c.map(&mut k, 0x400, MAX_SIZE), Err(MapError::Busy));
        let (mut c, mut k) = (cache(), FakeKernel::default());
        let small = c.map(&mut k, 0x400, 4096).unwrap();
        let big = c.map(&mut k, 0x400, MAX_SIZE).unwrap();
        // The small mapping's reference became owed; its DMA address went to the big one.
        assert_eq!((small, c.stats().owed, c.stats().pages), (big, 1, 512));
        c.unmap(&mut k, small);
        assert_eq!(c.lookup(big).map(|(p, _)| p.refs), Some(1));
    }

    #[test]
    fn flush_releases_everything_and_forgets_what_was_owed() {
        let (mut c, mut k) = (cache(), FakeKernel::default());
        for g in 0..8 {
            c.map(&mut k, g * 0x1000, 4096).unwrap();
        }
        c.user_unmap(&mut k, 0, 0);
        c.flush(&mut k);
        assert_eq!(
            (c.stats(), k.pinned.len(), k.pins, k.unpins),
            (Stats::default(), 0, 8, 8)
        );
    }

    /// Random sequences of gvt.ko's maps and unmaps, user unmaps and closes, checked against a
    /// model of gvt.ko's references: no frame pinned or unpinned twice (the fake kernel
    /// asserts it), every live mapping's count is exactly the references gvt.ko took on it
    /// since it was made, and after the close nothing is pinned.
    #[test]
    fn no_page_is_released_twice_or_leaked() {
        for seed in 1..400u64 {
            let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let mut rnd = |n: u64| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % n
            };
            let (mut c, mut k) = (cache(), FakeKernel::default());
            // gvt.ko's references: (DMA address, the mapping's generation it came from).
            let mut held: Vec<(u64, u64)> = Vec::new();
            // Live mappings by first frame: (generation, DMA).
            let mut live: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
            let mut generation = 0u64;
            for _ in 0..200 {
                match rnd(10) {
                    0..=4 => {
                        // Frames on a 512-page grid, so 2 MiB mappings never overlap 4 KiB ones
                        // of another start; some at the same start, other size.
                        let gfn = rnd(6) * MAX_PAGES;
                        let size = if rnd(4) == 0 { MAX_SIZE } else { 4096 };
                        let before = live.get(&gfn).copied();
                        match c.map(&mut k, gfn, size) {
                            Ok(dma) => {
                                let gen = match before {
                                    Some((g, d))
                                        if d == dma && c.lookup(dma).unwrap().0.refs > 1 =>
                                    {
                                        g
                                    }
                                    _ => {
                                        generation += 1;
                                        generation
                                    }
                                };
                                live.insert(gfn, (gen, dma));
                                held.push((dma, gen));
                            }
                            Err(MapError::Busy) => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    5..=7 if !held.is_empty() => {
                        let (dma, _) = held.swap_remove(rnd(held.len() as u64) as usize);
                        c.unmap(&mut k, dma);
                    }
                    8 => {
                        let first = rnd(6 * MAX_PAGES);
                        c.user_unmap(&mut k, first, first + rnd(600));
                    }
                    _ => {}
                }
                live.retain(|_, &mut (_, dma)| c.lookup(dma).is_some());
                // References are fungible by DMA address: for each address, what gvt.ko holds
                // is what the live mapping counts plus what is owed. Owed ones are paid first,
                // so a live mapping never counts fewer than gvt.ko holds of it, and is never
                // released while gvt.ko may still use it.
                let mut dmas: BTreeSet<u64> = held.iter().map(|&(d, _)| d).collect();
                dmas.extend(live.values().map(|&(_, d)| d));
                for dma in dmas {
                    let owed = c.owed.get(dma >> PAGE_SHIFT).copied().unwrap_or(0) as usize;
                    let refs = c.lookup(dma).map_or(0, |(p, _)| p.refs as usize);
                    let all = held.iter().filter(|&&(d, _)| d == dma).count();
                    assert_eq!(all, refs + owed, "seed {seed} dma {dma:#x}");
                }
                for (&gfn, &(gen, dma)) in &live {
                    let (pin, _) = c.lookup(dma).unwrap();
                    assert_eq!(pin.gfn, gfn);
                    let mine = held.iter().filter(|&&(d, g)| d == dma && g == gen).count();
                    assert!(pin.refs as usize >= mine, "seed {seed}");
                }
            }
            // gvt.ko's reset drops all it holds, then the close.
            for (dma, _) in held.drain(..) {
                c.unmap(&mut k, dma);
            }
            assert_eq!((c.stats().entries, c.stats().owed), (0, 0), "seed {seed}");
            c.flush(&mut k);
            assert!(k.pinned.is_empty() && k.dma_used.is_empty(), "seed {seed}");
            assert_eq!(k.pins, k.unpins, "seed {seed}");
        }
    }
}
