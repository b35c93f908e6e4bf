//! A `HostGpu` that records every GGTT and fence write it forwards to another host, so tests
//! can check where the device model wrote.

use std::cell::RefCell;

use gvt::model::host::{HostGpu, HostInfo, CFG_SPACE_SIZE};

/// A host write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostWrite {
    /// GGTT entry index and value.
    Ggtt(u64, u64),
    /// Fence number and value.
    Fence(u32, u64),
}

/// Forwards to `inner` and logs writes.
pub struct RecordingHost<H> {
    /// The real host.
    pub inner: H,
    /// Writes seen, oldest first.
    pub log: RefCell<Vec<HostWrite>>,
}

impl<H: HostGpu> RecordingHost<H> {
    /// Wraps a host.
    pub fn new(inner: H) -> Self {
        RecordingHost {
            inner,
            log: RefCell::new(Vec::new()),
        }
    }
}

impl<H: HostGpu> HostGpu for RecordingHost<H> {
    fn info(&self) -> &HostInfo {
        self.inner.info()
    }
    fn cfg_snapshot(&self) -> &[u8; CFG_SPACE_SIZE] {
        self.inner.cfg_snapshot()
    }
    fn mmio_snapshot(&self, first_dword: usize, dst: &mut [u32]) {
        self.inner.mmio_snapshot(first_dword, dst)
    }
    fn ggtt_read(&self, index: u64) -> u64 {
        self.inner.ggtt_read(index)
    }
    fn ggtt_write(&self, index: u64, pte: u64) {
        self.log.borrow_mut().push(HostWrite::Ggtt(index, pte));
        self.inner.ggtt_write(index, pte)
    }
    fn ggtt_flush(&self) {
        self.inner.ggtt_flush()
    }
    fn fence_write(&self, index: u32, value: u64) {
        self.log.borrow_mut().push(HostWrite::Fence(index, value));
        self.inner.fence_write(index, value)
    }
}
