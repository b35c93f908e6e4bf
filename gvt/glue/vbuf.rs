//! Zeroed buffers in vmalloc memory for the device model's big state (register files, GGTTs).
//!
//! The kernel crate's `VVec` would do, but its growth arithmetic brings panic paths into the
//! module; these buffers never grow, so a fixed slice over `vzalloc` is all that is needed.

use core::ffi::c_void;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use kernel::prelude::*;

use super::ffi;

/// Types whose all-zero bit pattern is a valid value.
///
/// # Safety
///
/// Implementors must be valid when every byte is zero.
pub(super) unsafe trait Zeroed {}
// SAFETY: integers are valid when zero.
unsafe impl Zeroed for u8 {}
// SAFETY: as above.
unsafe impl Zeroed for u32 {}
// SAFETY: as above.
unsafe impl Zeroed for u64 {}
// SAFETY: an atomic integer has the representation of its integer.
unsafe impl Zeroed for core::sync::atomic::AtomicU64 {}
// SAFETY: as above.
unsafe impl Zeroed for core::sync::atomic::AtomicU32 {}
// SAFETY: a shadow table slot is integers, booleans and byte arrays; all zero is `Spt::EMPTY`.
unsafe impl Zeroed for crate::model::ppgtt::Spt {}
// SAFETY: a batch shadow record is integers; all zero is `Shadow::default()`.
unsafe impl Zeroed for crate::model::batch::Shadow {}

/// `len` zeroed `T`s in vmalloc memory.
pub(super) struct VBuf<T: Zeroed> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: a `VBuf` owns its elements like a `Box<[T]>` does.
unsafe impl<T: Zeroed + Send> Send for VBuf<T> {}
// SAFETY: as above.
unsafe impl<T: Zeroed + Sync> Sync for VBuf<T> {}

impl<T: Zeroed> VBuf<T> {
    pub(super) fn new(len: usize) -> Result<VBuf<T>> {
        let bytes = len.checked_mul(core::mem::size_of::<T>()).ok_or(ENOMEM)?;
        // SAFETY: any size may be asked for; vzalloc returns null or zeroed, page-aligned memory.
        let p = unsafe { ffi::gvt_vzalloc(bytes.max(1)) };
        let ptr = NonNull::new(p.cast::<T>()).ok_or(ENOMEM)?;
        Ok(VBuf { ptr, len })
    }
}

impl<T: Zeroed> Deref for VBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points to `len` initialized (zeroed, `T: Zeroed`) elements we own.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroed> DerefMut for VBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroed> Drop for VBuf<T> {
    fn drop(&mut self) {
        // SAFETY: allocated by `gvt_vzalloc` in `new`, freed once here.
        unsafe { ffi::gvt_vfree(self.ptr.as_ptr().cast::<c_void>()) };
    }
}
