// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhm_sim.ko: a simulated ACRN VHM, for testing acrngt.ko where there is no ACRN.
 *
 * README. ACRN's Service VM kernel had a VHM module that exported an in-kernel ioreq API to
 * AcrnGT; mainline's ACRN HSM exports none. This module is a kernel test double of that C API
 * (include/acrn/vhm.h), so it is written in C. It exports every function of vhm.h
 * (EXPORT_SYMBOL_GPL) over simulated VMs:
 *  - guest RAM in vmalloc'ed host pages at GPA 0 (map_guest_phys() returns a pointer into it,
 *    vhm_vm_gpa2hpa() translates page by page with vmalloc_to_pfn(), or through a region that
 *    add_memory_region() mapped; it returns ~0UL for an unmapped GPA);
 *  - one request buffer per VM, one struct vhm_request slot per vCPU;
 *  - ioreq clients in the client-thread model only (a NULL handler; a handler gets
 *    -EOPNOTSUPP), with their ioranges and intercepted BDF. A request is distributed to the first
 *    client that claims it (REQ_PCICFG by BDF; REQ_MMIO, REQ_PORTIO and REQ_WP by an iorange of
 *    that type covering every byte of it): slot->client = id, slot->processed =
 *    REQ_STATE_PROCESSING, and the client's acrn_ioreq_attach_client() returns 0.
 *    acrn_ioreq_complete_request() sets REQ_STATE_SUCCESS, or keeps REQ_STATE_FAILED if the
 *    client put that in processed first (the vCPU then sees EIO). attach returns 1 once the
 *    client is being destroyed (or, with check_kthread_stop, when kthread_should_stop()) and
 *    -EINVAL for an id that is not (or no longer) a client: any non-zero return means stop;
 *  - EPT write protection: write_protect_page() marks a page; a guest store to it (a
 *    VHM_SIM_MEM_WRITE from user space) becomes REQ_WP ioreqs and is not performed here;
 *  - an MSI log per VM, and the memory regions of add_memory_region().
 * The vCPUs and ACRN-DM are a user-space client on /dev/vhm_sim (vhm_sim_uapi.h documents the
 * ioctls): tools/testing/acrn-dm-client. Destroying a client fails its requests in flight
 * (ENODEV for the vCPU); destroying a VM destroys its clients; a VM's memory lives until the
 * last find_get_vm() reference is put. All state is under one spinlock (irqsave: MSIs may be
 * injected from timers); nothing here sleeps under it.
 */

#include <linux/bitmap.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/jiffies.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include <acrn/vhm.h>
#include "vhm_sim.h"

struct sim_range {
	struct list_head node;
	u32 type;
	u64 start;
	u64 end;		/* inclusive, as ACRN's */
};

struct sim_client {
	int id;
	struct kref ref;	/* the IDR's, and each attach in progress */
	struct vhm_vm *vm;	/* holds a VM reference */
	char name[32];
	bool destroying;
	bool bdf_set;
	int bus, dev, func;
	unsigned long pending;	/* a bit per vCPU: distributed, not completed */
	struct list_head ranges;
	struct list_head vm_node;
	wait_queue_head_t wq;
};

struct sim_region {
	struct list_head node;
	u64 gpa;
	u64 hpa;
	u64 size;
};

struct sim_slot {
	bool busy;		/* a vCPU's request owns the slot */
	bool inflight;		/* distributed, not completed */
	int client;
	int result;
};

struct sim_msi {
	u64 addr;
	u64 data;
};

struct vhm_vm {
	struct list_head node;	/* in sim_vms while the VM is alive */
	struct kref ref;
	unsigned long vmid;
	bool dead;
	struct file *owner;
	u32 vcpus;
	u64 ram_size;
	void *ram;
	unsigned long *wp;	/* one bit per page of RAM */
	u32 wp_pages;
	struct vhm_request *reqbuf;
	struct sim_slot slots[VHM_REQUEST_MAX];
	wait_queue_head_t done_wq;
	struct list_head clients;
	struct list_head regions;
	u32 nregions;
	struct sim_msi msi[VHM_SIM_MSI_LOG];
	u32 msi_head;		/* where the next MSI goes */
	u32 msi_count;
	u64 msi_total;
	u64 msi_dropped;
	u64 requests;
	wait_queue_head_t msi_wq;
};

static DEFINE_SPINLOCK(sim_lock);
static LIST_HEAD(sim_vms);
static DEFINE_IDR(sim_clients);

static void vm_release(struct kref *ref)
{
	struct vhm_vm *vm = container_of(ref, struct vhm_vm, ref);
	struct sim_region *r, *t;

	list_for_each_entry_safe(r, t, &vm->regions, node) {
		list_del(&r->node);
		kfree(r);
	}
	vfree(vm->ram);
	bitmap_free(vm->wp);
	kfree(vm->reqbuf);
	kfree(vm);
}

static struct vhm_vm *vm_find_locked(unsigned long vmid)
{
	struct vhm_vm *vm;

	list_for_each_entry(vm, &sim_vms, node)
		if (vm->vmid == vmid)
			return vm;
	return NULL;
}

struct vhm_vm *find_get_vm(unsigned long vmid)
{
	struct vhm_vm *vm;
	unsigned long flags;

	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (vm)
		kref_get(&vm->ref);
	spin_unlock_irqrestore(&sim_lock, flags);
	return vm;
}
EXPORT_SYMBOL_GPL(find_get_vm);

