//! kvmgt.ko's kernel-independent logic, built as a `no_std` crate for host-side tests.
//! `kvmgt_main.rs` (the kernel crate root) declares the same modules.
#![no_std]
#![cfg_attr(
    test,
    allow(
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::panic,
        clippy::as_conversions,
        clippy::cast_possible_truncation
    )
)]

pub mod dma_cache;
pub mod region;
