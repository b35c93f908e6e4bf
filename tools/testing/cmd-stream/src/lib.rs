//! Gen9 command streams as a stock i915 and Mesa emit them, for the command scanner's and the
//! sim engines' tests, fuzz targets and benchmark; plus the memories those run against: a
//! [`BatchMem`] (graphics address to bytes, copied once per batch as the workload code will)
//! and a [`PageMemory`] (the sim's host memory as a map of pages).
//!
//! Headers are spelled from the hardware encodings (i915's `MI_INSTR`, genxml's
//! pipeline/opcode/sub-opcode), not from the scanner's table, so the corpus checks the table.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use gvt::model::cmd_scanner::{AddrSpace, BatchSource};
use gvt::sim::engine::HostMemory;

/// i915's `MI_INSTR(opcode, flags)`.
pub const fn mi(op: u32, flags: u32) -> u32 {
    (op << 23) | flags
}

/// A type-3 header: pipeline (bits 28:27), opcode (26:24), sub-opcode (23:16), `len` dwords.
pub const fn gfx(pipeline: u32, op: u32, sub: u32, len: u32) -> u32 {
    (3 << 29) | (pipeline << 27) | (op << 24) | (sub << 16) | (len - 2)
}

/// A 2D (blitter) header: opcode bits 28:22, `len` dwords.
pub const fn blt(op: u32, len: u32) -> u32 {
    (2 << 29) | (op << 22) | (len - 2)
}

/// `PIPE_CONTROL` flags i915 and Mesa use.
pub mod pc {
    /// Command streamer stall.
    pub const CS_STALL: u32 = 1 << 20;
    /// Global GTT post-sync address.
    pub const GLOBAL_GTT: u32 = 1 << 24;
    /// Post-sync: write immediate data.
    pub const QW_WRITE: u32 = 1 << 14;
    /// Post-sync: write the timestamp.
    pub const TIMESTAMP: u32 = 3 << 14;
    /// Post-sync register write.
    pub const MMIO_WRITE: u32 = 1 << 23;
    /// Address is an offset in the status page.
    pub const STORE_DATA_INDEX: u32 = 1 << 21;
    /// Raise the notify interrupt.
    pub const NOTIFY: u32 = 1 << 8;
    /// Flushes and invalidations of a render flush.
    pub const FLUSHES: u32 = (1 << 12) | (1 << 0) | (1 << 5) | (1 << 16) | (1 << 28);
    /// Invalidations of a render invalidate.
    pub const INVALIDATES: u32 = (1 << 18) | (1 << 11) | (1 << 10) | (1 << 4) | (1 << 3) | (1 << 2);
}

/// A command stream under construction.
#[derive(Clone, Default)]
pub struct Stream {
    /// The dwords so far.
    pub dw: Vec<u32>,
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Stream {
        Stream::default()
    }

