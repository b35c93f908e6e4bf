/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gvt.ko's trace events (system "gvt"): the kernel's tracepoints, so tracefs, trace-cmd and
 * perf see them. Defined in C because the 6.12 kernel crate has no tracepoint support;
 * gvt/glue/trace.c creates them and wraps each in a function Rust calls
 * (gvt/glue/trace.rs). Names follow upstream GVT-g's (drivers/gpu/drm/i915/gvt/trace.h)
 * where the event is the same; upstream's kvmgt.ko, which defines those, never loads beside
 * gvt.ko. Documentation/gvt-rs.rst, "Trace events", lists the fields.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM gvt

#if !defined(_GVT_RS_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _GVT_RS_TRACE_H

#include <linux/tracepoint.h>
#include <linux/types.h>

/* A guest BAR0 access a backend forwarded (registers below 8 MiB, the GGTT above). */
TRACE_EVENT(mmio_trap,
	TP_PROTO(u32 id, u64 offset, u32 bytes, bool write, u64 value, int ret),
	TP_ARGS(id, offset, bytes, write, value, ret),
	TP_STRUCT__entry(
		__field(u32, id)
		__field(u64, offset)
		__field(u32, bytes)
		__field(bool, write)
		__field(u64, value)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->offset = offset;
		__entry->bytes = bytes;
		__entry->write = write;
		__entry->value = value;
		__entry->ret = ret;
	),
	TP_printk("vgpu%u %s offset 0x%llx bytes %u value 0x%llx ret %d",
		  __entry->id, __entry->write ? "write" : "read", __entry->offset,
		  __entry->bytes, __entry->value, __entry->ret)
);

/* A workload handed to the host GPU (engine: 0 rcs, 1 vcs, 2 bcs, 3 vecs). */
TRACE_EVENT(workload_submit,
	TP_PROTO(u32 id, u32 engine, u32 tag, u64 context, u64 ring, u32 ring_len, int ret),
	TP_ARGS(id, engine, tag, context, ring, ring_len, ret),
	TP_STRUCT__entry(
		__field(u32, id)
		__field(u32, engine)
		__field(u32, tag)
		__field(u64, context)
		__field(u64, ring)
		__field(u32, ring_len)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->engine = engine;
		__entry->tag = tag;
		__entry->context = context;
		__entry->ring = ring;
		__entry->ring_len = ring_len;
		__entry->ret = ret;
	),
	TP_printk("vgpu%u engine %u tag %u context 0x%llx ring 0x%llx ring_len %u ret %d",
		  __entry->id, __entry->engine, __entry->tag, __entry->context,
		  __entry->ring, __entry->ring_len, __entry->ret)
);

/* The host finished a workload; ret < 0: the core could not deliver the completion. */
TRACE_EVENT(workload_complete,
	TP_PROTO(u32 id, u32 engine, u32 tag, bool hang, int ret),
	TP_ARGS(id, engine, tag, hang, ret),
	TP_STRUCT__entry(
		__field(u32, id)
		__field(u32, engine)
		__field(u32, tag)
		__field(bool, hang)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->engine = engine;
		__entry->tag = tag;
		__entry->hang = hang;
		__entry->ret = ret;
	),
	TP_printk("vgpu%u engine %u tag %u %s ret %d", __entry->id, __entry->engine,
		  __entry->tag, __entry->hang ? "hang" : "done", __entry->ret)
);

/*
 * One workload's command scan (upstream's gvt_command, per workload rather than per
 * command): result 0 accepted, 1 refused (command, header and offset of the refused one),
 * negative the scanner's own error; stop_at is the offset of an invalid instruction the
 * ring stops at (-1 none).
 */
