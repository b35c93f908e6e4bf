//! `/sys/kernel/gvt`: how ACRN-DM creates and destroys a User VM's vGPU
//! (Documentation/ABI/testing/sysfs-kernel-gvt).

use std::fs::OpenOptions;
use std::io::{self, Write};

/// The control node.
pub const CONTROL: &str = "/sys/kernel/gvt/control/create_gvt_instance";

/// ACRN-DM's default sizes: low (mappable) GM MiB, high GM MiB, fences.
pub const DEFAULT_SIZES: Sizes = Sizes {
    low_mb: 64,
    high_mb: 448,
    fences: 8,
};

/// An instance's sizes as `create_gvt_instance` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Mappable graphics memory, MiB.
    pub low_mb: u32,
    /// Non-mappable graphics memory, MiB.
    pub high_mb: u32,
    /// Fence registers.
    pub fences: u32,
}

/// ACRN-DM's create text: `"vmid,low,high,fences\n"`.
pub fn create_text(vmid: u32, s: Sizes) -> String {
    format!("{vmid},{},{},{}\n", s.low_mb, s.high_mb, s.fences)
}

/// ACRN-DM's destroy text: `"-vmid\n"`.
pub fn destroy_text(vmid: u32) -> String {
    format!("-{vmid}\n")
}

/// Writes `text` to the control node in one write(2).
pub fn write_control(text: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(CONTROL)?;
    let n = f.write(text)?;
    if n == text.len() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {n} of {} bytes", text.len()),
        ))
    }
}

/// The directory of VM `vmid`'s instance.
pub fn vm_dir(vmid: u32) -> String {
    format!("/sys/kernel/gvt/vm{vmid}")
}

/// `vmN/vgpu_id`: a decimal id and a newline.
pub fn parse_vgpu_id(s: &str) -> Option<u32> {
    let digits = s.strip_suffix('\n')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads VM `vmid`'s vGPU id.
pub fn vgpu_id(vmid: u32) -> Result<u32, String> {
    let path = format!("{}/vgpu_id", vm_dir(vmid));
    let s = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_vgpu_id(&s).ok_or_else(|| format!("{path}: {s:?} is not a decimal id and a newline"))
}

/// `vmN/vgpu_bar_info` as ACRN-DM's `update_gvt_bar()` reads it: exactly 76 bytes, four hex
/// numbers (BAR0 base, BAR0 size, BAR2 base, BAR2 size).
pub fn parse_bar_info(s: &str) -> Option<[u64; 4]> {
    if s.len() != 76 {
        return None;
    }
    let mut out = [0u64; 4];
    let mut fields = s.strip_suffix('\n')?.split(' ');
    for o in &mut out {
        *o = u64::from_str_radix(fields.next()?.strip_prefix("0x")?, 16).ok()?;
    }
    fields.next().is_none().then_some(out)
}

/// Reads VM `vmid`'s BAR information.
pub fn bar_info(vmid: u32) -> Result<[u64; 4], String> {
    let path = format!("{}/vgpu_bar_info", vm_dir(vmid));
    let s = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_bar_info(&s).ok_or_else(|| format!("{path}: {s:?} is not ACRN-DM's 76-byte form"))
}

/// acrngt's debugfs view of vGPU `id`'s ioreq client (in gvt.ko's directory of the vGPU).
pub fn ioreq_debugfs(id: u32) -> String {
    format!("/sys/kernel/debug/gvt/vgpu{id}/acrngt_ioreq")
}

/// Checks acrngt's debugfs view of VM `vmid` while it runs: its client attached, BAR0 trapped
/// at `bar0` (`[start, end]`), requests served and none failed.
pub fn check_ioreq_view(s: &str, vmid: u32, bar0: (u64, u64)) -> Result<(), String> {
    let field = |key: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
            .ok_or_else(|| format!("no '{key}:' line"))
    };
    let number = |key: &str| {
        field(key)?
            .parse::<u64>()
            .map_err(|_| format!("{key}: not a number"))
    };
    let want = |key: &str, got: &str, want: &str| {
        if got == want {
            Ok(())
        } else {
            Err(format!("{key}: {got}, want {want}"))
        }
    };
    want("vm", field("vm")?, &vmid.to_string())?;
    field("client")?
        .parse::<u32>()
        .map_err(|_| "client: not an ioreq client id".to_string())?;
    want("attached", field("attached")?, "yes")?;
    let trapped = format!("{:#x}-{:#x}", bar0.0, bar0.1);
    want("bar0_trapped", field("bar0_trapped")?, &trapped)?;
    match (number("requests_completed")?, number("requests_failed")?) {
        (0, _) => Err("requests_completed: 0".into()),
        (_, 0) => Ok(()),
        (_, f) => Err(format!("requests_failed: {f}")),
    }
}

