//! BAR0 below the GGTT: the register file, the tracked registers' handlers (forcewake, resets,
//! PCODE, power wells, PLL and PHY lock bits, GuC, ...) and PVINFO, as the guest i915 needs them
//! through probe and GT init, and the display registers (`display`) it modesets with.

use super::*;

impl<S: VgpuStorage> Vgpu<S> {
    /// Emulates a read of 1, 2, 4 or 8 bytes at `offset` in BAR0. Reads have side effects
    /// (a PVINFO read marks the guest GVT-aware, GUC_STATUS clears on read), hence `&mut`.
    pub fn mmio_read(&mut self, offset: u64, buf: &mut [u8]) -> Result {
        let n = if offset >= GGTT_MMIO_OFFSET {
            &mut self.stats.ggtt_reads
        } else {
            &mut self.stats.mmio_reads
        };
        *n = n.saturating_add(1);
        let r = self.bar0_read(offset, buf);
        if r.is_err() {
            self.refuse(Access::MmioRead, offset, buf.len());
            buf.fill(0);
        }
        r
    }

    /// Emulates a write of 1, 2, 4 or 8 bytes at `offset` in BAR0.
    pub fn mmio_write(
        &mut self,
        host: &dyn HostGpu,
        mpt: &mut dyn MptOps,
        offset: u64,
        data: &[u8],
    ) -> Result {
        let n = if offset >= GGTT_MMIO_OFFSET {
            &mut self.stats.ggtt_writes
        } else {
            &mut self.stats.mmio_writes
        };
        *n = n.saturating_add(1);
        let r = self.bar0_write(host, mpt, offset, data);
        if r.is_err() {
            self.refuse(Access::MmioWrite(le_value(data)), offset, data.len());
        }
        r
    }

