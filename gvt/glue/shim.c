// SPDX-License-Identifier: GPL-2.0-only
/*
 * gvt.ko's C part: exports of the MPT ABI, whose functions are written in Rust
 * (gvt/glue/mpt_abi.rs). A Rust module cannot export symbols itself in 6.12.
 */
#include <linux/build_bug.h>
#include <linux/export.h>
#include <linux/vmalloc.h>
#include <gvt/mpt.h>
#include "shim.h"

void *gvt_vzalloc(size_t size)
{
	return vzalloc(size);
}

void gvt_vfree(void *p)
{
	vfree(p);
}

/* The Rust mirror (mpt/abi.rs) asserts the same sizes. */
static_assert(sizeof(struct gvt_type_info) == 56);
static_assert(sizeof(struct gvt_vgpu_params) == 24);
static_assert(sizeof(struct gvt_vgpu_info) == 40);
static_assert(sizeof(struct gvt_backend_ops) == 96);
static_assert(sizeof(struct gvt_backend) == 32);

EXPORT_SYMBOL_GPL(gvt_register_backend);
EXPORT_SYMBOL_GPL(gvt_unregister_backend);
EXPORT_SYMBOL_GPL(gvt_device_dev);
EXPORT_SYMBOL_GPL(gvt_device_type_count);
EXPORT_SYMBOL_GPL(gvt_device_type_info);
EXPORT_SYMBOL_GPL(gvt_device_type_available);
EXPORT_SYMBOL_GPL(gvt_vgpu_create_typed);
EXPORT_SYMBOL_GPL(gvt_vgpu_create);
EXPORT_SYMBOL_GPL(gvt_vgpu_destroy);
EXPORT_SYMBOL_GPL(gvt_vgpu_id);
EXPORT_SYMBOL_GPL(gvt_vgpu_cfg_read);
EXPORT_SYMBOL_GPL(gvt_vgpu_cfg_write);
EXPORT_SYMBOL_GPL(gvt_vgpu_mmio_read);
EXPORT_SYMBOL_GPL(gvt_vgpu_mmio_write);
EXPORT_SYMBOL_GPL(gvt_vgpu_get_info);
EXPORT_SYMBOL_GPL(gvt_vgpu_opregion_read);
EXPORT_SYMBOL_GPL(gvt_vgpu_activate);
EXPORT_SYMBOL_GPL(gvt_vgpu_deactivate);
EXPORT_SYMBOL_GPL(gvt_vgpu_reset);
EXPORT_SYMBOL_GPL(gvt_vgpu_page_track_write);
EXPORT_SYMBOL_GPL(gvt_vgpu_dma_grant);
EXPORT_SYMBOL_GPL(gvt_vgpu_dma_revoke);
