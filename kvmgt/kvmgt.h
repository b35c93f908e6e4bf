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

/* Called by the Rust module root. */
int kvmgt_register(void);
void kvmgt_unregister(void);

/* For the KUnit suite: the first parent, or NULL. */
struct kvmgt_parent *kvmgt_first_parent(void);

#endif /* _KVMGT_H */
