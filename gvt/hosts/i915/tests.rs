use super::*;
use crate::model::resources::{Request, ResourcePool};
use std::vec;
use std::vec::Vec;

/// An Apollo Lake NUC as i915 reports it: 256 MiB aperture, 4 GiB GGTT, 32 fences.
fn apl() -> Facts {
    Facts {
        vendor: 0x8086,
        device: 0x5A85,
        revision: 0x0B,
        subsystem_vendor: 0x8086,
        subsystem_device: 0x2068,
        bar0_size: 16 * MB,
        aperture_pa: 0x8000_0000,
        aperture_size: 256 * MB,
        ggtt_size: 4096 * MB,
        fence_count: 32,
        engines: 0x0f,
        scratch_pte: 0x1_2345_6003,
    }
}

// Render-engine workaround batch pointers in the ring context (dword indices).
const CTX_BB_PER_CTX_PTR: usize = 0x19;
const CTX_RCS_INDIRECT_CTX: usize = 0x1b;
const CTX_RCS_INDIRECT_CTX_OFFSET: usize = 0x1d;

#[test]
fn host_info_takes_the_device_layout() {
    let info = host_info(&apl()).unwrap();
    assert_eq!(info.platform, Platform::Broxton);
    assert_eq!(info.pci.device, 0x5A85);
    assert_eq!(info.pci.revision, 0x0B);
    assert_eq!(info.aperture_size, 256 * MB);
    assert_eq!(info.gm_size, 4096 * MB);
    assert_eq!(info.aperture_pa, 0x8000_0000);
    assert_eq!(info.scratch_page, 0x1_2345_6003);
    assert_eq!(info.reserve, HOST_RESERVE);
    assert_eq!(info.engines, 0x0f);
    // Upstream's arithmetic: 256 MiB of aperture leaves 128 MiB, so the _8 and _4 types.
    let pool = ResourcePool::new(&info).unwrap();
    assert_eq!(
        pool.available(&Request {
            low_gm: 64 * MB,
            high_gm: 384 * MB,
            fences: 4
        }),
        2
    );
}

#[test]
fn host_info_per_platform() {
    for (id, p) in [
        (0x1912, Platform::Skylake),
        (0x5912, Platform::KabyLake),
        (0x0A84, Platform::Broxton),
    ] {
        let f = Facts {
            device: id,
            ..apl()
        };
        assert_eq!(host_info(&f).unwrap().platform, p);
    }
}

#[test]
fn host_info_refuses_what_the_core_cannot_drive() {
    // Not Intel, not Gen9 (Ice Lake 0x8A52), no render engine.
    assert_eq!(
        host_info(&Facts {
            vendor: 0x1002,
            ..apl()
        }),
        Err(GvtError::NotSupported)
    );
    assert_eq!(
        host_info(&Facts {
            device: 0x8A52,
            ..apl()
        }),
        Err(GvtError::NotSupported)
    );
    assert_eq!(
        host_info(&Facts {
            engines: 0x0e,
            ..apl()
        }),
        Err(GvtError::NotSupported)
    );
    // A layout that cannot be right.
    assert_eq!(
        host_info(&Facts {
            aperture_size: 8192 * MB,
            ..apl()
        }),
        Err(GvtError::Invalid)
    );
    assert_eq!(
        host_info(&Facts {
            aperture_size: 256 * MB + 1,
            ..apl()
        }),
        Err(GvtError::Invalid)
    );
    assert_eq!(
        host_info(&Facts {
            fence_count: 33,
            ..apl()
        }),
        Err(GvtError::Invalid)
    );
    assert_eq!(
        host_info(&Facts {
            ggtt_size: 0,
            ..apl()
        }),
        Err(GvtError::Invalid)
    );
    // BAR0 too small for the GGTT behind the registers.
    assert_eq!(
        host_info(&Facts {
            bar0_size: 8 * MB,
            ..apl()
        }),
        Err(GvtError::Invalid)
    );
    // Nothing left after the host reserve.
    assert_eq!(
        host_info(&Facts {
            aperture_size: 128 * MB,
            ..apl()
        }),
        Err(GvtError::NoSpace)
    );
    assert_eq!(
        host_info(&Facts {
            ggtt_size: 512 * MB,
            ..apl()
        }),
        Err(GvtError::NoSpace)
    );
    assert_eq!(
        host_info(&Facts {
            fence_count: 4,
            ..apl()
        }),
        Err(GvtError::NoSpace)
    );
}

