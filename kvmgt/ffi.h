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

/*
 * dma.rs: the DMA pin cache of one vGPU device, its bookkeeping in Rust (dma_cache.rs). Each
 * call takes the cache's lock; kvmgt_pin() and kvmgt_unpin() run under it.
 */
struct kvmgt_cache;
struct kvmgt_vgpu;
struct kvmgt_cache *kvmgt_cache_new(void);
void kvmgt_cache_free(struct kvmgt_cache *c);
int kvmgt_cache_map(struct kvmgt_cache *c, struct kvmgt_vgpu *v, u64 gfn, u64 size,
		    u64 *dma_addr);
void kvmgt_cache_unmap(struct kvmgt_cache *c, struct kvmgt_vgpu *v, u64 dma_addr);
void kvmgt_cache_user_unmap(struct kvmgt_cache *c, struct kvmgt_vgpu *v, u64 first_gfn,
			    u64 last_gfn);
void kvmgt_cache_flush(struct kvmgt_cache *c, struct kvmgt_vgpu *v);
/* The page behind dma_addr with a reference (kvmgt_get_page()), or NULL. */
void *kvmgt_cache_get_page(struct kvmgt_cache *c, u64 dma_addr);
struct kvmgt_cache_stats {
	u64 entries;	/* mappings cached */
	u64 pages;	/* guest pages pinned */
	u64 owed;	/* unmaps gvt.ko owes for mappings released under it */
	u64 unrecorded;	/* owed references memory was too short to record */
};
void kvmgt_cache_stats(struct kvmgt_cache *c, struct kvmgt_cache_stats *out);
/* vfio.c: the kernel side of the cache. */
int kvmgt_pin(struct kvmgt_vgpu *v, u64 gfn, u64 size, u64 *dma_addr, void **page);
void kvmgt_unpin(struct kvmgt_vgpu *v, u64 gfn, u64 size, u64 dma_addr, bool in_use);
void *kvmgt_get_page(void *first, u64 index);

/* kunit.c: the first mdev parent, as the KUnit cases (tests.rs) look at it. */
struct gvt_device *kvmgt_test_gd(void);
u32 kvmgt_test_nr_types(void);
const char *kvmgt_test_type_dir(u32 i);
u32 kvmgt_test_type_available(u32 i);

#endif /* _KVMGT_FFI_H */
