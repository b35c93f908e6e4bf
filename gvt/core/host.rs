//! The physical GPU as the core sees it.
//!
//! Two hosts implement [`HostGpu`]: `i915` (real hardware, through a C shim against i915's
//! internals) and `sim` (a software Gen9 host, `crate::sim`). The core never touches hardware
//! except through this trait, which is what lets the whole device model run without an Intel GPU.

use super::hw::Platform;
use super::num::u32_as_usize;

/// PCI identity of the physical GPU; a vGPU presents the same identity to its guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciIdentity {
    /// Vendor id (0x8086).
    pub vendor: u16,
    /// Device id.
    pub device: u16,
    /// Revision id.
    pub revision: u8,
    /// Subsystem vendor id.
    pub subsystem_vendor: u16,
    /// Subsystem id.
    pub subsystem_device: u16,
}

/// The host's share of graphics memory and fences, never given to a vGPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostReserve {
    /// Bytes of aperture (low GM) kept for the host.
    pub low_gm: u64,
    /// Bytes of hidden GM (high GM) kept for the host.
    pub high_gm: u64,
    /// Fence registers kept for the host.
    pub fences: u32,
}

/// Static facts about the physical GPU, fixed for its lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostInfo {
    /// Which Gen9 platform this is.
    pub platform: Platform,
    /// The PCI identity the vGPUs copy.
    pub pci: PciIdentity,
    /// Size of BAR0 (GTTMMADR: 2 MiB MMIO, then the GGTT).
    pub bar0_size: u64,
    /// Size of the mappable aperture (BAR2, GMADR); graphics addresses below it are "low GM".
    pub aperture_size: u64,
    /// Size of the whole graphics address space the GGTT maps; above the aperture is "high GM".
    pub gm_size: u64,
    /// Number of fence registers.
    pub fence_count: u32,
    /// The GT's engines, as a mask of `regs::Engine::mask` bits (RCS, VCS, BCS, VECS on Gen9).
    pub engines: u8,
    /// What the host keeps for itself.
    pub reserve: HostReserve,
    /// Host physical address of the aperture (BAR2); a vGPU's aperture slice is mapped to the
    /// guest from here.
    pub aperture_pa: u64,
    /// DMA address of the host's scratch page: where invalid or unmappable GGTT entries point.
    pub scratch_page: u64,
}

/// Size of the PCI config space snapshot the host provides (the conventional 256 bytes; a
/// vGPU reads the extended space as zeros).
pub const CFG_SPACE_SIZE: usize = 256;

/// Size of the MMIO register window at the bottom of BAR0.
pub const MMIO_SIZE: u32 = 2 << 20;

/// Number of 32-bit registers in the MMIO window.
pub const MMIO_DWORDS: usize = u32_as_usize(MMIO_SIZE / 4);

/// The physical GPU the core drives.
///
/// Methods take `&self`: one host is shared by all vGPUs of a GPU, each behind its own lock, so
/// implementations use interior mutability (MMIO writes on hardware, atomics in `sim`). GGTT
/// indices and fence numbers passed in have already been checked by the core against the
/// calling vGPU's partition; implementations should still ignore out-of-range values.
pub trait HostGpu {
    /// Static facts about the GPU.
    fn info(&self) -> &HostInfo;

    /// The PCI config space as the host saw it when GVT started.
    fn cfg_snapshot(&self) -> &[u8; CFG_SPACE_SIZE];

    /// Fills `dst` with the initial values of the MMIO registers starting at dword index
    /// `first_dword` (offset / 4): the golden state a vGPU starts from and resets to. Dwords past
    /// the end of the window are left untouched. The values never change: a vGPU reset reloads
    /// only the registers written since they were last loaded.
    fn mmio_snapshot(&self, first_dword: usize, dst: &mut [u32]);

    /// The host GGTT entry at `index` (graphics address / 4 KiB).
    fn ggtt_read(&self, index: u64) -> u64;

    /// Writes the host GGTT entry at `index`. Not visible to the GPU until [`HostGpu::ggtt_flush`].
    fn ggtt_write(&self, index: u64, pte: u64);

    /// Makes earlier GGTT writes visible to the GPU (GFX_FLSH_CNTL on Gen9).
    fn ggtt_flush(&self);

    /// Writes the 64-bit fence register `index` of the host.
    fn fence_write(&self, index: u32, value: u64);

