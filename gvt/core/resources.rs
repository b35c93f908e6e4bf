//! Partitioning of the physical GPU's graphics memory and fences among vGPUs.
//!
//! Ballooning makes guest graphics addresses equal host ones, so every vGPU owns one contiguous
//! span of the aperture ("low GM"), one of the hidden GM above it ("high GM") and a run of fence
//! registers. Spans are placed first-fit, so a request either gets real, non-overlapping ranges or
//! fails with [`GvtError::NoSpace`] and changes nothing; "available instances" is computed from
//! the actual free gaps, so it stays true when freed spans leave holes.

use super::error::{GvtError, Result};
use super::host::HostInfo;

/// Most vGPUs one physical GPU can carry at once (upstream stops at 7).
pub const MAX_VGPUS: usize = 32;

/// Graphics memory is handed out in GGTT pages.
pub const GM_ALIGN: u64 = 4096;

/// A half-open range `[start, start + size)` of graphics addresses or fence indices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// First address (or index) in the range.
    pub start: u64,
    /// Length of the range.
    pub size: u64,
}

impl Span {
    /// The first address past the range. Spans are only built from checked sums, so this cannot
    /// overflow; it saturates rather than wrap if that invariant is ever broken.
    pub const fn end(&self) -> u64 {
        self.start.saturating_add(self.size)
    }

    /// Whether `[addr, addr + len)` lies entirely inside this span.
    pub fn contains_range(&self, addr: u64, len: u64) -> bool {
        match addr.checked_add(len) {
            Some(end) => addr >= self.start && end <= self.end(),
            None => false,
        }
    }
}

/// What a vGPU asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Bytes of aperture.
    pub low_gm: u64,
    /// Bytes of hidden GM.
    pub high_gm: u64,
    /// Number of fence registers.
    pub fences: u32,
}

/// What a vGPU got: its partition of the physical GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Its aperture span (graphics addresses).
    pub low: Span,
    /// Its hidden GM span (graphics addresses).
    pub high: Span,
    /// Its fence registers (indices into the host's fence array).
    pub fences: Span,
}

impl Partition {
    /// Whether a graphics memory range lies entirely in this vGPU's low or high GM.
    pub fn owns_gm(&self, addr: u64, len: u64) -> bool {
        self.low.contains_range(addr, len) || self.high.contains_range(addr, len)
    }
}

/// The identifier of a vGPU on its physical GPU: 1..=[`MAX_VGPUS`] (0 is the host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VgpuId(u32);

impl VgpuId {
    /// The id as a number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// A vGPU id from its number, if it is in range.
    pub fn new(id: u32) -> Option<VgpuId> {
        let max = u32::try_from(MAX_VGPUS).ok()?;
        (1..=max).contains(&id).then_some(VgpuId(id))
    }

    fn slot(self) -> usize {
        // Ids are only made by `new` or `from_slot`, so id >= 1 and the slot is in range.
        usize::try_from(self.0.saturating_sub(1)).unwrap_or(usize::MAX)
    }

    fn from_slot(slot: usize) -> Option<VgpuId> {
        VgpuId::new(u32::try_from(slot.checked_add(1)?).ok()?)
    }
}

/// The free and used graphics memory and fences of one physical GPU.
#[derive(Debug)]
pub struct ResourcePool {
    low_area: Span,
    high_area: Span,
    fence_area: Span,
    slots: [Option<Partition>; MAX_VGPUS],
}

/// Which of the three partitioned resources a span belongs to.
#[derive(Clone, Copy)]
enum Kind {
    Low,
    High,
    Fence,
}

impl ResourcePool {
    /// The pool of a physical GPU, with the host's reserve taken off the bottom of each area.
    pub fn new(info: &HostInfo) -> Result<ResourcePool> {
        let r = &info.reserve;
        if info.aperture_size > info.gm_size
            || r.low_gm > info.aperture_size
            || r.high_gm > info.gm_size.saturating_sub(info.aperture_size)
            || r.fences > info.fence_count
        {
            return Err(GvtError::Invalid);
        }
        let low_start = align_up(r.low_gm)?;
        let high_start = align_up(
            info.aperture_size
                .checked_add(r.high_gm)
                .ok_or(GvtError::Invalid)?,
        )?;
        Ok(ResourcePool {
            low_area: Span {
                start: low_start,
                size: info.aperture_size.saturating_sub(low_start),
            },
            high_area: Span {
                start: high_start,
                size: info.gm_size.saturating_sub(high_start),
            },
            fence_area: Span {
                start: u64::from(r.fences),
                size: u64::from(info.fence_count.saturating_sub(r.fences)),
            },
            slots: [None; MAX_VGPUS],
        })
    }

