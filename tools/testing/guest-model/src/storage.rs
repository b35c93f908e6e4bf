//! Heap storage for a vGPU, as the tests and the benches provide it (the glue uses vmalloc).

use gvt::model::display::edid::EDID_MAX_SIZE;
use gvt::model::host::MMIO_DWORDS;
use gvt::model::opregion::OPREGION_SIZE;
use gvt::model::ppgtt::Spt;
use gvt::model::vgpu::Buffers;
use gvt::model::batch::{Shadow, ARENA_BYTES};
use gvt::model::cmd_scanner::MAX_BATCHES;
use gvt::model::workload::{ExecBuffers, Workload, SCRATCH_BYTES};

/// A vGPU's register file, virtual GGTT, OpRegion and EDID on the heap.
pub type VecStorage = Buffers<Vec<u32>, Vec<u64>, Vec<u8>>;

/// Storage for a vGPU with `ggtt_entries` virtual GGTT entries.
pub fn vec_storage(ggtt_entries: usize) -> VecStorage {
    Buffers { vreg: vec![0; MMIO_DWORDS], ggtt: vec![0; ggtt_entries], opregion: vec![0; OPREGION_SIZE], edid: vec![0; EDID_MAX_SIZE] }
}

/// The execution half's storage on the heap: shadow tables, queue slots, scratch, batch arena
/// and batch shadow records.
pub type ExecVecStorage = ExecBuffers<Vec<Spt>, Vec<Workload>, Vec<u8>, Vec<Shadow>>;

/// Room for `tables` shadow page tables and `slots` workloads.
pub fn exec_storage(tables: usize, slots: usize) -> ExecVecStorage {
    ExecBuffers {
        spts: vec![Spt::EMPTY; tables],
        queue: vec![Workload::default(); slots],
        scratch: vec![0; SCRATCH_BYTES],
        batches: vec![0; ARENA_BYTES],
        shadows: vec![Shadow::default(); slots * MAX_BATCHES],
    }
}
