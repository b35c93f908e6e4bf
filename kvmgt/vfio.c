// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmgt's VFIO device: what QEMU's vfio-pci (or any VFIO user) sees of a vGPU mdev.
 *
 * Display (display.c): the plane the guest scans out and dma-bufs of its framebuffer.
 *
 * Regions, by the standard indices: PCI config space and BAR0 (registers and the GGTT), whose
 * transfers are split into naturally aligned 1/2/4/8-byte device accesses and emulated by
 * gvt.ko; BAR2, the aperture; then two device-specific regions, the OpRegion (read-only) and
 * the EDID. What a transfer or an ioctl does is Rust's (device.rs, deciding with region.rs,
 * edid.rs and ioctl.rs, host-tested and fuzzed); this file copies ioctl arguments in and
 * answers out, chains capabilities, handles eventfds, and copies BAR2 through its pages.
 *
 * BAR2 is readable, writable and mappable only in the vGPU's slice (a sparse-mmap capability
 * names it; anything reaching outside is EINVAL, as upstream). gvt.ko says which host page
 * backs each aperture page: a fixed page of a real GPU's aperture BAR, or on the sim GPU the
 * guest page the vGPU's GGTT entry maps. Region transfers copy through it; an mmap is a
 * VM_PFNMAP area filled at fault time, under ap_lock, and zapped under ap_lock when gvt.ko
 * says the pages behind part of the slice changed (a GGTT rewrite, a reset) and when a DMA
 * mapping the GGTT may still use is released (user space unmapped the memory) between its
 * grant's revocation and the unpin, so a user mapping never outlives the page it shows. A page
 * the GGTT does not map (its entry is on the scratch page) is, as on hardware, the vGPU's
 * scratch page, but a private one: the host's is shared by every vGPU, so kvmgt keeps a zeroed
 * "sink" page per open device, which transfers copy through and faults insert. A VMM touching
 * an unbound page thus sees memory, not SIGBUS (which kills QEMU under TCG). The GGTT zaps
 * above make a mapping leave the sink when an entry gets a page; a sink mapping may also stand
 * where the GGTT points at a page whose grant was revoked, so a new grant zaps the slice if
 * the sink was mapped since the last such zap. Closing the device frees the sink.
 *
 * The EDID region (VFIO_REGION_TYPE_GFX, VFIO_REGION_SUBTYPE_GFX_EDID; its state is edid.rs's)
 * is QEMU's protocol: link down unplugs the monitor; the blob and its size are staged; link up
 * hands the blob to gvt.ko, which validates it (refused: EINVAL, the monitor keeps its EDID)
 * and plugs the monitor in, with hotplug interrupts to the guest either way. A device reset plugs it back in
 * and keeps the EDID; closing the device gives it back its type's EDID.
 *
 * IRQs: MSI through an eventfd; INTx is advertised, as upstream, but never fired (the guest
 * i915 uses MSI).
 *
 * It also provides gvt.ko's MPT services for the vGPU: guest memory through vfio_dma_rw() and
 * guest pages pinned and DMA-mapped for the GPU, cached by gfn with reference counts and
 * dropped when user space unmaps the IOVA range (the bookkeeping is Rust: dma_cache.rs); and, when the device is opened with a KVM (as
 * QEMU does), KVM write tracking of the guest's page-table pages. Without a KVM (QEMU TCG, a
 * test client) there is no tracking and gvt.ko re-validates page tables before submissions.
 *
 * Locks: the DMA cache's (dma.rs), then ap_lock; page faults take ap_lock under the mm's locks, and gvt.ko's
 * aperture lookups take no vGPU lock, because the vGPU's lock is held around vfio_dma_rw(),
 * which may fault in that same mm.
 */
#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/eventfd.h>
#include <linux/kvm_host.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/ratelimit.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sprintf.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/xarray.h>
#include "kvmgt.h"

#define KVMGT_PGOFF_MASK	((1ULL << (KVMGT_OFFSET_SHIFT - PAGE_SHIFT)) - 1)
#define KVMGT_BAR2_OFFSET	((u64)VFIO_PCI_BAR2_REGION_INDEX << KVMGT_OFFSET_SHIFT)

