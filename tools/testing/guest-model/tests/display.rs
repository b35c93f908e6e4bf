//! The virtual display seen from a guest driver: EDID over AUX and GMBUS, DPCD and link
//! training, a modeset, vblanks against simulated time, sync and async flips, plane decoding
//! for the host, plane ownership (direct display) and hostile display programming.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use guest_model::direct::Direct;
use guest_model::hv::MemHypervisor;
use guest_model::modeset::{
    self, Framebuffer, Output, DE_PORT_IIR, GEN8_PIPE_VBLANK, PIPE_A_IIR, PLANE1_FLIP_DONE, SXGA,
};
use guest_model::probe;
use guest_model::readout;
use guest_model::rng::Rng;
use guest_model::storage::{vec_storage, VecStorage};
use guest_model::{platform, sim_host, sim_host_of, Error, Timer, Transport, TransportExt};
use gvt::model::display::edid::{self, Mode};
use gvt::model::display::owner::{Forward, OwnerPolicy};
use gvt::model::display::plane::{PlaneKind, Tiling, DRM_FORMAT_ARGB8888, DRM_FORMAT_XRGB8888};
use gvt::model::display::planes_on;
use gvt::model::display::regs::*;
use gvt::model::display::Pipe;
use gvt::model::error::GvtError;
use gvt::model::gvt::Gvt;
use gvt::model::host::HostGpu;
use gvt::model::hw::Platform;
use gvt::model::pvinfo::field;
use gvt::model::regs::{DPLL_STATUS, LCPLL1_CTL, LCPLL2_CTL};
use gvt::model::vgpu::{Reset, Vgpu};
use gvt::model::vgpu_type::{find_type, Resolution, VgpuConfig};

fn config(name: &str) -> VgpuConfig {
    find_type(name).unwrap().config
}

fn create(gvt: &mut Gvt, host: &dyn HostGpu, cfg: &VgpuConfig) -> Vgpu<VecStorage> {
    let n = Gvt::ggtt_entries_for(cfg).unwrap();
    gvt.create_vgpu(host, cfg, vec_storage(n))
        .map_err(|(e, _)| e)
        .unwrap()
}

/// A probed vGPU of type `name`, its VM and the monitor's output the guest found.
fn probed(
    gvt: &mut Gvt,
    host: &dyn HostGpu,
    name: &str,
    vm: u64,
) -> (Vgpu<VecStorage>, MemHypervisor, Output) {
    let mut v = create(gvt, host, &config(name));
    let mut hv = MemHypervisor::new(vm, 16 << 20);
    v.activate();
    let report = probe::probe(&mut Direct::new(&mut v, host, &mut hv)).unwrap();
    (v, hv, report.output)
}

fn fb_of(v: &Vgpu<VecStorage>, mode: &Mode, page: u32) -> Framebuffer {
    let stride = mode.hactive * 4;
    let size = stride * mode.vactive;
    let gm = v.partition().low.start as u32 + page * size.next_multiple_of(4096);
    Framebuffer { gm, stride }
}

/// Modesets the monitor's preferred mode; returns it.
fn light_up(t: &mut Direct<'_>, o: &Output) -> Mode {
    let edid = modeset::edid_over_aux(t, o, false).unwrap();
    let mode = modeset::preferred_mode(&edid).unwrap();
    let fb = fb_of(t.vgpu, &mode, 0);
    modeset::modeset(t, o, &mode, fb).unwrap();
    mode
}

#[test]
fn edid_reads_the_same_over_aux_and_gmbus() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    for (name, res) in [
        ("GVTg_V5_8", Resolution::R1024x768),
        ("GVTg_V5_4", Resolution::R1920x1200),
    ] {
        let (mut v, mut hv, o) = probed(&mut gvt, &host, name, 1);
        assert_eq!(
            (o.platform, o.port),
            (platform(), platform().hw().display.monitor_port)
        );
        let mut t = Direct::new(&mut v, &host, &mut hv);
        let aux = modeset::edid_over_aux(&mut t, &o, true).unwrap();
        let gmbus = modeset::edid_over_gmbus(&mut t, o.ddc_pin().unwrap()).unwrap();
        assert_eq!(aux, gmbus);
        assert_eq!(aux, edid::block(res));
        assert_eq!(&aux[..], t.vgpu.edid());
        // Header, manufacturer "GVT", EDID 1.4, DisplayPort input, checksum.
        assert_eq!(&aux[..8], &[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0]);
        assert_eq!(&aux[8..10], &[0x1e, 0xd4]);
        assert_eq!((aux[18], aux[19], aux[20]), (1, 4, 0xa5));
        assert_eq!(aux.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        assert_eq!(modeset::preferred_mode(&aux).unwrap(), Mode::of(res));
        // The EDID reads asked for the AUX-done interrupt.
        assert_ne!(t.read32(DE_PORT_IIR).unwrap() & o.aux_done(), 0);
        // Port C's pin: nobody answers.
        assert_eq!(
            modeset::edid_over_gmbus(&mut t, o.gmbus_pin(2).unwrap()),
            Err(Error::Probe("GMBUS NAK"))
        );
        // ... and the controller recovers for the next transfer.
        assert_eq!(
            modeset::edid_over_gmbus(&mut t, o.ddc_pin().unwrap()).unwrap(),
            aux
        );
        let store = gvt.destroy_vgpu(&host, &mut hv, v);
        drop(store);
    }
}

/// `n` bytes of EDID over GMBUS pin `pin` in one index read cycle.
fn gmbus_read(t: &mut Direct<'_>, pin: u32, n: u32) -> Vec<u8> {
    t.write32(GMBUS0::OFFSET, pin).unwrap();
    t.write32(
        GMBUS1::OFFSET,
        (1 << 30) | (3 << 25) | (n << 16) | (0x50 << 1) | 1,
    )
    .unwrap();
    let bytes: Vec<u8> = (0..n.div_ceil(4))
        .flat_map(|_| t.read32(GMBUS3::OFFSET).unwrap().to_le_bytes())
        .collect();
    t.write32(GMBUS1::OFFSET, (1 << 30) | (4 << 25)).unwrap();
    t.write32(GMBUS0::OFFSET, 0).unwrap();
    bytes
}