void put_vm(struct vhm_vm *vm)
{
	if (vm)
		kref_put(&vm->ref, vm_release);
}
EXPORT_SYMBOL_GPL(put_vm);

int vhm_get_vm_info(unsigned long vmid, struct vm_info *info)
{
	struct vhm_vm *vm;
	unsigned long flags;
	int ret = -EINVAL;

	if (!info)
		return -EINVAL;
	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (vm) {
		info->max_vcpu = vm->vcpus;
		info->max_gfn = (vm->ram_size >> PAGE_SHIFT) - 1;
		ret = 0;
	}
	spin_unlock_irqrestore(&sim_lock, flags);
	return ret;
}
EXPORT_SYMBOL_GPL(vhm_get_vm_info);

int vhm_inject_msi(unsigned long vmid, unsigned long msi_addr, unsigned long msi_data)
{
	struct vhm_vm *vm;
	unsigned long flags;
	int ret = -EINVAL;

	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (vm) {
		vm->msi[vm->msi_head].addr = msi_addr;
		vm->msi[vm->msi_head].data = msi_data;
		vm->msi_head = (vm->msi_head + 1) % VHM_SIM_MSI_LOG;
		if (vm->msi_count < VHM_SIM_MSI_LOG)
			vm->msi_count++;
		else
			vm->msi_dropped++;
		vm->msi_total++;
		wake_up(&vm->msi_wq);
		ret = 0;
	}
	spin_unlock_irqrestore(&sim_lock, flags);
	return ret;
}
EXPORT_SYMBOL_GPL(vhm_inject_msi);

static bool region_gpa2hpa_locked(struct vhm_vm *vm, u64 gpa, unsigned long *hpa)
{
	struct sim_region *r;

	list_for_each_entry(r, &vm->regions, node) {
		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			*hpa = r->hpa + (gpa - r->gpa);
			return true;
		}
	}
	return false;
}

unsigned long vhm_vm_gpa2hpa(unsigned long vmid, unsigned long gpa)
{
	struct vhm_vm *vm;
	unsigned long flags, hpa = ~0UL;

	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (vm && gpa < vm->ram_size)
		hpa = PFN_PHYS(vmalloc_to_pfn(vm->ram + (gpa & PAGE_MASK))) | offset_in_page(gpa);
	else if (vm && !region_gpa2hpa_locked(vm, gpa, &hpa))
		hpa = ~0UL;
	spin_unlock_irqrestore(&sim_lock, flags);
	return hpa;
}
EXPORT_SYMBOL_GPL(vhm_vm_gpa2hpa);

static void client_release(struct kref *ref)
{
	struct sim_client *c = container_of(ref, struct sim_client, ref);

	put_vm(c->vm);
	kfree(c);
}

static void client_put(struct sim_client *c)
{
	kref_put(&c->ref, client_release);
}

/* A live client by id; the caller holds sim_lock. */
static struct sim_client *client_find_locked(int id)
{
	struct sim_client *c;

	if (id <= 0)
		return NULL;
	c = idr_find(&sim_clients, id);
	return c && !c->destroying ? c : NULL;
}

int acrn_ioreq_create_client(unsigned long vmid, ioreq_handler_t handler, char *name)
{
	struct sim_client *c;
	struct vhm_vm *vm;
	unsigned long flags;
	int id;

	if (handler)
		return -EOPNOTSUPP;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	kref_init(&c->ref);
	INIT_LIST_HEAD(&c->ranges);
	INIT_LIST_HEAD(&c->vm_node);
	init_waitqueue_head(&c->wq);
	strscpy(c->name, name ? name : "", sizeof(c->name));
	vm = find_get_vm(vmid);
	if (!vm) {
		kfree(c);
		return -EINVAL;
	}
	c->vm = vm;
	idr_preload(GFP_KERNEL);
	spin_lock_irqsave(&sim_lock, flags);
	if (vm->dead) {
		id = -EINVAL;
	} else {
		id = idr_alloc_cyclic(&sim_clients, c, 1, INT_MAX, GFP_NOWAIT);
		if (id > 0) {
			c->id = id;
			list_add_tail(&c->vm_node, &vm->clients);
		}
	}
	spin_unlock_irqrestore(&sim_lock, flags);
	idr_preload_end();
	if (id < 0)
		client_put(c);
	return id;
}
EXPORT_SYMBOL_GPL(acrn_ioreq_create_client);

/*
 * Takes the client out of the IDR and its VM, fails its requests in flight and wakes its
 * thread. The caller holds sim_lock and puts the IDR's reference after unlocking.
 */
static void client_destroy_locked(struct sim_client *c)
{
	struct vhm_vm *vm = c->vm;
	struct sim_range *r, *t;
	u32 i;

	idr_remove(&sim_clients, c->id);
	c->destroying = true;
	list_del_init(&c->vm_node);
	for (i = 0; i < vm->vcpus; i++) {
		struct sim_slot *s = &vm->slots[i];

		if (s->inflight && s->client == c->id) {
			s->inflight = false;
			s->result = -ENODEV;
			WRITE_ONCE(vm->reqbuf[i].processed, REQ_STATE_FAILED);
		}
	}
	c->pending = 0;
	list_for_each_entry_safe(r, t, &c->ranges, node) {
		list_del(&r->node);
		kfree(r);
	}
	c->bdf_set = false;
	wake_up(&vm->done_wq);
	wake_up(&c->wq);
}

