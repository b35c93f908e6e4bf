//! A test host for execution: host memory in a map, engine registers, and an executor that
//! runs submitted workloads the way the sim engines will, but only for the commands the guest
//! model emits (MI_NOOP, MI_LOAD_REGISTER_IMM, MI_ARB_ON_OFF, MI_STORE_DATA_IMM, PPGTT
//! MI_BATCH_BUFFER_START/END). Every memory access walks the shadow PPGTT in host memory from
//! the root the core put in the shadow context, and ends at a DMA address that must belong to
//! a mapped page of some VM, so a wrong shadow makes a test fail.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};

use gvt::model::error::{GvtError, Result};
use gvt::model::host::{Completion, HostExec, HostWorkload};
use gvt::model::ppgtt::{ADDR_MASK, PTE_PRESENT, PTE_PS};

use crate::hv::MemHypervisor;

const PAGE: u64 = 4096;
/// Where host memory starts (above every VM's DMA window, inside the 47-bit PTE range).
pub const HOST_MEM_BASE: u64 = 0x7000_0000_0000;

/// Host memory, registers and a submission queue.
#[derive(Default)]
pub struct ExecHost {
    mem: RefCell<BTreeMap<u64, Box<[u8; PAGE as usize]>>>,
    next: Cell<u64>,
    regs: RefCell<BTreeMap<u32, u32>>,
    /// Engine register writes seen.
    pub reg_writes: Cell<u64>,
    queue: RefCell<VecDeque<HostWorkload>>,
    /// Values the executor's LRIs loaded, per (vgpu, register).
    pub loaded: RefCell<BTreeMap<(u32, u32), u32>>,
}

impl ExecHost {
    /// Pages of host memory in use.
    pub fn live_pages(&self) -> usize {
        self.mem.borrow().len()
    }

    /// The oldest submitted workload.
    pub fn take(&self) -> Option<HostWorkload> {
        self.queue.borrow_mut().pop_front()
    }

    /// Workloads waiting.
    pub fn queued(&self) -> usize {
        self.queue.borrow().len()
    }

    fn read_u64(&self, addr: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read_mem(addr, &mut b).ok()?;
        Some(u64::from_le_bytes(b))
    }

    /// Walks the shadow PPGTT at `root` to the DMA address of `gva`.
    pub fn translate(&self, root: u64, gva: u64) -> Option<u64> {
        let mut table = root;
        for level in (1..=4u32).rev() {
            let idx = (gva >> (12 + 9 * (level - 1))) & 0x1ff;
            let e = self.read_u64(table + idx * 8)?;
            if e & PTE_PRESENT == 0 {
                return None;
            }
            if level == 1 {
                return Some((e & ADDR_MASK) | (gva & 0xfff));
            }
            if level == 2 && e & PTE_PS != 0 {
                return Some((e & ADDR_MASK & !0x1f_ffff) | (gva & 0x1f_ffff));
            }
            if level == 3 && e & PTE_PS != 0 {
                return None;
            }
            table = e & ADDR_MASK;
        }
        None
    }

    fn store(&self, root: u64, gva: u64, v: u32, hvs: &mut [&mut MemHypervisor]) -> bool {
        use gvt::mpt::MptOps;
        let Some(dma) = self.translate(root, gva) else { return false };
        for hv in hvs.iter_mut() {
            if let Some(gpa) = hv.dma_to_gpa(dma) {
                return hv.write_gpa(gpa, &v.to_le_bytes()).is_ok();
            }
        }
        false
    }

    fn batch_dword(&self, root: u64, gva: u64, hvs: &mut [&mut MemHypervisor]) -> Option<u32> {
        use gvt::mpt::MptOps;
        let dma = self.translate(root, gva)?;
        for hv in hvs.iter_mut() {
            if let Some(gpa) = hv.dma_to_gpa(dma) {
                let mut b = [0u8; 4];
                hv.read_gpa(gpa, &mut b).ok()?;
                return Some(u32::from_le_bytes(b));
            }
        }
        None
    }

