//! Per-input snapshots of a world that is expensive to build.
//!
//! The world (sim host, vGPUs, hypervisors, guests) is built once, inside an arena that the
//! process's global allocator hands out while [`Snapshot::with`] runs, then frozen; every
//! [`Snapshot::restore`] brings every byte of the arena back to what it was at the freeze, the
//! allocator's own state included. No type of the core has to be `Clone`, and the cost of a
//! restore is the pages the input wrote, not the size of the world. Two ways, best first:
//!
//! - Write tracking ([`Backend::Tracked`], Linux 6.7+): the arena is anonymous memory
//!   registered with a userfaultfd in asynchronous write-protect mode. After the freeze a copy
//!   of it is kept and every page is write-protected; a write to a page only clears the
//!   protection (in the kernel, no signal). A restore asks `PAGEMAP_SCAN` which pages were
//!   written, copies those back and protects them again. Pages that are only read cost
//!   nothing. Pages never touched before the freeze stay unpopulated (the scan skips them
//!   unless an input touched them), and the memory an input allocates past the frozen end is
//!   never protected: a restore zeroes it, which is cheaper than a fault per page. Likewise a
//!   page that most inputs write (the allocator's cursor, queues, scratch buffers) is left
//!   unprotected once a window of restores shows it hot: the scan then always reports it and
//!   it is copied back every time, without the fault and the protection it would cost.
//! - Copy-on-write ([`Backend::Cow`], any Linux): the arena is a memfd, mapped shared while
//!   the world is built, then private over the same addresses; `madvise(MADV_DONTNEED)` drops
//!   the private copies. Every page an input touches, read or written, faults again after a
//!   restore, which makes it several times slower. `GVT_FUZZ_SNAPSHOT=cow` forces it.
//!
//! The arena allocator is a bump allocator whose cursor lives in the arena itself, so a
//! restore also takes back every allocation made since the freeze; `free` is a no-op there.
//! Memory past the cursor is always zero (never written, or restored to zero), which makes
//! `alloc_zeroed` free. Single-threaded, as libFuzzer runs its inputs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

/// Address space reserved for the arena. The memfd is sparse: only pages the world touches
/// cost memory.
const ARENA_BYTES: usize = 2 << 30;
const PAGE: usize = 4096;

static BASE: AtomicUsize = AtomicUsize::new(0);
static ON: AtomicBool = AtomicBool::new(false);

/// The global allocator of the fuzz targets: the arena while [`Snapshot::with`] runs, the
/// system allocator otherwise (libFuzzer's and libfuzzer-sys' own allocations).
pub struct SnapAlloc;

fn in_arena(p: *mut u8) -> bool {
    let base = BASE.load(Relaxed);
    base != 0 && (p as usize).wrapping_sub(base) < ARENA_BYTES
}

/// The bump cursor, the first word of the arena (so it is snapshotted with the rest).
fn cursor(base: usize) -> &'static AtomicUsize {
    // SAFETY: the arena is mapped for the life of the process and its first word is reserved
    // for the cursor; `AtomicUsize` has no invalid bit patterns.
    unsafe { &*(base as *const AtomicUsize) }
}

fn arena_alloc(l: Layout) -> *mut u8 {
    let base = BASE.load(Relaxed);
    let cur = cursor(base);
    let at = cur.load(Relaxed);
    let Some(start) = at.checked_next_multiple_of(l.align()) else {
        return null_mut();
    };
    let Some(end) = start.checked_add(l.size()).filter(|&e| e <= ARENA_BYTES) else {
        return null_mut();
    };
    cur.store(end, Relaxed);
    (base + start) as *mut u8
}

