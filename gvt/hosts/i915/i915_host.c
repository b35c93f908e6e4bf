// SPDX-License-Identifier: GPL-2.0-only
/*
 * The i915 host's C half: the only part of gvt.ko that sees i915's private structures.
 *
 * gvt.ko hands i915 its struct intel_vgpu_ops through intel_gvt_set_ops() (I915_GVT symbol
 * namespace). i915 then calls init_device for every device it drives with enable_gvt=1 (now
 * and when one is probed later), clean_device before it lets one go, and pm_resume after a
 * system resume. Everything here works on one struct gvt_i915 per device; the decisions (what
 * to copy, when a request is done, which vGPU it belongs to) are made in Rust
 * (gvt/glue/i915.rs, gvt/hosts/i915/mod.rs), which calls the functions below.
 *
 * What gvt.ko takes from i915 for its vGPUs:
 *  - GGTT ranges: a vGPU's low and high GM become drm_mm nodes in the GGTT's allocator
 *    (colour "unevictable", as for any range that is not an i915 VMA), so i915 never places
 *    anything there; GGTT entries are only written inside such a node.
 *  - Fence registers, from i915's pool (i915_reserve_fence); gvt.ko's fence index i is the
 *    register reserved for it, whatever its number in i915.
 *  - For each privileged batch the core shadowed, a drm_mm node in the GGTT above the
 *    aperture (i915's allocator, no eviction), its entries pointing at the shadow's DMA pages
 *    until the workload is done.
 *  - A runtime-PM wakeref while any vGPU exists: i915 does not keep the vGPUs' GGTT entries
 *    or fences across a runtime suspend (it restores fences from its own table).
 *  - One pinned, single-submission intel_context per engine (on a PPGTT of its own that
 *    nothing maps), created at the first submission: a workload runs as one i915 request on
 *    it, with the workload's context state loaded into the context image and its PPGTT root
 *    in the image's PDPs.
 *
 * Atomic context: the engines' context_status_notifier and the request fences' callbacks only
 * set bits in an atomic and queue the device's work item; the completion itself is delivered
 * from that work item.
 */
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/io-mapping.h>
#include <linux/notifier.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "i915_drv.h"
#include "i915_gem_gtt.h"
#include "i915_reg.h"
#include "i915_request.h"
#include "intel_gvt.h"
#include "gt/intel_context.h"
#include "gt/intel_engine_types.h"
#include "gt/intel_execlists_submission.h"
#include "gt/intel_ggtt_fencing.h"
#include "gt/intel_gt.h"
#include "gt/intel_gtt.h"
#include "gt/intel_lrc.h"
#include "gt/intel_ring.h"

#include "../../glue/shim.h"

MODULE_IMPORT_NS(I915_GVT);

/* The core's engines, by index: render, video, blitter, video enhancement. */
static const enum intel_engine_id gvt_i915_engine_ids[GVT_I915_ENGINES] = {
	RCS0, VCS0, BCS0, VECS0
};

/* Ring of the shadow contexts: the core's largest workload (64 KiB ring slice and its 4 KiB
 * inhibit-context restore) with room for i915's breadcrumbs and wrapping. */
#define GVT_I915_RING_SIZE	SZ_256K

/* A vGPU's reservation: its GGTT ranges and its runtime-PM wakeref. */
struct gvt_i915_resv {
	bool used;
	u32 id;
	struct drm_mm_node low, high;
	intel_wakeref_t wakeref;
};

/* A shadow the core mapped into the GGTT: its node, and its DMA pages from node.start on. */
struct gvt_i915_map {
	struct list_head link;
	struct drm_mm_node node;
	u64 dma;
};

/* The request in flight on one engine. */
struct gvt_i915_slot {
	struct gvt_i915 *gpu;
	struct i915_request *rq;	/* our reference; NULL: the engine is free */
	atomic_t events;		/* GVT_I915_EV_* */
	struct dma_fence_cb cb;
	struct notifier_block nb;
	bool nb_registered;
};

struct gvt_i915 {
	struct drm_i915_private *i915;
	struct pci_dev *pdev;
	struct intel_gt *gt;
	struct i915_ggtt *ggtt;
	struct gvt_i915_facts facts;
	u8 cfg[GVT_I915_CFG_SIZE] __aligned(4);

	/* Host GGTT entries written for vGPUs, to restore them after a system resume. */
	u64 *ggtt_shadow;
	u64 ggtt_entries;
	struct gvt_i915_resv resv[GVT_I915_MAX_VGPUS];
	struct i915_fence_reg *fence[GVT_I915_MAX_FENCES];
	u64 fence_shadow[GVT_I915_MAX_FENCES];
	struct list_head maps;		/* gvt_i915_map */
	struct mutex lock;		/* resv, fence, maps, contexts */

