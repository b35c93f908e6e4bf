//! Every way into failsafe records what caused it, in words a person can act on: the
//! register, command, page table, submission or trapped write at fault, as the host log and
//! debugfs show it. The first cause sticks; a reset that leaves failsafe clears it (the guest's
//! own full reset: reset.rs). What a guest does that the vGPU notices without failsafe, too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::panic
)]

use guest_model::gpu::{self, mi, PTE_RW};
use guest_model::hv::Tracking;
use guest_model::machine::{Guest, Machine, Port, DATA_GVA, GUEST_RAM, RAM};
use guest_model::{Transport, TransportExt};
use gvt::model::cmd_scanner::{AddrSpace, Reason};
use gvt::model::error::GvtError;
use gvt::model::ppgtt::Fault;
use gvt::model::pvinfo::field;
use gvt::model::regs::*;
use gvt::model::report::{Cause, Notice, Place, Submission};
use gvt::model::vgpu::{Failsafe, Vgpu};

/// A guest action on a vGPU.
type Act<'a> = dyn Fn(&mut Port<'_>) + 'a;

/// The vGPU's cause and its text; the class debugfs shows is the cause's.
fn cause_of<S: gvt::model::vgpu::VgpuStorage>(v: &Vgpu<S>) -> (Cause, String) {
    let c = v.failsafe_cause().expect("in failsafe");
    assert_eq!(v.failsafe(), Some(c.class()));
    (c, c.to_string())
}

#[test]
fn register_writes_of_a_driver_that_cannot_run_on_a_vgpu() {
    // A device reset makes the vGPU's guest one that never read PVINFO.
    let mut m = Machine::new(1, Tracking::None);
    let mode = RING_MODE_GEN7::offset(RENDER_RING_BASE);
    let cases: [(&Act<'_>, Cause, Failsafe, &str); 4] = [
        (
            &|t| t.write32(mode, masked_bit_enable(1 << 15)).unwrap(),
            Cause::NotVgpuAware { reg: 0x229c },
            Failsafe::UnsupportedGuest,
            "guest turned execlists or PPGTT on (register 0x229c) without reading PVINFO: its driver does not know it runs on a vGPU",
        ),
        (
            &|t| t.write32(mode, masked_bit_enable(1)).unwrap(),
            Cause::UnsupportedMode { reg: 0x229c, value: 0x0001_0001 },
            Failsafe::UnsupportedGuest,
            "guest set a mode the vGPU does not emulate: 0x00010001 written to register 0x229c",
        ),
        (
            // Fence 5 of a vGPU with 4.
            &|t| {
                t.read32(FENCE_REG_GEN6_LO::OFFSET + 5 * 8).unwrap();
            },
            Cause::FenceOutOfRange { reg: 0x10_0028, fences: 4 },
            Failsafe::UnsupportedGuest,
            "guest used fence register 0x100028, past the vGPU's 4 fences, without reading PVINFO: its driver does not know it runs on a vGPU",
        ),
        (
            &|t| {
                t.read32(field::MAGIC).unwrap();
                t.write32(field::RSV5, 1).unwrap();
            },
            Cause::ResourcesTooSmall,
            Failsafe::InsufficientResource,
            "guest reported through PVINFO that the vGPU's graphics memory or fences are too small for it",
        ),
    ];
    for (act, cause, class, text) in cases {
        m.device_reset(0).unwrap();
        assert_eq!(
            (m.vms[0].vgpu.failsafe(), m.vms[0].vgpu.failsafe_cause()),
            (None, None),
            "a device reset clears it"
        );
        act(&mut m.guest(0));
        assert_eq!(cause_of(&m.vms[0].vgpu), (cause, text.to_string()));
        assert_eq!(cause.class(), class);
    }
    m.device_reset(0).unwrap();
    m.guest(0)
        .write32(
            CSFE_CHICKEN1::offset(RENDER_RING_BASE),
            masked_bit_enable(0x8),
        )
        .unwrap();
    assert_eq!(
        m.vms[0].vgpu.failsafe_cause(),
        Some(Cause::UnsupportedMode {
            reg: 0x20d4,
            value: 0x0008_0008
        })
    );
}

/// Guest 0 of a one-VM machine, its execution side set up.
fn machine(tracking: Tracking) -> (Machine, Guest) {
    let mut m = Machine::new(1, tracking);
    let g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 7).unwrap();
    (m, g)
}

