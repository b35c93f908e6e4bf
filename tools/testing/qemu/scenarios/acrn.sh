# L2 scenario (issue 6): vGPUs for ACRN
# User VMs against the simulated VHM. gvt-acrn-client plays ACRN-DM and the vCPUs: it creates
# the VM in vhm_sim, writes "vmid,low,high,fences" to create_gvt_instance and runs the guest
# model's i915 probe over ioreqs that acrngt serves. Two ACRN instances of different sizes run
# at once, with a KVMGT vGPU beside them (both backends loaded, each vGPU served by its own);
# then hostile input, the ioreq round-trip cost, how many instances fit, destroy everything,
# unload, kmemleak.
# Client output is captured, then printed, so kernel messages cannot split a GVT-CHECK line.
. /lib.sh
kmemleak_reset
load mdev gvt kvmgt vhm_sim acrngt
check "vhm_sim control device" test -c /dev/vhm_sim
check "create_gvt_instance exists" test -w $CONTROL

# client NAME ARGS...: runs gvt-acrn-client, prints its output afterwards, returns its status.
client() {
    name=$1; shift
    gvt-acrn-client "$@" > /tmp/$name.out 2>&1
    rc=$?
    cat /tmp/$name.out
    return $rc
}

# The simulated VHM on its own first: its ioctls, unclaimed ioreqs, WP routing, MSI log.
client self selftest 100 --tag "vhm_sim"
equals "vhm_sim selftest, exit status" 0 echo $?

# A KVMGT vGPU beside the ACRN instances.
k=$(cat /proc/sys/kernel/random/uuid)
check "create KVMGT vGPU (V5_8)" write $TYPES/i915-GVTg_V5_8/create "$k"

# Two ACRN User VMs of different sizes at once, and the KVMGT guest meanwhile.
gvt-acrn-client run 1 --tag "ACRN vm1" > /tmp/vm1.out 2>&1 &
p1=$!
gvt-acrn-client run 2 128 384 4 --tag "ACRN vm2" > /tmp/vm2.out 2>&1 &
p2=$!
if [ -x /bin/gvt-vfio-client ]; then
    gvt-vfio-client probe "$k" --tag "KVMGT beside ACRN" > /tmp/kvmgt.out 2>&1
    rk=$?
fi
wait $p1; r1=$?
wait $p2; r2=$?
cat /tmp/vm1.out /tmp/vm2.out
equals "ACRN vm1 (64,448,8), exit status" 0 echo $r1
equals "ACRN vm2 (128,384,4), exit status" 0 echo $r2
if [ -x /bin/gvt-vfio-client ]; then
    cat /tmp/kvmgt.out
    equals "KVMGT probe beside ACRN, exit status" 0 echo $rk
fi

client bad bad-input 3 --tag "ACRN bad input"
equals "ACRN bad input, exit status" 0 echo $?
client again run 3 --tag "ACRN vm3 after bad input"
equals "ACRN run after bad input, exit status" 0 echo $?
client bench bench 5 2000 --tag "ACRN"
equals "ACRN bench, exit status" 0 echo $?

check "remove KVMGT vGPU" write /sys/bus/mdev/devices/$k/remove 1
# How many instances fit at once (goal >= 16; upstream's ACRN fork stopped at 15).
client fill fill 10 40 --tag "ACRN fill"
equals "ACRN fill, exit status" 0 echo $?
equals "no ACRN instance left" "" sh -c 'ls -d /sys/kernel/gvt/vm* 2>/dev/null'
for m in acrngt vhm_sim kvmgt gvt mdev; do check "unload $m" rmmod $m; done
check "kmemleak clean" kmemleak_scan
