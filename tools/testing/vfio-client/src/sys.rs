//! The crate's only `unsafe` code: thin wrappers over the libc calls std does not offer
//! (ioctl, mmap, eventfd, poll). Each wrapper keeps the kernel from touching memory the caller
//! did not hand it, so everything above this module is safe Rust.

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::time::Duration;

use crate::uapi::Argsz;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// An ioctl whose argument is a plain integer (or ignored): `VFIO_CHECK_EXTENSION`,
/// `VFIO_SET_IOMMU`, `VFIO_GET_API_VERSION`, and unknown request numbers.
pub fn ioctl_val(
    fd: BorrowedFd<'_>,
    req: libc::Ioctl,
    arg: libc::c_ulong,
) -> io::Result<libc::c_int> {
    // SAFETY: for these requests the kernel uses `arg` as a number, never as an address; an
    // unknown request is rejected before its argument is looked at.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, arg) })
}

/// An ioctl whose argument is a pointer no process can have mapped (address 8, below
/// `mmap_min_addr`): the kernel must fail it with EFAULT.
pub fn ioctl_unmapped(fd: BorrowedFd<'_>, req: libc::Ioctl) -> io::Result<libc::c_int> {
    // SAFETY: page 0 is never mapped in user space, so whatever the kernel does with the
    // address, it cannot reach memory of this process.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, 8usize as *mut libc::c_void) })
}

/// An ioctl on an `argsz`-headed struct the kernel reads and fills in. Refused here if
/// `argsz` claims more than the struct holds, because the kernel trusts `argsz`.
pub fn ioctl_arg<T: Argsz>(
    fd: BorrowedFd<'_>,
    req: libc::Ioctl,
    arg: &mut T,
) -> io::Result<libc::c_int> {
    if usize::try_from(arg.argsz()).map_or(true, |n| n > std::mem::size_of::<T>()) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: `arg` is a live, exclusive `#[repr(C)]` struct of at least `argsz` bytes; the
    // kernel reads and writes within `argsz` (VFIO's contract).
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, std::ptr::from_mut(arg)) })
}

/// An ioctl on a byte buffer that starts with an `argsz` header (info calls with room for
/// capabilities). Refused here if `argsz` claims more than the buffer holds.
pub fn ioctl_buf(fd: BorrowedFd<'_>, req: libc::Ioctl, buf: &mut [u8]) -> io::Result<libc::c_int> {
    let argsz = match buf.get(..4) {
        Some([a, b, c, d]) => u32::from_ne_bytes([*a, *b, *c, *d]),
        _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
    };
    if usize::try_from(argsz).map_or(true, |n| n > buf.len()) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: `buf` is live, exclusive and holds at least `argsz` bytes; the kernel stays
    // within `argsz`. It copies with copy_{from,to}_user, so alignment does not matter.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, buf.as_mut_ptr()) })
}

/// An ioctl that reads one `int` through a pointer (`VFIO_GROUP_SET_CONTAINER`).
pub fn ioctl_int_in(
    fd: BorrowedFd<'_>,
    req: libc::Ioctl,
    v: &libc::c_int,
) -> io::Result<libc::c_int> {
    // SAFETY: `v` is a live int; the kernel only reads it.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, std::ptr::from_ref(v)) })
}

/// `VFIO_GROUP_GET_DEVICE_FD`: the kernel reads `name` and returns a new fd we then own.
pub fn ioctl_get_fd(fd: BorrowedFd<'_>, req: libc::Ioctl, name: &CStr) -> io::Result<File> {
    // SAFETY: `name` is a live NUL-terminated string; the kernel only reads it.
    let r = cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, name.as_ptr()) })?;
    // SAFETY: on success the ioctl returned a new file descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(r) })
}

/// An ioctl that reads one `u32` through a pointer and returns a new fd we then own
/// (`VFIO_DEVICE_GET_GFX_DMABUF`).
pub fn ioctl_u32_get_fd(fd: BorrowedFd<'_>, req: libc::Ioctl, v: &u32) -> io::Result<File> {
    // SAFETY: `v` is a live u32; the kernel only reads it.
    let r = cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, std::ptr::from_ref(v)) })?;
    // SAFETY: on success the ioctl returned a new file descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(r) })
}

/// A copy of fd `target` of process `pid` (`pidfd_open(2)` then `pidfd_getfd(2)`): the same
/// open file, as `dup` would give it inside that process. Needs ptrace rights over `pid`.
pub fn pidfd_getfd(pid: libc::pid_t, target: libc::c_int) -> io::Result<File> {
    let to_fd = |r: libc::c_long| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            libc::c_int::try_from(r).map_err(|_| io::Error::other("fd out of range"))
        }
    };
    // SAFETY: plain syscall with integer arguments.
    let pidfd = to_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: pidfd_open returned a new file descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // SAFETY: plain syscall with integer arguments.
    let fd = to_fd(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) })?;
    // SAFETY: pidfd_getfd returned a new file descriptor (close-on-exec) that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Maps `len` bytes of `file` shared and read-only, copies them out and unmaps them (how a
