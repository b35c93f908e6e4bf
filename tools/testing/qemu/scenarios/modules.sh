# L2 scenario: the three modules load and unload cleanly; the vGPU infrastructure appears.
. /lib.sh
kmemleak_reset

check "load mdev" insmod $MODS/mdev.ko
check "load vhm_sim" insmod $MODS/vhm_sim.ko
# A backend cannot load before gvt.ko: the kernel refuses it (unresolved gvt_* symbols).
echo "GVT-EXPECT: Unknown symbol gvt_"
fails "kvmgt refused without gvt" insmod $MODS/kvmgt.ko
fails "acrngt refused without gvt" insmod $MODS/acrngt.ko
equals "refusal says why" yes sh -c "dmesg | grep -q 'kvmgt: Unknown symbol gvt_register_backend' && echo yes"
check "load gvt" insmod $MODS/gvt.ko
check "sim GPU bound to its driver" test -e $SIM/driver
check "load kvmgt" insmod $MODS/kvmgt.ko
# ACRN-DM waits for acrngt's dom0_ready uevent before it starts User VMs with vGPUs.
uevent sh -c 'env | grep "^GVT_" >> /tmp/uevents' &
listener=$!
sleep 1
check "load acrngt" insmod $MODS/acrngt.ko
sleep 1
kill $listener
check "dom0_ready uevent" grep -qx "GVT_DOM0_READY=1" /tmp/uevents
fails "gvt pinned while backends are loaded" rmmod gvt

# mdev_supported_types: upstream's names (and our V5_16), a VFIO PCI device, true accounting.
equals "mdev types" "i915-GVTg_V5_1 i915-GVTg_V5_16 i915-GVTg_V5_2 i915-GVTg_V5_4 i915-GVTg_V5_8" \
    sh -c "ls $TYPES | tr '\n' ' ' | sed 's/ \$//'"
equals "device_api" "vfio-pci" cat $TYPES/i915-GVTg_V5_8/device_api
equals "type name" "GVTg_V5_8" cat $TYPES/i915-GVTg_V5_8/name
equals "description" "low_gm_size: 64MB high_gm_size: 384MB fence: 4 resolution: 1024x768 weight: 2" \
    sh -c "cat $TYPES/i915-GVTg_V5_8/description | tr '\n' ' ' | sed 's/ \$//'"
equals "V5_8 available" 7 cat $TYPES/i915-GVTg_V5_8/available_instances
equals "V5_16 available" 16 cat $TYPES/i915-GVTg_V5_16/available_instances
equals "V5_1 available" 1 cat $TYPES/i915-GVTg_V5_1/available_instances

# An mdev vGPU reserves its partition; removing it gives it back.
uuid=$(cat /proc/sys/kernel/random/uuid)
check "mdev create" write $TYPES/i915-GVTg_V5_1/create "$uuid"
equals "V5_1 used up" 0 cat $TYPES/i915-GVTg_V5_1/available_instances
fails "mdev create beyond resources" write $TYPES/i915-GVTg_V5_1/create "$(cat /proc/sys/kernel/random/uuid)"
fails "mdev duplicate uuid" write $TYPES/i915-GVTg_V5_8/create "$uuid"
fails "mdev malformed uuid" write $TYPES/i915-GVTg_V5_8/create "not-a-uuid"
check "mdev remove" write /sys/bus/mdev/devices/$uuid/remove 1
equals "V5_1 back" 1 cat $TYPES/i915-GVTg_V5_1/available_instances

# ACRN's control node. Instances need a VM that VHM knows (scenarios/acrn.sh runs them, and
# gvt-acrn-client checks each errno there).
check "ACRN control node" test -w $CONTROL
fails "ACRN create for a VM VHM does not know" write $CONTROL "1,64,448,8"
fails "ACRN bad request" write $CONTROL "0,64,448,8"
fails "ACRN vm1 absent" test -e /sys/kernel/gvt/vm1

# Unloading with live vGPUs tears them down.
check "mdev create before unload" write $TYPES/i915-GVTg_V5_8/create "$(cat /proc/sys/kernel/random/uuid)"
check "unload acrngt" rmmod acrngt
fails "ACRN sysfs gone" test -e /sys/kernel/gvt
check "unload kvmgt" rmmod kvmgt
check "unload gvt" rmmod gvt

# Per-plane display ownership from the module parameters, as ACRN's i915 took them: a
# policy naming a plane pipe C lacks on Broxton is refused; VM 1 owning pipes B and C is shown
# on the control node. Then the other legal order: backends in reverse.
fails "gvt refuses a plane policy for a plane BXT lacks" insmod $MODS/gvt.ko domain_plane_owners=0x100000000000 avail_planes_per_pipe=0x070f0f
check "reload gvt with a plane policy" insmod $MODS/gvt.ko domain_plane_owners=0x011111110000 avail_planes_per_pipe=0x00000f
check "reload kvmgt" insmod $MODS/kvmgt.ko
check "reload acrngt" insmod $MODS/acrngt.ko
equals "plane_owner_show" "Planes:
Pipe A: 0 0 0 0
Pipe B: 1 1 1 1
Pipe C: 1 1 1" cat /sys/kernel/gvt/control/plane_owner_show
check "unload kvmgt first" rmmod kvmgt
check "unload acrngt second" rmmod acrngt
check "unload gvt last" rmmod gvt

# The sim as each platform (gvt/core/hw): it says which GPU it is, offers the same types, and
# gvt.ko's KUnit suites (run at each insmod) pass on it.
echo "GVT-EXPECT: sim_platform=glk: not one of"
fails "gvt refuses a platform it does not know" insmod $MODS/gvt.ko sim_platform=glk
for p in skl:0x1912 kbl:0x5912 cfl:0x3e92 cml:0x9bc5 bxt:0x5a84; do
    check "load gvt as ${p%:*}" insmod $MODS/gvt.ko sim_platform=${p%:*}
    equals "sim is ${p%:*}" "sim GPU ready: ${p%:*} (${p#*:}), 5 vGPU types" \
        sh -c "dmesg | grep -o 'sim GPU ready: .*' | tail -n 1"
    check "kvmgt on ${p%:*}" insmod $MODS/kvmgt.ko
    equals "${p%:*} offers the five types" 5 sh -c "ls $TYPES | wc -l"
    check "unload kvmgt from ${p%:*}" rmmod kvmgt
    check "unload gvt as ${p%:*}" rmmod gvt
done
check "unload mdev" rmmod mdev
check "unload vhm_sim" rmmod vhm_sim
fails "sim GPU gone" test -e $SIM
check "kmemleak clean" kmemleak_scan
