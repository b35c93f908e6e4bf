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

/* shim.c: the plane ownership parameters, and the display clock. */
const char *gvt_param_domain_plane_owners(size_t *len);
const char *gvt_param_avail_planes_per_pipe(size_t *len);
struct gvt_clock;
struct gvt_clock *gvt_clock_create(void (*fn)(void *data), void *data);
void gvt_clock_arm(struct gvt_clock *c, u64 delay_ns);
void gvt_clock_rearm(struct gvt_clock *c, u64 delay_ns);
void gvt_clock_destroy(struct gvt_clock *c);

/* gvt/hosts/sim/sim_device.c */
int gvt_sim_register(struct device **dev);
void gvt_sim_unregister(struct device *dev);
int gvt_sim_pages_alloc(u32 pages, u64 *addr);
void gvt_sim_pages_free(u64 addr, u32 pages);
bool gvt_sim_mem_rw(u64 addr, void *buf, size_t len, bool write);
struct gvt_sim_worker;
struct gvt_sim_worker *gvt_sim_worker_create(void (*fn)(void *data), void *data);
void gvt_sim_worker_kick(struct gvt_sim_worker *w);
void gvt_sim_worker_flush(struct gvt_sim_worker *w);
void gvt_sim_worker_destroy(struct gvt_sim_worker *w);

#endif /* _GVT_SHIM_H */
