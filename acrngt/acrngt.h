/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * acrngt.ko's internal C <-> Rust contract (the Rust side is acrngt/ffi.rs and the
 * #[no_mangle] functions of acrngt/instances.rs).
 */
#ifndef _ACRNGT_H
#define _ACRNGT_H

#include <linux/types.h>
#include <gvt/mpt.h>

/* sysfs.c: /sys/kernel/gvt and its control node; backend registration. */
extern const struct gvt_backend acrngt_backend;
int acrngt_register(void);
void acrngt_unregister(void);
/* sysfs.c: /sys/kernel/gvt/vmN with vgpu_id; NULL on failure. */
void *acrngt_vm_create(u32 vmid, u32 vgpu_id);
void acrngt_vm_destroy(void *vm);

/* instances.rs */
ssize_t acrngt_control_store(const char *buf, size_t count);
int acrngt_device_added(struct gvt_device *gd);
void acrngt_device_removed(struct gvt_device *gd);

#endif /* _ACRNGT_H */