// SAFETY: arena blocks are disjoint (the cursor only grows between restores, and a restore
// only happens outside `Snapshot::with`, when no arena block is in use by anything but the
// world, which is restored with it); everything else is the system allocator's.
unsafe impl GlobalAlloc for SnapAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.load(Relaxed) {
            arena_alloc(l)
        } else {
            System.alloc(l)
        }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if ON.load(Relaxed) {
            // Past the cursor the arena is zero.
            arena_alloc(l)
        } else {
            System.alloc_zeroed(l)
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if !in_arena(p) {
            System.dealloc(p, l);
        }
    }

    // A block never changes heaps: the world's stay in the arena, the rest in the system's.
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        if !in_arena(p) {
            return System.realloc(p, l, new_size);
        }
        let Ok(nl) = Layout::from_size_align(new_size, l.align()) else {
            return null_mut();
        };
        let q = arena_alloc(nl);
        if !q.is_null() {
            std::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
        }
        q
    }
}

/// How the arena is restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// userfaultfd write-protection and `PAGEMAP_SCAN`.
    Tracked,
    /// A private mapping of a memfd and `MADV_DONTNEED`.
    Cow,
}

// UAPI values (linux/userfaultfd.h, linux/fs.h) the libc crate does not have.
const UFFD_USER_MODE_ONLY: libc::c_int = 1;
const UFFD_API: u64 = 0xaa;
const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
const UFFDIO_API: libc::c_ulong = 0xc018_aa3f;
const UFFDIO_REGISTER: libc::c_ulong = 0xc020_aa00;
const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
const UFFDIO_WRITEPROTECT: libc::c_ulong = 0xc018_aa06;
const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;
const PAGEMAP_SCAN: libc::c_ulong = 0xc060_6610;
const PM_SCAN_WP_MATCHING: u64 = 1 << 0;
const PM_SCAN_CHECK_WPASYNC: u64 = 1 << 1;
const PAGE_IS_WRITTEN: u64 = 1 << 1;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_SWAPPED: u64 = 1 << 4;
/// Pages with contents: present, or swapped out or migrating.
const HAS_CONTENTS: u64 = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;

