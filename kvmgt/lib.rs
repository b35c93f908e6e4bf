//! kvmgt.ko's kernel-independent logic, built as a `no_std` crate for host-side tests.
//! `kvmgt_main.rs` (the kernel crate root) declares the same modules.
#![no_std]
#![cfg_attr(
    test,
    allow(
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::as_conversions,
        clippy::cast_possible_truncation
    )
)]

pub mod dma_cache;
pub mod edid;
#[path = "../gvt/core/error.rs"]
pub mod error;
pub mod ioctl;
pub mod region;
