//! The gvt-rs device model, built as an ordinary `no_std` crate so that it can be tested and
//! fuzzed on the host.
//!
//! `gvt.ko` compiles exactly these sources: its crate root (`gvt_main.rs`) declares the same
//! three modules with the same paths, so `crate::model::...` means the same thing in both builds.
//! Nothing here may depend on the `kernel` crate.
#![no_std]
// Tests may panic: a failing assertion is how they report.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation
    )
)]

#[cfg(test)]
extern crate std;

#[path = "core/mod.rs"]
pub mod model;

#[path = "../mpt/mod.rs"]
pub mod mpt;

#[path = "hosts/sim/mod.rs"]
pub mod sim;

#[path = "hosts/i915/mod.rs"]
pub mod i915;
