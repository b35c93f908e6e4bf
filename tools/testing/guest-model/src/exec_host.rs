//! A test host for execution: host memory in a map, engine registers, a submission queue and
//! the sim's GGTT reserve for privileged batch shadows; the sim engines (`gvt::sim::exec`) run
//! what is submitted over [`SimMem`]. Every memory access walks the shadow PPGTT in host memory
//! from the root the core put in the shadow context, or the GGTT, and ends at a DMA address
//! that must belong to a mapped page of some VM or to host memory, so a wrong shadow makes a
//! test fail.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

type Page = Box<[u8; PAGE as usize]>;

/// A page of host memory. An allocated page takes no memory until something other than
/// zeros is written to it (most of a context image stays zero).
enum Slot {
    Free,
    Zero,
    Data(Page),
}

const ZERO: [u8; PAGE as usize] = [0; PAGE as usize];

use gvt::model::error::{GvtError, Result};
use gvt::model::host::{HostExec, HostInfo, HostWorkload};
use gvt::sim::engine::HostMemory;
use gvt::sim::GgttReserve;

use crate::hv::MemHypervisor;

const PAGE: u64 = 4096;
/// Where host memory starts (above every VM's DMA window, inside the 46-bit GGTT PTE range).
pub const HOST_MEM_BASE: u64 = 0x3000_0000_0000;

/// Host memory, registers and a submission queue.
#[derive(Default)]
pub struct ExecHost {
    /// Page `i` is at `HOST_MEM_BASE + i * PAGE` (addresses are handed out in order and never
    /// reused, so this is a plain vector: the sim engines look a page up for every dword).
    mem: RefCell<Vec<Slot>>,
    live: Cell<usize>,
    next: Cell<u64>,
    regs: RefCell<BTreeMap<u32, u32>>,
    /// Engine register writes seen.
    pub reg_writes: Cell<u64>,
    queue: RefCell<VecDeque<HostWorkload>>,
    /// The GPU's GGTT and the reserve in it batch shadows are mapped into (none: mapping fails).
    ggtt: Option<(Arc<[AtomicU64]>, GgttReserve)>,
}

impl ExecHost {
    /// A host that maps batch shadows into the reserve of `ggtt`, the GGTT of a sim GPU with
    /// facts `info`.
    pub fn with_ggtt(ggtt: Arc<[AtomicU64]>, info: &HostInfo) -> ExecHost {
        ExecHost {
            ggtt: Some((ggtt, GgttReserve::new(info))),
            ..ExecHost::default()
        }
    }

    /// GGTT entries mapped for batch shadows now.
    pub fn ggtt_mapped(&self) -> usize {
        self.ggtt.as_ref().map_or(0, |(g, r)| r.mapped(g))
    }

    /// Pages of host memory in use.
    pub fn live_pages(&self) -> usize {
        self.live.get()
    }

    /// The oldest submitted workload.
    pub fn take(&self) -> Option<HostWorkload> {
        self.queue.borrow_mut().pop_front()
    }

    /// Workloads waiting.
    pub fn queued(&self) -> usize {
        self.queue.borrow().len()
    }
}

/// The sim's view of memory at L0: host pages by their address, and every VM's guest pages by
/// the DMA address its hypervisor mapped them at. Anything else is not backed, so a shadow
/// entry pointing astray faults the workload.
pub struct SimMem<'a> {
    /// Host memory.
    pub host: &'a ExecHost,
    /// The VMs' hypervisors.
    pub hvs: Vec<&'a mut MemHypervisor>,
}

impl HostMemory for SimMem<'_> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        if addr >= HOST_MEM_BASE {
            return self.host.read_mem(addr, buf).is_ok();
        }
        let page = addr & !(PAGE - 1);
        if addr + buf.len() as u64 > page + PAGE {
            return false;
        }
        self.hvs
            .iter()
            .find_map(|hv| Some((hv, hv.dma_to_gpa(addr)?)))
            .is_some_and(|(hv, gpa)| hv.peek_gpa(gpa, buf).is_ok())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        use gvt::mpt::MptOps;
        if addr >= HOST_MEM_BASE {
            return self.host.write_mem(addr, data).is_ok();
        }
        let page = addr & !(PAGE - 1);
        if addr + data.len() as u64 > page + PAGE {
            return false;
        }
        for hv in self.hvs.iter_mut() {
            if let Some(gpa) = hv.dma_to_gpa(addr) {
                return hv.write_gpa(gpa, data).is_ok();
            }
        }
        false
    }
}

