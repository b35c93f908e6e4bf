//! Integer conversions without bare `as`.
//!
//! The core denies `clippy::as_conversions` (see `core/mod.rs`): an `as` between integer types
//! says nothing about whether it can lose bits, and on a value the guest wrote a silent
//! truncation is a bug waiting for its input. Conversions go through one of:
//!
//! - `From` (`u64::from(x)`, `usize::from(b)`) where the standard library has it;
//! - `try_from` with the failure handled, where a value may not fit;
//! - the widenings here, for the pairs `From` lacks because `usize`'s width is the target's
//!   (`u32` to `usize`, `usize` to `u64`, `u64` to `usize`), and for const contexts (the table
//!   builders in `mmio_table` and `cmd_scanner`), where `From` cannot be called;
//! - the named truncations here, which say which bits they keep, for the few places that mean
//!   to drop the rest.
//!
//! The widenings are lossless because `usize` is 64 bits wide: `gvt.ko` is built for x86-64
//! only (Kconfig: `depends on X86_64`) and the host-side tests run on 64-bit hosts. The assert
//! below makes a build for anything else fail rather than quietly truncate.
//!
//! Everything here is `const fn` so that the same spelling works in `const` table builders and
//! at run time. These helpers are the only place in the core that may use `as`.
// The conversions themselves: each `as` below is lossless by the assert, or is a truncation
// its name and doc comment state.
#![allow(clippy::as_conversions, clippy::cast_possible_truncation)]

// Every widening below relies on this.
const _: () = assert!(
    usize::BITS == 64,
    "gvt-rs assumes a 64-bit usize (x86-64 kernels, 64-bit hosts)"
);

/// Widens a `u8` to `u32` (for const contexts; elsewhere use `u32::from`).
#[inline(always)]
pub const fn u8_as_u32(v: u8) -> u32 {
    v as u32
}

/// Widens a `u8` to `usize` (for const contexts; elsewhere use `usize::from`).
#[inline(always)]
pub const fn u8_as_usize(v: u8) -> usize {
    v as usize
}

/// Widens a `u16` to `usize` (for const contexts; elsewhere use `usize::from`).
#[inline(always)]
pub const fn u16_as_usize(v: u16) -> usize {
    v as usize
}

/// Widens a `u32` to `usize`: lossless, `usize` being 64 bits.
#[inline(always)]
pub const fn u32_as_usize(v: u32) -> usize {
    v as usize
}

/// Converts a `u64` to `usize`: lossless, `usize` being 64 bits.
#[inline(always)]
pub const fn u64_as_usize(v: u64) -> usize {
    v as usize
}

/// Converts a `usize` to `u64`: lossless, `usize` being 64 bits.
#[inline(always)]
pub const fn usize_as_u64(v: usize) -> u64 {
    v as u64
}

/// Bits 31:0 of `v` (the C driver's `lower_32_bits`): drops the high half.
#[inline(always)]
pub const fn lower_32_bits(v: u64) -> u32 {
    v as u32
}

/// Bits 63:32 of `v` (the C driver's `upper_32_bits`): lossless, the shift leaves 32 bits.
#[inline(always)]
pub const fn upper_32_bits(v: u64) -> u32 {
    (v >> 32) as u32
}

/// Bits 15:0 of `v`: drops the rest. For compile-time values known to fit (asserted by the
/// table builder, or a small constant).
#[inline(always)]
pub const fn lower_16_bits(v: usize) -> u16 {
    v as u16
}

/// Bits 7:0 of `v`: drops the rest. For compile-time values known to fit (asserted by the
/// table builder, or a small constant).
#[inline(always)]
pub const fn lower_8_bits(v: usize) -> u8 {
    v as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widenings_keep_the_value() {
        assert_eq!(u8_as_u32(u8::MAX), 0xff);
        assert_eq!(u8_as_usize(u8::MAX), 0xff);
        assert_eq!(u16_as_usize(u16::MAX), 0xffff);
        assert_eq!(u32_as_usize(u32::MAX), 0xffff_ffff);
        assert_eq!(u64_as_usize(u64::MAX), usize::MAX);
        assert_eq!(usize_as_u64(usize::MAX), u64::MAX);
    }

    #[test]
    fn truncations_keep_the_named_bits() {
        let v = 0x0123_4567_89ab_cdef_u64;
        assert_eq!(lower_32_bits(v), 0x89ab_cdef);
        assert_eq!(upper_32_bits(v), 0x0123_4567);
        assert_eq!(lower_16_bits(0x1_2345), 0x2345);
        assert_eq!(lower_8_bits(0x1_23), 0x23);
    }
}