#[test]
fn extra_engines_are_not_offered() {
    let info = host_info(&Facts {
        engines: 0xff,
        ..apl()
    })
    .unwrap();
    assert_eq!(info.engines, 0x0f);
}

#[test]
fn pool_partitions_map_to_gm_nodes_inside_the_layout() {
    let info = host_info(&apl()).unwrap();
    let mut pool = ResourcePool::new(&info).unwrap();
    let r = Request {
        low_gm: 64 * MB,
        high_gm: 384 * MB,
        fences: 4,
    };
    let mut seen = Vec::new();
    while let Ok((_, part)) = pool.allocate(&r) {
        let [low, high] = gm_nodes(&info, &part).unwrap();
        assert!(low.start >= HOST_RESERVE.low_gm && low.end() <= info.aperture_size);
        assert!(
            high.start >= info.aperture_size + HOST_RESERVE.high_gm && high.end() <= info.gm_size
        );
        let fences = fence_range(&info, &part).unwrap();
        assert!(fences.start >= HOST_RESERVE.fences && fences.end <= info.fence_count);
        assert_eq!(fences.len(), 4);
        seen.push(part);
    }
    assert_eq!(seen.len(), 2);
}

#[test]
fn gm_nodes_refuse_partitions_outside_their_areas() {
    let info = host_info(&apl()).unwrap();
    let good = Partition {
        low: Span {
            start: 128 * MB,
            size: 64 * MB,
        },
        high: Span {
            start: 640 * MB,
            size: 384 * MB,
        },
        fences: Span { start: 4, size: 4 },
    };
    assert!(gm_nodes(&info, &good).is_ok());
    let bad = [
        // Low GM reaching past the aperture.
        Partition {
            low: Span {
                start: 224 * MB,
                size: 64 * MB,
            },
            ..good
        },
        // High GM inside the aperture.
        Partition {
            high: Span {
                start: 192 * MB,
                size: 64 * MB,
            },
            ..good
        },
        // Past the GGTT.
        Partition {
            high: Span {
                start: 4064 * MB,
                size: 64 * MB,
            },
            ..good
        },
        // Unaligned, empty, overflowing.
        Partition {
            low: Span {
                start: 128 * MB + 1,
                size: 64 * MB,
            },
            ..good
        },
        Partition {
            low: Span {
                start: 128 * MB,
                size: 0,
            },
            ..good
        },
        Partition {
            high: Span {
                start: u64::MAX - 4095,
                size: 8192,
            },
            ..good
        },
    ];
    for p in bad {
        assert_eq!(gm_nodes(&info, &p), Err(GvtError::Invalid), "{p:?}");
    }
    assert!(fence_range(
        &info,
        &Partition {
            fences: Span { start: 30, size: 4 },
            ..good
        }
    )
    .is_err());
    assert!(fence_range(
        &info,
        &Partition {
            fences: Span { start: 4, size: 0 },
            ..good
        }
    )
    .is_err());
}

fn image(pages: usize, fill: u8) -> Vec<u8> {
    vec![fill; pages * PAGE]
}

fn get(buf: &[u8], page: usize, dw: usize) -> u32 {
    dword(&buf[page * PAGE..], dw).unwrap()
}

fn put(buf: &mut [u8], page: usize, dw: usize, v: u32) {
    set_dword(&mut buf[page * PAGE..], dw, v).unwrap();
}