#[test]
fn a_custom_edid_replaces_the_monitor() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let (mut v, mut hv, o) = probed(&mut gvt, &host, "GVTg_V5_8", 1);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    modeset::enable_interrupts(&mut t, &o).unwrap();
    let (hpd, isr) = (o.hpd_bit(), o.hpd_isr());
    let custom = edid::block_for_mode(&SXGA);
    // A VMM's EDID update: link down, new EDID, link up; the guest sees both hotplugs.
    let msis = t.hv.msis.len();
    t.vgpu.display_hotplug(t.hv, false).unwrap();
    t.vgpu.set_edid(Some(&custom)).unwrap();
    t.write32(o.hpd_iir(), u32::MAX).unwrap();
    t.vgpu.display_hotplug(t.hv, true).unwrap();
    assert_eq!(t.hv.msis.len(), msis + 2);
    assert_ne!(t.read32(o.hpd_iir()).unwrap() & hpd, 0);
    assert_ne!(t.read32(isr).unwrap() & hpd, 0);
    let aux = modeset::edid_over_aux(&mut t, &o, false).unwrap();
    assert_eq!(aux, custom);
    assert_eq!(
        modeset::edid_over_gmbus(&mut t, o.ddc_pin().unwrap()).unwrap(),
        custom
    );
    assert_eq!(modeset::preferred_mode(&aux).unwrap(), SXGA);
    assert_eq!(t.vgpu.edid(), &custom[..]);
    // A corrupted blob, or one of the wrong size, is refused and the EDID stays.
    let mut bad = custom;
    bad[60] ^= 0x40;
    assert_eq!(t.vgpu.set_edid(Some(&bad)), Err(GvtError::Invalid));
    assert_eq!(
        t.vgpu.set_edid(Some(&custom[..100])),
        Err(GvtError::Invalid)
    );
    assert_eq!(t.vgpu.set_edid(Some(&[0u8; 384])), Err(GvtError::Invalid));
    assert_eq!(modeset::edid_over_aux(&mut t, &o, false).unwrap(), custom);
    // Two blocks: DDC reaches the extension after the base block.
    let mut two = vec![0u8; 256];
    two[..128].copy_from_slice(&custom);
    two[126] = 1;
    two[127] = two[127].wrapping_sub(1);
    two[128] = 0x02;
    two[129] = 0x03;
    two[255] = 0u8.wrapping_sub(5);
    t.vgpu.set_edid(Some(&two)).unwrap();
    let pin = o.ddc_pin().unwrap();
    assert_eq!(gmbus_read(&mut t, pin, 256), two);
    assert_eq!(
        gmbus_read(&mut t, pin, 260)[256..],
        [0, 0xff, 0xff, 0xff],
        "the offset wraps after 256 bytes"
    );
    // The monitor keeps its EDID across a device reset; None gives the type's back.
    t.vgpu.reset(&host, t.hv, Reset::DeviceModel).unwrap();
    assert_eq!(t.vgpu.edid(), &two[..]);
    t.vgpu.set_edid(None).unwrap();
    assert_eq!(t.vgpu.edid(), &edid::block(Resolution::R1024x768)[..]);
}

