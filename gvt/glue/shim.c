// SPDX-License-Identifier: GPL-2.0-only
/*
 * gvt.ko's C part: exports of the MPT ABI, whose functions are written in Rust
 * (gvt/glue/mpt_abi.rs). A Rust module cannot export symbols itself in 6.12.
 */
#include <linux/build_bug.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/export.h>
#include <linux/jiffies.h>
#include <linux/moduleparam.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
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

/*
 * Per-plane display ownership (direct display model), as ACRN's i915 took them: see
 * gvt/core/display/owner.rs for the format. Module parameters are C in 6.12.
 */
static char *domain_plane_owners = "0";
module_param(domain_plane_owners, charp, 0444);
MODULE_PARM_DESC(domain_plane_owners,
		 "Owner domain of each plane: one nibble per plane, 16 bits per pipe (0: the host)");
static char *avail_planes_per_pipe = "0";
module_param(avail_planes_per_pipe, charp, 0444);
MODULE_PARM_DESC(avail_planes_per_pipe,
		 "Planes given out per pipe: one byte mask per pipe (0: no plane ownership)");

const char *gvt_param_domain_plane_owners(size_t *len)
{
	*len = strlen(domain_plane_owners);
	return domain_plane_owners;
}

const char *gvt_param_avail_planes_per_pipe(size_t *len)
{
	*len = strlen(avail_planes_per_pipe);
	return avail_planes_per_pipe;
}

/* A display clock: a delayed work item on the system workqueue. */
struct gvt_clock {
	struct delayed_work dw;
	void (*fn)(void *data);
	void *data;
};

static void gvt_clock_run(struct work_struct *work)
{
	struct gvt_clock *c = container_of(to_delayed_work(work), struct gvt_clock, dw);

	c->fn(c->data);
}

struct gvt_clock *gvt_clock_create(void (*fn)(void *data), void *data)
{
	struct gvt_clock *c = kzalloc(sizeof(*c), GFP_KERNEL);

	if (!c)
		return NULL;
	INIT_DELAYED_WORK(&c->dw, gvt_clock_run);
	c->fn = fn;
	c->data = data;
	return c;
}

void gvt_clock_arm(struct gvt_clock *c, u64 delay_ns)
{
	queue_delayed_work(system_wq, &c->dw, nsecs_to_jiffies(delay_ns));
}

void gvt_clock_rearm(struct gvt_clock *c, u64 delay_ns)
{
	mod_delayed_work(system_wq, &c->dw, nsecs_to_jiffies(delay_ns));
}

void gvt_clock_sync(struct gvt_clock *c)
{
	flush_delayed_work(&c->dw);
}

void gvt_clock_destroy(struct gvt_clock *c)
{
	cancel_delayed_work_sync(&c->dw);
	kfree(c);
}

/*
 * debugfs: /sys/kernel/debug/gvt/<gpu>/info per GPU and /sys/kernel/debug/gvt/vgpuN/ per vGPU.
 * A file's data is the GPU's or vGPU's Rust object; debugfs_create_file's proxy makes each read
 * hold off debugfs_remove, which the object's teardown calls before anything of it goes
 * (gvt/glue/debugfs.rs). The text comes from Rust.
 */
struct dentry *gvt_debugfs_root_create(void)
{
	struct dentry *d = debugfs_create_dir("gvt", NULL);

	return IS_ERR(d) ? NULL : d;
}

static int gvt_gpu_info_show(struct seq_file *m, void *unused)
{
	return gvt_gpu_debugfs_show(m->private, m);
}
DEFINE_SHOW_ATTRIBUTE(gvt_gpu_info);

struct dentry *gvt_debugfs_gpu_create(struct dentry *root, struct device *dev, void *gpu)
{
	struct dentry *dir = debugfs_create_dir(dev_name(dev), root);

	if (IS_ERR(dir))
		return NULL;
	debugfs_create_file("info", 0444, dir, gpu, &gvt_gpu_info_fops);
	return dir;
}

#define GVT_VGPU_FILE(file, which)						\
static int gvt_vgpu_##file##_show(struct seq_file *m, void *unused)		\
{										\
	return gvt_vgpu_debugfs_show(m->private, m, which);			\
}										\
DEFINE_SHOW_ATTRIBUTE(gvt_vgpu_##file)

GVT_VGPU_FILE(stats, GVT_DEBUGFS_STATS);
GVT_VGPU_FILE(status, GVT_DEBUGFS_STATUS);
GVT_VGPU_FILE(mmio_diff, GVT_DEBUGFS_MMIO_DIFF);

static int gvt_vgpu_scan_nonprivbb_get(void *vgpu, u64 *val)
{
	return gvt_vgpu_debugfs_scan_nonprivbb(vgpu, val, false);
}

static int gvt_vgpu_scan_nonprivbb_set(void *vgpu, u64 val)
{
	return gvt_vgpu_debugfs_scan_nonprivbb(vgpu, &val, true);
}
/* The attribute's read and write bracket themselves with debugfs_file_get/_put. */
DEFINE_DEBUGFS_ATTRIBUTE(gvt_vgpu_scan_nonprivbb_fops, gvt_vgpu_scan_nonprivbb_get,
			 gvt_vgpu_scan_nonprivbb_set, "0x%llx\n");

struct dentry *gvt_debugfs_vgpu_create(struct dentry *root, u32 id, void *vgpu)
{
	char name[16];
	struct dentry *dir;

	snprintf(name, sizeof(name), "vgpu%u", id);
	dir = debugfs_create_dir(name, root);
	if (IS_ERR(dir))
		return NULL;
	debugfs_create_file("stats", 0444, dir, vgpu, &gvt_vgpu_stats_fops);
	debugfs_create_file("status", 0444, dir, vgpu, &gvt_vgpu_status_fops);
	debugfs_create_file("mmio_diff", 0444, dir, vgpu, &gvt_vgpu_mmio_diff_fops);
	debugfs_create_file_unsafe("scan_nonprivbb", 0644, dir, vgpu, &gvt_vgpu_scan_nonprivbb_fops);
	return dir;
}

void gvt_debugfs_remove(struct dentry *d)
{
	debugfs_remove(d);
}

int gvt_seq_write(struct seq_file *m, const void *p, size_t len)
{
	return seq_write(m, p, len);
}

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
EXPORT_SYMBOL_GPL(gvt_vgpu_set_name);
EXPORT_SYMBOL_GPL(gvt_vgpu_debugfs_dir);
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
EXPORT_SYMBOL_GPL(gvt_vgpu_set_display_domain);
EXPORT_SYMBOL_GPL(gvt_device_plane_owner_show);
EXPORT_SYMBOL_GPL(gvt_vgpu_query_plane);
EXPORT_SYMBOL_GPL(gvt_vgpu_gm_pages);
EXPORT_SYMBOL_GPL(gvt_vgpu_aperture_pfn);
EXPORT_SYMBOL_GPL(gvt_vgpu_aperture_rw);
EXPORT_SYMBOL_GPL(gvt_vgpu_get_edid);
EXPORT_SYMBOL_GPL(gvt_vgpu_set_edid);
EXPORT_SYMBOL_GPL(gvt_vgpu_set_link);
