// SPDX-License-Identifier: GPL-2.0-only
/*
 * acrngt's VHM side: one ioreq client per instance, served by a kernel thread, and the MPT
 * services gvt.ko calls for the instance's vGPU.
 *
 * The thread uses VHM's client-thread model: it sleeps in acrn_ioreq_attach_client() until VHM
 * distributes requests to it, emulates every request of its client (config cycles to 00:02.0,
 * BAR0 accesses in the window the guest enabled, writes to write-protected pages) through
 * gvt.ko, and completes each. Requests are decoded and checked in Rust (acrngt/ioreq.rs).
 * A request that fails is completed anyway, reading as all ones, so a vCPU never hangs.
 */
#include <linux/debugfs.h>
#include <linux/kthread.h>
#include <linux/pci_regs.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/ratelimit.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sprintf.h>
#include <linux/string.h>
#include "acrngt.h"

struct acrngt_instance {
	unsigned long vmid;
	struct vhm_vm *vm;
	int client;
	struct vhm_request *reqbuf;
	int nr_vcpu;
	struct task_struct *thread;
	struct gvt_vgpu *vgpu;
	/* The BAR0 window the guest enabled, [start, end); end == 0 when not trapped. */
	u64 bar0_start;
	u64 bar0_end;
	/* The log of the requests refused: the guest makes them at will. */
	struct ratelimit_state refused_rs;
	/* Requests completed and, of those, failed (answered all ones); the thread's only. */
	u64 completed;
	u64 failed;
	/* Whether the thread is attached to its client (false once the client went away). */
	bool attached;
};

/* ---- MPT services ----------------------------------------------------------------------- */

static int acrngt_copy_gpa(struct acrngt_instance *in, u64 gpa, void *buf, size_t len, bool write)
{
	void *va;

	if (!len)
		return 0;
	va = map_guest_phys(in->vmid, gpa, len);
	if (!va)
		return -EFAULT;
	if (write)
		memcpy(va, buf, len);
	else
		memcpy(buf, va, len);
	unmap_guest_phys(in->vmid, gpa);
	return 0;
}

static int acrngt_read_gpa(void *priv, u64 gpa, void *buf, size_t len)
{
	return acrngt_copy_gpa(priv, gpa, buf, len, false);
}

static int acrngt_write_gpa(void *priv, u64 gpa, const void *buf, size_t len)
{
	return acrngt_copy_gpa(priv, gpa, (void *)buf, len, true);
}

/* The Service VM has no IOMMU in front of the GPU: a DMA address is the host physical one. */
static int acrngt_dma_map(void *priv, u64 gfn, u64 size, u64 *dma_addr)
{
	struct acrngt_instance *in = priv;
	unsigned long hpa, first = 0;
	u64 off;
	int ret;

	if (!size || size & ~PAGE_MASK || gfn > (U64_MAX >> PAGE_SHIFT))
		return -EINVAL;
	for (off = 0; off < size; off += PAGE_SIZE) {
		hpa = vhm_vm_gpa2hpa(in->vmid, (gfn << PAGE_SHIFT) + off);
		if (!hpa || IS_ERR_VALUE(hpa))
			return -EFAULT;
		if (!off)
			first = hpa;
		else if (hpa != first + off)
			return -EFAULT;	/* not contiguous on the host */
	}
	/* Guest memory stays where ACRN put it for the VM's life; the grant lets the GPU in. */
	ret = gvt_vgpu_dma_grant(in->vgpu, first, size);
	if (!ret)
		*dma_addr = first;
	return ret;
}

static void acrngt_dma_unmap(void *priv, u64 dma_addr)
{
	struct acrngt_instance *in = priv;

	gvt_vgpu_dma_revoke(in->vgpu, dma_addr);
}

static int acrngt_inject_msi(void *priv, u64 addr, u32 data)
{
	struct acrngt_instance *in = priv;

	return vhm_inject_msi(in->vmid, addr, data);
}

static int acrngt_set_trap_area(void *priv, u64 start, u64 end, bool trap)
{
	struct acrngt_instance *in = priv;
	int ret;

	if (end <= start)
		return -EINVAL;
	/* VHM ranges are inclusive. */
	if (trap) {
		ret = acrn_ioreq_add_iorange(in->client, REQ_MMIO, start, end - 1);
		if (ret)
			return ret;
		WRITE_ONCE(in->bar0_start, start);
		WRITE_ONCE(in->bar0_end, end);
		return 0;
	}
	WRITE_ONCE(in->bar0_end, 0);
	return acrn_ioreq_del_iorange(in->client, REQ_MMIO, start, end - 1);
}

