// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suite of vhm_sim.ko: the VHM API with an in-kernel ioreq client thread written the way
 * acrngt's is (client-thread model), so distribution, completion, failure, timeouts, REQ_WP
 * routing with a client that commits the store, memory regions and teardown with requests in
 * flight are tested without acrngt. User-space paths are tested by gvt-acrn-client selftest.
 */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <acrn/vhm.h>
#include "vhm_sim.h"

#define KVMID	4000U
#define KRAM	(16 * PAGE_SIZE)
#define FAIL_ME	0xdeadULL

struct kclient {
	int id;
	unsigned long vmid;
	struct vhm_request *buf;
	int nr;
	atomic_t handled;
	int exit_ret;		/* what attach returned when the loop ended; 0 while running */
	struct task_struct *thread;
};

static int kclient_thread(void *data)
{
	struct kclient *k = data;
	int ret, i;

	while (!(ret = acrn_ioreq_attach_client(k->id, true))) {
		for (i = 0; i < k->nr; i++) {
			struct vhm_request *r = &k->buf[i];
			void *va;

			if (READ_ONCE(r->processed) != REQ_STATE_PROCESSING ||
			    READ_ONCE(r->client) != k->id)
				continue;
			switch (r->type) {
			case REQ_PCICFG:
				if (r->reqs.pci.direction == REQUEST_READ)
					r->reqs.pci.value = 0x12340000 | r->reqs.pci.reg;
				break;
			case REQ_MMIO:
				if (r->reqs.mmio.direction == REQUEST_READ)
					r->reqs.mmio.value = r->reqs.mmio.address ^ 0xff;
				else if (r->reqs.mmio.value == FAIL_ME)
					r->processed = REQ_STATE_FAILED;
				break;
			case REQ_WP:
				/* VHM did not perform the store: commit it (little-endian). */
				va = map_guest_phys(k->vmid, r->reqs.mmio.address, r->reqs.mmio.size);
				if (va)
					memcpy(va, &r->reqs.mmio.value, r->reqs.mmio.size);
				break;
			}
			atomic_inc(&k->handled);
			acrn_ioreq_complete_request(k->id, i, r);
		}
	}
	WRITE_ONCE(k->exit_ret, ret);
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

static void kclient_start(struct kunit *test, struct kclient *k, unsigned long vmid, bool thread)
{
	k->vmid = vmid;
	k->id = acrn_ioreq_create_client(vmid, NULL, "kunit");
	KUNIT_ASSERT_GT(test, k->id, 0);
	k->buf = acrn_ioreq_get_reqbuf(k->id);
	KUNIT_ASSERT_NOT_NULL(test, k->buf);
	k->nr = 2;
	k->thread = NULL;
	if (thread) {
		k->thread = kthread_run(kclient_thread, k, "vhm_sim_kunit:%d", k->id);
		KUNIT_ASSERT_FALSE(test, IS_ERR(k->thread));
	}
}

static void create_vm(struct kunit *test, u32 vmid)
{
	struct vhm_sim_vm_create a = {
		.version = VHM_SIM_UAPI_VERSION, .vmid = vmid, .vcpus = 2, .ram_size = KRAM,
	};

	KUNIT_ASSERT_EQ(test, vhm_sim_create_vm(&a, NULL), 0);
}

static int raise(u32 vmid, u32 type, u32 dir, u64 addr, u32 size, u64 *value, int dev,
		 u32 timeout_ms)
{
	struct vhm_sim_request q = {
		.version = VHM_SIM_UAPI_VERSION, .vmid = vmid, .type = type, .direction = dir,
		.address = addr, .size = size, .value = *value, .dev = dev, .reg = 0,
		.timeout_ms = timeout_ms,
	};
	int ret;

	if (type == REQ_PCICFG) {
		q.reg = addr;
		q.address = 0;
	}
	ret = vhm_sim_raise(&q);
	*value = q.value;
	return ret;
}

static void vhm_sim_kunit_requests(struct kunit *test)
{
	struct vm_info info;
	struct kclient k = {};
	u64 v = 0;

	create_vm(test, KVMID);
	kclient_start(test, &k, KVMID, true);
	acrn_ioreq_intercept_bdf(k.id, 0, 2, 0);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_add_iorange(k.id, REQ_MMIO, 0x100000, 0x100fff), 0);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_add_iorange(k.id, REQ_MMIO, 5, 4), -EINVAL);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_add_iorange(k.id, 7, 0, 4), -EINVAL);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_add_iorange(k.id + 1000, REQ_MMIO, 0, 4), -EINVAL);

	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_PCICFG, REQUEST_READ, 0x10, 4, &v, 2, 0), 0);
	KUNIT_EXPECT_EQ(test, v, 0x12340010ULL);
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_PCICFG, REQUEST_READ, 0x12, 2, &v, 2, 0), 0);
	KUNIT_EXPECT_EQ(test, v, 0x0012ULL);
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_PCICFG, REQUEST_READ, 0x10, 4, &v, 3, 0), -ENODEV);
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_MMIO, REQUEST_READ, 0x100008, 8, &v, 0, 0), 0);
	KUNIT_EXPECT_EQ(test, v, 0x100008ULL ^ 0xff);
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_MMIO, REQUEST_READ, 0x100ffc, 8, &v, 0, 0), -ENODEV);
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_MMIO, REQUEST_READ, 0xfffff, 1, &v, 0, 0), -ENODEV);
	v = FAIL_ME;
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_MMIO, REQUEST_WRITE, 0x100000, 4, &v, 0, 0), -EIO);
	v = 1;
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_MMIO, REQUEST_WRITE, 0x100000, 4, &v, 0, 0), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&k.handled), 5);
	/* A completion for a slot that is not in flight, or for a foreign slot, is refused. */
	KUNIT_EXPECT_EQ(test, acrn_ioreq_complete_request(k.id, 0, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_complete_request(k.id, 1, &k.buf[0]), -EINVAL);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_complete_request(k.id, VHM_REQUEST_MAX, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_del_iorange(k.id, REQ_MMIO, 0x100000, 0x100ffe), -EINVAL);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_del_iorange(k.id, REQ_MMIO, 0x100000, 0x100fff), 0);
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_MMIO, REQUEST_READ, 0x100008, 8, &v, 0, 0), -ENODEV);

	KUNIT_EXPECT_EQ(test, vhm_get_vm_info(KVMID, &info), 0);
	KUNIT_EXPECT_EQ(test, info.max_vcpu, 2);
	KUNIT_EXPECT_EQ(test, info.max_gfn, 15);
	KUNIT_EXPECT_EQ(test, vhm_get_vm_info(KVMID + 1, &info), -EINVAL);
	KUNIT_EXPECT_EQ(test, vhm_inject_msi(KVMID, 0xfee00000, 0x41), 0);
	KUNIT_EXPECT_EQ(test, vhm_inject_msi(KVMID + 1, 0xfee00000, 0x41), -EINVAL);

	acrn_ioreq_destroy_client(k.id);
	kthread_stop(k.thread);
	KUNIT_EXPECT_EQ(test, k.exit_ret, 1);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_attach_client(k.id, false), -EINVAL);
	KUNIT_EXPECT_EQ(test, vhm_sim_destroy_vm(KVMID), 0);
}

