//! gvt.ko: the GVT-g device model.
//!
//! The device model itself is the pure core shared with the cargo crate (`gvt/lib.rs` declares
//! the same three modules by the same paths). This root adds the glue: the module's life cycle,
//! the GPUs it drives (the `sim` host, i915 devices), and the MPT C ABI through which
//! hypervisor backends (kvmgt.ko, acrngt.ko) reach them.

use kernel::prelude::*;

#[path = "core/mod.rs"]
pub mod model;

#[path = "../mpt/mod.rs"]
pub mod mpt;

#[path = "hosts/sim/mod.rs"]
pub mod sim;

#[cfg(gvt_i915)]
#[path = "hosts/i915/mod.rs"]
pub mod i915;

pub mod glue;

// The guest model shared with the host-side tests names the device model `gvt::model`.
#[cfg(gvt_kunit)]
extern crate self as gvt;

module! {
    type: GvtModule,
    name: "gvt",
    author: "gvt-rs developers",
    description: "Intel GVT-g mediated GPU virtualization device model",
    license: "GPL",
}

struct GvtModule {
    _driver: glue::Driver,
}

impl kernel::Module for GvtModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(GvtModule {
            _driver: glue::Driver::new()?,
        })
    }
}
