//! Plane-based display ownership, the direct display model of the ACRN GVT-g design: each
//! universal plane of each pipe belongs to the host or to one VM, and only the owner's plane
//! writes reach the hardware, so domains flip their own planes and the display controller
//! blends them. Everything else stays emulated (the indirect model).
//!
//! The policy is ACRN's pair of i915 parameters, parsed like a kernel `ullong` parameter (a
//! `0x` prefix for hex, a leading `0` for octal, else decimal; surrounding whitespace and a
//! trailing newline are ignored):
//! - `domain_plane_owners`: one 4-bit domain id per plane, 16 bits per pipe, pipe A and plane 1
//!   in the least significant nibble (owner of plane `n` of pipe `p` = bits `16p + 4n + 3 ..
//!   16p + 4n`). Domain 0 is the host (ACRN's Service VM), 1-15 are VMs. `0x011111110000`:
//!   the host owns pipe A, VM 1 pipes B and C. At most 48 bits; a nibble naming a plane the
//!   platform lacks (pipe C's fourth on Broxton) must be 0.
//! - `avail_planes_per_pipe`: the host's own i915 plane mask, one byte per pipe (bit `n` =
//!   plane `n + 1`). Like ACRN, 0 switches plane restriction off: no plane write of any vGPU
//!   is forwarded. Bits for planes the platform lacks are refused.
//!
//! The core never writes the hardware itself: a vGPU's write to a plane register it owns comes
//! out as a [`Forward`] (offset and value, unchanged: ballooning makes guest graphics addresses
//! host ones, and PLANE_SURF is forwarded only when the whole surface lies in the vGPU's
//! memory). The glue applies forwards with its host's MMIO write (the `HostGpu`-side hook; on
//! i915 an uncore write under the display power domain), in order, right after the access.
//! Turning a VM's planes off (on its reset or destruction) is the same: `PLANE_CTL = 0` then
//! `PLANE_SURF = 0` per owned plane ([`PlaneWrites`]), as ACRN's `disable_domu_plane`.

use core::fmt::{self, Write};

use super::super::error::{GvtError, Result};
use super::super::hw::Platform;
use super::regs::{plane_reg, PLANE_CTL, PLANE_SURF};
use super::{planes_on, Pipe, MAX_PLANES, PIPES};

/// A register write the host must apply to the hardware on a vGPU's behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    /// MMIO offset.
    pub offset: u32,
    /// Value.
    pub value: u32,
}

/// The writes that turn off a set of planes (bit `pipe * 4 + plane index`): PLANE_CTL = 0,
/// then PLANE_SURF = 0 to arm it, per plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaneWrites {
    mask: u16,
    surf_next: bool,
}

impl PlaneWrites {
    /// No writes.
    pub const fn none() -> PlaneWrites {
        PlaneWrites {
            mask: 0,
            surf_next: false,
        }
    }

    /// The writes disabling the planes in `mask`.
    pub const fn new(mask: u16) -> PlaneWrites {
        PlaneWrites {
            mask,
            surf_next: false,
        }
    }
}

impl Iterator for PlaneWrites {
    type Item = Forward;

    fn next(&mut self) -> Option<Forward> {
        if self.mask == 0 {
            return None;
        }
        let bit = self.mask.trailing_zeros();
        let (pipe, plane) = (bit / MAX_PLANES, bit % MAX_PLANES);
        let reg = if self.surf_next {
            self.mask &= !(1u16.wrapping_shl(bit));
            PLANE_SURF::OFFSET
        } else {
            PLANE_CTL::OFFSET
        };
        self.surf_next = !self.surf_next;
        Some(Forward {
            offset: plane_reg(reg, pipe, plane),
            value: 0,
        })
    }
}

/// Who owns each plane, and whether ownership is enforced at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerPolicy {
    owners: u64,
    avail: u32,
    platform: Platform,
}

