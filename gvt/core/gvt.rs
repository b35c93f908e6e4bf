//! `Gvt`: the device model of one physical GPU, and the vGPU life cycle on it.
//!
//! It owns the partitioning of the GPU's graphics memory and fences; vGPUs are created from a
//! type or free-form sizes and destroyed through it, so a vGPU can never outlive its partition
//! or share it. The `Gvt` is small and fixed-size; each vGPU's big buffers come from the caller
//! (see `VgpuStorage`).

use super::display::owner::{OwnerPolicy, PlaneWrites};
use super::error::{GvtError, Result};
use super::host::{HostGpu, HostInfo};
use super::resources::{Partition, Request, ResourcePool, VgpuId};
use super::vgpu::{ggtt_entries, Vgpu, VgpuStorage};
use super::vgpu_type::{offered_types, Resolution, VgpuConfig, VgpuType, MAX_WEIGHT};
use crate::mpt::MptOps;

const MB: u64 = 1 << 20;

/// The device model of one physical GPU.
#[derive(Debug)]
pub struct Gvt {
    info: HostInfo,
    pool: ResourcePool,
    planes: OwnerPolicy,
}

impl Gvt {
    /// The device model of `host`.
    pub fn new(host: &dyn HostGpu) -> Result<Gvt> {
        let info = *host.info();
        Ok(Gvt {
            pool: ResourcePool::new(&info)?,
            planes: OwnerPolicy::disabled(info.platform),
            info,
        })
    }

    /// The GPU's facts.
    pub fn info(&self) -> &HostInfo {
        &self.info
    }