#[test]
fn dpcd_and_link_training() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let (mut v, mut hv, o) = probed(&mut gvt, &host, "GVTg_V5_8", 1);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let link = modeset::train_link(&mut t, &o).unwrap();
    assert_eq!(
        link.caps,
        [0x12, 0x14, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(link.after_cr, [0x11, 0x11, 0, 0, 0, 0]);
    assert_eq!(link.after_eq, [0x77, 0x77, 1, 0, 0, 0]);
    assert_eq!(link.sink_status, 3);
    let mut set = [0u8; 3];
    modeset::dpcd_read(&mut t, &o, 0x100, &mut set).unwrap();
    assert_eq!(set, [0x14, 0x84, 0]);
    let mut one = [0u8; 1];
    modeset::dpcd_read(&mut t, &o, 0x200, &mut one).unwrap();
    assert_eq!(one, [1], "one sink");
    // Past the sink's range: zeros, acknowledged; writes there are NAKed.
    let mut ext = [0xaau8; 16];
    modeset::dpcd_read(&mut t, &o, 0x2200, &mut ext).unwrap();
    assert_eq!(ext, [0; 16]);
    assert_eq!(
        modeset::dpcd_write(&mut t, &o, 0x6ff, &[1, 2]),
        Err(Error::Probe("DPCD write NAKed"))
    );
    modeset::dpcd_write(&mut t, &o, 0x600, &[1]).unwrap();
    modeset::dpcd_read(&mut t, &o, 0x600, &mut one).unwrap();
    assert_eq!(one, [1]);
}

#[test]
fn modeset_runs_vblanks_at_the_mode_rate() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let (mut v, mut hv, o) = probed(&mut gvt, &host, "GVTg_V5_8", 1);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let mode = light_up(&mut t, &o);
    // The state the driver polled for is in place.
    assert_eq!(t.read32(TRANSCONF::OFFSET).unwrap() >> 30, 3);
    let buf = t.read32(port_reg(DDI_BUF_CTL::OFFSET, o.port)).unwrap();
    assert_eq!(
        buf & (DDI_BUF_CTL::DDI_BUF_CTL_ENABLE.mask() | DDI_BUF_CTL::DDI_BUF_IS_IDLE.mask()),
        DDI_BUF_CTL::DDI_BUF_CTL_ENABLE.mask()
    );
    if o.lp() {
        assert_eq!(
            t.read32(BXT_PORT_PLL_ENABLE::OFFSET + 4 * o.port).unwrap() >> 30,
            3
        );
    } else {
        // The big cores' counterpart of Broxton's port PLL and PHY (see the PHY test in
        // tests/probe.rs): DPLL1 at HBR2 and locked, DPLL0 still the CD clock's, the DDI
        // clocked by DPLL1 (skl_ddi_get_pll, skl_ddi_is_clock_enabled), its IO well on.
        assert_eq!(t.read32(DPLL_STATUS::OFFSET).unwrap() & 0x0101, 0x0101);
        let rate = (t.read32(DPLL_CTRL1::OFFSET).unwrap()
            >> dpll_ctrl1_shift(modeset::SKL_DP_DPLL))
            & 0x3f;
        assert_eq!(rate, DPLL_CTRL1_OVERRIDE | (DPLL_CTRL1_LINK_RATE_2700 << 1));
        let ctrl2 = t.read32(DPLL_CTRL2::OFFSET).unwrap();
        assert_eq!((ctrl2 >> (o.port * 3)) & 7, (modeset::SKL_DP_DPLL << 1) | 1);
        assert_eq!(ctrl2 & (1 << (15 + o.port)), 0);
        assert_ne!(
            t.read32(gvt::model::regs::HSW_PWR_WELL_CTL2::OFFSET)
                .unwrap()
                & (1 << (2 * (o.port + 1))),
            0
        );
        assert_ne!(
            t.read32(LCPLL1_CTL::OFFSET).unwrap() & LCPLL1_CTL::LCPLL_PLL_LOCK.mask(),
            0
        );
    }
    // The refresh rate comes from the guest's timings and link M/N (within rounding).
    let refresh = t.vgpu.refresh_mhz(Pipe::A).unwrap();
    assert!(
        refresh.abs_diff(mode.refresh_mhz()) <= 5,
        "{refresh} vs {}",
        mode.refresh_mhz()
    );
    let period = 1_000_000_000_000 / u64::from(refresh);
    // Start the clock, then count frames against simulated time.
    t.sleep_ns(0).unwrap();
    let f0 = t.read32(PIPE_FRMCOUNT_G4X::OFFSET).unwrap();
    let msis = t.hv.msis.len();
    t.sleep_ns(period * 10 + period / 2).unwrap();
    assert_eq!(
        t.read32(PIPE_FRMCOUNT_G4X::OFFSET)
            .unwrap()
            .wrapping_sub(f0),
        10
    );
    t.sleep_ns(1_000_000_000 - period * 10 - period / 2)
        .unwrap();
    let frames = t
        .read32(PIPE_FRMCOUNT_G4X::OFFSET)
        .unwrap()
        .wrapping_sub(f0);
    assert_eq!(u64::from(frames), 1_000_000_000 / period);
    assert!(t.hv.msis.len() > msis, "vblank interrupts reach the guest");
    assert_ne!(t.read32(PIPE_A_IIR).unwrap() & GEN8_PIPE_VBLANK, 0);
    // A late timer loses no frames: one tick 5 periods late counts 5.
    let now = t.now_ns();
    let f1 = t.read32(PIPE_FRMCOUNT_G4X::OFFSET).unwrap();
    t.vgpu.display_tick(t.hv, now + 5 * period).unwrap();
    assert_eq!(t.read32(PIPE_FRMCOUNT_G4X::OFFSET).unwrap() - f1, 5);
    // No VM attached, no timer needed.
    t.vgpu.deactivate(t.hv).unwrap();
    assert_eq!(t.vgpu.display_deadline(), None);
    t.vgpu.activate();
    assert!(t.vgpu.display_deadline().is_some());
    // Disabling the pipe stops the clock.
    t.write32(TRANSCONF::OFFSET, 0).unwrap();
    assert_eq!(t.vgpu.display_deadline(), None);
    assert_eq!(t.read32(TRANSCONF::OFFSET).unwrap() >> 30, 0);
    // The frame counter is the hardware's: guest writes are dropped.
    t.write32(PIPE_FRMCOUNT_G4X::OFFSET, 0).unwrap();
    assert_eq!(t.read32(PIPE_FRMCOUNT_G4X::OFFSET).unwrap(), f1 + 5);
}

#[test]
fn sync_flips_complete_at_the_next_vblank_and_async_flips_at_once() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let (mut v, mut hv, o) = probed(&mut gvt, &host, "GVTg_V5_8", 1);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let mode = light_up(&mut t, &o);
    modeset::wait_vblank(&mut t).unwrap();
    let first = fb_of(t.vgpu, &mode, 0).gm;
    let second = fb_of(t.vgpu, &mode, 1).gm;
    assert_eq!(t.read32(PLANE_SURFLIVE::OFFSET).unwrap(), first);
    t.write32(PIPE_A_IIR, u32::MAX).unwrap();
    let flips = t.read32(PIPE_FLIPCOUNT_G4X::OFFSET).unwrap();
    modeset::flip(&mut t, second, false).unwrap();
    // Nothing completes before the vblank...
    t.sleep_ns(1_000_000).unwrap();
    assert_eq!(t.read32(PIPE_A_IIR).unwrap() & PLANE1_FLIP_DONE, 0);
    assert_eq!(t.read32(PLANE_SURFLIVE::OFFSET).unwrap(), first);
    assert_eq!(t.read32(PIPE_FLIPCOUNT_G4X::OFFSET).unwrap(), flips);
    // ... then the flip and the vblank arrive together.
    modeset::wait_vblank(&mut t).unwrap();
    let iir = t.read32(PIPE_A_IIR).unwrap();
    assert_eq!(
        iir & (PLANE1_FLIP_DONE | GEN8_PIPE_VBLANK),
        PLANE1_FLIP_DONE | GEN8_PIPE_VBLANK
    );
    assert_eq!(t.read32(PLANE_SURFLIVE::OFFSET).unwrap(), second);
    assert_eq!(t.read32(PIPE_FLIPCOUNT_G4X::OFFSET).unwrap(), flips + 1);
    // Async: done at the write, no time passing.
    t.write32(PIPE_A_IIR, u32::MAX).unwrap();
    let msis = t.hv.msis.len();
    let now = t.now_ns();
    modeset::flip(&mut t, first, true).unwrap();
    assert_eq!(t.now_ns(), now);
    assert_eq!(t.read32(PIPE_A_IIR).unwrap(), PLANE1_FLIP_DONE);
    assert_eq!(t.read32(PLANE_SURFLIVE::OFFSET).unwrap(), first);
    assert_eq!(t.hv.msis.len(), msis + 1);
    // A flip on a stopped pipe lands at once, without an event.
    modeset::disable_output(&mut t, &o).unwrap();
    t.write32(PIPE_A_IIR, u32::MAX).unwrap();
    t.write32(PLANE_SURF::OFFSET, second).unwrap();
    assert_eq!(t.read32(PLANE_SURFLIVE::OFFSET).unwrap(), second);
    assert_eq!(t.read32(PIPE_A_IIR).unwrap(), 0);
}

