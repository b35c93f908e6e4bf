# SPDX-License-Identifier: GPL-2.0-only
#
# gvt-rs. Kbuild reads ./Kbuild; this file is for people:
#   make setup    install the pinned toolchain and build the kernel (cached in ~/.cache/gvt-rs)
#   make run      boot QEMU with the modules and show vGPUs working
#   make test     the whole test ladder; ends with "N passed, N failed"
#   make modules  build gvt.ko, kvmgt.ko and acrngt.ko against the cached kernel
#   make fuzz     run each fuzz target for 10 million executions
#   make fmt      format the Rust sources as make test checks them (rustfmt 1.85)
#   make l3-full  the stock guest with all of issue 14's live selftests, slow ones included
#                 (about an hour under nested TCG; make test runs those that fit 12 minutes)
#   make clean    remove build outputs from this tree
# Building against another kernel tree: make -C $KDIR M=$PWD CONFIG_GVT_RS=m CONFIG_GVT_RS_SIM=y \
#   CONFIG_GVT_RS_KVMGT=m CONFIG_GVT_RS_ACRNGT=m LLVM=1 RUSTC=... (see README.md).

.PHONY: all setup modules test run fuzz fmt l3-full clean

all: modules

setup:
	@bash scripts/setup.sh

modules:
	@bash scripts/modules.sh

test:
	@bash scripts/test.sh

run:
	@bash scripts/run.sh

fuzz:
	@sh tools/testing/fuzz/run.sh

fmt:
	@bash scripts/fmt-check.sh --fix

l3-full:
	@bash scripts/l3-full.sh

clean:
	@. scripts/lib.sh; [ ! -f "$$KDIR/Makefile" ] || kmake M="$$GVT_ROOT" clean >/dev/null
	rm -rf build target