    /// The stream as little-endian bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.dw.iter().flat_map(|d| d.to_le_bytes()).collect()
    }

    /// Current length in bytes.
    pub fn len_bytes(&self) -> u32 {
        (self.dw.len() * 4) as u32
    }

    /// Appends raw dwords.
    pub fn raw(&mut self, d: &[u32]) -> &mut Stream {
        self.dw.extend_from_slice(d);
        self
    }

    /// A command of `len` dwords with header `h` and zero payload (state whose content the
    /// scanner does not look at).
    pub fn cmd(&mut self, h: u32, len: u32) -> &mut Stream {
        self.dw.push(h);
        self.dw.resize(self.dw.len() + len as usize - 1, 0);
        self
    }

    /// `MI_NOOP`.
    pub fn noop(&mut self) -> &mut Stream {
        self.raw(&[0])
    }

    /// `MI_ARB_CHECK`.
    pub fn arb_check(&mut self) -> &mut Stream {
        self.raw(&[mi(0x05, 0)])
    }

    /// `MI_ARB_ON_OFF`.
    pub fn arb(&mut self, on: bool) -> &mut Stream {
        self.raw(&[mi(0x08, u32::from(on))])
    }

    /// `MI_USER_INTERRUPT`.
    pub fn user_interrupt(&mut self) -> &mut Stream {
        self.raw(&[mi(0x02, 0)])
    }

    /// `MI_BATCH_BUFFER_END`.
    pub fn bb_end(&mut self) -> &mut Stream {
        self.raw(&[mi(0x0a, 0)])
    }

    /// `MI_BATCH_BUFFER_START_GEN8`, PPGTT or GGTT, second-level or not.
    pub fn bb_start(&mut self, addr: u64, ppgtt: bool, second: bool) -> &mut Stream {
        let h = mi(0x31, 1) | (u32::from(ppgtt) << 8) | (u32::from(second) << 22);
        self.raw(&[h, addr as u32, (addr >> 32) as u32])
    }

    /// `MI_STORE_DWORD_IMM_GEN4`, through the GGTT (`MI_USE_GGTT`) or the PPGTT.
    pub fn sdi(&mut self, addr: u64, ggtt: bool, v: u32) -> &mut Stream {
        self.raw(&[
            mi(0x20, 2) | (u32::from(ggtt) << 22),
            addr as u32,
            (addr >> 32) as u32,
            v,
        ])
    }

    /// `MI_STORE_QWORD_IMM_GEN8`.
    pub fn sqi(&mut self, addr: u64, ggtt: bool, v: u64) -> &mut Stream {
        let h = mi(0x20, 3) | (1 << 21) | (u32::from(ggtt) << 22);
        self.raw(&[
            h,
            addr as u32,
            (addr >> 32) as u32,
            v as u32,
            (v >> 32) as u32,
        ])
    }

    /// `MI_STORE_DWORD_INDEX`: dword at `off` in the status page.
    pub fn store_index(&mut self, off: u32, v: u32) -> &mut Stream {
        self.raw(&[mi(0x21, 1), off, v])
    }

    /// `MI_LOAD_REGISTER_IMM` of `pairs`.
    pub fn lri(&mut self, pairs: &[(u32, u32)]) -> &mut Stream {
        self.dw.push(mi(0x22, 2 * pairs.len() as u32 - 1));
        for &(r, v) in pairs {
            self.dw.extend([r, v]);
        }
        self
    }

    /// `MI_STORE_REGISTER_MEM_GEN8`.
    pub fn srm(&mut self, reg: u32, addr: u64, ggtt: bool) -> &mut Stream {
        self.raw(&[
            mi(0x24, 2) | (u32::from(ggtt) << 22),
            reg,
            addr as u32,
            (addr >> 32) as u32,
        ])
    }

    /// `MI_LOAD_REGISTER_MEM_GEN8`.
    pub fn lrm(&mut self, reg: u32, addr: u64, ggtt: bool) -> &mut Stream {
        self.raw(&[
            mi(0x29, 2) | (u32::from(ggtt) << 22),
            reg,
            addr as u32,
            (addr >> 32) as u32,
        ])
    }

    /// `MI_LOAD_REGISTER_REG`.
    pub fn lrr(&mut self, src: u32, dst: u32) -> &mut Stream {
        self.raw(&[mi(0x2a, 1), src, dst])
    }

    /// `PIPE_CONTROL` (6 dwords, gen8+).
    pub fn pipe_control(&mut self, flags: u32, addr: u64, v: u64) -> &mut Stream {
        self.raw(&[
            gfx(3, 2, 0, 6),
            flags,
            addr as u32,
            (addr >> 32) as u32,
            v as u32,
            (v >> 32) as u32,
        ])
    }

    /// `MI_FLUSH_DW` with a post-sync dword store (4 dwords), i915's xcs breadcrumb.
    pub fn flush_dw(&mut self, addr: u64, ggtt: bool, v: u32, notify: bool) -> &mut Stream {
        let h = mi(0x26, 2) | (1 << 14) | (u32::from(notify) << 8);
        self.raw(&[
            h,
            addr as u32 | (u32::from(ggtt) << 2),
            (addr >> 32) as u32,
            v,
        ])
    }

    /// `MI_FLUSH_DW` with no post-sync operation (invalidate).
    pub fn flush_dw_plain(&mut self) -> &mut Stream {
        self.raw(&[mi(0x26, 2) | (1 << 18) | (1 << 7), 0, 0, 0])
    }

    /// `MI_SEMAPHORE_WAIT` polling the GGTT dword at `addr` until it equals `v`.
    pub fn semaphore_wait_eq(&mut self, addr: u64, v: u32) -> &mut Stream {
        self.semaphore_wait(addr, sem::EQ, v)
    }

    /// `MI_SEMAPHORE_WAIT | MI_SEMAPHORE_GLOBAL_GTT | MI_SEMAPHORE_POLL | op` on the GGTT dword
    /// at `addr` against `v`, as i915's selftests emit it (`emit_wait`).
    pub fn semaphore_wait(&mut self, addr: u64, op: u32, v: u32) -> &mut Stream {
        let h = mi(0x1c, 2) | (1 << 22) | (1 << 15) | op;
        self.raw(&[h, v, addr as u32, (addr >> 32) as u32])
    }

    /// `MI_MATH(n)` with the ALU instructions `alu` (`alu::*`).
    pub fn math(&mut self, alu: &[u32]) -> &mut Stream {
        self.dw.push(mi(0x1a, alu.len() as u32 - 1));
        self.dw.extend_from_slice(alu);
        self
    }

    /// `MI_COPY_MEM_MEM`: the dword at `src` to `dst`, each through the GGTT if asked (bits 22
    /// and 21 of the header).
    pub fn copy_mem_mem(
        &mut self,
        dst: u64,
        dst_ggtt: bool,
        src: u64,
        src_ggtt: bool,
    ) -> &mut Stream {
        let h = mi(0x2e, 3) | (u32::from(src_ggtt) << 22) | (u32::from(dst_ggtt) << 21);
        self.raw(&[
            h,
            dst as u32,
            (dst >> 32) as u32,
            src as u32,
            (src >> 32) as u32,
        ])
    }
}

