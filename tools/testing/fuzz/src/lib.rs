//! Shared setup of the fuzz targets: one Broxton host and one probed vGPU per process, reused
//! across inputs (state accumulates, as it does in a long-running hostile guest).

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use guest_model::direct::Direct;
use guest_model::hv::MemHypervisor;
use guest_model::storage::{vec_storage, VecStorage};
use gvt::model::gvt::Gvt;
use gvt::model::host::{HostGpu, HostInfo, CFG_SPACE_SIZE};
use gvt::model::resources::{Partition, VgpuId};
use gvt::model::vgpu::Vgpu;
use gvt::model::vgpu_type::find_type;
use gvt::sim::SimHost;

pub mod snapshot;

#[global_allocator]
static ALLOC: snapshot::SnapAlloc = snapshot::SnapAlloc;

/// Everything one fuzzed guest needs.
pub struct World {
    /// The host.
    pub host: &'static SimHost<Box<[AtomicU64]>>,
    /// The vGPU under attack.
    pub vgpu: Vgpu<VecStorage>,
    /// Its hypervisor.
    pub hv: MemHypervisor,
}

/// The process-wide fuzzed vGPU, probed once by a well-behaved driver.
pub fn world() -> &'static Mutex<World> {
    static W: std::sync::OnceLock<Mutex<World>> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        let host: &'static _ = Box::leak(Box::new(guest_model::sim_host()));
        let mut gvt = Gvt::new(host).expect("gvt");
        let cfg = find_type("GVTg_V5_8").expect("type").config;
        let n = Gvt::ggtt_entries_for(&cfg).expect("size");
        let mut vgpu = gvt
            .create_vgpu(host, &cfg, vec_storage(n))
            .map_err(|(e, _)| e)
            .expect("create");
        let mut hv = MemHypervisor::new(1, 16 << 20);
        vgpu.activate();
        guest_model::probe::probe(&mut Direct::new(&mut vgpu, host, &mut hv)).expect("probe");
        Box::leak(Box::new(gvt));
        Mutex::new(World { host, vgpu, hv })
    })
}

impl World {
    /// Forgets what the hypervisor logged, so a long run does not grow without bound.
    pub fn clear_logs(&mut self) {
        self.hv.msis.clear();
        self.hv.traps.clear();
        self.hv.aperture_maps.clear();
    }

    /// The host as the vGPU's accesses must reach it: only inside its partition.
    pub fn fenced(&self) -> Fenced<'static> {
        Fenced {
            host: self.host,
            part: *self.vgpu.partition(),
        }
    }
}

/// The sim host, checking the rule no guest access may break: a host write lands only in the
/// vGPU's partition (its GGTT entries and its fences). A write elsewhere panics, which
/// libFuzzer reports as a crash.
pub struct Fenced<'a> {
    host: &'a SimHost<Box<[AtomicU64]>>,
    part: Partition,
}

impl HostGpu for Fenced<'_> {
    fn info(&self) -> &HostInfo {
        self.host.info()
    }

    fn cfg_snapshot(&self) -> &[u8; CFG_SPACE_SIZE] {
        self.host.cfg_snapshot()
    }

    fn mmio_snapshot(&self, first_dword: usize, dst: &mut [u32]) {
        self.host.mmio_snapshot(first_dword, dst)
    }

    fn ggtt_read(&self, index: u64) -> u64 {
        self.host.ggtt_read(index)
    }

    fn ggtt_write(&self, index: u64, pte: u64) {
        assert!(
            self.part.owns_gm(index.saturating_mul(4096), 4096),
            "host GGTT entry {index:#x} written ({pte:#x}), outside {:?}",
            self.part
        );
        self.host.ggtt_write(index, pte)
    }

    fn ggtt_flush(&self) {
        self.host.ggtt_flush()
    }

    fn fence_write(&self, index: u32, value: u64) {
        assert!(
            self.part.fences.contains_range(u64::from(index), 1),
            "host fence {index} written ({value:#x}), outside {:?}",
            self.part
        );
        self.host.fence_write(index, value)
    }

    fn has_aperture_bar(&self) -> bool {
        self.host.has_aperture_bar()
    }

    fn reserve(&self, id: VgpuId, part: &Partition) -> gvt::model::error::Result {
        self.host.reserve(id, part)
    }

    fn release(&self, id: VgpuId, part: &Partition) {
        self.host.release(id, part)
    }
}

/// A probed vGPU that owns host planes (pipes B and C, ACRN's example split), for the display
/// target, and its simulated time.
pub struct DisplayWorld {
    /// The host.
    pub host: &'static SimHost<Box<[AtomicU64]>>,
    /// The vGPU under attack.
    pub vgpu: Vgpu<VecStorage>,
    /// Its hypervisor.
    pub hv: MemHypervisor,
    /// Simulated time, ns.
    pub now: u64,
}

