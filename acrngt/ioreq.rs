//! What a VHM ioreq asks of the vGPU.
//!
//! ACRN traps the User VM's config cycles to 00:02.0, its accesses to BAR0 once the guest
//! enabled decode, and its writes to write-protected guest pages, and hands each to acrngt as a
//! `struct vhm_request`. Every field comes from the guest (through the hypervisor), so the
//! request is decoded and checked here, before anything reaches the device model: the size
//! must be one the device takes, a config cycle must be for the vGPU's BDF, an MMIO address
//! must lie inside the BAR0 window the guest programmed.

/// `REQ_MMIO`.
pub const REQ_MMIO: u32 = 1;
/// `REQ_PCICFG`.
pub const REQ_PCICFG: u32 = 2;
/// `REQ_WP`.
pub const REQ_WP: u32 = 3;
/// `REQUEST_WRITE`.
pub const REQUEST_WRITE: u32 = 1;

/// The vGPU's place on the User VM's PCI bus: 00:02.0, as the physical GPU's.
pub const VGPU_BDF: (i32, i32, i32) = (0, 2, 0);

/// A request's fields, as the VHM request buffer has them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `type`.
    pub kind: u32,
    /// `direction` of the request's union member.
    pub direction: u32,
    /// MMIO/WP: guest physical address.
    pub address: u64,
    /// Bytes (signed in the PCI member).
    pub size: i64,
    /// PCI: bus, device, function, register.
    pub bdf: (i32, i32, i32),
    /// PCI: config offset.
    pub reg: i32,
}

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A config-space access at `offset`, `len` bytes.
    Cfg {
        /// A write (else a read).
        write: bool,
        /// Offset in config space.
        offset: u32,
        /// 1, 2 or 4.
        len: u32,
    },
    /// A BAR0 access at `offset` into BAR0, `len` bytes.
    Mmio {
        /// A write (else a read).
        write: bool,
        /// Offset in BAR0.
        offset: u64,
        /// 1, 2, 4 or 8.
        len: u32,
    },
    /// A guest write to a write-protected page at `gpa`, `len` bytes: acrngt commits it.
    WpWrite {
        /// Guest physical address.
        gpa: u64,
        /// 1, 2, 4 or 8.
        len: u32,
    },
}

/// Why a request is refused (the guest's access fails; nothing is emulated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A size the device does not take.
    BadSize,
    /// A config cycle for another device, or at an offset past config space.
    NotOurs,
    /// An address outside the trapped BAR0 window.
    OutOfRange,
    /// A request type acrngt does not serve, or a read of a protected page.
    BadType,
}

fn len(size: i64, max: u32) -> Result<u32, Refused> {
    match u32::try_from(size) {
        Ok(n @ (1 | 2 | 4 | 8)) if n <= max => Ok(n),
        _ => Err(Refused::BadSize),
    }
}

impl Request {
    /// Decodes a request against the BAR0 window `[bar0.0, bar0.1)` the guest enabled (none
    /// before it enables decode).
    pub fn decode(&self, bar0: Option<(u64, u64)>) -> Result<Access, Refused> {
        let write = self.direction == REQUEST_WRITE;
        match self.kind {
            REQ_PCICFG => {
                if self.bdf != VGPU_BDF {
                    return Err(Refused::NotOurs);
                }
                let len = len(self.size, 4)?;
                let offset = u32::try_from(self.reg).map_err(|_| Refused::NotOurs)?;
                Ok(Access::Cfg { write, offset, len })
            }
            REQ_MMIO => {
                let len = len(self.size, 8)?;
                let (start, end) = bar0.ok_or(Refused::OutOfRange)?;
                let last = self
                    .address
                    .checked_add(u64::from(len))
                    .ok_or(Refused::OutOfRange)?;
                if self.address < start || last > end {
                    return Err(Refused::OutOfRange);
                }
                Ok(Access::Mmio {
                    write,
                    offset: self.address.wrapping_sub(start),
                    len,
                })
            }
            REQ_WP if write => Ok(Access::WpWrite {
                gpa: self.address,
                len: len(self.size, 8)?,
            }),
            _ => Err(Refused::BadType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAR0: Option<(u64, u64)> = Some((0xe000_0000, 0xe100_0000));

    fn mmio(address: u64, size: i64, direction: u32) -> Request {
        Request {
            kind: REQ_MMIO,
            direction,
            address,
            size,
            ..Request::default()
        }
    }

    #[test]
    fn config_cycles_for_the_vgpu() {
        let r = Request {
            kind: REQ_PCICFG,
            size: 4,
            bdf: VGPU_BDF,
            reg: 0x10,
            ..Request::default()
        };
        assert_eq!(
            r.decode(None),
            Ok(Access::Cfg {
                write: false,
                offset: 0x10,
                len: 4
            })
        );
        assert_eq!(
            Request {
                bdf: (0, 3, 0),
                ..r
            }
            .decode(None),
            Err(Refused::NotOurs)
        );
        assert_eq!(Request { reg: -4, ..r }.decode(None), Err(Refused::NotOurs));
        assert_eq!(Request { size: 8, ..r }.decode(None), Err(Refused::BadSize));
        assert_eq!(
            Request { size: -1, ..r }.decode(None),
            Err(Refused::BadSize)
        );
    }

    #[test]
    fn mmio_inside_the_window_only() {
        assert_eq!(
            mmio(0xe000_2030, 4, REQUEST_WRITE).decode(BAR0),
            Ok(Access::Mmio {
                write: true,
                offset: 0x2030,
                len: 4
            })
        );
        assert_eq!(
            mmio(0xe0ff_fff8, 8, 0).decode(BAR0),
            Ok(Access::Mmio {
                write: false,
                offset: 0xff_fff8,
                len: 8
            })
        );
        assert_eq!(
            mmio(0xe0ff_fffc, 8, 0).decode(BAR0),
            Err(Refused::OutOfRange)
        );
        assert_eq!(
            mmio(0xdfff_fffc, 4, 0).decode(BAR0),
            Err(Refused::OutOfRange)
        );
        assert_eq!(mmio(u64::MAX, 4, 0).decode(BAR0), Err(Refused::OutOfRange));
        assert_eq!(
            mmio(0xe000_0000, 4, 0).decode(None),
            Err(Refused::OutOfRange)
        );
        assert_eq!(mmio(0xe000_0000, 3, 0).decode(BAR0), Err(Refused::BadSize));
        assert_eq!(mmio(0xe000_0000, 16, 0).decode(BAR0), Err(Refused::BadSize));
    }

    #[test]
    fn write_protect_requests_are_writes() {
        let wp = Request {
            kind: REQ_WP,
            direction: REQUEST_WRITE,
            address: 0x1234_5008,
            size: 8,
            ..Request::default()
        };
        assert_eq!(
            wp.decode(None),
            Ok(Access::WpWrite {
                gpa: 0x1234_5008,
                len: 8
            })
        );
        assert_eq!(
            Request { direction: 0, ..wp }.decode(None),
            Err(Refused::BadType)
        );
        assert_eq!(
            Request { kind: 0, ..wp }.decode(None),
            Err(Refused::BadType)
        );
    }
}