// A Gen9 render register state as i915 lays it out (`gen9_rcs_offsets`, render base 0x2000):
// (header dword, registers). Past the ring context: CS_GPRs and more, then the closing
// MI_BATCH_BUFFER_END at `LAYOUT_END`.
const LRI_POSTED: u32 = (0x22 << 23) | (1 << 12);
const LAYOUT: [(usize, &[u32]); 4] = [
    (
        0x01,
        &[
            0x2244, 0x2034, 0x2030, 0x2038, 0x203c, 0x2168, 0x2140, 0x2110, 0x211c, 0x2114, 0x2118,
            0x21c0, 0x21c4, 0x21c8,
        ],
    ),
    (
        0x21,
        &[
            0x23a8, 0x228c, 0x2288, 0x2284, 0x2280, 0x227c, 0x2278, 0x2274, 0x2270,
        ],
    ),
    (0x41, &[0x20c8]),
    (
        0x51,
        &[
            0x2028, 0x209c, 0x20c0, 0x2178, 0x217c, 0x2358, 0x2170, 0x2150, 0x2154, 0x2158, 0x241c,
            0x2600, 0x2604, 0x2608,
        ],
    ),
];
const LAYOUT_END: usize = 0x51 + 1 + 2 * 14;

/// Writes i915's register-state commands into page 1 of `img`, and NOOPs where it has none;
/// values and what follows the end are left as they were.
fn lay_out(img: &mut [u8]) {
    let mut cmd = vec![false; PAGE / 4];
    for (at, regs) in LAYOUT {
        let header = if at == 0x41 { 0x22 << 23 } else { LRI_POSTED };
        put(img, 1, at, header | (2 * regs.len() as u32 - 1));
        cmd[at] = true;
        for (k, &r) in regs.iter().enumerate() {
            put(img, 1, at + 1 + 2 * k, r);
            cmd[at + 1 + 2 * k] = true;
            cmd[at + 2 + 2 * k] = true;
        }
    }
    put(img, 1, LAYOUT_END, 0x0a << 23);
    for (i, c) in cmd.iter().enumerate().take(LAYOUT_END) {
        if !c {
            put(img, 1, i, 0);
        }
    }
}

/// The dword indices of register values in `LAYOUT`.
fn value_dwords() -> Vec<usize> {
    LAYOUT
        .iter()
        .flat_map(|(at, regs)| (0..regs.len()).map(move |k| at + 2 + 2 * k))
        .collect()
}

#[test]
fn load_keeps_i915_ring_registers_and_takes_the_workload_state() {
    let mut core = image(22, 0xaa);
    lay_out(&mut core);
    put(&mut core, 1, CTX_CONTEXT_CONTROL, 0x0000_0008);
    put(&mut core, 1, 0x31, 0x0000_0001); // PDP0 upper: shadow root
    put(&mut core, 1, 0x33, 0x2345_6000); // PDP0 lower
    let mut i915 = image(23, 0x11);
    lay_out(&mut i915);
    // i915's ring start, head, tail, control and its status page.
    let ring = [
        (0x05, 0x100),
        (0x07, 0x180),
        (0x09, 0xfee0_0000),
        (0x0b, 0x1f_f001),
    ];
    for (i, v) in ring {
        put(&mut i915, 1, i, v);
    }
    load_context(Engine::Rcs, &core, &mut i915).unwrap();
    for (i, v) in ring {
        assert_eq!(get(&i915, 1, i), v, "ring dword {i:#x}");
    }
    assert!(
        i915[..PAGE].iter().all(|&b| b == 0x11),
        "status page untouched"
    );
    assert_eq!(get(&i915, 1, CTX_CONTEXT_CONTROL), 0xffff_0008);
    assert_eq!(get(&i915, 1, 0x31), 1);
    assert_eq!(get(&i915, 1, 0x33), 0x2345_6000);
    for i in [
        CTX_BB_PER_CTX_PTR,
        CTX_RCS_INDIRECT_CTX,
        CTX_RCS_INDIRECT_CTX_OFFSET,
    ] {
        assert_eq!(
            get(&i915, 1, i),
            0x1111_1111,
            "i915's own workaround batch pointer {i:#x}"
        );
    }
    // Register values past the ring context and what follows the list came over.
    for i in value_dwords().into_iter().filter(|&i| i >= RING_CTX_DWORDS) {
        assert_eq!(get(&i915, 1, i), 0xaaaa_aaaa, "value dword {i:#x}");
    }
    assert_eq!(get(&i915, 1, LAYOUT_END + 1), 0xaaaa_aaaa);
    assert_eq!(get(&i915, 1, 1023), 0xaaaa_aaaa);
    // Engine pages 2..22 came over; the 23rd page (i915's own extra) did not.
    assert!(i915[2 * PAGE..22 * PAGE].iter().all(|&b| b == 0xaa));
    assert!(i915[22 * PAGE..].iter().all(|&b| b == 0x11));
}

