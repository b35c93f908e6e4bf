//! The DMA pin cache of a vGPU device, for vfio.c: `dma_cache`'s bookkeeping over the kernel's
//! red-black trees, under one mutex, with vfio.c's pinning and mapping as its [`Pinner`].
//!
//! vfio.c holds the cache as an opaque pointer from [`kvmgt_cache_new`] to
//! [`kvmgt_cache_free`]; every other entry point takes the cache's lock and calls back into
//! `kvmgt_pin()`/`kvmgt_unpin()` under it, which take only `ap_lock` and gvt.ko's leaf locks.

use core::ffi::c_void;

use kernel::prelude::*;
use kernel::rbtree::RBTree;
use kernel::{new_mutex, sync::Mutex};

use crate::dma_cache::{DmaCache, Map, MapError, Pin, Pinner};
use crate::ffi;

/// A `dma_cache::Map` over the kernel's red-black tree.
struct Tree<V>(RBTree<u64, V>);

impl<V> Map<V> for Tree<V> {
    fn get(&self, k: u64) -> Option<&V> {
        self.0.get(&k)
    }

    fn get_mut(&mut self, k: u64) -> Option<&mut V> {
        self.0.get_mut(&k)
    }

    fn insert(&mut self, k: u64, v: V) -> bool {
        self.0.try_create_and_insert(k, v, GFP_KERNEL).is_ok()
    }

    fn remove(&mut self, k: u64) -> Option<V> {
        self.0.remove(&k)
    }

    fn next_key(&mut self, k: u64) -> Option<u64> {
        self.0.cursor_lower_bound(&k).map(|c| *c.current().0)
    }
}

type Entries = DmaCache<Tree<Pin>, Tree<u64>, Tree<u32>>;

/// What vfio.c's `struct kvmgt_cache *` points to.
#[pin_data]
struct Cache {
    #[pin]
    inner: Mutex<Entries>,
}

/// vfio.c's pinning, for the vGPU device `v`.
struct Kernel(*mut ffi::kvmgt_vgpu);

impl Pinner for Kernel {
    type Error = core::ffi::c_int;

    fn pin(&mut self, gfn: u64, size: u64) -> core::result::Result<(u64, usize), Self::Error> {
        let (mut dma, mut page) = (0u64, core::ptr::null_mut::<c_void>());
        // SAFETY: `self.0` is the device the cache belongs to (the callers' contract); the
        // out-pointers are valid.
        let r = unsafe { ffi::kvmgt_pin(self.0, gfn, size, &mut dma, &mut page) };
        if r == 0 {
            Ok((dma, page as usize))
        } else {
            Err(r)
        }
    }

    fn unpin(&mut self, p: &Pin, in_use: bool) {
        // SAFETY: as above; `p` is what `pin` made and was not unpinned (the cache's rule).
        unsafe { ffi::kvmgt_unpin(self.0, p.gfn, p.size, p.dma, in_use) };
    }
}

/// The cache behind vfio.c's pointer.
///
/// # Safety
///
/// `c` came from [`kvmgt_cache_new`] and was not freed.
unsafe fn cache<'a>(c: *mut ffi::kvmgt_cache) -> &'a Cache {
    // SAFETY: per the contract.
    unsafe { &*c.cast::<Cache>() }
}

/// A new, empty cache; null when memory is short.
///
/// # Safety
///
/// None beyond the pointer's use: see [`kvmgt_cache_free`].
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_cache_new() -> *mut ffi::kvmgt_cache {
    let entries = DmaCache::new(
        Tree(RBTree::new()),
        Tree(RBTree::new()),
        Tree(RBTree::new()),
    );
    ffi::into_opaque(KBox::pin_init(
        pin_init!(Cache { inner <- new_mutex!(entries, "kvmgt_cache") }),
        GFP_KERNEL,
    ))
}

/// Frees a cache (flushed, or never used).
///
/// # Safety
///
/// `c` is null or came from [`kvmgt_cache_new`] and is not used again.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_cache_free(c: *mut ffi::kvmgt_cache) {
    // SAFETY: per the contract, `c` came from `kvmgt_cache_new` (`into_opaque`).
    unsafe { ffi::free_opaque::<Cache, _>(c) }
}

