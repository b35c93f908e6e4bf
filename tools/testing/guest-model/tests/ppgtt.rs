//! The shadow PPGTT without page tracking (kvmgt without KVM): a submission re-reads the tree
//! it runs on, each table once, and no other tree.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use guest_model::exec_host::ExecHost;
use guest_model::hv::MemHypervisor;
use guest_model::storage::{vec_tables, VecTables};
use gvt::model::ppgtt::pool::SptStorage;
use gvt::model::ppgtt::{guest_translate, Env, Ppgtt, PTE_PRESENT};
use gvt::mpt::MptOps;

const RW: u64 = PTE_PRESENT | 2;

struct Vm {
    hv: MemHypervisor,
    host: ExecHost,
    spts: VecTables,
    scratch: [u8; 4096],
    ppgtt: Ppgtt,
}

impl Vm {
    fn new() -> Vm {
        Vm {
            hv: MemHypervisor::new(1, 64 << 20),
            host: ExecHost::default(),
            spts: vec_tables(256),
            scratch: [0; 4096],
            ppgtt: Ppgtt::default(),
        }
    }

    fn set(&mut self, table: u64, i: u64, v: u64) {
        self.hv.write_gpa(table + 8 * i, &v.to_le_bytes()).unwrap();
    }

    /// A tree at `pml4` (then pdp, pd and pt in the next pages) mapping GVA 0 to `page`.
    fn tree(&mut self, pml4: u64, page: u64) {
        self.set(pml4, 0, (pml4 + 0x1000) | RW);
        self.set(pml4 + 0x1000, 0, (pml4 + 0x2000) | RW);
        self.set(pml4 + 0x2000, 0, (pml4 + 0x3000) | RW);
        self.set(pml4 + 0x3000, 0, page | RW);
    }

    fn pin(&mut self, pml4: u64) -> usize {
        let mut env = Env {
            spts: self.spts.pool(),
            scratch: &mut self.scratch,
            host: &self.host,
            mpt: &mut self.hv,
            ips: false,
        };
        self.ppgtt.pin(&mut env, pml4).unwrap().0
    }

    /// Syncs before a submission on `roots`; returns the guest tables it re-read.
    fn sync(&mut self, roots: &[usize]) -> u64 {
        let before = self.ppgtt.stats().tables_revalidated;
        let mut env = Env {
            spts: self.spts.pool(),
            scratch: &mut self.scratch,
            host: &self.host,
            mpt: &mut self.hv,
            ips: false,
        };
        self.ppgtt.sync(&mut env, roots).unwrap();
        self.ppgtt.stats().tables_revalidated - before
    }

    fn translate(&mut self, pml4: u64, gva: u64) -> Option<u64> {
        guest_translate(&self.spts.pool(), pml4, gva)
    }
}

#[test]
fn a_submission_rereads_its_own_tree_only() {
    let mut vm = Vm::new();
    let (a, b) = (0x10_0000, 0x20_0000);
    vm.tree(a, 0x80_0000);
    vm.tree(b, 0x90_0000);
    let (ra, rb) = (vm.pin(a), vm.pin(b));
    assert_eq!(vm.sync(&[ra]), 4);
    assert_eq!(vm.sync(&[ra]), 4, "every submission re-reads its tree");
    // The guest remaps B's page: A's submissions leave B's shadow as it was.
    vm.set(b + 0x3000, 0, 0x91_0000 | RW);
    assert_eq!(vm.sync(&[ra]), 4);
    assert_eq!(vm.translate(b, 0x10), Some(0x90_0010));
    assert_eq!(vm.sync(&[rb]), 4);
    assert_eq!(vm.translate(b, 0x10), Some(0x91_0010));
    assert_eq!(vm.translate(a, 0x10), Some(0x80_0010));
}

#[test]
fn a_table_shared_by_two_trees_is_read_once() {
    let mut vm = Vm::new();
    let (a, b) = (0x10_0000, 0x20_0000);
    vm.tree(a, 0x80_0000);
    // B's PDP points at A's page directory.
    vm.set(b, 0, (b + 0x1000) | RW);
    vm.set(b + 0x1000, 0, (a + 0x2000) | RW);
    let (ra, rb) = (vm.pin(a), vm.pin(b));
    assert_eq!(vm.sync(&[ra, rb]), 6, "two PML4s, two PDPs, one PD, one PT");
    assert_eq!(vm.translate(b, 0x20), Some(0x80_0020));
}