/// display client looks at a dma-buf).
pub fn map_and_copy(file: &File, len: usize) -> io::Result<Vec<u8>> {
    // SAFETY: a fresh mapping at an address of the kernel's choosing, of a file we hold open.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let mut out = vec![0u8; len];
    // SAFETY: the mapping is `len` readable bytes; `out` is a distinct buffer of `len` bytes.
    unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), out.as_mut_ptr(), len) };
    // SAFETY: unmaps exactly the mapping made above.
    unsafe { libc::munmap(p, len) };
    Ok(out)
}

/// A shared mapping of part of a device fd (a region's mmap area), accessed only with volatile
/// 8-byte loads and stores: the kernel may change what backs it at any time.
#[derive(Debug)]
pub struct DeviceMap {
    ptr: NonNull<u8>,
    len: usize,
}

impl DeviceMap {
    /// Maps `len` bytes of `file` at `offset`, read-write and shared.
    pub fn new(file: &File, offset: u64, len: usize) -> io::Result<DeviceMap> {
        let p = mmap_fd(file, offset, len, libc::MAP_SHARED)?;
        let ptr =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(DeviceMap { ptr, len })
    }

    fn at(&self, off: usize) -> Option<*mut u64> {
        (off % 8 == 0 && off.checked_add(8)? <= self.len)
            .then(|| self.ptr.as_ptr().wrapping_add(off).cast::<u64>())
    }

    /// The 8 bytes at `off` (8-aligned, inside the mapping); `None` otherwise.
    pub fn read64(&self, off: usize) -> Option<u64> {
        // SAFETY: `at` checked that the aligned 8 bytes lie inside our live mapping.
        self.at(off).map(|p| unsafe { std::ptr::read_volatile(p) })
    }

    /// Stores 8 bytes at `off` (8-aligned, inside the mapping); false otherwise.
    pub fn write64(&self, off: usize, v: u64) -> bool {
        // SAFETY: as in `read64`.
        self.at(off)
            .map(|p| unsafe { std::ptr::write_volatile(p, v) })
            .is_some()
    }

    /// Reads the 8 bytes at `off` in a forked child; returns the signal that killed it, or
    /// `None` if the read went through. How a client touches a page that might fault.
    pub fn read_in_child(&self, off: usize) -> io::Result<Option<i32>> {
        let p = self
            .at(off)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the child only loads from the mapping, which it inherits, and exits
        // without running anything of the parent's (no locks, no destructors).
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                // SAFETY: `p` is inside the inherited mapping.
                let _ = unsafe { std::ptr::read_volatile(p) };
                // SAFETY: exits the child at once.
                unsafe { libc::_exit(0) }
            }
            pid => {
                let mut status = 0;
                // SAFETY: waits for our own child with a valid status pointer.
                if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
                    return Err(io::Error::last_os_error());
                }
                Ok(libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)))
            }
        }
    }
}