static int acrngt_map_aperture(void *priv, u64 gfn, u64 mfn, u64 nr, bool map)
{
	struct acrngt_instance *in = priv;

	if (map)
		return add_memory_region(in->vmid, gfn << PAGE_SHIFT, mfn << PAGE_SHIFT,
					 nr << PAGE_SHIFT, MEM_TYPE_UC, MEM_ACCESS_RWX);
	return del_memory_region(in->vmid, gfn << PAGE_SHIFT, nr << PAGE_SHIFT);
}

/*
 * Write protection of guest page tables: EPT write protection of the page plus a REQ_WP
 * range for this client, so the guest's stores to it come back as WP requests, which
 * acrngt_emulate() hands to gvt.ko (and gvt.ko commits: ACRN does not perform them).
 */
static bool acrngt_page_track_supported(void *priv)
{
	return true;
}

static int acrngt_page_track_add(void *priv, u64 gfn)
{
	struct acrngt_instance *in = priv;
	u64 gpa;
	int ret;

	if (gfn > (U64_MAX >> PAGE_SHIFT))
		return -EINVAL;
	gpa = gfn << PAGE_SHIFT;
	ret = acrn_ioreq_add_iorange(in->client, REQ_WP, gpa, gpa + PAGE_SIZE - 1);
	if (ret)
		return ret;
	ret = write_protect_page(in->vmid, gpa, 1);
	if (ret)
		acrn_ioreq_del_iorange(in->client, REQ_WP, gpa, gpa + PAGE_SIZE - 1);
	return ret;
}

static void acrngt_page_track_remove(void *priv, u64 gfn)
{
	struct acrngt_instance *in = priv;
	u64 gpa = gfn << PAGE_SHIFT;

	if (gfn > (U64_MAX >> PAGE_SHIFT))
		return;
	write_protect_page(in->vmid, gpa, 0);
	acrn_ioreq_del_iorange(in->client, REQ_WP, gpa, gpa + PAGE_SIZE - 1);
}

const struct gvt_backend_ops acrngt_ops = {
	.device_added = acrngt_device_added,
	.device_removed = acrngt_device_removed,
	.read_gpa = acrngt_read_gpa,
	.write_gpa = acrngt_write_gpa,
	.dma_map_guest_page = acrngt_dma_map,
	.dma_unmap_guest_page = acrngt_dma_unmap,
	.inject_msi = acrngt_inject_msi,
	.set_trap_area = acrngt_set_trap_area,
	.map_aperture = acrngt_map_aperture,
	.page_track_supported = acrngt_page_track_supported,
	.page_track_add = acrngt_page_track_add,
	.page_track_remove = acrngt_page_track_remove,
};

/* ---- requests --------------------------------------------------------------------------- */

/*
 * Logs a request acrngt refuses to decode: the guest's own access, through the hypervisor, so
 * rate-limited per VM (an access gvt.ko refuses after decoding, gvt.ko logs). The fields are
 * read again for the log only.
 */
static void acrngt_log_refused(struct acrngt_instance *in, struct vhm_request *req, u32 type, int err)
{
	if (!__ratelimit(&in->refused_rs))
		return;
	if (type == REQ_PCICFG)
		pr_info("acrngt: vm %lu: refused a config request for %02x:%02x.%x at %#x, %lld bytes: %d\n",
			in->vmid, READ_ONCE(req->reqs.pci.bus), READ_ONCE(req->reqs.pci.dev),
			READ_ONCE(req->reqs.pci.func), READ_ONCE(req->reqs.pci.reg),
			READ_ONCE(req->reqs.pci.size), err);
	else
		pr_info("acrngt: vm %lu: refused a request of type %u at %#llx, %llu bytes: %d\n",
			in->vmid, type, READ_ONCE(req->reqs.mmio.address),
			READ_ONCE(req->reqs.mmio.size), err);
}

