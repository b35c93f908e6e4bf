// SPDX-License-Identifier: GPL-2.0-only
/*
 * The sim GPU's struct device. The GPU itself is modelled in Rust (gvt/hosts/sim/mod.rs); this
 * only gives it a place in the driver model: a platform device, gvt_sim.0, bound to a platform
 * driver named "i915". mdev names a parent's type directories "<driver>-<type>", so KVM users
 * see upstream's i915-GVTg_V5_4 on the sim GPU as on real hardware.
 */
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/delay.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/workqueue.h>
#include <linux/mod_devicetable.h>
#include <linux/platform_device.h>
#include "../../glue/shim.h"

static char *sim_platform = "bxt";
module_param(sim_platform, charp, 0444);
MODULE_PARM_DESC(sim_platform, "The GPU the sim presents: bxt, skl, kbl, cfl or cml (gvt/core/hw)");

const char *gvt_sim_param_platform(size_t *len)
{
	*len = strlen(sim_platform);
	return sim_platform;
}

static const struct platform_device_id gvt_sim_ids[] = {
	{ .name = "gvt_sim" },
	{ }
};

static struct platform_driver gvt_sim_driver = {
	.driver = { .name = "i915" },
	.id_table = gvt_sim_ids,
};

int gvt_sim_register(struct device **dev)
{
	struct platform_device *pdev;
	int ret;

	ret = platform_driver_register(&gvt_sim_driver);
	if (ret)
		return ret;
	pdev = platform_device_register_simple("gvt_sim", 0, NULL, 0);
	if (IS_ERR(pdev)) {
		platform_driver_unregister(&gvt_sim_driver);
		return PTR_ERR(pdev);
	}
	/* Guest pages are DMA-mapped for the sim GPU as for a real one (39-bit, like Gen9). */
	ret = dma_coerce_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(39));
	if (ret) {
		platform_device_unregister(pdev);
		platform_driver_unregister(&gvt_sim_driver);
		return ret;
	}
	*dev = &pdev->dev;
	return 0;
}

void gvt_sim_unregister(struct device *dev)
{
	platform_device_unregister(to_platform_device(dev));
	platform_driver_unregister(&gvt_sim_driver);
}

/*
 * The sim GPU's memory: page allocations for shadow tables, contexts and rings, named by
 * physical address as the sim's "DMA" addresses are (dma-direct without an IOMMU), and access
 * to any RAM page by that address. gvt/glue/sim.rs checks every access against what it
 * allocated or what a backend granted before it gets here.
 */
int gvt_sim_pages_alloc(u32 pages, u64 *addr)
{
	void *p = alloc_pages_exact((size_t)pages << PAGE_SHIFT, GFP_KERNEL | __GFP_ZERO);

	if (!p)
		return -ENOMEM;
	*addr = virt_to_phys(p);
	return 0;
}

void gvt_sim_pages_free(u64 addr, u32 pages)
{
	free_pages_exact(phys_to_virt(addr), (size_t)pages << PAGE_SHIFT);
}

bool gvt_sim_mem_rw(u64 addr, void *buf, size_t len, bool write)
{
	while (len) {
		unsigned long pfn = PHYS_PFN(addr);
		size_t off = offset_in_page(addr), n = min_t(size_t, len, PAGE_SIZE - off);
		void *va;

		if (!pfn_valid(pfn))
			return false;
		va = kmap_local_pfn(pfn);
		if (write)
			memcpy(va + off, buf, n);
		else
			memcpy(buf, va + off, n);
		kunmap_local(va);
		addr += n;
		buf += n;
		len -= n;
	}
	return true;
}

/* The sim GPU's engines run on one ordered workqueue per GPU. */
struct gvt_sim_worker {
	struct workqueue_struct *wq;
	struct work_struct work;
	void (*fn)(void *data);
	void *data;
};

static void gvt_sim_work(struct work_struct *work)
{
	struct gvt_sim_worker *w = container_of(work, struct gvt_sim_worker, work);

	w->fn(w->data);
}

struct gvt_sim_worker *gvt_sim_worker_create(void (*fn)(void *data), void *data)
{
	struct gvt_sim_worker *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return NULL;
	w->wq = alloc_ordered_workqueue("gvt_sim", 0);
	if (!w->wq) {
		kfree(w);
		return NULL;
	}
	INIT_WORK(&w->work, gvt_sim_work);
	w->fn = fn;
	w->data = data;
	return w;
}

void gvt_sim_worker_kick(struct gvt_sim_worker *w)
{
	queue_work(w->wq, &w->work);
}

/*
 * Between two rounds of the worker: a GPU spinning on memory costs the CPUs nothing, the sim's
 * engines do, so a round that completed nothing sleeps briefly; any round lets others run
 * (the kernel may not preempt).
 */
void gvt_sim_worker_rest(bool idle)
{
	if (idle)
		usleep_range(200, 400);
	else
		cond_resched();
}

void gvt_sim_worker_flush(struct gvt_sim_worker *w)
{
	flush_work(&w->work);
}

void gvt_sim_worker_destroy(struct gvt_sim_worker *w)
{
	cancel_work_sync(&w->work);
	destroy_workqueue(w->wq);
	kfree(w);
}
