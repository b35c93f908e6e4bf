//! A whole machine at L0 for the execution tests and benches: a sim host with the test
//! executor, several vGPUs each with its hypervisor and execution half, the scheduler and the
//! render MMIO switch, driven as the glue will drive them (kick after register writes, dispatch
//! for the scheduler's owner, completion from the host).

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use gvt::model::gvt::Gvt;
use gvt::model::host::{Completion, HostGpu};
use gvt::model::mmio_context::{MmioContext, Owner};
use gvt::model::regs::Engine;
use gvt::model::sched::Scheduler;
use gvt::model::vgpu::Vgpu;
use gvt::model::vgpu_type::{find_type, VgpuConfig};
use gvt::model::workload::{Exec, Gen9Scanner};
use gvt::mpt::MptOps;
use gvt::sim::engine::Engine as SimEngine;
use gvt::sim::exec::{Job, Step, SLICE_BUDGET};
use gvt::sim::SimHost;

use crate::direct::Direct;
use crate::exec_host::{ExecHost, SimMem};
use crate::hv::{MemHypervisor, Tracking};
use crate::storage::{exec_storage, vec_storage, ExecVecStorage, VecStorage};
use crate::{Result, Transport};

/// Guest RAM per VM.
pub const RAM: usize = 64 << 20;
/// Simulated host time one workload takes.
pub const WORKLOAD_NS: u64 = 200_000;

/// One VM with its vGPU.
pub struct Vm {
    /// The vGPU.
    pub vgpu: Vgpu<VecStorage>,
    /// Its execution half.
    pub exec: Exec<ExecVecStorage>,
    /// Its hypervisor.
    pub hv: MemHypervisor,
    /// The command scanner: the real Gen9 one, for the vGPU's partition.
    pub scanner: Gen9Scanner,
    msi_seen: usize,
    /// Guest MMIO writes (traps) so far.
    pub traps: u64,
}

/// The machine.
pub struct Machine {
    /// The GPU (its GGTT shared with [`Machine::host`], which maps batch shadows into it).
    pub sim: SimHost<Arc<[AtomicU64]>>,
    /// Execution side of the host.
    pub host: ExecHost,
    /// The device model of the GPU.
    pub gvt: Gvt,
    /// The VMs.
    pub vms: Vec<Vm>,
    /// The scheduling policy.
    pub sched: Scheduler,
    /// The render MMIO switch.
    pub mmio: MmioContext,
    /// Simulated time, ns.
    pub now: u64,
    /// Completions the core reported an error for (a guest HWSP it could not write).
    pub completion_errors: u64,
    /// The sim's engines, in `Engine::ALL` order.
    pub engines: [SimEngine; 4],
    /// The sim's register snapshot, once [`Machine::cache_mmio_snapshot`] made it.
    mmio_image: Option<Box<[u32]>>,
    /// Jobs between their slices, run before what the host queued since.
    jobs: VecDeque<Job>,
}

impl Machine {
    /// `n` probed, active GVTg_V5_8 vGPUs whose hypervisors track pages as `tracking` says.
    pub fn new(n: usize, tracking: Tracking) -> Machine {
        Machine::with_config(n, tracking, &find_type("GVTg_V5_8").unwrap().config)
    }

    /// `n` probed, active vGPUs of size `cfg`, which need not be one of the offered types
    /// (the fuzz targets use small ones: a vGPU's reset and creation cost grows with its
    /// graphics memory).
    pub fn with_config(n: usize, tracking: Tracking, cfg: &VgpuConfig) -> Machine {
        let info = gvt::sim::info(crate::platform());
        let ggtt: Arc<[AtomicU64]> = (0..gvt::sim::ggtt_entries(&info))
            .map(|_| AtomicU64::new(0))
            .collect();
        let platform = info.platform;
        let sim = SimHost::new(info, ggtt.clone()).unwrap();
        let host = ExecHost::with_ggtt(ggtt, sim.info());
        let mut gvt = Gvt::new(&sim).unwrap();
        let cfg = *cfg;
        let entries = Gvt::ggtt_entries_for(&cfg).unwrap();
        let mut sched = Scheduler::default();
        let mut vms = Vec::new();
        for i in 0..n {
            let mut vgpu = gvt
                .create_vgpu(&sim, &cfg, vec_storage(entries))
                .map_err(|(e, _)| e)
                .unwrap();
            let mut hv = MemHypervisor::new(i as u64 + 1, RAM);
            hv.tracking = tracking;
            vgpu.activate();
            crate::probe::probe(&mut Direct::new(&mut vgpu, &sim, &mut hv)).unwrap();
            sched.add(vgpu.id().get(), cfg.weight).unwrap();
            let exec = Exec::new(exec_storage(256, 32))
                .map_err(|(e, _)| e)
                .unwrap();
            let msi_seen = hv.msis.len();
            let scanner = Gen9Scanner::new(platform, *vgpu.partition());
            vms.push(Vm {
                vgpu,
                exec,
                hv,
                scanner,
                msi_seen,
                traps: 0,
            });
        }
        Machine {
            sim,
            host,
            gvt,
            vms,
            sched,
            mmio: MmioContext::default(),
            now: 0,
            completion_errors: 0,
            engines: Engine::ALL.map(|e| SimEngine::new(e, 0)),
            mmio_image: None,
            jobs: VecDeque::new(),
        }
    }

