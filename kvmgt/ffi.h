/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmgt.ko's C <-> Rust contract: the C functions its Rust part calls, the Rust functions its
 * C part calls, and the constants both use. Kbuild generates the Rust side from this header
 * (kvmgt/ffi_generated.rs, included by kvmgt/ffi.rs), which checks the Rust definitions against
 * it. region.rs, host-tested, keeps its own copy of the constants; kvmgt/ffi.rs asserts it.
 */
#ifndef _KVMGT_FFI_H
#define _KVMGT_FFI_H

#include <linux/types.h>
#include <gvt/mpt.h>

/* mdev.c: called by the Rust module root. */
int kvmgt_register(void);
void kvmgt_unregister(void);

/* VFIO region offsets as QEMU encodes them: index << KVMGT_OFFSET_SHIFT | offset. */
#define KVMGT_OFFSET_SHIFT	40
/* region.rs (through kvmgt_main.rs): VFIO region offsets and access splitting. */
void kvmgt_region_decode(u64 pos, u64 *index, u64 *offset);
u64 kvmgt_region_next(u64 offset, u64 remaining, u64 size, u64 max);
/* region.rs: BAR2 transfers and mmaps lie inside the aperture slice. */
bool kvmgt_aperture_in_slice(u64 base, u64 size, u64 off, u64 len);
/* region.rs: the EDID region. */
#define KVMGT_EDID_BLOB_OFFSET	0x800
#define KVMGT_EDID_REGION_SIZE	(KVMGT_EDID_BLOB_OFFSET + GVT_EDID_MAX_SIZE)
#define KVMGT_EDID_REG		0
#define KVMGT_EDID_BLOB		1
int kvmgt_edid_access(u64 off, u64 len, u64 max_size, u64 *at);
#define KVMGT_EDID_SIZE		0
#define KVMGT_EDID_LINK_UP	1
#define KVMGT_EDID_LINK_DOWN	2
int kvmgt_edid_write(u64 reg, u32 value, u32 max_size);

/* kunit.c: the first mdev parent, as the KUnit cases (tests.rs) look at it. */
struct gvt_device *kvmgt_test_gd(void);
u32 kvmgt_test_nr_types(void);
const char *kvmgt_test_type_dir(u32 i);
u32 kvmgt_test_type_available(u32 i);

#endif /* _KVMGT_FFI_H */