/// `MI_SEMAPHORE_WAIT` compare operations (`MI_SEMAPHORE_SAD_*_SDD`, intel_gpu_commands.h).
pub mod sem {
    /// Memory value greater than the operand.
    pub const GT: u32 = 0 << 12;
    /// Greater or equal.
    pub const GTE: u32 = 1 << 12;
    /// Equal.
    pub const EQ: u32 = 4 << 12;
    /// Not equal.
    pub const NEQ: u32 = 5 << 12;
}

/// `MI_MATH` ALU instructions (`MI_MATH_*`, i915 6.12 gt/intel_gpu_commands.h).
pub mod alu {
    const fn instr(op: u32, a: u32, b: u32) -> u32 {
        (op << 20) | (a << 10) | b
    }
    /// Operand: source A.
    pub const SRCA: u32 = 0x20;
    /// Operand: source B.
    pub const SRCB: u32 = 0x21;
    /// Operand: the accumulator.
    pub const ACCU: u32 = 0x31;
    /// Operand: the zero flag.
    pub const ZF: u32 = 0x32;
    /// Operand: the carry flag.
    pub const CF: u32 = 0x33;
    /// `MI_MATH_LOAD(a, b)`.
    pub const fn load(a: u32, b: u32) -> u32 {
        instr(0x080, a, b)
    }
    /// `MI_MATH_LOADINV(a, b)`.
    pub const fn loadinv(a: u32, b: u32) -> u32 {
        instr(0x480, a, b)
    }
    /// `MI_MATH_LOAD0(a)`.
    pub const fn load0(a: u32) -> u32 {
        instr(0x081, a, 0)
    }
    /// `MI_MATH_LOAD1(a)`.
    pub const fn load1(a: u32) -> u32 {
        instr(0x481, a, 0)
    }
    /// `MI_MATH_ADD`.
    pub const ADD: u32 = instr(0x100, 0, 0);
    /// `MI_MATH_SUB`.
    pub const SUB: u32 = instr(0x101, 0, 0);
    /// `MI_MATH_AND`.
    pub const AND: u32 = instr(0x102, 0, 0);
    /// `MI_MATH_OR`.
    pub const OR: u32 = instr(0x103, 0, 0);
    /// `MI_MATH_XOR`.
    pub const XOR: u32 = instr(0x104, 0, 0);
    /// `MI_MATH_STORE(a, b)`.
    pub const fn store(a: u32, b: u32) -> u32 {
        instr(0x180, a, b)
    }
    /// `MI_MATH_STOREINV(a, b)`.
    pub const fn storeinv(a: u32, b: u32) -> u32 {
        instr(0x580, a, b)
    }
}

