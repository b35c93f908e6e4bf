/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gvt-rs MPT ABI: the C interface between gvt.ko, the GVT-g device model, and the hypervisor
 * backends that give vGPUs to virtual machines (kvmgt.ko, acrngt.ko, or a third party's module).
 *
 * gvt.ko is written in Rust, and Rust types cannot cross module boundaries, so this header is
 * the contract. Its Rust side is generated from it at build time (mpt/abi.rs); the layout of
 * each ABI version is recorded (mpt/abi_frozen.rs, scripts/abi-freeze.sh) and checked.
 *
 * A backend fills a struct gvt_backend and calls gvt_register_backend(). gvt.ko then calls
 * ops->device_added() for every GPU it drives (now and later) and ops->device_removed() before
 * a GPU goes away or when the backend unregisters. The backend creates vGPUs on a device with
 * gvt_vgpu_create(), forwards the guest's config-space and BAR0 accesses to
 * gvt_vgpu_{cfg,mmio}_{read,write}(), and provides the MPT services (guest memory, DMA
 * mapping, MSI) the device model calls back through ops, each with the backend's own pointer
 * for the vGPU. All calls may sleep; none are made in atomic context.
 */
#ifndef _GVT_MPT_H
#define _GVT_MPT_H

#include <linux/types.h>

struct dentry;

#define GVT_MPT_ABI_VERSION	2
#define GVT_NAME_LEN		16
/* Largest EDID a vGPU's monitor takes: the base block and one extension. */
#define GVT_EDID_MAX_SIZE	256
/* Longest name a backend gives a vGPU (gvt_vgpu_set_name()), with its NUL. */
#define GVT_VGPU_NAME_LEN	48

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

/* What a backend needs to present a vGPU's PCI device. */
struct gvt_vgpu_info {
	__u64 bar0_size;		/* registers and GGTT */
	__u64 aperture_size;		/* BAR2 as the guest sizes it */
	__u64 aperture_slice_base;	/* the vGPU's own part of the host aperture ... */
	__u64 aperture_slice_size;	/* ... (offset into BAR2 and size) */
	__u32 opregion_size;
	__u32 display_xres;		/* the virtual monitor's resolution (its type's) */
	__u32 display_yres;
	__u32 reserved;
};

/* The plane a guest scans out, as gvt.ko decodes it (for VFIO_DEVICE_QUERY_GFX_PLANE). */
struct gvt_plane_info {
	__u32 drm_format;		/* DRM fourcc */
	__u32 reserved;
	__u64 modifier;			/* DRM format modifier (I915_FORMAT_MOD_*) */
	__u32 width, height;		/* pixels */
	__u32 stride;			/* bytes per row */
	__u32 size;			/* bytes the scanout reads, page aligned */
	__u32 x_pos, y_pos;		/* position (cursor) */
	__u32 x_hot, y_hot;		/* cursor hotspot, or ~0 */
	__u64 gm;			/* graphics address of the surface (page aligned) */
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

	/*
	 * MPT services for one vGPU; priv is the pointer the backend gave gvt_vgpu_create().
	 * They return 0 or a negative errno. A NULL service makes the operation that needs it
	 * fail with -EOPNOTSUPP (the vGPU goes to failsafe if the guest depends on it).
	 */
	int (*read_gpa)(void *priv, __u64 gpa, void *buf, size_t len);
	int (*write_gpa)(void *priv, __u64 gpa, const void *buf, size_t len);
	/* Maps a guest page for the GPU to reach; *dma_addr gets the address to put in a GTT. */
	int (*dma_map_guest_page)(void *priv, __u64 gfn, __u64 size, __u64 *dma_addr);
	void (*dma_unmap_guest_page)(void *priv, __u64 dma_addr);
	int (*inject_msi)(void *priv, __u64 addr, __u32 data);
	/* Optional: trap guest accesses to [start, end) of guest memory as MMIO (ACRN). */
	int (*set_trap_area)(void *priv, __u64 start, __u64 end, bool trap);
	/* Optional: map nr host aperture pages at mfn into the guest at gfn (ACRN). */
	int (*map_aperture)(void *priv, __u64 gfn, __u64 mfn, __u64 nr, bool map);
	/*
	 * Optional write tracking of guest pages (KVM write tracking, ACRN write protection).
	 * supported() may change while the vGPU lives (KVMGT tracks only with a KVM attached);
	 * without it the device model re-validates guest page tables before each submission.
	 * Trapped writes come back through gvt_vgpu_page_track_write().
	 */
	bool (*page_track_supported)(void *priv);
	int (*page_track_add)(void *priv, __u64 gfn);
	void (*page_track_remove)(void *priv, __u64 gfn);
	/*
	 * Optional: the pages behind [offset, offset + size) of the vGPU's aperture slice (BAR2
	 * offsets) changed (only on a GPU without an aperture BAR, the sim: a BAR's mappings
	 * follow the GGTT by themselves). A backend that maps aperture pages into user space
	 * (gvt_vgpu_aperture_pfn()) drops those mappings before it returns: the pages they
	 * showed may be unmapped right after. Called with the vGPU's lock held.
	 */
	void (*aperture_invalidate)(void *priv, __u64 offset, __u64 size);
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
 * Per-plane display ownership (gvt.ko's domain_plane_owners/avail_planes_per_pipe parameters):
 * the policy as text for ACRN's plane_owner_show, NUL-terminated; returns its length, -EINVAL
 * or -ENOSPC. A vGPU's display domain is its id unless the backend sets another (ACRN: the VM
 * id) with gvt_vgpu_set_display_domain() right after creation.
 */
ssize_t gvt_device_plane_owner_show(struct gvt_device *gd, char *buf, size_t len);

/*
 * Creates a vGPU of backend be on gd, of type type_idx (gvt_device_type_info()) or of the
 * free-form size params (with a 1024x768 monitor): reserves its partition of graphics memory
 * and fences, gives it an id, and builds its virtual config space, registers and GGTT from the
 * device's initial state. priv is passed back to be's MPT services. Returns 0 and *vgpu;
 * -EINVAL for a bad type or params or an unregistered backend, -ENOSPC when it does not fit,
 * -ENOMEM; on error nothing changed. A backend destroys its vGPUs on a device before its
 * device_removed() returns.
 */
int gvt_vgpu_create_typed(const struct gvt_backend *be, struct gvt_device *gd, __u32 type_idx,
			  void *priv, struct gvt_vgpu **vgpu);
int gvt_vgpu_create(const struct gvt_backend *be, struct gvt_device *gd,
		    const struct gvt_vgpu_params *params, void *priv, struct gvt_vgpu **vgpu);
void gvt_vgpu_destroy(struct gvt_vgpu *vgpu);
/* The vGPU's id on its device, 1..32. */
__u32 gvt_vgpu_id(struct gvt_vgpu *vgpu);
/*
 * Names the vGPU in gvt.ko's log: what a person looks the VM up by, as the backend knows it
 * ("mdev <uuid>", "vm <vmid>"). gvt.ko's messages then say "vGPU <id> (<backend>, <name>)".
 * name is NUL-terminated and shorter than GVT_VGPU_NAME_LEN; returns 0, or -EINVAL for a NULL
 * or longer name. Optional; call it right after creation.
 */
int gvt_vgpu_set_name(struct gvt_vgpu *vgpu, const char *name);
/*
 * The vGPU's debugfs directory (/sys/kernel/debug/gvt/vgpuN), or NULL if it has none: a
 * backend may add read-only files about its side of the vGPU there. gvt_vgpu_destroy()
 * removes them with the directory, after their reads in progress, so their data must live
 * until it returns.
 */
struct dentry *gvt_vgpu_debugfs_dir(struct gvt_vgpu *vgpu);

/*
 * The guest's accesses. offset is into config space (1, 2 or 4 bytes) or BAR0 (1, 2, 4 or 8
 * bytes; registers below 2 MiB, the GGTT from 8 MiB). Returns 0, or -EINVAL for an access the
 * device does not have (a read then returns zeroes). Never fails for what a guest writes
 * to a register: a hostile guest lands in failsafe instead.
 */
int gvt_vgpu_cfg_read(struct gvt_vgpu *vgpu, __u32 offset, void *buf, __u32 len);
int gvt_vgpu_cfg_write(struct gvt_vgpu *vgpu, __u32 offset, const void *buf, __u32 len);
int gvt_vgpu_mmio_read(struct gvt_vgpu *vgpu, __u64 offset, void *buf, __u32 len);
int gvt_vgpu_mmio_write(struct gvt_vgpu *vgpu, __u64 offset, const void *buf, __u32 len);

/*
 * The guest wrote len bytes at gpa, in a page the backend tracks for this vGPU. committed:
 * the hypervisor already performed the write (KVM); otherwise gvt.ko performs it (ACRN).
 */
int gvt_vgpu_page_track_write(struct gvt_vgpu *vgpu, __u64 gpa, const void *buf, __u32 len,
			      bool committed);

/*
 * DMA grants. A GPU without an IOMMU in front of it (the sim GPU) reaches guest memory only
 * where the vGPU's backend granted it: a backend that returns DMA addresses from
 * dma_map_guest_page grants [dma_addr, dma_addr + size) while the pages are pinned and mapped,
 * and revokes the grant before it unpins them, whether gvt.ko asked for the unmapping or not
 * (user space unmapped the memory). Grants count: each grant is revoked once. Called under the
 * backend's own locks is fine; they take only a leaf lock.
 */
int gvt_vgpu_dma_grant(struct gvt_vgpu *vgpu, __u64 dma_addr, __u64 size);
void gvt_vgpu_dma_revoke(struct gvt_vgpu *vgpu, __u64 dma_addr);

int gvt_vgpu_set_display_domain(struct gvt_vgpu *vgpu, __u32 domain);

/*
 * The plane of DRM type drm_plane_type (DRM_PLANE_TYPE_PRIMARY or _CURSOR) the guest shows:
 * 0, -ENODEV when it shows none, -EINVAL for another type or a surface it may not show.
 */
int gvt_vgpu_query_plane(struct gvt_vgpu *vgpu, __u32 drm_plane_type, struct gvt_plane_info *info);
/*
 * The DMA addresses behind npages pages of the vGPU's graphics memory from gm, through its
 * GGTT (what the GPU would scan out): -EINVAL outside its memory, -EFAULT where an entry maps
 * no guest page.
 */
int gvt_vgpu_gm_pages(struct gvt_vgpu *vgpu, __u64 gm, __u32 npages, __u64 *dma_addr);

/* Fills *info; -EINVAL for a NULL info. */
int gvt_vgpu_get_info(struct gvt_vgpu *vgpu, struct gvt_vgpu_info *info);

/*
 * CPU access to the vGPU's aperture slice (BAR2 offsets aperture_slice_base to base + size;
 * BAR2 offset X is graphics address X). On a GPU with an aperture BAR the slice is a fixed
 * range of it; on the sim GPU the access is translated through the vGPU's GGTT entry to the
 * guest page it maps, which must be a page the backend granted (gvt_vgpu_dma_grant()).
 * gvt_vgpu_aperture_pfn(): the host page frame of the page at offset, to map into user space;
 * gvt_vgpu_aperture_rw(): copies len bytes at offset, within one page. Both return -EINVAL
 * outside the slice and -EFAULT where the GGTT maps no page the vGPU may reach (never on a
 * BAR; a backend shows a page of its own there, never the shared scratch page). They take only leaf locks (not the vGPU's), so they may be called from a page fault
 * under the backend's own lock. A backend that maps pages drops the mappings when
 * ops->aperture_invalidate() says so, and when it revokes a grant of pages the vGPU may still
 * use (user space unmapped its memory), after the revoke and before it unpins them.
 */
int gvt_vgpu_aperture_pfn(struct gvt_vgpu *vgpu, __u64 offset, __u64 *pfn);
int gvt_vgpu_aperture_rw(struct gvt_vgpu *vgpu, __u64 offset, void *buf, __u32 len, bool write);

/*
 * The virtual monitor. gvt_vgpu_get_edid() copies its EDID into buf and returns its size
 * (-ENOSPC if len is smaller). gvt_vgpu_set_edid() gives it the size bytes at edid, or back
 * its type's own EDID for a NULL edid; an EDID that is not 1 to GVT_EDID_MAX_SIZE / 128 whole
 * blocks with the header, version 1, an extension count matching the blocks and every
 * block's checksum right is refused with -EINVAL and the old one stays. The guest reads the
 * new EDID at its next DDC transaction: replace it with the link down. The EDID survives
 * gvt_vgpu_reset(). gvt_vgpu_set_link() plugs the monitor in or out (a VMM's display link up
 * or down), with a hotplug interrupt to the guest; a reset plugs it back in.
 */
int gvt_vgpu_get_edid(struct gvt_vgpu *vgpu, void *buf, __u32 len);
int gvt_vgpu_set_edid(struct gvt_vgpu *vgpu, const void *edid, __u32 size);
int gvt_vgpu_set_link(struct gvt_vgpu *vgpu, bool up);
/* Reads the vGPU's OpRegion; -EINVAL past its end. */
int gvt_vgpu_opregion_read(struct gvt_vgpu *vgpu, __u32 offset, void *buf, __u32 len);
/* The guest attached (VFIO open, ACRN ioreq client) or detached: MSIs flow only between. */
int gvt_vgpu_activate(struct gvt_vgpu *vgpu);
int gvt_vgpu_deactivate(struct gvt_vgpu *vgpu);
/* Device-model level reset (VFIO_DEVICE_RESET): back to the state after creation. */
int gvt_vgpu_reset(struct gvt_vgpu *vgpu);

#endif /* _GVT_MPT_H */
