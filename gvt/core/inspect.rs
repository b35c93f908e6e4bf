//! The text of the debugfs files that describe a GPU and its vGPUs
//! (Documentation/ABI/testing/debugfs-gvt): the GPU's facts, types and partition map, a
//! vGPU's status and its registers that differ from the host's golden values.
//!
//! Made here rather than in the glue so that it is tested on the host; the glue only copies
//! it into a seq_file. The text is for people and scripts that grep one `key: value` line.

use core::fmt::{self, Write};

use super::gvt::Gvt;
use super::host::{HostGpu, HostInfo, MMIO_DWORDS};
use super::mmio_table::mmio_index;
use super::regs::Engine;
use super::report::{Cause, Identity};
use super::resources::{Partition, Span};
use super::vgpu::{Vgpu, VgpuStorage};
use super::vgpu_type::{VgpuConfig, VGPU_TYPES};

const MB: u64 = 1 << 20;

/// `start+size` of a span, in hex, then its size in MiB.
struct Range(Span);

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Span { start, size } = self.0;
        write!(f, "{start:#x}+{size:#x} ({} MiB)", size / MB)
    }
}

/// Fences `first+count`.
struct Fences(Span);

impl fmt::Display for Fences {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.0.start, self.0.size)
    }
}

/// The GPU's `info` file: the host's facts, the vGPU types with how many more of each fit now,
/// and the partition map (the host's reserve, then each vGPU's graphics memory and fences).
pub fn write_gpu(gvt: &Gvt, out: &mut impl Write) -> fmt::Result {
    let HostInfo {
        platform,
        pci,
        bar0_size,
        aperture_size,
        gm_size,
        fence_count,
        engines,
        reserve,
        aperture_pa,
        scratch_page: _,
    } = *gvt.info();
    writeln!(out, "platform: {}", platform.name())?;
    writeln!(
        out,
        "pci: {:04x}:{:04x} rev {:#04x} subsystem {:04x}:{:04x}",
        pci.vendor, pci.device, pci.revision, pci.subsystem_vendor, pci.subsystem_device
    )?;
    writeln!(out, "bar0_size: {bar0_size:#x}")?;
    writeln!(
        out,
        "aperture: {} at {aperture_pa:#x}",
        Range(Span {
            start: 0,
            size: aperture_size
        })
    )?;
    writeln!(
        out,
        "ggtt: {} ({} entries)",
        Range(Span {
            start: 0,
            size: gm_size
        }),
        gm_size / 4096
    )?;
    writeln!(out, "fences: {fence_count}")?;
    out.write_str("engines:")?;
    for e in Engine::ALL.iter().filter(|e| e.mask() & engines != 0) {
        write!(out, " {}", e.name())?;
    }
    out.write_str("\ntypes:\n")?;
    for t in gvt.types() {
        writeln!(
            out,
            "  {}: {} available {}",
            t.name,
            Config(&t.config),
            gvt.available(&t.config)
        )?;
    }
    writeln!(out, "partitions:")?;
    writeln!(
        out,
        "  host: low_gm {} high_gm {} fences {}",
        Range(Span {
            start: 0,
            size: reserve.low_gm
        }),
        Range(Span {
            start: aperture_size,
            size: reserve.high_gm
        }),
        Fences(Span {
            start: 0,
            size: u64::from(reserve.fences)
        })
    )?;
    for (id, p) in gvt.partitions() {
        writeln!(out, "  vgpu{}: {}", id.get(), Part(p))?;
    }
    Ok(())
}

/// A type's or vGPU's sizes.
struct Config<'a>(&'a VgpuConfig);

impl fmt::Display for Config<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let VgpuConfig {
            resources: r,
            weight,
            resolution,
        } = *self.0;
        write!(
            f,
            "low_gm {} MiB high_gm {} MiB fences {} weight {weight} resolution {}",
            r.low_gm / MB,
            r.high_gm / MB,
            r.fences,
            resolution.as_str()
        )
    }
}

/// A vGPU's partition.
struct Part<'a>(&'a Partition);

impl fmt::Display for Part<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        write!(
            f,
            "low_gm {} high_gm {} fences {}",
            Range(p.low),
            Range(p.high),
            Fences(p.fences)
        )
    }
}

/// What a vGPU's `status` file shows, copied out under its lock and written outside it.
#[derive(Clone, Copy, Debug)]
pub struct Status {
    /// Who it is (id, backend, the backend's name for it).
    pub who: Identity,
    /// Whether a backend attached it to a running VM.
    pub active: bool,
    /// Whether its guest read PVINFO.
    pub pv_notified: bool,
    /// Why it is in failsafe.
    pub failsafe: Option<Cause>,
    /// Its sizes.
    pub config: VgpuConfig,
    /// Its share of the GPU.
    pub part: Partition,
    /// GPU time charged to it by the scheduler, in ns.
    pub gpu_time_ns: u64,
    /// The weights of every vGPU of its GPU together (its share is `weight / total`).
    pub total_weight: u32,
}