/// i915's emission on Gen9 with execlists (intel_execlists_submission.c, gen8_engine_cs.c).
pub mod i915 {
    use super::*;

    /// Gen9 context workaround registers i915 loads with LRI on the render engine (gen9 and
    /// SKL/BXT/KBL `*_ctx_workarounds_init`).
    pub const CTX_WA_REGS: [u32; 14] = [
        0x7004, 0x7014, 0x2580, 0xe184, 0xe4f0, 0xe188, 0xe194, 0x5588, 0xe180, 0x7300, 0xe100,
        0x7000, 0x7008, 0x20d4,
    ];

    /// One request on the render engine: init breadcrumb, invalidate, the user batch (a PPGTT
    /// batch at `batch`), flush, fini breadcrumb writing `seqno` to `hwsp` (GGTT) and interrupt.
    pub fn request_rcs(s: &mut Stream, hwsp: u64, batch: u64, seqno: u32) {
        s.arb_check().noop();
        s.sdi(hwsp + 8, true, seqno - 1);
        s.pipe_control(
            pc::CS_STALL | pc::INVALIDATES | pc::QW_WRITE | pc::GLOBAL_GTT,
            hwsp + 0x80,
            0,
        );
        s.arb(true).bb_start(batch, true, false).arb(false).noop();
        s.pipe_control(pc::CS_STALL | pc::FLUSHES, 0, 0);
        s.pipe_control(
            pc::CS_STALL | pc::FLUSHES | pc::QW_WRITE | pc::GLOBAL_GTT,
            hwsp,
            u64::from(seqno),
        );
        s.user_interrupt().arb(true).noop();
    }

    /// One request on a copy/video engine: MI_FLUSH_DW breadcrumbs around a PPGTT batch.
    pub fn request_xcs(s: &mut Stream, hwsp: u64, batch: u64, seqno: u32) {
        s.arb_check().noop();
        s.sdi(hwsp + 8, true, seqno - 1);
        s.flush_dw_plain();
        s.arb(true).bb_start(batch, true, false).arb(false).noop();
        s.flush_dw(hwsp, true, seqno, false);
        s.user_interrupt().arb(true).noop();
    }

    /// The preemption busywait i915 ends requests with when semaphores are enabled.
    pub fn preempt_busywait(s: &mut Stream, hwsp: u64) {
        s.semaphore_wait_eq(hwsp + 0x100, 0).noop();
    }

    /// The context workaround LRIs and the MOCS/L3CC tables of the first render request.
    pub fn init_context(s: &mut Stream) {
        let wa: Vec<(u32, u32)> = CTX_WA_REGS.iter().map(|&r| (r, 0xffff_0000)).collect();
        s.lri(&wa);
        let mocs: Vec<(u32, u32)> = (0..62).map(|i| (0xc800 + 4 * i, 0x3b)).collect();
        s.lri(&mocs);
        let l3cc: Vec<(u32, u32)> = (0..32).map(|i| (0xb020 + 4 * i, 0x0030_0030)).collect();
        s.lri(&l3cc);
    }

    /// The indirect context batch of Gen9 (privileged, GGTT): the coherent-L3 workaround
    /// (SRM/LRM of L3SQCREG4 through a GGTT scratch) and padding, ending the batch.
    pub fn indirect_ctx(s: &mut Stream, scratch: u64) {
        s.srm(0xb118, scratch, true);
        s.lri(&[(0xb118, 0x4000_0000)]);
        s.pipe_control(pc::CS_STALL | (1 << 5), 0, 0);
        s.lrm(0xb118, scratch, true);
        s.noop().noop().bb_end();
    }

    /// Blits as the Gen9 BCS command parser shadows them into a privileged GGTT batch, with
    /// the register accesses that parser allows (timestamps, BCS_SWCTRL, GPRs).
    pub fn blit_batch(s: &mut Stream) {
        s.lri(&[(0x22200, 0x0003_0000)]); // BCS_SWCTRL
        s.cmd(blt(0x53, 10), 10); // XY_SRC_COPY_BLT
        s.cmd(blt(0x50, 7), 7); // XY_COLOR_BLT
        s.srm(0x22358, 0x10_0000, false)
            .srm(0x223a8, 0x10_0008, false)
            .lrr(0x223a8, 0x22600);
        s.flush_dw_plain();
    }
}

