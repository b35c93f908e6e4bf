/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * acrngt.ko's internal C <-> Rust contract. Kbuild generates the Rust side from this header
 * (acrngt/ffi.rs includes it and checks the Rust definitions of acrngt_main.rs and
 * instances.rs against it).
 */
#ifndef _ACRNGT_H
#define _ACRNGT_H

#include <linux/types.h>
#include <acrn/vhm.h>
#include <gvt/mpt.h>

/* sysfs.c: /sys/kernel/gvt and its control node; backend registration. */
extern const struct gvt_backend acrngt_backend;
int acrngt_register(void);
void acrngt_unregister(void);
/* instances.rs: gvt.ko's plane ownership policy as text (control/plane_owner_show). */
ssize_t acrngt_plane_owner_show(char *buf, size_t len);
/* sysfs.c: /sys/kernel/gvt/vmN (vgpu_id, vgpu_bar_info) for inst; NULL on failure. */
void *acrngt_vm_create(u32 vmid, void *inst);
/* ioreq.c: BAR0 base and size, BAR2 base and size of an instance's vGPU. */
int acrngt_instance_bar_info(void *inst, u64 bar[4]);
/* sysfs.c: the dom0_ready uevent (GVT_DOM0_READY=1 on the control node). */
void acrngt_dom0_ready(void);
void acrngt_vm_destroy(void *vm);

/* ioreq.c: an instance's VHM client and thread, and the MPT services. */
extern const struct gvt_backend_ops acrngt_ops;
void *acrngt_instance_create(struct gvt_device *gd, u32 vmid,
			     const struct gvt_vgpu_params *params, int *err);
u32 acrngt_instance_vgpu_id(void *inst);
void acrngt_instance_destroy(void *inst);

/* ioreq.rs (through acrngt_main.rs): a request decoded and checked. */
enum { ACRNGT_ACCESS_CFG, ACRNGT_ACCESS_MMIO, ACRNGT_ACCESS_WP };
struct acrngt_access {
	u32 kind;	/* ACRNGT_ACCESS_* */
	u32 write;
	u64 offset;	/* config or BAR0 offset, or the guest address of a WP write */
	u32 len;
	u32 reserved;
};
int acrngt_decode(u32 type, u32 direction, u64 address, s64 size, s32 bus, s32 dev, s32 func,
		  s32 reg, u64 bar0_start, u64 bar0_end, struct acrngt_access *out);

/* instances.rs */
ssize_t acrngt_control_store(const char *buf, size_t count);
int acrngt_device_added(struct gvt_device *gd);
void acrngt_device_removed(struct gvt_device *gd);

#endif /* _ACRNGT_H */
