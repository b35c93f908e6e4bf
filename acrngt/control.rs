//! The `/sys/kernel/gvt/control/create_gvt_instance` protocol, as ACRN-DM speaks it.
//!
//! ACRN-DM writes `"vmid,low_gm_MB,high_gm_MB,fence_count\n"` to create a User VM's vGPU and
//! `"-vmid\n"` to destroy it. The parser is strict: exactly those shapes, decimal digits only,
//! at most one trailing newline; anything else is refused before any state changes, with an
//! error that says whether the text was malformed (`Invalid`, EINVAL) or a number too large
//! (`OutOfRange`, ERANGE): gvt.ko's errors, with their one errno map.

use crate::error::GvtError;

/// Largest ACRN VM id (the hypervisor keeps VM ids in 16 bits).
pub const MAX_VMID: u32 = 0xffff;

/// Scheduling weight of ACRN instances. Upstream AcrnGT built every instance from the
/// smallest type (`GVTg_V5_8`), whose weight is 2; all instances weigh the same.
pub const INSTANCE_WEIGHT: u32 = 2;

/// A well-formed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Create a vGPU for `vmid` with these sizes.
    Create {
        /// The ACRN VM id, 1..=[`MAX_VMID`].
        vmid: u32,
        /// Aperture, MiB (> 0).
        low_gm_mb: u32,
        /// Hidden graphics memory, MiB (> 0).
        high_gm_mb: u32,
        /// Fence registers (> 0).
        fences: u32,
    },
    /// Destroy the vGPU of `vmid`.
    Destroy {
        /// The ACRN VM id.
        vmid: u32,
    },
}

impl Request {
    /// Parses one write to `create_gvt_instance`.
    pub fn parse(buf: &[u8]) -> Result<Request, GvtError> {
        let text = buf.strip_suffix(b"\n").unwrap_or(buf);
        if let Some(id) = text.strip_prefix(b"-") {
            return Ok(Request::Destroy { vmid: vmid(id)? });
        }
        let mut fields = text.split(|&b| b == b',');
        let mut next = || fields.next().ok_or(GvtError::Invalid);
        let req = Request::Create {
            vmid: vmid(next()?)?,
            low_gm_mb: positive(next()?)?,
            high_gm_mb: positive(next()?)?,
            fences: positive(next()?)?,
        };
        match fields.next() {
            None => Ok(req),
            Some(_) => Err(GvtError::Invalid),
        }
    }

    /// The VM the request is about.
    pub const fn vmid(&self) -> u32 {
        match *self {
            Request::Create { vmid, .. } | Request::Destroy { vmid } => vmid,
        }
    }
}

/// A decimal number: one or more ASCII digits and nothing else.
fn number(field: &[u8]) -> Result<u32, GvtError> {
    if field.is_empty() {
        return Err(GvtError::Invalid);
    }
    field.iter().try_fold(0u32, |acc, &b| {
        let digit = match b {
            b'0'..=b'9' => u32::from(b.wrapping_sub(b'0')),
            _ => return Err(GvtError::Invalid),
        };
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(digit))
            .ok_or(GvtError::OutOfRange)
    })
}

fn positive(field: &[u8]) -> Result<u32, GvtError> {
    match number(field)? {
        0 => Err(GvtError::Invalid),
        n => Ok(n),
    }
}

fn vmid(field: &[u8]) -> Result<u32, GvtError> {
    match positive(field)? {
        n if n > MAX_VMID => Err(GvtError::OutOfRange),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(vmid: u32, low: u32, high: u32, fences: u32) -> Request {
        Request::Create {
            vmid,
            low_gm_mb: low,
            high_gm_mb: high,
            fences,
        }
    }

    #[test]
    fn acrn_dm_requests() {
        assert_eq!(Request::parse(b"1,64,448,8\n"), Ok(create(1, 64, 448, 8)));
        assert_eq!(Request::parse(b"3,128,384,4"), Ok(create(3, 128, 384, 4)));
        assert_eq!(Request::parse(b"-1\n"), Ok(Request::Destroy { vmid: 1 }));
        assert_eq!(
            Request::parse(b"-65535"),
            Ok(Request::Destroy { vmid: 65535 })
        );
        assert_eq!(Request::parse(b"007,64,448,8\n").map(|r| r.vmid()), Ok(7));
    }

    #[test]
    fn malformed_requests_are_einval() {
        for bad in [
            &b"0,64,448,8"[..],
            b"",
            b"\n",
            b"1",
            b"1,64,448",
            b"1,64,448,8,9",
            b"1,64,448,8\n\n",
            b"1,-64,448,8",
            b"1,64,,8",
            b"1, 64,448,8",
            b"1,64,448,8x",
            b"1,0,448,8",
            b"1,64,0,8",
            b"1,64,448,0",
            b"-",
            b"-0",
            b"--1",
            b"-1,2",
            b"+1,64,448,8",
            b"1,64,448,8 ",
            b"1\0",
        ] {
            assert_eq!(Request::parse(bad), Err(GvtError::Invalid), "{:?}", bad);
        }
        assert_eq!(GvtError::Invalid.errno(), 22);
    }

    #[test]
    fn numbers_that_do_not_fit_are_erange() {
        for big in [
            &b"65536,64,448,8"[..],
            b"1,4294967296,448,8",
            b"1,64,448,99999999999",
            b"-70000",
        ] {
            assert_eq!(Request::parse(big), Err(GvtError::OutOfRange), "{:?}", big);
        }
        assert_eq!(
            Request::parse(b"1,4294967295,448,8"),
            Ok(create(1, u32::MAX, 448, 8))
        );
        assert_eq!(GvtError::OutOfRange.errno(), 34);
    }
}