fn machine_cause(m: &Machine) -> (Cause, String) {
    assert_eq!(
        m.vms[0].exec.stats().dispatched,
        0,
        "nothing of the guest reached the host"
    );
    cause_of(&m.vms[0].vgpu)
}

#[test]
fn submissions_the_core_cannot_run_say_what_is_wrong() {
    // ELSP garbage: element 0 is valid but neither privileged nor 4-level.
    let (mut m, _) = machine(Tracking::None);
    let mut t = m.guest(0);
    for v in [0xdead_beef, 0x1234_5678, 0xffff_ffff, 0x0000_1001] {
        t.write32(0x2230, v).unwrap();
    }
    assert_eq!(
        machine_cause(&m),
        (
            Cause::Submission { engine: Engine::Rcs, what: Submission::Descriptor(0xffff_ffff_0000_1001) },
            "submission refused on rcs0: context descriptor 0xffffffff00001001 is not valid, privileged and 4-level".to_string()
        )
    );

    // A context in the vGPU's graphics memory that its GGTT does not map.
    let (mut m, _) = machine(Tracking::None);
    let mut t = m.guest(0);
    let lrca = u64::from(t.read32(field::NONMAPPABLE_BASE).unwrap()) + (96 << 20);
    let d = lrca | gvt::model::execlist::CTX_PRIVILEGE | (3 << 3) | 1;
    for v in [0, 0, (d >> 32) as u32, d as u32] {
        t.write32(0x2230, v).unwrap();
    }
    let what = Submission::Context {
        lrca,
        err: GvtError::Fault,
    };
    assert_eq!(
        machine_cause(&m),
        (
            Cause::Submission { engine: Engine::Rcs, what },
            format!("submission refused on rcs0: context image at {lrca:#x} cannot be read through the GGTT (bad address)")
        )
    );

    // A context whose ring buffer is off.
    let (mut m, mut g) = machine(Tracking::None);
    let mut t = m.guest(0);
    let ctl = ((4 - 1) << 12) as u32; // RING_CTL of its 4-page ring, without the enable bit
    t.ram_write(g.ctx.regs + 0x0b * 4, &ctl.to_le_bytes())
        .unwrap();
    g.ctx.emit(&mut t, &[mi::NOOP, mi::NOOP]).unwrap();
    g.ctx.publish(&mut t).unwrap();
    gpu::submit(&mut t, &g.ctx, None).unwrap();
    let what = Submission::Ring {
        lrca: g.ctx.lrca,
        start: g.ctx.ring.0,
        ctl,
        head: 0,
        tail: 8,
    };
    assert_eq!(
        machine_cause(&m),
        (
            Cause::Submission { engine: Engine::Rcs, what },
            format!(
                "submission refused on rcs0: context {:#x}: ring buffer at {:#x} (RING_CTL 0x3000, head 0x0, tail 0x8) is off, out of its \
                 bounds or outside the vGPU's memory",
                g.ctx.lrca, g.ctx.ring.0
            )
        )
    );
}

