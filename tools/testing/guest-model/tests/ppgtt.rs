//! The shadow PPGTT without page tracking (kvmgt without KVM): a submission re-reads the tree
//! it runs on, each table once, and no other tree.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use guest_model::exec_host::ExecHost;
use guest_model::hv::MemHypervisor;
use gvt::model::ppgtt::{guest_translate, Env, Ppgtt, Spt, PTE_PRESENT};
use gvt::mpt::MptOps;

const RW: u64 = PTE_PRESENT | 2;

struct Vm {
    hv: MemHypervisor,
    host: ExecHost,
    spts: Vec<Spt>,
    scratch: [u8; 4096],
    ppgtt: Ppgtt,
}

impl Vm {
    fn new() -> Vm {
        Vm { hv: MemHypervisor::new(1, 16 << 20), host: ExecHost::default(), spts: vec![Spt::EMPTY; 32], scratch: [0; 4096], ppgtt: Ppgtt::default() }
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
        let mut env = Env { spts: &mut self.spts, scratch: &mut self.scratch, host: &self.host, mpt: &mut self.hv, ips: false };
        self.ppgtt.pin(&mut env, pml4).unwrap().0
    }

    /// Syncs before a submission on `roots`; returns the guest tables it re-read.
    fn sync(&mut self, roots: &[usize]) -> u64 {
        let before = self.ppgtt.stats().tables_revalidated;
        let mut env = Env { spts: &mut self.spts, scratch: &mut self.scratch, host: &self.host, mpt: &mut self.hv, ips: false };
        self.ppgtt.sync(&mut env, roots).unwrap();
        self.ppgtt.stats().tables_revalidated - before
    }

    fn translate(&self, pml4: u64, gva: u64) -> Option<u64> {
        guest_translate(&self.spts, pml4, gva)
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
