//! `gvt-i915-client`: a tiny i915 user-space client for the L3 test rung.
//!
//! It runs inside the nested (L2) guest, whose stock Linux 6.12 i915 drives a gvt-rs vGPU
//! (Broxton, Gen9, execlists, full 48-bit PPGTT, no LLC), and talks only to i915's stable uAPI on
//! /dev/dri/renderD128: no Mesa or libdrm, which that guest's initramfs does not carry. It
//! exists so the rung can
//! - `request`: count the traps ONE GPU request costs. The batch stores a dword into a second
//!   object; the harness is told when the request is about to be submitted and when it has
//!   completed (the `GVT_SYNC` handshake), then the dword is read back and checked;
//! - `hang`: provoke one real GPU hang (a batch that jumps to itself) and show that i915's
//!   heartbeat resets the engine, completes the request and charges the hang to this context.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;
use std::time::Instant;

use uapi::{ExecObject2, GemCreate, GemWait, ResetStats};

const USAGE: &str = "usage: gvt-i915-client request|hang
  request  submit one batch that stores a dword, wait, read it back
           (GVT_SYNC=<file>: print request-ready/request-done, read a line after each)
  hang     submit one batch that loops forever, wait for i915 to reset the engine";

/// The batch object's softpinned address in this fd's PPGTT. The store target is softpinned on
/// the page after it, so both sit in one page table, as one 8 KiB object would.
const BATCH_ADDR: u64 = 0x10_0000;
const TARGET_ADDR: u64 = 0x10_1000;
const PAGE: u64 = 0x1000;

/// i915 uAPI: the structs and ioctl numbers, from include/uapi/drm/i915_drm.h, drm.h and
/// asm-generic/ioctl.h of Linux 6.12, and the ioctl calls: the program's only unsafe code.
#[allow(unsafe_code)]
mod uapi {
    use std::fs::File;
    use std::io;
    use std::mem::size_of;
    use std::os::fd::AsRawFd;

    const IOC_WRITE: u64 = 1;
    const IOC_READ: u64 = 2;

    /// `DRM_IOW`/`DRM_IOWR` (drm.h): `_IOC(dir, DRM_IOCTL_BASE 'd', DRM_COMMAND_BASE 0x40 + nr,
    /// size)`, laid out as dir:2 | size:14 | type:8 | nr:8 (asm-generic/ioctl.h).
    const fn drm_ioc(dir: u64, nr: u64, size: usize) -> u64 {
        assert!(size < 1 << 14 && nr < 0x40);
        (dir << 30) | ((size as u64) << 16) | ((b'd' as u64) << 8) | (0x40 | nr)
    }

    /// `struct drm_i915_gem_create`.
    #[repr(C)]
    #[derive(Default)]
    pub struct GemCreate {
        pub size: u64,
        pub handle: u32,
        pub pad: u32,
    }

    /// `struct drm_i915_gem_pread` and `struct drm_i915_gem_pwrite`: the same layout.
    #[repr(C)]
    pub struct GemRw {
        handle: u32,
        pad: u32,
        offset: u64,
        size: u64,
        data_ptr: u64,
    }

    /// `struct drm_i915_gem_exec_object2`. Built only by `pinned`, so it never carries
    /// relocations (whose pointer the kernel would follow).
    #[repr(C)]
    #[derive(Default)]
    pub struct ExecObject2 {
        handle: u32,
        relocation_count: u32,
        relocs_ptr: u64,
        alignment: u64,
        offset: u64,
        flags: u64,
        rsvd1: u64,
        rsvd2: u64,
    }

    impl ExecObject2 {
        /// An object softpinned at `offset` in the PPGTT, written by the batch if `write`.
        pub fn pinned(handle: u32, offset: u64, write: bool) -> Self {
            let write = if write { EXEC_OBJECT_WRITE } else { 0 };
            let flags = EXEC_OBJECT_PINNED | EXEC_OBJECT_SUPPORTS_48B_ADDRESS | write;
            ExecObject2 {
                handle,
                offset,
                flags,
                ..Default::default()
            }
        }
    }

    /// `struct drm_i915_gem_execbuffer2`.
    #[repr(C)]
    #[derive(Default)]
    pub struct Execbuffer2 {
        buffers_ptr: u64,
        buffer_count: u32,
        batch_start_offset: u32,
        batch_len: u32,
        dr1: u32,
        dr4: u32,
        num_cliprects: u32,
        cliprects_ptr: u64,
        flags: u64,
        rsvd1: u64,
        rsvd2: u64,
    }

