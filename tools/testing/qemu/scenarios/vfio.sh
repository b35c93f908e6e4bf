# L2 scenario (issue 5): vGPUs for KVM users created through sysfs and through mdevctl, opened
# from user space over VFIO by gvt-vfio-client, which runs the guest model's i915 probe on two
# at once; hostile VFIO input; region access cost; an mdev removed while it is open; unload.
# Client output is captured, then printed, so kernel messages cannot split a GVT-CHECK line.
. /lib.sh
kmemleak_reset
load mdev gvt kvmgt

a=$(cat /proc/sys/kernel/random/uuid)
b=$(cat /proc/sys/kernel/random/uuid)
c=$(cat /proc/sys/kernel/random/uuid)
check "create V5_8 through sysfs" write $TYPES/i915-GVTg_V5_8/create "$a"
check "create V5_4 through sysfs" write $TYPES/i915-GVTg_V5_4/create "$b"
check "define V5_2 with mdevctl" mdevctl define -u $c -p gvt_sim.0 -t i915-GVTg_V5_2
check "start V5_2 with mdevctl" mdevctl start -u $c
equals "mdevctl lists it" "$c gvt_sim.0 i915-GVTg_V5_2 manual (defined)" sh -c "mdevctl list | grep $c"
# Each mdev names its vGPU as upstream's kvmgt does; ids are given in creation order.
equals "intel_vgpu/vgpu_id of the first" "1" cat /sys/bus/mdev/devices/$a/intel_vgpu/vgpu_id
equals "intel_vgpu/vgpu_id of the third" "3" cat /sys/bus/mdev/devices/$c/intel_vgpu/vgpu_id

# client NAME ARGS...: runs gvt-vfio-client, prints its output afterwards, returns its status.
client() {
    name=$1; shift
    gvt-vfio-client "$@" > /tmp/$name.out 2>&1
    rc=$?
    cat /tmp/$name.out
    return $rc
}

# Two guests probe their vGPUs at the same time.
gvt-vfio-client probe $a --tag "vGPU A" > /tmp/a.out 2>&1 &
pa=$!
gvt-vfio-client probe $b --tag "vGPU B" > /tmp/b.out 2>&1 &
pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
cat /tmp/a.out /tmp/b.out
equals "probe over VFIO, vGPU A, exit status" 0 echo $ra
equals "probe over VFIO, vGPU B, exit status" 0 echo $rb
# Trace events (Documentation/gvt-rs.rst, "Trace events"): the mdevctl vGPU's probe and
# workloads run with every gvt event on, through tracefs as trace-cmd uses it.
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T 2>/dev/null || T=/sys/kernel/debug/tracing
check "gvt trace events in tracefs" test -d $T/events/gvt
# Big enough that the probe's MMIO traps do not overwrite its first workloads.
write $T/buffer_size_kb 16384
write $T/trace ""
check "enable gvt trace events" write $T/events/gvt/enable 1
client c probe $c --tag "mdevctl vGPU"
equals "probe over VFIO, mdevctl's vGPU, exit status" 0 echo $?
check "disable gvt trace events" write $T/events/gvt/enable 0
cat $T/trace > /tmp/trace.txt
# traced NAME PATTERN: PASS if the trace of the probe has a line matching PATTERN.
traced() { check "trace: $1" grep -qE "$2" /tmp/trace.txt; }
traced "mmio_trap read" " mmio_trap: vgpu3 read offset 0x[0-9a-f]+ bytes [1248] value 0x[0-9a-f]+ ret 0$"
traced "mmio_trap write" " mmio_trap: vgpu3 write offset 0x[0-9a-f]+ bytes [1248] value 0x[0-9a-f]+ ret 0$"
traced "workload_submit" " workload_submit: vgpu3 engine [0-3] tag [0-9]+ context 0x[0-9a-f]+ ring 0x[0-9a-f]+ ring_len [1-9][0-9]* ret 0$"
traced "workload_complete" " workload_complete: vgpu3 engine [0-3] tag [0-9]+ done ret 0$"
traced "gvt_command accepted" " gvt_command: vgpu3 engine [0-3] ring_bytes [1-9][0-9]* result 0 "
# The probe's PPGTT workloads build trees: each table's event names it (kvmgt without KVM
# tracks no page, so tables are re-read rather than written through).
traced "spt_alloc of a PML4" " spt_alloc: vgpu3 slot [0-9]+ level 4 gfn 0x[0-9a-f]+ shadow 0x[0-9a-f]+$"
traced "spt_alloc of a page table" " spt_alloc: vgpu3 slot [0-9]+ level 1 gfn 0x[0-9a-f]+ shadow 0x[0-9a-f]+$"
traced "inject_msi" " inject_msi: vgpu3 inject msi address 0x[0-9a-f]+ data 0x[0-9a-f]+ ret 0$"
traced "write_ir" " write_ir: vgpu3 write reg 0x[0-9a-f]+ "
traced "propagate_event" " propagate_event: vgpu3 set bit [0-9]+ of iir 0x[0-9a-f]+$"
echo "gvt trace events of the probe:"
for e in mmio_trap workload_submit workload_complete gvt_command spt_alloc spt_free spt_guest_change spt_change oos_change oos_sync spt_dropped inject_msi write_ir propagate_event render_mmio; do
    echo "  $e: $(grep -c " $e: " /tmp/trace.txt)"
