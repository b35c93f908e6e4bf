#![no_main]
//! Privileged (GGTT) batch buffers end to end, through the Gen9 scanner and batch shadowing:
//! VMs 0 and 2 write commands of their choosing (stores, batch starts, calls, chains, register
//! loads, ends, raw dwords) into their three bound batch pages and start them from the ring,
//! while VM 1 runs a privileged store of a fresh value at every submission. After every run
//! VM 1 is not in failsafe and its value landed (no hostile store reached it), and after the
//! input every batch shadow's GGTT mapping is gone.
use guest_model::gpu::mi;
use guest_model::Transport;
use gvt::model::execlist::csb;
use gvt::mpt::MptOps;
use gvt_fuzz::{ExecWorld, BOUND};
use libfuzzer_sys::fuzz_target;

const VICTIM: usize = 1;
/// The bound page VM 1 stores into.
const DATA: usize = BOUND - 1;

/// A graphics address for a hostile command: its own pages, the victim's, or anything.
fn target(w: &ExecWorld, vm: usize, pick: u32, any: u32) -> u64 {
    let own = &w.bound[vm];
    let theirs = &w.bound[VICTIM];
    match pick % 6 {
        0..=3 => own[pick as usize % BOUND].0 + u64::from(any & 0xffc),
        4 => theirs[(pick / 6) as usize % BOUND].0,
        _ => u64::from(any),
    }
}

fn put(t: &mut impl Transport, gpa: u64, cmds: &[u32]) {
    for (i, c) in (0u64..).zip(cmds) {
        let _ = t.ram_write(gpa.wrapping_add(i * 4), &c.to_le_bytes());
    }
}

/// Runs the GPU, then checks nothing put VM 1 in failsafe and, if it had submitted `value`,
/// that the store landed and its context switched in and completed, as its CSB tells it.
fn run_and_check(w: &mut ExecWorld, value: Option<u32>) {
    w.m.run();
    assert_eq!(
        w.m.vms[VICTIM].vgpu.failsafe(),
        None,
        "the victim went to failsafe"
    );
    if let Some(v) = value {
        let mut b = [0u8; 4];
        w.m.vms[VICTIM]
            .hv
            .read_gpa(w.bound[VICTIM][DATA].1, &mut b)
            .unwrap();
        assert_eq!(
            u32::from_le_bytes(b),
            v,
            "the victim's store was lost or overwritten"
        );
        let mut ev = [(0, 0); 6];
        let n = w.guests[VICTIM]
            .rcs
            .poll(&mut w.m.guest(VICTIM), &mut ev)
            .unwrap();
        let id = w.guests[VICTIM].ctx.id;
        assert_eq!(
            &ev[..n],
            &[
                (csb::IDLE_TO_ACTIVE, 0),
                (csb::ACTIVE_TO_IDLE | csb::COMPLETE, id)
            ],
            "victim's CSB"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    gvt_fuzz::batch_input(|w| {
        let mut round = 0u32;
        let mut pending = None;
        for op in data.chunks_exact(12) {
            let vm = if op[0] & 0x80 == 0 { 0 } else { 2 };
            let page = w.bound[vm][usize::from(op[1]) % (BOUND - 1)].1;
            let at = page + u64::from(u16::from_le_bytes([op[2], op[3]]) % 1024) * 4;
            let a = u32::from_le_bytes([op[4], op[5], op[6], op[7]]);
            let b = u32::from_le_bytes([op[8], op[9], op[10], op[11]]);
            let gm = target(w, vm, b, a);
            let (lo, hi) = (gm as u32, (gm >> 32) as u32);
            match op[0] & 0x7f {
                0..=15 => put(&mut w.m.guest(vm), at, &[a]),
                16..=23 => put(
                    &mut w.m.guest(vm),
                    at,
                    &[mi::STORE_DATA_IMM_GGTT, lo, hi, a],
                ),
                24..=31 => put(
                    &mut w.m.guest(vm),
                    at,
                    &[mi::BATCH_BUFFER_START_GGTT, lo, hi],
                ),
                32..=39 => put(
                    &mut w.m.guest(vm),
                    at,
                    &[mi::BATCH_BUFFER_CALL_GGTT, lo, hi],
                ),
                40..=43 => put(&mut w.m.guest(vm), at, &[0x1100_0001, a & 0x7f_fffc, b]),
                44..=51 => put(&mut w.m.guest(vm), at, &[mi::BATCH_BUFFER_END]),
                52..=55 => put(
                    &mut w.m.guest(vm),
                    at,
                    &[mi::BATCH_BUFFER_START_PPGTT, lo, hi],
                ),
                56..=63 => {
                    // PIPE_CONTROL with a post-sync GGTT write.
                    put(
                        &mut w.m.guest(vm),
                        at,
                        &[0x7a00_0004, (1 << 14) | (1 << 24), lo, hi, a, 0],
                    );
                }
                64..=111 => {
                    // Start one of the hostile VM's pages from its ring, and a victim round.
                    let start =
                        w.bound[vm][usize::from(op[1]) % (BOUND - 1)].0 + u64::from(op[2] & 0xfc);
                    let g = &mut w.guests[vm];
                    let mut t = w.m.guest(vm);
                    let ring = [
                        mi::BATCH_BUFFER_START_GGTT,
                        start as u32,
                        (start >> 32) as u32,
                        mi::USER_INTERRUPT,
                    ];
                    let _ = g
                        .ctx
                        .emit(&mut t, &ring)
                        .and_then(|()| g.ctx.publish(&mut t));
                    let _ = guest_model::gpu::submit(&mut t, &g.ctx, None);
                    // The victim, like i915, submits only once its last submission completed.
                    if pending.is_some() {
                        run_and_check(w, pending.take());
                    }
                    round += 1;
                    let value = 0x5a00_0000 | round;
                    let (batch, data) = (w.bound[VICTIM][0], w.bound[VICTIM][DATA]);
                    w.guests[VICTIM]
                        .submit_privileged(&mut w.m.guest(VICTIM), batch, data, value)
                        .unwrap();
                    pending = Some(value);
                }
                _ => {
                    run_and_check(w, pending.take());
                }
            }
        }
        run_and_check(w, pending.take());
        w.settle();
        assert_eq!(
            w.m.host.ggtt_mapped(),
            0,
            "a batch shadow outlived its workload"
        );
    });
});