#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioRegister {
    start: u64,
    len: u64,
    mode: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioWriteprotect {
    start: u64,
    len: u64,
    mode: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

#[repr(C)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// Restores per window in which a page must be written [`HOT`] times to become hot.
const WINDOW: u32 = 64;
/// See [`WINDOW`]: one restore in five.
const HOT: u8 = 13;
/// Restores (a multiple of [`WINDOW`]) after which every hot page is protected again, so
/// pages inputs stopped writing go back to costing nothing.
const RELEARN: u32 = 4096;

/// Which pages are written often enough to be left unprotected.
#[derive(Default)]
struct Heat {
    /// Writes in the current window, by page index in the arena.
    count: Vec<u8>,
    /// Pages with a non-zero count.
    counted: Vec<usize>,
    hot: Vec<bool>,
    /// Hot pages, for [`RELEARN`].
    hot_list: Vec<usize>,
    restores: u32,
}

impl Heat {
    /// Counts a write to page `p`; whether it must be protected again.
    fn written(&mut self, p: usize) -> bool {
        if self.hot.get(p).copied().unwrap_or(false) {
            return false;
        }
        if let Some(c) = self.count.get_mut(p) {
            if *c == 0 {
                self.counted.push(p);
            }
            *c = c.saturating_add(1);
        }
        true
    }

    /// Ends a restore: at the end of a window, the pages written often become hot; every
    /// [`RELEARN`] restores instead, the hot pages are returned, to be protected again.
    fn end_restore(&mut self) -> Vec<usize> {
        self.restores = self.restores.wrapping_add(1);
        if self.restores % WINDOW != 0 {
            return Vec::new();
        }
        let relearn = self.restores % RELEARN == 0;
        for &p in &self.counted {
            if !relearn && self.count[p] >= HOT {
                self.hot[p] = true;
                self.hot_list.push(p);
            }
            self.count[p] = 0;
        }
        self.counted.clear();
        if !relearn {
            return Vec::new();
        }
        for &p in &self.hot_list {
            self.hot[p] = false;
        }
        std::mem::take(&mut self.hot_list)
    }
}

/// The kernel side of write tracking.
struct Tracker {
    uffd: libc::c_int,
    pagemap: libc::c_int,
    /// The arena as it was at the freeze (pages never written there are zero).
    copy: usize,
    /// End of the last page in use at the freeze: everything past it is zero then.
    frozen_end: usize,
    regions: Vec<PageRegion>,
    /// Runs of pages written since the last restore.
    dirty: Vec<(usize, usize)>,
    heat: Heat,
}

impl Tracker {
    /// A userfaultfd with asynchronous write-protection and a pagemap to scan, if the kernel
    /// has both.
    fn open() -> Option<Tracker> {
        // SAFETY: plain system calls on memory we own; every result is checked.
        unsafe {
            let uffd = libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | UFFD_USER_MODE_ONLY)
                as libc::c_int;
            if uffd < 0 {
                return None;
            }
            let mut api = UffdioApi {
                api: UFFD_API,
                features: UFFD_FEATURE_WP_ASYNC,
                ioctls: 0,
            };
            let pagemap = libc::open(
                c"/proc/self/pagemap".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            if libc::ioctl(uffd, UFFDIO_API, &mut api) != 0 || pagemap < 0 {
                libc::close(uffd);
                if pagemap >= 0 {
                    libc::close(pagemap);
                }
                return None;
            }
            Some(Tracker {
                uffd,
                pagemap,
                copy: 0,
                frozen_end: 0,
                regions: vec![PageRegion::default(); 1024],
                dirty: Vec::new(),
                heat: Heat::default(),
            })
        }
    }

    /// Write-protects `[start, end)`.
    fn protect(&self, start: usize, end: usize) {
        let mut wp = UffdioWriteprotect {
            start: start as u64,
            len: (end - start) as u64,
            mode: UFFDIO_WRITEPROTECT_MODE_WP,
        };
        // SAFETY: on our own registered mapping.
        check(
            unsafe { libc::ioctl(self.uffd, UFFDIO_WRITEPROTECT, &mut wp) } == 0,
            "UFFDIO_WRITEPROTECT",
        );
    }

    /// Calls `f` on every run of pages of `[start, end)` in all of `category` and, unless it
    /// is 0, in one of `any`; write-protects them too if `wp`.
    fn scan(
        &mut self,
        start: usize,
        end: usize,
        category: u64,
        any: u64,
        wp: bool,
        mut f: impl FnMut(usize, usize),
    ) {
        let mut at = start;
        while at < end {
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                flags: if wp {
                    PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC
                } else {
                    0
                },
                start: at as u64,
                end: end as u64,
                walk_end: 0,
                vec: self.regions.as_mut_ptr() as u64,
                vec_len: self.regions.len() as u64,
                max_pages: 0,
                category_inverted: 0,
                category_mask: category,
                category_anyof_mask: any,
                return_mask: category | any,
            };
            // SAFETY: the kernel writes at most `vec_len` regions into `regions`.
            let n = unsafe { libc::ioctl(self.pagemap, PAGEMAP_SCAN, &mut arg) };
            check(n >= 0, "PAGEMAP_SCAN");
            for r in &self.regions[..n as usize] {
                f(r.start as usize, r.end as usize);
            }
            assert!(arg.walk_end as usize > at, "PAGEMAP_SCAN made no progress");
            at = arg.walk_end as usize;
        }
    }
}

/// A world of type `T` in the arena.
pub struct Snapshot<T: 'static> {
    world: &'static mut T,
    fd: libc::c_int,
    tracker: Option<Tracker>,
    frozen: bool,
    /// The highest end of the used arena seen by a restore.
    high: usize,
}

fn check(ok: bool, what: &str) {
    if !ok {
        panic!("{what}: {}", std::io::Error::last_os_error());
    }
}

fn map(len: usize, flags: libc::c_int, fd: libc::c_int) -> usize {
    // SAFETY: a fresh mapping; the result is checked.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags | libc::MAP_NORESERVE,
            fd,
            0,
        )
    };
    check(p != libc::MAP_FAILED, "mmap");
    p as usize
}

