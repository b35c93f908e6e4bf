//! Benchmarks of the device model's hot paths (plain `cargo bench`, figures printed):
//! MMIO emulation of tracked default-handler registers, GGTT PTE writes (audit, DMA map,
//! host write) and vGPU create + destroy.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::float_arithmetic,
    clippy::cast_precision_loss
)]

use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use guest_model::hv::MemHypervisor;
use guest_model::storage::vec_storage;
use gvt::model::gvt::Gvt;
use gvt::model::hw::Platform;
use gvt::model::vgpu::GGTT_MMIO_OFFSET;
use gvt::model::vgpu_type::find_type;
use gvt::sim::{ggtt_entries, SimHost};

fn main() {
    let info = gvt::sim::info(Platform::Broxton);
    let ggtt: Box<[AtomicU64]> = (0..ggtt_entries(&info))
        .map(|_| AtomicU64::new(0))
        .collect();
    let host = SimHost::new(info, ggtt).expect("sim host");
    let mut gvt = Gvt::new(&host).expect("gvt");
    let cfg = find_type("GVTg_V5_8").expect("type").config;
    let n = Gvt::ggtt_entries_for(&cfg).expect("size");
    let mut hv = MemHypervisor::new(1, 64 << 20);
    let mut vgpu = gvt
        .create_vgpu(&host, &cfg, vec_storage(n))
        .map_err(|(e, _)| e)
        .expect("create");

    // Tracked registers with the default handler: chicken bits, MOCS, ring registers.
    let regs: Vec<u64> = [
        0x7004u64, 0xc800, 0xc804, 0x2034, 0x2030, 0xb020, 0x9430, 0xe4f0,
    ]
    .into_iter()
    .collect();
    let iters = 20_000_000u64;
    let t = Instant::now();
    let mut buf = [0u8; 4];
    for i in 0..iters {
        let off = regs[(i & 7) as usize];
        if i & 1 == 0 {
            vgpu.mmio_write(&host, &mut hv, off, &(i as u32).to_le_bytes())
                .expect("write");
        } else {
            vgpu.mmio_read(off, &mut buf).expect("read");
        }
        black_box(&buf);
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "mmio tracked default-handler r/w: {:.1} M accesses/s ({:.1} ns each)",
        iters as f64 / dt / 1e6,
        dt * 1e9 / iters as f64
    );

    // GGTT PTE writes inside the vGPU's aperture: audit + DMA map + host write (+ unmap of the
    // previous mapping), flush batched.
    let first = vgpu.partition().low.start / 4096;
    let pages = 4096u64;
    let rounds = 500u64;
    let t = Instant::now();
    for r in 0..rounds {
        for p in 0..pages {
            let pte = (((p + r) % 8192) << 12) | 1;
            vgpu.mmio_write(
                &host,
                &mut hv,
                GGTT_MMIO_OFFSET + (first + p) * 8,
                &pte.to_le_bytes(),
            )
            .expect("pte");
        }
        vgpu.flush_ggtt(&host);
    }
    let total = pages * rounds;
    let dt = t.elapsed().as_secs_f64();
    println!(
        "ggtt pte write (8-byte, audit+map+host write): {:.1} ns/PTE over {} PTEs",
        dt * 1e9 / total as f64,
        total
    );

    // Create + destroy of a GVTg_V5_8 vGPU (storage allocated once and reused).
    let mut store = Some(gvt.destroy_vgpu(&host, &mut hv, vgpu));
    let cycles = 50u32;
    let t = Instant::now();
    for _ in 0..cycles {
        let v = gvt
            .create_vgpu(&host, &cfg, store.take().expect("store"))
            .map_err(|(e, _)| e)
            .expect("create");
        store = Some(gvt.destroy_vgpu(&host, &mut hv, v));
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "vgpu create+destroy (GVTg_V5_8, 448 MiB GM): {:.2} ms per cycle",
        dt * 1e3 / f64::from(cycles)
    );

    // The same with every buffer allocated zeroed and freed each time, as gvt.ko does
    // (register file, virtual GGTT, OpRegion, and the execution half's 256 shadow tables,
    // workload slots and scratch).
    let t = Instant::now();
    for _ in 0..cycles {
        let v = gvt
            .create_vgpu(&host, &cfg, vec_storage(n))
            .map_err(|(e, _)| e)
            .expect("create");
        let exec = gvt::model::workload::Exec::new(guest_model::storage::exec_storage(256, 16))
            .map_err(|(e, _)| e)
            .expect("exec");
        black_box(&exec);
        drop(exec);
        drop(gvt.destroy_vgpu(&host, &mut hv, v));
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "vgpu create+destroy with fresh zeroed storage, as gvt.ko allocates it: {:.2} ms per cycle",
        dt * 1e3 / f64::from(cycles)
    );
}
