/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vhm_sim.ko's own entry points beside the VHM API, as the ioctls use them and the KUnit
 * suite (vhm_sim_kunit.c, linked into the module) calls them with kernel memory.
 */
#ifndef _VHM_SIM_H
#define _VHM_SIM_H

#include <linux/fs.h>
#include "vhm_sim_uapi.h"

/* VHM_SIM_CREATE_VM; owner is the file whose release destroys the VM (may be NULL). */
int vhm_sim_create_vm(const struct vhm_sim_vm_create *args, struct file *owner);
/* VHM_SIM_DESTROY_VM. */
int vhm_sim_destroy_vm(u32 vmid);
/* VHM_SIM_REQUEST: validates q, raises it and waits; q->value/q->client hold the answer. */
int vhm_sim_raise(struct vhm_sim_request *q);
/* VHM_SIM_MEM_WRITE from kernel memory. */
int vhm_sim_store(u32 vmid, u32 vcpu, u64 gpa, const void *buf, u32 len, u64 *wp_requests);

#endif /* _VHM_SIM_H */
