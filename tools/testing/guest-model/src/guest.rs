//! The guest's view of a vGPU: the [`Transport`] it reaches the device through, and the
//! errors of its checks. `no_std` and free of host-only code, because gvt.ko's KUnit suite runs
//! the same probe ([`super::probe`]) inside the kernel over the MPT ABI.

/// Error of a transport or of the guest's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The device model refused an access.
    Device(gvt::model::error::GvtError),
    /// The guest driver would fail its probe here.
    Probe(&'static str),
}

impl From<gvt::model::error::GvtError> for Error {
    fn from(e: gvt::model::error::GvtError) -> Self {
        Error::Device(e)
    }
}

/// Result alias.
pub type Result<T = ()> = core::result::Result<T, Error>;

/// How a guest reaches its vGPU: PCI config cycles, BAR0 accesses, interrupts and its own RAM.
pub trait Transport {
    /// Reads 1, 2 or 4 bytes of config space.
    fn cfg_read(&mut self, offset: u32, buf: &mut [u8]) -> Result;
    /// Writes 1, 2 or 4 bytes of config space.
    fn cfg_write(&mut self, offset: u32, data: &[u8]) -> Result;
    /// Reads 1, 2, 4 or 8 bytes at an offset in BAR0.
    fn mmio_read(&mut self, offset: u64, buf: &mut [u8]) -> Result;
    /// Writes 1, 2, 4 or 8 bytes at an offset in BAR0.
    fn mmio_write(&mut self, offset: u64, data: &[u8]) -> Result;
    /// Takes one delivered MSI (address, data), if one arrived.
    fn wait_msi(&mut self) -> Option<(u64, u32)>;
    /// Reads guest RAM.
    fn ram_read(&mut self, gpa: u64, buf: &mut [u8]) -> Result;
    /// Writes guest RAM.
    fn ram_write(&mut self, gpa: u64, data: &[u8]) -> Result;
}

/// Time as the guest sees it. Waiting is what lets the device's own clocks (vblank) run: over
/// the direct transport time is simulated and advancing it drives the core's `display_tick`;
/// over VFIO or ACRN it is the wall clock.
pub trait Timer {
    /// Nanoseconds since an arbitrary start.
    fn now_ns(&mut self) -> u64;
    /// Waits `ns` nanoseconds.
    fn sleep_ns(&mut self, ns: u64) -> Result;
}

/// Convenience accessors over any transport.
pub trait TransportExt: Transport {
    /// Reads a 32-bit register.
    fn read32(&mut self, off: u32) -> Result<u32> {
        let mut b = [0u8; 4];
        self.mmio_read(u64::from(off), &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// Writes a 32-bit register.
    fn write32(&mut self, off: u32, v: u32) -> Result {
        self.mmio_write(u64::from(off), &v.to_le_bytes())
    }
    /// Reads a 64-bit register pair.
    fn read64(&mut self, off: u32) -> Result<u64> {
        let mut b = [0u8; 8];
        self.mmio_read(u64::from(off), &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// Reads a config dword.
    fn cfg_read32(&mut self, off: u32) -> Result<u32> {
        let mut b = [0u8; 4];
        self.cfg_read(off, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// Writes a config dword.
    fn cfg_write32(&mut self, off: u32, v: u32) -> Result {
        self.cfg_write(off, &v.to_le_bytes())
    }
    /// Clears then sets bits of a register (i915's `intel_de_rmw`).
    fn rmw(&mut self, off: u32, clear: u32, set: u32) -> Result {
        let v = self.read32(off)?;
        self.write32(off, (v & !clear) | set)
    }
    /// Polls a register until `(value & mask) == want`, at most `tries` reads.
    fn wait_for(&mut self, off: u32, mask: u32, want: u32, tries: u32) -> Result<u32> {
        for _ in 0..tries {
            let v = self.read32(off)?;
            if v & mask == want {
                return Ok(v);
            }
        }
        Err(Error::Probe("register poll timed out"))
    }
}

impl<T: Transport + ?Sized> TransportExt for T {}
