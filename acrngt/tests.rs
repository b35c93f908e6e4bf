//! KUnit cases for acrngt.ko, run when the module loads (table in kunit.c).

use kernel::bindings;

use crate::instances::{acrngt_control_store, table};

macro_rules! kassert {
    ($cond:expr) => {
        kernel::kunit_assert!("acrngt", "acrngt/tests.rs", 0, $cond)
    };
}

fn store(req: &[u8]) -> isize {
    // SAFETY: `req` is a valid buffer of its length.
    unsafe { acrngt_control_store(req.as_ptr(), req.len()) }
}

fn vgpu_id(vmid: u32) -> Option<u32> {
    table().and_then(|t| t.lock().vgpu_id(vmid))
}

/// ACRN-DM's create/destroy sequence through the real store path, and its error cases, each
/// with its errno and no change of state.
#[no_mangle]
pub(crate) extern "C" fn acrngt_kunit_control_protocol(_test: *mut bindings::kunit) {
    kassert!(store(b"0,64,448,8") == -22);
    kassert!(store(b"9,64,448") == -22);
    kassert!(store(b"70000,64,448,8\n") == -34);
    kassert!(store(b"-9\n") == -2);
    kassert!(vgpu_id(9).is_none());

    kassert!(store(b"9,64,448,8\n") == 11);
    let id = vgpu_id(9);
    kassert!(id.is_some_and(|id| id >= 1));
    kassert!(store(b"9,64,448,8\n") == -17);
    // More aperture than the GPU has: ENOSPC, and vm10 does not appear.
    kassert!(store(b"10,100000,448,8\n") == -28);
    kassert!(vgpu_id(10).is_none());
    kassert!(vgpu_id(9) == id);

    kassert!(store(b"-9\n") == 3);
    kassert!(vgpu_id(9).is_none());
    kassert!(store(b"-9\n") == -2);
}