impl Status {
    /// The status of `v`, known to the log as `who`, with its scheduler figures.
    pub fn of<S: VgpuStorage>(
        v: &Vgpu<S>,
        who: Identity,
        gpu_time_ns: u64,
        total_weight: u32,
    ) -> Status {
        Status {
            who,
            active: v.is_active(),
            pv_notified: v.pv_notified(),
            failsafe: v.failsafe_cause(),
            config: *v.config(),
            part: *v.partition(),
            gpu_time_ns,
            total_weight,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes = |b: bool| if b { "yes" } else { "no" };
        writeln!(f, "vgpu: {}", self.who)?;
        writeln!(f, "active: {}", yes(self.active))?;
        writeln!(f, "pv_notified: {}", yes(self.pv_notified))?;
        match self.failsafe {
            Some(c) => writeln!(f, "failsafe: {}\nfailsafe_cause: {c}", c.class().name())?,
            None => writeln!(f, "failsafe: none\nfailsafe_cause: none")?,
        }
        // Free-form sizes (ACRN's) match no type.
        let name = VGPU_TYPES
            .iter()
            .find(|t| t.config == self.config)
            .map_or("custom", |t| t.name);
        writeln!(f, "type: {name}: {}", Config(&self.config))?;
        writeln!(f, "partition: {}", Part(&self.part))?;
        writeln!(f, "gpu_time_ns: {}", self.gpu_time_ns)?;
        writeln!(
            f,
            "gpu_share: weight {} of {}",
            self.config.weight, self.total_weight
        )
    }
}

/// The set bits of `v` as a list of ranges, like the kernel's `%*pbl` (`0,3-5`).
struct Bits(u32);

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut b = 0u32;
        while b < 32 {
            if self.0 & (1 << b) == 0 {
                b = b.wrapping_add(1);
                continue;
            }
            let mut end = b;
            while end < 31 && self.0 & (1 << end.wrapping_add(1)) != 0 {
                end = end.wrapping_add(1);
            }
            let sep = if first { "" } else { "," };
            first = false;
            if end == b {
                write!(f, "{sep}{b}")?;
            } else {
                write!(f, "{sep}{b}-{end}")?;
            }
            b = end.wrapping_add(1);
        }
        Ok(())
    }
}

/// Dwords of the host's snapshot read at once (on the kernel stack).
const CHUNK: usize = 64;

