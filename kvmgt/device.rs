//! The VFIO device's reads, writes and ioctls, for vfio.c: the decisions of `region`, `edid`
//! and `ioctl` over the kernel's user memory (`UserSlice`) and gvt.ko's emulation.
//!
//! vfio.c keeps what only C can do: the ops tables, copying ioctl headers in and answers out,
//! the capability chain, eventfds, and BAR2's copies through the sink page under `ap_lock`
//! (`kvmgt_aperture_rw`, which this calls back). The EDID region's state is here, behind an
//! opaque pointer vfio.c holds from [`kvmgt_edid_new`] to [`kvmgt_edid_free`], under its own
//! mutex; calls into gvt.ko for the monitor run under it.

use core::ffi::c_int;

use kernel::ffi::c_char;

use kernel::prelude::*;
use kernel::uaccess::{UserSlice, UserSliceReader, UserSliceWriter};
use kernel::{new_mutex, sync::Mutex};

use crate::edid::{self, EdidRegion, Monitor};
use crate::error::{GvtError, Result as GvtResult};
use crate::ffi;
use crate::gvt;
use crate::ioctl::{self, Cap, IrqSet};
use crate::region::{self, Device, Region, Sizes, User};

/// A result as C returns it: 0 or a negative errno.
fn c_result(r: GvtResult) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => -e.errno(),
    }
}

/// A C return value (0 or a negative errno) as a result.
fn from_c(r: c_int) -> GvtResult {
    match r {
        0 => Ok(()),
        n => Err(GvtError::from_errno(n)),
    }
}

/// The region sizes of a vGPU.
fn sizes(info: &gvt::gvt_vgpu_info) -> Sizes {
    Sizes {
        bar0: info.bar0_size,
        aperture: info.aperture_size,
        slice_base: info.aperture_slice_base,
        slice_size: info.aperture_slice_size,
        opregion: u64::from(info.opregion_size),
    }
}

/// gvt.ko's emulation of the vGPU, as transfers and the EDID region reach it.
struct Gvt(*mut gvt::gvt_vgpu);

impl Device for Gvt {
    fn read(&mut self, region: Region, off: u64, buf: &mut [u8]) -> GvtResult {
        let len = u32::try_from(buf.len()).map_err(|_| GvtError::Invalid)?;
        let off32 = u32::try_from(off).map_err(|_| GvtError::Invalid);
        let p = buf.as_mut_ptr().cast();
        // SAFETY: `self.0` is a live vGPU (`kvmgt_region_rw`'s contract); `p` is valid for
        // `len` bytes.
        from_c(unsafe {
            match region {
                Region::Config => gvt::gvt_vgpu_cfg_read(self.0, off32?, p, len),
                Region::Bar0 => gvt::gvt_vgpu_mmio_read(self.0, off, p, len),
                Region::OpRegion => gvt::gvt_vgpu_opregion_read(self.0, off32?, p, len),
                Region::Bar2 | Region::Edid => return Err(GvtError::Invalid),
            }
        })
    }

    fn write(&mut self, region: Region, off: u64, buf: &[u8]) -> GvtResult {
        let len = u32::try_from(buf.len()).map_err(|_| GvtError::Invalid)?;
        let p = buf.as_ptr().cast();
        // SAFETY: as in `read`.
        from_c(unsafe {
            match region {
                Region::Config => {
                    let off = u32::try_from(off).map_err(|_| GvtError::Invalid)?;
                    gvt::gvt_vgpu_cfg_write(self.0, off, p, len)
                }
                Region::Bar0 => gvt::gvt_vgpu_mmio_write(self.0, off, p, len),
                Region::OpRegion | Region::Bar2 | Region::Edid => return Err(GvtError::Invalid),
            }
        })
    }
}

impl Monitor for Gvt {
    fn set_edid(&mut self, blob: &[u8]) -> GvtResult {
        let len = u32::try_from(blob.len()).map_err(|_| GvtError::Invalid)?;
        // SAFETY: as in `read`; gvt.ko copies the blob.
        from_c(unsafe { gvt::gvt_vgpu_set_edid(self.0, blob.as_ptr().cast(), len) })
    }

    fn set_link(&mut self, up: bool) -> GvtResult {
        // SAFETY: as in `read`.
        from_c(unsafe { gvt::gvt_vgpu_set_link(self.0, up) })
    }
}

/// The user memory of one read or write.
struct UserIo(UserSliceReader, UserSliceWriter);

impl User for UserIo {
    fn copy_in(&mut self, buf: &mut [u8]) -> GvtResult {
        self.0.read_slice(buf).map_err(|_| GvtError::Fault)
    }

    fn copy_out(&mut self, buf: &[u8]) -> GvtResult {
        self.1.write_slice(buf).map_err(|_| GvtError::Fault)
    }
}

/// What vfio.c's `struct kvmgt_edid *` points to.
#[pin_data]
struct Edid {
    #[pin]
    inner: Mutex<EdidRegion>,
}