    /// Reserves a partition for a new vGPU and gives it the lowest free id. All or nothing:
    /// on error the pool is unchanged.
    pub fn allocate(&mut self, req: &Request) -> Result<(VgpuId, Partition)> {
        if req.low_gm == 0 || req.high_gm == 0 || req.fences == 0 {
            return Err(GvtError::Invalid);
        }
        let low = align_up(req.low_gm)?;
        let high = align_up(req.high_gm)?;
        let slot = self
            .slots
            .iter()
            .position(Option::is_none)
            .ok_or(GvtError::NoSpace)?;
        let id = VgpuId::from_slot(slot).ok_or(GvtError::NoSpace)?;
        let part = Partition {
            low: self.first_fit(Kind::Low, low).ok_or(GvtError::NoSpace)?,
            high: self.first_fit(Kind::High, high).ok_or(GvtError::NoSpace)?,
            fences: self
                .first_fit(Kind::Fence, u64::from(req.fences))
                .ok_or(GvtError::NoSpace)?,
        };
        let entry = self.slots.get_mut(slot).ok_or(GvtError::NoSpace)?;
        *entry = Some(part);
        Ok((id, part))
    }

    /// Returns a vGPU's partition to the pool.
    pub fn release(&mut self, id: VgpuId) -> Result<Partition> {
        self.slots
            .get_mut(id.slot())
            .and_then(Option::take)
            .ok_or(GvtError::NotFound)
    }

    /// The partition of a live vGPU.
    pub fn partition(&self, id: VgpuId) -> Option<&Partition> {
        self.slots.get(id.slot()).and_then(Option::as_ref)
    }

    /// The live vGPUs' partitions, by id.
    pub fn partitions(&self) -> impl Iterator<Item = (VgpuId, &Partition)> {
        // A range, not `enumerate`: its counter's addition would be a panic path.
        (0..MAX_VGPUS)
            .filter_map(|slot| Some((VgpuId::from_slot(slot)?, self.slots.get(slot)?.as_ref()?)))
    }

    /// Number of live vGPUs.
    pub fn used_slots(&self) -> usize {
        MAX_VGPUS.saturating_sub(self.free_slots())
    }

    fn free_slots(&self) -> usize {
        self.slots.iter().fold(
            0usize,
            |n, s| if s.is_none() { n.saturating_add(1) } else { n },
        )
    }

