//! The virtual OpRegion: the ACPI IGD OpRegion a guest i915 expects at the address in ASLS,
//! holding a VBT that describes the vGPU's virtual display: one DP port, the one its monitor is
//! on (no LVDS, no CRT, no other port). Upstream GVT-g describes DP ports A-D on every
//! platform; a stock 6.12 i915 on Broxton then warns that the platform has no port D
//! (`assert_port_valid`), and would create connectors for ports that can never be connected.
//!
//! The host's own OpRegion describes the host's panels and cannot be shown to a guest, so the
//! device model builds one: 8 KiB, signature `IntelGraphicsMem`, version 2.0, only the VBT
//! mailbox, the lid forced "open" (Windows guests stall otherwise), and the VBT at +0x400 with
//! BDB version 186 (child device size 33). The bytes are built field by field from named
//! offsets rather than by casting a packed struct, once, at compile time.

use super::num::{lower_16_bits, lower_32_bits, lower_8_bits, usize_as_u64};

/// Size of the OpRegion (two pages).
pub const OPREGION_SIZE: usize = 8192;
/// Offset of the lid state (CLID) in the ACPI mailbox.
pub const OPREGION_CLID: usize = 0x1ac;
/// Offset of SCIC (software SCI command) in the SWSCI mailbox.
pub const OPREGION_SCIC: u64 = 0x200;
/// Offset of PARM (SWSCI parameter) in the SWSCI mailbox.
pub const OPREGION_PARM: u64 = 0x204;
/// Offset of the VBT.
pub const OPREGION_VBT_OFFSET: usize = 0x400;

const MBOX_VBT: u32 = 1 << 3;
const VBT_HEADER_SIZE: usize = 48;
const BDB_HEADER_SIZE: usize = 22;
const CHILD_SIZE: usize = 33;
const GENERAL_FEATURES_SIZE: usize = 7;
const GENERAL_DEFINITIONS_SIZE: usize = 5;
const DRIVER_FEATURES_SIZE: usize = 19;
const BDB_GENERAL_FEATURES: u8 = 1;
const BDB_GENERAL_DEFINITIONS: u8 = 2;
const BDB_DRIVER_FEATURES: u8 = 12;
const DEVICE_TYPE_DP: u16 = 0x68c6;

/// Total size of the virtual VBT.
pub const VBT_SIZE: usize = VBT_HEADER_SIZE
    + BDB_HEADER_SIZE
    + 3
    + GENERAL_FEATURES_SIZE
    + 3
    + GENERAL_DEFINITIONS_SIZE
    + CHILD_SIZE
    + 3
    + DRIVER_FEATURES_SIZE;

/// The child device of each DDI port A-D: (device handle, DVO port, AUX channel), as
/// intel_vbt_defs.h names them.
const PORTS: [(u16, u8, u8); 4] = [
    (0x04, 10, 0x40), // EFP1: DVO_PORT_DPA, DP_AUX_A
    (0x40, 7, 0x10),  // EFP2: DVO_PORT_DPB, DP_AUX_B
    (0x20, 8, 0x20),  // EFP3: DVO_PORT_DPC, DP_AUX_C
    (0x10, 9, 0x30),  // EFP4: DVO_PORT_DPD, DP_AUX_D
];

/// Where the one child device starts in the OpRegion.
const CHILD_OFFSET: usize = OPREGION_VBT_OFFSET
    + VBT_HEADER_SIZE
    + BDB_HEADER_SIZE
    + 3
    + GENERAL_FEATURES_SIZE
    + 3
    + GENERAL_DEFINITIONS_SIZE;

/// The OpRegion every vGPU starts with, its child device on port A, built at compile time: its
/// layout arithmetic can never fail at run time (an out-of-range offset here is a build error,
/// not a kernel panic). [`build`] puts the child on the monitor's port.
const IMAGE: [u8; OPREGION_SIZE] = image();

