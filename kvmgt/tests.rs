//! KUnit cases for kvmgt.ko, run when the module loads (table in kunit.c).

use kernel::{bindings, str::CStr};

use crate::ffi;
use crate::gvt::{self, gvt_type_info};

macro_rules! kassert {
    ($cond:expr) => {
        kernel::kunit_assert!("kvmgt", "kvmgt/tests.rs", 0, $cond)
    };
}

/// The mdev parent on the sim GPU has every type gvt.ko offers, under upstream's names, and
/// its available_instances is gvt.ko's accounting.
#[no_mangle]
pub(crate) extern "C" fn kvmgt_kunit_parent_types(_test: *mut bindings::kunit) {
    // SAFETY: the accessors only read kvmgt's own registered parent; `gd` stays valid while
    // kvmgt is registered, which it is while its tests run.
    unsafe {
        let gd = ffi::kvmgt_test_gd();
        kassert!(!gd.is_null());
        let n = gvt::gvt_device_type_count(gd);
        kassert!(n > 0 && ffi::kvmgt_test_nr_types() == n);
        for i in 0..n {
            let mut info = gvt_type_info::default();
            kassert!(gvt::gvt_device_type_info(gd, i, &mut info) == 0);
            let dir = ffi::kvmgt_test_type_dir(i);
            kassert!(!dir.is_null());
            let dir = CStr::from_char_ptr(dir).as_bytes();
            let name = CStr::from_char_ptr(info.name.as_ptr().cast()).as_bytes();
            kassert!(dir.strip_prefix(b"i915-") == Some(name));
            kassert!(ffi::kvmgt_test_type_available(i) == gvt::gvt_device_type_available(gd, i));
        }
    }
}