	struct i915_ppgtt *ppgtt;
	struct intel_context *ce[GVT_I915_ENGINES];
	struct i915_request *building[GVT_I915_ENGINES];
	struct gvt_i915_slot slot[GVT_I915_ENGINES];

	struct workqueue_struct *wq;
	struct work_struct work;
	void (*work_fn)(void *data);
	void *work_data;
};

static struct intel_engine_cs *gvt_i915_engine(struct gvt_i915 *gpu, u32 idx)
{
	if (idx >= GVT_I915_ENGINES)
		return NULL;
	return gpu->gt->engine[gvt_i915_engine_ids[idx]];
}

/* ---- facts and snapshots ---------------------------------------------------------------- */

static void gvt_i915_read_facts(struct gvt_i915 *gpu)
{
	struct gvt_i915_facts *f = &gpu->facts;
	struct pci_dev *pdev = gpu->pdev;
	struct i915_ggtt *ggtt = gpu->ggtt;
	u32 i;

	f->vendor = pdev->vendor;
	f->device = pdev->device;
	f->revision = pdev->revision;
	f->subsystem_vendor = pdev->subsystem_vendor;
	f->subsystem_device = pdev->subsystem_device;
	f->bar0_size = pci_resource_len(pdev, 0);
	f->aperture_pa = ggtt->gmadr.start;
	f->aperture_size = ggtt->mappable_end;
	f->ggtt_size = ggtt->vm.total;
	f->fence_count = ggtt->num_fences;
	f->scratch_pte = ggtt->vm.scratch[0]->encode;
	f->engines = 0;
	for (i = 0; i < GVT_I915_ENGINES; i++)
		if (gvt_i915_engine(gpu, i))
			f->engines |= BIT(i);
}

void gvt_i915_get_facts(struct gvt_i915 *gpu, struct gvt_i915_facts *facts)
{
	*facts = gpu->facts;
}

const u8 *gvt_i915_cfg_snapshot(struct gvt_i915 *gpu)
{
	return gpu->cfg;
}

struct gvt_i915_snap {
	struct intel_gvt_mmio_table_iter iter;
	struct intel_uncore *uncore;
	u32 *dst;
};

static int gvt_i915_snap_range(struct intel_gvt_mmio_table_iter *iter, u32 offset, u32 size)
{
	struct gvt_i915_snap *s = container_of(iter, struct gvt_i915_snap, iter);
	u32 off;

	if (!IS_ALIGNED(offset, 4))
		return -EINVAL;
	for (off = offset; off - offset < size && off < GVT_I915_MMIO_SIZE; off += 4)
		s->dst[off / 4] = intel_uncore_read_fw(s->uncore, _MMIO(off));
	return 0;
}

int gvt_i915_mmio_snapshot(struct gvt_i915 *gpu, u32 *dst)
{
	struct intel_uncore *uncore = gpu->gt->uncore;
	struct gvt_i915_snap s = {
		.iter = { .i915 = gpu->i915, .handle_mmio_cb = gvt_i915_snap_range },
		.uncore = uncore,
		.dst = dst,
	};
	intel_wakeref_t wakeref;
	int ret;

	wakeref = intel_runtime_pm_get(&gpu->i915->runtime_pm);
	intel_uncore_forcewake_get(uncore, FORCEWAKE_ALL);
	ret = intel_gvt_iterate_mmio_table(&s.iter);
	intel_uncore_forcewake_put(uncore, FORCEWAKE_ALL);
	intel_runtime_pm_put(&gpu->i915->runtime_pm, wakeref);
	return ret;
}

struct device *gvt_i915_dev(struct gvt_i915 *gpu)
{
	return get_device(&gpu->pdev->dev);
}

void gvt_i915_put_dev(struct device *dev)
{
	put_device(dev);
}

/* ---- GGTT, fences, reservations --------------------------------------------------------- */

/* Whether GGTT entry idx lies in a vGPU's reservation. Caller holds gpu->lock. */
static bool gvt_i915_reserved(struct gvt_i915 *gpu, u64 idx)
{
	u64 gm = idx << PAGE_SHIFT;
	int i;

	for (i = 0; i < GVT_I915_MAX_VGPUS; i++) {
		struct gvt_i915_resv *r = &gpu->resv[i];

		if (!r->used)
			continue;
		if ((gm >= r->low.start && gm - r->low.start < r->low.size) ||
		    (gm >= r->high.start && gm - r->high.start < r->high.size))
			return true;
	}
	return false;
}

u64 gvt_i915_ggtt_read(struct gvt_i915 *gpu, u64 idx)
{
	if (idx >= gpu->ggtt_entries)
		return 0;
	return readq((u64 __iomem *)gpu->ggtt->gsm + idx);
}