void acrn_ioreq_destroy_client(int client_id)
{
	struct sim_client *c;
	unsigned long flags;

	spin_lock_irqsave(&sim_lock, flags);
	c = client_find_locked(client_id);
	if (c)
		client_destroy_locked(c);
	spin_unlock_irqrestore(&sim_lock, flags);
	if (c)
		client_put(c);
}
EXPORT_SYMBOL_GPL(acrn_ioreq_destroy_client);

int acrn_ioreq_add_iorange(int client_id, uint32_t type, long start, long end)
{
	struct sim_client *c;
	struct sim_range *r;
	unsigned long flags;

	if ((type != REQ_PORTIO && type != REQ_MMIO && type != REQ_WP) || start < 0 || end < start)
		return -EINVAL;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->type = type;
	r->start = start;
	r->end = end;
	spin_lock_irqsave(&sim_lock, flags);
	c = client_find_locked(client_id);
	if (c)
		list_add_tail(&r->node, &c->ranges);
	spin_unlock_irqrestore(&sim_lock, flags);
	if (!c) {
		kfree(r);
		return -EINVAL;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(acrn_ioreq_add_iorange);

int acrn_ioreq_del_iorange(int client_id, uint32_t type, long start, long end)
{
	struct sim_range *r, *found = NULL;
	struct sim_client *c;
	unsigned long flags;

	spin_lock_irqsave(&sim_lock, flags);
	c = client_find_locked(client_id);
	if (c) {
		list_for_each_entry(r, &c->ranges, node) {
			if (r->type == type && r->start == (u64)start && r->end == (u64)end) {
				list_del(&r->node);
				found = r;
				break;
			}
		}
	}
	spin_unlock_irqrestore(&sim_lock, flags);
	if (!found)
		return -EINVAL;
	kfree(found);
	return 0;
}
EXPORT_SYMBOL_GPL(acrn_ioreq_del_iorange);

struct vhm_request *acrn_ioreq_get_reqbuf(int client_id)
{
	struct vhm_request *buf = NULL;
	struct sim_client *c;
	unsigned long flags;

	spin_lock_irqsave(&sim_lock, flags);
	c = client_find_locked(client_id);
	if (c)
		buf = c->vm->reqbuf;
	spin_unlock_irqrestore(&sim_lock, flags);
	return buf;
}
EXPORT_SYMBOL_GPL(acrn_ioreq_get_reqbuf);

static bool should_stop(bool check_kthread_stop)
{
	return check_kthread_stop && (current->flags & PF_KTHREAD) && kthread_should_stop();
}

int acrn_ioreq_attach_client(int client_id, bool check_kthread_stop)
{
	struct sim_client *c;
	unsigned long flags;
	int ret;

	spin_lock_irqsave(&sim_lock, flags);
	c = client_find_locked(client_id);
	if (c)
		kref_get(&c->ref);
	spin_unlock_irqrestore(&sim_lock, flags);
	if (!c)
		return -EINVAL;
	ret = wait_event_interruptible(c->wq, READ_ONCE(c->pending) || READ_ONCE(c->destroying) ||
				       should_stop(check_kthread_stop));
	spin_lock_irqsave(&sim_lock, flags);
	if (c->destroying || should_stop(check_kthread_stop))
		ret = 1;
	else if (ret)
		ret = -EINTR;
	spin_unlock_irqrestore(&sim_lock, flags);
	client_put(c);
	return ret;
}
EXPORT_SYMBOL_GPL(acrn_ioreq_attach_client);

int acrn_ioreq_complete_request(int client_id, uint64_t vcpu, struct vhm_request *vhm_req)
{
	struct sim_client *c;
	struct vhm_request *rq;
	struct sim_slot *s;
	struct vhm_vm *vm;
	unsigned long flags;
	int ret = -EINVAL;

	if (vcpu >= VHM_REQUEST_MAX)
		return -EINVAL;
	spin_lock_irqsave(&sim_lock, flags);
	c = client_find_locked(client_id);
	if (!c)
		goto out;
	vm = c->vm;
	rq = &vm->reqbuf[vcpu];
	s = &vm->slots[vcpu];
	if (vcpu >= vm->vcpus || (vhm_req && vhm_req != rq) || !s->inflight || s->client != client_id)
		goto out;
	s->inflight = false;
	clear_bit(vcpu, &c->pending);
	if (READ_ONCE(rq->processed) == REQ_STATE_FAILED) {
		s->result = -EIO;
	} else {
		s->result = 0;
		WRITE_ONCE(rq->processed, REQ_STATE_SUCCESS);
	}
	wake_up_sync(&vm->done_wq);
	ret = 0;
out:
	spin_unlock_irqrestore(&sim_lock, flags);
	return ret;
}
EXPORT_SYMBOL_GPL(acrn_ioreq_complete_request);

void acrn_ioreq_intercept_bdf(int client_id, int bus, int dev, int func)
{
	struct sim_client *c;
	unsigned long flags;

	spin_lock_irqsave(&sim_lock, flags);
	c = client_find_locked(client_id);
	if (c) {
		c->bdf_set = true;
		c->bus = bus;
		c->dev = dev;
		c->func = func;
	}
	spin_unlock_irqrestore(&sim_lock, flags);
}
EXPORT_SYMBOL_GPL(acrn_ioreq_intercept_bdf);

void acrn_ioreq_unintercept_bdf(int client_id)
{
	struct sim_client *c;
	unsigned long flags;

	spin_lock_irqsave(&sim_lock, flags);
	c = client_find_locked(client_id);
	if (c)
		c->bdf_set = false;
	spin_unlock_irqrestore(&sim_lock, flags);
}
EXPORT_SYMBOL_GPL(acrn_ioreq_unintercept_bdf);

void *map_guest_phys(unsigned long vmid, u64 uos_phys, size_t size)
{
	struct vhm_vm *vm;
	unsigned long flags;
	void *va = NULL;

	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (vm && size && uos_phys < vm->ram_size && size <= vm->ram_size - uos_phys)
		va = vm->ram + uos_phys;
	spin_unlock_irqrestore(&sim_lock, flags);
	return va;
}
EXPORT_SYMBOL_GPL(map_guest_phys);

int unmap_guest_phys(unsigned long vmid, u64 uos_phys)
{
	struct vhm_vm *vm;
	unsigned long flags;
	int ret = -EINVAL;

	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (vm && uos_phys < vm->ram_size)
		ret = 0;
	spin_unlock_irqrestore(&sim_lock, flags);
	return ret;
}
EXPORT_SYMBOL_GPL(unmap_guest_phys);

static bool ranges_overlap(u64 a, u64 alen, u64 b, u64 blen)
{
	return a < b + blen && b < a + alen;
}

int add_memory_region(unsigned long vmid, unsigned long gpa, unsigned long host_gpa,
		      unsigned long size, unsigned int mem_type, unsigned int mem_access_right)
{
	struct sim_region *r, *o;
	struct vhm_vm *vm;
	unsigned long flags;
	int ret = 0;

	if (!size || !PAGE_ALIGNED(gpa) || !PAGE_ALIGNED(host_gpa) || !PAGE_ALIGNED(size) ||
	    gpa + size < gpa || host_gpa + size < host_gpa)
		return -EINVAL;
	if (hweight32(mem_type) != 1 ||
	    (mem_type & ~(MEM_TYPE_WB | MEM_TYPE_WT | MEM_TYPE_UC | MEM_TYPE_WC | MEM_TYPE_WP)))
		return -EINVAL;
	if (!mem_access_right || (mem_access_right & ~MEM_ACCESS_RWX))
		return -EINVAL;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->gpa = gpa;
	r->hpa = host_gpa;
	r->size = size;
	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (!vm) {
		ret = -EINVAL;
		goto out;
	}
	if (ranges_overlap(gpa, size, 0, vm->ram_size)) {
		ret = -EINVAL;
		goto out;
	}
	list_for_each_entry(o, &vm->regions, node) {
		if (ranges_overlap(gpa, size, o->gpa, o->size)) {
			ret = -EEXIST;
			goto out;
		}
	}
	list_add_tail(&r->node, &vm->regions);
	vm->nregions++;
	r = NULL;
out:
	spin_unlock_irqrestore(&sim_lock, flags);
	kfree(r);
	return ret;
}
EXPORT_SYMBOL_GPL(add_memory_region);

/* Removes the regions inside [gpa, gpa + size); none may stick out of it. */
int del_memory_region(unsigned long vmid, unsigned long gpa, unsigned long size)
{
	struct sim_region *r, *t;
	struct vhm_vm *vm;
	unsigned long flags;
	LIST_HEAD(gone);
	int ret = -ENOENT;

	if (!size || gpa + size < gpa)
		return -EINVAL;
	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (!vm) {
		ret = -EINVAL;
		goto out;
	}
	list_for_each_entry(r, &vm->regions, node) {
		if (ranges_overlap(gpa, size, r->gpa, r->size) &&
		    (r->gpa < gpa || r->gpa + r->size > gpa + size)) {
			ret = -EINVAL;
			goto out;
		}
	}
	list_for_each_entry_safe(r, t, &vm->regions, node) {
		if (ranges_overlap(gpa, size, r->gpa, r->size)) {
			list_move(&r->node, &gone);
			vm->nregions--;
			ret = 0;
		}
	}
out:
	spin_unlock_irqrestore(&sim_lock, flags);
	list_for_each_entry_safe(r, t, &gone, node)
		kfree(r);
	return ret;
}
EXPORT_SYMBOL_GPL(del_memory_region);

int write_protect_page(unsigned long vmid, unsigned long gpa, unsigned char set)
{
	struct vhm_vm *vm;
	unsigned long flags, pfn;
	int ret = -EINVAL;

	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (vm && gpa < vm->ram_size) {
		pfn = gpa >> PAGE_SHIFT;
		if (set && !test_and_set_bit(pfn, vm->wp))
			vm->wp_pages++;
		else if (!set && test_and_clear_bit(pfn, vm->wp))
			vm->wp_pages--;
		ret = 0;
	}
	spin_unlock_irqrestore(&sim_lock, flags);
	return ret;
}
EXPORT_SYMBOL_GPL(write_protect_page);

/* The vCPU side. */

static struct sim_client *claim_locked(struct vhm_vm *vm, const struct vhm_sim_request *q)
{
	u64 last = q->address + (q->size ? q->size - 1 : 0);
	struct sim_client *c;
	struct sim_range *r;

	list_for_each_entry(c, &vm->clients, vm_node) {
		if (q->type == REQ_PCICFG) {
			if (c->bdf_set && c->bus == q->bus && c->dev == q->dev && c->func == q->func)
				return c;
			continue;
		}
		list_for_each_entry(r, &c->ranges, node)
			if (r->type == q->type && r->start <= q->address && last <= r->end)
				return c;
	}
	return NULL;
}

static void fill_request(struct vhm_request *rq, const struct vhm_sim_request *q)
{
	memset(rq, 0, offsetof(struct vhm_request, client));
	rq->type = q->type;
	switch (q->type) {
	case REQ_PCICFG:
		rq->reqs.pci.direction = q->direction;
		rq->reqs.pci.size = q->size;
		rq->reqs.pci.value = (s32)(u32)q->value;
		rq->reqs.pci.bus = q->bus;
		rq->reqs.pci.dev = q->dev;
		rq->reqs.pci.func = q->func;
		rq->reqs.pci.reg = q->reg;
		break;
	case REQ_PORTIO:
		rq->reqs.pio.direction = q->direction;
		rq->reqs.pio.address = q->address;
		rq->reqs.pio.size = q->size;
		rq->reqs.pio.value = (u32)q->value;
		break;
	default:
		rq->reqs.mmio.direction = q->direction;
		rq->reqs.mmio.address = q->address;
		rq->reqs.mmio.size = q->size;
		rq->reqs.mmio.value = q->value;
		break;
	}
}

static u64 request_value(const struct vhm_request *rq, u32 size)
{
	u64 v;

	switch (rq->type) {
	case REQ_PCICFG:
		v = (u32)READ_ONCE(rq->reqs.pci.value);
		break;
	case REQ_PORTIO:
		v = READ_ONCE(rq->reqs.pio.value);
		break;
	default:
		v = READ_ONCE(rq->reqs.mmio.value);
		break;
	}
	if (size && size < 8)
		v &= GENMASK_ULL(size * 8 - 1, 0);
	return v;
}

/* Raises q (validated) on vCPU q->vcpu and waits for its completion. */
static int sim_raise(struct vhm_vm *vm, struct vhm_sim_request *q)
{
	struct sim_slot *s = &vm->slots[q->vcpu];
	struct vhm_request *rq = &vm->reqbuf[q->vcpu];
	struct sim_client *c;
	unsigned long flags;
	u32 ms = q->timeout_ms ? q->timeout_ms : VHM_SIM_DEFAULT_TIMEOUT_MS;
	long left;
	int ret;

	spin_lock_irqsave(&sim_lock, flags);
	if (vm->dead) {
		ret = -ENODEV;
		goto unlock;
	}
	if (s->busy) {
		ret = -EBUSY;
		goto unlock;
	}
	c = claim_locked(vm, q);
	if (!c) {
		ret = -ENODEV;
		goto unlock;
	}
	fill_request(rq, q);
	rq->client = c->id;
	s->busy = true;
	s->inflight = true;
	s->client = c->id;
	s->result = -EINPROGRESS;
	/* The slot is filled before anyone can see it PROCESSING (clients read it unlocked). */
	smp_wmb();
	WRITE_ONCE(rq->processed, REQ_STATE_PROCESSING);
	set_bit(q->vcpu, &c->pending);
	vm->requests++;
	/* The vCPU sleeps right after: let the client run on this CPU (a vCPU exit). */
	wake_up_sync(&c->wq);
	spin_unlock_irqrestore(&sim_lock, flags);

	left = wait_event_interruptible_timeout(vm->done_wq, !READ_ONCE(s->inflight),
						msecs_to_jiffies(ms));

	spin_lock_irqsave(&sim_lock, flags);
	if (s->inflight) {
		struct sim_client *owner = client_find_locked(s->client);

		if (owner)
			clear_bit(q->vcpu, &owner->pending);
		s->inflight = false;
		WRITE_ONCE(rq->processed, REQ_STATE_FAILED);
		ret = left < 0 ? -EINTR : -ETIMEDOUT;
	} else {
		ret = s->result;
		q->client = s->client;
		if (!ret && q->direction == REQUEST_READ)
			q->value = request_value(rq, q->size);
	}
	s->busy = false;
unlock:
	spin_unlock_irqrestore(&sim_lock, flags);
	return ret;
}

static struct vhm_vm *vm_get_checked(u32 version, u32 vmid, int *err)
{
	struct vhm_vm *vm;

	if (version != VHM_SIM_UAPI_VERSION) {
		*err = -EPROTO;
		return NULL;
	}
	if (!vmid || vmid > VHM_SIM_MAX_VMID) {
		*err = -EINVAL;
		return NULL;
	}
	vm = find_get_vm(vmid);
	if (!vm)
		*err = -ENOENT;
	return vm;
}

static int check_request(const struct vhm_vm *vm, const struct vhm_sim_request *q)
{
	bool checked = !(q->flags & VHM_SIM_REQ_UNCHECKED);
	u32 n = q->size;

	if (q->vcpu >= vm->vcpus || q->type > REQ_WP || q->direction > REQUEST_WRITE ||
	    (q->flags & ~VHM_SIM_REQ_UNCHECKED) || q->reserved)
		return -EINVAL;
	if (q->timeout_ms > VHM_SIM_MAX_TIMEOUT_MS)
		return -EINVAL;
	if (checked) {
		bool eight = q->type == REQ_MMIO || q->type == REQ_WP;

		if (n != 1 && n != 2 && n != 4 && !(eight && n == 8))
			return -EINVAL;
		if (q->direction == REQUEST_WRITE && n < 8 && q->value >> (n * 8))
			return -EINVAL;
	}
	if (q->type == REQ_PCICFG) {
		if (q->address || q->bus < 0 || q->bus > 255 || q->dev < 0 || q->dev > 31 ||
		    q->func < 0 || q->func > 7 || q->reg < 0 || q->reg > 4095)
			return -EINVAL;
		if (checked && q->reg + n > 4096)
			return -EINVAL;
		return 0;
	}
	if (q->bus || q->dev || q->func || q->reg)
		return -EINVAL;
	if (n && q->address + n - 1 < q->address)
		return -EINVAL;
	return 0;
}

int vhm_sim_raise(struct vhm_sim_request *q)
{
	struct vhm_vm *vm;
	int ret;

	vm = vm_get_checked(q->version, q->vmid, &ret);
	if (!vm)
		return ret;
	ret = check_request(vm, q);
	if (!ret) {
		q->client = 0;
		ret = sim_raise(vm, q);
	}
	put_vm(vm);
	return ret;
}

static long ioc_request(void __user *arg)
{
	struct vhm_sim_request q;
	int ret;

	if (copy_from_user(&q, arg, sizeof(q)))
		return -EFAULT;
	ret = vhm_sim_raise(&q);
	if (!ret && copy_to_user(arg, &q, sizeof(q)))
		ret = -EFAULT;
	return ret;
}

static int check_mem(const struct vhm_vm *vm, const struct vhm_sim_mem *m)
{
	if (m->vcpu >= vm->vcpus || m->timeout_ms > VHM_SIM_MAX_TIMEOUT_MS)
		return -EINVAL;
	if (!m->len)
		return -EINVAL;
	if (m->len > VHM_SIM_MAX_MEM_IO)
		return -E2BIG;
	if (m->gpa >= vm->ram_size || m->len > vm->ram_size - m->gpa)
		return -EFAULT;
	return 0;
}

/* REQ_WP requests for a store of n bytes at gpa (all in one page), as a vCPU would make. */
static int wp_store(struct vhm_vm *vm, const struct vhm_sim_mem *m, u64 gpa, const u8 *b,
		    u32 n, u64 *count)
{
	struct vhm_sim_request q = {
		.vmid = m->vmid, .vcpu = m->vcpu, .type = REQ_WP,
		.direction = REQUEST_WRITE, .timeout_ms = m->timeout_ms,
	};
	u32 off = 0, piece, i;
	int ret;

	while (off < n) {
		for (piece = 8; piece > 1; piece /= 2)
			if (piece <= n - off && IS_ALIGNED(gpa + off, piece))
				break;
		q.address = gpa + off;
		q.size = piece;
		q.value = 0;
		for (i = 0; i < piece; i++)
			q.value |= (u64)b[off + i] << (8 * i);
		ret = sim_raise(vm, &q);
		if (ret)
			return ret;
		(*count)++;
		off += piece;
	}
	return 0;
}

/* A store of n bytes at gpa, inside one page of RAM: copied, or REQ_WP if protected. */
static int store_page(struct vhm_vm *vm, struct vhm_sim_mem *m, u64 gpa, const u8 *b, u32 n)
{
	unsigned long flags;
	bool wp;

	spin_lock_irqsave(&sim_lock, flags);
	wp = test_bit(gpa >> PAGE_SHIFT, vm->wp);
	if (!wp)
		memcpy(vm->ram + gpa, b, n);
	spin_unlock_irqrestore(&sim_lock, flags);
	return wp ? wp_store(vm, m, gpa, b, n, &m->wp_requests) : 0;
}

int vhm_sim_store(u32 vmid, u32 vcpu, u64 gpa, const void *buf, u32 len, u64 *wp_requests)
{
	struct vhm_sim_mem m = {
		.version = VHM_SIM_UAPI_VERSION, .vmid = vmid, .vcpu = vcpu, .gpa = gpa, .len = len,
	};
	struct vhm_vm *vm;
	u32 done = 0;
	int ret;

	vm = vm_get_checked(m.version, vmid, &ret);
	if (!vm)
		return ret;
	ret = check_mem(vm, &m);
	while (!ret && done < len) {
		u32 n = min_t(u64, len - done, PAGE_SIZE - offset_in_page(gpa + done));

		ret = store_page(vm, &m, gpa + done, (const u8 *)buf + done, n);
		done += n;
	}
	*wp_requests = m.wp_requests;
	put_vm(vm);
	return ret;
}

static long ioc_mem(void __user *arg, bool write)
{
	struct vhm_sim_mem m;
	struct vhm_vm *vm;
	u8 *bounce = NULL;
	u64 done = 0;
	int ret;

	if (copy_from_user(&m, arg, sizeof(m)))
		return -EFAULT;
	vm = vm_get_checked(m.version, m.vmid, &ret);
	if (!vm)
		return ret;
	ret = check_mem(vm, &m);
	if (ret)
		goto out;
	m.wp_requests = 0;
	if (!write) {
		if (copy_to_user(u64_to_user_ptr(m.buf), vm->ram + m.gpa, m.len))
			ret = -EFAULT;
		goto out;
	}
	bounce = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!bounce) {
		ret = -ENOMEM;
		goto out;
	}
	while (done < m.len) {
		u64 gpa = m.gpa + done;
		u32 n = min_t(u64, m.len - done, PAGE_SIZE - offset_in_page(gpa));

		if (copy_from_user(bounce, u64_to_user_ptr(m.buf + done), n)) {
			ret = -EFAULT;
			break;
		}
		ret = store_page(vm, &m, gpa, bounce, n);
		if (ret)
			break;
		done += n;
	}
	if (copy_to_user(arg, &m, sizeof(m)) && !ret)
		ret = -EFAULT;
out:
	kfree(bounce);
	put_vm(vm);
	return ret;
}

static long ioc_create(struct file *file, void __user *arg)
{
	struct vhm_sim_vm_create a;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	return vhm_sim_create_vm(&a, file);
}

int vhm_sim_create_vm(const struct vhm_sim_vm_create *args, struct file *owner)
{
	struct vhm_sim_vm_create a = *args;
	struct vhm_vm *vm;
	unsigned long flags;
	u32 i;
	int ret = 0;

	BUILD_BUG_ON(sizeof(struct vhm_request) != 256);
	if (a.version != VHM_SIM_UAPI_VERSION)
		return -EPROTO;
	if (!a.vmid || a.vmid > VHM_SIM_MAX_VMID || !a.vcpus || a.vcpus > VHM_SIM_MAX_VCPUS ||
	    a.flags || !a.ram_size || a.ram_size > VHM_SIM_MAX_RAM || !PAGE_ALIGNED(a.ram_size))
		return -EINVAL;
	vm = kzalloc(sizeof(*vm), GFP_KERNEL);
	if (!vm)
		return -ENOMEM;
	kref_init(&vm->ref);
	INIT_LIST_HEAD(&vm->node);
	INIT_LIST_HEAD(&vm->clients);
	INIT_LIST_HEAD(&vm->regions);
	init_waitqueue_head(&vm->done_wq);
	init_waitqueue_head(&vm->msi_wq);
	vm->vmid = a.vmid;
	vm->owner = owner;
	vm->vcpus = a.vcpus;
	vm->ram_size = a.ram_size;
	vm->ram = vzalloc(a.ram_size);
	vm->wp = bitmap_zalloc(a.ram_size >> PAGE_SHIFT, GFP_KERNEL);
	vm->reqbuf = kzalloc(sizeof(*vm->reqbuf) * VHM_REQUEST_MAX, GFP_KERNEL);
	if (!vm->ram || !vm->wp || !vm->reqbuf) {
		put_vm(vm);
		return -ENOMEM;
	}
	for (i = 0; i < VHM_REQUEST_MAX; i++) {
		vm->reqbuf[i].client = -1;
		vm->reqbuf[i].processed = REQ_STATE_SUCCESS;
	}
	spin_lock_irqsave(&sim_lock, flags);
	if (vm_find_locked(a.vmid))
		ret = -EEXIST;
	else
		list_add_tail(&vm->node, &sim_vms);
	spin_unlock_irqrestore(&sim_lock, flags);
	if (ret)
		put_vm(vm);
	return ret;
}

/*
 * Takes a live VM out of the list and destroys its clients; moves it to @doomed and the clients
 * to @clients for putting after unlock.
 */
static void vm_kill_locked(struct vhm_vm *vm, struct list_head *doomed, struct list_head *clients)
{
	struct sim_client *c, *t;

	list_move(&vm->node, doomed);
	vm->dead = true;
	list_for_each_entry_safe(c, t, &vm->clients, vm_node) {
		client_destroy_locked(c);
		list_add_tail(&c->vm_node, clients);
	}
	wake_up(&vm->done_wq);
	wake_up(&vm->msi_wq);
}

static void put_killed(struct list_head *doomed, struct list_head *clients)
{
	struct sim_client *c, *ct;
	struct vhm_vm *vm, *vt;

	list_for_each_entry_safe(c, ct, clients, vm_node) {
		list_del_init(&c->vm_node);
		client_put(c);
	}
	list_for_each_entry_safe(vm, vt, doomed, node) {
		list_del_init(&vm->node);
		put_vm(vm);
	}
}

static long ioc_destroy(void __user *arg)
{
	struct vhm_sim_vm_id a;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.version != VHM_SIM_UAPI_VERSION)
		return -EPROTO;
	return vhm_sim_destroy_vm(a.vmid);
}