    /// How many more vGPUs of this size can be created now, exactly: first-fit of equal-size
    /// requests fills each free gap with `gap / size` of them.
    pub fn available(&self, req: &Request) -> u32 {
        let (Ok(low), Ok(high)) = (align_up(req.low_gm), align_up(req.high_gm)) else {
            return 0;
        };
        let counts = [
            self.fits(Kind::Low, low),
            self.fits(Kind::High, high),
            self.fits(Kind::Fence, u64::from(req.fences)),
            u64::try_from(self.free_slots()).unwrap_or(0),
        ];
        let n = counts.iter().copied().min().unwrap_or(0);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn area(&self, kind: Kind) -> Span {
        match kind {
            Kind::Low => self.low_area,
            Kind::High => self.high_area,
            Kind::Fence => self.fence_area,
        }
    }

    /// Calls `f` on every free gap of one resource, lowest first; stops when `f` returns false.
    /// Walks the used spans in address order by picking the lowest one past the cursor each
    /// time: at most [`MAX_VGPUS`] spans, and no sorting, allocation or arithmetic that could
    /// overflow.
    fn for_each_gap(&self, kind: Kind, mut f: impl FnMut(Span) -> bool) {
        let area = self.area(kind);
        let mut cursor = area.start;
        loop {
            let next = self
                .slots
                .iter()
                .flatten()
                .map(|p| match kind {
                    Kind::Low => p.low,
                    Kind::High => p.high,
                    Kind::Fence => p.fences,
                })
                .filter(|s| s.end() > cursor)
                .min_by_key(|s| s.start);
            let Some(used) = next else { break };
            if used.start > cursor
                && !f(Span {
                    start: cursor,
                    size: used.start.saturating_sub(cursor),
                })
            {
                return;
            }
            cursor = cursor.max(used.end());
        }
        if area.end() > cursor {
            f(Span {
                start: cursor,
                size: area.end().saturating_sub(cursor),
            });
        }
    }

    fn first_fit(&self, kind: Kind, size: u64) -> Option<Span> {
        let mut found = None;
        self.for_each_gap(kind, |gap| {
            if gap.size >= size {
                found = Some(Span {
                    start: gap.start,
                    size,
                });
                false
            } else {
                true
            }
        });
        found
    }

    fn fits(&self, kind: Kind, size: u64) -> u64 {
        let mut total = 0u64;
        self.for_each_gap(kind, |gap| {
            total = total.saturating_add(gap.size.checked_div(size).unwrap_or(0));
            true
        });
        total
    }
}

fn align_up(v: u64) -> Result<u64> {
    v.checked_next_multiple_of(GM_ALIGN)
        .ok_or(GvtError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hw::Platform;
    use crate::sim::info as sim_info;

    const MB: u64 = 1 << 20;

    fn pool() -> ResourcePool {
        ResourcePool::new(&sim_info(Platform::Broxton)).unwrap()
    }

    fn req(low: u64, high: u64, fences: u32) -> Request {
        Request {
            low_gm: low * MB,
            high_gm: high * MB,
            fences,
        }
    }

    #[test]
    fn partitions_never_overlap_and_stay_out_of_the_host_reserve() {
        let info = sim_info(Platform::Broxton);
        let mut p = ResourcePool::new(&info).unwrap();
        let mut parts = std::vec::Vec::new();
        while let Ok((_, part)) = p.allocate(&req(32, 64, 1)) {
            parts.push(part);
        }
        assert!(parts.len() >= 16, "only {} vGPUs fit", parts.len());
        for (i, a) in parts.iter().enumerate() {
            assert!(a.low.start >= info.reserve.low_gm && a.low.end() <= info.aperture_size);
            assert!(a.high.start >= info.aperture_size + info.reserve.high_gm);
            assert!(a.high.end() <= info.gm_size);
            assert!(a.fences.start >= u64::from(info.reserve.fences));
            for b in &parts[i + 1..] {
                assert!(a.low.end() <= b.low.start || b.low.end() <= a.low.start);
                assert!(a.high.end() <= b.high.start || b.high.end() <= a.high.start);
                assert!(a.fences.end() <= b.fences.start || b.fences.end() <= a.fences.start);
            }
        }
    }

    #[test]
    fn failed_allocation_changes_nothing() {
        let mut p = pool();
        let before = p.available(&req(64, 384, 4));
        assert_eq!(p.allocate(&req(64, 1 << 20, 4)), Err(GvtError::NoSpace));
        assert_eq!(p.allocate(&req(0, 384, 4)), Err(GvtError::Invalid));
        assert_eq!(p.used_slots(), 0);
        assert_eq!(p.available(&req(64, 384, 4)), before);
    }

    #[test]
    fn available_is_exact_with_holes() {
        let mut p = pool();
        let r = req(64, 384, 4);
        let n = p.available(&r);
        assert!(n > 0);
        let mut ids = std::vec::Vec::new();
        for _ in 0..n {
            ids.push(p.allocate(&r).unwrap().0);
        }
        assert_eq!(p.available(&r), 0);
        assert_eq!(p.allocate(&r), Err(GvtError::NoSpace));
        // Free one in the middle: exactly one fits again, in its hole.
        let hole = p.release(ids[n as usize / 2]).unwrap();
        assert_eq!(p.available(&r), 1);
        let (id, again) = p.allocate(&r).unwrap();
        assert_eq!(again, hole);
        assert_eq!(id, ids[n as usize / 2]);
    }

    #[test]
    fn release_of_unknown_id_is_an_error() {
        let mut p = pool();
        assert_eq!(p.release(VgpuId::new(3).unwrap()), Err(GvtError::NotFound));
        assert!(VgpuId::new(0).is_none());
        assert!(VgpuId::new(MAX_VGPUS as u32 + 1).is_none());
    }
}