    /// `struct drm_i915_gem_wait`.
    #[repr(C)]
    #[derive(Default)]
    pub struct GemWait {
        pub bo_handle: u32,
        pub flags: u32,
        pub timeout_ns: i64,
    }

    /// `struct drm_i915_reset_stats`.
    #[repr(C)]
    #[derive(Default)]
    pub struct ResetStats {
        pub ctx_id: u32,
        pub flags: u32,
        pub reset_count: u32,
        pub batch_active: u32,
        pub batch_pending: u32,
        pub pad: u32,
    }

    // DRM_IOCTL_I915_* (i915_drm.h). EXECBUFFER2, PREAD and PWRITE are DRM_IOW; the rest DRM_IOWR.
    pub const GEM_CREATE: u64 = drm_ioc(IOC_READ | IOC_WRITE, 0x1b, size_of::<GemCreate>());
    pub const GEM_PREAD: u64 = drm_ioc(IOC_WRITE, 0x1c, size_of::<GemRw>());
    pub const GEM_PWRITE: u64 = drm_ioc(IOC_WRITE, 0x1d, size_of::<GemRw>());
    pub const GEM_EXECBUFFER2: u64 = drm_ioc(IOC_WRITE, 0x29, size_of::<Execbuffer2>());
    pub const GEM_WAIT: u64 = drm_ioc(IOC_READ | IOC_WRITE, 0x2c, size_of::<GemWait>());
    pub const GET_RESET_STATS: u64 = drm_ioc(IOC_READ | IOC_WRITE, 0x32, size_of::<ResetStats>());

    // drm_i915_gem_exec_object2.flags and drm_i915_gem_execbuffer2.flags (i915_drm.h).
    const EXEC_OBJECT_WRITE: u64 = 1 << 2;
    const EXEC_OBJECT_SUPPORTS_48B_ADDRESS: u64 = 1 << 3;
    const EXEC_OBJECT_PINNED: u64 = 1 << 4;
    const I915_EXEC_RENDER: u64 = 1;
    const I915_EXEC_NO_RELOC: u64 = 1 << 11;

    /// An ioctl argument without user pointers, and the request that takes it.
    pub trait PlainArg {
        const REQUEST: u64;
    }
    impl PlainArg for GemCreate {
        const REQUEST: u64 = GEM_CREATE;
    }
    impl PlainArg for GemWait {
        const REQUEST: u64 = GEM_WAIT;
    }
    impl PlainArg for ResetStats {
        const REQUEST: u64 = GET_RESET_STATS;
    }

