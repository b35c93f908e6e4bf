//! Shared setup of the fuzz targets: one Broxton host and one probed vGPU per process, reused
//! across inputs (state accumulates, as it does in a long-running hostile guest).

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use guest_model::direct::Direct;
use guest_model::hv::MemHypervisor;
use guest_model::storage::{vec_storage, VecStorage};
use gvt::model::gvt::Gvt;
use gvt::model::vgpu::Vgpu;
use gvt::model::vgpu_type::find_type;
use gvt::sim::SimHost;

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
        let host: &'static _ = Box::leak(Box::new(guest_model::bxt_host()));
        let mut gvt = Gvt::new(host).expect("gvt");
        let cfg = find_type("GVTg_V5_8").expect("type").config;
        let n = Gvt::ggtt_entries_for(&cfg).expect("size");
        let mut vgpu = gvt.create_vgpu(host, &cfg, vec_storage(n)).map_err(|(e, _)| e).expect("create");
        let mut hv = MemHypervisor::new(1, 16 << 20);
        vgpu.activate();
        guest_model::probe::probe(&mut Direct::new(&mut vgpu, host, &mut hv), true).expect("probe");
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
}

/// The process-wide execution machine.
pub fn exec_world() -> &'static Mutex<ExecWorld> {
    use guest_model::hv::Tracking;
    static W: std::sync::OnceLock<Mutex<ExecWorld>> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        let mut m = guest_model::machine::Machine::new(3, Tracking::None);
        m.vms[1].hv.tracking = Tracking::AfterWrite;
        m.vms[2].hv.tracking = Tracking::Intercept;
        let guests = (0..3).map(|i| guest_model::machine::Guest::new(&mut m.guest(i), guest_model::machine::GUEST_RAM, guest_model::machine::RAM as u64, 10 + i as u32).expect("guest")).collect();
        Mutex::new(ExecWorld { m, guests })
    })
}

impl ExecWorld {
    /// Runs the GPU, then brings any vGPU the input put in failsafe back with a device reset
    /// and a fresh guest, so the next input meets a working vGPU again.
    pub fn settle(&mut self) {
        self.m.run();
        for i in 0..self.m.vms.len() {
            self.m.vms[i].hv.msis.clear();
            if self.m.vms[i].vgpu.failsafe().is_none() {
                continue;
            }
            let vm = &mut self.m.vms[i];
            let _ = vm.vgpu.reset(&self.m.sim, &mut vm.hv, gvt::model::vgpu::Reset::DeviceModel);
            vm.exec.reset(&self.m.host, &mut vm.hv);
            self.guests[i] = guest_model::machine::Guest::new(&mut self.m.guest(i), guest_model::machine::GUEST_RAM, guest_model::machine::RAM as u64, 10 + i as u32).expect("guest after reset");
        }
    }
}
