//! acrngt.ko: gvt-rs vGPUs for ACRN User VMs.
//!
//! ACRN-DM creates and destroys a User VM's vGPU through `/sys/kernel/gvt/control/
//! create_gvt_instance` and reads its id from `/sys/kernel/gvt/vmN/vgpu_id`. The protocol is
//! parsed by `control` (pure, host-tested), the instance table is `instances`, and the sysfs
//! nodes are C (`sysfs.c`).

use kernel::prelude::*;

#[path = "../mpt/backend.rs"]
pub mod gvt;

pub mod control;
mod ffi;
mod instances;
#[cfg(gvt_kunit)]
mod tests;

module! {
    type: Acrngt,
    name: "acrngt",
    author: "gvt-rs developers",
    description: "gvt-rs vGPUs for ACRN through the VHM API",
    license: "GPL",
}

struct Acrngt {
    _instances: instances::Instances,
}

impl kernel::Module for Acrngt {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Acrngt {
            _instances: instances::Instances::new()?,
        })
    }
}
