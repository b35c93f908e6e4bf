//! acrngt.ko's kernel-independent logic, built as a `no_std` crate for host-side tests.
//! `acrngt_main.rs` (the kernel crate root) declares the same modules.
#![no_std]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod control;
#[path = "../gvt/core/error.rs"]
pub mod error;
pub mod ioreq;