/// gvt.ko's `dma_map_guest_page`: `DmaCache::map`, with its refusals as errnos.
///
/// # Safety
///
/// `c` as for [`kvmgt_cache_free`], live; `v` is its device; `dma_addr` is writable.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_cache_map(
    c: *mut ffi::kvmgt_cache,
    v: *mut ffi::kvmgt_vgpu,
    gfn: u64,
    size: u64,
    dma_addr: *mut u64,
) -> core::ffi::c_int {
    // SAFETY: per the contract.
    let r = unsafe { cache(c) }
        .inner
        .lock()
        .map(&mut Kernel(v), gfn, size);
    match r {
        Ok(dma) => {
            // SAFETY: per the contract.
            unsafe { *dma_addr = dma };
            0
        }
        Err(MapError::Invalid) => EINVAL.to_errno(),
        Err(MapError::Busy) => EBUSY.to_errno(),
        Err(MapError::NoMemory) => ENOMEM.to_errno(),
        Err(MapError::Pin(e)) => e,
    }
}

/// gvt.ko's `dma_unmap_guest_page`: `DmaCache::unmap`.
///
/// # Safety
///
/// As for [`kvmgt_cache_map`].
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_cache_unmap(
    c: *mut ffi::kvmgt_cache,
    v: *mut ffi::kvmgt_vgpu,
    dma_addr: u64,
) {
    // SAFETY: per the contract.
    unsafe { cache(c) }
        .inner
        .lock()
        .unmap(&mut Kernel(v), dma_addr);
}

/// VFIO's `dma_unmap` of guest frames `first..=last`: `DmaCache::user_unmap`.
///
/// # Safety
///
/// As for [`kvmgt_cache_map`].
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_cache_user_unmap(
    c: *mut ffi::kvmgt_cache,
    v: *mut ffi::kvmgt_vgpu,
    first: u64,
    last: u64,
) {
    // SAFETY: per the contract.
    unsafe { cache(c) }
        .inner
        .lock()
        .user_unmap(&mut Kernel(v), first, last);
}

/// The device's close: `DmaCache::flush`.
///
/// # Safety
///
/// As for [`kvmgt_cache_map`].
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_cache_flush(
    c: *mut ffi::kvmgt_cache,
    v: *mut ffi::kvmgt_vgpu,
) {
    // SAFETY: per the contract.
    unsafe { cache(c) }.inner.lock().flush(&mut Kernel(v));
}

/// The page behind `dma_addr`, with a reference taken under the cache's lock (so while it is
/// still pinned); null if the cache has no mapping starting at its page.
///
/// # Safety
///
/// `c` as for [`kvmgt_cache_map`].
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_cache_get_page(
    c: *mut ffi::kvmgt_cache,
    dma_addr: u64,
) -> *mut c_void {
    // SAFETY: per the contract.
    let entries = unsafe { cache(c) }.inner.lock();
    match entries.lookup(dma_addr) {
        // SAFETY: `pin.page` is the first page `kvmgt_pin` pinned, still pinned under the
        // lock; `off` is inside the mapping.
        Some((pin, off)) => unsafe { ffi::kvmgt_get_page(pin.page as *mut c_void, off >> 12) },
        None => core::ptr::null_mut(),
    }
}

/// The cache's counts, for debugfs.
///
/// # Safety
///
/// `c` as for [`kvmgt_cache_map`]; `out` is writable.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_cache_stats(
    c: *mut ffi::kvmgt_cache,
    out: *mut ffi::kvmgt_cache_stats,
) {
    // SAFETY: per the contract.
    let s = unsafe { cache(c) }.inner.lock().stats();
    // SAFETY: per the contract.
    unsafe {
        *out = ffi::kvmgt_cache_stats {
            entries: s.entries,
            pages: s.pages,
            owed: s.owed,
            unrecorded: s.unrecorded,
        }
    };
}