    /// ioctl(2), retried on EINTR and EAGAIN as libdrm's drmIoctl does.
    ///
    /// # Safety
    /// `req` must take a `T`, and every user pointer in `arg` must be valid for what the kernel
    /// does with it during the call.
    unsafe fn drm_ioctl<T>(fd: &File, req: u64, arg: &mut T) -> io::Result<()> {
        loop {
            // SAFETY: `arg` is live and exclusive for the call; the rest is the caller's contract.
            if unsafe { libc::ioctl(fd.as_raw_fd(), req, std::ptr::from_mut(arg)) } == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) {
                return Err(e);
            }
        }
    }

    /// An ioctl whose argument holds no pointers.
    pub fn call<T: PlainArg>(fd: &File, arg: &mut T) -> io::Result<()> {
        // SAFETY: `T::REQUEST` takes a `T`, which holds no pointers.
        unsafe { drm_ioctl(fd, T::REQUEST, arg) }
    }

    /// DRM_IOCTL_I915_GEM_PWRITE or _PREAD (`request`): `len` bytes between the object at
    /// `offset` and user memory at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` is valid for `len` bytes: readable for PWRITE, writable for PREAD.
    unsafe fn gem_rw(
        fd: &File,
        request: u64,
        handle: u32,
        offset: u64,
        ptr: u64,
        len: usize,
    ) -> io::Result<()> {
        let mut arg = GemRw {
            handle,
            pad: 0,
            offset,
            size: len as u64,
            data_ptr: ptr,
        };
        // SAFETY: PWRITE and PREAD take a GemRw; the caller vouches for `ptr` and `len`.
        unsafe { drm_ioctl(fd, request, &mut arg) }
    }

    /// DRM_IOCTL_I915_GEM_PWRITE: copy `data` into the object at `offset`.
    pub fn pwrite(fd: &File, handle: u32, offset: u64, data: &[u8]) -> io::Result<()> {
        // SAFETY: the kernel reads `data`, which is valid for its length.
        unsafe {
            gem_rw(
                fd,
                GEM_PWRITE,
                handle,
                offset,
                data.as_ptr() as u64,
                data.len(),
            )
        }
    }

    /// DRM_IOCTL_I915_GEM_PREAD: fill `data` from the object at `offset`.
    pub fn pread(fd: &File, handle: u32, offset: u64, data: &mut [u8]) -> io::Result<()> {
        // SAFETY: the kernel writes `data`, which is valid and exclusively ours for its length.
        unsafe {
            gem_rw(
                fd,
                GEM_PREAD,
                handle,
                offset,
                data.as_mut_ptr() as u64,
                data.len(),
            )
        }
    }

    /// DRM_IOCTL_I915_GEM_EXECBUFFER2 on the render engine of the fd's default context; the
    /// batch is the last object, `batch_len` bytes from its start.
    pub fn execbuffer2(fd: &File, objects: &mut [ExecObject2], batch_len: u32) -> io::Result<()> {
        let buffer_count = u32::try_from(objects.len())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut arg = Execbuffer2 {
            buffers_ptr: objects.as_mut_ptr() as u64,
            buffer_count,
            batch_len,
            flags: I915_EXEC_RENDER | I915_EXEC_NO_RELOC,
            ..Default::default()
        };
        // SAFETY: EXECBUFFER2 takes an Execbuffer2; the kernel reads and writes back (offsets)
        // `buffer_count` exec objects at `buffers_ptr`: `objects`, which carry no relocations.
        // No cliprects, fences or extensions are flagged, so no other pointer is followed.
        unsafe { drm_ioctl(fd, GEM_EXECBUFFER2, &mut arg) }
    }
}

// MI commands (drivers/gpu/drm/i915/gt/intel_gpu_commands.h): MI_INSTR(op, len) = op << 23 | len.
const MI_NOOP: u32 = 0;
const MI_BATCH_BUFFER_END: u32 = 0x0a << 23;
/// MI_STORE_DWORD_IMM_GEN4, Gen8 form: 4 dwords (header, address low, high, value).
const MI_STORE_DWORD_IMM: u32 = (0x20 << 23) | 2;
/// MI_BATCH_BUFFER_START_GEN8 (3 dwords) with bit 8: the address is in the PPGTT.
const MI_BATCH_BUFFER_START_PPGTT: u32 = (0x31 << 23) | (1 << 8) | 1;

fn lo_hi(addr: u64) -> [u32; 2] {
    let [a, b, c, d, e, f, g, h] = addr.to_le_bytes();
    [
        u32::from_le_bytes([a, b, c, d]),
        u32::from_le_bytes([e, f, g, h]),
    ]
}

/// Pads to an even dword count: execbuf wants batch_len 8-byte aligned.
fn finish(mut batch: Vec<u32>) -> Vec<u32> {
    if batch.len() & 1 == 1 {
        batch.push(MI_NOOP);
    }
    batch
}

/// The `request` batch: store `value` at GPU address `target`, end.
fn store_batch(target: u64, value: u32) -> Vec<u32> {
    let [lo, hi] = lo_hi(target);
    finish(vec![MI_STORE_DWORD_IMM, lo, hi, value, MI_BATCH_BUFFER_END])
}

/// The `hang` batch: jump to `itself` (its own GPU address) forever. No MI_ARB_CHECK, so the
/// loop cannot be preempted and only an engine reset ends it.
fn hang_batch(itself: u64) -> Vec<u32> {
    let [lo, hi] = lo_hi(itself);
    finish(vec![MI_BATCH_BUFFER_START_PPGTT, lo, hi])
}

/// "what: text (os error N)" for a failed call: the reason and the errno.
fn os_err(what: &str, e: &io::Error) -> String {
    format!("{what}: {e}")
}

/// The render node and two 4 KiB objects: the batch and the dword it stores to. Two objects,
/// not one, because execbuf refuses a batch flagged EXEC_OBJECT_WRITE ("self-modifying batch
/// buffer", i915_gem_execbuffer.c eb_add_vma), and without that flag i915 would not know to
/// clflush before PREAD on this non-LLC part.
struct Gpu {
    fd: File,
    batch: u32,
    target: u32,
    batch_len: u32,
}