    /// Whether the CPU reaches graphics memory through the GPU's aperture BAR, which the
    /// hardware translates through the GGTT (real GPUs). A host without one (`sim`) says no:
    /// the device model then translates aperture accesses itself (`model::aperture`).
    fn has_aperture_bar(&self) -> bool {
        true
    }

    /// Takes the partition of a new vGPU away from the host's own allocators, before anything
    /// is written to it: from then on only the vGPU uses those GGTT entries and fences. An
    /// error (the host is using part of it) fails the creation. On success every GGTT entry of
    /// the partition points at the scratch page: the core does not rewrite them at creation
    /// (it puts back the ones a vGPU wrote when the vGPU goes). A host whose graphics memory
    /// and fences only the core hands out, and whose GGTT starts on scratch (`sim`), keeps this
    /// default.
    fn reserve(
        &self,
        _id: super::resources::VgpuId,
        _part: &super::resources::Partition,
    ) -> super::error::Result {
        Ok(())
    }

    /// Gives the partition of a destroyed vGPU back to the host's allocators. Its GGTT entries
    /// already point at the scratch page and its fences are clear.
    fn release(&self, _id: super::resources::VgpuId, _part: &super::resources::Partition) {}
}

/// One workload as the host runs it: a shadow context and a shadow ring in host memory, both
/// built by the core, on a shadow PPGTT whose root the context image already carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostWorkload {
    /// The vGPU it belongs to (as `VgpuId::get`).
    pub vgpu: u32,
    /// The engine to run it on.
    pub engine: super::regs::Engine,
    /// The core's tag for it; the host hands it back in [`HostExec`]'s completion report.
    pub tag: u32,
    /// Host address of the shadow context image (page 0 is the per-process HWSP, page 1 the
    /// register state with ring start, head, tail and PDPs already pointing at host memory).
    pub context: u64,
    /// Pages of the context image.
    pub context_pages: u32,
    /// Host address of the shadow ring: the inhibit-context restore (if any), then the
    /// scanned copy of the guest's ring slice.
    pub ring: u64,
    /// Bytes of the shadow ring to execute, from its start.
    pub ring_len: u32,
}

/// How the host finished a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// It ran to the end of its ring.
    Done,
    /// It hung or faulted and was reset: the guest sees no completion, so its own hang check
    /// fires.
    Hang,
}

/// What execution needs from the host beyond [`HostGpu`]: host memory for shadow page tables,
/// contexts and rings, engine registers for the render MMIO switch, and submission.
///
/// Host memory is named by the address the GPU uses for it (DMA address on hardware): shadow
/// PPGTT entries point at it. Methods take `&self` for the same reason as [`HostGpu`]'s. A host
/// reports a finished workload by calling the core's completion entry point with the
/// workload's tag (`workload::Exec::complete`).
pub trait HostExec {
    /// Allocates `pages` contiguous zeroed 4 KiB pages of host memory.
    fn alloc_pages(&self, pages: u32) -> super::error::Result<u64>;
    /// Frees what [`HostExec::alloc_pages`] returned.
    fn free_pages(&self, addr: u64, pages: u32);
    /// Writes host memory the core allocated.
    fn write_mem(&self, addr: u64, data: &[u8]) -> super::error::Result;
    /// Reads host memory the core allocated.
    fn read_mem(&self, addr: u64, buf: &mut [u8]) -> super::error::Result;
    /// Maps `pages` pages of host memory from `addr` (inside one [`HostExec::alloc_pages`]
    /// allocation) into the host's GGTT, in graphics memory the host keeps for itself (never a
    /// vGPU's), and returns their graphics address: where the GPU runs a privileged batch's
    /// shadow from. `NoSpace` when that memory is full.
    fn map_ggtt(&self, addr: u64, pages: u32) -> super::error::Result<u64>;
    /// Takes back what [`HostExec::map_ggtt`] returned (`gm`, with the same `pages`); its GGTT
    /// entries point at the scratch page again.
    fn unmap_ggtt(&self, gm: u64, pages: u32);
    /// Reads a host engine register.
    fn mmio_read(&self, offset: u32) -> u32;
    /// Writes a host engine register.
    fn mmio_write(&self, offset: u32, value: u32);
    /// Queues a workload on its engine. The core submits at most one workload per engine
    /// and vGPU at a time and only while the scheduler gives that vGPU the GPU.
    fn submit(&self, w: &HostWorkload) -> super::error::Result;
}