void gvt_i915_ggtt_write(struct gvt_i915 *gpu, u64 idx, u64 pte)
{
	mutex_lock(&gpu->lock);
	/* Only inside a vGPU's reservation: never over an entry i915 owns. */
	if (idx < gpu->ggtt_entries && gvt_i915_reserved(gpu, idx)) {
		gpu->ggtt_shadow[idx] = pte;
		writeq(pte, (u64 __iomem *)gpu->ggtt->gsm + idx);
	}
	mutex_unlock(&gpu->lock);
}

void gvt_i915_ggtt_flush(struct gvt_i915 *gpu)
{
	gpu->ggtt->invalidate(gpu->ggtt);
}

static void gvt_i915_fence_hw(struct gvt_i915 *gpu, struct i915_fence_reg *reg, u64 value)
{
	struct intel_uncore *uncore = gpu->gt->uncore;

	/* Disable first, so the fence never covers a half-written range. */
	intel_uncore_write(uncore, FENCE_REG_GEN6_LO(reg->id), 0);
	intel_uncore_posting_read(uncore, FENCE_REG_GEN6_LO(reg->id));
	intel_uncore_write(uncore, FENCE_REG_GEN6_HI(reg->id), upper_32_bits(value));
	intel_uncore_write(uncore, FENCE_REG_GEN6_LO(reg->id), lower_32_bits(value));
	intel_uncore_posting_read(uncore, FENCE_REG_GEN6_LO(reg->id));
}

void gvt_i915_fence_write(struct gvt_i915 *gpu, u32 idx, u64 value)
{
	mutex_lock(&gpu->lock);
	if (idx < GVT_I915_MAX_FENCES && gpu->fence[idx]) {
		gpu->fence_shadow[idx] = value;
		gvt_i915_fence_hw(gpu, gpu->fence[idx], value);
	}
	mutex_unlock(&gpu->lock);
}

static int gvt_i915_take_node(struct i915_ggtt *ggtt, struct drm_mm_node *node, u64 start, u64 size)
{
	memset(node, 0, sizeof(*node));
	node->start = start;
	node->size = size;
	node->color = I915_COLOR_UNEVICTABLE;
	return drm_mm_reserve_node(&ggtt->vm.mm, node);
}

static void gvt_i915_unreserve_fences(struct gvt_i915 *gpu, u32 first, u32 count)
{
	u32 i;

	for (i = first; i < first + count && i < GVT_I915_MAX_FENCES; i++) {
		if (gpu->fence[i]) {
			i915_unreserve_fence(gpu->fence[i]);
			gpu->fence[i] = NULL;
			gpu->fence_shadow[i] = 0;
		}
	}
}

int gvt_i915_reserve(struct gvt_i915 *gpu, const struct gvt_i915_partition *p)
{
	struct i915_ggtt *ggtt = gpu->ggtt;
	struct gvt_i915_resv *r = NULL;
	u32 i;
	int ret;

	if (p->fence_first >= GVT_I915_MAX_FENCES ||
	    p->fence_count > GVT_I915_MAX_FENCES - p->fence_first)
		return -EINVAL;

	mutex_lock(&gpu->lock);
	for (i = 0; i < GVT_I915_MAX_VGPUS; i++) {
		if (gpu->resv[i].used && gpu->resv[i].id == p->id) {
			ret = -EEXIST;
			goto out;
		}
		if (!gpu->resv[i].used && !r)
			r = &gpu->resv[i];
	}
	if (!r) {
		ret = -ENOSPC;
		goto out;
	}
	for (i = p->fence_first; i < p->fence_first + p->fence_count; i++) {
		if (gpu->fence[i]) {
			ret = -EBUSY;
			goto out;
		}
	}

	r->wakeref = intel_runtime_pm_get(&gpu->i915->runtime_pm);
	mutex_lock(&ggtt->vm.mutex);
	ret = gvt_i915_take_node(ggtt, &r->low, p->low_start, p->low_size);
	if (ret)
		goto out_unlock;
	ret = gvt_i915_take_node(ggtt, &r->high, p->high_start, p->high_size);
	if (ret)
		goto out_low;
	/* The core relies on a new partition pointing at scratch (HostGpu::reserve). */
	ggtt->vm.clear_range(&ggtt->vm, p->low_start, p->low_size);
	ggtt->vm.clear_range(&ggtt->vm, p->high_start, p->high_size);
	for (i = p->fence_first; i < p->fence_first + p->fence_count; i++) {
		struct i915_fence_reg *reg = i915_reserve_fence(ggtt);

		if (IS_ERR(reg)) {
			ret = PTR_ERR(reg);
			goto out_fences;
		}
		gpu->fence[i] = reg;
		gpu->fence_shadow[i] = 0;
	}
	mutex_unlock(&ggtt->vm.mutex);
	r->id = p->id;
	r->used = true;
	ret = 0;
	goto out;

out_fences:
	gvt_i915_unreserve_fences(gpu, p->fence_first, p->fence_count);
	drm_mm_remove_node(&r->high);
out_low:
	drm_mm_remove_node(&r->low);
out_unlock:
	mutex_unlock(&ggtt->vm.mutex);
	intel_runtime_pm_put(&gpu->i915->runtime_pm, r->wakeref);
out:
	mutex_unlock(&gpu->lock);
	return ret;
}

