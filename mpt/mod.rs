//! The hypervisor boundary (MPT: mediated pass-through).
//!
//! Backends (kvmgt.ko, acrngt.ko, or a third party's) live in other modules, and Rust types
//! cannot cross `.ko` boundaries, so the contract is a C ABI: `include/gvt/mpt.h`. This file is
//! its Rust mirror; the layouts are asserted on both sides.

pub mod abi;