/// Writes `bytes` at `off` in the image (compile time only).
// Evaluated in the `IMAGE` constant only, where an overflow or a bad index stops the build.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn put(img: &mut [u8; OPREGION_SIZE], off: usize, bytes: &[u8]) {
    let mut i = 0;
    while i < bytes.len() {
        img[off + i] = bytes[i];
        i += 1;
    }
}

/// Size of a block as its 16-bit header field (compile time only).
const fn size16(n: usize) -> [u8; 2] {
    assert!(n <= 0xffff);
    lower_16_bits(n).to_le_bytes()
}

// Evaluated in the `IMAGE` constant only (see `put`).
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
const fn image() -> [u8; OPREGION_SIZE] {
    let mut img = [0u8; OPREGION_SIZE];
    let buf = &mut img;
    put(buf, 0, b"IntelGraphicsMem");
    put(buf, 16, &8u32.to_le_bytes()); // size in KiB
    put(buf, 20, &0x0200_0000u32.to_le_bytes()); // version 2.0
    put(buf, 88, &MBOX_VBT.to_le_bytes());
    put(buf, OPREGION_CLID, &[3]);

    let v = OPREGION_VBT_OFFSET;
    put(buf, v, b"$VBT");
    put(buf, v + 20, &155u16.to_le_bytes()); // VBT version
    put(buf, v + 22, &size16(VBT_HEADER_SIZE));
    put(buf, v + 24, &size16(VBT_SIZE));
    put(
        buf,
        v + 28,
        &lower_32_bits(usize_as_u64(VBT_HEADER_SIZE)).to_le_bytes(),
    ); // bdb_offset

    let bdb = v + VBT_HEADER_SIZE;
    put(buf, bdb, b"BIOS_DATA_BLOCK");
    put(buf, bdb + 16, &186u16.to_le_bytes());
    put(buf, bdb + 18, &size16(BDB_HEADER_SIZE));
    put(buf, bdb + 20, &size16(VBT_SIZE - VBT_HEADER_SIZE));

    // General features: no integrated CRT or TV (all bits zero).
    let gf = bdb + BDB_HEADER_SIZE;
    put(buf, gf, &[BDB_GENERAL_FEATURES]);
    put(buf, gf + 1, &size16(GENERAL_FEATURES_SIZE));

    // General definitions followed by the child devices.
    let gd = gf + 3 + GENERAL_FEATURES_SIZE;
    put(buf, gd, &[BDB_GENERAL_DEFINITIONS]);
    put(buf, gd + 1, &size16(GENERAL_DEFINITIONS_SIZE + CHILD_SIZE));
    put(buf, gd + 3 + 4, &[lower_8_bits(CHILD_SIZE)]); // child_dev_size
    let mut child = gd + 3 + GENERAL_DEFINITIONS_SIZE;
    assert!(child == CHILD_OFFSET);
    let (handle, dvo_port, aux) = PORTS[0];
    put(buf, child, &handle.to_le_bytes());
    put(buf, child + 2, &DEVICE_TYPE_DP.to_le_bytes());
    put(buf, child + 16, &[dvo_port]);
    put(buf, child + 24, &[1 << 1]); // dp_compat
    put(buf, child + 25, &[aux]);
    put(buf, child + 27, &[1 << 5]); // integrated_encoder
    child += CHILD_SIZE;

    // Driver features: LVDS config "none" (zero).
    put(buf, child, &[BDB_DRIVER_FEATURES]);
    put(buf, child + 1, &size16(DRIVER_FEATURES_SIZE));
    img
}

