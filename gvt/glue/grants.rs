//! Memory a GPU may reach by DMA address, as an IOMMU would see it.
//!
//! On real hardware the IOMMU (or the DMA API's bookkeeping) decides what the GPU can touch.
//! The sim GPU runs on the CPU and could touch any RAM, so it checks every access against
//! grants: its own pages (shadow tables, contexts, rings, scratch), and per vGPU the guest
//! pages its backend has mapped (`gvt_vgpu_dma_grant`/`gvt_vgpu_dma_revoke`, called by the
//! backend while it holds the pages pinned). A shadow entry that outlives its mapping then
//! faults the workload instead of writing to a page that went back to the allocator.

use kernel::prelude::*;
use kernel::rbtree::RBTree;

/// How far back a lookup walks past grants that start below an address but end before it.
#[cfg_attr(not(gvt_sim), allow(dead_code))] // only the sim checks its accesses
const OVERLAP_STEPS: usize = 8;

/// Granted ranges: start → (end, references).
pub(super) struct Grants(RBTree<u64, (u64, u32)>);

impl Grants {
    pub(super) fn new() -> Grants {
        Grants(RBTree::new())
    }

    /// Grants `[start, start + size)` once more.
    pub(super) fn grant(&mut self, start: u64, size: u64) -> Result {
        let end = start
            .checked_add(size)
            .filter(|_| size != 0)
            .ok_or(EINVAL)?;
        if let Some((e, refs)) = self.0.get_mut(&start) {
            *e = (*e).max(end);
            *refs = refs.checked_add(1).ok_or(ENOSPC)?;
            return Ok(());
        }
        self.0.try_create_and_insert(start, (end, 1), GFP_KERNEL)?;
        Ok(())
    }

    /// Drops one reference of the grant starting at `start`.
    pub(super) fn revoke(&mut self, start: u64) {
        let gone = match self.0.get_mut(&start) {
            Some((_, refs)) => {
                *refs = refs.saturating_sub(1);
                *refs == 0
            }
            None => false,
        };
        if gone {
            self.0.remove(&start);
        }
    }

    /// Whether `[addr, addr + len)` lies within one grant.
    #[cfg_attr(not(gvt_sim), allow(dead_code))] // only the sim checks its accesses
    pub(super) fn covers(&mut self, addr: u64, len: usize) -> bool {
        let Some(end) = u64::try_from(len).ok().and_then(|l| addr.checked_add(l)) else {
            return false;
        };
        // The grants starting at or below `addr`, nearest first.
        let mut cursor = match addr
            .checked_add(1)
            .and_then(|k| self.0.cursor_lower_bound(&k))
        {
            Some(c) => c.move_prev(),
            None => self.0.cursor_back(),
        };
        for _ in 0..OVERLAP_STEPS {
            let Some(c) = cursor else { return false };
            let (&s, &(e, _)) = c.current();
            if s <= addr && end <= e {
                return true;
            }
            cursor = c.move_prev();
        }
        false
    }

    /// Number of grants.
    #[cfg_attr(not(gvt_sim), allow(dead_code))] // only the sim checks its accesses
    pub(super) fn len(&self) -> usize {
        self.0.iter().fold(0usize, |n, _| n.saturating_add(1))
    }
}
