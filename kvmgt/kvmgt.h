/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmgt.ko's C structures. What its C and Rust parts call of each other is ffi.h.
 */
#ifndef _KVMGT_H
#define _KVMGT_H

#include <linux/kvm_host.h>
#include <linux/list.h>
#include <linux/mdev.h>
#include <linux/mutex.h>
#include <linux/ratelimit_types.h>
#include <linux/spinlock.h>
#include <linux/vfio.h>
#include <linux/xarray.h>
#include <gvt/mpt.h>
#include "ffi.h"

/* One mdev type of a parent: upstream's type, named after gvt's. */
struct kvmgt_type {
	struct mdev_type type;
	char name[GVT_NAME_LEN];
	u32 idx;		/* index for gvt_device_type_*() */
};

/* The mdev parent kvmgt registers on each GPU gvt.ko offers. */
struct kvmgt_parent {
	struct mdev_parent parent;
	struct gvt_device *gd;
	struct list_head link;
	u32 nr_types;
	struct mdev_type **type_ptrs;
	struct kvmgt_type *types;
};

static inline struct kvmgt_parent *to_kvmgt_parent(struct mdev_parent *parent)
{
	return container_of(parent, struct kvmgt_parent, parent);
}

static inline struct kvmgt_type *to_kvmgt_type(struct mdev_type *mtype)
{
	return container_of(mtype, struct kvmgt_type, type);
}

/* Plane descriptions handed out by VFIO_DEVICE_QUERY_GFX_PLANE, by id. */
#define KVMGT_PLANE_IDS 4
struct kvmgt_display {
	struct mutex lock;
	u32 next_id;
	u32 ids[KVMGT_PLANE_IDS];	/* 0: free */
	struct gvt_plane_info planes[KVMGT_PLANE_IDS];
};

struct kvmgt_vgpu {
	struct vfio_device vdev;
	struct gvt_vgpu *vgpu;
	bool open;
	/*
	 * BAR2 mmap: a fault looks the page up and inserts it under ap_lock; the pages' user
	 * mappings are zapped under it when gvt.ko says the aperture changed and when a grant of
	 * a page still in use is revoked. Taken under mmap_lock, the cache's and the vGPU's lock;
	 * takes only gvt.ko's leaf locks and the mm's. It also guards the sink: the page shown
	 * where the GGTT maps none (allocated at first use, freed at close), and whether it may
	 * be mapped anywhere since the last zap of the whole slice.
	 */
	struct mutex ap_lock;
	u8 *sink;
	bool sink_mapped;
	/* MSI and INTx triggers; taken from any context that injects. */
	spinlock_t irq_lock;
	struct eventfd_ctx *msi_trigger;
	struct eventfd_ctx *intx_trigger;
	/* The guest pages gvt.ko mapped for the GPU (ffi.h, dma.rs). */
	struct kvmgt_cache *cache;
	struct gvt_vgpu_info info;
	/* KVM write tracking, while opened with a KVM: the gfns gvt.ko asked to track. */
	struct kvm *kvm;
	struct kvm_page_track_notifier_node track_node;
	struct xarray tracked;
	struct kvmgt_display disp;
	/* The EDID region: its registers and the blob staged for the next link up (ffi.h). */
	struct kvmgt_edid *edid;
	/* The log of the requests kvmgt refuses (kvmgt_refused()). */
	struct ratelimit_state refused_rs;
};

/* mdev.c: gvt.ko's device notifications. */
int kvmgt_device_added(struct gvt_device *gd);
void kvmgt_device_removed(struct gvt_device *gd);
extern const struct gvt_backend kvmgt_backend;

/* vfio.c: the VFIO device of an mdev, and the MPT services it provides. */
extern const struct attribute_group *kvmgt_vgpu_groups[];
int kvmgt_vfio_probe(struct mdev_device *mdev);
void kvmgt_vfio_remove(struct mdev_device *mdev);
extern const struct gvt_backend_ops kvmgt_mpt_ops;
/* vfio.c: the page behind a DMA address kvmgt mapped for the vGPU, with a reference; NULL if
 * kvmgt has no such mapping. */
struct page *kvmgt_dma_get_page(struct kvmgt_vgpu *v, u64 dma_addr);

/* display.c: VFIO_DEVICE_QUERY_GFX_PLANE and VFIO_DEVICE_GET_GFX_DMABUF. */
long kvmgt_query_gfx_plane(struct kvmgt_vgpu *v, void __user *arg);
long kvmgt_get_gfx_dmabuf(struct kvmgt_vgpu *v, void __user *arg);

/* For the KUnit suite: the first parent, or NULL. */
struct kvmgt_parent *kvmgt_first_parent(void);

#endif /* _KVMGT_H */