impl Gpu {
    fn open(batch: &[u32]) -> Result<Self, String> {
        let path = "/dev/dri/renderD128";
        // O_RDWR | O_CLOEXEC (std sets O_CLOEXEC anyway).
        let fd = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path);
        let fd = fd.map_err(|e| os_err(&format!("open {path}"), &e))?;
        let create = |what| {
            let mut arg = GemCreate {
                size: PAGE,
                ..Default::default()
            };
            uapi::call(&fd, &mut arg)
                .map_err(|e| os_err(what, &e))
                .map(|()| arg.handle)
        };
        let (batch_h, target) = (create("gem_create batch")?, create("gem_create target")?);
        let bytes: Vec<u8> = batch.iter().flat_map(|d| d.to_le_bytes()).collect();
        uapi::pwrite(&fd, batch_h, 0, &bytes).map_err(|e| os_err("gem_pwrite", &e))?;
        let batch_len = u32::try_from(bytes.len()).map_err(|_| "batch too long".to_string())?;
        Ok(Gpu {
            fd,
            batch: batch_h,
            target,
            batch_len,
        })
    }

    fn submit(&self) -> Result<(), String> {
        let mut objects = [
            ExecObject2::pinned(self.target, TARGET_ADDR, true),
            ExecObject2::pinned(self.batch, BATCH_ADDR, false),
        ];
        uapi::execbuffer2(&self.fd, &mut objects, self.batch_len)
            .map_err(|e| os_err("execbuffer2", &e))
    }

    /// GEM_WAIT on the batch: returns once its request has completed (or was reset).
    fn wait(&self, secs: i64) -> Result<(), String> {
        let timeout_ns = secs.saturating_mul(1_000_000_000);
        let mut arg = GemWait {
            bo_handle: self.batch,
            flags: 0,
            timeout_ns,
        };
        uapi::call(&self.fd, &mut arg).map_err(|e| os_err("gem_wait", &e))
    }
}

/// The harness handshake on `GVT_SYNC` (the L2 guest's second serial port): announce a point on
/// stdout, then block until the harness answers with a line. Without `GVT_SYNC`, nothing.
struct Sync(Option<File>);

impl Sync {
    fn from_env() -> Result<Self, String> {
        let Some(path) = std::env::var_os("GVT_SYNC").filter(|p| !p.is_empty()) else {
            return Ok(Sync(None));
        };
        // O_NOCTTY: a serial port must not become our controlling terminal.
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path);
        let name = path.to_string_lossy().into_owned();
        f.map(|f| Sync(Some(f)))
            .map_err(|e| os_err(&format!("open {name}"), &e))
    }

    fn point(&mut self, name: &str) -> Result<(), String> {
        let Some(f) = self.0.as_mut() else {
            return Ok(());
        };
        println!("GVT-L2: {name}");
        io::stdout()
            .flush()
            .map_err(|e| os_err("flush stdout", &e))?;
        // One byte at a time, so nothing past the line is consumed. EOF ends the line too.
        let mut b = [0u8; 1];
        loop {
            match f.read(&mut b) {
                Ok(0) => return Ok(()),
                Ok(_) if b == *b"\n" => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(os_err("read GVT_SYNC", &e)),
            }
        }
    }
}

fn request() -> Result<u32, String> {
    let mut sync = Sync::from_env()?;
    // Low byte of the pid, so a value from another run cannot pass for this one's.
    let value = 0xC0FF_EE00 | (std::process::id() & 0xff);
    let gpu = Gpu::open(&store_batch(TARGET_ADDR, value))?;
    sync.point("request-ready")?;
    gpu.submit()?;
    gpu.wait(10)?;
    sync.point("request-done")?;
    let mut got = [0u8; 4];
    uapi::pread(&gpu.fd, gpu.target, 0, &mut got).map_err(|e| os_err("gem_pread", &e))?;
    let got = u32::from_le_bytes(got);
    if got == value {
        Ok(got)
    } else {
        Err(format!("read {got:#x}, expected {value:#x}"))
    }
}