static void vhm_sim_kunit_memory(struct kunit *test)
{
	struct kclient k = {};
	u8 data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	u64 wp = 0;
	u8 *ram;

	create_vm(test, KVMID);
	ram = map_guest_phys(KVMID, 0, KRAM);
	KUNIT_ASSERT_NOT_NULL(test, ram);
	KUNIT_EXPECT_NULL(test, map_guest_phys(KVMID, KRAM - 1, 2));
	KUNIT_EXPECT_NULL(test, map_guest_phys(KVMID, 0, 0));
	KUNIT_EXPECT_NULL(test, map_guest_phys(KVMID + 1, 0, 1));
	KUNIT_EXPECT_EQ(test, unmap_guest_phys(KVMID, 0), 0);
	KUNIT_EXPECT_EQ(test, vhm_vm_gpa2hpa(KVMID, 0x1234),
			PFN_PHYS(vmalloc_to_pfn(ram + 0x1000)) + 0x234);
	KUNIT_EXPECT_EQ(test, vhm_vm_gpa2hpa(KVMID, KRAM), ~0UL);

	/* Memory regions (the aperture). */
	KUNIT_EXPECT_EQ(test, add_memory_region(KVMID, 0x200000, 0x80000000, 0x10000,
						MEM_TYPE_UC, MEM_ACCESS_RWX), 0);
	KUNIT_EXPECT_EQ(test, add_memory_region(KVMID, 0x208000, 0x90000000, 0x10000,
						MEM_TYPE_UC, MEM_ACCESS_RWX), -EEXIST);
	KUNIT_EXPECT_EQ(test, add_memory_region(KVMID, 0, 0x90000000, 0x1000,
						MEM_TYPE_UC, MEM_ACCESS_RWX), -EINVAL);
	KUNIT_EXPECT_EQ(test, add_memory_region(KVMID, 0x300000, 0x90000000, 0x1000,
						MEM_TYPE_UC | MEM_TYPE_WB, MEM_ACCESS_RWX), -EINVAL);
	KUNIT_EXPECT_EQ(test, add_memory_region(KVMID, 0x300800, 0x90000000, 0x1000,
						MEM_TYPE_UC, MEM_ACCESS_RWX), -EINVAL);
	KUNIT_EXPECT_EQ(test, vhm_vm_gpa2hpa(KVMID, 0x200010), 0x80000010UL);
	KUNIT_EXPECT_EQ(test, del_memory_region(KVMID, 0x200000, 0x1000), -EINVAL);
	KUNIT_EXPECT_EQ(test, del_memory_region(KVMID, 0x200000, 0x10000), 0);
	KUNIT_EXPECT_EQ(test, del_memory_region(KVMID, 0x200000, 0x10000), -ENOENT);
	KUNIT_EXPECT_EQ(test, vhm_vm_gpa2hpa(KVMID, 0x200010), ~0UL);

	/* Stores: plain, then to a protected page tracked by a client that commits them. */
	KUNIT_EXPECT_EQ(test, vhm_sim_store(KVMID, 0, 0x4000, data, 8, &wp), 0);
	KUNIT_EXPECT_EQ(test, wp, 0ULL);
	KUNIT_EXPECT_MEMEQ(test, ram + 0x4000, data, 8);
	kclient_start(test, &k, KVMID, true);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_add_iorange(k.id, REQ_WP, 0x3000, 0x3fff), 0);
	KUNIT_EXPECT_EQ(test, write_protect_page(KVMID, 0x3000, 1), 0);
	KUNIT_EXPECT_EQ(test, write_protect_page(KVMID, KRAM, 1), -EINVAL);
	/* 8 bytes at 0x3006 are three naturally aligned stores: 2 + 4 + 2. */
	KUNIT_EXPECT_EQ(test, vhm_sim_store(KVMID, 1, 0x3006, data, 8, &wp), 0);
	KUNIT_EXPECT_EQ(test, wp, 3ULL);
	KUNIT_EXPECT_MEMEQ(test, ram + 0x3006, data, 8);
	KUNIT_EXPECT_EQ(test, atomic_read(&k.handled), 3);
	/* Across the boundary: 4 bytes copied, one 4-byte REQ_WP. */
	KUNIT_EXPECT_EQ(test, vhm_sim_store(KVMID, 0, 0x2ffc, data, 8, &wp), 0);
	KUNIT_EXPECT_EQ(test, wp, 1ULL);
	KUNIT_EXPECT_MEMEQ(test, ram + 0x2ffc, data, 8);
	KUNIT_EXPECT_EQ(test, vhm_sim_store(KVMID, 0, KRAM - 4, data, 8, &wp), -EFAULT);
	KUNIT_EXPECT_EQ(test, write_protect_page(KVMID, 0x3000, 0), 0);
	KUNIT_EXPECT_EQ(test, vhm_sim_store(KVMID, 0, 0x3000, data, 8, &wp), 0);
	KUNIT_EXPECT_EQ(test, wp, 0ULL);
	KUNIT_EXPECT_EQ(test, atomic_read(&k.handled), 4);

	/* The VM goes away under its client: the thread is told, the memory stays referenced. */
	{
		struct vhm_vm *vm = find_get_vm(KVMID);
		int i;

		KUNIT_ASSERT_NOT_NULL(test, vm);
		KUNIT_EXPECT_EQ(test, vhm_sim_destroy_vm(KVMID), 0);
		/*
		 * A liveness bound, not a speed goal: under TCG on a loaded machine, 1 s and then
		 * 5 s were once too short for the client thread to be scheduled.
		 */
		for (i = 0; i < 1500 && !READ_ONCE(k.exit_ret); i++)
			msleep(20);
		KUNIT_EXPECT_EQ(test, READ_ONCE(k.exit_ret), 1);
		KUNIT_EXPECT_NULL(test, find_get_vm(KVMID));
		KUNIT_EXPECT_NULL(test, map_guest_phys(KVMID, 0, 1));
		KUNIT_EXPECT_EQ(test, vhm_sim_store(KVMID, 0, 0, data, 8, &wp), -ENOENT);
		acrn_ioreq_destroy_client(k.id);
		kthread_stop(k.thread);
		put_vm(vm);
	}
}