/// The process-wide display-fuzzed vGPU.
pub fn display_world() -> &'static Mutex<DisplayWorld> {
    static W: std::sync::OnceLock<Mutex<DisplayWorld>> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        use gvt::model::display::owner::OwnerPolicy;
        use gvt::model::hw::Platform;
        let host: &'static _ = Box::leak(Box::new(guest_model::sim_host()));
        let mut gvt = Gvt::new(host).expect("gvt");
        let policy =
            OwnerPolicy::parse(Platform::Broxton, "0x011111110000", "0x01010F").expect("policy");
        gvt.set_plane_owners(policy).expect("policy");
        let cfg = find_type("GVTg_V5_8").expect("type").config;
        let n = Gvt::ggtt_entries_for(&cfg).expect("size");
        let mut vgpu = gvt
            .create_vgpu(host, &cfg, vec_storage(n))
            .map_err(|(e, _)| e)
            .expect("create");
        let mut hv = MemHypervisor::new(1, 16 << 20);
        vgpu.activate();
        guest_model::probe::probe(&mut Direct::new(&mut vgpu, host, &mut hv)).expect("probe");
        Box::leak(Box::new(gvt));
        Mutex::new(DisplayWorld {
            host,
            vgpu,
            hv,
            now: 0,
        })
    })
}

/// Access sizes the transports can produce (and some they cannot).
pub const SIZES: [usize; 8] = [1, 2, 4, 8, 0, 3, 5, 16];

/// A machine of three vGPUs for the execution targets, one per page-tracking style (none,
/// KVM-like, ACRN-like), each with a guest set up for execution.
pub struct ExecWorld {
    /// The machine.
    pub m: guest_model::machine::Machine,
    /// The guests.
    pub guests: Vec<guest_model::machine::Guest>,
    /// Per guest, [`BOUND`] pages of its graphics memory bound to guest RAM, as
    /// (graphics address, guest physical address); empty but for [`batch_input`]'s world.
    pub bound: Vec<[(u64, u64); BOUND]>,
}

/// Pages bound per guest in [`batch_input`]'s world: three for batches, one for data.
pub const BOUND: usize = 4;

/// Runs one input of an execution target on the execution machine, then settles it (see
/// [`ExecWorld::settle`]). The machine is built once per process and snapshotted; every input
/// starts from that snapshot, so an input's outcome does not depend on the ones before it.
pub fn exec_input(input: impl FnOnce(&mut ExecWorld)) {
    static W: Mutex<Option<snapshot::Snapshot<ExecWorld>>> = Mutex::new(None);
    run_input(&W, || ExecWorld::new(false), input);
}

/// As [`exec_input`], on a machine whose guests have [`BOUND`] pages bound each (for
/// privileged batches, which the Gen9 command scanner shadows).
pub fn batch_input(input: impl FnOnce(&mut ExecWorld)) {
    static W: Mutex<Option<snapshot::Snapshot<ExecWorld>>> = Mutex::new(None);
    run_input(&W, || ExecWorld::new(true), input);
}

fn run_input(
    world: &'static Mutex<Option<snapshot::Snapshot<ExecWorld>>>,
    build: fn() -> ExecWorld,
    input: impl FnOnce(&mut ExecWorld),
) {
    let mut w = world.lock().unwrap();
    let s = w.get_or_insert_with(|| {
        let mut s = snapshot::Snapshot::new(build);
        s.freeze();
        s
    });
    s.restore();
    static VERIFY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *VERIFY.get_or_init(|| std::env::var_os("GVT_FUZZ_VERIFY").is_some()) {
        s.verify();
    }
    s.with(|w| {
        input(w);
        w.settle();
    });
}

impl ExecWorld {
    fn new(bind: bool) -> ExecWorld {
        use guest_model::hv::Tracking;
        let mut cfg = gvt::model::vgpu_type::find_type("GVTg_V5_8")
            .expect("type")
            .config;
        cfg.resources.low_gm = 8 << 20;
        cfg.resources.high_gm = 8 << 20;
        let mut m = guest_model::machine::Machine::with_config(3, Tracking::None, &cfg);
        m.vms[1].hv.tracking = Tracking::AfterWrite;
        m.vms[2].hv.tracking = Tracking::Intercept;
        let mut guests: Vec<_> = (0..3).map(|i| Self::guest(&mut m, i)).collect();
        let mut bound = Vec::new();
        if bind {
            for (i, g) in guests.iter_mut().enumerate() {
                let mut t = m.guest(i);
                bound.push([(); BOUND].map(|()| g.bind(&mut t, 1).expect("bind")));
            }
        }
        m.cache_mmio_snapshot();
        ExecWorld { m, guests, bound }
    }

    fn guest(m: &mut guest_model::machine::Machine, i: usize) -> guest_model::machine::Guest {
        use guest_model::machine::{Guest, GUEST_RAM, RAM};
        Guest::new(&mut m.guest(i), GUEST_RAM, RAM as u64, 10 + i as u32).expect("guest")
    }

    /// Runs the GPU until it is idle, then brings any vGPU the input put in failsafe back with
    /// a device reset and sets a fresh guest up on it: whatever state an input left a vGPU in,
    /// the reset must make it usable again.
    pub fn settle(&mut self) {
        self.m.run();
        for i in 0..self.m.vms.len() {
            if self.m.vms[i].vgpu.failsafe().is_none() {
                continue;
            }
            let _ = self.m.device_reset(i);
            self.guests[i] = Self::guest(&mut self.m, i);
        }
    }
}