    /// From now on the vGPUs load register snapshots (device and GT resets) from a copy of the
    /// sim's, and write only the registers that differ. The result is the same; the cost under
    /// the fuzzers' instrumentation is a bulk compare instead of a per-dword loop, and only the
    /// pages that change are written.
    pub fn cache_mmio_snapshot(&mut self) {
        let mut image = vec![0; gvt::model::host::MMIO_DWORDS].into_boxed_slice();
        self.sim.mmio_snapshot(0, &mut image);
        self.mmio_image = Some(image);
    }

    /// The host GPU as the vGPUs see it (the sim, see [`Machine::cache_mmio_snapshot`]).
    pub fn host_gpu(&self) -> HostView<'_> {
        HostView {
            sim: &self.sim,
            image: self.mmio_image.as_deref(),
        }
    }

    /// Device-model reset of VM `i`'s vGPU and its execution half (what a VFIO device reset
    /// does): the vGPU's reset result.
    pub fn device_reset(&mut self, i: usize) -> gvt::model::error::Result {
        let sim = HostView {
            sim: &self.sim,
            image: self.mmio_image.as_deref(),
        };
        let vm = &mut self.vms[i];
        let r = vm
            .vgpu
            .reset(&sim, &mut vm.hv, gvt::model::vgpu::Reset::DeviceModel);
        vm.exec.reset(&self.host, &mut vm.hv);
        r
    }

    /// The guest side of VM `i`.
    pub fn guest(&mut self, i: usize) -> Port<'_> {
        let sim = HostView {
            sim: &self.sim,
            image: self.mmio_image.as_deref(),
        };
        Port {
            vm: &mut self.vms[i],
            sim,
            host: &self.host,
        }
    }

    /// Runs the GPU until no vGPU has work: scheduler ticks, dispatch for the owner, host
    /// execution, completion. Returns the workloads executed.
    pub fn run(&mut self) -> usize {
        let mut executed = 0;
        for _ in 0..100_000 {
            let mut busy = Vec::new();
            for vm in &mut self.vms {
                // An engine stopped by a CS error waits for the guest, not for the machine.
                if vm.exec.has_queued() || vm.exec.busy() & !vm.exec.stalled() != 0 {
                    busy.push(vm.vgpu.id().get());
                }
            }
            let pending = self.jobs.len() + self.host.queued();
            if busy.is_empty() && pending == 0 {
                return executed;
            }
            let idle = pending == 0;
            let owner = self.sched.tick(self.now, &|id| busy.contains(&id), idle);
            if let (Some(o), false) = (owner, self.sched.switch_pending()) {
                let vm = self
                    .vms
                    .iter_mut()
                    .find(|v| v.vgpu.id().get() == o)
                    .unwrap();
                for e in Engine::ALL {
                    let vgpu = &vm.vgpu;
                    self.mmio
                        .switch(&self.host, e, Owner::Vgpu(o), |r| vgpu.vreg(r));
                }
                let _ = vm.exec.dispatch(&mut vm.vgpu, &self.host, &mut vm.hv);
            }
            // One slice of each job there is now, as gvt.ko's worker does per round.
            for _ in 0..self.jobs.len() + self.host.queued() {
                if self.slice() == Some(true) {
                    executed += 1;
                }
            }
            self.now += 10_000;
        }
        panic!("the machine did not go idle");
    }

    /// Hands VM `i`'s oldest queued workload of every idle engine to the host without running
    /// it (the scheduler's dispatch alone): the engines it started.
    pub fn dispatch(&mut self, i: usize) -> u8 {
        let vm = &mut self.vms[i];
        vm.exec
            .dispatch(&mut vm.vgpu, &self.host, &mut vm.hv)
            .unwrap()
    }

    /// Runs the oldest workload on the host to its end and reports its completion, as
    /// [`Machine::run`] does for each; false if the host has none.
    pub fn execute_one(&mut self) -> bool {
        loop {
            match self.slice() {
                None => return false,
                Some(true) => return true,
                Some(false) => {}
            }
        }
    }

    /// Runs one slice of the oldest job (a workload between slices, else the host's oldest)
    /// and, when it ends, reports its completion: `None` if there is none, else whether it
    /// ended. A job the core no longer wants (its engine was reset) ends as a hang.
    fn slice(&mut self) -> Option<bool> {
        let job = self
            .jobs
            .pop_front()
            .or_else(|| self.host.take().map(Job::new))?;
        let w = job.w;
        let step = {
            let mut mem = SimMem {
                host: &self.host,
                hvs: self.vms.iter_mut().map(|v| &mut v.hv).collect(),
            };
            let engine = &mut self.engines[w.engine as usize];
            job.step(engine, &mut mem, &self.now, self.sim.ggtt(), SLICE_BUDGET)
        };
        self.now += WORKLOAD_NS;
        let vm = self
            .vms
            .iter_mut()
            .find(|v| v.vgpu.id().get() == w.vgpu)
            .unwrap();
        let how = match step {
            Step::Done(how) => how,
            Step::Sliced(next) => {
                if vm.vgpu.failsafe().is_none() && vm.exec.running(w.engine, w.tag) {
                    self.jobs.push_back(next);
                    return Some(false);
                }
                Completion::Hang
            }
        };
        if vm
            .exec
            .complete(&mut vm.vgpu, &self.host, &mut vm.hv, w.engine, w.tag, how)
            .is_err()
        {
            self.completion_errors += 1;
        }
        Some(true)
    }
}

