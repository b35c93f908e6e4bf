//! The Gen9 platforms, as data.
//!
//! Everything that differs between the GPUs gvt-rs serves lives in one file per platform
//! (`skl`, `bxt`, `kbl`, `cfl`, `cml`), as a [`Hw`] description: PCI ids and GT levels, display
//! hardware, PCODE replies, the registers a real part reports at probe, and the part the `sim`
//! host presents. [`Platform::hw`] selects the description once; the rest of the core asks it
//! questions instead of branching on the platform, in the manner of Asahi's per-SoC files and
//! nova-core's per-chip HALs. The shared register tables (`mmio_table`, `mmio_list`) keep
//! upstream GVT-g's per-platform masks (`D_*`); a description names its bit.

use super::vgpu_type::VgpuType;

mod bxt;
mod cfl;
mod cml;
mod kbl;
mod skl;

/// The Gen9 platforms the device model knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Skylake (Gen9).
    Skylake,
    /// Broxton / Apollo Lake (Gen9 LP), the first target.
    Broxton,
    /// Kaby Lake, with Amber Lake's KBL-based ids (Gen9.5).
    KabyLake,
    /// Coffee Lake, with Whiskey Lake's and Amber Lake's CFL-based ids (Gen9.5).
    CoffeeLake,
    /// Comet Lake (Gen9.5).
    CometLake,
}

/// Every platform, for tests and for the id lookup.
pub const PLATFORMS: [Platform; 5] = [
    Platform::Skylake,
    Platform::Broxton,
    Platform::KabyLake,
    Platform::CoffeeLake,
    Platform::CometLake,
];

impl Platform {
    /// The platform's description.
    pub const fn hw(self) -> &'static Hw {
        match self {
            Platform::Skylake => &skl::HW,
            Platform::Broxton => &bxt::HW,
            Platform::KabyLake => &kbl::HW,
            Platform::CoffeeLake => &cfl::HW,
            Platform::CometLake => &cml::HW,
        }
    }

    /// The platform of an Intel graphics PCI device id, if it is one we serve.
    pub fn from_device_id(id: u16) -> Option<Platform> {
        PLATFORMS.into_iter().find(|p| p.hw().gt_of(id).is_some())
    }

    /// A short lower-case name, as used in logs, sysfs and module parameters.
    pub const fn name(self) -> &'static str {
        self.hw().name
    }

    /// The platform a short name (`bxt`, `skl`, `kbl`, `cfl`, `cml`) names.
    pub fn from_name(name: &str) -> Option<Platform> {
        PLATFORMS.into_iter().find(|p| p.name() == name)
    }
}

/// A platform's PCI device ids by GT level: (level, ids). Levels run 1-4 (i915's
/// `*_GT1_IDS` … `*_GT4_IDS`); 0 where i915 grades none, as on Broxton.
pub type DeviceIds = &'static [(u8, &'static [u16])];

/// How the display engine drives its ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phy {
    /// Broxton: the DE PLL makes the CD clock, each port has its own PLL and DPIO PHY lanes;
    /// hotplug is the north display's (`GEN8_DE_PORT_ISR`).
    Dpio,
    /// Skylake and later big cores: DPLL0 makes the CD clock, DPLL1-3 are shared by the DDIs
    /// (`DPLL_CTRL1`/`DPLL_CTRL2`); hotplug comes from the PCH (`SDEISR`).
    Ddi,
}

/// The display hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Display {
    /// How ports are clocked and powered.
    pub phy: Phy,
    /// The CD clock firmware leaves, which is the platform's highest: gen9 scans out one pixel
    /// per CD clock, so this is also the largest pixel clock (`intel_compute_max_dotclk`).
    pub cdclk_khz: u32,
    /// Universal planes (primary and sprites, not the cursor) on pipes A, B and C.
    pub planes: [u32; 3],
    /// The DDI port (0 = A) of the vGPU's virtual monitor (upstream GVT-g's choice).
    pub monitor_port: u32,
    /// GMBUS pin pairs and the DDI port each reaches (`intel_gmbus_get_pin`, per PCH).
    pub gmbus_pins: &'static [(u32, u32)],
    /// The request bits of `HSW_PWR_WELL_CTL2` a guest may set (each well's state bit is the
    /// one below its request bit).
    pub power_well_requests: u32,
}

/// What the PCODE mailbox answers (`GEN6_PCODE_MAILBOX` commands i915 sends at probe).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pcode {
    /// `GEN9_PCODE_READ_MEM_LATENCY`: the reply to data 0 (levels 0-3) and to data 1 (levels
    /// 4-7), one latency in microseconds per byte.
    pub mem_latency: [u32; 2],
    /// Whether `SKL_PCODE_CDCLK_CONTROL` exists (big cores), answered "ready for a change".
    pub cdclk_control: bool,
    /// Whether the memory has SA GV points (`intel_has_sagv`: big cores): a
    /// `GEN9_PCODE_SAGV_CONTROL` disable request is answered "disabled".
    pub sagv: bool,
}

/// The part the `sim` host presents when it is this platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimPart {
    /// Its PCI device id: on a big core one of the platform's GT2 ids, since the fuses in the
    /// golden registers are a GT2's.
    pub device: u16,
    /// Its PCI revision id.
    pub revision: u8,
}