#[test]
fn planes_decode_for_the_host() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let (mut v, mut hv, o) = probed(&mut gvt, &host, "GVTg_V5_8", 1);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let mode = light_up(&mut t, &o);
    let fb = fb_of(t.vgpu, &mode, 0);
    let p = t.vgpu.query_plane(PlaneKind::Primary).unwrap();
    assert_eq!(
        (p.pipe, p.drm_format, p.bpp, p.tiling),
        (Pipe::A, DRM_FORMAT_XRGB8888, 32, Tiling::Linear)
    );
    assert_eq!((p.width, p.height, p.stride), (1024, 768, 4096));
    assert_eq!((p.gm, p.size), (u64::from(fb.gm), 4096 * 768));
    assert_eq!(p.tiling.modifier(), 0);
    assert_eq!(
        t.vgpu.query_plane(PlaneKind::Sprite),
        Err(GvtError::NoDevice)
    );
    assert_eq!(t.vgpu.plane_info(Pipe::B, 0), Err(GvtError::NoDevice));
    // X tiling: the stride register counts 512-byte tiles; rows round up to 8.
    let ctl = t.read32(PLANE_CTL::OFFSET).unwrap();
    t.write32(
        PLANE_CTL::OFFSET,
        PLANE_CTL(ctl).with(PLANE_CTL::PLANE_CTL_TILED_MASK, 1).0,
    )
    .unwrap();
    t.write32(PLANE_STRIDE::OFFSET, 8).unwrap();
    let p = t.vgpu.query_plane(PlaneKind::Primary).unwrap();
    assert_eq!((p.tiling, p.stride, p.size), (Tiling::X, 4096, 4096 * 768));
    assert_eq!(p.tiling.modifier(), (1 << 56) | 1);
    // The cursor, with its sign-magnitude position and the guest's hotspot.
    t.write32(CURCNTR::OFFSET, MCURSOR_MODE_64_ARGB_AX).unwrap();
    t.write32(CURBASE::OFFSET, fb.gm).unwrap();
    t.write32(CURPOS::OFFSET, (1 << 31) | (5 << 16) | 10)
        .unwrap();
    t.write32(field::CURSOR_X_HOT, 3).unwrap();
    t.write32(field::CURSOR_Y_HOT, 4).unwrap();
    let c = t.vgpu.query_plane(PlaneKind::Cursor).unwrap();
    assert_eq!(
        (c.drm_format, c.width, c.height, c.stride),
        (DRM_FORMAT_ARGB8888, 64, 64, 256)
    );
    assert_eq!((c.x_pos, c.y_pos, c.x_hot, c.y_hot), (10, -5, 3, 4));
    assert_eq!(t.read32(CURSURFLIVE::OFFSET).unwrap(), fb.gm);
    // Surfaces outside the vGPU's memory, strides too small or huge: refused.
    t.write32(PLANE_STRIDE::OFFSET, 0).unwrap();
    assert_eq!(
        t.vgpu.query_plane(PlaneKind::Primary),
        Err(GvtError::Invalid)
    );
    t.write32(PLANE_STRIDE::OFFSET, 0xfff).unwrap();
    assert_eq!(
        t.vgpu.query_plane(PlaneKind::Primary),
        Err(GvtError::Invalid),
        "2 MiB x 768 rows is past 64 MiB"
    );
    t.write32(PLANE_STRIDE::OFFSET, 8).unwrap();
    t.write32(PLANE_SURF::OFFSET, 0x1000).unwrap();
    assert_eq!(
        t.vgpu.query_plane(PlaneKind::Primary),
        Err(GvtError::Invalid)
    );
    let end = (t.vgpu.partition().low.end() - 4096) as u32;
    t.write32(PLANE_SURF::OFFSET, end).unwrap();
    assert_eq!(
        t.vgpu.query_plane(PlaneKind::Primary),
        Err(GvtError::Invalid),
        "runs off the end"
    );
    t.write32(PLANE_SIZE::OFFSET, 0xffff_ffff).unwrap();
    t.write32(PLANE_OFFSET::OFFSET, 0xffff_ffff).unwrap();
    assert_eq!(
        t.vgpu.query_plane(PlaneKind::Primary),
        Err(GvtError::Invalid)
    );
    // Formats and rotations a host cannot import.
    t.write32(
        PLANE_CTL::OFFSET,
        PLANE_CTL(ctl)
            .with(PLANE_CTL::PLANE_CTL_FORMAT_MASK_SKL, 1)
            .0,
    )
    .unwrap();
    assert_eq!(
        t.vgpu.query_plane(PlaneKind::Primary),
        Err(GvtError::NotSupported)
    );
    t.write32(
        PLANE_CTL::OFFSET,
        PLANE_CTL(ctl).with(PLANE_CTL::PLANE_CTL_ROTATE_MASK, 1).0,
    )
    .unwrap();
    assert_eq!(
        t.vgpu.query_plane(PlaneKind::Primary),
        Err(GvtError::NotSupported)
    );
    t.write32(CURCNTR::OFFSET, 0x04).unwrap();
    assert_eq!(
        t.vgpu.query_plane(PlaneKind::Cursor),
        Err(GvtError::NotSupported)
    );
    // Nothing runs, nothing to show.
    modeset::disable_output(&mut t, &o).unwrap();
    assert_eq!(
        t.vgpu.query_plane(PlaneKind::Primary),
        Err(GvtError::NoDevice)
    );
}