#[test]
fn load_of_an_inhibit_context_skips_the_register_and_engine_state() {
    // A fresh guest context: its register state is whatever the guest wrote, unchecked.
    let mut core = image(22, 0xaa);
    put(&mut core, 1, CTX_CONTEXT_CONTROL, CTX_RESTORE_INHIBIT);
    let mut i915 = image(22, 0x11);
    lay_out(&mut i915);
    let before = i915.clone();
    load_context(Engine::Rcs, &core, &mut i915).unwrap();
    assert_eq!(get(&i915, 1, CTX_CONTEXT_CONTROL), 0xffff_0001);
    assert_eq!(
        i915[PAGE + RING_CTX_DWORDS * 4..],
        before[PAGE + RING_CTX_DWORDS * 4..]
    );
}

#[test]
fn the_guest_image_cannot_change_what_the_engine_parses() {
    let mut i915 = image(22, 0x11);
    lay_out(&mut i915);
    let values = value_dwords();
    // A hostile image: LRIs of its own choosing everywhere, GGTT and fence registers, and a
    // longer list where i915 has NOOPs and its end.
    let mut core = image(22, 0xaa);
    for i in 0..PAGE / 4 {
        put(
            &mut core,
            1,
            i,
            if i % 2 == 0 {
                (0x22 << 23) | 125
            } else {
                0x10_0000 + 4 * i as u32
            },
        );
    }
    put(&mut core, 1, CTX_CONTEXT_CONTROL, 0);
    let before = i915.clone();
    load_context(Engine::Rcs, &core, &mut i915).unwrap();
    for i in RING_CTX_DWORDS..PAGE / 4 {
        let (got, was, guest) = (get(&i915, 1, i), get(&before, 1, i), get(&core, 1, i));
        if values.contains(&i) || i > LAYOUT_END {
            assert_eq!(
                got, guest,
                "dword {i:#x} is a value or past the end: the guest's"
            );
        } else {
            assert_eq!(got, was, "dword {i:#x} is a command or NOOP: i915's");
        }
    }
}

#[test]
fn a_register_state_the_host_cannot_parse_loads_nothing() {
    let mut core = image(22, 0xaa);
    lay_out(&mut core);
    put(&mut core, 1, CTX_CONTEXT_CONTROL, 0);
    let no_end = |img: &mut Vec<u8>| {
        for i in LAYOUT_END..1020 {
            put(img, 1, i, 0);
        }
        put(img, 1, 1020, (0x22 << 23) | 5); // three registers, from dword 1021: off the page
    };
    type Spoil = dyn Fn(&mut Vec<u8>);
    let bad: [(&str, &Spoil); 3] = [
        (
            "a command the register state does not hold (MI_STORE_REGISTER_MEM)",
            &|img| put(img, 1, 0x48, (0x24 << 23) | 2),
        ),
        ("an even LRI length field", &|img| {
            put(img, 1, 0x51, (0x22 << 23) | 28)
        }),
        ("an LRI running off the page", &no_end),
    ];
    for (what, spoil) in bad {
        let mut i915 = image(22, 0x11);
        lay_out(&mut i915);
        spoil(&mut i915);
        let before = i915.clone();
        assert_eq!(
            load_context(Engine::Rcs, &core, &mut i915),
            Err(GvtError::Invalid),
            "{what}"
        );
        assert!(i915 == before, "{what}: nothing written");
    }
}

#[test]
fn a_list_may_end_with_the_page() {
    // No MI_BATCH_BUFFER_END before the page ends is fine; the guest's dwords where i915 has
    // NOOPs are not taken, nor are values below the ring context boundary (the ring's).
    let mut i915 = image(2, 0);
    put(&mut i915, 1, 0x41, (0x22 << 23) | 3);
    put(&mut i915, 1, 0x42, 0x1c200);
    put(&mut i915, 1, 0x4d, 0x0040_0007); // MI_NOOP writing an identification number
    put(&mut i915, 1, 0x4e, (0x22 << 23) | 1);
    put(&mut i915, 1, 0x4f, 0x1c028);
    let mut core = image(2, 0x77);
    put(&mut core, 1, CTX_CONTEXT_CONTROL, 0);
    load_context(Engine::Vcs, &core, &mut i915).unwrap();
    assert_eq!(get(&i915, 1, 0x43), 0);
    assert_eq!(get(&i915, 1, 0x45), 0);
    assert_eq!(get(&i915, 1, 0x50), 0x7777_7777);
    assert_eq!(get(&i915, 1, 0x51), 0);
    assert_eq!(get(&i915, 1, 1023), 0);
}