int vhm_sim_destroy_vm(u32 vmid)
{
	struct vhm_vm *vm;
	unsigned long flags;
	LIST_HEAD(doomed);
	LIST_HEAD(clients);
	int ret = 0;

	if (!vmid || vmid > VHM_SIM_MAX_VMID)
		return -EINVAL;
	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (vm)
		vm_kill_locked(vm, &doomed, &clients);
	else
		ret = -ENOENT;
	spin_unlock_irqrestore(&sim_lock, flags);
	put_killed(&doomed, &clients);
	return ret;
}

static long ioc_info(void __user *arg)
{
	struct vhm_sim_vm_info a;
	struct sim_client *c;
	struct sim_range *r;
	struct vhm_vm *vm;
	unsigned long flags;
	u32 version, vmid;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.version != VHM_SIM_UAPI_VERSION)
		return -EPROTO;
	if (!a.vmid || a.vmid > VHM_SIM_MAX_VMID)
		return -EINVAL;
	version = a.version;
	vmid = a.vmid;
	memset(&a, 0, sizeof(a));
	a.version = version;
	a.vmid = vmid;
	spin_lock_irqsave(&sim_lock, flags);
	vm = vm_find_locked(vmid);
	if (vm) {
		a.ram_size = vm->ram_size;
		a.vcpus = vm->vcpus;
		list_for_each_entry(c, &vm->clients, vm_node) {
			a.clients++;
			a.bdf_intercepts += c->bdf_set;
			list_for_each_entry(r, &c->ranges, node)
				a.ranges++;
		}
		a.wp_pages = vm->wp_pages;
		a.regions = vm->nregions;
		a.msi_queued = vm->msi_count;
		a.refs = kref_read(&vm->ref);
		a.msi_total = vm->msi_total;
		a.requests = vm->requests;
	}
	spin_unlock_irqrestore(&sim_lock, flags);
	if (!vm)
		return -ENOENT;
	return copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
}