/// Every register of every universal plane on `pipes`.
fn plane_regs(pipes: &[Pipe]) -> Vec<u32> {
    let mut v = Vec::new();
    for &p in pipes {
        for plane in 0..4 {
            for reg in (0..0x48).step_by(4) {
                v.push(plane_reg(PLANE_CTL::OFFSET, p.index(), plane) + reg);
            }
        }
    }
    v
}

fn drain(v: &mut Vgpu<VecStorage>) -> Vec<Forward> {
    std::iter::from_fn(|| v.take_forward()).collect()
}

/// A `domain_plane_owners` nibble mask giving domain 1 the first `n` planes of a pipe.
fn first_planes(n: u32) -> u64 {
    (0..n).fold(0, |m, i| m | (1 << (4 * i)))
}

#[test]
fn only_a_planes_owner_reaches_the_hardware() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    // ACRN's example split: the host keeps pipe A, VM 1 gets every plane of pipes B and C
    // (on Broxton "0x011111110000" and "0x01010F").
    let p = platform();
    let [na, nb, nc] = [Pipe::A, Pipe::B, Pipe::C].map(|pipe| planes_on(p, pipe));
    let owners = format!("{:#x}", (first_planes(nb) << 16) | (first_planes(nc) << 32));
    let policy =
        OwnerPolicy::parse(p, &owners, &format!("{:#x}", 0x01_0100 | ((1 << na) - 1))).unwrap();
    gvt.set_plane_owners(policy).unwrap();
    let other = if p.hw().lp {
        Platform::Skylake
    } else {
        Platform::Broxton
    };
    let other = OwnerPolicy::parse(other, "0x0", "0x1").unwrap();
    assert_eq!(
        gvt.set_plane_owners(other),
        Err(GvtError::Invalid),
        "another platform's planes"
    );
    let mut buf = [0u8; 128];
    let n = gvt.plane_owners().show(&mut buf).unwrap();
    let table = format!(
        "Planes:\nPipe A:{}\nPipe B:{}\nPipe C:{}\n",
        " 0".repeat(na as usize),
        " 1".repeat(nb as usize),
        " 1".repeat(nc as usize)
    );
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), table);
    let (mut v1, mut hv1, _) = probed(&mut gvt, &host, "GVTg_V5_8", 1);
    let (mut v2, mut hv2, _) = probed(&mut gvt, &host, "GVTg_V5_8", 2);
    let owned = (((1u16 << nb) - 1) << 4) | (((1u16 << nc) - 1) << 8);
    assert_eq!(v1.id().get(), 1);
    assert_eq!(v1.planes_owned(), owned);
    assert_eq!(v2.planes_owned(), 0);
    assert_eq!(
        gvt.set_plane_owners(OwnerPolicy::disabled(p)),
        Err(GvtError::Busy)
    );
    assert!(drain(&mut v1).is_empty() && drain(&mut v2).is_empty());
    // Writes to planes a vGPU does not own never come out.
    let mut rng = Rng::new(7);
    for (v, hv, pipes) in [
        (&mut v1, &mut hv1, &[Pipe::A][..]),
        (&mut v2, &mut hv2, &Pipe::ALL[..]),
    ] {
        let mut t = Direct::new(v, &host, hv);
        for off in plane_regs(pipes) {
            t.write32(off, rng.next_u64() as u32).unwrap();
            assert_eq!(t.vgpu.take_forward(), None, "{off:#x}");
        }
    }
    // The owner's do, in order and unchanged; SURF only with the surface in its memory.
    let mode = Mode::of(Resolution::R1024x768);
    let fb = fb_of(&v1, &mode, 0);
    let mut t = Direct::new(&mut v1, &host, &mut hv1);
    let b = |first: u32| plane_reg(first, Pipe::B.index(), 0);
    let ctl = PLANE_CTL(0)
        .with(PLANE_CTL::PLANE_CTL_ENABLE, 1)
        .with(PLANE_CTL::PLANE_CTL_FORMAT_MASK_SKL, 4)
        .0;
    let writes = [
        (b(PLANE_STRIDE::OFFSET), fb.stride / 64),
        (b(PLANE_POS::OFFSET), 0),
        (b(PLANE_SIZE::OFFSET), (767 << 16) | 1023),
        (b(PLANE_OFFSET::OFFSET), 0),
        (b(PLANE_CTL::OFFSET), ctl),
        (b(PLANE_SURF::OFFSET), fb.gm),
    ];
    for (off, val) in writes {
        t.write32(off, val).unwrap();
        assert_eq!(
            t.vgpu.take_forward(),
            Some(Forward {
                offset: off,
                value: val
            })
        );
        assert_eq!(t.vgpu.take_forward(), None);
    }
    // An 8-byte write makes two forwards.
    t.mmio_write(
        u64::from(b(PLANE_STRIDE::OFFSET)),
        &u64::from(fb.stride / 64).to_le_bytes(),
    )
    .unwrap();
    assert_eq!(
        drain(t.vgpu),
        [
            Forward {
                offset: b(PLANE_STRIDE::OFFSET),
                value: fb.stride / 64
            },
            Forward {
                offset: b(PLANE_POS::OFFSET),
                value: 0
            }
        ]
    );
    // SURFLIVE is read-only, the watermarks and DDB stay the host's.
    for off in [b(PLANE_SURFLIVE::OFFSET), b(0x70240), b(0x7027c)] {
        t.write32(off, 1).unwrap();
        assert_eq!(t.vgpu.take_forward(), None, "{off:#x}");
    }
    // A surface outside the partition is not armed on the hardware.
    for surf in [0x1000, (t.vgpu.partition().low.end() - 4096) as u32] {
        t.write32(b(PLANE_SURF::OFFSET), surf).unwrap();
        assert_eq!(t.vgpu.take_forward(), None);
    }
    assert_eq!(t.vgpu.display_stats().bad_surfaces, 2);
    // A disabled plane may be armed anywhere (that is how planes turn off).
    t.write32(b(PLANE_CTL::OFFSET), 0).unwrap();
    t.write32(b(PLANE_SURF::OFFSET), 0).unwrap();
    assert_eq!(drain(t.vgpu).len(), 2);
    // A device reset turns every owned plane off (CTL then SURF); so does destruction.
    t.vgpu.reset(&host, t.hv, Reset::DeviceModel).unwrap();
    let off = drain(&mut v1);
    assert_eq!(off.len(), 2 * (nb + nc) as usize);
    assert_eq!(
        off[0],
        Forward {
            offset: 0x71180,
            value: 0
        }
    );
    assert_eq!(
        off[1],
        Forward {
            offset: 0x7119c,
            value: 0
        }
    );
    assert_eq!(
        off.last(),
        Some(&Forward {
            offset: plane_reg(PLANE_SURF::OFFSET, 2, nc - 1),
            value: 0
        })
    );
    assert_eq!(gvt.disable_planes_of(&v1).collect::<Vec<_>>(), off);
    // Binding vGPU 2 to domain 1 (ACRN binds VM ids) gives it the same planes.
    gvt.bind_display_domain(&mut v2, 1);
    assert_eq!(v2.planes_owned(), owned);
    drop(gvt.destroy_vgpu(&host, &mut hv1, v1));
    drop(gvt.destroy_vgpu(&host, &mut hv2, v2));
    // Plane restriction off (avail 0): nobody's writes come out.
    gvt.set_plane_owners(OwnerPolicy::parse(p, &owners, "0").unwrap())
        .unwrap();
    let (mut v3, mut hv3, _) = probed(&mut gvt, &host, "GVTg_V5_8", 3);
    gvt.bind_display_domain(&mut v3, 1);
    let mut t = Direct::new(&mut v3, &host, &mut hv3);
    t.write32(b(PLANE_CTL::OFFSET), ctl).unwrap();
    assert_eq!(t.vgpu.take_forward(), None);
}