static int acrngt_emulate(struct acrngt_instance *in, struct vhm_request *req)
{
	struct acrngt_access a;
	u32 type = READ_ONCE(req->type);
	u64 val = 0;
	int ret;

	/* Each field is read once, decoded and checked before use. */
	if (type == REQ_PCICFG)
		ret = acrngt_decode(type, req->reqs.pci.direction, 0, req->reqs.pci.size,
				    req->reqs.pci.bus, req->reqs.pci.dev, req->reqs.pci.func,
				    req->reqs.pci.reg, 0, 0, &a);
	else
		ret = acrngt_decode(type, req->reqs.mmio.direction, req->reqs.mmio.address,
				    req->reqs.mmio.size, 0, 0, 0, 0, READ_ONCE(in->bar0_start),
				    READ_ONCE(in->bar0_end), &a);
	if (ret) {
		acrngt_log_refused(in, req, type, ret);
		return ret;
	}
	if (a.write)
		val = type == REQ_PCICFG ? (u32)req->reqs.pci.value : req->reqs.mmio.value;
	switch (a.kind) {
	case ACRNGT_ACCESS_CFG:
		ret = a.write ? gvt_vgpu_cfg_write(in->vgpu, a.offset, &val, a.len) :
				gvt_vgpu_cfg_read(in->vgpu, a.offset, &val, a.len);
		break;
	case ACRNGT_ACCESS_MMIO:
		ret = a.write ? gvt_vgpu_mmio_write(in->vgpu, a.offset, &val, a.len) :
				gvt_vgpu_mmio_read(in->vgpu, a.offset, &val, a.len);
		break;
	case ACRNGT_ACCESS_WP:
		/*
		 * ACRN does not perform a write it trapped for protection: gvt.ko commits it and
		 * updates its shadow page tables. Should the vGPU be unable to (failsafe, going
		 * away), the guest's store still lands.
		 */
		ret = gvt_vgpu_page_track_write(in->vgpu, a.offset, &val, a.len, false);
		if (ret)
			ret = acrngt_write_gpa(in, a.offset, &val, a.len);
		break;
	default:
		ret = -EINVAL;
	}
	if (!ret && !a.write) {
		if (type == REQ_PCICFG)
			req->reqs.pci.value = (s32)val;
		else
			req->reqs.mmio.value = val;
	}
	return ret;
}

