//! The device model core: what a vGPU is and how it is emulated, as pure `no_std` Rust.
//!
//! The core is sans-I/O. Everything it needs from the outside world (the physical GPU, guest
//! memory, page tracking, MSI, time) comes in through traits: [`host::HostGpu`] for the GPU and
//! `crate::mpt::MptOps` for the hypervisor. Locking, allocation and threads belong to the glue.
//! Shared between the cargo crate and `gvt.ko`, so it uses `crate::` paths only through the
//! module names both roots declare (`model`, `mpt`, `sim`).

pub mod error;
pub mod host;
pub mod resources;
pub mod vgpu_type;