#[test]
fn hotplug_reaches_the_guest() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let (mut v, mut hv, o) = probed(&mut gvt, &host, "GVTg_V5_8", 1);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    modeset::enable_interrupts(&mut t, &o).unwrap();
    // Broxton's north-display hotplug or the big cores' PCH one, per port.
    let (hpd, isr) = (o.hpd_bit(), o.hpd_isr());
    let (strap, pulse) = match o.port {
        1 => (
            SFUSE_STRAP::SFUSE_STRAP_DDIB_DETECTED,
            PCH_PORT_HOTPLUG::PORTB_HOTPLUG_STATUS_MASK,
        ),
        2 => (
            SFUSE_STRAP::SFUSE_STRAP_DDIC_DETECTED,
            PCH_PORT_HOTPLUG::PORTC_HOTPLUG_STATUS_MASK,
        ),
        _ => (
            SFUSE_STRAP::SFUSE_STRAP_DDID_DETECTED,
            PCH_PORT_HOTPLUG::PORTD_HOTPLUG_STATUS_MASK,
        ),
    };
    assert_ne!(
        t.read32(isr).unwrap() & hpd,
        0,
        "monitor present at creation"
    );
    assert_ne!(t.read32(SFUSE_STRAP::OFFSET).unwrap() & strap.mask(), 0);
    let msis = t.hv.msis.len();
    t.vgpu.display_hotplug(t.hv, false).unwrap();
    assert_eq!(t.read32(isr).unwrap() & hpd, 0);
    assert_ne!(t.read32(o.hpd_iir()).unwrap() & hpd, 0);
    assert_eq!(
        PCH_PORT_HOTPLUG(t.read32(PCH_PORT_HOTPLUG::OFFSET).unwrap()).get(pulse),
        2,
        "long pulse"
    );
    assert_eq!(t.hv.msis.len(), msis + 1);
    assert_eq!(
        modeset::edid_over_aux(&mut t, &o, false),
        Err(Error::Probe("AUX timeout"))
    );
    assert_eq!(
        modeset::edid_over_gmbus(&mut t, o.ddc_pin().unwrap()),
        Err(Error::Probe("GMBUS NAK"))
    );
    assert_eq!(
        Output::detect(&mut t),
        Err(Error::Probe("no DP monitor connected"))
    );
    t.vgpu.display_hotplug(t.hv, true).unwrap();
    assert_ne!(t.read32(isr).unwrap() & hpd, 0);
    assert_eq!(Output::detect(&mut t), Ok(o));
    assert!(modeset::edid_over_aux(&mut t, &o, false).is_ok());
}

