//! `sim`: a software Gen9 host.
//!
//! Where there is no Intel GPU, `sim` stands in for one behind the same [`HostGpu`] trait as the
//! i915 host, so the whole stack (gvt.ko, both backends, guests) runs in QEMU. It is a product
//! feature, like vkms in DRM, not a test mock: it models an Apollo Lake GPU closely enough for
//! a guest i915 driver.

use crate::model::host::{HostGpu, HostInfo, HostReserve, PciIdentity, Platform};

const MB: u64 = 1 << 20;

/// A software Gen9 GPU.
#[derive(Debug)]
pub struct SimHost {
    info: HostInfo,
}

impl SimHost {
    /// An Apollo Lake (HD Graphics 505, 0x5A84) with a 1 GiB aperture and a 4 GiB GGTT, and the
    /// host reserve upstream GVT-g keeps (128 MiB low, 384 MiB high, 4 fences).
    pub const fn broxton() -> SimHost {
        SimHost {
            info: HostInfo {
                platform: Platform::Broxton,
                pci: PciIdentity {
                    vendor: 0x8086,
                    device: 0x5A84,
                    revision: 0x0B,
                    subsystem_vendor: 0x8086,
                    subsystem_device: 0x2212,
                },
                bar0_size: 16 * MB,
                aperture_size: 1024 * MB,
                gm_size: 4096 * MB,
                fence_count: 32,
                reserve: HostReserve { low_gm: 128 * MB, high_gm: 384 * MB, fences: 4 },
            },
        }
    }
}

impl HostGpu for SimHost {
    fn info(&self) -> &HostInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_is_a_supported_broxton() {
        let h = SimHost::broxton();
        assert_eq!(Platform::from_device_id(h.info().pci.device), Some(Platform::Broxton));
        assert!(h.info().aperture_size <= h.info().gm_size);
    }
}