/// Mesa's (iris/anv) Gen9 emission into user (PPGTT) batches.
pub mod mesa {
    use super::*;

    /// A 3D draw: pipeline select, base addresses, the full state a draw needs, queries (results
    /// at PPGTT address `query`), the primitive, flushes.
    pub fn draw(s: &mut Stream, query: u64) {
        s.raw(&[gfx(1, 1, 4, 2) & !0xff | (3 << 8)]); // PIPELINE_SELECT 3D (one dword)
        s.cmd(gfx(0, 1, 1, 19), 19); // STATE_BASE_ADDRESS
        s.cmd(gfx(0, 1, 2, 3), 3); // STATE_SIP
        s.lri(&[
            (0x7000, 0x0040_0040),
            (0x7004, 0x0800_0800),
            (0x2580, 0x0200_0200),
            (0x7034, 0x6000_0060),
        ]);
        s.raw(&[gfx(1, 0, 0x0b, 2) & !0xff | 1]); // 3DSTATE_VF_STATISTICS (one dword)
        let state: &[(u32, u32, u32)] = &[
            (0, 0x0d, 2),  // MULTISAMPLE
            (0, 0x18, 2),  // SAMPLE_MASK
            (1, 0x1c, 9),  // SAMPLE_PATTERN
            (1, 0x19, 4),  // BINDING_TABLE_POOL_ALLOC
            (1, 0x12, 2),  // PUSH_CONSTANT_ALLOC_VS
            (1, 0x16, 2),  // PUSH_CONSTANT_ALLOC_PS
            (0, 0x30, 2),  // URB_VS
            (0, 0x31, 2),  // URB_HS
            (0, 0x32, 2),  // URB_DS
            (0, 0x33, 2),  // URB_GS
            (0, 0x08, 9),  // VERTEX_BUFFERS (2)
            (0, 0x09, 5),  // VERTEX_ELEMENTS (2)
            (0, 0x0a, 5),  // INDEX_BUFFER
            (0, 0x0c, 2),  // VF
            (0, 0x4b, 2),  // VF_TOPOLOGY
            (0, 0x4a, 2),  // VF_SGVS
            (0, 0x49, 3),  // VF_INSTANCING
            (0, 0x55, 5),  // VF_COMPONENT_PACKING
            (0, 0x10, 9),  // VS
            (0, 0x1b, 9),  // HS
            (0, 0x1c, 4),  // TE
            (0, 0x1d, 11), // DS
            (0, 0x11, 10), // GS
            (0, 0x1e, 5),  // STREAMOUT
            (1, 0x18, 8),  // SO_BUFFER
            (1, 0x17, 3),  // SO_DECL_LIST (empty)
            (0, 0x12, 4),  // CLIP
            (0, 0x13, 4),  // SF
            (0, 0x50, 5),  // RASTER
            (0, 0x1f, 6),  // SBE
            (0, 0x51, 11), // SBE_SWIZ
            (0, 0x14, 2),  // WM
            (0, 0x4e, 4),  // WM_DEPTH_STENCIL
            (0, 0x4c, 2),  // WM_CHROMAKEY
            (0, 0x20, 12), // PS
            (0, 0x4f, 2),  // PS_EXTRA
            (0, 0x4d, 2),  // PS_BLEND
            (0, 0x15, 11), // CONSTANT_VS
            (0, 0x17, 11), // CONSTANT_PS
            (0, 0x26, 2),  // BINDING_TABLE_POINTERS_VS
            (0, 0x2a, 2),  // BINDING_TABLE_POINTERS_PS
            (0, 0x2b, 2),  // SAMPLER_STATE_POINTERS_VS
            (0, 0x2f, 2),  // SAMPLER_STATE_POINTERS_PS
            (0, 0x21, 2),  // VIEWPORT_STATE_POINTERS_SF_CLIP
            (0, 0x23, 2),  // VIEWPORT_STATE_POINTERS_CC
            (0, 0x0f, 2),  // SCISSOR_STATE_POINTERS
            (0, 0x24, 2),  // BLEND_STATE_POINTERS
            (0, 0x0e, 2),  // CC_STATE_POINTERS
            (1, 0x00, 4),  // DRAWING_RECTANGLE
            (1, 0x0a, 3),  // AA_LINE_PARAMETERS
            (1, 0x06, 2),  // POLY_STIPPLE_OFFSET
            (1, 0x08, 3),  // LINE_STIPPLE
            (0, 0x05, 8),  // DEPTH_BUFFER
            (0, 0x07, 5),  // HIER_DEPTH_BUFFER
            (0, 0x06, 5),  // STENCIL_BUFFER
            (0, 0x04, 3),  // CLEAR_PARAMS
            (0, 0x52, 5),  // WM_HZ_OP
        ];
        for &(op, sub, len) in state {
            s.cmd(gfx(3, op, sub, len), len);
        }
        // Occlusion query start, indirect draw parameters, the draw, query end, flush.
        s.pipe_control(pc::CS_STALL | (2 << 14), query, 0);
        s.srm(0x2358, query + 0x40, false);
        s.lrm(0x2434, query + 0x80, false)
            .lrm(0x2438, query + 0x84, false)
            .lrr(0x2600, 0x2430);
        s.raw(&[mi(0x1a, 1), 0x0010_0000, 0x0020_0001]); // MI_MATH
        s.raw(&[mi(0x0c, 0)]); // MI_PREDICATE
        s.cmd(gfx(3, 3, 0, 7), 7); // 3DPRIMITIVE
        s.pipe_control(pc::CS_STALL | (2 << 14), query + 8, 0);
        s.sdi(query + 0x100, false, 1);
        s.pipe_control(pc::CS_STALL | pc::FLUSHES, 0, 0);
    }

