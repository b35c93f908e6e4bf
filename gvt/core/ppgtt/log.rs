//! What happened to each shadow table, for the glue's trace events (upstream's `spt_alloc`,
//! `spt_free`, `spt_guest_change`, `oos_change` and `oos_sync` name the table and its frames).
//!
//! The core stays sans-I/O: the table storage keeps the latest events in a small ring, only
//! while the glue has asked for them (its trace events are on), and the glue drains the ring
//! after each trap, page-track write and workload event. A burst longer than the ring between
//! two drains keeps the newest events and counts the rest as dropped.

/// Events the ring holds.
pub const LOG_LEN: usize = 32;

/// What happened to a table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SptEventKind {
    /// A shadow was built (`arg`: the shadow page's host address).
    #[default]
    Alloc,
    /// A shadow was torn down (`arg`: the shadow page's host address).
    Free,
    /// A trapped guest write reached the table (`arg`: the byte offset in the page).
    GuestWrite,
    /// Re-read and compared before a submission (`arg`: the entries that had changed).
    Reread,
    /// Write protection lifted: the table is out of sync (`arg`: 0).
    Unsync,
    /// Protected again and re-read (`arg`: the entries that had changed).
    Resync,
}

/// One table's event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SptEvent {
    /// What happened.
    pub kind: SptEventKind,
    /// The table's slot in the vGPU's storage.
    pub slot: u32,
    /// Its level: 4 (PML4) down to 1 (page table).
    pub level: u8,
    /// The guest frame it mirrors.
    pub gfn: u64,
    /// The kind's detail.
    pub arg: u64,
}

/// The ring of a vGPU's latest table events.
#[derive(Clone, Debug)]
pub struct SptLog {
    on: bool,
    ring: [SptEvent; LOG_LEN],
    /// Index of the oldest event.
    first: usize,
    len: usize,
    dropped: u64,
}

impl Default for SptLog {
    fn default() -> Self {
        SptLog {
            on: false,
            ring: [SptEvent::default(); LOG_LEN],
            first: 0,
            len: 0,
            dropped: 0,
        }
    }
}

/// Where a pool keeps its events: inline (tests), or behind a pointer where the table storage
/// moves through stack frames (the kernel, where the ring's 800 bytes would ride along).
pub trait LogStore {
    /// The log.
    fn log(&mut self) -> &mut SptLog;
}

impl LogStore for SptLog {
    fn log(&mut self) -> &mut SptLog {
        self
    }
}

impl<D: core::ops::DerefMut<Target = SptLog>> LogStore for D {
    fn log(&mut self) -> &mut SptLog {
        self
    }
}

impl SptLog {
    /// Keeps `e` if events are wanted; a full ring drops its oldest.
    pub(super) fn record(&mut self, e: SptEvent) {
        if !self.on {
            return;
        }
        let at = self.first.wrapping_add(self.len) % LOG_LEN;
        if let Some(slot) = self.ring.get_mut(at) {
            *slot = e;
        }
        if self.len < LOG_LEN {
            self.len = self.len.wrapping_add(1);
        } else {
            self.first = self.first.wrapping_add(1) % LOG_LEN;
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// Hands the events kept since the last call to `f`, oldest first, and returns how many
    /// were dropped meanwhile; `on` says whether to keep recording. Turned off, the ring is
    /// emptied and records nothing.
    pub fn drain(&mut self, on: bool, mut f: impl FnMut(&SptEvent)) -> u64 {
        for i in 0..self.len {
            if let Some(e) = self.ring.get(self.first.wrapping_add(i) % LOG_LEN) {
                f(e);
            }
        }
        let dropped = self.dropped;
        // The ring itself is left as it is: this runs after every trap.
        self.on = on;
        self.first = 0;
        self.len = 0;
        self.dropped = 0;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn ev(slot: u32) -> SptEvent {
        SptEvent {
            slot,
            ..SptEvent::default()
        }
    }

    #[test]
    fn records_only_while_asked_and_keeps_the_newest() {
        let mut log = SptLog::default();
        log.record(ev(1));
        assert_eq!(log.drain(true, |_| panic!("recorded while off")), 0);
        for s in 0..40 {
            log.record(ev(s));
        }
        let mut seen = Vec::new();
        assert_eq!(log.drain(false, |e| seen.push(e.slot)), 8);
        assert_eq!(seen, (8..40).collect::<Vec<_>>());
        log.record(ev(9));
        assert_eq!(log.drain(false, |_| panic!("recorded after off")), 0);
    }
}