void gvt_i915_release(struct gvt_i915 *gpu, const struct gvt_i915_partition *p)
{
	struct i915_ggtt *ggtt = gpu->ggtt;
	u64 idx, end;
	int i;

	mutex_lock(&gpu->lock);
	for (i = 0; i < GVT_I915_MAX_VGPUS; i++) {
		struct gvt_i915_resv *r = &gpu->resv[i];

		if (!r->used || r->id != p->id)
			continue;
		/* Forget what the vGPU wrote (the core already pointed it at scratch). */
		for (idx = r->low.start >> PAGE_SHIFT, end = idx + (r->low.size >> PAGE_SHIFT);
		     idx < end && idx < gpu->ggtt_entries; idx++)
			gpu->ggtt_shadow[idx] = 0;
		for (idx = r->high.start >> PAGE_SHIFT, end = idx + (r->high.size >> PAGE_SHIFT);
		     idx < end && idx < gpu->ggtt_entries; idx++)
			gpu->ggtt_shadow[idx] = 0;
		mutex_lock(&ggtt->vm.mutex);
		gvt_i915_unreserve_fences(gpu, p->fence_first, p->fence_count);
		drm_mm_remove_node(&r->high);
		drm_mm_remove_node(&r->low);
		mutex_unlock(&ggtt->vm.mutex);
		intel_runtime_pm_put(&gpu->i915->runtime_pm, r->wakeref);
		r->used = false;
		break;
	}
	mutex_unlock(&gpu->lock);
}

/* Writes the entries of a shadow's node: its pages, or i915's scratch page. */
static void gvt_i915_map_write(struct gvt_i915 *gpu, struct gvt_i915_map *m, bool scratch)
{
	struct i915_ggtt *ggtt = gpu->ggtt;
	u64 first = m->node.start >> PAGE_SHIFT;
	u64 i, n = m->node.size >> PAGE_SHIFT;

	/* Gen8/9 GGTT entries carry no caching bits: the PAT index is the uncached level. */
	for (i = 0; i < n && first + i < gpu->ggtt_entries; i++)
		writeq(scratch ? gpu->facts.scratch_pte :
		       ggtt->vm.pte_encode(m->dma + (i << PAGE_SHIFT), I915_CACHE_NONE, 0),
		       (u64 __iomem *)ggtt->gsm + first + i);
}

int gvt_i915_ggtt_map(struct gvt_i915 *gpu, u64 dma, u32 pages, u64 *gm)
{
	struct i915_ggtt *ggtt = gpu->ggtt;
	struct gvt_i915_map *m;
	int ret;

	if (!pages || !IS_ALIGNED(dma, PAGE_SIZE))
		return -EINVAL;
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->dma = dma;
	/* Above the aperture (the CPU never reaches a shadow through it); nothing is evicted
	 * for it: this runs under a vGPU's lock, on the guest's submission. */
	mutex_lock(&ggtt->vm.mutex);
	ret = drm_mm_insert_node_in_range(&ggtt->vm.mm, &m->node, (u64)pages << PAGE_SHIFT, 0,
					  I915_COLOR_UNEVICTABLE, ggtt->mappable_end,
					  ggtt->vm.total, DRM_MM_INSERT_BEST);
	mutex_unlock(&ggtt->vm.mutex);
	if (ret) {
		kfree(m);
		return ret;
	}
	mutex_lock(&gpu->lock);
	gvt_i915_map_write(gpu, m, false);
	list_add(&m->link, &gpu->maps);
	mutex_unlock(&gpu->lock);
	ggtt->invalidate(ggtt);
	*gm = m->node.start;
	return 0;
}

static void gvt_i915_map_free(struct gvt_i915 *gpu, struct gvt_i915_map *m)
{
	struct i915_ggtt *ggtt = gpu->ggtt;

	mutex_lock(&ggtt->vm.mutex);
	drm_mm_remove_node(&m->node);
	mutex_unlock(&ggtt->vm.mutex);
	kfree(m);
}

