// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest's display as VFIO shows it (what QEMU's vfio display uses): the plane the guest
 * scans out, described by gvt.ko (VFIO_DEVICE_QUERY_GFX_PLANE), and a dma-buf of its
 * framebuffer (VFIO_DEVICE_GET_GFX_DMABUF).
 *
 * A dma-buf is made of the guest pages behind the framebuffer's GGTT entries, which kvmgt has
 * pinned for the GPU; it takes its own reference on each page, so it stays valid (its contents
 * frozen in place) even if the guest remaps its GGTT or user space unmaps the memory. Plane
 * descriptions get small ids, as upstream: the same framebuffer keeps its id, so QEMU reuses
 * its import.
 */
#include <linux/dma-buf.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <drm/drm_plane.h>
#include "kvmgt.h"

MODULE_IMPORT_NS(DMA_BUF);

/* The largest framebuffer exported: 4096x4096 at 4 bytes per pixel. */
#define KVMGT_FB_MAX_PAGES	((4096 * 4096 * 4) >> PAGE_SHIFT)

struct kvmgt_dmabuf {
	unsigned int npages;
	struct page **pages;
};

static struct sg_table *kvmgt_dmabuf_map(struct dma_buf_attachment *at, enum dma_data_direction dir)
{
	struct kvmgt_dmabuf *b = at->dmabuf->priv;
	struct sg_table *sgt = kzalloc(sizeof(*sgt), GFP_KERNEL);
	int ret;

	if (!sgt)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table_from_pages(sgt, b->pages, b->npages, 0, (size_t)b->npages << PAGE_SHIFT,
					GFP_KERNEL);
	if (!ret) {
		ret = dma_map_sgtable(at->dev, sgt, dir, 0);
		if (ret)
			sg_free_table(sgt);
	}
	if (ret) {
		kfree(sgt);
		return ERR_PTR(ret);
	}
	return sgt;
}

static void kvmgt_dmabuf_unmap(struct dma_buf_attachment *at, struct sg_table *sgt,
			       enum dma_data_direction dir)
{
	dma_unmap_sgtable(at->dev, sgt, dir, 0);
	sg_free_table(sgt);
	kfree(sgt);
}

static void kvmgt_dmabuf_release(struct dma_buf *buf)
{
	struct kvmgt_dmabuf *b = buf->priv;
	unsigned int i;

	for (i = 0; i < b->npages; i++)
		put_page(b->pages[i]);
	kvfree(b->pages);
	kfree(b);
}

/*
 * Guest RAM is anonymous memory of the VMM, which vm_insert_page() refuses: the pages go in
 * as PFNs. The mapping holds the dma-buf's file, so the pages outlive it.
 */
static int kvmgt_dmabuf_mmap(struct dma_buf *buf, struct vm_area_struct *vma)
{
	struct kvmgt_dmabuf *b = buf->priv;
	unsigned long i, n = vma_pages(vma);
	int ret;

	if (vma->vm_pgoff > b->npages || n > b->npages - vma->vm_pgoff)
		return -EINVAL;
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	for (i = 0; i < n; i++) {
		ret = remap_pfn_range(vma, vma->vm_start + (i << PAGE_SHIFT),
				      page_to_pfn(b->pages[vma->vm_pgoff + i]), PAGE_SIZE,
				      vma->vm_page_prot);
		if (ret)
			return ret;
	}
	return 0;
}

static const struct dma_buf_ops kvmgt_dmabuf_ops = {
	.map_dma_buf = kvmgt_dmabuf_map,
	.unmap_dma_buf = kvmgt_dmabuf_unmap,
	.release = kvmgt_dmabuf_release,
	.mmap = kvmgt_dmabuf_mmap,
};