#[test]
fn refused_commands_are_named_where_the_guest_put_them() {
    // In the ring, after a workload that ran: the offset is the ring's, not the slice's.
    let mut m = Machine::new(1, Tracking::None);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 7).unwrap();
    g.submit(&mut m.guest(0), &[DATA_GVA], 1, DATA_GVA + 4)
        .unwrap();
    m.run();
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
    let st = *m.vms[0].exec.stats();
    assert_eq!(
        (st.completed, st.completed_per_engine, st.scan_refusals),
        (1, [1, 0, 0, 0], 0)
    );
    let head = g.ctx.tail;
    assert_eq!(head, 0x20);
    let mut t = m.guest(0);
    g.ctx
        .emit(&mut t, &[mi::NOOP, 0x1100_0001, 0x941c, 1, mi::NOOP])
        .unwrap(); // LRI GEN6_GDRST
    g.ctx.publish(&mut t).unwrap();
    g.rcs.submit(&mut t, &g.ctx, None).unwrap();
    let c = cause_of(&m.vms[0].vgpu);
    assert_eq!(m.vms[0].exec.stats().scan_refusals, 1);
    assert_eq!(
        c,
        (
            Cause::Command {
                engine: Engine::Rcs,
                command: "MI_LOAD_REGISTER_IMM",
                header: 0x1100_0001,
                place: Place::Ring(0x24),
                reason: Reason::Register(0x941c)
            },
            "command refused on rcs0: MI_LOAD_REGISTER_IMM (header 0x11000001) at ring offset 0x24: register 0x941c not allowed".to_string()
        )
    );

    // In a privileged batch: the batch's graphics address and the offset in it.
    let mut m = Machine::new(1, Tracking::None);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 7).unwrap();
    let mut t = m.guest(0);
    let batch = g.bind(&mut t, 1).unwrap();
    for (i, c) in (0u64..).zip([
        mi::NOOP,
        mi::NOOP,
        mi::STORE_DATA_IMM_GGTT,
        0x1000,
        0,
        5,
        mi::BATCH_BUFFER_END,
        mi::NOOP,
    ]) {
        t.ram_write(batch.1 + i * 4, &c.to_le_bytes()).unwrap();
    }
    g.ctx
        .emit(
            &mut t,
            &[
                mi::BATCH_BUFFER_START_GGTT,
                batch.0 as u32,
                (batch.0 >> 32) as u32,
                mi::USER_INTERRUPT,
            ],
        )
        .unwrap();
    g.ctx.publish(&mut t).unwrap();
    g.rcs.submit(&mut t, &g.ctx, None).unwrap();
    let (c, text) = machine_cause(&m);
    assert_eq!(
        c,
        Cause::Command {
            engine: Engine::Rcs,
            command: "MI_STORE_DATA_IMM",
            header: mi::STORE_DATA_IMM_GGTT,
            place: Place::Batch {
                offset: 8,
                batch: Some((AddrSpace::Ggtt, batch.0))
            },
            reason: Reason::Address(0x1000)
        }
    );
    assert_eq!(
        text,
        format!(
            "command refused on rcs0: MI_STORE_DATA_IMM (header 0x10400002) at offset 0x8 of the GGTT batch at {:#x}: graphics address \
             0x1000 outside the vGPU's memory",
            batch.0
        )
    );
}

/// Writes `value` into the level-`level` entry for `gva` of a fresh guest's tables, submits a
/// workload, and returns the vGPU's cause and the entry's address.
fn entry_written(tracking: Tracking, gva: u64, level: u32, value: u64) -> ((Cause, String), u64) {
    let (mut m, mut g) = machine(tracking);
    let mut t = m.guest(0);
    let at = g
        .ppgtt
        .entry_addr(&mut t, &mut g.alloc, gva, level)
        .unwrap();
    t.ram_write(at, &value.to_le_bytes()).unwrap();
    g.submit(&mut t, &[DATA_GVA], 1, DATA_GVA + 4).unwrap();
    (machine_cause(&m), at)
}