#[test]
fn hostile_display_programming_is_refused_without_panic() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    // Domain 1 owns pipe A's planes.
    let na = planes_on(platform(), Pipe::A);
    let policy = OwnerPolicy::parse(
        platform(),
        &format!("{:#x}", first_planes(na)),
        &format!("{:#x}", (1 << na) - 1),
    )
    .unwrap();
    gvt.set_plane_owners(policy).unwrap();
    let (mut v, mut hv, o) = probed(&mut gvt, &host, "GVTg_V5_8", 1);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let aux_ctl = port_reg(DP_AUX_CH_CTL::OFFSET, o.port);
    let send = |t: &mut Direct<'_>, size: u32, data: [u32; 5]| {
        for (i, d) in data.iter().enumerate() {
            t.write32(aux_ctl + 4 + 4 * i as u32, *d).unwrap();
        }
        t.write32(aux_ctl, (1 << 31) | (size << 20)).unwrap();
        let c = t.read32(aux_ctl).unwrap();
        assert_eq!(c & (3 << 30), 1 << 30, "done, not busy: {c:#x}");
        (c, t.read32(aux_ctl + 4).unwrap() >> 24)
    };
    // Message sizes the channel cannot carry: receive error.
    for size in [0, 21, 31] {
        let (c, _) = send(&mut t, size, [0x9000_0000; 5]);
        assert_ne!(c & DP_AUX_CH_CTL::DP_AUX_CH_CTL_RECEIVE_ERROR.mask(), 0);
    }
    // Length bytes past 16, or disagreeing with the size: NAK.
    assert_eq!(send(&mut t, 4, [0x9000_00ff, 0, 0, 0, 0]).1, 0x10);
    assert_eq!(send(&mut t, 5, [0x8000_0003, 0, 0, 0, 0]).1, 0x10);
    assert_eq!(
        send(&mut t, 4, [0x5000_50c7, 0, 0, 0, 0]).1,
        0x40,
        "I2C read of 200 bytes"
    );
    assert_eq!(
        send(&mut t, 3, [0x4000_3700, 0, 0, 0, 0]).1,
        0x40,
        "no DDC/CI target"
    );
    assert!(t.vgpu.display_stats().bad_aux >= 5);
    // AUX on a channel without a sink times out.
    let c_ctl = port_reg(DP_AUX_CH_CTL::OFFSET, 2);
    t.write32(c_ctl, (1 << 31) | (4 << 20)).unwrap();
    assert_ne!(
        t.read32(c_ctl).unwrap() & DP_AUX_CH_CTL::DP_AUX_CH_CTL_TIME_OUT_ERROR.mask(),
        0
    );
    // GMBUS byte counts past the EDID (up to the field's 511): 0xff past 128, never more.
    t.write32(GMBUS0::OFFSET, o.ddc_pin().unwrap()).unwrap();
    t.write32(
        GMBUS1::OFFSET,
        (1 << 30) | (3 << 25) | (511 << 16) | (0x50 << 1) | 1,
    )
    .unwrap();
    let mut bytes = Vec::new();
    for _ in 0..300 {
        bytes.extend_from_slice(&t.read32(GMBUS3::OFFSET).unwrap().to_le_bytes());
    }
    assert_eq!(&bytes[..128], &edid::block(Resolution::R1024x768));
    assert!(bytes[128..256].iter().all(|&b| b == 0xff));
    assert_eq!(bytes.len(), 1200);
    assert!(
        bytes[512..].chunks(4).all(|w| w == &bytes[508..512]),
        "the cycle ended at 511 bytes"
    );
    // Random programming of every display register the emulation handles.
    let mut rng = Rng::new(0xd15);
    let mut offs: Vec<u32> = plane_regs(&Pipe::ALL);
    for p in 0..3 {
        offs.extend(
            [
                0x70008, 0x70040, 0x70084, 0x70088, 0x70080, 0x700ac, 0x6001c, 0x60040, 0x60044,
                0x60000, 0x6000c,
            ]
            .map(|o| pipe_reg(o, p)),
        );
    }
    for port in 0..5 {
        offs.extend(
            [
                0x64000, 0x64010, 0x64014, 0x64018, 0x6401c, 0x64020, 0x64024, 0x64040, 0x64044,
            ]
            .map(|o| port_reg(o, port)),
        );
    }
    offs.extend([
        0xc5100, 0xc5104, 0xc5108, 0xc510c, 0xc5110, 0xc5120, 0x7f008, 0x44440, 0xc4030,
    ]);
    let mut now = 0u64;
    for i in 0..20_000u64 {
        let off = offs[rng.below(offs.len() as u64) as usize];
        let val = match rng.below(4) {
            0 => rng.next_u64() as u32,
            1 => 1 << rng.below(32),
            2 => (1 << 31) | ((rng.below(32) as u32) << 20) | (rng.next_u64() as u32 & 0xfffff),
            _ => u32::MAX,
        };
        if rng.below(3) == 0 {
            let _ = t.read32(off);
        } else {
            let _ = t.write32(off, val);
        }
        while t.vgpu.take_forward().is_some() {}
        if i % 64 == 0 {
            now += rng.below(50_000_000);
            t.vgpu.display_tick(t.hv, now).unwrap();
            for k in [PlaneKind::Primary, PlaneKind::Sprite, PlaneKind::Cursor] {
                if let Ok(p) = t.vgpu.query_plane(k) {
                    assert!(t.vgpu.partition().owns_gm(p.gm, p.size));
                }
            }
        }
    }
    // Time going backwards or jumping to the end of time: no panic.
    t.write32(TRANSCONF::OFFSET, 1 << 31).unwrap();
    t.vgpu.display_tick(t.hv, u64::MAX).unwrap();
    t.vgpu.display_tick(t.hv, 0).unwrap();
    assert!(t.vgpu.failsafe().is_none());
}

/// The fastest pixel clock an EDID detailed timing holds (16 bits of 10 kHz).
const EDID_MAX_CLOCK_KHZ: u32 = 655_350;