    /// A compute dispatch: GPGPU pipeline, VFE, CURBE, descriptors, the walker, state flush.
    pub fn compute(s: &mut Stream) {
        s.raw(&[gfx(1, 1, 4, 2) & !0xff | (3 << 8) | 2]); // PIPELINE_SELECT GPGPU
        s.cmd(gfx(2, 0, 0, 9), 9); // MEDIA_VFE_STATE
        s.cmd(gfx(2, 0, 1, 4), 4); // MEDIA_CURBE_LOAD
        s.cmd(gfx(2, 0, 2, 4), 4); // MEDIA_INTERFACE_DESCRIPTOR_LOAD
        s.lri(&[(0x2500, 4), (0x2504, 1), (0x2508, 1)]); // GPGPU_DISPATCHDIM
        s.cmd(gfx(2, 1, 5, 15), 15); // GPGPU_WALKER
        s.cmd(gfx(2, 0, 4, 2), 2); // MEDIA_STATE_FLUSH
        s.pipe_control(pc::CS_STALL | pc::FLUSHES, 0, 0);
    }

    /// A video decode on VCS (intel-media/vaapi driver emission): MFX pipeline state, AVC
    /// state and slice objects.
    pub fn decode_avc(s: &mut Stream) {
        let mfx: &[(u32, u32, u32, u32)] = &[
            (0, 0, 0, 5),  // MFX_PIPE_MODE_SELECT
            (0, 0, 1, 6),  // MFX_SURFACE_STATE
            (0, 0, 2, 65), // MFX_PIPE_BUF_ADDR_STATE
            (0, 0, 3, 26), // MFX_IND_OBJ_BASE_ADDR_STATE
            (0, 0, 4, 10), // MFX_BSP_BUF_BASE_ADDR_STATE
            (1, 0, 0, 17), // MFX_AVC_IMG_STATE
            (1, 0, 1, 50), // MFX_AVC_QM_STATE
            (1, 0, 2, 71), // MFX_AVC_DIRECTMODE_STATE
            (1, 1, 6, 27), // MFD_AVC_DPB_STATE
            (1, 1, 5, 10), // MFD_AVC_PICID_STATE
            (1, 0, 3, 11), // MFX_AVC_SLICE_STATE
            (1, 0, 4, 10), // MFX_AVC_REF_IDX_STATE
            (1, 1, 8, 6),  // MFD_AVC_BSD_OBJECT
        ];
        for &(op, a, b, len) in mfx {
            let h = (3 << 29) | (2 << 27) | (op << 24) | (a << 21) | (b << 16) | (len - 2);
            s.cmd(h, len);
        }
        s.raw(&[(3 << 29) | (1 << 27) | (1 << 8)]); // MFX_WAIT (one dword, MFX sync)
        s.flush_dw_plain();
    }

