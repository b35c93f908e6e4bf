//! The device model core: what a vGPU is and how it is emulated, as pure `no_std` Rust.
//!
//! The core is sans-I/O. Everything it needs from the outside world (the physical GPU, guest
//! memory, DMA mapping, MSI, time) comes in through traits: [`host::HostGpu`] for the GPU and
//! `crate::mpt::MptOps` for the hypervisor. Locking, allocation and threads belong to the glue.
//! Shared between the cargo crate and `gvt.ko`, so it uses `crate::` paths only through the
//! module names both roots declare (`model`, `mpt`, `sim`).

pub mod cfg_space;
pub mod error;
pub mod gvt;
pub mod host;
pub mod irq;
pub mod mmio_list;
pub mod mmio_table;
pub mod opregion;
pub mod pvinfo;
// Register types keep their i915 names (GEN6_GDRST, RING_MODE_GEN7) so they can be grepped
// against the C driver and the PRMs.
#[allow(non_camel_case_types, non_upper_case_globals)]
pub mod regs;
pub mod resources;
pub mod vgpu;
pub mod vgpu_type;
