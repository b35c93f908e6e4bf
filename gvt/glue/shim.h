/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gvt.ko's internal C <-> Rust contract: C functions Rust calls and Rust functions the C files
 * call. Kbuild generates the Rust side from this header (gvt/glue/ffi.rs includes it). The MPT
 * ABI exported to backends is in include/gvt/mpt.h.
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
const char *gvt_sim_param_platform(size_t *len);
struct gvt_clock;
struct gvt_clock *gvt_clock_create(void (*fn)(void *data), void *data);
void gvt_clock_arm(struct gvt_clock *c, u64 delay_ns);
void gvt_clock_rearm(struct gvt_clock *c, u64 delay_ns);
void gvt_clock_sync(struct gvt_clock *c);
void gvt_clock_destroy(struct gvt_clock *c);

/*
 * shim.c: /sys/kernel/debug/gvt/ (gvt/glue/debugfs.rs). Creation returns null rather than an
 * error pointer: without debugfs there is simply no file.
 */
struct dentry;
struct seq_file;
struct dentry *gvt_debugfs_root_create(void);
struct dentry *gvt_debugfs_gpu_create(struct dentry *root, struct device *dev, void *gpu);
struct dentry *gvt_debugfs_vgpu_create(struct dentry *root, u32 id, void *vgpu);
void gvt_debugfs_remove(struct dentry *d);
int gvt_seq_write(struct seq_file *m, const void *p, size_t len);
/* Written in Rust (gvt/glue/debugfs.rs): shows a GPU's info file, a vGPU's files. */
int gvt_gpu_debugfs_show(void *gpu, struct seq_file *m);
#define GVT_DEBUGFS_STATS	0
#define GVT_DEBUGFS_STATUS	1
#define GVT_DEBUGFS_MMIO_DIFF	2
int gvt_vgpu_debugfs_show(void *vgpu, struct seq_file *m, int which);
/* Reads (set false) or writes the vGPU's scan_nonprivbb switch. */
int gvt_vgpu_debugfs_scan_nonprivbb(void *vgpu, u64 *val, bool set);

/*
 * gvt/glue/trace.c: gvt.ko's trace events (gvt/glue/trace.h), one function per event; the
 * *_enabled() ones say whether the event is on, for the glue to skip gathering its fields.
 */
void gvt_trace_mmio_trap(u32 id, u64 offset, u32 bytes, bool write, u64 value, int ret);
void gvt_trace_workload_submit(u32 id, u32 engine, u32 tag, u64 context, u64 ring, u32 ring_len,
			       int ret);
void gvt_trace_workload_complete(u32 id, u32 engine, u32 tag, bool hang, int ret);
void gvt_trace_gvt_command(u32 id, u32 engine, u32 ring_bytes, int result, u32 user_interrupts,
			   s64 stop_at, const char *command, u32 command_len, u32 header, u32 at);
bool gvt_trace_write_ir_enabled(void);
void gvt_trace_write_ir(u32 id, u32 reg, u32 written, u32 old, u32 new);
void gvt_trace_propagate_event(u32 id, u32 iir, u32 bit);
void gvt_trace_inject_msi(u32 id, u64 address, u32 data, int ret);
bool gvt_trace_render_mmio_enabled(void);
void gvt_trace_render_mmio(u32 old_owner, u32 new_owner, u32 engine, u32 reg, u32 value);
bool gvt_trace_state_enabled(void);
void gvt_trace_spt_alloc(u32 id, u32 slot, u32 level, u64 gfn, u64 arg);
void gvt_trace_spt_free(u32 id, u32 slot, u32 level, u64 gfn, u64 arg);
void gvt_trace_spt_guest_change(u32 id, u32 slot, u32 level, u64 gfn, u64 arg);
void gvt_trace_spt_change(u32 id, u32 slot, u32 level, u64 gfn, u64 arg);
void gvt_trace_oos_change(u32 id, u32 slot, u32 level, u64 gfn, u64 arg);
void gvt_trace_oos_sync(u32 id, u32 slot, u32 level, u64 gfn, u64 arg);
void gvt_trace_spt_dropped(u32 id, u64 count);
int gvt_trace_set_mmio_trap(bool on);

/* gvt/hosts/sim/sim_device.c */
int gvt_sim_register(struct device **dev);
void gvt_sim_unregister(struct device *dev);
int gvt_sim_pages_alloc(u32 pages, u64 *addr);
void gvt_sim_pages_free(u64 addr, u32 pages);
bool gvt_sim_mem_rw(u64 addr, void *buf, size_t len, bool write);
struct gvt_sim_worker;
struct gvt_sim_worker *gvt_sim_worker_create(void (*fn)(void *data), void *data);
void gvt_sim_worker_kick(struct gvt_sim_worker *w);
void gvt_sim_worker_rest(bool idle);
void gvt_sim_worker_flush(struct gvt_sim_worker *w);
void gvt_sim_worker_destroy(struct gvt_sim_worker *w);

