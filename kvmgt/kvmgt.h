/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmgt.ko's internal C <-> Rust contract (the Rust side is kvmgt/ffi.rs).
 */
#ifndef _KVMGT_H
#define _KVMGT_H

#include <linux/list.h>
#include <linux/mdev.h>
#include <gvt/mpt.h>

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

/* mdev.c: called by the Rust module root. */
int kvmgt_register(void);
void kvmgt_unregister(void);
/* mdev.c: gvt.ko's device notifications. */
int kvmgt_device_added(struct gvt_device *gd);
void kvmgt_device_removed(struct gvt_device *gd);
extern const struct gvt_backend kvmgt_backend;

/* vfio.c: the VFIO device of an mdev, and the MPT services it provides. */
int kvmgt_vfio_probe(struct mdev_device *mdev);
void kvmgt_vfio_remove(struct mdev_device *mdev);
extern const struct gvt_backend_ops kvmgt_mpt_ops;

/* region.rs (through kvmgt_main.rs): VFIO region offsets and access splitting. */
void kvmgt_region_decode(u64 pos, u64 *index, u64 *offset);
u64 kvmgt_region_next(u64 offset, u64 remaining, u64 size, u64 max);

/* For the KUnit suite: the first parent, or NULL. */
struct kvmgt_parent *kvmgt_first_parent(void);

#endif /* _KVMGT_H */
