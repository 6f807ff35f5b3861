# ktrace — common tasks. Everything runs as root (BPF); `make test` and `make run` set up the machine first.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

SWIFT ?= swift
KTRACE := .build/release/ktrace

.PHONY: all setup build debug test host-test unit-test run demo bench vmtest clean commit install uninstall man deb deb-test
PREFIX ?= /usr/local
DESTDIR ?=

all: build

setup:
	@scripts/setup.sh

# The Swift runtime linked in statically: one binary that needs only system libraries at run time
# (libbpf, libelf, zlib, libstdc++, libc), and 9 MB less resident memory than the shared runtime.
build: setup commit
	$(SWIFT) build -c release --static-swift-stdlib --product ktrace
	@echo "built $(KTRACE)"

debug: commit
	$(SWIFT) build --product ktrace

# The commit `ktrace --version` names: rewritten only when it changes, so that nothing else recompiles.
# Where git cannot read the checkout (another user's, under sudo) the header stays as it is.
commit:
	@c=$$(git rev-parse --short=12 HEAD 2>/dev/null) || exit 0; git diff --quiet HEAD -- 2>/dev/null || c="$$c+changes"; \
	 h='#define KTRACE_COMMIT "'"$$c"'"'; f=Sources/CSupport/build_commit.h; \
	 [ "$$(cat $$f 2>/dev/null)" = "$$h" ] || echo "$$h" >$$f

# Installs the built binary (make build first: `make build && sudo make install`), the man pages
# (docs/man) and the bash, zsh and fish completions under PREFIX. It builds nothing, so that root never
# writes into a user's .build/.
install:
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) KTRACE=$(KTRACE) scripts/install.sh install

uninstall:
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install.sh uninstall

# The man pages are generated from the argument parser (swift-argument-parser's generate-manual tool over
# the binary's --experimental-dump-help) and committed; run this after changing a command's options. The
# examples come from each command's discussion text.
man: build
	KTRACE=$(KTRACE) scripts/man.sh

# A Debian package in out/ (dpkg-deb; Depends from dpkg-shlibdeps; checked by lintian when installed).
deb: build
	KTRACE=$(KTRACE) scripts/deb.sh out

# The package installed into a throwaway root (an overlay of this one), then run.
deb-test: deb
	scripts/deb-test.sh out

# Everything: the tests on this machine's kernel, the Debian package installed into a throwaway root, then
# the kernel matrix under qemu (CI runs this).
test: host-test deb-test vmtest

# Unit tests of the pure core and integration tests against the real kernel (root), one at a time so
# that network load from one test never skews another's measurements. The integration tests run the
# release binary, the one users get: the debug build is some 30 times slower where it builds unwind
# tables (`timeline -a` beside the tests' own processes: 14.3 s instead of about 0.5 s, which outlasted a
# test's 12 s load).
host-test: build
	$(SWIFT) build --build-tests
	KTRACE_BIN=$(abspath $(KTRACE)) $(SWIFT) test --skip-build --no-parallel

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
	KTRACE=$(KTRACE) scripts/bench-diagnose.sh
	KTRACE=$(KTRACE) scripts/bench-unwind.sh

clean:
	rm -rf .build .build-man out Sources/CSupport/build_commit.h
