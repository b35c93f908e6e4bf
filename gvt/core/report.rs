//! What the device model tells the host's log, made so that a person can act on it, and so
//! that no guest can flood it.
//!
//! [`Cause`]: why a vGPU entered failsafe, down to the register, command, page table or
//! submission at fault, recorded with the entry (`Vgpu::failsafe_cause`) and shown in words.
//! [`Notice`]: what a guest did that the vGPU refused or ignored without failsafe (a refused
//! access, a write to an untracked or read-only register, an invalid instruction in a ring),
//! which the glue takes after each trap (`Vgpu::take_notice`). [`Identity`]: who the vGPU
//! is, at the start of each line.
//!
//! The core only makes the text and keeps the count; the glue picks the log level, adds the
//! time and prints. A guest decides how often the things it causes happen, so every message
//! a guest can cause goes through a [`RateLimit`], one per vGPU and kind of message: one
//! guest's flood then silences neither another vGPU's messages nor its own failsafe entry.

use core::fmt;

use super::cmd_scanner::{AddrSpace, Reason};
use super::error::GvtError;
use super::ppgtt::Fault;
use super::regs::Engine;
use super::vgpu::Failsafe;
use super::workload::MAX_RING_SLICE;

/// Why a vGPU entered failsafe: what the guest did, where, or what failed on the host. Its
/// [`Cause::class`] is the coarse reason debugfs and the ABI show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The guest set a mode the vGPU does not emulate (RING_MODE bit 0, CSFE_CHICKEN1 bits 3
    /// and 4): `value` written to `reg`.
    UnsupportedMode {
        /// The register.
        reg: u32,
        /// The value written.
        value: u32,
    },
    /// The guest turned execlists or the PPGTT on (through `reg`) without reading PVINFO: its
    /// driver does not know it runs on a vGPU.
    NotVgpuAware {
        /// The register.
        reg: u32,
    },
    /// The guest used fence register `reg`, past the vGPU's `fences`, without reading PVINFO.
    FenceOutOfRange {
        /// The register.
        reg: u32,
        /// The fences the vGPU has.
        fences: u64,
    },
    /// The guest wrote PVINFO `rsv5`: it finds the vGPU's resources too small.
    ResourcesTooSmall,
    /// A second ELSP submission completed on `engine` before the core took the first.
    ElspOverrun {
        /// The engine.
        engine: Engine,
    },
    /// A submission on `engine` the core cannot run.
    Submission {
        /// The engine.
        engine: Engine,
        /// What is wrong with it.
        what: Submission,
    },
    /// The command scanner refused a command of a submission on `engine`.
    Command {
        /// The engine.
        engine: Engine,
        /// The command's name (upstream's, `"unknown"` if it has none).
        command: &'static str,
        /// Its header dword.
        header: u32,
        /// Where it is.
        place: Place,
        /// Why it was refused.
        reason: Reason,
    },
    /// The shadow PPGTT of a submission could not be built or brought in step with the guest.
    Ppgtt(Fault),
    /// A trapped guest write at `gpa` to a shadowed page table could not be applied.
    PageTrackWrite {
        /// Where the guest wrote.
        gpa: u64,
        /// What failed.
        fault: Fault,
    },
}

impl Cause {
    /// The coarse reason: what debugfs's `failsafe:` line and the ABI show.
    pub fn class(&self) -> Failsafe {
        match self {
            Cause::UnsupportedMode { .. }
            | Cause::NotVgpuAware { .. }
            | Cause::FenceOutOfRange { .. } => Failsafe::UnsupportedGuest,
            Cause::ResourcesTooSmall => Failsafe::InsufficientResource,
            Cause::ElspOverrun { .. }
            | Cause::Submission { .. }
            | Cause::Command { .. }
            | Cause::Ppgtt(_)
            | Cause::PageTrackWrite { .. } => Failsafe::GuestError,
        }
    }