static long ioc_wait_msi(void __user *arg)
{
	struct vhm_sim_msi a;
	struct vhm_vm *vm;
	unsigned long flags;
	long left = 1;
	int ret;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	vm = vm_get_checked(a.version, a.vmid, &ret);
	if (!vm)
		return ret;
	if (a.reserved || a.timeout_ms > VHM_SIM_MAX_TIMEOUT_MS) {
		put_vm(vm);
		return -EINVAL;
	}
	if (a.timeout_ms)
		left = wait_event_interruptible_timeout(vm->msi_wq,
							READ_ONCE(vm->msi_count) || READ_ONCE(vm->dead),
							msecs_to_jiffies(a.timeout_ms));
	spin_lock_irqsave(&sim_lock, flags);
	if (vm->msi_count) {
		u32 at = (vm->msi_head + VHM_SIM_MSI_LOG - vm->msi_count) % VHM_SIM_MSI_LOG;

		a.addr = vm->msi[at].addr;
		a.data = vm->msi[at].data;
		vm->msi_count--;
		ret = 0;
	} else if (vm->dead) {
		ret = -ENODEV;
	} else {
		ret = left < 0 ? -EINTR : -ETIMEDOUT;
	}
	a.dropped = vm->msi_dropped;
	spin_unlock_irqrestore(&sim_lock, flags);
	put_vm(vm);
	if (!ret && copy_to_user(arg, &a, sizeof(a)))
		ret = -EFAULT;
	return ret;
}

