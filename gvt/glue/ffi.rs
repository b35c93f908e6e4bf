//! gvt.ko's C <-> Rust contract (`gvt/glue/shim.h`): the C shims Rust calls and the Rust
//! functions C calls, generated from the header by Kbuild. The Rust definitions are checked
//! against it here. Kernel objects Rust only passes along (`struct device`, the debugfs
//! `dentry` and `seq_file`) stay opaque.

#[allow(
    clippy::all,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub
)]
mod generated {
    use super::super::abi::device;
    use core::ffi::c_void as dentry;
    use core::ffi::c_void as seq_file;
    include!(concat!(env!("GVT_RS_OBJ"), "/gvt/glue/shim_generated.rs"));
}

pub(crate) use generated::*;

use super::abi::c_signatures;

c_signatures!(super::ffi => super::debugfs: gvt_vgpu_debugfs_show);
#[cfg(gvt_i915)]
c_signatures!(super::ffi => super::i915: gvt_i915_device_added, gvt_i915_device_removed);

// The i915 shim's sizes and event bits are those of the core and the host-tested i915 logic.
#[cfg(gvt_i915)]
const _: () = {
    use crate::i915::{event, MAX_FENCES};
    use crate::model::{host, resources::MAX_VGPUS};
    assert!(GVT_I915_MAX_VGPUS as usize == MAX_VGPUS);
    assert!(GVT_I915_MAX_FENCES == MAX_FENCES);
    assert!(GVT_I915_CFG_SIZE as usize == host::CFG_SPACE_SIZE);
    assert!(GVT_I915_MMIO_SIZE as usize == host::MMIO_DWORDS * 4);
    assert!(GVT_I915_EV_SIGNALED == event::SIGNALED);
    assert!(GVT_I915_EV_ERROR == event::ERROR);
    assert!(GVT_I915_EV_SWITCHED_OUT == event::SWITCHED_OUT);
    assert!(GVT_I915_EV_SCHEDULED_IN == event::SCHEDULED_IN);
};