impl<S: VgpuStorage> Vgpu<S> {
    /// The `mmio_diff` file, as upstream's: each tracked register whose value differs from the
    /// host's golden value (what the vGPU starts from and resets to), `offset golden vgpu
    /// diff-bits`, ascending, then `Total: <tracked registers>, Diff: <listed>`.
    pub fn write_mmio_diff(&self, host: &dyn HostGpu, out: &mut impl Write) -> fmt::Result {
        writeln!(out, "{:<8} {:<8} {:<8} Diff", "Offset", "Golden", "vGPU")?;
        let (mut total, mut diff) = (0u32, 0u32);
        let mut golden = [0u32; CHUNK];
        let table = mmio_index(host.info().platform);
        let mut first = 0usize;
        while first < MMIO_DWORDS {
            host.mmio_snapshot(first, &mut golden);
            for (i, &g) in golden.iter().enumerate() {
                let Ok(off) = u32::try_from(first.wrapping_add(i).wrapping_mul(4)) else {
                    return Ok(());
                };
                if !table.is_tracked(off) {
                    continue;
                }
                total = total.wrapping_add(1);
                let v = self.vreg(off);
                if v != g {
                    diff = diff.wrapping_add(1);
                    writeln!(out, "{off:08x} {g:08x} {v:08x} {}", Bits(v ^ g))?;
                }
            }
            first = first.wrapping_add(CHUNK);
        }
        writeln!(out, "Total: {total}, Diff: {diff}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::Cause;
    use crate::model::test_support::Mpt;
    use crate::model::vgpu::Buffers;
    use crate::model::vgpu_type::find_type;
    use crate::sim::tests::bxt;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    type Store = Buffers<Vec<u32>, Vec<u64>, Vec<u8>>;

    fn vgpu(host: &dyn HostGpu, gvt: &mut Gvt, ty: &str) -> Vgpu<Store> {
        let config = find_type(ty).unwrap().config;
        let store = Buffers {
            vreg: vec![0; MMIO_DWORDS],
            ggtt: vec![0; Gvt::ggtt_entries_for(&config).unwrap()],
            opregion: vec![0; crate::model::opregion::OPREGION_SIZE],
            edid: vec![0; crate::model::display::edid::EDID_MAX_SIZE],
        };
        gvt.create_vgpu(host, &config, store)
            .map_err(|(e, _)| e)
            .unwrap()
    }

    #[test]
    fn the_gpu_file_lists_facts_types_and_who_owns_what() {
        let host = bxt();
        let mut gvt = Gvt::new(&host).unwrap();
        let a = vgpu(&host, &mut gvt, "GVTg_V5_8");
        let b = vgpu(&host, &mut gvt, "GVTg_V5_4");
        let mut s = String::new();
        write_gpu(&gvt, &mut s).unwrap();
        assert!(s.starts_with("platform: bxt\npci: 8086:"), "{s}");
        assert!(
            s.contains("\nengines: rcs0 vcs0 bcs0 vecs0\ntypes:\n"),
            "{s}"
        );
        let avail = gvt.available(&find_type("GVTg_V5_8").unwrap().config);
        assert!(s.contains(&std::format!(
            "  GVTg_V5_8: low_gm 64 MiB high_gm 384 MiB fences 4 weight 2 resolution 1024x768 available {avail}\n"
        )));
        for v in [&a, &b] {
            let line = std::format!("  vgpu{}: {}\n", v.id().get(), Part(v.partition()));
            assert!(s.contains(&line), "{s}");
        }
        let p = a.partition();
        assert_eq!(
            std::format!("{}", Part(p)),
            std::format!(
                "low_gm {:#x}+0x4000000 (64 MiB) high_gm {:#x}+0x18000000 (384 MiB) fences {}+4",
                p.low.start,
                p.high.start,
                p.fences.start
            )
        );
        let mut mpt = Mpt::default();
        let _ = gvt.destroy_vgpu(&host, &mut mpt, a);
        let mut s = String::new();
        write_gpu(&gvt, &mut s).unwrap();
        assert!(!s.contains("  vgpu1:") && s.contains("  vgpu2:"), "{s}");
    }

    #[test]
    fn the_status_names_the_type_the_cause_and_the_share() {
        let host = bxt();
        let mut gvt = Gvt::new(&host).unwrap();
        let mut v = vgpu(&host, &mut gvt, "GVTg_V5_4");
        let mut who = Identity::new(v.id().get(), b"kvmgt");
        who.name(b"mdev 6a4c");
        let s = std::format!("{}", Status::of(&v, who, 1500, 6));
        assert_eq!(
            s.lines().take(6).collect::<Vec<_>>(),
            [
                "vgpu: vGPU 1 (kvmgt, mdev 6a4c)",
                "active: no",
                "pv_notified: no",
                "failsafe: none",
                "failsafe_cause: none",
                "type: GVTg_V5_4: low_gm 128 MiB high_gm 512 MiB fences 4 weight 4 resolution 1920x1200",
            ]
        );
        assert!(
            s.ends_with("gpu_time_ns: 1500\ngpu_share: weight 4 of 6\n"),
            "{s}"
        );
        v.enter_failsafe(Cause::ResourcesTooSmall);
        let s = std::format!("{}", Status::of(&v, who, 0, 4));
        assert!(s.contains(
            "\nfailsafe: insufficient_resource\nfailsafe_cause: guest reported through PVINFO"
        ));
        let mut c = *v.config();
        c.weight = 3;
        let st = Status {
            config: c,
            ..Status::of(&v, who, 0, 4)
        };
        assert!(std::format!("{st}").contains("\ntype: custom: "));
    }

    #[test]
    fn bits_are_listed_as_ranges() {
        let f = |v| std::format!("{}", Bits(v));
        assert_eq!(f(0), "");
        assert_eq!(f(1), "0");
        assert_eq!(f(0b11_1001), "0,3-5");
        assert_eq!(f(0x8000_0001), "0,31");
        assert_eq!(f(u32::MAX), "0-31");
    }

    #[test]
    fn mmio_diff_lists_the_registers_the_guest_changed() {
        let host = bxt();
        let mut gvt = Gvt::new(&host).unwrap();
        let mut v = vgpu(&host, &mut gvt, "GVTg_V5_8");
        let mut s = String::new();
        v.write_mmio_diff(&host, &mut s).unwrap();
        let base: Vec<&str> = s.lines().collect();
        assert_eq!(base.first(), Some(&"Offset   Golden   vGPU     Diff"));
        let total = crate::model::mmio_table::mmio_index(host.info().platform)
            .stats()
            .tracked;
        assert!(total > 1000);
        let last = base.last().unwrap();
        assert!(last.starts_with("Total: "), "{last}");
        // A register the guest writes shows with the bits it changed.
        let mut mpt = Mpt::default();
        let off = crate::model::regs::RING_TAIL::offset(crate::model::regs::BLT_RING_BASE);
        let old = v.vreg(off);
        v.mmio_write(&host, &mut mpt, u64::from(off), &(old ^ 0x38).to_le_bytes())
            .unwrap();
        let mut s = String::new();
        v.write_mmio_diff(&host, &mut s).unwrap();
        let line = std::format!("{off:08x} {old:08x} {:08x} 3-5", old ^ 0x38);
        assert!(s.contains(&line), "{s}");
        assert_eq!(s.lines().count(), base.len() + 1);
    }
}