fn hang() -> Result<(), String> {
    let gpu = Gpu::open(&hang_batch(BATCH_ADDR))?;
    gpu.submit()?;
    let start = Instant::now();
    gpu.wait(180)?;
    println!("GVT-L2: hang wait_ms={}", start.elapsed().as_millis());
    // ctx_id 0: the fd's default context, which ran the batch. reset_count needs CAP_SYS_ADMIN.
    let mut st = ResetStats::default();
    uapi::call(&gpu.fd, &mut st).map_err(|e| os_err("get_reset_stats", &e))?;
    println!(
        "GVT-L2: hang reset_count={} batch_active={} batch_pending={}",
        st.reset_count, st.batch_active, st.batch_pending
    );
    if st.batch_active >= 1 {
        Ok(())
    } else {
        Err("batch_active=0: no hang was charged to this context".to_string())
    }
}

fn main() -> ExitCode {
    let result = match std::env::args().nth(1).as_deref() {
        Some("request") => request()
            .map(|v| println!("GVT-L2: request ok {v:#x}"))
            .map_err(|e| ("request", e)),
        Some("hang") => hang().map_err(|e| ("hang", e)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((cmd, e)) => {
            println!("GVT-L2: {cmd} failed {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;
    use uapi::{Execbuffer2, GemRw};

    /// Sizes summed by hand from the field lists in i915_drm.h.
    #[test]
    fn struct_sizes() {
        assert_eq!(size_of::<GemCreate>(), 16); // u64 + 2 * u32
        assert_eq!(size_of::<GemRw>(), 32); // 2 * u32 + 3 * u64
        assert_eq!(size_of::<ExecObject2>(), 56); // 2 * u32 + 6 * u64
        assert_eq!(size_of::<Execbuffer2>(), 64); // u64 + 6 * u32 + 4 * u64
        assert_eq!(size_of::<GemWait>(), 16); // 2 * u32 + s64
        assert_eq!(size_of::<ResetStats>(), 24); // 6 * u32
    }

    /// dir << 30 | size << 16 | 'd' (0x64) << 8 | (0x40 + nr), worked out by hand.
    #[test]
    fn ioctl_numbers() {
        assert_eq!(uapi::GEM_CREATE, 0xC010_645B); // IOWR, 16, 0x1b
        assert_eq!(uapi::GEM_PREAD, 0x4020_645C); // IOW, 32, 0x1c
        assert_eq!(uapi::GEM_PWRITE, 0x4020_645D); // IOW, 32, 0x1d
        assert_eq!(uapi::GEM_EXECBUFFER2, 0x4040_6469); // IOW, 64, 0x29
        assert_eq!(uapi::GEM_WAIT, 0xC010_646C); // IOWR, 16, 0x2c
        assert_eq!(uapi::GET_RESET_STATS, 0xC018_6472); // IOWR, 24, 0x32
    }

    #[test]
    fn request_batch() {
        let expect = [0x1000_0002, 0x0010_1000, 0, 0xC0FF_EE2A, 0x0500_0000, 0];
        assert_eq!(store_batch(0x10_1000, 0xC0FF_EE2A), expect);
        let high = [0x1000_0002, 0x2345_6000, 0x1, 7, 0x0500_0000, 0];
        assert_eq!(store_batch(0x1_2345_6000, 7), high);
    }

    #[test]
    fn hang_batch_loops_on_itself() {
        assert_eq!(hang_batch(0x10_0000), [0x1880_0101, 0x0010_0000, 0, 0]);
        assert_eq!(
            hang_batch(0xFFFF_8000_0000),
            [0x1880_0101, 0x8000_0000, 0xFFFF, 0]
        );
    }

    /// Each sync point consumes exactly one line; EOF does not block.
    #[test]
    fn sync_reads_one_line_per_point() -> io::Result<()> {
        let path = std::env::temp_dir().join(format!("i915-client-sync-{}", std::process::id()));
        std::fs::write(&path, "go\nagain\nleft")?;
        let mut sync = Sync(Some(File::open(&path)?));
        let results = [sync.point("a"), sync.point("b")];
        let mut rest = String::new();
        if let Some(f) = sync.0.as_mut() {
            f.read_to_string(&mut rest)?;
        }
        let eof = sync.point("c");
        std::fs::remove_file(&path)?;
        assert_eq!(results, [Ok(()), Ok(())]);
        assert_eq!(rest, "left");
        assert_eq!(eof, Ok(()));
        Ok(())
    }
}