    /// Whether the host's limits or failures caused it, not the guest: the host's
    /// administrator has something to fix (memory, the vGPU's sizes), so it is an error in the
    /// host's log rather than a warning.
    pub fn is_host_fault(&self) -> bool {
        let host = |f: &Fault| matches!(f, Fault::Full | Fault::Host(_));
        match self {
            Cause::Submission { what, .. } => {
                matches!(what, Submission::QueueFull | Submission::Host(_))
            }
            Cause::Ppgtt(f) | Cause::PageTrackWrite { fault: f, .. } => host(f),
            _ => false,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNAWARE: &str = "without reading PVINFO: its driver does not know it runs on a vGPU";
        match *self {
            Cause::UnsupportedMode { reg, value } => {
                write!(f, "guest set a mode the vGPU does not emulate: {value:#010x} written to register {reg:#x}")
            }
            Cause::NotVgpuAware { reg } => write!(f, "guest turned execlists or PPGTT on (register {reg:#x}) {UNAWARE}"),
            Cause::FenceOutOfRange { reg, fences } => {
                write!(f, "guest used fence register {reg:#x}, past the vGPU's {fences} fences, {UNAWARE}")
            }
            Cause::ResourcesTooSmall => f.write_str("guest reported through PVINFO that the vGPU's graphics memory or fences are too small for it"),
            Cause::ElspOverrun { engine } => write!(f, "ELSP written while a submission was pending on {}", engine.name()),
            Cause::Submission { engine, what } => write!(f, "submission refused on {}: {what}", engine.name()),
            Cause::Command { engine, command, header, place, reason } => {
                write!(f, "command refused on {}: {command} (header {header:#010x}) {place}: {reason}", engine.name())
            }
            Cause::Ppgtt(fault) => write!(f, "{fault}"),
            Cause::PageTrackWrite { gpa, fault } => write!(f, "trapped write to a guest page table at {gpa:#x} failed: {fault}"),
        }
    }
}

/// What a guest did that the vGPU refused or ignored without entering failsafe. A guest does
/// these at will, so they are logged rate-limited, at a low level ([`Notice::is_debug`]: the
/// harmless ones only when debugging).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// An access the vGPU refused: malformed (size, alignment, an offset the device does not
    /// have) or a value the register does not take.
    Refused {
        /// What the guest tried.
        access: Access,
        /// Config-space or BAR0 offset.
        offset: u64,
        /// Bytes.
        len: u8,
    },
    /// A write to a register the device model does not track: it lands in the vGPU's register
    /// file and nowhere else.
    Untracked {
        /// The register.
        reg: u32,
        /// The value written.
        value: u32,
    },
    /// A write to a read-only register, ignored.
    ReadOnly {
        /// The register.
        reg: u32,
        /// The value written.
        value: u32,
    },
    /// The scanner found an invalid instruction in the ring of a workload on `engine`: the
    /// workload runs up to it, then the guest sees a command streamer error, as on hardware.
    InvalidCommand {
        /// The engine.
        engine: Engine,
        /// Its byte offset in the ring buffer.
        ring_offset: u32,
        /// Its first dword.
        header: u32,
    },
}

/// A guest access, for [`Notice::Refused`]; a write's value (its bytes, little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A config-space read.
    CfgRead,
    /// A config-space write.
    CfgWrite(u64),
    /// A BAR0 read (registers or GGTT).
    MmioRead,
    /// A BAR0 write.
    MmioWrite(u64),
}

impl Notice {
    /// Whether it is only worth seeing when debugging: untracked and read-only register
    /// writes are what drivers do (upstream logs them as MMIO debug messages).
    pub fn is_debug(&self) -> bool {
        matches!(self, Notice::Untracked { .. } | Notice::ReadOnly { .. })
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Notice::Refused { access, offset, len } => {
                let (what, value) = match access {
                    Access::CfgRead => ("config space read", None),
                    Access::CfgWrite(v) => ("config space write", Some(v)),
                    Access::MmioRead => ("BAR0 read", None),
                    Access::MmioWrite(v) => ("BAR0 write", Some(v)),
                };
                write!(f, "refused a {len}-byte {what}")?;
                if let Some(v) = value {
                    write!(f, " of {v:#x}")?;
                }
                write!(f, " at {offset:#x}")
            }
            Notice::Untracked { reg, value } => {
                write!(f, "wrote {value:#010x} to register {reg:#x}, which the vGPU does not track: kept in its registers only")
            }
            Notice::ReadOnly { reg, value } => write!(f, "wrote {value:#010x} to read-only register {reg:#x}: ignored"),
            Notice::InvalidCommand { engine, ring_offset, header } => write!(
                f,
                "invalid instruction (header {header:#010x}) at ring offset {ring_offset:#x} on {}: what precedes it runs, then the guest \
                 sees a command streamer error",
                engine.name()
            ),
        }
    }
}

