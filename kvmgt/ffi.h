/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmgt.ko's C <-> Rust contract: the C functions its Rust part calls, the Rust functions its
 * C part calls, and the constants both use. Kbuild generates the Rust side from this header
 * (kvmgt/ffi_generated.rs, included by kvmgt/ffi.rs), which checks the Rust definitions against
 * it. The host-tested region.rs, edid.rs and ioctl.rs keep their own copies of the constants
 * (theirs and include/uapi/linux/vfio.h's, which Kbuild also generates); kvmgt/ffi.rs asserts
 * each against this header.
 */
#ifndef _KVMGT_FFI_H
#define _KVMGT_FFI_H

#include <linux/types.h>
#include <linux/pci_ids.h>
#include <linux/vfio.h>
#include <gvt/mpt.h>

/* vfio.c's device, opaque to Rust. */
struct kvmgt_vgpu;

/* mdev.c: called by the Rust module root. */
int kvmgt_register(void);
void kvmgt_unregister(void);

/* VFIO region offsets as QEMU encodes them: index << KVMGT_OFFSET_SHIFT | offset. */
#define KVMGT_OFFSET_SHIFT	40
/* The most a BAR2 transfer moves through the device model at once (vfio.c's bounce buffer). */
#define KVMGT_APERTURE_CHUNK	256

/*
 * device.rs: the VFIO device's reads, writes and ioctls, decided by region.rs, edid.rs and
 * ioctl.rs. The EDID region's registers and staged blob are Rust's, under their own lock.
 */
struct kvmgt_edid;
struct kvmgt_edid *kvmgt_edid_new(void);
void kvmgt_edid_free(struct kvmgt_edid *e);
/* The region as a new user finds it: the monitor's EDID (from gvt.ko), link up. */
void kvmgt_edid_open(struct kvmgt_edid *e, struct gvt_vgpu *vgpu, u32 max_xres, u32 max_yres);
/* A device reset: link up, the EDID kept. */
void kvmgt_edid_reset(struct kvmgt_edid *e);
/* read()/write() on the device fd: the bytes done (*ppos moves by them) or a negative errno. */
ssize_t kvmgt_region_rw(struct kvmgt_vgpu *v, struct gvt_vgpu *vgpu,
			const struct gvt_vgpu_info *info, struct kvmgt_edid *edid,
			char __user *buf, size_t count, loff_t *ppos, bool write);
/* BAR2 transfers and mmaps lie inside the aperture slice; its transfers go by chunks. */
bool kvmgt_aperture_in_slice(u64 base, u64 size, u64 off, u64 len);
u64 kvmgt_aperture_chunk(u64 off, u64 remaining);
/* vfio.c: a BAR2 transfer at off (the sink page and ap_lock are C's). */
ssize_t kvmgt_aperture_rw(struct kvmgt_vgpu *v, char __user *buf, size_t count, u64 off,
			  bool write);
/*
 * The ioctls' answers, into the header vfio.c copied in: 0 or a negative errno. A region's
 * capability, for vfio.c to chain: id 0 (none), VFIO_REGION_INFO_CAP_SPARSE_MMAP (one area,
 * offset and size) or VFIO_REGION_INFO_CAP_TYPE (type and subtype).
 */
struct kvmgt_region_cap {
	u32 id;
	u32 type;
	u32 subtype;
	u64 offset;
	u64 size;
};
int kvmgt_device_info(struct vfio_device_info *info);
int kvmgt_region_info(const struct gvt_vgpu_info *vi, struct vfio_region_info *info,
		      struct kvmgt_region_cap *cap);
int kvmgt_irq_info(struct vfio_irq_info *info);
/* SET_IRQS: what to do, or a negative errno; KVMGT_IRQ_MSI: MSI's trigger, else INTx's. */
#define KVMGT_IRQ_NOTHING	0
#define KVMGT_IRQ_REMOVE	1
#define KVMGT_IRQ_EVENTFD	2	/* the s32 after the header: an eventfd, or -1 */
#define KVMGT_IRQ_MSI		4
int kvmgt_irq_set(const struct vfio_irq_set *hdr);

/*
 * dma.rs: the DMA pin cache of one vGPU device, its bookkeeping in Rust (dma_cache.rs). Each
 * call takes the cache's lock; kvmgt_pin() and kvmgt_unpin() run under it.
 */
struct kvmgt_cache;
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