static bool same_plane(const struct gvt_plane_info *a, const struct gvt_plane_info *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* The id of plane p: the one it had, else a new one in the oldest slot. Under disp.lock. */
static u32 kvmgt_plane_id(struct kvmgt_display *d, const struct gvt_plane_info *p)
{
	unsigned int i, oldest = 0;

	for (i = 0; i < KVMGT_PLANE_IDS; i++) {
		if (d->ids[i] && same_plane(&d->planes[i], p))
			return d->ids[i];
		if (d->ids[i] < d->ids[oldest])
			oldest = i;
	}
	d->next_id = d->next_id + 1 ? d->next_id + 1 : 1;
	d->ids[oldest] = d->next_id;
	d->planes[oldest] = *p;
	return d->next_id;
}

long kvmgt_query_gfx_plane(struct kvmgt_vgpu *v, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_gfx_plane_info, dmabuf_id);
	struct vfio_device_gfx_plane_info p;
	struct gvt_plane_info info;
	int ret;

	if (copy_from_user(&p, arg, minsz))
		return -EFAULT;
	if (p.argsz < minsz)
		return -EINVAL;
	switch (p.flags) {
	case VFIO_GFX_PLANE_TYPE_PROBE | VFIO_GFX_PLANE_TYPE_DMABUF:
		return 0;
	case VFIO_GFX_PLANE_TYPE_DMABUF:
		break;
	default:
		return -EINVAL;
	}
	if (p.drm_plane_type != DRM_PLANE_TYPE_PRIMARY && p.drm_plane_type != DRM_PLANE_TYPE_CURSOR)
		return -EINVAL;
	ret = gvt_vgpu_query_plane(v->vgpu, p.drm_plane_type, &info);
	if (ret)
		return ret;
	p.drm_format = info.drm_format;
	p.drm_format_mod = info.modifier;
	p.width = info.width;
	p.height = info.height;
	p.stride = info.stride;
	p.size = info.size;
	p.x_pos = info.x_pos;
	p.y_pos = info.y_pos;
	p.x_hot = info.x_hot;
	p.y_hot = info.y_hot;
	mutex_lock(&v->disp.lock);
	p.dmabuf_id = kvmgt_plane_id(&v->disp, &info);
	mutex_unlock(&v->disp.lock);
	return copy_to_user(arg, &p, minsz) ? -EFAULT : 0;
}

long kvmgt_get_gfx_dmabuf(struct kvmgt_vgpu *v, void __user *arg)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp);
	struct gvt_plane_info info;
	struct kvmgt_dmabuf *b;
	struct dma_buf *buf;
	unsigned int i, found = KVMGT_PLANE_IDS;
	u64 *dma = NULL;
	u32 id;
	int ret;

	if (get_user(id, (u32 __user *)arg))
		return -EFAULT;
	mutex_lock(&v->disp.lock);
	for (i = 0; i < KVMGT_PLANE_IDS; i++)
		if (id && v->disp.ids[i] == id)
			found = i;
	if (found < KVMGT_PLANE_IDS)
		info = v->disp.planes[found];
	mutex_unlock(&v->disp.lock);
	if (found == KVMGT_PLANE_IDS)
		return -ENOENT;
	if (!info.size || info.size > ((u64)KVMGT_FB_MAX_PAGES << PAGE_SHIFT) || !PAGE_ALIGNED(info.size))
		return -EINVAL;
	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->npages = info.size >> PAGE_SHIFT;
	b->pages = kvcalloc(b->npages, sizeof(*b->pages), GFP_KERNEL);
	dma = kvcalloc(b->npages, sizeof(*dma), GFP_KERNEL);
	ret = -ENOMEM;
	if (!b->pages || !dma)
		goto free;
	ret = gvt_vgpu_gm_pages(v->vgpu, info.gm, b->npages, dma);
	for (i = 0; !ret && i < b->npages; i++) {
		b->pages[i] = kvmgt_dma_get_page(v, dma[i]);
		if (!b->pages[i])
			ret = -EFAULT;
	}
	if (ret)
		goto put;
	exp.ops = &kvmgt_dmabuf_ops;
	exp.size = info.size;
	exp.flags = O_RDWR;
	exp.priv = b;
	buf = dma_buf_export(&exp);
	if (IS_ERR(buf)) {
		ret = PTR_ERR(buf);
		goto put;
	}
	kvfree(dma);
	ret = dma_buf_fd(buf, O_CLOEXEC);
	if (ret < 0)
		dma_buf_put(buf);	/* releases the pages */
	return ret;
put:
	for (i = 0; i < b->npages; i++)
		if (b->pages[i])
			put_page(b->pages[i]);
free:
	kvfree(dma);
	kvfree(b->pages);
	kfree(b);
	return ret;
}