/// What is wrong with a submission the core cannot run. `lrca` is the graphics address of the
/// context it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submission {
    /// An element whose descriptor is not valid, privileged and 4-level (the descriptor).
    Descriptor(u64),
    /// Both execlist slots of the engine are taken.
    SlotsBusy,
    /// Every workload slot of the vGPU is taken.
    QueueFull,
    /// The context image cannot be read through the vGPU's GGTT.
    Context {
        /// The context.
        lrca: u64,
        /// The error reading it.
        err: GvtError,
    },
    /// The context's ring buffer is off (`RING_CTL` bit 0), its head or tail lies outside it, or
    /// it lies outside the vGPU's graphics memory.
    Ring {
        /// The context.
        lrca: u64,
        /// The ring's graphics address.
        start: u64,
        /// The context's `RING_CTL`.
        ctl: u32,
        /// Where the slice starts.
        head: u32,
        /// Where it ends.
        tail: u32,
    },
    /// The ring slice from head to tail is longer than [`MAX_RING_SLICE`].
    RingTooLong {
        /// The context.
        lrca: u64,
        /// Its length in bytes.
        len: u32,
    },
    /// The ring buffer's bytes cannot be read through the vGPU's GGTT.
    RingUnreadable {
        /// The context.
        lrca: u64,
        /// The ring's graphics address.
        start: u64,
        /// The error reading it.
        err: GvtError,
    },
    /// The host could not build the workload (shadow context, ring or batch shadows).
    Host(GvtError),
}

impl fmt::Display for Submission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Submission::Descriptor(d) => write!(f, "context descriptor {d:#x} is not valid, privileged and 4-level"),
            Submission::SlotsBusy => f.write_str("both execlist slots are taken"),
            Submission::QueueFull => f.write_str("the vGPU's workload queue is full"),
            Submission::Context { lrca, err } => write!(f, "context image at {lrca:#x} cannot be read through the GGTT ({err})"),
            Submission::Ring { lrca, start, ctl, head, tail } => write!(
                f,
                "context {lrca:#x}: ring buffer at {start:#x} (RING_CTL {ctl:#x}, head {head:#x}, tail {tail:#x}) is off, \
                 out of its bounds or outside the vGPU's memory"
            ),
            Submission::RingTooLong { lrca, len } => {
                write!(f, "context {lrca:#x}: ring slice of {len:#x} bytes, longer than {MAX_RING_SLICE:#x}")
            }
            Submission::RingUnreadable { lrca, start, err } => {
                write!(f, "context {lrca:#x}: ring buffer at {start:#x} cannot be read through the GGTT ({err})")
            }
            Submission::Host(err) => write!(f, "the host could not build the workload ({err})"),
        }
    }
}

/// Where a refused command is: in the ring, or in a batch buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Byte offset in the ring buffer.
    Ring(u32),
    /// Byte offset from the start of a batch, and the batch (its address space and graphics
    /// address) when the scanner named it.
    Batch {
        /// Offset in the batch.
        offset: u32,
        /// The batch.
        batch: Option<(AddrSpace, u64)>,
    },
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Place::Ring(o) => write!(f, "at ring offset {o:#x}"),
            Place::Batch {
                offset,
                batch: None,
            } => write!(f, "at offset {offset:#x} of a batch"),
            Place::Batch {
                offset,
                batch: Some((space, addr)),
            } => {
                let space = match space {
                    AddrSpace::Ggtt => "GGTT",
                    AddrSpace::Ppgtt => "PPGTT",
                };
                write!(f, "at offset {offset:#x} of the {space} batch at {addr:#x}")
            }
        }
    }
}

/// Bytes of an [`Identity`]'s label: room for a backend's name as the glue reads it (32
/// bytes), `", "` and the backend's name for the vGPU (`GVT_VGPU_NAME_LEN` - 1 of the MPT ABI,
/// 47), which the glue asserts.
pub const LABEL_LEN: usize = 96;

/// Who a vGPU is in the host log, `vGPU 1 (kvmgt, mdev 6a4c...)`: its id, the backend that
/// created it and, if the backend named it, its name for the vGPU (the mdev's UUID, the ACRN
/// VM). A label that does not fit is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    id: u32,
    label: [u8; LABEL_LEN],
    /// Bytes of the backend's name, then of the whole label.
    backend: usize,
    len: usize,
}

impl Identity {
    /// vGPU `id` of the backend called `backend`, not named yet.
    pub fn new(id: u32, backend: &[u8]) -> Identity {
        let mut i = Identity {
            id,
            label: [0; LABEL_LEN],
            backend: 0,
            len: 0,
        };
        i.push(backend);
        i.backend = i.len;
        i
    }

