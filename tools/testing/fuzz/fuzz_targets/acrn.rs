#![no_main]
//! acrngt's guest- and user-facing decoding, through the code acrngt.ko runs: the
//! `create_gvt_instance` parser (`acrngt/control.rs`) against a reference parser and a
//! print-and-parse round trip, and VHM ioreq decoding (`acrngt/ioreq.rs`) against its contract,
//! each decoded config or BAR0 access then performed on the fuzzed vGPU as ioreq.c performs it
//! (host writes stay in its partition). The input is a length byte and that much control text,
//! then 32-byte ioreqs.
//!
//! C only and not reached here: sysfs.c's attribute plumbing and ioreq.c's request-buffer
//! handling around `acrngt_decode` (the write-protect commit goes to gvt.ko's page-track
//! handler, which the ppgtt target drives).
use acrngt::control::{Request, MAX_VMID};
use acrngt::error::GvtError;
use acrngt::ioreq::{self, Access, REQUEST_WRITE, REQ_MMIO, REQ_PCICFG, REQ_WP, VGPU_BDF};
use libfuzzer_sys::fuzz_target;

/// The protocol, read plainly: `vmid,low,high,fences` or `-vmid`, decimal, at most one
/// trailing newline; `None` for text of another shape, else each number (`None` if it does
/// not fit in 32 bits).
fn shape(buf: &[u8]) -> Option<Vec<Option<u32>>> {
    let text = buf.strip_suffix(b"\n").unwrap_or(buf);
    let fields: Vec<&[u8]> = match text.strip_prefix(b"-") {
        Some(id) => vec![id],
        None => text.split(|&b| b == b',').collect(),
    };
    if !(fields.len() == 4 || text.first() == Some(&b'-'))
        || fields
            .iter()
            .any(|f| f.is_empty() || !f.iter().all(u8::is_ascii_digit))
    {
        return None;
    }
    let num = |f: &[u8]| std::str::from_utf8(f).ok()?.parse::<u32>().ok();
    Some(fields.iter().map(|f| num(f)).collect())
}

fn check_parse(buf: &[u8]) {
    let got = Request::parse(buf);
    let Some(nums) = shape(buf) else {
        // Text of another shape is refused (as out of range if a number before the fault
        // is too large: the parser reads left to right).
        assert!(got.is_err(), "{buf:?}");
        return;
    };
    let want = if nums.iter().any(Option::is_none) || nums[0].is_some_and(|v| v > MAX_VMID) {
        // Each field is checked in turn: the first bad one decides.
        let first_bad = nums.iter().enumerate().find_map(|(i, n)| match n {
            None => Some(GvtError::OutOfRange),
            Some(0) => Some(GvtError::Invalid),
            Some(v) if i == 0 && *v > MAX_VMID => Some(GvtError::OutOfRange),
            Some(_) => None,
        });
        Err(first_bad.unwrap())
    } else if nums.contains(&Some(0)) {
        Err(GvtError::Invalid)
    } else if let [Some(vmid)] = nums[..] {
        Ok(Request::Destroy { vmid })
    } else {
        let [vmid, low_gm_mb, high_gm_mb, fences] =
            [nums[0], nums[1], nums[2], nums[3]].map(Option::unwrap);
        Ok(Request::Create {
            vmid,
            low_gm_mb,
            high_gm_mb,
            fences,
        })
    };
    assert_eq!(got, want, "{buf:?}");
    // What parses prints back to text that parses to the same request.
    let text = match got {
        Ok(Request::Create {
            vmid,
            low_gm_mb,
            high_gm_mb,
            fences,
        }) => format!("{vmid},{low_gm_mb},{high_gm_mb},{fences}\n"),
        Ok(Request::Destroy { vmid }) => format!("-{vmid}\n"),
        Err(_) => return,
    };
    assert_eq!(Request::parse(text.as_bytes()), got, "{text:?}");
}

