//! The crate's only `unsafe` code: ioctls on `/dev/vhm_sim`. Each wrapper hands the kernel only
//! memory it may touch, so everything above this module is safe Rust.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::uapi::{Arg, Mem};

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// An ioctl on one argument struct the kernel reads and may fill in.
pub fn ioctl_arg<T: Arg>(
    fd: BorrowedFd<'_>,
    req: libc::Ioctl,
    arg: &mut T,
) -> io::Result<libc::c_int> {
    // SAFETY: `arg` is a live, exclusive `#[repr(C)]` struct; the request number encodes its
    // size (uapi's consts), and the kernel copies at most that many bytes either way.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, std::ptr::from_mut(arg)) })
}

/// `VHM_SIM_GET_VERSION`.
pub fn get_version(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut v = 0u32;
    // SAFETY: the kernel writes one u32 through the pointer, which is a live local.
    cvt(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            crate::uapi::GET_VERSION,
            std::ptr::from_mut(&mut v),
        )
    })?;
    Ok(v)
}

/// An ioctl whose argument is a pointer no process can have mapped (address 8, below
/// `mmap_min_addr`): the kernel must fail it with EFAULT.
pub fn ioctl_unmapped(fd: BorrowedFd<'_>, req: libc::Ioctl) -> io::Result<libc::c_int> {
    // SAFETY: page 0 is never mapped in user space, so whatever the kernel does with the
    // address, it cannot reach memory of this process.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, 8usize as *mut libc::c_void) })
}

/// `VHM_SIM_MEM_READ` into `buf` (its address and length replace `m.buf`/`m.len`).
pub fn mem_read(fd: BorrowedFd<'_>, m: &mut Mem, buf: &mut [u8]) -> io::Result<()> {
    m.buf = buf.as_mut_ptr() as u64;
    m.len = buf.len() as u64;
    // SAFETY: `m` is a live struct and names `buf`, a live exclusive buffer of `m.len` bytes,
    // the only memory the kernel writes besides `m`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), crate::uapi::MEM_READ, std::ptr::from_mut(m)) })
        .map(drop)
}

/// `VHM_SIM_MEM_WRITE` from `data`; returns the REQ_WP requests it raised.
pub fn mem_write(fd: BorrowedFd<'_>, m: &mut Mem, data: &[u8]) -> io::Result<u64> {
    m.buf = data.as_ptr() as u64;
    m.len = data.len() as u64;
    // SAFETY: `m` is a live struct; the kernel only reads the `m.len` bytes of `data` it names.
    cvt(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            crate::uapi::MEM_WRITE,
            std::ptr::from_mut(m),
        )
    })?;
    Ok(m.wp_requests)
}

/// `VHM_SIM_MEM_READ`/`WRITE` with `m.buf`/`m.len` as given (bad-input: lengths the kernel must
/// refuse). Only lengths of zero, or above the kernel's limit, or with `m.buf` unmapped, are
/// passed through: anything else could let the kernel touch this process's memory.
pub fn mem_raw(fd: BorrowedFd<'_>, req: libc::Ioctl, m: &mut Mem) -> io::Result<libc::c_int> {
    let harmless = m.len == 0 || m.len > crate::uapi::MAX_MEM_IO || m.buf < 4096;
    if !harmless {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: the kernel either refuses the length before touching the buffer, or the buffer
    // lies in page 0, which no process has mapped.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, std::ptr::from_mut(m)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn raw_memory_ioctls_only_pass_harmless_buffers() {
        let f = std::fs::File::open("/dev/null").unwrap();
        let mut m = Mem {
            len: 16,
            buf: 0x7fff_0000,
            ..Mem::default()
        };
        assert_eq!(
            mem_raw(f.as_fd(), crate::uapi::MEM_READ, &mut m)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
        // On a file that is not /dev/vhm_sim the request itself is refused.
        m.buf = 8;
        assert_eq!(
            mem_raw(f.as_fd(), crate::uapi::MEM_READ, &mut m)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOTTY)
        );
        assert_eq!(
            get_version(f.as_fd()).unwrap_err().raw_os_error(),
            Some(libc::ENOTTY)
        );
    }
}
