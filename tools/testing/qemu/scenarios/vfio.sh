# L2 scenario (issue 5): vGPUs for KVM users through sysfs and mdevctl, driven from user space
# over VFIO by gvt-vfio-client (the guest model's i915 probe), two at once.
. /lib.sh
kmemleak_reset
for m in mdev gvt kvmgt; do check "load $m" insmod $MODS/$m.ko; done

a=$(cat /proc/sys/kernel/random/uuid)
b=$(cat /proc/sys/kernel/random/uuid)
c=$(cat /proc/sys/kernel/random/uuid)
check "create V5_8 through sysfs" write $TYPES/i915-GVTg_V5_8/create "$a"
check "create V5_4 through sysfs" write $TYPES/i915-GVTg_V5_4/create "$b"
check "define V5_2 with mdevctl" mdevctl define -u $c -p gvt_sim.0 -t i915-GVTg_V5_2
check "start V5_2 with mdevctl" mdevctl start -u $c
equals "mdevctl lists it" "$c gvt_sim.0 i915-GVTg_V5_2 manual" sh -c "mdevctl list | grep $c"

# Two guests probe their vGPUs at the same time.
gvt-vfio-client probe $a > /tmp/a.out 2>&1 &
pa=$!
gvt-vfio-client probe $b > /tmp/b.out 2>&1 &
pb=$!
check "probe over VFIO, vGPU A" wait $pa
check "probe over VFIO, vGPU B" wait $pb
cat /tmp/a.out /tmp/b.out
check "probe over VFIO, mdevctl's vGPU" gvt-vfio-client probe $c

gvt-vfio-client bad-input $a
gvt-vfio-client bench $a

check "stop with mdevctl" mdevctl stop -u $c
check "undefine with mdevctl" mdevctl undefine -u $c
check "remove A" write /sys/bus/mdev/devices/$a/remove 1
check "remove B" write /sys/bus/mdev/devices/$b/remove 1
for m in kvmgt gvt mdev; do check "unload $m" rmmod $m; done
check "kmemleak clean" kmemleak_scan