void gvt_i915_ggtt_unmap(struct gvt_i915 *gpu, u64 gm)
{
	struct gvt_i915_map *m, *found = NULL;

	mutex_lock(&gpu->lock);
	list_for_each_entry(m, &gpu->maps, link) {
		if (m->node.start == gm) {
			list_del(&m->link);
			gvt_i915_map_write(gpu, m, true);
			found = m;
			break;
		}
	}
	mutex_unlock(&gpu->lock);
	if (!found)
		return;
	gpu->ggtt->invalidate(gpu->ggtt);
	gvt_i915_map_free(gpu, found);
}

u64 gvt_i915_ggtt_mapped(struct gvt_i915 *gpu)
{
	struct gvt_i915_map *m;
	u64 pages = 0;

	mutex_lock(&gpu->lock);
	list_for_each_entry(m, &gpu->maps, link)
		pages += m->node.size >> PAGE_SHIFT;
	mutex_unlock(&gpu->lock);
	return pages;
}

/*
 * After a system resume: i915 rebuilt its own GGTT entries and fences; the vGPUs' GGTT
 * entries, the shadows' entries and the fence registers are written again from what gvt.ko
 * keeps. Everything else a vGPU needs is in the core (virtual registers) or goes to the GPU
 * with each submission (context image, PPGTT root), so nothing more is restored here.
 */
static void gvt_i915_restore(struct gvt_i915 *gpu)
{
	struct gvt_i915_map *m;
	u64 idx;
	int i;

	mutex_lock(&gpu->lock);
	for (i = 0; i < GVT_I915_MAX_VGPUS; i++) {
		struct gvt_i915_resv *r = &gpu->resv[i];
		struct drm_mm_node *nodes[2] = { &r->low, &r->high };
		int n;

		if (!r->used)
			continue;
		for (n = 0; n < 2; n++) {
			u64 first = nodes[n]->start >> PAGE_SHIFT;
			u64 end = first + (nodes[n]->size >> PAGE_SHIFT);

			for (idx = first; idx < end && idx < gpu->ggtt_entries; idx++)
				if (gpu->ggtt_shadow[idx])
					writeq(gpu->ggtt_shadow[idx],
					       (u64 __iomem *)gpu->ggtt->gsm + idx);
		}
	}
	list_for_each_entry(m, &gpu->maps, link)
		gvt_i915_map_write(gpu, m, false);
	for (i = 0; i < GVT_I915_MAX_FENCES; i++)
		if (gpu->fence[i])
			gvt_i915_fence_hw(gpu, gpu->fence[i], gpu->fence_shadow[i]);
	mutex_unlock(&gpu->lock);
	gpu->ggtt->invalidate(gpu->ggtt);
}

/* ---- host memory and registers ---------------------------------------------------------- */

void *gvt_i915_dma_alloc(struct gvt_i915 *gpu, size_t size, u64 *dma)
{
	dma_addr_t addr;
	void *va = dma_alloc_coherent(&gpu->pdev->dev, size, &addr, GFP_KERNEL);

	if (va)
		*dma = addr;
	return va;
}

void gvt_i915_dma_free(struct gvt_i915 *gpu, size_t size, void *va, u64 dma)
{
	dma_free_coherent(&gpu->pdev->dev, size, va, dma);
}

/* The aperture through i915's write-combined io_mapping of it (GMADR). */
int gvt_i915_aperture_rw(struct gvt_i915 *gpu, u64 gm, void *buf, u32 len, bool write)
{
	void __iomem *va;

	if (gm >= gpu->facts.aperture_size || len > PAGE_SIZE - offset_in_page(gm))
		return -EINVAL;
	va = io_mapping_map_local_wc(&gpu->ggtt->iomap, gm & PAGE_MASK);
	if (write)
		memcpy_toio(va + offset_in_page(gm), buf, len);
	else
		memcpy_fromio(buf, va + offset_in_page(gm), len);
	io_mapping_unmap_local(va);
	return 0;
}

u32 gvt_i915_mmio_read(struct gvt_i915 *gpu, u32 offset)
{
	if (offset >= GVT_I915_MMIO_SIZE || !IS_ALIGNED(offset, 4))
		return 0;
	/* intel_uncore_read() takes the register's forcewake domains as needed. */
	return intel_uncore_read(gpu->gt->uncore, _MMIO(offset));
}

void gvt_i915_mmio_write(struct gvt_i915 *gpu, u32 offset, u32 value)
{
	if (offset >= GVT_I915_MMIO_SIZE || !IS_ALIGNED(offset, 4))
		return;
	intel_uncore_write(gpu->gt->uncore, _MMIO(offset), value);
}