#[test]
fn tables_a_parent_gains_during_the_walk_are_walked() {
    let mut vm = Vm::new();
    let a = 0x10_0000;
    vm.tree(a, 0x80_0000);
    let ra = vm.pin(a);
    vm.sync(&[ra]);
    // A second page table for GVA 2 MiB, and a change in the first one.
    vm.set(0x30_0000, 0, 0xa0_0000 | RW);
    vm.set(a + 0x2000, 1, 0x30_0000 | RW);
    vm.set(a + 0x3000, 0, 0x81_0000 | RW);
    assert_eq!(vm.sync(&[ra]), 5);
    assert_eq!(vm.translate(a, 0x20_0008), Some(0xa0_0008));
    assert_eq!(vm.translate(a, 0x8), Some(0x81_0008));
    // The shadow maps what the guest maps.
    assert!(vm.hv.mapped_pages() >= 2);
}

impl Vm {
    /// A tree at `pml4` whose page directory points at `pts` page tables (the pages after
    /// the PD), each mapping its 512 entries onto the same 512 data pages at `data`, as
    /// i915's `huge_gem_object` maps few real pages many times.
    fn wide_tree(&mut self, pml4: u64, pts: u64, data: u64) {
        let (pdp, pd) = (pml4 + 0x1000, pml4 + 0x2000);
        self.set(pml4, 0, pdp | RW);
        // One PD per 512 page tables.
        for k in 0..pts {
            let (pd_k, pt) = (pd + (k / 512) * 0x1000, pd + 0x4000 + k * 0x1000);
            self.set(pdp, k / 512, pd_k | RW);
            self.set(pd_k, k % 512, pt | RW);
            let entries: Vec<u8> = (0..512u64)
                .flat_map(|i| ((data + i * 0x1000) | RW).to_le_bytes())
                .collect();
            self.hv.write_gpa(pt, &entries).unwrap();
        }
    }

    fn release_all(&mut self, roots: &[usize]) {
        for &r in roots {
            self.ppgtt.unpin(r);
        }
        let mut env = Env {
            spts: self.spts.pool(),
            scratch: &mut self.scratch,
            host: &self.host,
            mpt: &mut self.hv,
            ips: false,
        };
        self.ppgtt.forget_unpinned(&mut env);
    }
}

/// i915's `igt_ctx_exec` binds a 4 GiB object in a context: thousands of page tables under
/// one root, more than a fixed store of 256 held (the vGPU went into failsafe).
#[test]
fn a_tree_of_thousands_of_tables_is_shadowed() {
    use gvt::model::ppgtt::pool::MAX_TABLES;
    let mut vm = Vm {
        spts: vec_tables(MAX_TABLES),
        ..Vm::new()
    };
    let a = 0x10_0000;
    vm.wide_tree(a, 1100, 0x300_0000);
    let ra = vm.pin(a);
    assert_eq!(vm.spts.pool().live(), 1 + 1 + 3 + 1100);
    // The last page table maps the data pages too.
    assert_eq!(vm.translate(a, (1099 << 21) + 0x5008), Some(0x300_5008));
    assert_eq!(vm.sync(&[ra]), 1105);
    vm.release_all(&[ra]);
    let mut pool = vm.spts.pool();
    assert_eq!(pool.live(), 0);
    assert_eq!(vm.hv.mapped_pages(), 0);
    // Emptied indexes: a new table is found at once.
    assert!(pool.find(a >> 12, 4, false).is_none());
    assert!(pool.alloc().is_ok());
}

