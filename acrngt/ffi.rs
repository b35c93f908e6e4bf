//! acrngt.ko's C <-> Rust contract (`acrngt/acrngt.h`), generated from the header by Kbuild.
//! The functions C calls in Rust are checked against it here, and so are the VHM constants
//! the host-tested `ioreq` keeps (`include/acrn/vhm.h`).

#[allow(
    clippy::all,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub
)]
mod generated {
    use crate::gvt::*;
    include!(concat!(env!("GVT_RS_OBJ"), "/acrngt/ffi_generated.rs"));
}

pub(crate) use generated::*;

use crate::gvt::c_signatures;
use crate::ioreq;

c_signatures!(crate::ffi => crate::instances: acrngt_control_store, acrngt_plane_owner_show,
    acrngt_device_added, acrngt_device_removed);
c_signatures!(crate::ffi => crate: acrngt_decode);

const _: () = assert!(ioreq::REQ_MMIO == REQ_MMIO);
const _: () = assert!(ioreq::REQ_PCICFG == REQ_PCICFG);
const _: () = assert!(ioreq::REQ_WP == REQ_WP);
const _: () = assert!(ioreq::REQUEST_WRITE == REQUEST_WRITE);
