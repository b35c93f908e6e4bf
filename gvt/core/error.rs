//! The core's error type, mapped to an errno at exactly one place per boundary (the glue turns
//! it into a `kernel::error::Error`, the C ABI into a negative int).

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
}

/// Result alias for the core.
pub type Result<T = ()> = core::result::Result<T, GvtError>;

impl GvtError {
    /// The positive Linux errno for this error (the glue negates it where the kernel wants that).
    pub const fn errno(self) -> i32 {
        match self {
            GvtError::Invalid => 22,      // EINVAL
            GvtError::NoSpace => 28,      // ENOSPC
            GvtError::NotFound => 2,      // ENOENT
            GvtError::Exists => 17,       // EEXIST
            GvtError::Busy => 16,         // EBUSY
            GvtError::NotSupported => 95, // EOPNOTSUPP
            GvtError::Fault => 14,        // EFAULT
            GvtError::NoMemory => 12,     // ENOMEM
            GvtError::NoDevice => 19,     // ENODEV
        }
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
    }
}