static long ioc_inject_msi(void __user *arg)
{
	struct vhm_sim_msi a;
	struct vhm_vm *vm;
	int ret;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	vm = vm_get_checked(a.version, a.vmid, &ret);
	if (!vm)
		return ret;
	put_vm(vm);
	if (a.reserved || a.timeout_ms || a.dropped)
		return -EINVAL;
	return vhm_inject_msi(a.vmid, a.addr, a.data);
}

static long ioc_write_protect(void __user *arg)
{
	struct vhm_sim_wp a;
	struct vhm_vm *vm;
	int ret;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	vm = vm_get_checked(a.version, a.vmid, &ret);
	if (!vm)
		return ret;
	ret = a.reserved || a.set > 1 || a.gpa >= vm->ram_size ? -EINVAL : 0;
	put_vm(vm);
	if (ret)
		return ret;
	return write_protect_page(a.vmid, a.gpa, a.set);
}

static long vhm_sim_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *p = (void __user *)arg;

	switch (cmd) {
	case VHM_SIM_GET_VERSION:
		return put_user(VHM_SIM_UAPI_VERSION, (__u32 __user *)p);
	case VHM_SIM_CREATE_VM:
		return ioc_create(file, p);
	case VHM_SIM_DESTROY_VM:
		return ioc_destroy(p);
	case VHM_SIM_VM_INFO:
		return ioc_info(p);
	case VHM_SIM_REQUEST:
		return ioc_request(p);
	case VHM_SIM_MEM_READ:
		return ioc_mem(p, false);
	case VHM_SIM_MEM_WRITE:
		return ioc_mem(p, true);
	case VHM_SIM_WAIT_MSI:
		return ioc_wait_msi(p);
	case VHM_SIM_INJECT_MSI:
		return ioc_inject_msi(p);
	case VHM_SIM_WRITE_PROTECT:
		return ioc_write_protect(p);
	default:
		return -ENOTTY;
	}
}