/* ---- submission ------------------------------------------------------------------------- */

static void gvt_i915_kick(struct gvt_i915 *gpu)
{
	if (gpu->wq)
		queue_work(gpu->wq, &gpu->work);
}

/* Context: atomic (fence signalling). */
static void gvt_i915_fence_cb(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct gvt_i915_slot *slot = container_of(cb, struct gvt_i915_slot, cb);

	atomic_or(GVT_I915_EV_SIGNALED | (fence->error ? GVT_I915_EV_ERROR : 0), &slot->events);
	gvt_i915_kick(slot->gpu);
}

/* Context: atomic (execlists submission, under the engine's locks). */
static int gvt_i915_status(struct notifier_block *nb, unsigned long action, void *data)
{
	struct gvt_i915_slot *slot = container_of(nb, struct gvt_i915_slot, nb);
	struct i915_request *rq = data;

	if (rq != READ_ONCE(slot->rq))
		return NOTIFY_DONE;
	switch (action) {
	case INTEL_CONTEXT_SCHEDULE_IN:
		atomic_or(GVT_I915_EV_SCHEDULED_IN, &slot->events);
		break;
	case INTEL_CONTEXT_SCHEDULE_OUT:
		/* Switched out with the request done: the hardware has saved the image. */
		if (__i915_request_is_complete(rq)) {
			atomic_or(GVT_I915_EV_SWITCHED_OUT, &slot->events);
			gvt_i915_kick(slot->gpu);
		}
		break;
	default:
		break;
	}
	return NOTIFY_OK;
}

/* The engine's shadow context, created and pinned at its first use. Caller holds gpu->lock. */
static struct intel_context *gvt_i915_context(struct gvt_i915 *gpu, u32 idx)
{
	struct intel_engine_cs *engine = gvt_i915_engine(gpu, idx);
	struct intel_context *ce;
	int ret;

	if (!engine)
		return ERR_PTR(-ENODEV);
	if (gpu->ce[idx])
		return gpu->ce[idx];
	if (!gpu->ppgtt) {
		struct i915_ppgtt *ppgtt = i915_ppgtt_create(gpu->gt, I915_BO_ALLOC_PM_EARLY);

		if (IS_ERR(ppgtt))
			return ERR_CAST(ppgtt);
		gpu->ppgtt = ppgtt;
	}
	ce = intel_context_create(engine);
	if (IS_ERR(ce))
		return ce;
	/* A VM nothing maps: should i915 ever restore the context's own PDPs (a reset), the
	 * context reaches nothing. Every submission puts the workload's shadow root there. */
	i915_vm_put(ce->vm);
	ce->vm = i915_vm_get(&gpu->ppgtt->vm);
	intel_context_set_single_submission(ce);
	ce->ring_size = GVT_I915_RING_SIZE;
	ret = intel_context_pin(ce);
	if (ret) {
		intel_context_put(ce);
		return ERR_PTR(ret);
	}
	gpu->ce[idx] = ce;
	return ce;
}

/*
 * Submission is begin (a request on the engine's shadow context, whose image the caller then
 * loads), then commit (the ring, and the request added). The caller serializes submissions
 * to a device (gvt/glue/i915.rs holds its in-flight lock across both), which is what guards
 * building[]. gpu->lock is not held across i915_request_create(): the request keeps its
 * timeline's mutex until i915_request_add().
 */
int gvt_i915_request_begin(struct gvt_i915 *gpu, u32 idx, void **state, size_t *state_len)
{
	struct intel_context *ce;
	struct i915_request *rq;

	if (idx >= GVT_I915_ENGINES || gpu->building[idx])
		return -EINVAL;
	mutex_lock(&gpu->lock);
	if (READ_ONCE(gpu->slot[idx].rq)) {
		mutex_unlock(&gpu->lock);
		return -EBUSY;
	}
	ce = gvt_i915_context(gpu, idx);
	mutex_unlock(&gpu->lock);
	if (IS_ERR(ce))
		return PTR_ERR(ce);
	rq = i915_request_create(ce);
	if (IS_ERR(rq))
		return PTR_ERR(rq);
	gpu->building[idx] = rq;
	*state = (void *)ce->lrc_reg_state - LRC_STATE_OFFSET;
	*state_len = ce->engine->context_size;
	return 0;
}