#[test]
fn load_per_engine_registers() {
    let mut core = image(2, 0);
    put(&mut core, 1, CTX_BCS_TILE, 0x7);
    put(&mut core, 1, CTX_BB_PER_CTX_PTR, 0x99);
    put(&mut core, 1, CTX_RCS_INDIRECT_CTX, 0x99);
    let mut i915 = image(2, 0);
    load_context(Engine::Bcs, &core, &mut i915).unwrap();
    assert_eq!(get(&i915, 1, CTX_BCS_TILE), 0x7);
    // The guest's workaround batch pointers never reach the hardware, on any engine.
    for e in [Engine::Rcs, Engine::Bcs, Engine::Vcs] {
        let mut i915 = image(2, 0);
        load_context(e, &core, &mut i915).unwrap();
        assert_eq!(get(&i915, 1, CTX_BB_PER_CTX_PTR), 0);
        assert_eq!(get(&i915, 1, CTX_RCS_INDIRECT_CTX), 0);
    }
}

#[test]
fn short_images_are_refused_not_indexed() {
    let core = image(1, 0);
    let mut i915 = image(2, 0);
    assert_eq!(
        load_context(Engine::Rcs, &core, &mut i915),
        Err(GvtError::Invalid)
    );
    let mut small = image(1, 0);
    assert_eq!(save_context(&i915, &mut small), Err(GvtError::Invalid));
}

#[test]
fn save_brings_back_state_but_not_ring_or_roots() {
    let mut i915 = image(22, 0x55);
    put(&mut i915, 1, CTX_TIMESTAMP, 1234);
    let mut core = image(22, 0xaa);
    save_context(&i915, &mut core).unwrap();
    assert_eq!(get(&core, 1, CTX_TIMESTAMP), 1234);
    // Ring registers and PDPs (dwords below 0x34, other than control and timestamp) stay the core's.
    for i in [0x05, 0x07, 0x09, 0x0b, 0x25, 0x31, 0x33] {
        assert_eq!(get(&core, 1, i), 0xaaaa_aaaa, "dword {i:#x}");
    }
    assert_eq!(get(&core, 1, RING_CTX_STATE_DWORDS), 0x5555_5555);
    assert!(core[2 * PAGE..].iter().all(|&b| b == 0x55));
    assert!(core[..PAGE].iter().all(|&b| b == 0xaa));
}

#[test]
fn ring_is_padded_to_qwords() {
    assert_eq!(ring_dwords(0), Ok(0));
    assert_eq!(ring_dwords(4), Ok(2));
    assert_eq!(ring_dwords(8), Ok(2));
    assert_eq!(ring_dwords(68 * 1024), Ok(17 * 1024));
    assert_eq!(ring_dwords(6), Err(GvtError::Invalid));
}

#[test]
fn completion_needs_the_switch_out_unless_it_hung() {
    use event::*;
    assert_eq!(completion(0), None);
    assert_eq!(completion(SCHEDULED_IN), None);
    assert_eq!(completion(SWITCHED_OUT), None);
    assert_eq!(completion(SIGNALED), None);
    assert_eq!(completion(SIGNALED | SCHEDULED_IN), None);
    assert_eq!(completion(SIGNALED | SWITCHED_OUT), Some(Completion::Done));
    assert_eq!(completion(SIGNALED | ERROR), Some(Completion::Hang));
    assert_eq!(
        completion(SIGNALED | ERROR | SWITCHED_OUT),
        Some(Completion::Hang)
    );
    // An error bit without the signal is not a decision yet.
    assert_eq!(completion(ERROR | SWITCHED_OUT), None);
}