done
# Off, they record nothing: the next clients' traps leave the buffer empty.
write $T/trace ""

client bad bad-input $a --tag "bad input A"
equals "bad input, exit status" 0 echo $?
client again probe $a --tag "vGPU A after bad input"
equals "probe after bad input, exit status" 0 echo $?
client bench bench $a
equals "bench, exit status" 0 echo $?
equals "trace: nothing recorded with the events off" 0 sh -c "grep -cE ' (mmio_trap|workload_submit|workload_complete|gvt_command|spt_[a-z_]+|oos_[a-z]+|inject_msi|write_ir|propagate_event|render_mmio): ' $T/trace"
write $T/buffer_size_kb 1408
# The trap path's cost, measured by gvt.ko's KUnit bench at load (a figure, not a check).
dmesg | grep -o "GVT-BENCH: .*"

check "stop with mdevctl" mdevctl stop -u $c
check "undefine with mdevctl" mdevctl undefine -u $c
check "remove A" write /sys/bus/mdev/devices/$a/remove 1

# Removing an mdev that is open waits for its user to close it, then tears it down.
gvt-vfio-client hold $b 3 --tag "held vGPU B" > /tmp/hold.out 2>&1 &
ph=$!
sleep 1
check "remove B while it is open" write /sys/bus/mdev/devices/$b/remove 1
wait $ph; rh=$?
cat /tmp/hold.out
equals "held vGPU B, exit status" 0 echo $rh
fails "B gone" test -e /sys/bus/mdev/devices/$b
# Create and remove times, and available_instances exact when the GPU fills up.
client life lifecycle $TYPES/i915-GVTg_V5_8 200
equals "lifecycle, exit status" 0 echo $?
# The smallest type: sixteen vGPUs at once.
client life16 lifecycle $TYPES/i915-GVTg_V5_16 20
equals "lifecycle V5_16, exit status" 0 echo $?
equals "16 vGPUs at once" 16 sed -n 's/^vgpus at once: \([0-9]*\) .*/\1/p' /tmp/life16.out
# Last: user space unmaps guest RAM under an open vGPU and maps it again. vfio type1's own lock
# order (iommu->lock then device_list_lock at registration; device_list_lock, then the driver's
# unpin taking iommu->lock, at unmap) gives a lockdep report that every pinning mdev driver
# triggers; it is declared here, after every other check had lockdep's full attention.
d=$(cat /proc/sys/kernel/random/uuid)
check "create V5_8 for the user unmap" write $TYPES/i915-GVTg_V5_8/create "$d"
echo "GVT-EXPECT: possible circular locking dependency"
echo "GVT-EXPECT: ^Call Trace:"
client unmap user-unmap $d --tag "user unmap"
equals "user unmap, exit status" 0 echo $?
check "remove it" write /sys/bus/mdev/devices/$d/remove 1
for m in kvmgt gvt mdev; do check "unload $m" rmmod $m; done
check "kmemleak clean" kmemleak_scan