/* ACRN-DM closing its VHM fd destroys its VMs. */
static int vhm_sim_release(struct inode *inode, struct file *file)
{
	struct vhm_vm *vm, *t;
	unsigned long flags;
	LIST_HEAD(doomed);
	LIST_HEAD(clients);

	spin_lock_irqsave(&sim_lock, flags);
	list_for_each_entry_safe(vm, t, &sim_vms, node)
		if (vm->owner == file)
			vm_kill_locked(vm, &doomed, &clients);
	spin_unlock_irqrestore(&sim_lock, flags);
	put_killed(&doomed, &clients);
	return 0;
}

static const struct file_operations vhm_sim_fops = {
	.owner = THIS_MODULE,
	.release = vhm_sim_release,
	.unlocked_ioctl = vhm_sim_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice vhm_sim_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "vhm_sim",
	.fops = &vhm_sim_fops,
	.mode = 0600,
};

static int __init vhm_sim_init(void)
{
	return misc_register(&vhm_sim_dev);
}

static void __exit vhm_sim_exit(void)
{
	misc_deregister(&vhm_sim_dev);
	/* Every VM belongs to an open file, which holds the module: none is left. */
	WARN_ON(!list_empty(&sim_vms));
	idr_destroy(&sim_clients);
}

module_init(vhm_sim_init);
module_exit(vhm_sim_exit);
MODULE_DESCRIPTION("Simulated ACRN VHM ioreq API, for testing acrngt (gvt-rs)");
MODULE_LICENSE("GPL");