impl<T> Snapshot<T> {
    /// Maps the arena and builds the world in it. One per process.
    pub fn new(build: impl FnOnce() -> T) -> Snapshot<T> {
        assert_eq!(BASE.load(Relaxed), 0, "one arena per process");
        let cow = std::env::var_os("GVT_FUZZ_SNAPSHOT").is_some_and(|v| v == "cow");
        let tracker = if cow { None } else { Tracker::open() };
        let (fd, base) = if tracker.is_some() {
            let base = map(ARENA_BYTES, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1);
            // Write tracking is per page: no transparent huge pages.
            // SAFETY: advice on our own mapping.
            check(
                unsafe {
                    libc::madvise(
                        base as *mut libc::c_void,
                        ARENA_BYTES,
                        libc::MADV_NOHUGEPAGE,
                    )
                } == 0,
                "madvise",
            );
            (-1, base)
        } else {
            // SAFETY: plain system calls; the results are checked.
            let fd = unsafe { libc::memfd_create(c"gvt-fuzz-arena".as_ptr(), libc::MFD_CLOEXEC) };
            check(fd >= 0, "memfd_create");
            check(
                unsafe { libc::ftruncate(fd, ARENA_BYTES as libc::off_t) } == 0,
                "ftruncate",
            );
            (fd, map(ARENA_BYTES, libc::MAP_SHARED, fd))
        };
        cursor(base).store(64, Relaxed);
        BASE.store(base, Relaxed);
        ON.store(true, Relaxed);
        let world = Box::leak(Box::new(build()));
        ON.store(false, Relaxed);
        Snapshot {
            world,
            fd,
            tracker,
            frozen: false,
            high: 0,
        }
    }

    /// How this snapshot is restored.
    pub fn backend(&self) -> Backend {
        if self.tracker.is_some() {
            Backend::Tracked
        } else {
            Backend::Cow
        }
    }