    /// The backend's name for the vGPU (it replaces an earlier one).
    pub fn name(&mut self, name: &[u8]) {
        self.len = self.backend;
        self.push(b", ");
        self.push(name);
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let Some(d) = self.label.get_mut(self.len) else {
                return;
            };
            *d = b;
            self.len = self.len.wrapping_add(1);
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = self.label.get(..self.len).unwrap_or(&[]);
        // Backends name things in ASCII; whatever is not UTF-8 (a name cut inside a character)
        // is left out.
        let text = match core::str::from_utf8(label) {
            Ok(t) => t,
            Err(e) => {
                core::str::from_utf8(label.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or("")
            }
        };
        write!(f, "vGPU {} ({text})", self.id)
    }
}

/// At most `burst` messages per `interval` nanoseconds, as the kernel's `___ratelimit` counts
/// them (`DEFAULT_RATELIMIT_INTERVAL`, `DEFAULT_RATELIMIT_BURST` in [`RateLimit::DEFAULT`]),
/// with the time passed in. Unlike printk's, one limiter belongs to one vGPU, and the count of
/// the messages it held back goes out with the next one it lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    interval_ns: u64,
    burst: u32,
    /// Start of the current interval (`None` before the first message).
    begin: Option<u64>,
    /// Messages let through in the current interval.
    passed: u32,
    /// Messages held back since the last one let through.
    held: u32,
}

impl RateLimit {
    /// Ten messages per five seconds, the kernel's default.
    pub const DEFAULT: RateLimit = RateLimit::new(5_000_000_000, 10);

    /// A limiter of `burst` messages per `interval_ns`.
    pub const fn new(interval_ns: u64, burst: u32) -> RateLimit {
        RateLimit {
            interval_ns,
            burst,
            begin: None,
            passed: 0,
            held: 0,
        }
    }

    /// Whether a message may go out at `now_ns`: `Some` with the number of messages held back
    /// before it, or `None` if it must be dropped. A clock that goes back stays in the current
    /// interval.
    pub fn admit(&mut self, now_ns: u64) -> Option<Held> {
        let begin = *self.begin.get_or_insert(now_ns);
        if now_ns.saturating_sub(begin) >= self.interval_ns {
            self.begin = Some(now_ns);
            self.passed = 0;
        }
        if self.passed >= self.burst {
            self.held = self.held.saturating_add(1);
            return None;
        }
        self.passed = self.passed.saturating_add(1);
        Some(Held(core::mem::take(&mut self.held)))
    }
}

