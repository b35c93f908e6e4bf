//! KUnit cases for acrngt.ko, run when the module loads (table in kunit.c).

use kernel::{bindings, error::code::*};

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

/// The control node's error cases through the real store path, each with its errno and no
/// change of state. (Creation needs a VM that VHM knows: the L2 scenario does that.)
#[no_mangle]
pub(crate) extern "C" fn acrngt_kunit_control_protocol(_test: *mut bindings::kunit) {
    kassert!(store(b"0,64,448,8") == EINVAL.to_errno() as isize);
    kassert!(store(b"9,64,448") == EINVAL.to_errno() as isize);
    kassert!(store(b"70000,64,448,8\n") == ERANGE.to_errno() as isize);
    kassert!(store(b"-9\n") == ENOENT.to_errno() as isize);
    // VM 9 does not exist in VHM: ACRN-DM creates the VM before its vGPU.
    kassert!(store(b"9,64,448,8\n") == ENODEV.to_errno() as isize);
    kassert!(vgpu_id(9).is_none());
}