/*
 * gvt/hosts/i915/i915_host.c: the i915 host (CONFIG_GVT_RS_I915). One struct gvt_i915 per
 * i915 device; gvt/glue/i915.rs uses the two structs below.
 */
#define GVT_I915_ENGINES	4		/* render, video, blitter, video enhancement */
#define GVT_I915_MAX_VGPUS	32		/* the core's MAX_VGPUS */
#define GVT_I915_MAX_FENCES	32
#define GVT_I915_CFG_SIZE	256
#define GVT_I915_MMIO_SIZE	(2u << 20)
/* Events recorded for the request in flight on an engine (gvt/hosts/i915/mod.rs, event). */
#define GVT_I915_EV_SIGNALED		(1u << 0)
#define GVT_I915_EV_ERROR		(1u << 1)
#define GVT_I915_EV_SWITCHED_OUT	(1u << 2)
#define GVT_I915_EV_SCHEDULED_IN	(1u << 3)

struct gvt_i915;

struct gvt_i915_facts {
	u64 bar0_size;
	u64 aperture_pa;
	u64 aperture_size;
	u64 ggtt_size;
	u64 scratch_pte;
	u32 fence_count;
	u16 vendor, device, subsystem_vendor, subsystem_device;
	u8 revision;
	u8 engines;			/* bit i: the core's engine i is present */
	u8 reserved[2];
};

struct gvt_i915_partition {
	u32 id;				/* the vGPU's id on this GPU */
	u32 fence_first;		/* the core's host fence indices */
	u32 fence_count;
	u32 reserved;
	u64 low_start, low_size;	/* graphics addresses */
	u64 high_start, high_size;
};

int gvt_i915_register(void);
void gvt_i915_unregister(void);
void gvt_i915_get_facts(struct gvt_i915 *gpu, struct gvt_i915_facts *facts);
const u8 *gvt_i915_cfg_snapshot(struct gvt_i915 *gpu);
int gvt_i915_mmio_snapshot(struct gvt_i915 *gpu, u32 *dst);
struct device *gvt_i915_dev(struct gvt_i915 *gpu);
void gvt_i915_put_dev(struct device *dev);
u64 gvt_i915_ggtt_read(struct gvt_i915 *gpu, u64 idx);
void gvt_i915_ggtt_write(struct gvt_i915 *gpu, u64 idx, u64 pte);
void gvt_i915_ggtt_flush(struct gvt_i915 *gpu);
void gvt_i915_fence_write(struct gvt_i915 *gpu, u32 idx, u64 value);
int gvt_i915_reserve(struct gvt_i915 *gpu, const struct gvt_i915_partition *p);
void gvt_i915_release(struct gvt_i915 *gpu, const struct gvt_i915_partition *p);
int gvt_i915_ggtt_map(struct gvt_i915 *gpu, u64 dma, u32 pages, u64 *gm);
void gvt_i915_ggtt_unmap(struct gvt_i915 *gpu, u64 gm);
u64 gvt_i915_ggtt_mapped(struct gvt_i915 *gpu);
void *gvt_i915_dma_alloc(struct gvt_i915 *gpu, size_t size, u64 *dma);
void gvt_i915_dma_free(struct gvt_i915 *gpu, size_t size, void *va, u64 dma);
int gvt_i915_aperture_rw(struct gvt_i915 *gpu, u64 gm, void *buf, u32 len, bool write);
u32 gvt_i915_mmio_read(struct gvt_i915 *gpu, u32 offset);
void gvt_i915_mmio_write(struct gvt_i915 *gpu, u32 offset, u32 value);
int gvt_i915_request_begin(struct gvt_i915 *gpu, u32 idx, void **state, size_t *state_len);
int gvt_i915_request_commit(struct gvt_i915 *gpu, u32 idx, const void *ring, u32 len, u32 dwords);
u32 gvt_i915_events(struct gvt_i915 *gpu, u32 idx);
int gvt_i915_context_state(struct gvt_i915 *gpu, u32 idx, void **state, size_t *state_len);
void gvt_i915_retire(struct gvt_i915 *gpu, u32 idx);
long gvt_i915_wait(struct gvt_i915 *gpu, u32 idx, u32 timeout_ms);
int gvt_i915_start(struct gvt_i915 *gpu, void (*fn)(void *data), void *data);
void gvt_i915_kick_worker(struct gvt_i915 *gpu);
void gvt_i915_flush_worker(struct gvt_i915 *gpu);
void gvt_i915_stop(struct gvt_i915 *gpu);
/* Written in Rust (gvt/glue/i915.rs): i915 gave gvt.ko a device / takes it back. */
int gvt_i915_device_added(struct gvt_i915 *gpu);
void gvt_i915_device_removed(struct gvt_i915 *gpu);

#endif /* _GVT_SHIM_H */