/// The EDID region behind vfio.c's pointer.
///
/// # Safety
///
/// `e` came from [`kvmgt_edid_new`] and was not freed.
unsafe fn edid_of<'a>(e: *mut ffi::kvmgt_edid) -> &'a Edid {
    // SAFETY: per the contract.
    unsafe { &*e.cast::<Edid>() }
}

/// A new EDID region (no monitor yet: see [`kvmgt_edid_open`]); null when memory is short.
///
/// # Safety
///
/// None beyond the pointer's use: see [`kvmgt_edid_free`].
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_edid_new() -> *mut ffi::kvmgt_edid {
    let init = pin_init!(Edid { inner <- new_mutex!(EdidRegion::new(&[], 0, 0), "kvmgt_edid") });
    ffi::into_opaque(KBox::pin_init(init, GFP_KERNEL))
}

/// Frees an EDID region.
///
/// # Safety
///
/// `e` is null or came from [`kvmgt_edid_new`] and is not used again.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_edid_free(e: *mut ffi::kvmgt_edid) {
    // SAFETY: per the contract, `e` came from `kvmgt_edid_new` (`into_opaque`).
    unsafe { ffi::free_opaque::<Edid, _>(e) }
}

/// The region as a new user finds it: the monitor's EDID, link up.
///
/// # Safety
///
/// `e` as for [`kvmgt_edid_free`], live; `vgpu` is a live vGPU.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_edid_open(
    e: *mut ffi::kvmgt_edid,
    vgpu: *mut gvt::gvt_vgpu,
    max_xres: u32,
    max_yres: u32,
) {
    let mut blob = [0u8; edid::MAX_SIZE];
    let len = u32::try_from(blob.len()).unwrap_or(0);
    // SAFETY: `vgpu` per the contract; `blob` is valid for `len` bytes.
    let n = unsafe { gvt::gvt_vgpu_get_edid(vgpu, blob.as_mut_ptr().cast(), len) };
    let monitor = usize::try_from(n)
        .ok()
        .and_then(|n| blob.get(..n))
        .unwrap_or_default();
    let region = EdidRegion::new(monitor, max_xres, max_yres);
    // SAFETY: per the contract.
    *unsafe { edid_of(e) }.inner.lock() = region;
}

/// A device reset: the monitor is plugged back in with its EDID.
///
/// # Safety
///
/// As for [`kvmgt_edid_open`].
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_edid_reset(e: *mut ffi::kvmgt_edid) {
    // SAFETY: per the contract.
    unsafe { edid_of(e) }.inner.lock().reset();
}

/// An EDID region transfer of `count` bytes at `off`, through a bounce buffer, the user copy
/// outside the lock.
fn edid_rw(
    e: &Edid,
    vgpu: &mut Gvt,
    off: u64,
    count: usize,
    io: &mut UserIo,
    write: bool,
) -> GvtResult<u64> {
    let mut buf = [0u8; edid::MAX_SIZE];
    let data = buf.get_mut(..count).ok_or(GvtError::Invalid)?;
    if write {
        io.copy_in(data)?;
        e.inner.lock().write(off, data, vgpu)?;
    } else {
        e.inner.lock().read(off, data)?;
        io.copy_out(data)?;
    }
    u64::try_from(count).map_err(|_| GvtError::Invalid)
}

/// `read()`/`write()` on the device fd: `count` bytes at `*ppos` to or from `buf`. Returns the
/// bytes done (and moves `*ppos` by them) or a negative errno.
///
/// # Safety
///
/// `v` is an open vfio.c device of the live vGPU `vgpu`, whose info is `info` and EDID region
/// `edid` (as for [`kvmgt_edid_open`]); `ppos` is writable; `buf` is a user pointer.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_region_rw(
    v: *mut ffi::kvmgt_vgpu,
    vgpu: *mut gvt::gvt_vgpu,
    info: *const gvt::gvt_vgpu_info,
    edid: *mut ffi::kvmgt_edid,
    buf: *mut c_char,
    count: usize,
    ppos: *mut ffi::loff_t,
    write: bool,
) -> isize {
    // SAFETY: per the contract.
    let (pos, sizes) = unsafe { (*ppos, sizes(&*info)) };
    let r = match region::route(pos) {
        Ok((Region::Bar2, off)) => {
            // SAFETY: `v` per the contract; the C side checks and copies the user memory.
            let n = unsafe { ffi::kvmgt_aperture_rw(v, buf, count, off, write) };
            if let Ok(done @ 1..) = ffi::loff_t::try_from(n) {
                // SAFETY: as below.
                unsafe { *ppos = pos.wrapping_add(done) };
            }
            return n;
        }
        Ok((region, off)) => {
            let (r, w) = UserSlice::new(buf as usize, count).reader_writer();
            let io = &mut UserIo(r, w);
            let count64 = u64::try_from(count).unwrap_or(u64::MAX);
            if region == Region::Edid {
                // SAFETY: per the contract.
                let e = unsafe { edid_of(edid) };
                edid_rw(e, &mut Gvt(vgpu), off, count, io, write)
            } else {
                region::transfer(&sizes, region, off, count64, write, io, &mut Gvt(vgpu))
            }
        }
        Err(e) => Err(e),
    };
    let done = r.and_then(|n| {
        let as_pos = ffi::loff_t::try_from(n).map_err(|_| GvtError::Invalid)?;
        Ok((isize::try_from(n).map_err(|_| GvtError::Invalid)?, as_pos))
    });
    match done {
        Ok((n, as_pos)) => {
            // SAFETY: per the contract; `n` <= `count`, which the VFS keeps far from overflow.
            unsafe { *ppos = pos.wrapping_add(as_pos) };
            n
        }
        Err(e) => -isize::try_from(e.errno()).unwrap_or(1),
    }
}

