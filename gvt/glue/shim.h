/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gvt.ko's internal C <-> Rust contract: C functions Rust calls (declared again in
 * gvt/glue/ffi.rs) and Rust functions the C files call. The MPT ABI exported to backends is in
 * include/gvt/mpt.h.
 */
#ifndef _GVT_SHIM_H
#define _GVT_SHIM_H

#include <linux/types.h>

struct device;

/* shim.c: vzalloc()/vfree() are macros (allocation tagging) Rust cannot call. */
void *gvt_vzalloc(size_t size);
void gvt_vfree(void *p);

/* gvt/hosts/sim/sim_device.c */
int gvt_sim_register(struct device **dev);
void gvt_sim_unregister(struct device *dev);

#endif /* _GVT_SHIM_H */