TRACE_EVENT(gvt_command,
	TP_PROTO(u32 id, u32 engine, u32 ring_bytes, int result, u32 user_interrupts,
		 s64 stop_at, const char *command, u32 command_len, u32 header, u32 at),
	TP_ARGS(id, engine, ring_bytes, result, user_interrupts, stop_at, command, command_len,
		header, at),
	TP_STRUCT__entry(
		__field(u32, id)
		__field(u32, engine)
		__field(u32, ring_bytes)
		__field(int, result)
		__field(u32, user_interrupts)
		__field(s64, stop_at)
		__string_len(command, command, command_len)
		__field(u32, header)
		__field(u32, at)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->engine = engine;
		__entry->ring_bytes = ring_bytes;
		__entry->result = result;
		__entry->user_interrupts = user_interrupts;
		__entry->stop_at = stop_at;
		__assign_str(command);
		__entry->header = header;
		__entry->at = at;
	),
	TP_printk("vgpu%u engine %u ring_bytes %u result %d user_interrupts %u stop_at %lld command %s header 0x%08x at 0x%x",
		  __entry->id, __entry->engine, __entry->ring_bytes, __entry->result,
		  __entry->user_interrupts, __entry->stop_at, __get_str(command),
		  __entry->header, __entry->at)
);

/* A guest write to an interrupt register (IMR, IIR, IER, master): its value before and after. */
TRACE_EVENT(write_ir,
	TP_PROTO(u32 id, u32 reg, u32 written, u32 old, u32 new),
	TP_ARGS(id, reg, written, old, new),
	TP_STRUCT__entry(
		__field(u32, id)
		__field(u32, reg)
		__field(u32, written)
		__field(u32, old)
		__field(u32, new)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->reg = reg;
		__entry->written = written;
		__entry->old = old;
		__entry->new = new;
	),
	TP_printk("vgpu%u write reg 0x%x value 0x%08x: old 0x%08x new 0x%08x changed 0x%08x",
		  __entry->id, __entry->reg, __entry->written, __entry->old, __entry->new,
		  __entry->old ^ __entry->new)
);

/* An interrupt event the device model raised: bit `bit` of the IIR at `iir` got set. */
TRACE_EVENT(propagate_event,
	TP_PROTO(u32 id, u32 iir, u32 bit),
	TP_ARGS(id, iir, bit),
	TP_STRUCT__entry(
		__field(u32, id)
		__field(u32, iir)
		__field(u32, bit)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->iir = iir;
		__entry->bit = bit;
	),
	TP_printk("vgpu%u set bit %u of iir 0x%x", __entry->id, __entry->bit, __entry->iir)
);

/* An MSI handed to the backend for the guest. */
TRACE_EVENT(inject_msi,
	TP_PROTO(u32 id, u64 address, u32 data, int ret),
	TP_ARGS(id, address, data, ret),
	TP_STRUCT__entry(
		__field(u32, id)
		__field(u64, address)
		__field(u32, data)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->address = address;
		__entry->data = data;
		__entry->ret = ret;
	),
	TP_printk("vgpu%u inject msi address 0x%llx data 0x%x ret %d", __entry->id,
		  __entry->address, __entry->data, __entry->ret)
);

/* One engine register written by the render MMIO switch (owner 0: the host). */
TRACE_EVENT(render_mmio,
	TP_PROTO(u32 old_owner, u32 new_owner, u32 engine, u32 reg, u32 value),
	TP_ARGS(old_owner, new_owner, engine, reg, value),
	TP_STRUCT__entry(
		__field(u32, old_owner)
		__field(u32, new_owner)
		__field(u32, engine)
		__field(u32, reg)
		__field(u32, value)
	),
	TP_fast_assign(
		__entry->old_owner = old_owner;
		__entry->new_owner = new_owner;
		__entry->engine = engine;
		__entry->reg = reg;
		__entry->value = value;
	),
	TP_printk("owner %u -> %u engine %u reg 0x%x value 0x%08x", __entry->old_owner,
		  __entry->new_owner, __entry->engine, __entry->reg, __entry->value)
);

/*
 * The shadow PPGTT, one event per table: its slot in the vGPU's storage, its level (4 = PML4)
 * and the guest frame it mirrors (the core records them, the glue reports them after each
 * trap, page-track write and workload event).
 */