    /// Runs workload `w` to its end; a fault or an unknown command is a hang.
    pub fn execute(&self, w: &HostWorkload, hvs: &mut [&mut MemHypervisor]) -> Completion {
        let root_hi = self.read_u64(w.context + PAGE + 0x30 * 4).unwrap_or(0) >> 32;
        let root_lo = self.read_u64(w.context + PAGE + 0x32 * 4).unwrap_or(0) >> 32;
        let root = (root_hi << 32) | root_lo;
        let mut ring = vec![0u8; w.ring_len as usize];
        if self.read_mem(w.ring, &mut ring).is_err() {
            return Completion::Hang;
        }
        let ring: Vec<u32> = ring.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        let mut i = 0;
        while i < ring.len() {
            let h = ring[i];
            let op = h >> 23;
            let len = match op {
                0x00 | 0x02 | 0x08 | 0x0a => 1,
                0x22 => (h & 0xff) as usize + 2,
                0x20 if h & 0x3ff == 2 => 4,
                0x31 if h & 0xff == 1 => 3,
                _ => return Completion::Hang,
            };
            let Some(cmd) = ring.get(i..i + len) else { return Completion::Hang };
            match op {
                0x22 => {
                    for pair in cmd[1..].chunks_exact(2) {
                        self.loaded.borrow_mut().insert((w.vgpu, pair[0]), pair[1]);
                    }
                }
                0x20 if h & (1 << 22) != 0 || !self.store(root, u64::from(cmd[1]) | (u64::from(cmd[2]) << 32), cmd[3], hvs) => {
                    return Completion::Hang;
                }
                0x31 if h & (1 << 8) == 0 || !self.run_batch(root, u64::from(cmd[1]) | (u64::from(cmd[2]) << 32), hvs) => {
                    return Completion::Hang;
                }
                _ => {}
            }
            i += len;
        }
        Completion::Done
    }

    fn run_batch(&self, root: u64, start: u64, hvs: &mut [&mut MemHypervisor]) -> bool {
        let mut at = start;
        for _ in 0..100_000 {
            let Some(h) = self.batch_dword(root, at, hvs) else { return false };
            match h >> 23 {
                0x00 => at += 4,
                0x0a => return true,
                // PPGTT batches run from guest memory: the guest may have rewritten them since
                // the scan, so only well-formed stores run, as on hardware.
                0x20 if h & (1 << 22) == 0 && h & 0x3ff == 2 => {
                    let n = 4;
                    let d: Option<Vec<u32>> = (1..n).map(|k| self.batch_dword(root, at + 4 * k, hvs)).collect();
                    let Some(d) = d else { return false };
                    if !self.store(root, u64::from(d[0]) | (u64::from(d[1]) << 32), d[2], hvs) {
                        return false;
                    }
                    at += 4 * n;
                }
                _ => return false,
            }
        }
        false
    }
}

impl HostExec for ExecHost {
    fn alloc_pages(&self, pages: u32) -> Result<u64> {
        if self.next.get() == 0 {
            self.next.set(HOST_MEM_BASE);
        }
        let at = self.next.get();
        self.next.set(at + u64::from(pages.max(1)) * PAGE);
        let mut m = self.mem.borrow_mut();
        for p in 0..u64::from(pages) {
            m.insert(at + p * PAGE, Box::new([0; PAGE as usize]));
        }
        Ok(at)
    }

    fn free_pages(&self, addr: u64, pages: u32) {
        let mut m = self.mem.borrow_mut();
        for p in 0..u64::from(pages) {
            m.remove(&(addr + p * PAGE));
        }
    }

    fn write_mem(&self, addr: u64, data: &[u8]) -> Result {
        let mut m = self.mem.borrow_mut();
        let mut done = 0;
        while done < data.len() {
            let a = addr + done as u64;
            let page = m.get_mut(&(a & !(PAGE - 1))).ok_or(GvtError::Fault)?;
            let off = (a % PAGE) as usize;
            let n = (PAGE as usize - off).min(data.len() - done);
            page[off..off + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        Ok(())
    }

    fn read_mem(&self, addr: u64, buf: &mut [u8]) -> Result {
        let m = self.mem.borrow();
        let mut done = 0;
        while done < buf.len() {
            let a = addr + done as u64;
            let page = m.get(&(a & !(PAGE - 1))).ok_or(GvtError::Fault)?;
            let off = (a % PAGE) as usize;
            let n = (PAGE as usize - off).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&page[off..off + n]);
            done += n;
        }
        Ok(())
    }

    fn mmio_read(&self, offset: u32) -> u32 {
        self.regs.borrow().get(&offset).copied().unwrap_or(0)
    }

    fn mmio_write(&self, offset: u32, value: u32) {
        self.reg_writes.set(self.reg_writes.get() + 1);
        self.regs.borrow_mut().insert(offset, value);
    }

    fn submit(&self, w: &HostWorkload) -> Result {
        self.queue.borrow_mut().push_back(*w);
        Ok(())
    }
}
