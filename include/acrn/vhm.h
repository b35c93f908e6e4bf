/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The ACRN VHM (Virtio and Hypervisor service Module) API that acrngt.ko calls, as the ACRN
 * GVT-g documentation describes it (shared/seeds/000_*.txt, "VHM APIs called from AcrnGT"),
 * with the request layout of ACRN's acrn_common.h. Mainline's ACRN HSM exports none of this; on
 * an ACRN Service VM kernel the VHM module provides it, and in gvt-rs's tests the simulated VHM
 * (tools/testing/vhm_sim) does.
 */
#ifndef _ACRN_VHM_H
#define _ACRN_VHM_H

#include <linux/types.h>

/* Request types. */
#define REQ_PORTIO	0U
#define REQ_MMIO	1U
#define REQ_PCICFG	2U
#define REQ_WP		3U	/* a write to a write-protected guest page; not performed */

#define REQUEST_READ	0U
#define REQUEST_WRITE	1U

/* vhm_request.processed */
#define REQ_STATE_PENDING	0
#define REQ_STATE_SUCCESS	1
#define REQ_STATE_PROCESSING	2
#define REQ_STATE_FAILED	-1

/* One request buffer slot per vCPU. */
#define VHM_REQUEST_MAX	16

struct mmio_request {
	__u32 direction;
	__u32 reserved;
	__u64 address;
	__u64 size;
	__u64 value;
} __aligned(8);

struct pio_request {
	__u32 direction;
	__u32 reserved;
	__u64 address;
	__u64 size;
	__u32 value;
} __aligned(8);

struct pci_request {
	__u32 direction;
	__u32 reserved[3];
	__s64 size;
	__s32 value;
	__s32 bus;
	__s32 dev;
	__s32 func;
	__s32 reg;
} __aligned(8);

union vhm_io_request {
	struct pio_request pio;
	struct pci_request pci;
	struct mmio_request mmio;
	__s64 reserved1[8];
};

struct vhm_request {
	__u32 type;			/* REQ_* */
	__u32 reserved0[15];
	union vhm_io_request reqs;
	__s32 client;			/* the client the request was distributed to */
	__s32 processed;		/* REQ_STATE_* */
} __aligned(256);

struct vm_info {
	int max_vcpu;			/* vCPUs, so request buffer slots in use */
	int max_gfn;
};

struct vhm_vm;

/* Client thread context: pass a NULL handler and call acrn_ioreq_attach_client() per batch. */
typedef int (*ioreq_handler_t)(int client_id, int req);

struct vhm_vm *find_get_vm(unsigned long vmid);
void put_vm(struct vhm_vm *vm);
int vhm_get_vm_info(unsigned long vmid, struct vm_info *info);
int vhm_inject_msi(unsigned long vmid, unsigned long msi_addr, unsigned long msi_data);
unsigned long vhm_vm_gpa2hpa(unsigned long vmid, unsigned long gpa);

int acrn_ioreq_create_client(unsigned long vmid, ioreq_handler_t handler, char *name);
void acrn_ioreq_destroy_client(int client_id);
int acrn_ioreq_add_iorange(int client_id, uint32_t type, long start, long end);
int acrn_ioreq_del_iorange(int client_id, uint32_t type, long start, long end);
struct vhm_request *acrn_ioreq_get_reqbuf(int client_id);
int acrn_ioreq_attach_client(int client_id, bool check_kthread_stop);
int acrn_ioreq_complete_request(int client_id, uint64_t vcpu, struct vhm_request *vhm_req);
void acrn_ioreq_intercept_bdf(int client_id, int bus, int dev, int func);
void acrn_ioreq_unintercept_bdf(int client_id);

void *map_guest_phys(unsigned long vmid, u64 uos_phys, size_t size);
int unmap_guest_phys(unsigned long vmid, u64 uos_phys);

#define MEM_TYPE_WB		0x0040U
#define MEM_TYPE_WT		0x0080U
#define MEM_TYPE_UC		0x0100U
#define MEM_TYPE_WC		0x0200U
#define MEM_TYPE_WP		0x0400U
#define MEM_ACCESS_READ		0x0001U
#define MEM_ACCESS_WRITE	0x0002U
#define MEM_ACCESS_EXEC		0x0004U
#define MEM_ACCESS_RWX		(MEM_ACCESS_READ | MEM_ACCESS_WRITE | MEM_ACCESS_EXEC)

int add_memory_region(unsigned long vmid, unsigned long gpa, unsigned long host_gpa,
		      unsigned long size, unsigned int mem_type, unsigned int mem_access_right);
int del_memory_region(unsigned long vmid, unsigned long gpa, unsigned long size);
int write_protect_page(unsigned long vmid, unsigned long gpa, unsigned char set);

#endif /* _ACRN_VHM_H */