/// The sim host, with its register snapshot optionally served from a copy.
pub struct HostView<'a> {
    sim: &'a SimHost<Arc<[AtomicU64]>>,
    image: Option<&'a [u32]>,
}

impl HostGpu for HostView<'_> {
    fn info(&self) -> &gvt::model::host::HostInfo {
        self.sim.info()
    }
    fn cfg_snapshot(&self) -> &[u8; gvt::model::host::CFG_SPACE_SIZE] {
        self.sim.cfg_snapshot()
    }
    fn mmio_snapshot(&self, first_dword: usize, dst: &mut [u32]) {
        let Some(src) = self.image.and_then(|i| i.get(first_dword..)) else {
            return self.sim.mmio_snapshot(first_dword, dst);
        };
        let n = dst.len().min(src.len());
        for (d, s) in dst[..n].chunks_mut(1024).zip(src[..n].chunks(1024)) {
            if d != s {
                d.copy_from_slice(s);
            }
        }
    }
    fn ggtt_read(&self, index: u64) -> u64 {
        self.sim.ggtt_read(index)
    }
    fn ggtt_write(&self, index: u64, pte: u64) {
        self.sim.ggtt_write(index, pte)
    }
    fn ggtt_flush(&self) {
        self.sim.ggtt_flush()
    }
    fn fence_write(&self, index: u32, value: u64) {
        self.sim.fence_write(index, value)
    }
}

/// A guest's transport at L0 with execution: register writes kick the execution half, and
/// writes to write-protected pages reach the core as the VM's hypervisor reports them.
pub struct Port<'a> {
    vm: &'a mut Vm,
    sim: HostView<'a>,
    host: &'a ExecHost,
}

impl Transport for Port<'_> {
    fn cfg_read(&mut self, offset: u32, buf: &mut [u8]) -> Result {
        Ok(self.vm.vgpu.cfg_read(offset, buf)?)
    }
    fn cfg_write(&mut self, offset: u32, data: &[u8]) -> Result {
        Ok(self.vm.vgpu.cfg_write(&mut self.vm.hv, offset, data)?)
    }
    fn mmio_read(&mut self, offset: u64, buf: &mut [u8]) -> Result {
        Ok(self.vm.vgpu.mmio_read(offset, buf)?)
    }
    fn mmio_write(&mut self, offset: u64, data: &[u8]) -> Result {
        let vm = &mut *self.vm;
        vm.traps += 1;
        vm.vgpu.mmio_write(&self.sim, &mut vm.hv, offset, data)?;
        // A refused submission lands the vGPU in failsafe; the guest's write itself succeeded.
        let _ = vm
            .exec
            .kick(&mut vm.vgpu, self.host, &mut vm.hv, &mut vm.scanner);
        Ok(())
    }
    fn wait_msi(&mut self) -> Option<(u64, u32)> {
        let m = self.vm.hv.msis.get(self.vm.msi_seen).copied();
        if m.is_some() {
            self.vm.msi_seen += 1;
        }
        m
    }
    fn ram_read(&mut self, gpa: u64, buf: &mut [u8]) -> Result {
        Ok(self.vm.hv.read_gpa(gpa, buf)?)
    }
    fn ram_write(&mut self, gpa: u64, data: &[u8]) -> Result {
        let vm = &mut *self.vm;
        if !vm.hv.is_tracked(gpa >> 12) {
            return Ok(vm.hv.write_gpa(gpa, data)?);
        }
        vm.traps += 1;
        let committed = vm.hv.tracking == Tracking::AfterWrite;
        if committed {
            vm.hv.write_gpa(gpa, data)?;
        }
        // A write that breaks the shadow puts the vGPU in failsafe; the guest's write stands.
        let _ = vm
            .exec
            .page_write(&mut vm.vgpu, self.host, &mut vm.hv, gpa, data, committed);
        Ok(())
    }
}

pub use crate::workload::{Guest, BATCH_GVA, DATA_GVA, DATA_PAGES};

/// Where a guest's workload pages start in its RAM (above what the probe uses).
pub const GUEST_RAM: u64 = 16 << 20;