/// How many messages a [`RateLimit`] held back before the one it let through. Shown at the
/// end of that message: nothing for none, else ` (N earlier messages suppressed)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held(pub u32);

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            1 => f.write_str(" (1 earlier message suppressed)"),
            n => write!(f, " ({n} earlier messages suppressed)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_flood_gets_a_burst_per_interval_and_the_count_of_the_rest() {
        let mut l = RateLimit::DEFAULT;
        // A guest trapping every microsecond for one second: ten lines, not a million.
        let through: std::vec::Vec<Held> = (0..1_000_000u64)
            .filter_map(|i| l.admit(7 * SECOND + i * 1000))
            .collect();
        assert_eq!(through, [Held(0); 10]);
        // Still inside the interval: nothing.
        assert_eq!(l.admit(7 * SECOND + 5 * SECOND - 1), None);
        // The next interval lets the next one through, with the count of what was dropped.
        assert_eq!(l.admit(12 * SECOND), Some(Held(999_991)));
        assert_eq!(l.admit(12 * SECOND + 1), Some(Held(0)));
    }

    #[test]
    fn a_clock_going_back_stays_in_the_interval() {
        let mut l = RateLimit::new(SECOND, 1);
        assert_eq!(l.admit(10 * SECOND), Some(Held(0)));
        assert_eq!(l.admit(SECOND), None);
        assert_eq!(l.admit(11 * SECOND), Some(Held(1)));
    }

    #[test]
    fn limiters_are_independent() {
        let (mut a, mut b) = (RateLimit::new(SECOND, 2), RateLimit::new(SECOND, 2));
        for t in 0..100 {
            let _ = a.admit(t);
        }
        assert_eq!(
            b.admit(100),
            Some(Held(0)),
            "one vGPU's flood leaves another's limiter alone"
        );
    }

    #[test]
    fn causes_the_workload_tests_do_not_reach_in_words() {
        // What a guest cannot provoke at will, or only through the host's limits.
        let on_bcs = |what| Cause::Submission {
            engine: Engine::Bcs,
            what,
        };
        let cases = [
            (on_bcs(Submission::SlotsBusy), "submission refused on bcs0: both execlist slots are taken", false),
            (on_bcs(Submission::QueueFull), "submission refused on bcs0: the vGPU's workload queue is full", true),
            (
                on_bcs(Submission::RingTooLong { lrca: 0x5000, len: 0x1_0008 }),
                "submission refused on bcs0: context 0x5000: ring slice of 0x10008 bytes, longer than 0x10000",
                false,
            ),
            (
                on_bcs(Submission::RingUnreadable { lrca: 0x5000, start: 0x9000, err: GvtError::Fault }),
                "submission refused on bcs0: context 0x5000: ring buffer at 0x9000 cannot be read through the GGTT (bad address)",
                false,
            ),
            (on_bcs(Submission::Host(GvtError::NoMemory)), "submission refused on bcs0: the host could not build the workload (out of memory)", true),
            (
                Cause::Command {
                    engine: Engine::Vecs,
                    command: "unknown",
                    header: 0xdead_beef,
                    place: Place::Batch { offset: 0x40, batch: None },
                    reason: Reason::UnknownCommand,
                },
                "command refused on vecs0: unknown (header 0xdeadbeef) at offset 0x40 of a batch: no such command on this engine",
                false,
            ),
            (Cause::Ppgtt(Fault::Full), "no shadow page table left: the vGPU's page tables in use fill its storage", true),
            (Cause::Ppgtt(Fault::BadRoot(0x1234)), "PML4 address 0x1234 is not a page-aligned guest address", false),
            (
                Cause::PageTrackWrite { gpa: 0x7008, fault: Fault::Host(GvtError::Invalid) },
                "trapped write to a guest page table at 0x7008 failed: host error while shadowing page tables: invalid argument",
                true,
            ),
            (
                Cause::Ppgtt(Fault::Entry { gfn: 0x42, level: 2, index: 3, value: 0x1234_5083 }),
                "2 MiB page not 2 MiB aligned: entry 3 = 0x12345083 of the PD at gfn 0x42",
                false,
            ),
            (
                Cause::Ppgtt(Fault::Page { gfn: 0x20_0000, level: 2, err: GvtError::Fault }),
                "2 MiB page outside guest RAM: gfn 0x200000 (mapped by a PD; bad address)",
                false,
            ),
        ];
        for (cause, text, host) in cases {
            assert_eq!(cause.to_string(), text);
            assert_eq!(cause.is_host_fault(), host, "{text}");
            assert_eq!(cause.class(), Failsafe::GuestError);
        }
    }

    #[test]
    fn identities_say_which_vgpu_of_which_backend() {
        let mut i = Identity::new(3, b"kvmgt");
        assert_eq!(i.to_string(), "vGPU 3 (kvmgt)");
        i.name(b"mdev 6a4c62b3-3d5b-4b8a-9f3c-0123456789ab");
        assert_eq!(
            i.to_string(),
            "vGPU 3 (kvmgt, mdev 6a4c62b3-3d5b-4b8a-9f3c-0123456789ab)"
        );
        i.name(b"vm 2");
        assert_eq!(
            i.to_string(),
            "vGPU 3 (kvmgt, vm 2)",
            "a new name replaces the old"
        );
        // Too long: cut, and never inside a character (the two-byte characters start where
        // they leave one byte at the end).
        let mut long = Identity::new(1, b"kvmgt");
        let odd = (LABEL_LEN - "kvmgt, ".len()) % 2 == 1;
        let name = std::format!(
            "{}{}",
            if odd { "" } else { "a" },
            "\u{e9}".repeat(LABEL_LEN)
        );
        long.name(name.as_bytes());
        let text = long.to_string();
        assert!(text.starts_with("vGPU 1 (kvmgt, "), "{text}");
        assert!(text.ends_with("\u{e9})"), "{text}");
        assert_eq!(text.len(), "vGPU 1 ()".len() + LABEL_LEN - 1, "{text}");
    }

    #[test]
    fn held_messages_are_counted_in_words() {
        assert_eq!(Held(0).to_string(), "");
        assert_eq!(Held(1).to_string(), " (1 earlier message suppressed)");
        assert_eq!(Held(42).to_string(), " (42 earlier messages suppressed)");
    }
}
