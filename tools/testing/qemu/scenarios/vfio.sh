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
client c probe $c --tag "mdevctl vGPU"
equals "probe over VFIO, mdevctl's vGPU, exit status" 0 echo $?

client bad bad-input $a --tag "bad input A"
equals "bad input, exit status" 0 echo $?
client again probe $a --tag "vGPU A after bad input"
equals "probe after bad input, exit status" 0 echo $?
client bench bench $a
equals "bench, exit status" 0 echo $?

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