    /// From now on, [`Snapshot::restore`] goes back to the world as it is now.
    pub fn freeze(&mut self) {
        assert!(!self.frozen, "frozen twice");
        let base = BASE.load(Relaxed);
        let end = base + cursor(base).load(Relaxed).next_multiple_of(PAGE);
        if let Some(t) = &mut self.tracker {
            let copy = map(ARENA_BYTES, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1);
            t.scan(base, end, 0, HAS_CONTENTS, false, |s, e| {
                // SAFETY: both ranges lie inside their mappings, which do not overlap.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        s as *const u8,
                        (copy + (s - base)) as *mut u8,
                        e - s,
                    )
                }
            });
            t.copy = copy;
            t.frozen_end = end;
            let pages = (end - base) / PAGE;
            t.heat = Heat {
                count: vec![0; pages],
                hot: vec![false; pages],
                ..Heat::default()
            };
            let mut runs_v = Vec::new();
            t.scan(base, end, 0, HAS_CONTENTS, false, |s, e| {
                runs_v.push((s, e))
            });
            let mut reg = UffdioRegister {
                start: base as u64,
                len: ARENA_BYTES as u64,
                mode: UFFDIO_REGISTER_MODE_WP,
                ioctls: 0,
            };
            // SAFETY: registers our own mapping.
            check(
                unsafe { libc::ioctl(t.uffd, UFFDIO_REGISTER, &mut reg) } == 0,
                "UFFDIO_REGISTER",
            );
            for (s, e) in runs_v {
                t.protect(s, e);
            }
        } else {
            // SAFETY: replaces the shared mapping by a private one of the same file at the same
            // address: the contents do not change, so every pointer into the arena stays valid.
            unsafe {
                let flags = libc::MAP_PRIVATE | libc::MAP_FIXED | libc::MAP_NORESERVE;
                let p = libc::mmap(
                    base as *mut libc::c_void,
                    ARENA_BYTES,
                    libc::PROT_READ | libc::PROT_WRITE,
                    flags,
                    self.fd,
                    0,
                );
                check(p as usize == base, "mmap private");
            }
        }
        self.frozen = true;
    }

    /// Brings the world back to the frozen state (a no-op before [`Snapshot::freeze`]).
    pub fn restore(&mut self) {
        if !self.frozen {
            return;
        }
        let base = BASE.load(Relaxed);
        // Everything written since the freeze lies below the cursor.
        let end = base + cursor(base).load(Relaxed).next_multiple_of(PAGE);
        self.high = self.high.max(end - base);
        if let Some(t) = &mut self.tracker {
            let copy = t.copy;
            let frozen_end = t.frozen_end;
            let mut dirty = std::mem::take(&mut t.dirty);
            dirty.clear();
            // Unpopulated pages count as written too, but there is nothing to restore there.
            t.scan(
                base,
                frozen_end,
                PAGE_IS_WRITTEN,
                HAS_CONTENTS,
                false,
                |s, e| dirty.push((s, e)),
            );
            for &(s, e) in &dirty {
                // SAFETY: both ranges lie inside their mappings, which do not overlap; nothing
                // borrows the world (we hold `&mut self`).
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        (copy + (s - base)) as *const u8,
                        s as *mut u8,
                        e - s,
                    )
                }
            }
            // Protected again: the written pages that are not hot, in runs.
            let mut run: Option<(usize, usize)> = None;
            for &(s, e) in &dirty {
                for p in (s..e).step_by(PAGE) {
                    if t.heat.written((p - base) / PAGE) {
                        run = match run {
                            Some((rs, re)) if re == p => Some((rs, p + PAGE)),
                            other => {
                                if let Some((rs, re)) = other {
                                    t.protect(rs, re);
                                }
                                Some((p, p + PAGE))
                            }
                        };
                    }
                }
            }
            if let Some((rs, re)) = run {
                t.protect(rs, re);
            }
            for p in t.heat.end_restore() {
                t.protect(base + p * PAGE, base + (p + 1) * PAGE);
            }
            t.dirty = dirty;
            if end > frozen_end {
                // SAFETY: inside the arena, past everything the world had at the freeze; nothing
                // borrows the world (we hold `&mut self`).
                unsafe { std::ptr::write_bytes(frozen_end as *mut u8, 0, end - frozen_end) }
            }
        } else {
            // SAFETY: drops the private copies of arena pages; nothing outside the world points
            // into the arena, and the world is not borrowed (we hold `&mut self`).
            check(
                unsafe {
                    libc::madvise(base as *mut libc::c_void, end - base, libc::MADV_DONTNEED)
                } == 0,
                "madvise",
            );
        }
    }

    /// Checks that every byte of the arena that was ever used is what it was at the freeze;
    /// panics at the first difference. Slow: a test of the snapshot itself, for after
    /// [`Snapshot::restore`].
    pub fn verify(&self) {
        let base = BASE.load(Relaxed);
        let mut frozen = vec![0u8; 1 << 20];
        let mut off = 0;
        while off < self.high {
            let n = frozen.len().min(self.high - off);
            if let Some(t) = &self.tracker {
                // SAFETY: inside the copy's mapping.
                frozen[..n].copy_from_slice(unsafe {
                    std::slice::from_raw_parts((t.copy + off) as *const u8, n)
                });
            } else {
                // SAFETY: reads the memfd into our buffer.
                let r = unsafe {
                    libc::pread(self.fd, frozen.as_mut_ptr().cast(), n, off as libc::off_t)
                };
                check(r == n as isize, "pread");
            }
            // SAFETY: inside the arena; nothing writes it while we hold `&self`.
            let now = unsafe { std::slice::from_raw_parts((base + off) as *const u8, n) };
            // Slice comparison is a memcmp, not an instrumented loop.
            if now != &frozen[..n] {
                let i = now
                    .iter()
                    .zip(&frozen[..n])
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                panic!(
                    "arena byte {:#x} is {:#x}, was {:#x} when frozen",
                    off + i,
                    now[i],
                    frozen[i]
                );
            }
            off += n;
        }
    }

    /// Runs `f` on the world with the arena as the allocator.
    pub fn with<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        ON.store(true, Relaxed);
        let r = f(self.world);
        ON.store(false, Relaxed);
        r
    }

    /// Bytes of the arena in use.
    pub fn used(&self) -> usize {
        cursor(BASE.load(Relaxed)).load(Relaxed)
    }
}