fn check_decode(r: &ioreq::Request, bar0: Option<(u64, u64)>) -> Result<Access, ioreq::Refused> {
    let got = r.decode(bar0);
    let write = r.direction == REQUEST_WRITE;
    let size_ok = |max: i64| matches!(r.size, 1 | 2 | 4 | 8) && r.size <= max;
    match got {
        Ok(Access::Cfg {
            write: wr,
            offset,
            len,
        }) => {
            assert!(r.kind == REQ_PCICFG && r.bdf == VGPU_BDF && size_ok(4));
            assert_eq!(
                (wr, i64::from(offset), i64::from(len)),
                (write, i64::from(r.reg), r.size)
            );
        }
        Ok(Access::Mmio {
            write: wr,
            offset,
            len,
        }) => {
            let (start, end) = bar0.expect("an MMIO access needs a window");
            assert!(r.kind == REQ_MMIO && size_ok(8) && wr == write);
            assert!(r.address >= start);
            assert!(u128::from(r.address) + u128::from(len) <= u128::from(end));
            assert_eq!((i64::from(len), offset), (r.size, r.address - start));
        }
        Ok(Access::WpWrite { gpa, len }) => {
            assert!(r.kind == REQ_WP && write && size_ok(8));
            assert_eq!((gpa, i64::from(len)), (r.address, r.size));
        }
        Err(_) => {
            let fits = |s: u64, e: u64| {
                r.address >= s && u128::from(r.address) + r.size as u128 <= u128::from(e)
            };
            let ok = match r.kind {
                REQ_PCICFG => r.bdf == VGPU_BDF && size_ok(4) && r.reg >= 0,
                REQ_MMIO => size_ok(8) && bar0.is_some_and(|(s, e)| fits(s, e)),
                REQ_WP => write && size_ok(8),
                _ => false,
            };
            assert!(!ok, "{r:?} in {bar0:x?} refused: {got:?}");
        }
    }
    got
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (text, reqs) = rest.split_at(usize::from(n).min(rest.len()));
    check_parse(text);
    let mut w = gvt_fuzz::world().lock().unwrap();
    let w = &mut *w;
    w.clear_logs();
    let host = w.fenced();
    for op in reqs.chunks_exact(32) {
        let u64_at = |i: usize| u64::from_le_bytes(op[i..i + 8].try_into().unwrap());
        let i32_at = |i: usize| i32::from_le_bytes(op[i..i + 4].try_into().unwrap());
        let c = w.vgpu.cfg();
        let base = c.bar_base(0x10);
        // The window acrngt hands in: the vGPU's BAR0 (as ioreq.c keeps it), none, or any.
        let bar0 = match op[1] & 3 {
            0 | 1 => c
                .memory_enabled()
                .then(|| (base, base.saturating_add(c.bar0.size))),
            2 => None,
            _ => Some((u64_at(8), u64_at(16))),
        };
        // Mostly the well-formed values, sometimes anything.
        let wild = op[1] & 4 != 0;
        let r = ioreq::Request {
            kind: u32::from(op[0] & 3),
            direction: if wild {
                u32::from(op[2])
            } else {
                u32::from(op[2] & 1)
            },
            address: if wild {
                u64_at(8)
            } else {
                base.wrapping_add(u64_at(8) & 0x7f_ffff)
            },
            size: if wild {
                i64::from(i32_at(20))
            } else {
                i64::from(op[3] % 9)
            },
            bdf: if op[1] & 8 != 0 {
                (i32::from(op[4]), 2, 0)
            } else {
                VGPU_BDF
            },
            reg: if wild { i32_at(24) } else { i32_at(24) & 0xfff },
        };
        let val = u64_at(24).to_le_bytes();
        match check_decode(&r, bar0) {
            Ok(Access::Cfg { write, offset, len }) => {
                let buf = &mut { val }[..len as usize];
                let _ = if write {
                    w.vgpu.cfg_write(&mut w.hv, offset, buf)
                } else {
                    w.vgpu.cfg_read(offset, buf)
                };
            }
            Ok(Access::Mmio { write, offset, len }) => {
                let buf = &mut { val }[..len as usize];
                let _ = if write {
                    w.vgpu.mmio_write(&host, &mut w.hv, offset, buf)
                } else {
                    w.vgpu.mmio_read(offset, buf)
                };
            }
            Ok(Access::WpWrite { .. }) | Err(_) => {}
        }
    }
});
