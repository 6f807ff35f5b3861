# ktrace — common tasks. Everything runs as root (BPF); `make test` and `make run` set up the machine first.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

SWIFT ?= swift
KTRACE := .build/release/ktrace

.PHONY: all setup build debug test host-test unit-test run demo bench vmtest clean

all: build

setup:
	@scripts/setup.sh

# The Swift runtime linked in statically: one binary that needs only system libraries at run time
# (libbpf, libelf, zlib, libstdc++, libc), and 9 MB less resident memory than the shared runtime.
build: setup
	$(SWIFT) build -c release --static-swift-stdlib --product ktrace
	@echo "built $(KTRACE)"

debug:
	$(SWIFT) build --product ktrace

# Everything: the tests on this machine's kernel, then the kernel matrix under qemu (CI runs this).
test: host-test vmtest

# Unit tests of the pure core and integration tests against the real kernel (root), one at a time so
# that network load from one test never skews another's measurements.
host-test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

unit-test:
	$(SWIFT) test --filter KtraceCoreTests

# Kernel test matrix: Debian's newest 6.1 kernels (generic, PREEMPT_RT; cloud is skipped, it has no 9p)
# booted under qemu with this root file system, ktrace and a TCG-sized subset of the integration tests run
# in each. scripts/vmtest.sh installs qemu and the rest itself; VMTEST_KERNELS="PKG|FILE.deb ..." overrides.
vmtest: build
	$(SWIFT) build --build-tests
	scripts/vmtest.sh $(VMTEST_KERNELS)

# The main job: the SYN-flood lab with ktrace diagnosing ksoftirqd (see README).
run demo: build
	KTRACE=$(KTRACE) scripts/synflood-demo.sh run

bench: build
	KTRACE=$(KTRACE) scripts/bench-softirq.sh
	KTRACE=$(KTRACE) scripts/bench-stacks.sh
	KTRACE=$(KTRACE) scripts/bench-timeline.sh
	KTRACE=$(KTRACE) scripts/bench-kthreads.sh
	KTRACE=$(KTRACE) scripts/bench-offcpu.sh
	KTRACE=$(KTRACE) scripts/bench-continuous.sh

clean:
	rm -rf .build out