#[test]
fn page_table_faults_name_the_table_entry_or_page() {
    // A page directory entry pointing past the VM's 64 MiB: the page table is not guest RAM.
    let (c, _) = entry_written(Tracking::None, DATA_GVA, 2, (2u64 << 40) | PTE_RW);
    let fault = Fault::Table {
        gfn: 0x2000_0000,
        level: 1,
        err: GvtError::Fault,
    };
    assert_eq!(
        c,
        (
            Cause::Ppgtt(fault),
            "page table outside guest RAM: gfn 0x20000000 (level 1, PT; bad address)".to_string()
        )
    );

    // A page table entry pointing there: the page is not guest RAM.
    let (c, _) = entry_written(Tracking::None, DATA_GVA, 1, (2u64 << 40) | PTE_RW);
    let fault = Fault::Page {
        gfn: 0x2000_0000,
        level: 1,
        err: GvtError::Fault,
    };
    assert_eq!(
        c,
        (
            Cause::Ppgtt(fault),
            "page outside guest RAM: gfn 0x20000000 (mapped by a PT; bad address)".to_string()
        )
    );

    // A 1 GiB page.
    let (c, pdpe) = entry_written(Tracking::AfterWrite, 0x40_0000_0000, 3, PTE_RW | (1 << 7));
    let fault = Fault::Entry {
        gfn: pdpe >> 12,
        level: 3,
        index: 256,
        value: 0x83,
    };
    assert_eq!(
        c,
        (
            Cause::Ppgtt(fault),
            format!(
                "page of 1 GiB or more (not supported): entry 256 = 0x83 of the PDP at gfn {:#x}",
                pdpe >> 12
            )
        )
    );
}

#[test]
fn a_page_table_broken_between_submission_and_dispatch_fails_at_dispatch() {
    // Without write tracking the core re-reads the tables before dispatch.
    let (mut m, mut g) = machine(Tracking::None);
    let mut t = m.guest(0);
    g.submit(&mut t, &[DATA_GVA], 1, DATA_GVA + 4).unwrap();
    assert_eq!(m.vms[0].vgpu.failsafe(), None, "accepted and queued");
    let mut t = m.guest(0);
    let pte = g
        .ppgtt
        .entry_addr(&mut t, &mut g.alloc, DATA_GVA, 1)
        .unwrap();
    t.ram_write(pte, &((3u64 << 40) | PTE_RW).to_le_bytes())
        .unwrap();
    m.run();
    let fault = Fault::Page {
        gfn: 0x3000_0000,
        level: 1,
        err: GvtError::Fault,
    };
    assert_eq!(machine_cause(&m).0, Cause::Ppgtt(fault));
}

#[test]
fn a_trapped_page_table_write_that_breaks_the_shadow() {
    let (mut m, mut g) = machine(Tracking::AfterWrite);
    g.submit(&mut m.guest(0), &[DATA_GVA], 1, DATA_GVA + 4)
        .unwrap();
    m.run();
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
    // The PDP is shadowed and write-protected now: a 1 GiB entry written into it traps.
    let mut t = m.guest(0);
    let pdpe = g
        .ppgtt
        .entry_addr(&mut t, &mut g.alloc, 0x40_0000_0000, 3)
        .unwrap();
    let traps = m.vms[0].traps;
    let mut t = m.guest(0);
    t.ram_write(pdpe, &(PTE_RW | (1 << 7)).to_le_bytes())
        .unwrap();
    assert_eq!(m.vms[0].traps, traps + 1);
    let fault = Fault::Entry {
        gfn: pdpe >> 12,
        level: 3,
        index: 256,
        value: 0x83,
    };
    assert_eq!(
        cause_of(&m.vms[0].vgpu),
        (
            Cause::PageTrackWrite { gpa: pdpe, fault },
            format!(
                "trapped write to a guest page table at {pdpe:#x} failed: page of 1 GiB or more (not supported): entry 256 = 0x83 of the PDP at \
                 gfn {:#x}",
                pdpe >> 12
            )
        )
    );
    // The tables stay shadowed and protected in failsafe, so the next such write fails too;
    // the first one is what happened.
    let next = pdpe + 8;
    m.guest(0)
        .ram_write(next, &(PTE_RW | (1 << 7)).to_le_bytes())
        .unwrap();
    assert_eq!(m.vms[0].traps, traps + 2);
    assert_eq!(
        m.vms[0].vgpu.failsafe_cause(),
        Some(Cause::PageTrackWrite { gpa: pdpe, fault })
    );
    // A device reset clears it.
    m.device_reset(0).unwrap();
    assert_eq!(m.vms[0].vgpu.failsafe_cause(), None);
}