/// With the store full, a submission's sync drops a tree no workload uses and goes on.
#[test]
fn a_sync_out_of_tables_reclaims_an_unused_tree() {
    let mut vm = Vm {
        spts: vec_tables(128),
        ..Vm::new()
    };
    let (a, b) = (0x10_0000, 0x100_0000);
    vm.wide_tree(a, 60, 0x300_0000);
    let ra = vm.pin(a);
    vm.ppgtt.unpin(ra);
    vm.tree(b, 0x90_0000);
    let rb = vm.pin(b);
    assert_eq!(vm.sync(&[rb]), 4);
    // B's page directory gains 70 page tables: more than the store has left.
    for k in 1..=70u64 {
        let pt = 0x200_0000 + k * 0x1000;
        vm.set(pt, 0, (0xa0_0000 + k * 0x1000) | RW);
        vm.set(b + 0x2000, k, pt | RW);
    }
    assert!(vm.sync(&[rb]) >= 74);
    assert_eq!(vm.ppgtt.stats().roots_reclaimed, 1);
    assert_eq!(
        vm.translate(b, (70 << 21) + 4),
        Some(0xa0_0000 + 70 * 0x1000 + 4)
    );
    assert_eq!(vm.translate(a, 0), None, "A's shadow went");
}

/// The indexes against a model: tables come and go in random order; every live one is found
/// by guest frame and by host address, and no dead one is.
#[test]
fn the_table_indexes_follow_random_insertions_and_removals() {
    use gvt::model::ppgtt::SptMeta;
    let mut tables = vec_tables(4096);
    let mut pool = tables.pool();
    let mut live: Vec<(usize, u64, u64, u8)> = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for step in 0..20_000u64 {
        if live.len() < 3000 && (live.is_empty() || rnd(3) != 0) {
            let s = pool.alloc().unwrap();
            // Few distinct frames, so probe runs collide; a frame may hold several levels.
            let (gfn, level) = (rnd(700), 1 + rnd(4) as u8);
            if pool.find(gfn, level, false).is_some() {
                continue;
            }
            let host = 0x1_0000_0000 + step * 0x1000;
            pool.get_mut(s).unwrap().meta = SptMeta {
                live: true,
                gfn,
                host,
                level,
                refs: 1,
                ..SptMeta::default()
            };
            pool.insert(s);
            live.push((s, gfn, host, level));
        } else {
            let (s, ..) = live.swap_remove(rnd(live.len() as u64) as usize);
            pool.remove(s);
            pool.get_mut(s).unwrap().meta.live = false;
        }
        if step % 500 == 0 {
            for &(s, gfn, host, level) in &live {
                assert_eq!(pool.find(gfn, level, false), Some(s), "step {step}");
                assert_eq!(pool.by_host(host), Some(s), "step {step}");
            }
            assert_eq!(pool.live(), live.len());
        }
    }
    for (s, ..) in live.drain(..) {
        pool.remove(s);
        pool.get_mut(s).unwrap().meta.live = false;
    }
    assert!(tables
        .by_gfn
        .iter()
        .chain(tables.by_host.iter())
        .all(|&b| b == 0));
}

#[test]
fn each_table_event_names_its_table() {
    use gvt::model::ppgtt::log::SptEventKind::{Alloc, Reread};
    let mut vm = Vm::new();
    let a = 0x10_0000;
    vm.tree(a, 0x80_0000);
    let events = |vm: &mut Vm, on| {
        let mut v = Vec::new();
        vm.spts
            .pool()
            .drain_events(on, |e| v.push((e.kind, e.level, e.gfn, e.arg)));
        v
    };
    // Nothing is recorded until the glue asks.
    let ra = vm.pin(a);
    assert!(events(&mut vm, true).is_empty());
    vm.set(a + 0x3000, 0, 0x81_0000 | RW);
    vm.sync(&[ra]);
    // The four tables of a new tree, PML4 first; then the page table the guest changed.
    let b = 0x20_0000;
    vm.tree(b, 0x90_0000);
    vm.pin(b);
    let got = events(&mut vm, false);
    assert_eq!(got.first(), Some(&(Reread, 1, (a + 0x3000) >> 12, 1)));
    let built: Vec<_> = got
        .iter()
        .skip(1)
        .map(|&(k, level, gfn, _)| (k, level, gfn))
        .collect();
    assert_eq!(
        built,
        [4u8, 3, 2, 1]
            .iter()
            .zip(0u64..)
            .map(|(&l, i)| (Alloc, l, (b >> 12) + i))
            .collect::<Vec<_>>()
    );
    assert!(
        got.iter().skip(1).all(|e| e.3 != 0),
        "the shadow page's address"
    );
}