impl Drop for DeviceMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` created; no references into it exist.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

fn mmap_fd(
    file: &File,
    offset: u64,
    len: usize,
    flags: libc::c_int,
) -> io::Result<*mut libc::c_void> {
    let off =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a fresh mapping at an address of the kernel's choosing, of a file we hold open.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            file.as_raw_fd(),
            off,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(p)
    }
}

/// Tries an mmap of `len` bytes of `file` at `offset` (`private` or shared) and unmaps it at
/// once if the kernel accepted it: for checks that it must not.
pub fn try_mmap(file: &File, offset: u64, len: usize, private: bool) -> io::Result<()> {
    let flags = if private {
        libc::MAP_PRIVATE
    } else {
        libc::MAP_SHARED
    };
    let p = mmap_fd(file, offset, len, flags)?;
    // SAFETY: unmaps exactly the mapping just made.
    unsafe { libc::munmap(p, len) };
    Ok(())
}

/// An eventfd (non-blocking, close-on-exec): how VFIO signals an interrupt.
#[derive(Debug)]
pub struct EventFd(File);

impl EventFd {
    /// A new eventfd with a zero count.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall without pointers.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: eventfd() returned a new file descriptor that nothing else owns.
        Ok(EventFd(unsafe { File::from_raw_fd(fd) }))
    }

    /// The fd to hand to `VFIO_DEVICE_SET_IRQS`.
    pub fn raw(&self) -> i32 {
        self.0.as_raw_fd()
    }

    /// Waits up to `timeout` for signals; returns how many arrived (0 on timeout) and resets
    /// the count.
    pub fn wait(&self, timeout: Duration) -> io::Result<u64> {
        let mut p = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `p` is one live pollfd and we pass a count of 1.
        let n = cvt(unsafe { libc::poll(&mut p, 1, ms) })?;
        if n == 0 {
            return Ok(0);
        }
        let mut b = [0u8; 8];
        match (&self.0).read(&mut b) {
            Ok(8) => Ok(u64::from_ne_bytes(b)),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "short eventfd read",
            )),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Adds one to the count, as the kernel's `eventfd_signal` does.
    #[cfg(test)]
    pub fn signal(&self) -> io::Result<()> {
        std::io::Write::write_all(&mut &self.0, &1u64.to_ne_bytes())
    }
}

/// Anonymous private memory: the guest's RAM, mapped for DMA at IOVA 0. The kernel reads and
/// writes it behind our back (vfio_dma_rw), so it is only ever accessed by copying through the
/// raw pointer, never through a long-lived Rust reference.
#[derive(Debug)]
pub struct GuestRam {
    ptr: NonNull<u8>,
    len: usize,
}

impl GuestRam {
    /// Maps `len` bytes of zeroed memory.
    pub fn new(len: usize) -> io::Result<GuestRam> {
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing; no
        // existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(GuestRam { ptr, len })
    }

    /// The user virtual address, for `VFIO_IOMMU_MAP_DMA`.
    pub fn vaddr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.len
    }

    fn start(&self, gpa: u64, n: usize) -> Option<usize> {
        let start = usize::try_from(gpa).ok()?;
        (start.checked_add(n)? <= self.len).then_some(start)
    }

    /// Copies guest RAM at `gpa` into `buf`; false if the range is outside the RAM.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> bool {
        let Some(start) = self.start(gpa, buf.len()) else {
            return false;
        };
        // SAFETY: `start + buf.len() <= len`, so the source lies inside our mapping, which
        // lives as long as `self`; `buf` is a distinct Rust buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(start), buf.as_mut_ptr(), buf.len())
        };
        true
    }

    /// Copies `data` into guest RAM at `gpa`; false if the range is outside the RAM.
    pub fn write(&self, gpa: u64, data: &[u8]) -> bool {
        let Some(start) = self.start(gpa, data.len()) else {
            return false;
        };
        // SAFETY: as in `read`, the destination lies inside our mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(start), data.len())
        };
        true
    }
}

impl Drop for GuestRam {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` created; no references into it exist.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfd_getfd_copies_an_fd_of_a_process() {
        let e = EventFd::new().unwrap();
        let copy =
            pidfd_getfd(libc::pid_t::try_from(std::process::id()).unwrap(), e.raw()).unwrap();
        // The copy is the same eventfd: a count written through it is read through the original.
        std::io::Write::write_all(&mut &copy, &3u64.to_ne_bytes()).unwrap();
        assert_eq!(e.wait(Duration::from_millis(10)).unwrap(), 3);
        assert!(pidfd_getfd(libc::pid_t::MAX, 0).is_err());
    }

    #[test]
    fn guest_ram_bounds() {
        let ram = GuestRam::new(2 * 4096).unwrap();
        assert!(ram.write(4096 - 2, &[1, 2, 3, 4]));
        let mut b = [0u8; 4];
        assert!(ram.read(4096 - 2, &mut b));
        assert_eq!(b, [1, 2, 3, 4]);
        assert!(!ram.read(8192 - 3, &mut b));
        assert!(!ram.write(u64::MAX, &[0]));
        assert!(ram.read(8192, &mut []));
    }

    #[test]
    fn eventfd_counts_signals() {
        let e = EventFd::new().unwrap();
        assert_eq!(e.wait(Duration::ZERO).unwrap(), 0);
        e.signal().unwrap();
        e.signal().unwrap();
        assert_eq!(e.wait(Duration::from_millis(10)).unwrap(), 2);
        assert_eq!(e.wait(Duration::ZERO).unwrap(), 0);
    }

    #[test]
    fn argsz_beyond_the_struct_is_refused_locally() {
        let e = EventFd::new().unwrap();
        let fd = std::os::fd::AsFd::as_fd(&e.0);
        let mut info = crate::uapi::RegionInfo {
            argsz: 64,
            ..Default::default()
        };
        let err = ioctl_arg(fd, crate::uapi::DEVICE_GET_REGION_INFO, &mut info).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let mut buf = [0u8; 16];
        buf[..4].copy_from_slice(&32u32.to_ne_bytes());
        assert_eq!(
            ioctl_buf(fd, crate::uapi::DEVICE_GET_REGION_INFO, &mut buf)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
        // On an fd that is not VFIO the request itself is refused by the kernel.
        assert_eq!(
            ioctl_val(fd, crate::uapi::GET_API_VERSION, 0)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOTTY)
        );
    }
}