/// i915's probe reads back pipe A as firmware left it: the monitor's preferred mode on a link
/// i915 would have picked, with a dot clock, PLL, M/N and CD clock that agree (the old state,
/// zero timings and dividers, gave "dotclock = 0" and a division by zero in the first check).
#[test]
fn the_firmware_lit_pipe_reads_back_consistent() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    for (name, res, lanes) in [
        ("GVTg_V5_8", Resolution::R1024x768, 2),
        ("GVTg_V5_4", Resolution::R1920x1200, 4),
    ] {
        let mut v = create(&mut gvt, &host, &config(name));
        let mut hv = MemHypervisor::new(1, 16 << 20);
        v.activate();
        let mut t = Direct::new(&mut v, &host, &mut hv);
        let report = probe::probe(&mut t).unwrap();
        let (o, s) = (report.output, report.display.expect("pipe A lit"));
        let display = platform().hw().display;
        let mode = Mode::of(res);
        assert_eq!(s.dotclock_khz, mode.clock_khz, "{name}");
        assert_eq!(
            (s.port, s.port_clock, s.lanes, s.pipe_bpp),
            (display.monitor_port, 162_000, lanes, 24)
        );
        assert_eq!(
            (s.timings.hdisplay, s.timings.vdisplay, s.src),
            (mode.hactive, mode.vactive, (mode.hactive, mode.vactive))
        );
        assert_eq!(
            (s.timings.htotal, s.timings.vtotal),
            (mode.htotal(), mode.vtotal())
        );
        assert_eq!(
            (s.timings.hsync_start, s.timings.hsync_end),
            (
                mode.hactive + mode.hfp,
                mode.hactive + mode.hfp + mode.hsync
            )
        );
        assert_eq!(s.sync_positive, (mode.hsync_positive, mode.vsync_positive));
        assert_eq!(s.refresh_mhz, mode.refresh_mhz());
        // The platform's top CD clock: 624 MHz on Broxton, 675 MHz on the big cores.
        assert_eq!(s.cdclk_khz, display.cdclk_khz);
        // The big cores' DDI on DPLL1 (skl_get_dpll), Broxton's on its own port PLL.
        assert_eq!(s.skl_dpll, (!o.lp()).then_some(modeset::SKL_DP_DPLL));
        assert!(s.enhanced_framing);
        // The sink was trained at that link (RBR, enhanced framing).
        let mut link = [0u8; 2];
        modeset::dpcd_read(&mut t, &o, 0x100, &mut link).unwrap();
        assert_eq!(link, [0x06, 0x80 | lanes as u8]);
        // A custom monitor: after a device reset, firmware lit its preferred mode instead.
        t.vgpu.set_edid(Some(&edid::block_for_mode(&SXGA))).unwrap();
        t.vgpu.reset(&host, t.hv, Reset::DeviceModel).unwrap();
        let s = readout::initial_state(&mut t, &o)
            .unwrap()
            .expect("pipe A lit");
        assert_eq!(
            (
                s.dotclock_khz,
                s.timings.hdisplay,
                s.timings.vdisplay,
                s.lanes
            ),
            (108_000, 1280, 1024, 2)
        );
        assert_eq!(s.sync_positive, (true, true));
        // A mode one faster than the fastest CD clock (an EDID counts 10 kHz) falls back to the
        // type's own mode. An EDID's timing tops out at 655.35 MHz, under the big cores' 675:
        // there the fastest one an EDID gives is lit, at HBR2 on four lanes.
        let clock_khz = (display.cdclk_khz + 10).min(EDID_MAX_CLOCK_KHZ);
        let fast = Mode {
            clock_khz,
            hactive: 3840,
            hfp: 48,
            hsync: 32,
            hbp: 80,
            vactive: 2160,
            vfp: 3,
            vsync: 5,
            vbp: 62,
            ..SXGA
        };
        t.vgpu.set_edid(Some(&edid::block_for_mode(&fast))).unwrap();
        t.vgpu.reset(&host, t.hv, Reset::DeviceModel).unwrap();
        let s = readout::initial_state(&mut t, &o)
            .unwrap()
            .expect("pipe A lit");
        if clock_khz > display.cdclk_khz {
            assert_eq!(
                (s.dotclock_khz, s.timings.hdisplay),
                (mode.clock_khz, mode.hactive)
            );
        } else {
            assert_eq!(
                (s.dotclock_khz, s.timings.hdisplay, s.port_clock, s.lanes),
                (EDID_MAX_CLOCK_KHZ, 3840, 540_000, 4)
            );
        }
        drop(gvt.destroy_vgpu(&host, &mut hv, v));
    }
    // The big cores: DDI D on DPLL1, DPLL0 left to the 675 MHz CD clock.
    for info in gvt::model::hw::PLATFORMS
        .into_iter()
        .filter(|p| !p.hw().lp)
        .map(gvt::sim::info)
    {
        let host = sim_host_of(info);
        let mut gvt = Gvt::new(&host).unwrap();
        let mut v = create(&mut gvt, &host, &config("GVTg_V5_4"));
        let mut hv = MemHypervisor::new(1, 16 << 20);
        v.activate();
        let mut t = Direct::new(&mut v, &host, &mut hv);
        let o = Output::detect(&mut t).unwrap();
        let s = readout::initial_state(&mut t, &o)
            .unwrap()
            .expect("pipe A lit");
        assert_eq!(
            (s.port, s.skl_dpll, s.port_clock, s.lanes),
            (3, Some(1), 162_000, 4)
        );
        assert_eq!((s.dotclock_khz, s.cdclk_khz), (154_000, 675_000));
        assert_eq!(
            s.refresh_mhz,
            Mode::of(Resolution::R1920x1200).refresh_mhz()
        );
        drop(gvt.destroy_vgpu(&host, &mut hv, v));
    }
}

/// The readout's checks: each inconsistency a vGPU could show is caught, none panics.
#[test]
fn the_readout_refuses_inconsistent_pipes() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let (mut v, mut hv, o) = probed(&mut gvt, &host, "GVTg_V5_4", 1);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    // The PLL and the CD clock each family's way: Broxton's port PLL without its N divider,
    // the CD2X divider at 8 (156 MHz); the big cores' DPLL1 off under the DDI, DPLL0 off
    // (the CD clock at the 24 MHz reference).
    let (pll, cdclk) = if o.lp() {
        (
            (
                PORT_PLL_1_B::OFFSET,
                0,
                "Can't calculate constants, dotclock = 0!",
            ),
            (CDCLK_CTL::OFFSET, 3 << 22),
        )
    } else {
        (
            (
                LCPLL2_CTL::OFFSET,
                0,
                "intel_ddi_get_clock: DPLL off (WARN)",
            ),
            (LCPLL1_CTL::OFFSET, 0),
        )
    };
    let cases: [(u32, u32, &str); 6] = [
        (
            PIPE_LINK_N1::OFFSET,
            0,
            "Can't calculate constants, dotclock = 0!",
        ),
        pll,
        (
            PIPE_LINK_M1::OFFSET,
            0x3_cd6e,
            "M/N differ from what i915 computes for this mode and link",
        ),
        (
            PIPESRC::OFFSET,
            0,
            "pipe source differs from the active area (no scaler)",
        ),
        (TRANS_HSYNC::OFFSET, 0, "transcoder timings out of order"),
        (
            cdclk.0,
            cdclk.1,
            "CD clock not a platform value or below the pixel rate",
        ),
    ];
    for (off, val, why) in cases {
        let old = t.read32(off).unwrap();
        t.write32(off, val).unwrap();
        assert_eq!(
            readout::initial_state(&mut t, &o),
            Err(Error::Probe(why)),
            "{off:#x}"
        );
        t.write32(off, old).unwrap();
    }
    assert!(readout::initial_state(&mut t, &o).unwrap().is_some());
    // A pipe the guest turned off reads back off.
    modeset::disable_output(&mut t, &o).unwrap();
    assert_eq!(readout::initial_state(&mut t, &o), Ok(None));
}
