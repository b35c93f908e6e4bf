/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gvt-rs MPT ABI: the C interface between gvt.ko, the GVT-g device model, and the hypervisor
 * backends that give vGPUs to virtual machines (kvmgt.ko, acrngt.ko, or a third party's module).
 *
 * gvt.ko is written in Rust, and Rust types cannot cross module boundaries, so this header is
 * the contract. Its Rust mirror is mpt/abi.rs; both sides assert the struct sizes.
 *
 * A backend fills a struct gvt_backend and calls gvt_register_backend(). gvt.ko then calls
 * ops->device_added() for every GPU it drives (now and later) and ops->device_removed() before
 * a GPU goes away or when the backend unregisters. All calls may sleep; none are made in atomic
 * context.
 */
#ifndef _GVT_MPT_H
#define _GVT_MPT_H

#include <linux/types.h>

#define GVT_MPT_ABI_VERSION	1
#define GVT_NAME_LEN		16

struct device;
struct module;
/* A physical GPU (an i915 device or the sim host) driven by gvt.ko. Opaque. */
struct gvt_device;
/* A vGPU on a gvt_device. Opaque. */
struct gvt_vgpu;

/* A fixed-size vGPU type a device offers (upstream's GVTg_V5_{1,2,4,8}). */
struct gvt_type_info {
	char name[GVT_NAME_LEN];	/* "GVTg_V5_8", NUL-terminated */
	__u64 low_gm_size;		/* bytes of aperture */
	__u64 high_gm_size;		/* bytes of hidden graphics memory */
	__u32 fences;			/* fence registers */
	__u32 weight;			/* scheduling weight, 1..16 */
	char resolution[GVT_NAME_LEN];	/* virtual monitor, "1024x768" */
};

/* The size of a vGPU to create: a type's (gvt_device_type_info) or free-form (ACRN). */
struct gvt_vgpu_params {
	__u64 low_gm_size;		/* bytes of aperture, > 0 */
	__u64 high_gm_size;		/* bytes of hidden graphics memory, > 0 */
	__u32 fences;			/* > 0 */
	__u32 weight;			/* 1..16 */
};

struct gvt_backend_ops {
	/* A device is available to this backend. An error is logged and the device skipped. */
	int (*device_added)(struct gvt_device *gd);
	/* The device is going away, or the backend is unregistering. */
	void (*device_removed)(struct gvt_device *gd);
};

struct gvt_backend {
	__u32 abi_version;		/* GVT_MPT_ABI_VERSION */
	const char *name;		/* "kvmgt", "acrngt", ... */
	struct module *owner;		/* THIS_MODULE */
	const struct gvt_backend_ops *ops;
};

/* Returns 0, -EINVAL (bad struct or ABI version) or -EEXIST (registered already). */
int gvt_register_backend(const struct gvt_backend *be);
void gvt_unregister_backend(const struct gvt_backend *be);

/* The struct device a backend hangs its own objects (an mdev parent) on. */
struct device *gvt_device_dev(struct gvt_device *gd);
/* Number of vGPU types the device offers. */
__u32 gvt_device_type_count(struct gvt_device *gd);
/* Fills *info for type idx; -EINVAL if idx is out of range. */
int gvt_device_type_info(struct gvt_device *gd, __u32 idx, struct gvt_type_info *info);
/* How many more vGPUs of type idx can be created right now (0 for a bad idx). */
__u32 gvt_device_type_available(struct gvt_device *gd, __u32 idx);

/*
 * Creates a vGPU on gd: reserves its partition of graphics memory and fences and gives it an
 * id. Returns 0 and *vgpu, -EINVAL for bad params, or -ENOSPC when it does not fit (nothing
 * changes). A backend destroys its vGPUs on a device before device_removed() returns.
 */
int gvt_vgpu_create(struct gvt_device *gd, const struct gvt_vgpu_params *params,
		    struct gvt_vgpu **vgpu);
void gvt_vgpu_destroy(struct gvt_vgpu *vgpu);
/* The vGPU's id on its device, 1..32. */
__u32 gvt_vgpu_id(struct gvt_vgpu *vgpu);

#endif /* _GVT_MPT_H */