/// `region::in_slice` for vfio.c: BAR2 transfers and mmaps lie inside the aperture slice.
///
/// # Safety
///
/// None: it takes values only.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_aperture_in_slice(
    base: u64,
    size: u64,
    off: u64,
    len: u64,
) -> bool {
    region::in_slice(base, size, off, len)
}

/// `region::aperture_chunk` for vfio.c's BAR2 copy loop.
///
/// # Safety
///
/// None: it takes values only.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_aperture_chunk(off: u64, remaining: u64) -> u64 {
    region::aperture_chunk(off, remaining)
}

/// `VFIO_DEVICE_GET_INFO`: `ioctl::device_info` into the header vfio.c copied in.
///
/// # Safety
///
/// `info` is valid.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_device_info(info: *mut ffi::vfio_device_info) -> c_int {
    // SAFETY: per the contract.
    let info = unsafe { &mut *info };
    c_result(ioctl::device_info(info.argsz).map(|a| {
        info.flags = a.flags;
        info.num_regions = a.num_regions;
        info.num_irqs = a.num_irqs;
    }))
}

/// `VFIO_DEVICE_GET_REGION_INFO`: `ioctl::region_info` into the header vfio.c copied in, and
/// the capability vfio.c is to chain (`id` 0: none).
///
/// # Safety
///
/// All three are valid.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_region_info(
    vi: *const gvt::gvt_vgpu_info,
    info: *mut ffi::vfio_region_info,
    cap: *mut ffi::kvmgt_region_cap,
) -> c_int {
    // SAFETY: per the contract.
    let (vi, info, cap) = unsafe { (&*vi, &mut *info, &mut *cap) };
    c_result(
        ioctl::region_info(info.argsz, info.index, &sizes(vi)).map(|a| {
            info.index = a.index;
            info.flags = a.flags;
            info.size = a.size;
            info.offset = a.offset;
            info.cap_offset = 0;
            *cap = match a.cap {
                Cap::None => ffi::kvmgt_region_cap::default(),
                Cap::SparseMmap { offset, size } => ffi::kvmgt_region_cap {
                    id: ffi::VFIO_REGION_INFO_CAP_SPARSE_MMAP,
                    offset,
                    size,
                    ..Default::default()
                },
                Cap::Type { ty, subtype } => ffi::kvmgt_region_cap {
                    id: ffi::VFIO_REGION_INFO_CAP_TYPE,
                    type_: ty,
                    subtype,
                    ..Default::default()
                },
            };
        }),
    )
}

/// `VFIO_DEVICE_GET_IRQ_INFO`: `ioctl::irq_info` into the header vfio.c copied in.
///
/// # Safety
///
/// `info` is valid.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_irq_info(info: *mut ffi::vfio_irq_info) -> c_int {
    // SAFETY: per the contract.
    let info = unsafe { &mut *info };
    c_result(ioctl::irq_info(info.argsz, info.index).map(|a| {
        info.flags = a.flags;
        info.count = a.count;
    }))
}

/// `VFIO_DEVICE_SET_IRQS`: `ioctl::set_irqs` on the header vfio.c copied in, as
/// `KVMGT_IRQ_*` (ffi.h), or a negative errno.
///
/// # Safety
///
/// `hdr` is valid.
#[no_mangle]
pub(crate) unsafe extern "C" fn kvmgt_irq_set(hdr: *const ffi::vfio_irq_set) -> c_int {
    // SAFETY: per the contract.
    let h = unsafe { &*hdr };
    let msi = |irq| match irq {
        ioctl::Irq::Msi => ffi::KVMGT_IRQ_MSI,
        ioctl::Irq::Intx => 0,
    };
    let what = match ioctl::set_irqs(h.argsz, h.flags, h.index, h.start, h.count) {
        Ok(IrqSet::Nothing) => ffi::KVMGT_IRQ_NOTHING,
        Ok(IrqSet::Remove(irq)) => ffi::KVMGT_IRQ_REMOVE | msi(irq),
        Ok(IrqSet::Eventfd(irq)) => ffi::KVMGT_IRQ_EVENTFD | msi(irq),
        Err(e) => return -e.errno(),
    };
    c_int::try_from(what).unwrap_or(-GvtError::Invalid.errno())
}