/// Fills `buf` (at least [`OPREGION_SIZE`] bytes) with the virtual OpRegion of a vGPU whose
/// monitor is on DDI `port` (0 = A).
pub fn build(buf: &mut [u8], port: u32) {
    let Some(dst) = buf.get_mut(..OPREGION_SIZE) else {
        return;
    };
    dst.copy_from_slice(&IMAGE);
    let Some(&(handle, dvo_port, aux)) = usize::try_from(port).ok().and_then(|p| PORTS.get(p))
    else {
        return;
    };
    for (off, bytes) in [
        (0, &handle.to_le_bytes()[..]),
        (16, &[dvo_port][..]),
        (25, &[aux][..]),
    ] {
        if let Some(d) = dst.get_mut(
            CHILD_OFFSET.saturating_add(off)
                ..CHILD_OFFSET.saturating_add(off).saturating_add(bytes.len()),
        ) {
            d.copy_from_slice(bytes);
        }
    }
}

/// SWSCI function "get BIOS data".
const SCIC_F_GETBIOSDATA: u32 = 4;
/// SWSCI function "system BIOS callbacks".
const SCIC_F_GETBIOSCALLBACKS: u32 = 6;

/// Whether an SCIC command is one of the capability queries the device model answers
/// ("supported calls" / "requested callbacks"); every other SWSCI function fails.
pub fn is_capability_query(scic: u32) -> bool {
    let func = (scic & 0x1e) >> 1;
    let sub = (scic & 0xff00) >> 8;
    matches!(
        (func, sub),
        (SCIC_F_GETBIOSDATA, 0 | 1) | (SCIC_F_GETBIOSCALLBACKS, 0)
    )
}

/// The SCIC value reported back for a request: 0 (nothing supported) for capability queries,
/// the request with its exit status cleared ("failure") otherwise.
pub fn swsci_reply(scic: u32) -> u32 {
    if is_capability_query(scic) {
        0
    } else {
        scic & !0xe0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opregion_layout() {
        let mut b = [0xaau8; OPREGION_SIZE];
        build(&mut b, 1);
        assert_eq!(&b[..16], b"IntelGraphicsMem");
        assert_eq!(u32::from_le_bytes(b[88..92].try_into().unwrap()), MBOX_VBT);
        assert_eq!(b[OPREGION_CLID], 3);
        let v = OPREGION_VBT_OFFSET;
        assert_eq!(&b[v..v + 4], b"$VBT");
        assert_eq!(VBT_SIZE, 143);
        assert_eq!(
            u16::from_le_bytes([b[v + 24], b[v + 25]]) as usize,
            VBT_SIZE
        );
        let bdb = v + 48;
        assert_eq!(&b[bdb..bdb + 15], b"BIOS_DATA_BLOCK");
        // Walk the BDB blocks as i915's intel_bios.c does.
        let mut p = bdb + 22;
        let mut ids = std::vec::Vec::new();
        while p < v + VBT_SIZE {
            let id = b[p];
            let size = u16::from_le_bytes([b[p + 1], b[p + 2]]) as usize;
            ids.push(id);
            if id == 2 {
                assert_eq!(b[p + 3 + 4], 33);
                let children = (size - 5) / 33;
                assert_eq!(children, 1, "one port: the monitor's");
                let c1 = p + 3 + 5; // port B
                assert_eq!(u16::from_le_bytes([b[c1 + 2], b[c1 + 3]]), DEVICE_TYPE_DP);
                assert_eq!(b[c1 + 16], 7);
                assert_eq!(b[c1 + 25], 0x10);
            }
            p += 3 + size;
        }
        assert_eq!(p, v + VBT_SIZE);
        assert_eq!(ids, [1, 2, 12]);
        assert!(b[v + VBT_SIZE..].iter().all(|&x| x == 0));
    }

    #[test]
    fn swsci_answers_only_capability_queries() {
        assert_eq!(swsci_reply(4 << 1), 0);
        assert_eq!(swsci_reply((6 << 1) | (1 << 8)), (6 << 1) | (1 << 8));
        assert_eq!(swsci_reply((4 << 1) | 0xe0 | (5 << 8)), (4 << 1) | (5 << 8));
    }
}