DECLARE_EVENT_CLASS(gvt_spt,
	TP_PROTO(u32 id, u32 slot, u32 level, u64 gfn, u64 arg),
	TP_ARGS(id, slot, level, gfn, arg),
	TP_STRUCT__entry(
		__field(u32, id)
		__field(u32, slot)
		__field(u32, level)
		__field(u64, gfn)
		__field(u64, arg)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->slot = slot;
		__entry->level = level;
		__entry->gfn = gfn;
		__entry->arg = arg;
	),
	TP_printk("vgpu%u slot %u level %u gfn 0x%llx arg 0x%llx", __entry->id, __entry->slot,
		  __entry->level, __entry->gfn, __entry->arg)
);
/* A shadow table built (arg: the shadow page's host address). */
DEFINE_EVENT_PRINT(gvt_spt, spt_alloc,
	TP_PROTO(u32 id, u32 slot, u32 level, u64 gfn, u64 arg),
	TP_ARGS(id, slot, level, gfn, arg),
	TP_printk("vgpu%u slot %u level %u gfn 0x%llx shadow 0x%llx", __entry->id, __entry->slot,
		  __entry->level, __entry->gfn, __entry->arg));
/* A shadow table torn down. */
DEFINE_EVENT_PRINT(gvt_spt, spt_free,
	TP_PROTO(u32 id, u32 slot, u32 level, u64 gfn, u64 arg),
	TP_ARGS(id, slot, level, gfn, arg),
	TP_printk("vgpu%u slot %u level %u gfn 0x%llx shadow 0x%llx", __entry->id, __entry->slot,
		  __entry->level, __entry->gfn, __entry->arg));
/* A trapped guest write to a shadowed table (arg: its offset in the page). */
DEFINE_EVENT_PRINT(gvt_spt, spt_guest_change,
	TP_PROTO(u32 id, u32 slot, u32 level, u64 gfn, u64 arg),
	TP_ARGS(id, slot, level, gfn, arg),
	TP_printk("vgpu%u slot %u level %u gfn 0x%llx write at 0x%llx", __entry->id, __entry->slot,
		  __entry->level, __entry->gfn, __entry->arg));
/* An untracked table re-read before a submission, with entries changed. */
DEFINE_EVENT_PRINT(gvt_spt, spt_change,
	TP_PROTO(u32 id, u32 slot, u32 level, u64 gfn, u64 arg),
	TP_ARGS(id, slot, level, gfn, arg),
	TP_printk("vgpu%u slot %u level %u gfn 0x%llx reread, %llu entries changed", __entry->id, __entry->slot,
		  __entry->level, __entry->gfn, __entry->arg));
/* A table's write protection lifted: out of sync. */
DEFINE_EVENT_PRINT(gvt_spt, oos_change,
	TP_PROTO(u32 id, u32 slot, u32 level, u64 gfn, u64 arg),
	TP_ARGS(id, slot, level, gfn, arg),
	TP_printk("vgpu%u slot %u level %u gfn 0x%llx out of sync", __entry->id, __entry->slot,
		  __entry->level, __entry->gfn));
/* An out-of-sync table protected again and re-read. */
DEFINE_EVENT_PRINT(gvt_spt, oos_sync,
	TP_PROTO(u32 id, u32 slot, u32 level, u64 gfn, u64 arg),
	TP_ARGS(id, slot, level, gfn, arg),
	TP_printk("vgpu%u slot %u level %u gfn 0x%llx resynced, %llu entries changed", __entry->id, __entry->slot,
		  __entry->level, __entry->gfn, __entry->arg));

/* Table events the vGPU's record could not hold between two reports. */
TRACE_EVENT(spt_dropped,
	TP_PROTO(u32 id, u64 count),
	TP_ARGS(id, count),
	TP_STRUCT__entry(
		__field(u32, id)
		__field(u64, count)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->count = count;
	),
	TP_printk("vgpu%u %llu table events dropped", __entry->id, __entry->count)
);

#endif /* _GVT_RS_TRACE_H */

/* Out of tree: the path is relative to this file's directory, which Kbuild puts on -I. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
