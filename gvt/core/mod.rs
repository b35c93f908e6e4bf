//! The device model core: what a vGPU is and how it is emulated, as pure `no_std` Rust.
//!
//! The core is sans-I/O. Everything it needs from the outside world (the physical GPU, guest
//! memory, DMA mapping, MSI, time) comes in through traits: [`host::HostGpu`] for the GPU and
//! `crate::mpt::MptOps` for the hypervisor. Locking, allocation and threads belong to the glue.
//! Shared between the cargo crate and `gvt.ko`, so it uses `crate::` paths only through the
//! module names both roots declare (`model`, `mpt`, `sim`).
//!
//! Entry points for the glue: [`gvt::Gvt`] per physical GPU (`new`, `types`, `available`,
//! `acrn_config`, `ggtt_entries_for`, `create_vgpu`, `destroy_vgpu`) and [`vgpu::Vgpu`] per vGPU
//! (`cfg_read`/`cfg_write`, `mmio_read`/`mmio_write` at BAR0 offsets, `raise_event`,
//! `activate`/`deactivate`, `reset`, `flush_ggtt`, `opregion`). Storage the glue allocates:
//! one [`vgpu::VgpuStorage`] per vGPU (2 MiB registers, 8 bytes of virtual GGTT per 4 KiB of
//! the vGPU's graphics memory, 8 KiB OpRegion, 256 bytes of EDID); everything else is inline
//! and small. CPU access to a vGPU's aperture slice: [`aperture::page`] says which host page
//! backs a page of it, and `MptOps::aperture_invalidate` when that changes.
//!
//! Display ([`display`]): the glue arms a timer at `Vgpu::display_deadline` and calls
//! `display_tick(now_ns)` when it fires (vblanks, flip completion), applies the writes
//! `Vgpu::take_forward` yields after every MMIO write and reset (planes the vGPU owns under
//! `Gvt::set_plane_owners`; `Gvt::disable_planes_of` before destroying it), answers plane
//! queries with `query_plane`, hotplugs with `display_hotplug` and replaces the monitor's EDID
//! with `set_edid`.
//!
//! Execution is a second object per vGPU, [`workload::Exec`], over its own storage
//! ([`workload::ExecStorage`]: shadow page tables, workload slots, a scratch buffer, the
//! arena privileged batches are copied into and their shadows' records). The glue
//! calls `kick` after the guest's BAR0 writes (ELSP submissions, PVINFO PPGTT notifications
//! and resets latched by the `Vgpu`), `page_write` for trapped writes to write-protected guest
//! page tables, `dispatch` when [`sched::Scheduler`] gives the vGPU the GPU (after switching
//! the render MMIO state with [`mmio_context::MmioContext`]), and `complete` when the host
//! ([`host::HostExec`]) finishes a workload. The command scanner plugs in as
//! [`workload::CommandScanner`].

// Integer conversions go through `num` (lossless widenings, named truncations), `From` or
// `try_from`, never a bare `as` that may silently truncate a guest's value. An inner attribute
// of this file, so it holds in both crates that mount the core (`lib.rs`, `gvt_main.rs`);
// `test` is never set in the kernel build, so there it always applies. Tests may use `as`.
#![cfg_attr(not(test), deny(clippy::as_conversions))]

pub mod aperture;
pub mod batch;
pub mod cfg_space;
pub mod cmd_scanner;
pub mod error;
pub mod execlist;
pub mod gvt;
pub mod host;
pub mod hw;
pub mod inspect;
pub mod irq;
pub mod mmio_context;
pub mod mmio_list;
pub mod mmio_table;
pub mod num;
pub mod opregion;
pub mod ppgtt;
pub mod pvinfo;
pub mod report;
pub mod sched;
pub mod workload;
// Register types keep their i915 names (GEN6_GDRST, RING_MODE_GEN7) so they can be grepped
// against the C driver and the PRMs. `register!` is used by the modules declared after it.
#[allow(non_camel_case_types, non_upper_case_globals)]
#[macro_use]
pub mod regs;
pub mod display;
pub mod resources;
#[cfg(test)]
mod test_support;
pub mod vgpu;
pub mod vgpu_type;
