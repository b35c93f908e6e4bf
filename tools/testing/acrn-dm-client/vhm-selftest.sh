# vhm_sim.ko alone (no gvt, no acrngt): gvt-acrn-client selftest, unload, kmemleak. For
# developing the simulated VHM; a scenario for tools/testing/qemu/scenarios/ if wanted.
. /lib.sh
kmemleak_reset
check "load vhm_sim" insmod $MODS/vhm_sim.ko
gvt-acrn-client selftest 7 > /tmp/self.out 2>&1
rc=$?
cat /tmp/self.out
equals "vhm_sim selftest, exit status" 0 echo $rc
# Twice, with a VM left behind by a killed client: closing the fd destroys it.
gvt-acrn-client selftest 65535 > /tmp/self2.out 2>&1
rc=$?
cat /tmp/self2.out
equals "vhm_sim selftest at vmid 65535, exit status" 0 echo $rc
check "unload vhm_sim" rmmod vhm_sim
check "kmemleak clean" kmemleak_scan
