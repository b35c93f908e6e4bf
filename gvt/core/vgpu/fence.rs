//! The vGPU's fence registers: its own run of the host's fences, every value audited against its
//! graphics memory before it reaches the host.

use super::*;

impl<S: VgpuStorage> Vgpu<S> {
    /// The guest fence number of a fence register offset, if the vGPU owns that fence.
    pub(super) fn fence_index(&mut self, off: u32) -> Option<u32> {
        let n = off.wrapping_sub(FENCE_REG_GEN6_LO::OFFSET) / 8;
        if u64::from(n) < self.part.fences.size && n < GUEST_FENCES {
            return Some(n);
        }
        self.stats.fence_violations = self.stats.fence_violations.saturating_add(1);
        if !self.pv_notified {
            self.enter_failsafe(Cause::FenceOutOfRange {
                reg: off,
                fences: self.part.fences.size,
            });
        }
        None
    }

    pub(super) fn fence_write(&mut self, host: &dyn HostGpu, off: u32, v: u32) {
        let Some(n) = self.fence_index(off) else {
            return;
        };
        self.set_vreg(off, v);
        let lo_off = FENCE_REG_GEN6_LO::OFFSET.wrapping_add(n.wrapping_mul(8));
        let lo = self.vreg(lo_off);
        let hi = self.vreg(lo_off.wrapping_add(4));
        let value = (u64::from(hi) << 32) | u64::from(lo);
        // A valid fence must cover only the vGPU's own aperture.
        let valid = FENCE_REG_GEN6_LO(lo).is_set(FENCE_REG_GEN6_LO::I965_FENCE_REG_VALID);
        let start = u64::from(lo & 0xffff_f000);
        let end = u64::from(hi & 0xffff_f000).saturating_add(GTT_PAGE_SIZE);
        let ok =
            !valid || (end > start && self.part.low.contains_range(start, end.wrapping_sub(start)));
        if !ok {
            self.stats.fence_violations = self.stats.fence_violations.saturating_add(1);
        }
        let host_idx = self.part.fences.start.saturating_add(u64::from(n));
        if let Ok(i) = u32::try_from(host_idx) {
            host.fence_write(i, if ok { value } else { 0 });
        }
    }

    pub(super) fn reset_fences(&mut self, host: &dyn HostGpu) {
        for n in 0..self.part.fences.size.min(u64::from(GUEST_FENCES)) {
            let off = FENCE_REG_GEN6_LO::OFFSET
                .wrapping_add(u32::try_from(n.wrapping_mul(8)).unwrap_or(0));
            self.set_vreg(off, 0);
            self.set_vreg(off.wrapping_add(4), 0);
            if let Ok(i) = u32::try_from(self.part.fences.start.saturating_add(n)) {
                host.fence_write(i, 0);
            }
        }
    }
}