static int acrngt_thread(void *data)
{
	struct acrngt_instance *in = data;
	int vcpu;

	WRITE_ONCE(in->attached, true);
	while (!kthread_should_stop()) {
		if (acrn_ioreq_attach_client(in->client, true))
			break;
		for (vcpu = 0; vcpu < in->nr_vcpu; vcpu++) {
			struct vhm_request *req = &in->reqbuf[vcpu];

			if (READ_ONCE(req->processed) != REQ_STATE_PROCESSING ||
			    READ_ONCE(req->client) != in->client)
				continue;
			if (acrngt_emulate(in, req)) {
				/* Like a read nothing answers: all ones. */
				req->reqs.mmio.value = ~0ULL;
				req->reqs.pci.value = -1;
				WRITE_ONCE(in->failed, in->failed + 1);
			}
			acrn_ioreq_complete_request(in->client, vcpu, req);
			WRITE_ONCE(in->completed, in->completed + 1);
		}
	}
	WRITE_ONCE(in->attached, false);
	/* The client went away first: wait to be stopped, as kthread_stop() expects. */
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

/*
 * debugfs: vgpuN/acrngt_ioreq, in gvt.ko's directory of the vGPU, which gvt_vgpu_destroy()
 * removes (waiting for readers) before the instance is freed. The thread updates what it
 * shows without a lock: each value is read once.
 */
static int acrngt_ioreq_show(struct seq_file *m, void *unused)
{
	struct acrngt_instance *in = m->private;
	u64 start = READ_ONCE(in->bar0_start), end = READ_ONCE(in->bar0_end);

	seq_printf(m, "vm: %lu\nclient: %d\nvcpus: %d\nattached: %s\n", in->vmid, in->client,
		   in->nr_vcpu, READ_ONCE(in->attached) ? "yes" : "no");
	if (end)
		seq_printf(m, "bar0_trapped: %#llx-%#llx\n", start, end - 1);
	else
		seq_puts(m, "bar0_trapped: none\n");
	seq_printf(m, "requests_completed: %llu\nrequests_failed: %llu\n",
		   READ_ONCE(in->completed), READ_ONCE(in->failed));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(acrngt_ioreq);

/* ---- instances -------------------------------------------------------------------------- */

void *acrngt_instance_create(struct gvt_device *gd, u32 vmid,
			     const struct gvt_vgpu_params *params, int *err)
{
	struct acrngt_instance *in;
	char name[GVT_VGPU_NAME_LEN];
	struct vm_info info;
	int ret = -ENOMEM;

	in = kzalloc(sizeof(*in), GFP_KERNEL);
	if (!in)
		goto out;
	in->vmid = vmid;
	ratelimit_state_init(&in->refused_rs, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST);
	in->vm = find_get_vm(vmid);
	ret = -ENODEV;	/* ACRN-DM creates the VM before its vGPU */
	if (!in->vm)
		goto free;
	ret = gvt_vgpu_create(&acrngt_backend, gd, params, in, &in->vgpu);
	if (ret)
		goto put;
	/* gvt.ko's messages about the vGPU name its VM. */
	snprintf(name, sizeof(name), "vm %u", vmid);
	gvt_vgpu_set_name(in->vgpu, name);
	/* ACRN's plane ownership names VMs: the vGPU's display domain is its VM. */
	ret = gvt_vgpu_set_display_domain(in->vgpu, vmid);
	if (ret)
		goto vgpu;
	in->client = acrn_ioreq_create_client(vmid, NULL, "ioreq gvt-g");
	if (in->client < 0) {
		ret = in->client;
		goto vgpu;
	}
	ret = vhm_get_vm_info(vmid, &info);
	if (ret)
		goto client;
	ret = -EINVAL;
	in->reqbuf = acrn_ioreq_get_reqbuf(in->client);
	if (!in->reqbuf || info.max_vcpu <= 0)
		goto client;
	in->nr_vcpu = min(info.max_vcpu, VHM_REQUEST_MAX);
	acrn_ioreq_intercept_bdf(in->client, 0, 2, 0);
	in->thread = kthread_run(acrngt_thread, in, "acrngt_ioreq:%u", vmid);
	if (IS_ERR(in->thread)) {
		ret = PTR_ERR(in->thread);
		goto unintercept;
	}
	ret = gvt_vgpu_activate(in->vgpu);
	if (ret)
		goto stop;
	/* No directory (no debugfs): no file, rather than one at the debugfs root. */
	if (gvt_vgpu_debugfs_dir(in->vgpu))
		debugfs_create_file("acrngt_ioreq", 0444, gvt_vgpu_debugfs_dir(in->vgpu), in,
				    &acrngt_ioreq_fops);
	return in;
stop:
	kthread_stop(in->thread);
unintercept:
	acrn_ioreq_unintercept_bdf(in->client);
client:
	acrn_ioreq_destroy_client(in->client);
vgpu:
	gvt_vgpu_destroy(in->vgpu);
put:
	put_vm(in->vm);
free:
	kfree(in);
out:
	*err = ret;
	return NULL;
}

u32 acrngt_instance_vgpu_id(void *inst)
{
	struct acrngt_instance *in = inst;

	return gvt_vgpu_id(in->vgpu);
}

/* BAR0 and BAR2 as the vGPU's config space places them, and their sizes. */
int acrngt_instance_bar_info(void *inst, u64 bar[4])
{
	struct acrngt_instance *in = inst;
	struct gvt_vgpu_info info;
	u32 lo, hi;
	int i, ret;

	ret = gvt_vgpu_get_info(in->vgpu, &info);
	for (i = 0; i < 2 && !ret; i++) {
		ret = gvt_vgpu_cfg_read(in->vgpu, PCI_BASE_ADDRESS_0 + 8 * i, &lo, 4);
		if (!ret)
			ret = gvt_vgpu_cfg_read(in->vgpu, PCI_BASE_ADDRESS_0 + 8 * i + 4, &hi, 4);
		bar[2 * i] = ((u64)hi << 32) | (lo & PCI_BASE_ADDRESS_MEM_MASK);
	}
	bar[1] = info.bar0_size;
	bar[3] = info.aperture_size;
	return ret;
}

void acrngt_instance_destroy(void *inst)
{
	struct acrngt_instance *in = inst;

	/* No more MSIs; BAR0 untrapped. Requests still arriving fail until the client goes. */
	gvt_vgpu_deactivate(in->vgpu);
	kthread_stop(in->thread);
	acrn_ioreq_unintercept_bdf(in->client);
	acrn_ioreq_destroy_client(in->client);
	gvt_vgpu_destroy(in->vgpu);
	put_vm(in->vm);
	kfree(in);
}
