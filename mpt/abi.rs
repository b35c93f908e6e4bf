//! The MPT ABI (`include/gvt/mpt.h`) as Rust sees it. The header is the contract: Kbuild runs
//! bindgen over it at build time (`mpt/mpt_generated.rs`), so every struct, constant, handle and
//! function here is the header's own, and cannot drift from what the C backends compile.
//! gvt.ko includes this module to implement the ABI, each Rust backend to call it.
//!
//! The functions gvt.ko defines in Rust are checked against their declarations here by
//! [`c_signatures!`], and the whole ABI against the one recorded for its version
//! (`mpt/abi_frozen.rs`). The ABI is only built into modules: host-side tests have no C side.

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub
)]
mod generated {
    include!(concat!(env!("GVT_RS_OBJ"), "/mpt/mpt_generated.rs"));
}

pub(crate) use generated::*;

// This ABI version as released (scripts/abi-freeze.sh): a struct, field type or function
// changed in mpt.h without a new GVT_MPT_ABI_VERSION fails the build here. Its declarations
// are only compared, never called.
#[allow(clippy::type_complexity, dead_code, unreachable_pub)]
mod frozen {
    use super::generated::*;
    include!("abi_frozen.rs");
}

/// Fails the build unless each Rust function C calls has the signature its header declares:
/// `c_signatures!(declarations_module => definitions_module: name, ...)`. Definitions are
/// `unsafe extern "C"`, as the declarations bindgen makes.
macro_rules! c_signatures {
    ($decl:path => $def:path: $($f:ident),* $(,)?) => {
        const _: () = {
            use $decl as decl;
            use $def as def;
            $(let _ = [decl::$f, def::$f];)*
        };
    };
}
pub(crate) use c_signatures;