int gvt_i915_request_commit(struct gvt_i915 *gpu, u32 idx, const void *ring, u32 len, u32 dwords)
{
	struct gvt_i915_slot *slot;
	struct i915_request *rq;
	u32 *cs;
	int ret = 0;

	if (idx >= GVT_I915_ENGINES || !gpu->building[idx])
		return -EINVAL;
	slot = &gpu->slot[idx];
	rq = gpu->building[idx];
	gpu->building[idx] = NULL;
	/* Without a ring (the context could not be loaded) the request runs empty. */
	if (!ring)
		goto add;
	if (len <= (u64)dwords * 4) {
		if (rq->engine->emit_init_breadcrumb) {
			ret = rq->engine->emit_init_breadcrumb(rq);
			if (ret)
				goto add;
		}
		if (dwords) {
			cs = intel_ring_begin(rq, dwords);
			if (IS_ERR(cs)) {
				ret = PTR_ERR(cs);
				goto add;
			}
			memcpy(cs, ring, len);
			/* MI_NOOP up to the qword */
			memset((void *)cs + len, 0, (size_t)dwords * 4 - len);
			intel_ring_advance(rq, cs + dwords);
		}
	} else {
		ret = -EINVAL;
	}
add:
	if (!ret) {
		atomic_set(&slot->events, 0);
		/* Our reference, dropped by gvt_i915_retire(). */
		WRITE_ONCE(slot->rq, i915_request_get(rq));
	}
	i915_request_add(rq);
	if (ret)
		return ret;
	if (dma_fence_add_callback(&rq->fence, &slot->cb, gvt_i915_fence_cb))
		gvt_i915_fence_cb(&rq->fence, &slot->cb);	/* already signalled */
	return 0;
}

u32 gvt_i915_events(struct gvt_i915 *gpu, u32 idx)
{
	if (idx >= GVT_I915_ENGINES || !READ_ONCE(gpu->slot[idx].rq))
		return 0;
	return atomic_read(&gpu->slot[idx].events);
}

int gvt_i915_context_state(struct gvt_i915 *gpu, u32 idx, void **state, size_t *state_len)
{
	struct intel_context *ce;

	if (idx >= GVT_I915_ENGINES)
		return -EINVAL;
	ce = gpu->ce[idx];
	if (!ce)
		return -ENODEV;
	*state = (void *)ce->lrc_reg_state - LRC_STATE_OFFSET;
	*state_len = ce->engine->context_size;
	return 0;
}

void gvt_i915_retire(struct gvt_i915 *gpu, u32 idx)
{
	struct i915_request *rq;

	if (idx >= GVT_I915_ENGINES)
		return;
	mutex_lock(&gpu->lock);
	rq = gpu->slot[idx].rq;
	WRITE_ONCE(gpu->slot[idx].rq, NULL);
	atomic_set(&gpu->slot[idx].events, 0);
	mutex_unlock(&gpu->lock);
	if (rq)
		i915_request_put(rq);
}

long gvt_i915_wait(struct gvt_i915 *gpu, u32 idx, u32 timeout_ms)
{
	struct i915_request *rq = NULL;
	long ret;

	if (idx >= GVT_I915_ENGINES)
		return -EINVAL;
	mutex_lock(&gpu->lock);
	if (gpu->slot[idx].rq)
		rq = i915_request_get(gpu->slot[idx].rq);
	mutex_unlock(&gpu->lock);
	if (!rq)
		return 0;
	ret = i915_request_wait(rq, 0, msecs_to_jiffies(timeout_ms));
	i915_request_put(rq);
	return ret < 0 ? ret : 0;
}

/* ---- the device's work item ------------------------------------------------------------- */

static void gvt_i915_work(struct work_struct *work)
{
	struct gvt_i915 *gpu = container_of(work, struct gvt_i915, work);

	gpu->work_fn(gpu->work_data);
}

int gvt_i915_start(struct gvt_i915 *gpu, void (*fn)(void *data), void *data)
{
	u32 i;
	int ret;

	gpu->work_fn = fn;
	gpu->work_data = data;
	INIT_WORK(&gpu->work, gvt_i915_work);
	gpu->wq = alloc_ordered_workqueue("gvt_i915", 0);
	if (!gpu->wq)
		return -ENOMEM;
	for (i = 0; i < GVT_I915_ENGINES; i++) {
		struct intel_engine_cs *engine = gvt_i915_engine(gpu, i);
		struct gvt_i915_slot *slot = &gpu->slot[i];

		if (!engine)
			continue;
		slot->nb.notifier_call = gvt_i915_status;
		ret = atomic_notifier_chain_register(&engine->context_status_notifier, &slot->nb);
		if (ret) {
			gvt_i915_stop(gpu);
			return ret;
		}
		slot->nb_registered = true;
	}
	return 0;
}

void gvt_i915_kick_worker(struct gvt_i915 *gpu)
{
	gvt_i915_kick(gpu);
}

void gvt_i915_flush_worker(struct gvt_i915 *gpu)
{
	if (gpu->wq)
		flush_work(&gpu->work);
}