/*
 * Logs a request of the VFIO user kvmgt refuses itself (an offset outside a region, an ioctl
 * it does not know or a bad argument to one), which the VMM gets as an error: at debug level
 * (dynamic debug shows it) and rate-limited per vGPU. Guest accesses gvt.ko refuses, gvt.ko
 * logs.
 */
#define kvmgt_refused(v, fmt, ...)								\
	do {											\
		if (__ratelimit(&(v)->refused_rs))						\
			dev_dbg((v)->vdev.dev, "refused " fmt, ##__VA_ARGS__);			\
	} while (0)

static struct kvmgt_vgpu *to_kvmgt_vgpu(struct vfio_device *vdev)
{
	return container_of(vdev, struct kvmgt_vgpu, vdev);
}

static struct device *gpu_dev(struct kvmgt_vgpu *v)
{
	struct mdev_device *mdev = to_mdev_device(v->vdev.dev);

	return mdev->type->parent->dev;
}

/* ---- MPT services --------------------------------------------------------------------- */

static int kvmgt_read_gpa(void *priv, u64 gpa, void *buf, size_t len)
{
	struct kvmgt_vgpu *v = priv;

	if (!v->open)
		return -ENODEV;
	return vfio_dma_rw(&v->vdev, gpa, buf, len, false);
}

static int kvmgt_write_gpa(void *priv, u64 gpa, const void *buf, size_t len)
{
	struct kvmgt_vgpu *v = priv;

	if (!v->open)
		return -ENODEV;
	return vfio_dma_rw(&v->vdev, gpa, (void *)buf, len, true);
}

/* Drops user mappings of [offset, offset + size) of the aperture slice (BAR2 offsets). */
static void kvmgt_aperture_zap_locked(struct kvmgt_vgpu *v, u64 offset, u64 size)
{
	lockdep_assert_held(&v->ap_lock);
	unmap_mapping_range(v->vdev.inode->i_mapping, KVMGT_BAR2_OFFSET + offset, size, 1);
}

static void kvmgt_aperture_zap(struct kvmgt_vgpu *v, u64 offset, u64 size)
{
	mutex_lock(&v->ap_lock);
	kvmgt_aperture_zap_locked(v, offset, size);
	mutex_unlock(&v->ap_lock);
}

/* The vGPU's sink page, allocated at first use; NULL if out of memory. Under ap_lock. */
static u8 *kvmgt_sink(struct kvmgt_vgpu *v)
{
	lockdep_assert_held(&v->ap_lock);
	if (!v->sink)
		v->sink = (u8 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	return v->sink;
}

/* Zaps the whole slice if the sink may be mapped in it; release: then frees the sink. */
static void kvmgt_sink_unmap(struct kvmgt_vgpu *v, bool release)
{
	mutex_lock(&v->ap_lock);
	if (v->sink_mapped)
		kvmgt_aperture_zap_locked(v, v->info.aperture_slice_base, v->info.aperture_slice_size);
	v->sink_mapped = false;
	if (release) {
		free_page((unsigned long)v->sink);
		v->sink = NULL;
	}
	mutex_unlock(&v->ap_lock);
}

/* gvt.ko: the pages behind part of the aperture slice changed. */
static void kvmgt_aperture_invalidate(void *priv, u64 offset, u64 size)
{
	kvmgt_aperture_zap(priv, offset, size);
}

/*
 * The kernel side of the DMA pin cache (dma.rs decides, under its lock): pins size bytes of
 * guest memory at gfn, which must be physically contiguous, maps them for the GPU and grants
 * them to gvt.ko.
 */
int kvmgt_pin(struct kvmgt_vgpu *v, u64 gfn, u64 size, u64 *dma_addr, void **first)
{
	int npages = size >> PAGE_SHIFT, i, ret;
	struct page **pages;
	dma_addr_t dma;

	pages = kcalloc(npages, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	ret = vfio_pin_pages(&v->vdev, gfn << PAGE_SHIFT, npages, IOMMU_READ | IOMMU_WRITE, pages);
	if (ret != npages) {
		if (ret > 0)
			vfio_unpin_pages(&v->vdev, gfn << PAGE_SHIFT, ret);
		ret = ret < 0 ? ret : -EFAULT;
		goto free;
	}
	ret = -EFAULT;
	for (i = 1; i < npages; i++)
		if (page_to_pfn(pages[i]) != page_to_pfn(pages[0]) + i)
			goto unpin;
	dma = dma_map_page(gpu_dev(v), pages[0], 0, size, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(gpu_dev(v), dma))
		goto unpin;
	ret = gvt_vgpu_dma_grant(v->vgpu, dma, size);
	if (ret) {
		dma_unmap_page(gpu_dev(v), dma, size, DMA_BIDIRECTIONAL);
		goto unpin;
	}
	/* The GGTT may still point here from before a revoke, with the sink mapped instead. */
	kvmgt_sink_unmap(v, false);
	*dma_addr = dma;
	*first = pages[0];
	kfree(pages);
	return 0;
unpin:
	vfio_unpin_pages(&v->vdev, gfn << PAGE_SHIFT, npages);
free:
	kfree(pages);
	return ret;
}

/* Undoes kvmgt_pin(). in_use: gvt.ko still references the pages (see dma_cache.rs). */
void kvmgt_unpin(struct kvmgt_vgpu *v, u64 gfn, u64 size, u64 dma_addr, bool in_use)
{
	gvt_vgpu_dma_revoke(v->vgpu, dma_addr);
	/*
	 * Still referenced (user space unmapped the memory, or the guest remaps it at another
	 * size): the GGTT may still point here, so no aperture mapping may outlive the unpin.
	 */
	if (in_use)
		kvmgt_aperture_zap(v, v->info.aperture_slice_base, v->info.aperture_slice_size);
	dma_unmap_page(gpu_dev(v), dma_addr, size, DMA_BIDIRECTIONAL);
	vfio_unpin_pages(&v->vdev, gfn << PAGE_SHIFT, size >> PAGE_SHIFT);
}

/* Page index of a pinned run, with a reference (under the cache's lock, so still pinned). */
void *kvmgt_get_page(void *first, u64 index)
{
	struct page *page = nth_page((struct page *)first, index);

	get_page(page);
	return page;
}

static int kvmgt_dma_map(void *priv, u64 gfn, u64 size, u64 *dma_addr)
{
	struct kvmgt_vgpu *v = priv;

	if (!v->open)
		return -ENODEV;
	return kvmgt_cache_map(v->cache, v, gfn, size, dma_addr);
}

static void kvmgt_dma_unmap(void *priv, u64 dma_addr)
{
	struct kvmgt_vgpu *v = priv;

	kvmgt_cache_unmap(v->cache, v, dma_addr);
}

/*
 * debugfs: vgpuN/kvmgt_dma_cache, in gvt.ko's directory of the vGPU, which gvt_vgpu_destroy()
 * removes (waiting for readers) before kvmgt_release_dev() frees anything the file reads.
 */
static int kvmgt_dma_cache_show(struct seq_file *m, void *unused)
{
	struct kvmgt_vgpu *v = m->private;
	struct kvmgt_cache_stats st;

	kvmgt_cache_stats(v->cache, &st);
	seq_printf(m, "entries: %llu\npinned_pages: %llu\nowed_unmaps: %llu\nunrecorded_unmaps: %llu\n",
		   st.entries, st.pages, st.owed, st.unrecorded);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kvmgt_dma_cache);

static void kvmgt_debugfs_add(struct kvmgt_vgpu *v)
{
	struct dentry *dir = gvt_vgpu_debugfs_dir(v->vgpu);

	/* No directory (no debugfs): no file, rather than one at the debugfs root. */
	if (dir)
		debugfs_create_file("kvmgt_dma_cache", 0444, dir, v, &kvmgt_dma_cache_fops);
}

struct page *kvmgt_dma_get_page(struct kvmgt_vgpu *v, u64 dma_addr)
{
	return kvmgt_cache_get_page(v->cache, dma_addr);
}

static int kvmgt_inject_msi(void *priv, u64 addr, u32 data)
{
	struct kvmgt_vgpu *v = priv;
	unsigned long flags;
	int ret = -ENODEV;

	/* QEMU routes the MSI itself: the eventfd is the guest's vector. */
	spin_lock_irqsave(&v->irq_lock, flags);
	if (v->msi_trigger) {
		eventfd_signal(v->msi_trigger);
		ret = 0;
	}
	spin_unlock_irqrestore(&v->irq_lock, flags);
	return ret;
}

static bool kvmgt_page_track_supported(void *priv)
{
	struct kvmgt_vgpu *v = priv;

	return v->kvm;
}

static int kvmgt_page_track_add(void *priv, u64 gfn)
{
	struct kvmgt_vgpu *v = priv;
	int ret;

	if (!v->kvm)
		return -EOPNOTSUPP;
	if (xa_load(&v->tracked, gfn))
		return 0;
	ret = kvm_write_track_add_gfn(v->kvm, gfn);
	if (ret)
		return ret;
	ret = xa_err(xa_store(&v->tracked, gfn, xa_mk_value(1), GFP_KERNEL));
	if (ret)
		kvm_write_track_remove_gfn(v->kvm, gfn);
	return ret;
}

static void kvmgt_page_track_remove(void *priv, u64 gfn)
{
	struct kvmgt_vgpu *v = priv;

	if (v->kvm && xa_erase(&v->tracked, gfn))
		kvm_write_track_remove_gfn(v->kvm, gfn);
}

/* KVM: a vCPU wrote a tracked page (KVM has performed the write). May sleep. */
static void kvmgt_track_write(gpa_t gpa, const u8 *val, int len,
			      struct kvm_page_track_notifier_node *node)
{
	struct kvmgt_vgpu *v = container_of(node, struct kvmgt_vgpu, track_node);

	if (len > 0 && xa_load(&v->tracked, gpa >> PAGE_SHIFT))
		gvt_vgpu_page_track_write(v->vgpu, gpa, val, len, true);
}

/* KVM: a memslot goes away; its pages are no longer tracked. */
static void kvmgt_track_remove_region(gfn_t gfn, unsigned long nr_pages,
				      struct kvm_page_track_notifier_node *node)
{
	struct kvmgt_vgpu *v = container_of(node, struct kvmgt_vgpu, track_node);
	unsigned long i;
	void *entry;

	xa_for_each_range(&v->tracked, i, entry, gfn, gfn + nr_pages - 1)
		xa_erase(&v->tracked, i);
}

const struct gvt_backend_ops kvmgt_mpt_ops = {
	.device_added = kvmgt_device_added,
	.device_removed = kvmgt_device_removed,
	.read_gpa = kvmgt_read_gpa,
	.write_gpa = kvmgt_write_gpa,
	.dma_map_guest_page = kvmgt_dma_map,
	.dma_unmap_guest_page = kvmgt_dma_unmap,
	.inject_msi = kvmgt_inject_msi,
	.page_track_supported = kvmgt_page_track_supported,
	.page_track_add = kvmgt_page_track_add,
	.page_track_remove = kvmgt_page_track_remove,
	.aperture_invalidate = kvmgt_aperture_invalidate,
};

/* ---- regions ---------------------------------------------------------------------------- */

/* Copies n bytes (within one page) between buf and the sink at the page offset of off. */
static int kvmgt_sink_rw(struct kvmgt_vgpu *v, u64 off, u8 *buf, size_t n, bool write)
{
	u8 *sink;

	mutex_lock(&v->ap_lock);
	sink = kvmgt_sink(v);
	if (sink && write)
		memcpy(sink + offset_in_page(off), buf, n);
	else if (sink)
		memcpy(buf, sink + offset_in_page(off), n);
	mutex_unlock(&v->ap_lock);
	return sink ? 0 : -ENOMEM;
}

/*
 * BAR2: the aperture slice only (EINVAL for anything reaching outside it, as upstream), through
 * the same translation as a fault. A page the vGPU's GGTT does not map is the sink.
 */
ssize_t kvmgt_aperture_rw(struct kvmgt_vgpu *v, char __user *ubuf, size_t count, u64 off,
			  bool write)
{
	u8 buf[KVMGT_APERTURE_CHUNK];
	size_t done = 0, n;
	int ret = 0;

	if (!kvmgt_aperture_in_slice(v->info.aperture_slice_base, v->info.aperture_slice_size, off, count))
		return -EINVAL;
	for (; done < count; done += n, off += n) {
		n = kvmgt_aperture_chunk(off, count - done);
		if (write && copy_from_user(buf, ubuf + done, n)) {
			ret = -EFAULT;
			break;
		}
		ret = gvt_vgpu_aperture_rw(v->vgpu, off, buf, n, write);
		if (ret == -EFAULT)
			ret = kvmgt_sink_rw(v, off, buf, n, write);
		if (ret)
			break;
		if (!write && copy_to_user(ubuf + done, buf, n)) {
			ret = -EFAULT;
			break;
		}
	}
	return done ? done : ret;
}

/* Logs what it refuses; device.rs decides, through kvmgt_aperture_rw() for BAR2. */
static ssize_t kvmgt_rw(struct kvmgt_vgpu *v, char __user *ubuf, size_t count, loff_t *ppos,
			bool write)
{
	loff_t pos = *ppos;
	ssize_t ret = kvmgt_region_rw(v, v->vgpu, &v->info, v->edid, ubuf, count, ppos, write);

	if (ret < 0)
		kvmgt_refused(v, "a %zu-byte %s at %#llx: %zd\n", count, write ? "write" : "read",
			      pos, ret);
	return ret;
}

static ssize_t kvmgt_read(struct vfio_device *vdev, char __user *buf, size_t count, loff_t *ppos)
{
	return kvmgt_rw(to_kvmgt_vgpu(vdev), buf, count, ppos, false);
}

static ssize_t kvmgt_write(struct vfio_device *vdev, const char __user *buf, size_t count,
			   loff_t *ppos)
{
	return kvmgt_rw(to_kvmgt_vgpu(vdev), (char __user *)buf, count, ppos, true);
}

/*
 * BAR2 mmap: the slice only, shared. Pages are inserted at fault time, each the one
 * gvt_vgpu_aperture_pfn() names now (a fixed aperture page, or on the sim the guest page the
 * vGPU's GGTT maps), and zapped when that changes, so a mapping always shows what the GGTT
 * says. A page the GGTT does not map shows the sink.
 */
static vm_fault_t kvmgt_aperture_fault(struct vm_fault *vmf)
{
	struct kvmgt_vgpu *v = vmf->vma->vm_private_data;
	u64 off = (vmf->pgoff & KVMGT_PGOFF_MASK) << PAGE_SHIFT, pfn;
	vm_fault_t ret = VM_FAULT_OOM;
	int err;
	u8 *sink;

	mutex_lock(&v->ap_lock);
	err = gvt_vgpu_aperture_pfn(v->vgpu, off, &pfn);
	if (err == -EFAULT) {
		sink = kvmgt_sink(v);
		if (!sink)
			goto out;
		pfn = PHYS_PFN(virt_to_phys(sink));
		v->sink_mapped = true;
	} else if (err) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	ret = vmf_insert_pfn(vmf->vma, vmf->address, pfn);
out:
	mutex_unlock(&v->ap_lock);
	return ret;
}

static const struct vm_operations_struct kvmgt_aperture_vm_ops = {
	.fault = kvmgt_aperture_fault,
};

static int kvmgt_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	struct kvmgt_vgpu *v = to_kvmgt_vgpu(vdev);
	u64 index = vma->vm_pgoff >> (KVMGT_OFFSET_SHIFT - PAGE_SHIFT);
	u64 off = (vma->vm_pgoff & KVMGT_PGOFF_MASK) << PAGE_SHIFT;

	if (index != VFIO_PCI_BAR2_REGION_INDEX || !(vma->vm_flags & VM_SHARED) ||
	    !kvmgt_aperture_in_slice(v->info.aperture_slice_base, v->info.aperture_slice_size, off,
				     vma->vm_end - vma->vm_start)) {
		kvmgt_refused(v, "an mmap of region %llu at %#llx, %lu bytes\n", index, off,
			      vma->vm_end - vma->vm_start);
		return -EINVAL;
	}
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &kvmgt_aperture_vm_ops;
	vma->vm_private_data = v;
	return 0;
}

/* ---- ioctls ----------------------------------------------------------------------------- */

/* The ioctls' answers are device.rs's; here they are copied in and out. */
static long kvmgt_get_info(struct kvmgt_vgpu *v, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;
	int ret;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	ret = kvmgt_device_info(&info);
	if (ret)
		return ret;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* The capability device.rs names, as a chain at the end of the answer if argsz has room. */
static int kvmgt_region_caps(struct vfio_region_info *info, const struct kvmgt_region_cap *cap,
			     void __user *arg)
{
	struct vfio_info_cap caps = { .buf = NULL, .size = 0 };
	struct vfio_region_info_cap_sparse_mmap *sparse;
	struct vfio_region_info_cap_type type = {
		.header.id = VFIO_REGION_INFO_CAP_TYPE,
		.header.version = 1,
		.type = cap->type,
		.subtype = cap->subtype,
	};
	size_t sz = struct_size(sparse, areas, 1);
	int ret;

	switch (cap->id) {
	case VFIO_REGION_INFO_CAP_SPARSE_MMAP:
		sparse = kzalloc(sz, GFP_KERNEL);
		if (!sparse)
			return -ENOMEM;
		sparse->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
		sparse->header.version = 1;
		sparse->nr_areas = 1;
		sparse->areas[0].offset = cap->offset;
		sparse->areas[0].size = cap->size;
		ret = vfio_info_add_capability(&caps, &sparse->header, sz);
		kfree(sparse);
		break;
	case VFIO_REGION_INFO_CAP_TYPE:
		ret = vfio_info_add_capability(&caps, &type.header, sizeof(type));
		break;
	default:
		return 0;
	}
	if (ret)
		return ret;
	if (info->argsz < sizeof(*info) + caps.size) {
		info->argsz = sizeof(*info) + caps.size;
	} else {
		vfio_info_cap_shift(&caps, sizeof(*info));
		if (copy_to_user(arg + sizeof(*info), caps.buf, caps.size))
			ret = -EFAULT;
		else
			info->cap_offset = sizeof(*info);
	}
	kfree(caps.buf);
	return ret;
}

static long kvmgt_get_region_info(struct kvmgt_vgpu *v, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_region_info info;
	struct kvmgt_region_cap cap;
	int ret;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	ret = kvmgt_region_info(&v->info, &info, &cap);
	if (!ret)
		ret = kvmgt_region_caps(&info, &cap, arg);
	if (ret)
		return ret;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long kvmgt_get_irq_info(struct kvmgt_vgpu *v, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;
	int ret;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	ret = kvmgt_irq_info(&info);
	if (ret)
		return ret;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* Replaces a trigger: fd >= 0 installs that eventfd, fd == -1 removes it. */
static int kvmgt_set_trigger(struct kvmgt_vgpu *v, struct eventfd_ctx **slot, s32 fd)
{
	struct eventfd_ctx *new = NULL, *old;
	unsigned long flags;

	if (fd >= 0) {
		new = eventfd_ctx_fdget(fd);
		if (IS_ERR(new))
			return PTR_ERR(new);
	} else if (fd != -1) {
		return -EINVAL;
	}
	spin_lock_irqsave(&v->irq_lock, flags);
	old = *slot;
	*slot = new;
	spin_unlock_irqrestore(&v->irq_lock, flags);
	if (old)
		eventfd_ctx_put(old);
	return 0;
}

static long kvmgt_set_irqs(struct kvmgt_vgpu *v, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	struct vfio_irq_set hdr;
	s32 fd = -1;
	int what;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	what = kvmgt_irq_set(&hdr);
	if (what <= KVMGT_IRQ_NOTHING)
		return what;
	if ((what & KVMGT_IRQ_EVENTFD) && copy_from_user(&fd, arg + minsz, sizeof(fd)))
		return -EFAULT;
	return kvmgt_set_trigger(v, what & KVMGT_IRQ_MSI ? &v->msi_trigger : &v->intx_trigger, fd);
}

/* A device reset keeps the monitor's EDID and plugs it back in. */
static int kvmgt_reset(struct kvmgt_vgpu *v)
{
	int ret = gvt_vgpu_reset(v->vgpu);

	kvmgt_edid_reset(v->edid);
	return ret;
}

static long kvmgt_ioctl_cmd(struct kvmgt_vgpu *v, unsigned int cmd, void __user *uarg)
{
	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return kvmgt_get_info(v, uarg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return kvmgt_get_region_info(v, uarg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return kvmgt_get_irq_info(v, uarg);
	case VFIO_DEVICE_SET_IRQS:
		return kvmgt_set_irqs(v, uarg);
	case VFIO_DEVICE_RESET:
		return kvmgt_reset(v);
	case VFIO_DEVICE_QUERY_GFX_PLANE:
		return kvmgt_query_gfx_plane(v, uarg);
	case VFIO_DEVICE_GET_GFX_DMABUF:
		return kvmgt_get_gfx_dmabuf(v, uarg);
	default:
		return -ENOTTY;
	}
}

static long kvmgt_ioctl(struct vfio_device *vdev, unsigned int cmd, unsigned long arg)
{
	struct kvmgt_vgpu *v = to_kvmgt_vgpu(vdev);
	long ret = kvmgt_ioctl_cmd(v, cmd, (void __user *)arg);

	/* What else fails is the device's state (no plane to show, a busy reset). */
	if (ret == -ENOTTY || ret == -EINVAL)
		kvmgt_refused(v, "ioctl %#x: %ld\n", cmd, ret);
	return ret;
}

/* ---- life cycle ------------------------------------------------------------------------- */

/* User space unmapped [iova, iova + length): drop every cached mapping in it. */
static void kvmgt_vfio_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length)
{
	struct kvmgt_vgpu *v = to_kvmgt_vgpu(vdev);

	if (length)
		kvmgt_cache_user_unmap(v->cache, v, iova >> PAGE_SHIFT,
				       (iova + length - 1) >> PAGE_SHIFT);
}

static void kvmgt_close(struct vfio_device *vdev)
{
	struct kvmgt_vgpu *v = to_kvmgt_vgpu(vdev);
	unsigned long gfn;

	/* The next user gets a fresh device; the reset also unmaps what the GGTT held. */
	gvt_vgpu_reset(v->vgpu);
	gvt_vgpu_set_edid(v->vgpu, NULL, 0);
	gvt_vgpu_deactivate(v->vgpu);
	kvmgt_set_trigger(v, &v->msi_trigger, -1);
	kvmgt_set_trigger(v, &v->intx_trigger, -1);
	/* The reset dropped gvt.ko's references: the flush forgets what it still owed. */
	kvmgt_cache_flush(v->cache, v);
	/* No mapping outlives the device file; the zap is for the sink's sake all the same. */
	kvmgt_sink_unmap(v, true);
	if (v->kvm) {
		void *entry;

		xa_for_each(&v->tracked, gfn, entry)
			kvmgt_page_track_remove(v, gfn);
		kvm_page_track_unregister_notifier(v->kvm, &v->track_node);
		v->kvm = NULL;
	}
	v->open = false;
}

static int kvmgt_open(struct vfio_device *vdev)
{
	struct kvmgt_vgpu *v = to_kvmgt_vgpu(vdev);
	int ret;

	/* VFIO holds its reference on the KVM for as long as the device is open. */
	if (vdev->kvm) {
		v->track_node.track_write = kvmgt_track_write;
		v->track_node.track_remove_region = kvmgt_track_remove_region;
		ret = kvm_page_track_register_notifier(vdev->kvm, &v->track_node);
		if (ret)
			return ret;
		v->kvm = vdev->kvm;
	}
	v->open = true;
	kvmgt_edid_open(v->edid, v->vgpu, v->info.display_xres, v->info.display_yres);
	ret = gvt_vgpu_activate(v->vgpu);
	if (ret)
		kvmgt_close(vdev);
	return ret;
}

static int kvmgt_init_dev(struct vfio_device *vdev)
{
	struct kvmgt_vgpu *v = to_kvmgt_vgpu(vdev);
	struct mdev_device *mdev = to_mdev_device(vdev->dev);
	struct kvmgt_parent *p = to_kvmgt_parent(mdev->type->parent);
	struct kvmgt_type *t = to_kvmgt_type(mdev->type);
	char name[GVT_VGPU_NAME_LEN];
	int ret;

	v->cache = kvmgt_cache_new();
	v->edid = kvmgt_edid_new();
	if (!v->cache || !v->edid) {
		ret = -ENOMEM;
		goto free;
	}
	spin_lock_init(&v->irq_lock);
	mutex_init(&v->disp.lock);
	mutex_init(&v->ap_lock);
	xa_init(&v->tracked);
	ratelimit_state_init(&v->refused_rs, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST);
	ret = gvt_vgpu_create_typed(&kvmgt_backend, p->gd, t->idx, v, &v->vgpu);
	if (ret) {
		dev_err(&mdev->dev, "cannot create a %s vGPU: %d\n", t->name, ret);
		goto free;
	}
	ret = gvt_vgpu_get_info(v->vgpu, &v->info);
	if (ret) {
		gvt_vgpu_destroy(v->vgpu);
		goto free;
	}
	/* gvt.ko's messages about the vGPU name its mdev (the device's name is its UUID). */
	snprintf(name, sizeof(name), "mdev %s", dev_name(&mdev->dev));
	gvt_vgpu_set_name(v->vgpu, name);
	kvmgt_debugfs_add(v);
	dev_info(&mdev->dev, "vGPU %u (%s) created\n", gvt_vgpu_id(v->vgpu), t->name);
	return 0;
free:
	kvmgt_edid_free(v->edid);
	kvmgt_cache_free(v->cache);
	return ret;
}

static void kvmgt_release_dev(struct vfio_device *vdev)
{
	struct kvmgt_vgpu *v = to_kvmgt_vgpu(vdev);

	dev_info(vdev->dev, "vGPU %u destroyed\n", gvt_vgpu_id(v->vgpu));
	gvt_vgpu_destroy(v->vgpu);
	kvmgt_edid_free(v->edid);
	kvmgt_cache_free(v->cache);
	xa_destroy(&v->tracked);
	mutex_destroy(&v->disp.lock);
	mutex_destroy(&v->ap_lock);
}

static const struct vfio_device_ops kvmgt_vfio_ops = {
	.name = "gvt-vgpu",
	.init = kvmgt_init_dev,
	.release = kvmgt_release_dev,
	.open_device = kvmgt_open,
	.close_device = kvmgt_close,
	.read = kvmgt_read,
	.write = kvmgt_write,
	.ioctl = kvmgt_ioctl,
	.mmap = kvmgt_mmap,
	.dma_unmap = kvmgt_vfio_dma_unmap,
#if IS_ENABLED(CONFIG_IOMMUFD)
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
#endif
};

/* intel_vgpu/vgpu_id on the mdev device, as upstream's kvmgt has it: the vGPU's id on its GPU. */
static ssize_t vgpu_id_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct kvmgt_vgpu *v = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u\n", gvt_vgpu_id(v->vgpu));
}
static DEVICE_ATTR_RO(vgpu_id);

static struct attribute *kvmgt_vgpu_attrs[] = {
	&dev_attr_vgpu_id.attr,
	NULL,
};

static const struct attribute_group kvmgt_vgpu_group = {
	.name = "intel_vgpu",
	.attrs = kvmgt_vgpu_attrs,
};

/* The driver core adds them after probe (drvdata set) and removes them before remove. */
const struct attribute_group *kvmgt_vgpu_groups[] = {
	&kvmgt_vgpu_group,
	NULL,
};

int kvmgt_vfio_probe(struct mdev_device *mdev)
{
	struct kvmgt_vgpu *v;
	int ret;

	v = vfio_alloc_device(kvmgt_vgpu, vdev, &mdev->dev, &kvmgt_vfio_ops);
	if (IS_ERR(v))
		return PTR_ERR(v);
	ret = vfio_register_emulated_iommu_dev(&v->vdev);
	if (ret) {
		vfio_put_device(&v->vdev);
		return ret;
	}
	dev_set_drvdata(&mdev->dev, v);
	return 0;
}

void kvmgt_vfio_remove(struct mdev_device *mdev)
{
	struct kvmgt_vgpu *v = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&v->vdev);
	vfio_put_device(&v->vdev);
}