struct raiser {
	u32 dev;
	u32 timeout_ms;
	int ret;
	struct completion done;
};

static int raiser_thread(void *data)
{
	struct raiser *r = data;
	u64 v = 0;

	r->ret = raise(KVMID, REQ_PCICFG, REQUEST_READ, 0, 4, &v, r->dev, r->timeout_ms);
	complete(&r->done);
	return 0;
}

static void vhm_sim_kunit_teardown(struct kunit *test)
{
	struct kclient mute = {};
	struct raiser r = { .dev = 5, .timeout_ms = 10000 };
	struct task_struct *t;
	u64 v = 0;

	create_vm(test, KVMID);
	/* A client without a thread: its requests are never completed. */
	kclient_start(test, &mute, KVMID, false);
	acrn_ioreq_intercept_bdf(mute.id, 0, 5, 0);
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_PCICFG, REQUEST_READ, 0, 4, &v, 5, 50), -ETIMEDOUT);
	/* The slot is free again, and the late completion is refused. */
	KUNIT_EXPECT_EQ(test, acrn_ioreq_complete_request(mute.id, 0, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_PCICFG, REQUEST_READ, 0, 4, &v, 5, 50), -ETIMEDOUT);

	/* Destroying the client fails the request in flight with ENODEV. */
	init_completion(&r.done);
	t = kthread_run(raiser_thread, &r, "vhm_sim_kunit_raise");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	msleep(100);
	KUNIT_EXPECT_EQ(test, READ_ONCE(mute.buf[0].processed), REQ_STATE_PROCESSING);
	acrn_ioreq_destroy_client(mute.id);
	KUNIT_EXPECT_GT(test, wait_for_completion_timeout(&r.done, 5 * HZ), 0UL);
	KUNIT_EXPECT_EQ(test, r.ret, -ENODEV);
	KUNIT_EXPECT_EQ(test, READ_ONCE(mute.buf[0].processed), REQ_STATE_FAILED);
	KUNIT_EXPECT_EQ(test, raise(KVMID, REQ_PCICFG, REQUEST_READ, 0, 4, &v, 5, 50), -ENODEV);

	/* And destroying the VM fails one in flight the same way. */
	kclient_start(test, &mute, KVMID, false);
	acrn_ioreq_intercept_bdf(mute.id, 0, 5, 0);
	reinit_completion(&r.done);
	t = kthread_run(raiser_thread, &r, "vhm_sim_kunit_raise");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	msleep(100);
	KUNIT_EXPECT_EQ(test, vhm_sim_destroy_vm(KVMID), 0);
	KUNIT_EXPECT_GT(test, wait_for_completion_timeout(&r.done, 5 * HZ), 0UL);
	KUNIT_EXPECT_EQ(test, r.ret, -ENODEV);
	acrn_ioreq_destroy_client(mute.id);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_create_client(KVMID, NULL, "late"), -EINVAL);
	KUNIT_EXPECT_EQ(test, acrn_ioreq_create_client(KVMID, (ioreq_handler_t)1, "h"), -EOPNOTSUPP);
}

static struct kunit_case vhm_sim_cases[] = {
	KUNIT_CASE(vhm_sim_kunit_requests),
	KUNIT_CASE(vhm_sim_kunit_memory),
	KUNIT_CASE(vhm_sim_kunit_teardown),
	{}
};

static struct kunit_suite vhm_sim_suite = {
	.name = "vhm_sim",
	.test_cases = vhm_sim_cases,
};
kunit_test_suite(vhm_sim_suite);