/// The index in `ExecHost::mem` of the page holding `addr`.
fn slot(addr: u64) -> Option<usize> {
    usize::try_from(addr.checked_sub(HOST_MEM_BASE)? / PAGE).ok()
}

/// Splits `len` bytes of host memory at `addr` by page: `f(page slot, range in the page, range
/// in the caller's buffer)` for each piece.
fn each_page(
    addr: u64,
    len: usize,
    mut f: impl FnMut(usize, std::ops::Range<usize>, std::ops::Range<usize>) -> Result,
) -> Result {
    let mut done = 0;
    while done < len {
        let a = addr + done as u64;
        let i = slot(a).ok_or(GvtError::Fault)?;
        let off = (a % PAGE) as usize;
        let n = (PAGE as usize - off).min(len - done);
        f(i, off..off + n, done..done + n)?;
        done += n;
    }
    Ok(())
}

impl HostExec for ExecHost {
    fn alloc_pages(&self, pages: u32) -> Result<u64> {
        if self.next.get() == 0 {
            self.next.set(HOST_MEM_BASE);
        }
        let at = self.next.get();
        self.next.set(at + u64::from(pages.max(1)) * PAGE);
        let mut m = self.mem.borrow_mut();
        let first = slot(at).ok_or(GvtError::NoSpace)?;
        let end = first + pages.max(1) as usize;
        if m.len() < end {
            m.resize_with(end, || Slot::Free);
        }
        for p in &mut m[first..first + pages as usize] {
            *p = Slot::Zero;
        }
        self.live.set(self.live.get() + pages as usize);
        Ok(at)
    }

    fn free_pages(&self, addr: u64, pages: u32) {
        let mut m = self.mem.borrow_mut();
        for p in 0..u64::from(pages) {
            let a = addr + p * PAGE;
            if a % PAGE == 0 {
                if let Some(page) = slot(a).and_then(|i| m.get_mut(i)) {
                    if !matches!(std::mem::replace(page, Slot::Free), Slot::Free) {
                        self.live.set(self.live.get() - 1);
                    }
                }
            }
        }
    }

    fn write_mem(&self, addr: u64, data: &[u8]) -> Result {
        let mut m = self.mem.borrow_mut();
        each_page(addr, data.len(), |i, page, buf| {
            let p = m.get_mut(i).ok_or(GvtError::Fault)?;
            let data = &data[buf];
            match p {
                Slot::Free => return Err(GvtError::Fault),
                Slot::Zero if data == &ZERO[..data.len()] => {}
                Slot::Zero => {
                    let mut new: Page = vec![0; PAGE as usize]
                        .into_boxed_slice()
                        .try_into()
                        .unwrap();
                    new[page].copy_from_slice(data);
                    *p = Slot::Data(new);
                }
                Slot::Data(d) => crate::copy_changed(&mut d[page], data),
            }
            Ok(())
        })
    }

    fn read_mem(&self, addr: u64, buf: &mut [u8]) -> Result {
        let m = self.mem.borrow();
        each_page(addr, buf.len(), |i, page, at| {
            let src = match m.get(i) {
                Some(Slot::Zero) => &ZERO[page],
                Some(Slot::Data(d)) => &d[page],
                _ => return Err(GvtError::Fault),
            };
            crate::copy_changed(&mut buf[at], src);
            Ok(())
        })
    }

    fn map_ggtt(&self, addr: u64, pages: u32) -> Result<u64> {
        // Only host memory: a guest page in the host's GGTT would be a privileged batch the
        // guest can still change.
        let end = addr
            .checked_add(u64::from(pages) * PAGE)
            .ok_or(GvtError::Invalid)?;
        let m = self.mem.borrow();
        let backed = (addr..end).step_by(PAGE as usize).all(|a| {
            slot(a)
                .and_then(|i| m.get(i))
                .is_some_and(|s| !matches!(s, Slot::Free))
        });
        let (ggtt, reserve) = self.ggtt.as_ref().ok_or(GvtError::NoSpace)?;
        if !backed {
            return Err(GvtError::Fault);
        }
        reserve.map(ggtt, addr, pages)
    }

    fn unmap_ggtt(&self, gm: u64, pages: u32) {
        if let Some((ggtt, reserve)) = &self.ggtt {
            reserve.unmap(ggtt, gm, pages);
        }
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