    /// A video enhancement pass on VECS: VEBOX state, surfaces, the DI/IECP object.
    pub fn vebox(s: &mut Stream) {
        let h = |a: u32, b: u32, len: u32| {
            (3 << 29) | (2 << 27) | (4 << 24) | (a << 21) | (b << 16) | (len - 2)
        };
        s.cmd(h(0, 2, 9), 9); // VEBOX_STATE
        s.cmd(h(0, 0, 6), 6); // VEBOX_SURFACE_STATE
        s.cmd(h(0, 0, 6), 6);
        s.cmd(h(0, 3, 20), 20); // VEB_DI_IECP
        s.flush_dw_plain();
    }
}

/// Batch buffers by graphics address; each load copies up to 64 KiB (or to the end of what is
/// there) into its slot, once, as the workload code copies a guest batch.
#[derive(Default)]
pub struct BatchMem {
    /// Buffers by `(space, address)`.
    pub bufs: HashMap<(bool, u64), Vec<u8>>,
    slots: Vec<Vec<u8>>,
    /// How many loads were made.
    pub loads: usize,
}

impl BatchMem {
    /// Puts `bytes` at `addr` in the PPGTT (`ppgtt`) or the GGTT.
    pub fn put(&mut self, ppgtt: bool, addr: u64, bytes: Vec<u8>) {
        self.bufs.insert((ppgtt, addr), bytes);
    }
}

impl BatchSource for BatchMem {
    fn load(&mut self, slot: usize, space: AddrSpace, addr: u64) -> bool {
        let Some(b) = self.bufs.get(&(space == AddrSpace::Ppgtt, addr)) else {
            return false;
        };
        let copy = b[..b.len().min(64 << 10)].to_vec();
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, Vec::new());
        }
        self.slots[slot] = copy;
        self.loads += 1;
        true
    }

    fn bytes(&self, slot: usize) -> &[u8] {
        self.slots.get(slot).map_or(&[], |v| v.as_slice())
    }
}

/// Host memory as a map of 4 KiB pages; reads and writes to pages not added fault.
#[derive(Default)]
pub struct PageMemory {
    pages: HashMap<u64, Box<[u8; 4096]>>,
}

impl PageMemory {
    /// Backs the page containing `addr` (zeroed).
    pub fn add_page(&mut self, addr: u64) {
        self.pages
            .entry(addr >> 12)
            .or_insert_with(|| Box::new([0; 4096]));
    }

    /// The dword at `addr` (0 if not backed).
    pub fn dw(&self, addr: u64) -> u32 {
        let mut b = [0u8; 4];
        self.peek(addr, &mut b);
        u32::from_le_bytes(b)
    }

    /// The qword at `addr` (0 if not backed).
    pub fn qw(&self, addr: u64) -> u64 {
        let mut b = [0u8; 8];
        self.peek(addr, &mut b);
        u64::from_le_bytes(b)
    }

    /// Reads `buf.len()` bytes at `addr`; false if any is not backed.
    pub fn peek(&self, addr: u64, buf: &mut [u8]) -> bool {
        for (i, b) in buf.iter_mut().enumerate() {
            let a = addr + i as u64;
            let Some(p) = self.pages.get(&(a >> 12)) else {
                return false;
            };
            *b = p[(a & 0xfff) as usize];
        }
        true
    }
}

impl HostMemory for PageMemory {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        self.peek(addr, buf)
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        for (i, b) in data.iter().enumerate() {
            let a = addr + i as u64;
            let Some(p) = self.pages.get_mut(&(a >> 12)) else {
                return false;
            };
            p[(a & 0xfff) as usize] = *b;
        }
        true
    }
}
