//! vGPU types: the fixed sizes offered to VFIO/mdev users (upstream's `GVTg_V5_{1,2,4,8}` and a
//! smaller `GVTg_V5_16`), and the free-form sizes ACRN-DM asks for. Both end up as a
//! [`VgpuConfig`].

use super::resources::Request;

const MB: u64 = 1 << 20;

/// Most scheduling weight a vGPU can have; weights run 1..=16.
pub const MAX_WEIGHT: u32 = 16;

/// The display resolution of a vGPU's virtual monitor (its EDID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// 1024x768.
    R1024x768,
    /// 1920x1200.
    R1920x1200,
}

impl Resolution {
    /// The resolution as "WxH".
    pub const fn as_str(self) -> &'static str {
        match self {
            Resolution::R1024x768 => "1024x768",
            Resolution::R1920x1200 => "1920x1200",
        }
    }
}

/// Everything that sizes one vGPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VgpuConfig {
    /// Graphics memory and fences.
    pub resources: Request,
    /// Scheduling weight, 1..=[`MAX_WEIGHT`].
    pub weight: u32,
    /// Virtual monitor resolution.
    pub resolution: Resolution,
}

/// A named, fixed-size vGPU type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VgpuType {
    /// The type's name without a driver prefix, e.g. `GVTg_V5_8`.
    pub name: &'static str,
    /// Its size.
    pub config: VgpuConfig,
}

// Only evaluated in the `VGPU_TYPES` constant, where an overflow is a compile error.
#[allow(clippy::arithmetic_side_effects)]
const fn gvtg(
    name: &'static str,
    low_mb: u64,
    high_mb: u64,
    fences: u32,
    per_gpu: u32,
    res: Resolution,
) -> VgpuType {
    VgpuType {
        name,
        config: VgpuConfig {
            resources: Request {
                low_gm: low_mb * MB,
                high_gm: high_mb * MB,
                fences,
            },
            // Upstream's VGPU_WEIGHT(n): the weight shrinks as more instances share the GPU.
            weight: MAX_WEIGHT / per_gpu,
            resolution: res,
        },
    }
}

/// The Gen9 types, smallest first: upstream's four, and `GVTg_V5_16` below them.
///
/// `GVTg_V5_16` is ours. A Gen9 GPU has at most 4 GiB of graphics memory and 32 fences, so
/// upstream's smallest type fits 7 times on Apollo Lake (high GM and fences run out). Sixteen
/// small desktops on one GPU need a type that asks for less: 32 MiB of aperture (a 1024x768
/// framebuffer three times over), 160 MiB above it and one fence, at weight 1.
pub const VGPU_TYPES: [VgpuType; 5] = [
    gvtg("GVTg_V5_16", 32, 160, 1, 16, Resolution::R1024x768),
    gvtg("GVTg_V5_8", 64, 384, 4, 8, Resolution::R1024x768),
    gvtg("GVTg_V5_4", 128, 512, 4, 4, Resolution::R1920x1200),
    gvtg("GVTg_V5_2", 256, 1024, 4, 2, Resolution::R1920x1200),
    gvtg("GVTg_V5_1", 512, 2048, 4, 1, Resolution::R1920x1200),
];

/// Which of `types` (smallest first) a GPU whose vGPUs may use `low_gm_for_vgpus` bytes of
/// aperture offers: like upstream, a type that could never fit is not offered, and the list
/// stops at the first one.
pub fn offered_types(types: &'static [VgpuType], low_gm_for_vgpus: u64) -> &'static [VgpuType] {
    let n = types
        .iter()
        .take_while(|t| t.config.resources.low_gm <= low_gm_for_vgpus)
        .count();
    types.get(..n).unwrap_or(&[])
}

/// The type with this name (without a driver prefix).
pub fn find_type(name: &str) -> Option<&'static VgpuType> {
    VGPU_TYPES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_type_table() {
        let t = find_type("GVTg_V5_8").unwrap();
        assert_eq!(t.config.resources.low_gm, 64 * MB);
        assert_eq!(t.config.resources.high_gm, 384 * MB);
        assert_eq!(t.config.weight, 2);
        assert_eq!(find_type("GVTg_V5_1").unwrap().config.weight, 16);
        assert!(find_type("GVTg_V5_3").is_none());
        let t = find_type("GVTg_V5_16").unwrap().config;
        assert_eq!(
            (
                t.resources.low_gm,
                t.resources.high_gm,
                t.resources.fences,
                t.weight
            ),
            (32 * MB, 160 * MB, 1, 1)
        );
    }

    #[test]
    fn types_that_cannot_fit_are_not_offered() {
        assert_eq!(offered_types(&VGPU_TYPES, 40 * MB).len(), 1);
        assert_eq!(offered_types(&VGPU_TYPES, 100 * MB).len(), 2);
        assert_eq!(offered_types(&VGPU_TYPES, 512 * MB).len(), 5);
        assert!(offered_types(&VGPU_TYPES, 0).is_empty());
    }
}
