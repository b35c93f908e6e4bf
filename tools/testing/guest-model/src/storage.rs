//! Heap storage for a vGPU, as the tests and the benches provide it (the glue uses vmalloc).

use gvt::model::batch::{Shadow, ARENA_BYTES};
use gvt::model::cmd_scanner::MAX_BATCHES;
use gvt::model::display::edid::EDID_MAX_SIZE;
use gvt::model::host::MMIO_DWORDS;
use gvt::model::opregion::OPREGION_SIZE;
use gvt::model::ppgtt::log::SptLog;
use gvt::model::ppgtt::pool::{Chunks, Tables, CHUNK, INDEX_BUCKETS};
use gvt::model::ppgtt::Spt;
use gvt::model::vgpu::Buffers;
use gvt::model::workload::{ExecBuffers, Workload, SCRATCH_BYTES};

/// A vGPU's register file, virtual GGTT, OpRegion and EDID on the heap.
pub type VecStorage = Buffers<Vec<u32>, Vec<u64>, Vec<u8>>;

/// Storage for a vGPU with `ggtt_entries` virtual GGTT entries.
pub fn vec_storage(ggtt_entries: usize) -> VecStorage {
    Buffers {
        vreg: vec![0; MMIO_DWORDS],
        ggtt: vec![0; ggtt_entries],
        opregion: vec![0; OPREGION_SIZE],
        edid: vec![0; EDID_MAX_SIZE],
    }
}

/// Shadow table chunks on the heap, up to `max` of them.
pub struct VecChunks {
    chunks: Vec<Vec<Spt>>,
    max: usize,
}

impl Chunks for VecChunks {
    fn count(&self) -> usize {
        self.chunks.len()
    }

    fn chunk(&self, k: usize) -> Option<&[Spt]> {
        self.chunks.get(k).map(Vec::as_slice)
    }

    fn chunk_mut(&mut self, k: usize) -> Option<&mut [Spt]> {
        self.chunks.get_mut(k).map(Vec::as_mut_slice)
    }

    fn grow(&mut self) -> bool {
        if self.chunks.len() >= self.max {
            return false;
        }
        self.chunks.push(vec![Spt::EMPTY; CHUNK]);
        true
    }
}

/// Shadow tables on the heap.
pub type VecTables = Tables<VecChunks, Vec<u32>>;

/// Room for up to `tables` shadow tables (rounded up to whole chunks), allocated as needed.
pub fn vec_tables(tables: usize) -> VecTables {
    let chunks = VecChunks {
        chunks: Vec::new(),
        max: tables.div_ceil(CHUNK),
    };
    Tables {
        chunks,
        by_gfn: vec![0; INDEX_BUCKETS],
        by_host: vec![0; INDEX_BUCKETS],
        cursor: 0,
        live: 0,
        log: SptLog::default(),
    }
}

/// The execution half's storage on the heap: shadow tables, queue slots, scratch, batch arena
/// and batch shadow records.
pub type ExecVecStorage = ExecBuffers<VecTables, Vec<Workload>, Vec<u8>, Vec<Shadow>>;

/// Room for `tables` shadow page tables and `slots` workloads.
pub fn exec_storage(tables: usize, slots: usize) -> ExecVecStorage {
    ExecBuffers {
        spts: vec_tables(tables),
        queue: vec![Workload::default(); slots],
        scratch: vec![0; SCRATCH_BYTES],
        batches: vec![0; ARENA_BYTES],
        shadows: vec![Shadow::default(); slots * MAX_BATCHES],
    }
}
