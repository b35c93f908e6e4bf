# make run: show the vGPU infrastructure working on the sim GPU, both interfaces.
. /lib.sh
say() { echo; echo "==== $*"; }

say "Loading mdev, gvt (device model + sim GPU), kvmgt (VFIO/mdev), vhm_sim (ACRN's VHM, simulated) and acrngt (ACRN)"
load mdev gvt kvmgt vhm_sim acrngt
# The modules' KUnit suites ran at load; show only the product's own messages from here on.
dmesg -c | grep -E 'sim GPU|backend (kvmgt|acrngt)' | sed 's/^/  dmesg: /'

say "KVM users: vGPU types under $TYPES"
for t in $TYPES/*; do
    printf '  %-16s available %-3s %s\n' "$(basename $t)" "$(cat $t/available_instances)" \
        "$(tr '\n' ' ' < $t/description)"
done

say "Creating a vGPU the KVM way: echo UUID > $TYPES/i915-GVTg_V5_4/create"
uuid=$(cat /proc/sys/kernel/random/uuid)
check "mdev vGPU created" write $TYPES/i915-GVTg_V5_4/create "$uuid"
echo "  /sys/bus/mdev/devices: $(ls /sys/bus/mdev/devices)"
echo "  i915-GVTg_V5_4 available now: $(cat $TYPES/i915-GVTg_V5_4/available_instances)"

say "A guest's i915 on it over VFIO (gvt-vfio-client: what QEMU's vfio-pci does): probe, 100"
echo "     workloads run by the sim GPU's engines, a modeset, and its framebuffer read back as a dma-buf"
gvt-vfio-client probe "$uuid" > /tmp/probe.out 2>&1
rc=$?
sed 's/^/  /' /tmp/probe.out
equals "guest probe, workloads and display over VFIO" 0 echo $rc

say "An ACRN User VM's vGPU, the ACRN-DM way: gvt-acrn-client creates VM 1 in VHM, writes"
echo "     1,64,448,8 > $CONTROL, reads vm1/vgpu_id and vgpu_bar_info, runs the guest probe and"
echo "     100 workloads over ioreqs (its page tables write-protected), destroys"
gvt-acrn-client run 1 > /tmp/acrn.out 2>&1
rc=$?
sed 's/^/  /' /tmp/acrn.out
equals "ACRN instance probed, ran workloads, destroyed" 0 echo $rc

say "Destroying the mdev vGPU and unloading"
check "mdev vGPU removed" write /sys/bus/mdev/devices/$uuid/remove 1
for m in acrngt vhm_sim kvmgt gvt mdev; do check "unload $m" rmmod $m; done
dmesg | grep -E '^(gvt|acrngt|kvmgt):|vGPU' | sed 's/^/  dmesg: /'