void gvt_i915_stop(struct gvt_i915 *gpu)
{
	struct workqueue_struct *wq = gpu->wq;
	u32 i;

	for (i = 0; i < GVT_I915_ENGINES; i++) {
		struct intel_engine_cs *engine = gvt_i915_engine(gpu, i);
		struct gvt_i915_slot *slot = &gpu->slot[i];

		if (engine && slot->nb_registered)
			atomic_notifier_chain_unregister(&engine->context_status_notifier, &slot->nb);
		slot->nb_registered = false;
	}
	if (!wq)
		return;
	gpu->wq = NULL;
	cancel_work_sync(&gpu->work);
	destroy_workqueue(wq);
}

/* ---- life cycle ------------------------------------------------------------------------- */

static void gvt_i915_free(struct gvt_i915 *gpu)
{
	struct gvt_i915_map *m, *next;
	u32 i;

	for (i = 0; i < GVT_I915_ENGINES; i++) {
		struct i915_request *rq = gpu->slot[i].rq;

		/* Nothing should be in flight (vGPUs wait for theirs); never leave a callback
		 * pointing into freed memory if something is. */
		if (rq)
			dma_fence_remove_callback(&rq->fence, &gpu->slot[i].cb);
		gvt_i915_retire(gpu, i);
		if (gpu->ce[i]) {
			intel_context_unpin(gpu->ce[i]);
			intel_context_put(gpu->ce[i]);
		}
	}
	if (gpu->ppgtt)
		i915_vm_put(&gpu->ppgtt->vm);
	/* Workloads free their shadows; never leave a node in i915's allocator if one did not. */
	list_for_each_entry_safe(m, next, &gpu->maps, link) {
		drm_warn(&gpu->i915->drm, "gvt-rs: a batch shadow left mapped at teardown\n");
		list_del(&m->link);
		gvt_i915_map_write(gpu, m, true);
		gvt_i915_map_free(gpu, m);
	}
	vfree(gpu->ggtt_shadow);
	kfree(gpu);
}

static int gvt_i915_init_device(struct drm_i915_private *i915)
{
	struct gvt_i915 *gpu;
	u32 i;
	int ret;

	gpu = kzalloc(sizeof(*gpu), GFP_KERNEL);
	if (!gpu)
		return -ENOMEM;
	gpu->i915 = i915;
	gpu->pdev = to_pci_dev(i915->drm.dev);
	gpu->gt = to_gt(i915);
	gpu->ggtt = gpu->gt->ggtt;
	mutex_init(&gpu->lock);
	INIT_LIST_HEAD(&gpu->maps);
	for (i = 0; i < GVT_I915_ENGINES; i++)
		gpu->slot[i].gpu = gpu;
	gvt_i915_read_facts(gpu);
	for (i = 0; i < GVT_I915_CFG_SIZE; i += 4)
		pci_read_config_dword(gpu->pdev, i, (u32 *)&gpu->cfg[i]);
	gpu->ggtt_entries = gpu->ggtt->vm.total >> PAGE_SHIFT;
	gpu->ggtt_shadow = vzalloc(array_size(gpu->ggtt_entries, sizeof(u64)));
	if (!gpu->ggtt_shadow) {
		kfree(gpu);
		return -ENOMEM;
	}
	/* i915 only checks that this is set before it calls clean_device and pm_resume. */
	i915->gvt = (struct intel_gvt *)gpu;
	ret = gvt_i915_device_added(gpu);
	if (ret) {
		i915->gvt = NULL;
		gvt_i915_free(gpu);
		drm_info(&i915->drm, "gvt-rs: not driving this GPU (%d)\n", ret);
		return ret;
	}
	return 0;
}

static void gvt_i915_clean_device(struct drm_i915_private *i915)
{
	struct gvt_i915 *gpu = (struct gvt_i915 *)i915->gvt;

	if (!gpu)
		return;
	/* Backends give up their vGPUs first; the device's work item stops with it. */
	gvt_i915_device_removed(gpu);
	i915->gvt = NULL;
	gvt_i915_free(gpu);
}

static void gvt_i915_pm_resume(struct drm_i915_private *i915)
{
	struct gvt_i915 *gpu = (struct gvt_i915 *)i915->gvt;

	if (gpu)
		gvt_i915_restore(gpu);
}

static const struct intel_vgpu_ops gvt_i915_ops = {
	.init_device = gvt_i915_init_device,
	.clean_device = gvt_i915_clean_device,
	.pm_resume = gvt_i915_pm_resume,
};

int gvt_i915_register(void)
{
	return intel_gvt_set_ops(&gvt_i915_ops);
}

void gvt_i915_unregister(void)
{
	intel_gvt_clear_ops(&gvt_i915_ops);
}
