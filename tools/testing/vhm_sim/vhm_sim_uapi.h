/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * /dev/vhm_sim: the user-space control interface of the simulated ACRN VHM (vhm_sim.ko).
 *
 * A test client plays ACRN-DM and the guest's vCPUs: it creates a VM (guest RAM, vCPUs, a
 * request buffer), raises ioreqs as the hypervisor would on a vCPU's trapped access, reads and
 * writes guest RAM (a write to a write-protected page is routed as a REQ_WP ioreq, like a
 * vCPU's store under EPT write protection), and takes the MSIs the in-kernel client injected.
 *
 * Every argument struct starts with `version`, which must be VHM_SIM_UAPI_VERSION (else the
 * ioctl fails with EPROTO). Reserved and padding fields must be zero (else EINVAL). A VM belongs
 * to the file that created it and is destroyed when that file is closed.
 *
 * Errors common to all ioctls: EFAULT (bad user pointer), EPROTO (version), EINVAL (a field out
 * of range), ENOENT (no VM with that vmid), ENOTTY (unknown ioctl).
 */
#ifndef _VHM_SIM_UAPI_H
#define _VHM_SIM_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define VHM_SIM_UAPI_VERSION	1U

#define VHM_SIM_MAX_VMID	0xffffU		/* vmids are 1..65535 */
#define VHM_SIM_MAX_VCPUS	16U		/* VHM_REQUEST_MAX */
#define VHM_SIM_MAX_RAM		(256ULL << 20)	/* RAM is 1 page .. 256 MiB, whole pages */
#define VHM_SIM_MAX_MEM_IO	(1U << 20)	/* one MEM_READ/MEM_WRITE moves at most 1 MiB */
#define VHM_SIM_DEFAULT_TIMEOUT_MS	5000U	/* timeout_ms == 0 */
#define VHM_SIM_MAX_TIMEOUT_MS	60000U

/*
 * VHM_SIM_CREATE_VM: a VM with ram_size bytes of zeroed guest RAM at GPA 0 and vcpus vCPUs.
 * EEXIST if vmid exists, ENOMEM.
 */
struct vhm_sim_vm_create {
	__u32 version;
	__u32 vmid;
	__u32 vcpus;		/* 1..VHM_SIM_MAX_VCPUS */
	__u32 flags;		/* 0 */
	__u64 ram_size;
};

/*
 * VHM_SIM_DESTROY_VM: destroys a VM: its ioreq clients are destroyed (their threads see
 * acrn_ioreq_attach_client() return 1), requests in flight fail with ENODEV, later lookups of the
 * vmid fail. Guest RAM lives on while an in-kernel user still holds find_get_vm()'s reference.
 */
struct vhm_sim_vm_id {
	__u32 version;
	__u32 vmid;
};

/* VHM_SIM_VM_INFO: what the in-kernel side has set up on a VM (leak and state checks). */
struct vhm_sim_vm_info {
	__u32 version;
	__u32 vmid;
	/* out */
	__u64 ram_size;
	__u32 vcpus;
	__u32 clients;		/* ioreq clients */
	__u32 ranges;		/* ioranges of all clients, any type */
	__u32 bdf_intercepts;	/* clients intercepting a BDF */
	__u32 wp_pages;		/* write-protected pages */
	__u32 regions;		/* add_memory_region() regions */
	__u32 msi_queued;	/* MSIs not yet taken by VHM_SIM_WAIT_MSI */
	__u32 refs;		/* references on the VM (1 for the creating file) */
	__u64 msi_total;	/* MSIs injected since creation */
	__u64 requests;		/* ioreqs distributed to a client since creation */
};

/* vhm_sim_request.flags */
#define VHM_SIM_REQ_UNCHECKED	0x1U	/* deliver any size (a hostile hypervisor) */

/*
 * VHM_SIM_REQUEST: vCPU vcpu traps; the ioreq goes into its request-buffer slot and to the
 * client that claims it (REQ_PCICFG: intercepted bus/dev/func; REQ_MMIO, REQ_PORTIO, REQ_WP: the
 * client with an iorange of that type covering [address, address + size - 1]). The call blocks
 * until the client completes it and returns the value (reads) in `value`.
 * size: 1, 2, 4 (and 8 for MMIO/WP) unless VHM_SIM_REQ_UNCHECKED; PCICFG: bus 0..255, dev 0..31,
 * func 0..7, reg 0..4095 with reg + size <= 4096; other types: address + size must not wrap and
 * bus/dev/func/reg must be 0.
 * Errors: ENODEV no client claims it (ACRN-DM would handle it), or its client was destroyed
 * while it was in flight; EIO the client completed it with REQ_STATE_FAILED; ETIMEDOUT the
 * client did not complete it in time; EBUSY another request of this vCPU is in flight; EINTR.
 */
struct vhm_sim_request {
	__u32 version;
	__u32 vmid;
	__u32 vcpu;
	__u32 type;		/* REQ_PORTIO, REQ_MMIO, REQ_PCICFG, REQ_WP */
	__u32 direction;	/* REQUEST_READ, REQUEST_WRITE */
	__u32 size;
	__u64 address;		/* MMIO/PORTIO/WP; 0 for PCICFG */
	__u64 value;		/* in: written value; out: read value */
	__s32 bus;
	__s32 dev;
	__s32 func;
	__s32 reg;
	__u32 timeout_ms;	/* 0: VHM_SIM_DEFAULT_TIMEOUT_MS; at most VHM_SIM_MAX_TIMEOUT_MS */
	__u32 flags;
	__u32 client;		/* out: the client id that completed it */
	__u32 reserved;
};

/*
 * VHM_SIM_MEM_READ / VHM_SIM_MEM_WRITE: len bytes of guest RAM at gpa from/to the user buffer
 * at buf. A read is a plain copy. A write copies into unprotected pages and, for the bytes in
 * write-protected pages, raises REQ_WP ioreqs from vCPU vcpu (naturally aligned pieces of 8, 4,
 * 2 or 1 bytes, as a vCPU's stores); VHM does not perform those, the client commits them.
 * EFAULT: the range is not inside guest RAM; E2BIG: len > VHM_SIM_MAX_MEM_IO; the REQUEST
 * errors for the REQ_WP part (bytes before the failing piece have been written).
 */
struct vhm_sim_mem {
	__u32 version;
	__u32 vmid;
	__u32 vcpu;		/* for REQ_WP requests */
	__u32 timeout_ms;	/* per REQ_WP request, as for VHM_SIM_REQUEST */
	__u64 gpa;
	__u64 len;		/* 1..VHM_SIM_MAX_MEM_IO */
	__u64 buf;		/* user pointer */
	__u64 wp_requests;	/* out: REQ_WP requests raised (MEM_WRITE) */
};

/*
 * VHM_SIM_WAIT_MSI: takes the oldest MSI injected into the VM (vhm_inject_msi), waiting up to
 * timeout_ms (0: do not wait). ETIMEDOUT if none came. The log keeps the last
 * VHM_SIM_MSI_LOG MSIs; older ones are dropped and counted.
 */
#define VHM_SIM_MSI_LOG	64U
struct vhm_sim_msi {
	__u32 version;
	__u32 vmid;
	__u32 timeout_ms;	/* at most VHM_SIM_MAX_TIMEOUT_MS */
	__u32 reserved;
	/* out (in for VHM_SIM_INJECT_MSI) */
	__u64 addr;
	__u64 data;
	__u64 dropped;		/* out: MSIs dropped from a full log so far */
};

/*
 * VHM_SIM_WRITE_PROTECT: write_protect_page() from user space, as the hypervisor's EPT would
 * be set up by a client: for testing REQ_WP routing without one. gpa must be inside guest RAM.
 */
struct vhm_sim_wp {
	__u32 version;
	__u32 vmid;
	__u64 gpa;
	__u32 set;		/* 0 or 1 */
	__u32 reserved;
};

#define VHM_SIM_IOC_MAGIC	0xA3
#define VHM_SIM_GET_VERSION	_IOR(VHM_SIM_IOC_MAGIC, 0x00, __u32)
#define VHM_SIM_CREATE_VM	_IOW(VHM_SIM_IOC_MAGIC, 0x01, struct vhm_sim_vm_create)
#define VHM_SIM_DESTROY_VM	_IOW(VHM_SIM_IOC_MAGIC, 0x02, struct vhm_sim_vm_id)
#define VHM_SIM_VM_INFO		_IOWR(VHM_SIM_IOC_MAGIC, 0x03, struct vhm_sim_vm_info)
#define VHM_SIM_REQUEST		_IOWR(VHM_SIM_IOC_MAGIC, 0x04, struct vhm_sim_request)
#define VHM_SIM_MEM_READ	_IOWR(VHM_SIM_IOC_MAGIC, 0x05, struct vhm_sim_mem)
#define VHM_SIM_MEM_WRITE	_IOWR(VHM_SIM_IOC_MAGIC, 0x06, struct vhm_sim_mem)
#define VHM_SIM_WAIT_MSI	_IOWR(VHM_SIM_IOC_MAGIC, 0x07, struct vhm_sim_msi)
/* The hypervisor's side of an MSI, for testing the log without a client: addr, data in. */
#define VHM_SIM_INJECT_MSI	_IOW(VHM_SIM_IOC_MAGIC, 0x08, struct vhm_sim_msi)

#define VHM_SIM_WRITE_PROTECT	_IOW(VHM_SIM_IOC_MAGIC, 0x09, struct vhm_sim_wp)

#endif /* _VHM_SIM_UAPI_H */
