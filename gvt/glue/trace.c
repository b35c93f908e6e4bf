// SPDX-License-Identifier: GPL-2.0-only
/*
 * gvt.ko's tracepoints (gvt/glue/trace.h) and the functions Rust calls to fire them
 * (declared in shim.h and gvt/glue/ffi.rs, used through gvt/glue/trace.rs). A wrapper costs
 * the call and the tracepoint's static branch while its event is disabled; the *_enabled()
 * functions let the glue skip gathering fields nobody records.
 */
#include <linux/trace_events.h>
#define CREATE_TRACE_POINTS
#include "trace.h"
#include "shim.h"

void gvt_trace_mmio_trap(u32 id, u64 offset, u32 bytes, bool write, u64 value, int ret)
{
	trace_mmio_trap(id, offset, bytes, write, value, ret);
}

void gvt_trace_workload_submit(u32 id, u32 engine, u32 tag, u64 context, u64 ring, u32 ring_len,
			       int ret)
{
	trace_workload_submit(id, engine, tag, context, ring, ring_len, ret);
}

void gvt_trace_workload_complete(u32 id, u32 engine, u32 tag, bool hang, int ret)
{
	trace_workload_complete(id, engine, tag, hang, ret);
}

void gvt_trace_gvt_command(u32 id, u32 engine, u32 ring_bytes, int result, u32 user_interrupts,
			   s64 stop_at, const char *command, u32 command_len, u32 header, u32 at)
{
	trace_gvt_command(id, engine, ring_bytes, result, user_interrupts, stop_at, command,
			  command_len, header, at);
}

bool gvt_trace_write_ir_enabled(void)
{
	return trace_write_ir_enabled();
}

void gvt_trace_write_ir(u32 id, u32 reg, u32 written, u32 old, u32 new)
{
	trace_write_ir(id, reg, written, old, new);
}

void gvt_trace_propagate_event(u32 id, u32 iir, u32 bit)
{
	trace_propagate_event(id, iir, bit);
}

void gvt_trace_inject_msi(u32 id, u64 address, u32 data, int ret)
{
	trace_inject_msi(id, address, data, ret);
}

bool gvt_trace_render_mmio_enabled(void)
{
	return trace_render_mmio_enabled();
}

void gvt_trace_render_mmio(u32 old_owner, u32 new_owner, u32 engine, u32 reg, u32 value)
{
	trace_render_mmio(old_owner, new_owner, engine, reg, value);
}

/* Whether any event the glue derives from the core's records and registers is on. */
bool gvt_trace_state_enabled(void)
{
	return trace_spt_alloc_enabled() || trace_spt_free_enabled() ||
	       trace_spt_guest_change_enabled() || trace_spt_change_enabled() ||
	       trace_oos_change_enabled() || trace_oos_sync_enabled() ||
	       trace_spt_dropped_enabled() || trace_propagate_event_enabled();
}

#define GVT_SPT_EVENT(name)                                                            \
	void gvt_trace_##name(u32 id, u32 slot, u32 level, u64 gfn, u64 arg)         \
	{                                                                              \
		trace_##name(id, slot, level, gfn, arg);                               \
	}
GVT_SPT_EVENT(spt_alloc)
GVT_SPT_EVENT(spt_free)
GVT_SPT_EVENT(spt_guest_change)
GVT_SPT_EVENT(spt_change)
GVT_SPT_EVENT(oos_change)
GVT_SPT_EVENT(oos_sync)

void gvt_trace_spt_dropped(u32 id, u64 count)
{
	trace_spt_dropped(id, count);
}

/* The KUnit trap bench turns mmio_trap on and off as `echo 1 > .../enable` would. */
int gvt_trace_set_mmio_trap(bool on)
{
#ifdef CONFIG_EVENT_TRACING
	return trace_set_clr_event("gvt", "mmio_trap", on);
#else
	return -ENODEV;
#endif
}