    /// The vGPU types this GPU offers.
    pub fn types(&self) -> &'static [VgpuType] {
        let low = self
            .info
            .aperture_size
            .saturating_sub(self.info.reserve.low_gm);
        offered_types(self.info.platform.hw().types, low)
    }

    /// How many more vGPUs of this size fit right now.
    pub fn available(&self, config: &VgpuConfig) -> u32 {
        self.pool.available(&config.resources)
    }

    /// The live vGPUs' partitions, by id.
    pub fn partitions(&self) -> impl Iterator<Item = (VgpuId, &Partition)> {
        self.pool.partitions()
    }

    /// Number of live vGPUs.
    pub fn vgpu_count(&self) -> usize {
        self.pool.used_slots()
    }

    /// The configuration ACRN-DM asks for: `low_gm_MB,high_gm_MB,fences` (weight and
    /// resolution as the smallest type).
    pub fn acrn_config(low_gm_mb: u64, high_gm_mb: u64, fences: u32) -> Result<VgpuConfig> {
        if low_gm_mb == 0 || high_gm_mb == 0 || fences == 0 {
            return Err(GvtError::Invalid);
        }
        Ok(VgpuConfig {
            resources: Request {
                low_gm: low_gm_mb.checked_mul(MB).ok_or(GvtError::Invalid)?,
                high_gm: high_gm_mb.checked_mul(MB).ok_or(GvtError::Invalid)?,
                fences,
            },
            weight: MAX_WEIGHT / 8,
            resolution: Resolution::R1024x768,
        })
    }

    /// Number of virtual GGTT entries the storage of a vGPU of this size must have.
    pub fn ggtt_entries_for(config: &VgpuConfig) -> Result<usize> {
        let pages = |b: u64| {
            b.checked_next_multiple_of(4096)
                .map(|x| x / 4096)
                .ok_or(GvtError::Invalid)
        };
        let n = pages(config.resources.low_gm)?
            .checked_add(pages(config.resources.high_gm)?)
            .ok_or(GvtError::Invalid)?;
        usize::try_from(n).map_err(|_| GvtError::Invalid)
    }

    /// Creates a vGPU over `store`. All or nothing: on error nothing changed and the storage
    /// is handed back (`NoSpace` when the GPU has not enough left, `Invalid` for a bad size or
    /// storage of the wrong length).
    pub fn create_vgpu<S: VgpuStorage>(
        &mut self,
        host: &dyn HostGpu,
        config: &VgpuConfig,
        store: S,
    ) -> core::result::Result<Vgpu<S>, (GvtError, S)> {
        if config.weight == 0 || config.weight > MAX_WEIGHT {
            return Err((GvtError::Invalid, store));
        }
        let (id, part) = match self.pool.allocate(&config.resources) {
            Ok(x) => x,
            Err(e) => return Err((e, store)),
        };
        if store.ggtt().len() != ggtt_entries(&part) {
            let _ = self.pool.release(id);
            return Err((GvtError::Invalid, store));
        }
        // The host gives the partition up before the vGPU writes its GGTT entries and fences.
        if let Err(e) = host.reserve(id, &part) {
            let _ = self.pool.release(id);
            return Err((e, store));
        }
        let mut vgpu = Vgpu::new(host, id, *config, part, store).map_err(|(e, s)| {
            host.release(id, &part);
            let _ = self.pool.release(id);
            (e, s)
        })?;
        vgpu.set_planes_owned(self.planes.owned_by(id.get()));
        Ok(vgpu)
    }

    /// Sets who owns the display planes (direct display, ACRN's `domain_plane_owners`); only
    /// while no vGPU exists, as ACRN fixes it at boot (`Busy` otherwise), and for this GPU's
    /// platform (`Invalid` otherwise). A vGPU's domain is its id unless
    /// [`Gvt::bind_display_domain`] says otherwise.
    pub fn set_plane_owners(&mut self, policy: OwnerPolicy) -> Result {
        if policy.platform() != self.info.platform {
            return Err(GvtError::Invalid);
        }
        if self.pool.used_slots() != 0 {
            return Err(GvtError::Busy);
        }
        self.planes = policy;
        Ok(())
    }

    /// The plane ownership policy.
    pub fn plane_owners(&self) -> &OwnerPolicy {
        &self.planes
    }

    /// Makes `vgpu` the display domain `domain` (ACRN's VM id) for plane ownership.
    pub fn bind_display_domain<S: VgpuStorage>(&self, vgpu: &mut Vgpu<S>, domain: u32) {
        vgpu.set_planes_owned(self.planes.owned_by(domain));
    }

    /// The writes that turn off the host planes `vgpu` owns; the glue applies them when it
    /// destroys the vGPU (before [`Gvt::destroy_vgpu`]).
    pub fn disable_planes_of<S: VgpuStorage>(&self, vgpu: &Vgpu<S>) -> PlaneWrites {
        vgpu.plane_disables()
    }

    /// Destroys a vGPU: its host GGTT entries go back to scratch, its fences are cleared, its
    /// partition is freed. Returns the storage.
    pub fn destroy_vgpu<S: VgpuStorage>(
        &mut self,
        host: &dyn HostGpu,
        mpt: &mut dyn MptOps,
        mut vgpu: Vgpu<S>,
    ) -> S {
        vgpu.release(host, mpt);
        host.release(vgpu.id(), vgpu.partition());
        // The id came from this pool; a mismatch would mean a vGPU of another GPU.
        let _ = self.pool.release(vgpu.id());
        vgpu.into_storage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::host::CFG_SPACE_SIZE;
    use crate::model::test_support::Mpt;
    use crate::model::vgpu::Buffers;
    use crate::model::vgpu_type::find_type;
    use crate::sim::tests::bxt;
    use core::cell::RefCell;
    use std::vec;
    use std::vec::Vec;

    /// What a host saw, in order.
    #[derive(Debug, PartialEq, Eq)]
    enum Ev {
        Reserve(u32),
        Release(u32),
        Write,
    }

    /// The sim host, with a reservation that can be refused, logging the order of events.
    struct Host<H> {
        inner: H,
        refuse: bool,
        log: RefCell<Vec<Ev>>,
    }

    impl<H: HostGpu> HostGpu for Host<H> {
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
            self.log.borrow_mut().push(Ev::Write);
            self.inner.ggtt_write(index, pte)
        }
        fn ggtt_flush(&self) {}
        fn fence_write(&self, index: u32, value: u64) {
            self.log.borrow_mut().push(Ev::Write);
            self.inner.fence_write(index, value)
        }
        fn reserve(&self, id: VgpuId, _: &Partition) -> Result {
            self.log.borrow_mut().push(Ev::Reserve(id.get()));
            if self.refuse {
                Err(GvtError::NoSpace)
            } else {
                Ok(())
            }
        }
        fn release(&self, id: VgpuId, _: &Partition) {
            self.log.borrow_mut().push(Ev::Release(id.get()));
        }
    }

    type Store = Buffers<Vec<u32>, Vec<u64>, Vec<u8>>;

    fn store(config: &VgpuConfig) -> Store {
        let n = Gvt::ggtt_entries_for(config).unwrap();
        Buffers {
            vreg: vec![0; crate::model::host::MMIO_DWORDS],
            ggtt: vec![0; n],
            opregion: vec![0; crate::model::opregion::OPREGION_SIZE],
            edid: vec![0; crate::model::display::edid::EDID_MAX_SIZE],
        }
    }

    #[test]
    fn the_host_reserves_before_the_first_write_and_releases_after_the_last() {
        let host = Host {
            inner: bxt(),
            refuse: false,
            log: RefCell::new(Vec::new()),
        };
        let mut gvt = Gvt::new(&host).unwrap();
        let config = find_type("GVTg_V5_8").unwrap().config;
        let vgpu = gvt
            .create_vgpu(&host, &config, store(&config))
            .map_err(|(e, _)| e)
            .unwrap();
        let id = vgpu.id().get();
        // The partition is on scratch already (`HostGpu::reserve`): creation writes no entry.
        assert_eq!(*host.log.borrow(), [Ev::Reserve(id)]);
        let mut vgpu = vgpu;
        let mut mpt = Mpt::default();
        let index = vgpu.partition().low.start / 4096;
        vgpu.mmio_write(
            &host,
            &mut mpt,
            crate::model::vgpu::GGTT_MMIO_OFFSET + index * 8,
            &(0x1000u64 | 1).to_le_bytes(),
        )
        .unwrap();
        host.log.borrow_mut().clear();
        let _ = gvt.destroy_vgpu(&host, &mut mpt, vgpu);
        let log = host.log.borrow();
        assert_eq!(
            log.first(),
            Some(&Ev::Write),
            "the guest's entry goes back to scratch"
        );
        assert_eq!(log.last(), Some(&Ev::Release(id)));
        assert!(log.iter().filter(|e| matches!(e, Ev::Release(_))).count() == 1);
        assert_eq!(gvt.vgpu_count(), 0);
    }

    #[test]
    fn a_refused_reservation_fails_the_creation_and_writes_nothing() {
        let host = Host {
            inner: bxt(),
            refuse: true,
            log: RefCell::new(Vec::new()),
        };
        let mut gvt = Gvt::new(&host).unwrap();
        let config = find_type("GVTg_V5_8").unwrap().config;
        let before = gvt.available(&config);
        let r = gvt.create_vgpu(&host, &config, store(&config));
        assert!(matches!(r, Err((GvtError::NoSpace, _))));
        assert_eq!(*host.log.borrow(), [Ev::Reserve(1)]);
        assert_eq!(gvt.vgpu_count(), 0);
        assert_eq!(gvt.available(&config), before);
    }
}