/// Parses an unsigned integer as the kernel's `kstrtoull(s, 0, ..)` does. On bytes, by hand,
/// with checked arithmetic: `str::trim` and `from_str_radix` carry overflow panics into the
/// kernel build.
fn parse_ull(s: &str) -> Result<u64> {
    let mut s = s.as_bytes();
    while let [first, rest @ ..] = s {
        if !first.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !last.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    let (digits, radix) = match s {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16u8),
        [b'0', rest @ ..] if !rest.is_empty() => (rest, 8),
        _ => (s, 10),
    };
    if digits.is_empty() {
        return Err(GvtError::Invalid);
    }
    let mut v = 0u64;
    for &b in digits {
        let d = match b {
            b'0'..=b'9' => b.wrapping_sub(b'0'),
            b'a'..=b'f' => b.wrapping_sub(b'a').wrapping_add(10),
            b'A'..=b'F' => b.wrapping_sub(b'A').wrapping_add(10),
            _ => return Err(GvtError::Invalid),
        };
        if d >= radix {
            return Err(GvtError::Invalid);
        }
        v = v
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or(GvtError::Invalid)?;
    }
    Ok(v)
}

impl OwnerPolicy {
    /// No plane restriction: every plane is the host's, every vGPU plane write is emulated only.
    pub const fn disabled(platform: Platform) -> OwnerPolicy {
        OwnerPolicy {
            owners: 0,
            avail: 0,
            platform,
        }
    }

    /// Parses ACRN's `domain_plane_owners` and `avail_planes_per_pipe` (see the module docs).
    pub fn parse(
        platform: Platform,
        domain_plane_owners: &str,
        avail_planes_per_pipe: &str,
    ) -> Result<OwnerPolicy> {
        let owners = parse_ull(domain_plane_owners)?;
        let avail = parse_ull(avail_planes_per_pipe)?;
        if owners >> (16 * PIPES) != 0 || avail >> (8 * PIPES) != 0 {
            return Err(GvtError::Invalid);
        }
        let avail = u32::try_from(avail).map_err(|_| GvtError::Invalid)?;
        for &p in &Pipe::ALL {
            for plane in planes_on(platform, p)..MAX_PLANES {
                let nibble = owners.wrapping_shr(
                    p.index()
                        .wrapping_mul(16)
                        .wrapping_add(plane.wrapping_mul(4)),
                ) & 0xf;
                let bit = avail.wrapping_shr(p.index().wrapping_mul(8).wrapping_add(plane)) & 1;
                if nibble != 0 || bit != 0 {
                    return Err(GvtError::Invalid);
                }
            }
            if avail.wrapping_shr(p.index().wrapping_mul(8).wrapping_add(4)) & 0xf != 0 {
                return Err(GvtError::Invalid);
            }
        }
        Ok(OwnerPolicy {
            owners,
            avail,
            platform,
        })
    }

    /// The platform whose planes the policy names.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// Whether ownership is enforced (ACRN: `avail_planes_per_pipe` is not 0).
    pub fn enabled(&self) -> bool {
        self.avail != 0
    }

    /// The host's plane mask as given.
    pub fn avail_planes_per_pipe(&self) -> u32 {
        self.avail
    }

    /// The domain owning plane `plane` (0 = plane 1) of `pipe`; `None` for a plane the platform
    /// lacks.
    pub fn owner(&self, pipe: Pipe, plane: u32) -> Option<u32> {
        if plane >= planes_on(self.platform, pipe) {
            return None;
        }
        let shift = pipe
            .index()
            .wrapping_mul(16)
            .wrapping_add(plane.wrapping_mul(4));
        u32::try_from(self.owners.wrapping_shr(shift) & 0xf).ok()
    }

    /// The planes `domain` owns (bit `pipe * 4 + plane index`); none when ownership is not
    /// enforced or for the host (domain 0), whose planes are never a vGPU's.
    pub fn owned_by(&self, domain: u32) -> u16 {
        if !self.enabled() || domain == 0 {
            return 0;
        }
        let mut mask = 0u16;
        for &p in &Pipe::ALL {
            for plane in 0..MAX_PLANES {
                if self.owner(p, plane) == Some(domain) {
                    mask |=
                        1u16.wrapping_shl(p.index().wrapping_mul(MAX_PLANES).wrapping_add(plane));
                }
            }
        }
        mask
    }

    /// The writes that turn off every plane `domain` owns.
    pub fn disable_planes_of(&self, domain: u32) -> PlaneWrites {
        PlaneWrites::new(self.owned_by(domain))
    }