    pub(super) fn bar0_read(&mut self, offset: u64, buf: &mut [u8]) -> Result {
        if offset >= GGTT_MMIO_OFFSET {
            return self.ggtt_read(offset.wrapping_sub(GGTT_MMIO_OFFSET), buf);
        }
        let off = reg_offset(offset, buf.len())?;
        if let Ok(dword) = <&mut [u8; 4]>::try_from(&mut *buf) {
            *dword = self.reg_read(off).to_le_bytes();
            return Ok(());
        }
        if buf.len() == 8 {
            let (lo, hi) = buf.split_at_mut(4);
            let a = self.reg_read(off);
            let b = self.reg_read(off.wrapping_add(4));
            lo.copy_from_slice(&a.to_le_bytes());
            hi.copy_from_slice(&b.to_le_bytes());
            return Ok(());
        }
        let v = self.reg_read(off & !3).to_le_bytes();
        let start = u32_as_usize(off & 3);
        let src = v
            .get(start..start.saturating_add(buf.len()))
            .ok_or(GvtError::Invalid)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    pub(super) fn bar0_write(
        &mut self,
        host: &dyn HostGpu,
        mpt: &mut dyn MptOps,
        offset: u64,
        data: &[u8],
    ) -> Result {
        if offset >= GGTT_MMIO_OFFSET {
            return self.ggtt_write(host, mpt, offset.wrapping_sub(GGTT_MMIO_OFFSET), data);
        }
        let off = reg_offset(offset, data.len())?;
        if let Ok(dword) = <[u8; 4]>::try_from(data) {
            return self.reg_write(host, mpt, off, u32::from_le_bytes(dword));
        }
        if let Some((lo, hi)) = data.split_first_chunk::<4>().filter(|_| data.len() == 8) {
            self.reg_write(host, mpt, off, u32::from_le_bytes(*lo))?;
            let hi: [u8; 4] = hi.try_into().map_err(|_| GvtError::Invalid)?;
            return self.reg_write(host, mpt, off.wrapping_add(4), u32::from_le_bytes(hi));
        }
        // A partial write merges into the register's current value.
        let aligned = off & !3;
        let mut b = self.vreg(aligned).to_le_bytes();
        let start = u32_as_usize(off & 3);
        b.get_mut(start..start.saturating_add(data.len()))
            .ok_or(GvtError::Invalid)?
            .copy_from_slice(data);
        self.reg_write(host, mpt, aligned, u32::from_le_bytes(b))
    }

    /// Reads one dword register.
    pub(super) fn reg_read(&mut self, off: u32) -> u32 {
        let handler = match self.table.lookup(off) {
            Some(def) => def.handler,
            None => match self.table.block(off) {
                Some(b) => b.handler,
                None => return self.vreg(off),
            },
        };
        if self.failsafe.is_some() && !handler.answers_in_failsafe() {
            return self.vreg(off);
        }
        match handler {
            Handler::Pvinfo => {
                self.pv_notified = true;
                self.vreg(off)
            }
            Handler::GucStatusRead => {
                let v = self.vreg(off);
                self.set_vreg(off, v & !GUC_STATUS::GS_MIA_IN_RESET.mask());
                v
            }
            Handler::DpllStatusRead => {
                let mut v = 0;
                for (reg, bit) in [
                    (LCPLL1_CTL::OFFSET, 0),
                    (LCPLL2_CTL::OFFSET, 8),
                    (WRPLL_CTL1::OFFSET, 16),
                    (WRPLL_CTL2::OFFSET, 24),
                ] {
                    if LCPLL1_CTL(self.vreg(reg)).is_set(LCPLL1_CTL::LCPLL_PLL_ENABLE) {
                        v |= 1u32.wrapping_shl(bit);
                    }
                }
                self.set_vreg(off, v);
                v
            }
            Handler::BxtPortTxDw3Read => {
                let v = self.vreg(off) & !PORT_TX_DW3_LN0_A::UNIQUE_TRANGE_EN_METHOD.mask();
                self.set_vreg(off, v);
                v
            }
            Handler::Fence => {
                if self.fence_index(off).is_some() {
                    self.vreg(off)
                } else {
                    0
                }
            }
            Handler::Gmbus => self.display_read(handler, off),
            _ => self.vreg(off),
        }
    }

    /// Writes one dword register.
    pub(super) fn reg_write(
        &mut self,
        host: &dyn HostGpu,
        mpt: &mut dyn MptOps,
        off: u32,
        v: u32,
    ) -> Result {
        let def = self.table.lookup(off);
        if self.failsafe.is_some() && !def.is_some_and(|d| d.handler.answers_in_failsafe()) {
            self.set_vreg(off, v);
            return Ok(());
        }
        let Some(def) = def else {
            return match self.table.block(off).map(|b| b.handler) {
                Some(Handler::Pvinfo) => {
                    self.pvinfo_write(off, v);
                    Ok(())
                }
                _ => {
                    self.set_vreg(off, v);
                    self.notice(Notice::Untracked { reg: off, value: v });
                    Ok(())
                }
            };
        };
        let old = self.vreg(off);
        if def.ro_mask == u32::MAX {
            self.notice(Notice::ReadOnly { reg: off, value: v });
            return Ok(());
        }
        let v = (v & !def.ro_mask) | (old & def.ro_mask);
        if def.handler == Handler::Default {
            let stored = if def.flags & F_MODE_MASK != 0 {
                masked_merge(old, v)
            } else {
                v
            };
            self.set_vreg(off, stored);
            return Ok(());
        }
        self.special_write(host, mpt, def.handler, off, old, v)?;
        if def.flags & F_MODE_MASK != 0 {
            let now = self.vreg(off);
            self.set_vreg(off, masked_merge(old, now));
        }
        Ok(())
    }

    pub(super) fn special_write(
        &mut self,
        host: &dyn HostGpu,
        mpt: &mut dyn MptOps,
        h: Handler,
        off: u32,
        old: u32,
        v: u32,
    ) -> Result {
        match h {
            Handler::Imr | Handler::Ier | Handler::Iir | Handler::MasterIrq => {
                irq::write(self.store.vreg_mut(), off, v);
                self.written.mark_irq();
                return self.deliver(mpt);
            }
            Handler::Transconf
            | Handler::DdiBufCtl
            | Handler::DpTpCtl
            | Handler::DpTpStatus
            | Handler::DpAuxCtl
            | Handler::Gmbus
            | Handler::Plane
            | Handler::CurBase => return self.display_write(mpt, h, off, v),
            Handler::ForceWake => {
                let new = (v & 0xffff_0000) | masked_merge(old, v);
                let ack = match off {
                    FORCEWAKE_RENDER_GEN9::OFFSET => FORCEWAKE_ACK_RENDER_GEN9::OFFSET,
                    FORCEWAKE_GT_GEN9::OFFSET => FORCEWAKE_ACK_GT_GEN9::OFFSET,
                    _ => FORCEWAKE_ACK_MEDIA_GEN9::OFFSET,
                };
                self.set_vreg(off, new);
                self.set_vreg(ack, new & 0xffff);
            }
            Handler::Gdrst => {
                let r = GEN6_GDRST(v);
                let kind = if r.is_set(GEN6_GDRST::GRDOM_FULL) {
                    Reset::GdrstFull
                } else {
                    let mut mask = 0;
                    for (f, e) in [
                        (GEN6_GDRST::GRDOM_RENDER, Engine::Rcs),
                        (GEN6_GDRST::GRDOM_MEDIA, Engine::Vcs),
                        (GEN6_GDRST::GRDOM_BLT, Engine::Bcs),
                        (GEN6_GDRST::GRDOM_VECS, Engine::Vecs),
                    ] {
                        if r.is_set(f) {
                            mask |= e.mask();
                        }
                    }
                    if r.is_set(GEN6_GDRST::GRDOM_GUC) {
                        let g = self.vreg(GUC_STATUS::OFFSET) | GUC_STATUS::GS_MIA_IN_RESET.mask();
                        self.set_vreg(GUC_STATUS::OFFSET, g);
                    }
                    Reset::GdrstEngines(mask & self.info.engines)
                };
                self.reset(host, mpt, kind)?;
                // The reset is done at once: every request bit self-clears, GRDOM_GUC too (no
                // GuC runs here), which gen6_hw_domain_reset waits 2 ms for, twice, and
                // intel_reset_guc through it (intel_reset.c).
                self.set_vreg(off, 0);
            }
            Handler::Fence => self.fence_write(host, off, v),
            Handler::PcodeMailbox => {
                let cmd = GEN6_PCODE_MAILBOX(v).get(GEN6_PCODE_MAILBOX::GEN6_PCODE_MB_COMMAND);
                let data = self.vreg(GEN6_PCODE_DATA::OFFSET);
                let pcode = self.info.platform.hw().pcode;
                let reply = match cmd {
                    // GEN9_PCODE_READ_MEM_LATENCY: latencies of a real part.
                    0x6 => pcode.mem_latency.get(usize::from(data != 0)).copied(),
                    // SKL_PCODE_CDCLK_CONTROL: ready for change.
                    0x7 if pcode.cdclk_control => Some(1),
                    // GEN9_PCODE_SAGV_CONTROL, GEN9_SAGV_DISABLE: now disabled.
                    0x21 if pcode.sagv && data == 0 => Some(1),
                    // GEN6_PCODE_READ_RC6VIDS.
                    0x5 => Some(data | 1),
                    _ => None,
                };
                if let Some(d) = reply {
                    self.set_vreg(GEN6_PCODE_DATA::OFFSET, d);
                }
                // Always ready, always successful.
                self.set_vreg(
                    off,
                    v & !(GEN6_PCODE_MAILBOX::GEN6_PCODE_READY.mask() | 0xff),
                );
            }
            Handler::PowerWellCtl => {
                let r = v & self.info.platform.hw().display.power_well_requests;
                self.set_vreg(off, r | (r >> 1));
            }
            Handler::DbufCtl => {
                let s = DBUF_CTL_S0::DBUF_POWER_STATE.mask();
                let on = DBUF_CTL_S0(v).is_set(DBUF_CTL_S0::DBUF_POWER_REQUEST);
                self.set_vreg(off, if on { v | s } else { v & !s });
            }
            Handler::BxtDePllEnable | Handler::BxtPortPllEnable | Handler::SklLcpll => {
                let lock = 1u32 << 30;
                let on = v & (1 << 31) != 0;
                let base = if h == Handler::SklLcpll {
                    v & ((1 << 31) | lock)
                } else {
                    v
                };
                self.set_vreg(off, if on { base | lock } else { base & !lock });
            }
            Handler::BxtPhyCtlFamily => {
                let lanes = if PHY_CTL_FAMILY_DDI(v).is_set(PHY_CTL_FAMILY_DDI::COMMON_RESET_DIS) {
                    BXT_PHY_CTL_DDI_A::BXT_PHY_LANE_ENABLED.mask()
                } else {
                    0
                };
                if off == PHY_CTL_FAMILY_EDP::OFFSET {
                    self.set_vreg(BXT_PHY_CTL_DDI_A::OFFSET, lanes);
                } else {
                    self.set_vreg(BXT_PHY_CTL_DDI_B::OFFSET, lanes);
                    self.set_vreg(BXT_PHY_CTL_DDI_C::OFFSET, lanes);
                }
                self.set_vreg(off, v);
            }
            Handler::BxtPcsDw12Grp => {
                let (a, b) = if off == PORT_PCS_DW12_GRP_C::OFFSET {
                    (0x400, 0x600)
                } else {
                    (0x600, 0x800)
                };
                self.set_vreg(off.wrapping_sub(a), v);
                self.set_vreg(off.wrapping_sub(b), v);
                self.set_vreg(off, v);
            }
            Handler::BxtGtDispPwron => {
                // bxt_dpio_phy_is_enabled wants power good with the reserved bit clear; PHY1
                // owns the RCOMP resistor and calibrates (GRC_DONE) as it powers up, which
                // PHY0's init waits for. Powered down, both go away.
                let good = BXT_PORT_CL1CM_DW0_BC::PHY_POWER_GOOD.mask();
                let reserved = BXT_PORT_CL1CM_DW0_BC::PHY_RESERVED.mask();
                let phys = [
                    (
                        BXT_P_CR_GT_DISP_PWRON::PHY0.mask(),
                        BXT_PORT_CL1CM_DW0_BC::OFFSET,
                        None,
                    ),
                    (
                        BXT_P_CR_GT_DISP_PWRON::PHY1.mask(),
                        BXT_PORT_CL1CM_DW0_A::OFFSET,
                        Some(BXT_PORT_REF_DW3_A::OFFSET),
                    ),
                ];
                for (bit, dw0, grc) in phys {
                    let on = v & bit != 0;
                    let x = self.vreg(dw0) & !reserved;
                    self.set_vreg(dw0, if on { x | good } else { x & !good });
                    if let Some(dw3) = grc {
                        let done = BXT_PORT_REF_DW3_A::GRC_DONE.mask();
                        let d = self.vreg(dw3);
                        self.set_vreg(dw3, if on { d | done } else { d & !done });
                    }
                }
                self.set_vreg(off, v);
            }
            Handler::RingEir => self.set_vreg(off, old & !v),
            Handler::BxtPpatLow => {
                // PPAT entries 0 and 3-7 snooped (CHV_PPAT_SNOOP, bit 6 of each byte), 1-2 not:
                // non-snooped guest batch buffers hang BXT (gvt-linux #112).
                self.set_vreg(off, 0x4000_0040);
            }
            Handler::RingResetCtl => {
                // gen8_engine_reset_prepare: a masked REQUEST_RESET, then READY_TO_RESET
                // within 700 us; gen8_engine_reset_cancel clears the request (intel_reset.c).
                // A vGPU's engine is always ready and never has a catastrophic error, which
                // i915 would wait for the hardware to clear.
                let ready = RING_RESET_CTL::RESET_CTL_READY_TO_RESET.mask();
                let req = RING_RESET_CTL::RESET_CTL_REQUEST_RESET.mask();
                let mut d = v & !RING_RESET_CTL::RESET_CTL_CAT_ERROR.mask();
                if masked_bits_enabled(v, req) {
                    d |= ready;
                } else if v & masked_bit_disable(req) != 0 {
                    d &= !ready;
                }
                self.set_vreg(off, d);
            }
            Handler::RingMiMode => {
                // intel_engine_stop_cs waits for MODE_IDLE after STOP_RING, and
                // intel_engine_is_idle reads it: the vGPU's work runs from shadows on the
                // host, never from a ring of its own, so the ring is idle and stops at once.
                // The write is merged as a masked one after this (F_MODE_MASK).
                self.set_vreg(off, v | masked_bit_enable(RING_MI_MODE::MODE_IDLE.mask()));
            }
            Handler::RingMode => {
                // Bit 0 (and on CFL bit 1) must stay off; enabling it means a guest we cannot run.
                let refused = self.info.platform.hw().gfx_mode_refused;
                self.set_vreg(off, v & !masked_bit_enable(refused));
                let run_list = RING_MODE_GEN7::GFX_RUN_LIST_ENABLE.mask();
                let ppgtt = RING_MODE_GEN7::GFX_PPGTT_ENABLE.mask();
                let enables = masked_bits_enabled(v, ppgtt) || masked_bits_enabled(v, run_list);
                if v & refused & (v >> 16) != 0 {
                    self.enter_failsafe(Cause::UnsupportedMode { reg: off, value: v });
                } else if enables && !self.pv_notified {
                    self.enter_failsafe(Cause::NotVgpuAware { reg: off });
                }
            }
            Handler::CsfeChicken1 => {
                self.set_vreg(off, v & !masked_bit_enable(0x18));
                if masked_bits_enabled(v, 0x10) || masked_bits_enabled(v, 0x8) {
                    self.enter_failsafe(Cause::UnsupportedMode { reg: off, value: v });
                }
            }
            Handler::GamwEchoDevRwIa => {
                let ips = v & GEN8_GAMW_ECO_DEV_RW_IA::GAMW_ECO_ENABLE_64K_IPS_FIELD.mask();
                if ips != 0 && ips != 0xf {
                    return Err(GvtError::Invalid);
                }
                self.set_vreg(off, v);
            }
            Handler::Trtte => {
                let t = TRTTE(v);
                if t.is_set(TRTTE::TRTTE_EN) && !t.is_set(TRTTE::TRTTE_VA_MODE) {
                    return Err(GvtError::Invalid);
                }
                self.set_vreg(off, v);
            }
            Handler::EdpPsrImrIir => self.set_vreg(off, 0),
            Handler::TlbControl => {
                let e = match off {
                    GEN8_RTCR::OFFSET => Engine::Rcs.mask(),
                    GEN8_M1TCR::OFFSET => Engine::Vcs.mask(),
                    GEN8_BTCR::OFFSET => Engine::Bcs.mask(),
                    GEN8_VTCR::OFFSET => Engine::Vecs.mask(),
                    _ => 0, // VCS1: not present on Gen9 GT2/BXT
                };
                self.tlb_pending |= e;
                self.set_vreg(off, 0);
            }
            Handler::GgttFlush => {
                self.set_vreg(off, v);
                self.flush_ggtt(host);
            }
            Handler::HwsPga => {
                if v != 0 && !self.part.owns_gm(u64::from(v), GTT_PAGE_SIZE) {
                    return Err(GvtError::Invalid);
                }
                self.set_vreg(off, v);
            }
            Handler::Mbctl => {
                self.set_vreg(off, v & !GEN6_MBCTL::GEN6_MBCTL_ENABLE_BOOT_FETCH.mask())
            }
            Handler::FpgaDbg => self.set_vreg(off, v & !FPGA_DBG::FPGA_DBG_RM_NOCLAIM.mask()),
            Handler::ForceNonpriv => {
                let target = v & 0x03ff_fffc;
                let nopid = RING_NOPID::offset(RENDER_RING_BASE);
                if mmio_table::FORCE_NONPRIV_WHITELIST
                    .binary_search(&target)
                    .is_ok()
                    || target == nopid
                {
                    self.set_vreg(off, v);
                } else {
                    self.refuse(Access::MmioWrite(u64::from(v)), u64::from(off), 4);
                }
            }
            Handler::Pvinfo => self.pvinfo_write(off, v),
            Handler::Elsp => self.elsp_write(off, v),
            Handler::Default
            | Handler::GucStatusRead
            | Handler::DpllStatusRead
            | Handler::BxtPortTxDw3Read => self.set_vreg(off, v),
        }
        Ok(())
    }

    pub(super) fn pvinfo_write(&mut self, off: u32, v: u32) {
        if (field::RSV5..field::RSV5 + 16).contains(&off) {
            self.enter_failsafe(Cause::ResourcesTooSmall);
            return;
        }
        if !pvinfo::guest_writable(off) {
            self.refuse(Access::MmioWrite(u64::from(v)), u64::from(off), 4);
            return;
        }
        match off {
            field::DISPLAY_READY => self.display_ready = v != 0,
            field::G2V_NOTIFY => {
                if let Some(
                    G2vNotify::PpgttL3Create
                    | G2vNotify::PpgttL3Destroy
                    | G2vNotify::PpgttL4Create
                    | G2vNotify::PpgttL4Destroy,
                ) = G2vNotify::from_u32(v)
                {
                    self.stats.ppgtt_notifications =
                        self.stats.ppgtt_notifications.saturating_add(1);
                }
                match G2vNotify::from_u32(v) {
                    Some(G2vNotify::PpgttL4Create) => self.push_g2v(true),
                    Some(G2vNotify::PpgttL4Destroy) => self.push_g2v(false),
                    _ => {}
                }
            }
            _ => {}
        }
        self.set_vreg(off, v);
    }
}

/// The register offset of a BAR0 access below the GGTT, checked for size and alignment.
pub(super) fn reg_offset(offset: u64, len: usize) -> Result<u32> {
    let off = u32::try_from(offset).map_err(|_| GvtError::Invalid)?;
    let end = off
        .checked_add(u32::try_from(len).map_err(|_| GvtError::Invalid)?)
        .ok_or(GvtError::Invalid)?;
    let ok = match len {
        8 => off % 8 == 0,
        4 => off % 4 == 0,
        2 => off % 2 == 0,
        1 => true,
        _ => false,
    };
    if !ok || end > MMIO_SIZE {
        return Err(GvtError::Invalid);
    }
    Ok(off)
}