#[test]
fn an_invalid_instruction_in_a_ring_is_a_notice_not_a_cause() {
    // i915's live_error_interrupt: the engine stops there with a CS error, as hardware does.
    let mut m = Machine::new(1, Tracking::None);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 7).unwrap();
    let mut t = m.guest(0);
    g.ctx
        .emit(
            &mut t,
            &[
                mi::STORE_DATA_IMM,
                DATA_GVA as u32,
                (DATA_GVA >> 32) as u32,
                7,
            ],
        )
        .unwrap();
    let bad = g.ctx.tail;
    g.ctx.emit(&mut t, &[0xdead_beef, 0xdead_beef]).unwrap();
    g.ctx.publish(&mut t).unwrap();
    let _ = m.vms[0].vgpu.take_notice();
    g.rcs.submit(&mut m.guest(0), &g.ctx, None).unwrap();
    let n = m.vms[0].vgpu.take_notice().expect("noticed");
    assert_eq!(
        n,
        Notice::InvalidCommand {
            engine: Engine::Rcs,
            ring_offset: bad,
            header: 0xdead_beef
        }
    );
    assert_eq!(
        n.to_string(),
        "invalid instruction (header 0xdeadbeef) at ring offset 0x10 on rcs0: what precedes it runs, then the guest sees a command streamer error"
    );
    assert!(!n.is_debug());
    m.run();
    assert_eq!(
        (
            m.vms[0].exec.stats().cs_errors,
            m.vms[0].vgpu.failsafe_cause()
        ),
        (1, None)
    );
}

#[test]
fn ppgtt_batches_are_scanned_on_the_engines_the_switch_names() {
    use guest_model::machine::BATCH_GVA;
    use gvt::model::host::HostGpu;
    use gvt::model::workload::Gen9Scanner;
    for engines in [0, Engine::Vcs.mask(), 0xff] {
        let mut m = Machine::new(1, Tracking::None);
        let mut s = Gen9Scanner::new(m.sim.info().platform, *m.vms[0].vgpu.partition());
        s.set_scan_ppgtt(engines);
        assert_eq!(
            s.scan_ppgtt(),
            engines & 0xf,
            "bits of no engine are dropped"
        );
        m.vms[0].scanner = s;
        let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 7).unwrap();
        let mut t = m.guest(0);
        // An LRI of GEN6_GDRST in the render engine's PPGTT batch.
        for (i, c) in (0u64..).zip([mi::NOOP, 0x1100_0001, 0x941c, 1, mi::BATCH_BUFFER_END]) {
            t.ram_write(g.batch + i * 4, &c.to_le_bytes()).unwrap();
        }
        let start = [
            mi::BATCH_BUFFER_START_PPGTT,
            BATCH_GVA as u32,
            (BATCH_GVA >> 32) as u32,
            mi::USER_INTERRUPT,
        ];
        g.ctx.emit(&mut t, &start).unwrap();
        g.ctx.publish(&mut t).unwrap();
        g.rcs.submit(&mut t, &g.ctx, None).unwrap();
        if engines & Engine::Rcs.mask() == 0 {
            // Left to the hardware, which runs it unprivileged.
            assert_eq!(m.vms[0].vgpu.failsafe(), None);
            continue;
        }
        assert_eq!(m.vms[0].exec.stats().scan_refusals, 1);
        assert_eq!(
            cause_of(&m.vms[0].vgpu).0,
            Cause::Command {
                engine: Engine::Rcs,
                command: "MI_LOAD_REGISTER_IMM",
                header: 0x1100_0001,
                place: Place::Batch {
                    offset: 4,
                    batch: Some((AddrSpace::Ppgtt, BATCH_GVA))
                },
                reason: Reason::Register(0x941c)
            }
        );
    }
}
