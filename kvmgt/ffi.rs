//! kvmgt.ko's C <-> Rust contract (`kvmgt/ffi.h`), generated from the header by Kbuild. The
//! functions C calls in Rust (`kvmgt_main.rs`) are checked against it here, and so are the
//! constants the host-tested `region` keeps.

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
    include!(concat!(env!("GVT_RS_OBJ"), "/kvmgt/ffi_generated.rs"));
}

pub(crate) use generated::*;

use crate::gvt::c_signatures;
use crate::region;

c_signatures!(crate::ffi => crate: kvmgt_region_decode, kvmgt_region_next,
    kvmgt_aperture_in_slice, kvmgt_edid_access, kvmgt_edid_write);
c_signatures!(crate::ffi => crate::dma: kvmgt_cache_new, kvmgt_cache_free, kvmgt_cache_map,
    kvmgt_cache_unmap, kvmgt_cache_user_unmap, kvmgt_cache_flush, kvmgt_cache_get_page,
    kvmgt_cache_stats);

const _: () = assert!(region::OFFSET_SHIFT == KVMGT_OFFSET_SHIFT);
const _: () = assert!(region::EDID_BLOB_OFFSET == KVMGT_EDID_BLOB_OFFSET as u64);
const _: () = assert!(region::edid_reg::END <= region::EDID_BLOB_OFFSET);