/// The errno of a failed write, for messages: `EINVAL (22)`.
pub fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::ERANGE) => "ERANGE",
        Some(libc::EEXIST) => "EEXIST",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::ENOSPC) => "ENOSPC",
        Some(libc::ENODEV) => "ENODEV",
        Some(libc::EIO) => "EIO",
        Some(libc::EBUSY) => "EBUSY",
        Some(libc::ETIMEDOUT) => "ETIMEDOUT",
        Some(libc::EFAULT) => "EFAULT",
        Some(libc::EPROTO) => "EPROTO",
        Some(libc::E2BIG) => "E2BIG",
        Some(libc::ENOTTY) => "ENOTTY",
        Some(_) => "errno",
        None => return e.to_string(),
    };
    format!("{name} ({})", e.raw_os_error().unwrap_or(0))
}

/// Expects `r` to fail with `errno`.
pub fn want_errno<T>(r: io::Result<T>, errno: i32) -> Result<(), String> {
    match r {
        Ok(_) => Err(format!(
            "succeeded, want {}",
            errno_name(&io::Error::from_raw_os_error(errno))
        )),
        Err(e) if e.raw_os_error() == Some(errno) => Ok(()),
        Err(e) => Err(format!(
            "got {}, want {}",
            errno_name(&e),
            errno_name(&io::Error::from_raw_os_error(errno))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_info_is_acrn_dms_76_bytes() {
        let s = "0x00000000e0000000 0x0000000001000000 0x0000000100000000 0x0000000040000000\n";
        assert_eq!(
            parse_bar_info(s),
            Some([0xe000_0000, 16 << 20, 1 << 32, 1 << 30])
        );
        assert_eq!(parse_bar_info(&s[1..]), None);
        assert_eq!(parse_bar_info(&s.replace(' ', ",")), None);
    }

    #[test]
    fn ioreq_view_of_a_running_vm() {
        let ok = "vm: 1\nclient: 0\nvcpus: 2\nattached: yes\nbar0_trapped: 0xe0000000-0xe0ffffff\n\
                  requests_completed: 812\nrequests_failed: 0\n";
        let bar0 = (0xe000_0000, 0xe0ff_ffff);
        assert_eq!(check_ioreq_view(ok, 1, bar0), Ok(()));
        let bad = |from: &str, to: &str| check_ioreq_view(&ok.replace(from, to), 1, bar0);
        assert_eq!(bad("vm: 1", "vm: 2"), Err("vm: 2, want 1".into()));
        assert!(bad("client: 0", "client: -1").is_err());
        assert!(bad("attached: yes", "attached: no").is_err());
        assert!(bad("0xe0000000-0xe0ffffff", "none").is_err());
        assert!(bad("completed: 812", "completed: 0").is_err());
        assert!(bad("failed: 0", "failed: 3").is_err());
        assert!(bad("requests_failed: 0\n", "").is_err());
        assert!(check_ioreq_view(ok, 1, (0xe000_0000, 0xe0ff_fffe)).is_err());
    }

    #[test]
    fn acrn_dm_texts() {
        assert_eq!(create_text(3, DEFAULT_SIZES), "3,64,448,8\n");
        assert_eq!(
            create_text(
                7,
                Sizes {
                    low_mb: 128,
                    high_mb: 384,
                    fences: 4
                }
            ),
            "7,128,384,4\n"
        );
        assert_eq!(destroy_text(3), "-3\n");
    }

    #[test]
    fn vgpu_ids() {
        assert_eq!(parse_vgpu_id("1\n"), Some(1));
        assert_eq!(parse_vgpu_id("32\n"), Some(32));
        for bad in ["1", "\n", "x\n", "1 \n", "-1\n", "99999999999\n", "1\n\n"] {
            assert_eq!(parse_vgpu_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn errnos() {
        assert_eq!(
            errno_name(&io::Error::from_raw_os_error(libc::EINVAL)),
            "EINVAL (22)"
        );
        assert!(want_errno::<()>(
            Err(io::Error::from_raw_os_error(libc::ENOENT)),
            libc::ENOENT
        )
        .is_ok());
        assert_eq!(
            want_errno(Ok(()), libc::ENOENT),
            Err("succeeded, want ENOENT (2)".into())
        );
        assert_eq!(
            want_errno::<()>(
                Err(io::Error::from_raw_os_error(libc::EINVAL)),
                libc::ERANGE
            ),
            Err("got EINVAL (22), want ERANGE (34)".into())
        );
    }
}
