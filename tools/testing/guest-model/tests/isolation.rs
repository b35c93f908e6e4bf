//! Isolation property: random guest config, MMIO and GGTT writes on several vGPUs never make
//! the device model write a host GGTT entry or fence outside the writer's partition, and never
//! change another vGPU's state.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use guest_model::hv::MemHypervisor;
use guest_model::recording::{HostWrite, RecordingHost};
use guest_model::rng::Rng;
use guest_model::storage::{vec_storage, VecStorage};
use guest_model::{direct::Direct, probe, sim_host};
use gvt::model::gvt::Gvt;
use gvt::model::vgpu::{Vgpu, GGTT_MMIO_OFFSET};
use gvt::model::vgpu_type::find_type;

/// A fingerprint of everything a guest can see of a vGPU.
fn fingerprint(v: &Vgpu<VecStorage>) -> u64 {
    let mut h = DefaultHasher::new();
    for off in (0..0x20_0000u32).step_by(4) {
        v.vreg(off).hash(&mut h);
    }
    v.cfg().bytes().hash(&mut h);
    let p = v.partition();
    for gm in (p.low.start..p.low.end())
        .step_by(4096)
        .chain((p.high.start..p.high.end()).step_by(4096))
    {
        v.guest_pte(gm).hash(&mut h);
    }
    h.finish()
}

/// One random guest access, biased toward interesting places.
fn random_access(r: &mut Rng, t: &mut Direct<'_>) {
    let sizes = [1usize, 2, 4, 8];
    match r.below(10) {
        0 => {
            let off = r.below(0x108) as u32;
            let v = r.next_u64().to_le_bytes();
            let _ = t
                .vgpu
                .cfg_write(t.hv, off, &v[..sizes[r.below(3) as usize]]);
        }
        1..=3 => {
            // GGTT: anywhere in the 8 MiB window, full or half entries.
            let idx = r.below(1 << 20);
            let pte = (r.below(1 << 14) << 12) | r.below(2);
            if r.below(2) == 0 {
                let _ =
                    t.vgpu
                        .mmio_write(t.host, t.hv, GGTT_MMIO_OFFSET + idx * 8, &pte.to_le_bytes());
            } else {
                let half = r.below(2) * 4;
                let _ = t.vgpu.mmio_write(
                    t.host,
                    t.hv,
                    GGTT_MMIO_OFFSET + idx * 8 + half,
                    &(pte as u32).to_le_bytes(),
                );
            }
        }
        4..=5 => {
            // Fences, PVINFO, GDRST, interrupts, flush: the registers with side effects.
            let hot = [
                0x100000u64,
                0x100004,
                0x100038,
                0x10007c,
                0x78000,
                0x78808,
                0x78818,
                0x941c,
                0x44200,
                0x44304,
                0x4430c,
                0x101008,
                0x229c,
                0x20d0,
                0x138124,
                0xa278,
            ];
            let off = hot[r.below(hot.len() as u64) as usize] + r.below(2) * 4;
            let _ = t
                .vgpu
                .mmio_write(t.host, t.hv, off, &(r.next_u64() as u32).to_le_bytes());
        }
        _ => {
            let len = sizes[r.below(4) as usize];
            let off = r.below(0x80_0000 + 64);
            let mut b = [0u8; 8];
            if r.below(3) == 0 {
                let _ = t.vgpu.mmio_read(off, &mut b[..len]);
            } else {
                let v = r.next_u64().to_le_bytes();
                let _ = t.vgpu.mmio_write(t.host, t.hv, off, &v[..len]);
            }
        }
    }
}

#[test]
fn random_guests_stay_in_their_partitions() {
    let host = RecordingHost::new(sim_host());
    let mut gvt = Gvt::new(&host).unwrap();
    let cfg = find_type("GVTg_V5_8").unwrap().config;
    let n = Gvt::ggtt_entries_for(&cfg).unwrap();
    let mut vgpus: Vec<_> = (0..4)
        .map(|_| {
            gvt.create_vgpu(&host, &cfg, vec_storage(n))
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    let mut hvs: Vec<_> = (1..=4).map(|i| MemHypervisor::new(i, 64 << 20)).collect();
    // Half of the guests are well-behaved drivers first, so both paths (normal and failsafe)
    // are exercised.
    for (v, hv) in vgpus.iter_mut().zip(hvs.iter_mut()).take(2) {
        v.activate();
        probe::probe(&mut Direct::new(v, &host, hv)).unwrap();
    }
    let mut r = Rng::new(0x5eed);
    for round in 0..40usize {
        let w = round % 4;
        let others: Vec<u64> = vgpus
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != w)
            .map(|(_, v)| fingerprint(v))
            .collect();
        host.log.borrow_mut().clear();
        let part = *vgpus[w].partition();
        {
            let mut t = Direct::new(&mut vgpus[w], &host, &mut hvs[w]);
            for _ in 0..2000 {
                random_access(&mut r, &mut t);
            }
        }
        for wr in host.log.borrow().iter() {
            match *wr {
                HostWrite::Ggtt(idx, _) => assert!(
                    part.owns_gm(idx * 4096, 4096),
                    "vGPU {w} wrote GGTT entry {idx:#x} outside its partition"
                ),
                HostWrite::Fence(f, _) => assert!(
                    part.fences.contains_range(u64::from(f), 1),
                    "vGPU {w} wrote fence {f}"
                ),
            }
        }
        let after: Vec<u64> = vgpus
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != w)
            .map(|(_, v)| fingerprint(v))
            .collect();
        assert_eq!(others, after, "round {round}: another vGPU's state changed");
    }
    // Every vGPU can still be destroyed, and all DMA mappings are returned.
    for (v, hv) in vgpus.into_iter().zip(hvs.iter_mut()) {
        gvt.destroy_vgpu(&host, hv, v);
        assert_eq!(hv.mapped_pages(), 0);
    }
}