    /// Formats the table like ACRN's `plane_owner_show` sysfs file ("Planes:" then one line
    /// per pipe with its planes' owners) into `buf`; returns the length. `NoSpace` if `buf` is
    /// too small.
    pub fn show(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = SliceWriter { buf, len: 0 };
        self.write_table(&mut w).map_err(|_| GvtError::NoSpace)?;
        Ok(w.len)
    }

    fn write_table(&self, w: &mut SliceWriter<'_>) -> fmt::Result {
        w.write_str("Planes:\n")?;
        for &p in &Pipe::ALL {
            write!(w, "Pipe {}:", p.name())?;
            for plane in 0..planes_on(self.platform, p) {
                write!(w, " {}", self.owner(p, plane).unwrap_or(0))?;
            }
            w.write_str("\n")?;
        }
        Ok(())
    }
}

struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acrn_examples_parse() {
        let bxt = Platform::Broxton;
        let p = OwnerPolicy::parse(bxt, "0x010001101110", "0x01010F").unwrap();
        // ACRN's documented example: SOS owns 1A, 1B, 4B, 1C, 2C; UOS 1 owns the rest.
        assert_eq!(p.owner(Pipe::A, 0), Some(0));
        assert_eq!(
            (p.owner(Pipe::A, 1), p.owner(Pipe::A, 3)),
            (Some(1), Some(1))
        );
        assert_eq!(
            (
                p.owner(Pipe::B, 0),
                p.owner(Pipe::B, 1),
                p.owner(Pipe::B, 3)
            ),
            (Some(0), Some(1), Some(0))
        );
        assert_eq!(
            (
                p.owner(Pipe::C, 1),
                p.owner(Pipe::C, 2),
                p.owner(Pipe::C, 3)
            ),
            (Some(0), Some(1), None)
        );
        assert_eq!(p.owned_by(1), 0b0000_0100_0110_1110);
        assert_eq!(p.owned_by(0), 0);
        let p = OwnerPolicy::parse(bxt, "0x022211110000\n", "0x01010F").unwrap();
        assert_eq!(p.owned_by(2), 0b0111 << 8);
        let mut buf = [0u8; 64];
        let n = p.show(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            b"Planes:\nPipe A: 0 0 0 0\nPipe B: 1 1 1 1\nPipe C: 2 2 2\n"
        );
        assert_eq!(p.show(&mut [0u8; 20]), Err(GvtError::NoSpace));
        // avail 0: plane restriction off.
        assert_eq!(
            OwnerPolicy::parse(bxt, "0x011111110000", "0")
                .unwrap()
                .owned_by(1),
            0
        );
        // Octal and decimal as kstrtoull reads them.
        assert_eq!(
            OwnerPolicy::parse(bxt, "0200000", "1")
                .unwrap()
                .owner(Pipe::B, 0),
            Some(1)
        );
        assert_eq!(
            OwnerPolicy::parse(bxt, "65536", "1")
                .unwrap()
                .owner(Pipe::B, 0),
            Some(1)
        );
    }

    #[test]
    fn bad_policies_are_refused() {
        let bxt = Platform::Broxton;
        for (o, a) in [
            ("0x1000000000000", "1"), // beyond pipe C
            ("0x100000000000", "1"),  // pipe C has no fourth plane
            ("0x0", "0x1000000"),
            ("0x0", "0x080000"),
            ("0x0", "0x10"),
            ("", "1"),
            ("0x", "1"),
            ("0xg", "1"),
            ("99999999999999999999999", "1"),
            ("-1", "1"),
        ] {
            assert_eq!(
                OwnerPolicy::parse(bxt, o, a),
                Err(GvtError::Invalid),
                "{o} {a}"
            );
        }
        // Skylake has three planes per pipe.
        assert!(OwnerPolicy::parse(Platform::Skylake, "0x1000", "1").is_err());
    }

    #[test]
    fn disables_write_ctl_then_surf() {
        let w: std::vec::Vec<_> = PlaneWrites::new(0b1_0000_0001).collect();
        assert_eq!(
            w,
            [
                Forward {
                    offset: 0x70180,
                    value: 0
                },
                Forward {
                    offset: 0x7019c,
                    value: 0
                },
                Forward {
                    offset: 0x72180,
                    value: 0
                },
                Forward {
                    offset: 0x7219c,
                    value: 0
                },
            ]
        );
    }
}