/// A Gen9 platform: the facts the core and the `sim` host ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hw {
    /// Which platform this describes.
    pub platform: Platform,
    /// Short name (`bxt`).
    pub name: &'static str,
    /// The PCI device ids i915 6.12 gives this platform (`include/drm/intel/i915_pciids.h`).
    pub ids: DeviceIds,
    /// Gen9 LP (i915's `IS_GEN9_LP`): the 19.2 MHz crystal, no PCH.
    pub lp: bool,
    /// The platform's bit in the register tables' masks (`mmio_table::D_*`).
    pub mmio_bit: u8,
    /// `GFX_MODE` bits (low half) whose enabling means a guest the device model cannot run
    /// (upstream's `ring_mode_mmio_write`).
    pub gfx_mode_refused: u32,
    /// Fence registers the GPU has.
    pub fences: u32,
    /// The rate the command streamers count `RING_TIMESTAMP` at: what a guest computes from
    /// the crystal and the golden `CTC_MODE`.
    pub timestamp_hz: u64,
    /// The display hardware.
    pub display: Display,
    /// PCODE replies.
    pub pcode: Pcode,
    /// Registers a real part of this platform reports when the host driver hands it over,
    /// beyond the state every Gen9 host leaves (`sim`'s common snapshot): fuses, memory
    /// controller, clocks, PHY calibration. Lists are applied in order.
    pub golden: &'static [&'static [(u32, u32)]],
    /// The vGPU types a GPU of this platform may offer, smallest first (what it offers
    /// depends on its aperture: `Gvt::types`).
    pub types: &'static [VgpuType],
    /// The part the `sim` host presents.
    pub sim: SimPart,
}

impl Hw {
    /// The GT level of device `id` if it is one of this platform's.
    pub fn gt_of(&self, id: u16) -> Option<u8> {
        self.ids
            .iter()
            .find(|(_, l)| l.contains(&id))
            .map(|&(gt, _)| gt)
    }

    /// The golden value of register `offset`, if the platform has one (the later list wins, as
    /// in the sim's snapshot). Only tests ask one register; hosts apply the lists whole.
    #[cfg(test)]
    pub fn golden(&self, offset: u32) -> Option<u32> {
        self.golden
            .iter()
            .flat_map(|l| l.iter())
            .rev()
            .find(|e| e.0 == offset)
            .map(|e| e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_describes_itself() {
        for p in PLATFORMS {
            let hw = p.hw();
            assert_eq!(hw.platform, p);
            assert_eq!(Platform::from_name(hw.name), Some(p));
            let gt = if hw.lp { 0 } else { 2 };
            assert_eq!(
                hw.gt_of(hw.sim.device),
                Some(gt),
                "{p:?}: the sim's fuses are a GT2's"
            );
            assert_eq!(Platform::from_device_id(hw.sim.device), Some(p));
            assert_eq!(hw.mmio_bit.count_ones(), 1);
            assert!(hw.display.monitor_port <= 3);
            assert!(hw
                .display
                .gmbus_pins
                .iter()
                .any(|&(_, port)| port == hw.display.monitor_port));
        }
    }

    /// The golden values, as raw numbers a register dump would show.
    #[test]
    fn golden_values_are_the_documented_numbers() {
        let bxt = Platform::Broxton.hw();
        for (off, v) in [
            (0x9120, 0x0200_0000),
            (0x64c00, 0x100),
            (0x162000, 0x1_0000),
            (0x16218c, 0x40_0000),
            (0xa26c, 6),
            (0xc2014, 4),
            (0x141600, 0x0080_0021),
        ] {
            assert_eq!(bxt.golden(off), Some(v), "bxt {off:#x}");
        }
        for p in [
            Platform::Skylake,
            Platform::KabyLake,
            Platform::CoffeeLake,
            Platform::CometLake,
        ] {
            for (off, v) in [
                (0x9120, 0x0280_0000),
                (0xa26c, 4),
                (0x46010, 0xc000_0000),
                (0xc2014, 0x101),
                (0x14500c, 8),
                (0x145010, 8),
                (0xc6204, 0x18),
            ] {
                assert_eq!(p.hw().golden(off), Some(v), "{p:?} {off:#x}");
            }
        }
    }

    /// No id belongs to two platforms, and the counts are i915 6.12's (`INTEL_SKL_IDS`: 25,
    /// `INTEL_BXT_IDS`: 5, `INTEL_KBL_IDS` with `INTEL_AML_KBL_GT2_IDS`: 22, `INTEL_CFL_IDS`
    /// with `INTEL_AML_CFL_GT2_IDS` and `INTEL_WHL_IDS`: 22, `INTEL_CML_IDS`: 17).
    #[test]
    fn device_ids_are_upstreams_and_disjoint() {
        let counts: [usize; 5] = PLATFORMS.map(|p| p.hw().ids.iter().map(|(_, l)| l.len()).sum());
        assert_eq!(counts, [25, 5, 22, 22, 17]);
        let mut all: std::vec::Vec<u16> = PLATFORMS
            .iter()
            .flat_map(|p| p.hw().ids.iter().flat_map(|(_, l)| l.iter().copied()))
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        for (id, p, gt) in [
            (0x5A84, Platform::Broxton, 0),
            (0x1912, Platform::Skylake, 2),
            (0x193B, Platform::Skylake, 4),
            (0x591C, Platform::KabyLake, 2),
            (0x87C0, Platform::KabyLake, 2),
            (0x87CA, Platform::CoffeeLake, 2),
            (0x3EA5, Platform::CoffeeLake, 3),
            (0x3EA1, Platform::CoffeeLake, 1),
            (0x9BC5, Platform::CometLake, 2),
            (0x9BA4, Platform::CometLake, 1),
        ] {
            assert_eq!(Platform::from_device_id(id), Some(p), "{id:#x}");
            assert_eq!(p.hw().gt_of(id), Some(gt), "{id:#x}");
        }
        assert_eq!(
            Platform::from_device_id(0x3184),
            None,
            "Geminilake is not served"
        );
    }
}
