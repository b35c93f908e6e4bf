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
