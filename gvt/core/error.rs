//! The core's error type and its one map to and from Linux errno ([`GvtError::errno`],
//! [`GvtError::from_errno`]). The core has no kernel to take the numbers from, so [`errno`] holds
//! them; gvt.ko asserts each against the kernel's own at build time (`gvt/glue/mod.rs`). The
//! modules' glue turns the result into a `kernel::error::Error` or a C return value; acrngt and
//! the host-side tools use the same map.

use core::fmt;

/// Why a core operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GvtError {
    /// A request or guest value is malformed or out of range.
    Invalid,
    /// Not enough GM, fences or vGPU slots left to satisfy a request.
    NoSpace,
    /// The object named does not exist.
    NotFound,
    /// The object to be created exists already.
    Exists,
    /// The object is in use and cannot be changed now.
    Busy,
    /// The operation is not supported by this platform or backend.
    NotSupported,
    /// A guest or user address could not be accessed.
    Fault,
    /// Memory could not be allocated.
    NoMemory,
    /// The device is gone or not usable.
    NoDevice,
    /// A number is too large for what it sizes.
    OutOfRange,
    /// The request is well-formed but not allowed (a write to a read-only register).
    NotPermitted,
}

/// The Linux errno values of [`GvtError`] (`include/uapi/asm-generic/errno*.h`).
#[allow(missing_docs)]
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ENOMEM: i32 = 12;
    pub const EFAULT: i32 = 14;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
    pub const ERANGE: i32 = 34;
    pub const EOPNOTSUPP: i32 = 95;
}

/// Every error, for the reverse map.
const ALL: [GvtError; 11] = [
    GvtError::Invalid,
    GvtError::NoSpace,
    GvtError::NotFound,
    GvtError::Exists,
    GvtError::Busy,
    GvtError::NotSupported,
    GvtError::Fault,
    GvtError::NoMemory,
    GvtError::NoDevice,
    GvtError::OutOfRange,
    GvtError::NotPermitted,
];

/// Result alias for the core.
pub type Result<T = ()> = core::result::Result<T, GvtError>;

impl GvtError {
    /// The positive Linux errno for this error (the glue negates it where the kernel wants that).
    pub const fn errno(self) -> i32 {
        match self {
            GvtError::Invalid => errno::EINVAL,
            GvtError::NoSpace => errno::ENOSPC,
            GvtError::NotFound => errno::ENOENT,
            GvtError::Exists => errno::EEXIST,
            GvtError::Busy => errno::EBUSY,
            GvtError::NotSupported => errno::EOPNOTSUPP,
            GvtError::Fault => errno::EFAULT,
            GvtError::NoMemory => errno::ENOMEM,
            GvtError::NoDevice => errno::ENODEV,
            GvtError::OutOfRange => errno::ERANGE,
            GvtError::NotPermitted => errno::EPERM,
        }
    }

    /// The error for a positive or negative errno: the inverse of [`GvtError::errno`], and
    /// `Invalid` for a number it does not produce.
    pub fn from_errno(n: i32) -> GvtError {
        GvtError::try_from_errno(n).unwrap_or(GvtError::Invalid)
    }

    /// The inverse of [`GvtError::errno`] (of either sign), `None` for a number it does not
    /// produce (for callers that see other errnos too, as the user-space clients do).
    pub fn try_from_errno(n: i32) -> Option<GvtError> {
        let n = n.checked_abs()?;
        ALL.into_iter().find(|e| e.errno() == n)
    }
}

impl fmt::Display for GvtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            GvtError::Invalid => "invalid argument",
            GvtError::NoSpace => "not enough resources",
            GvtError::NotFound => "not found",
            GvtError::Exists => "already exists",
            GvtError::Busy => "busy",
            GvtError::NotSupported => "not supported",
            GvtError::Fault => "bad address",
            GvtError::NoMemory => "out of memory",
            GvtError::NoDevice => "no such device",
            GvtError::OutOfRange => "out of range",
            GvtError::NotPermitted => "not permitted",
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_the_linux_values() {
        assert_eq!(GvtError::Invalid.errno(), 22);
        assert_eq!(GvtError::NoSpace.errno(), 28);
        assert_eq!(GvtError::NotSupported.errno(), 95);
        assert_eq!(GvtError::OutOfRange.errno(), 34);
        assert_eq!(GvtError::NotPermitted.errno(), 1);
    }

    #[test]
    fn the_reverse_map_is_the_inverse() {
        for e in ALL {
            assert_eq!(GvtError::from_errno(e.errno()), e);
            assert_eq!(GvtError::from_errno(-e.errno()), e);
        }
        for n in [0, 3, 5, 1000, i32::MIN, i32::MAX] {
            assert_eq!(GvtError::from_errno(n), GvtError::Invalid);
            assert_eq!(GvtError::try_from_errno(n), None);
        }
    }
}
