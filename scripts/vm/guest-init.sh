#!/bin/bash
# PID 1 of a vmtest guest, after switch_root into the host's root (read-only 9p + tmpfs overlay): mounts
# what a systemd boot would (the overlay shows the host's /proc, /run, /tmp contents otherwise), runs
# guest-suite.sh bounded by VMTEST_SUITE_TIMEOUT, then powers off. bash as PID 1 reaps orphans (its
# SIGCHLD handler waits for any child), which nginx from scripts/lab.sh needs.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8
off() { sync; /bin/busybox poweroff -f; echo o >/proc/sysrq-trigger; sleep 10; }
trap off EXIT

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
# udev's usual links: bash process substitution needs /dev/fd
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# A fresh /tmp, unless the checkout itself lives there (a CI clone): then the host's /tmp stays visible,
# read-only below the overlay's writable tmpfs.
case $(cd "$(dirname "$0")" && pwd) in /tmp/*) ;; *) mount -t tmpfs -o mode=1777 tmpfs /tmp ;; esac
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/lock /run/netns
mount -t tracefs nodev /sys/kernel/tracing
mount -t debugfs nodev /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 nodev /sys/fs/cgroup
# Quiet boot (loglevel=4), then every message, so that a lockup or oops shows its backtrace on the console.
echo 7 >/proc/sys/kernel/printk
hostname vmtest
ip link set lo up
# shellcheck source=/dev/null
. /vmtest-out/vmtest.env
echo "VMTEST-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)" >/dev/console
timeout -k 10 "${VMTEST_SUITE_TIMEOUT:-1200}" bash "$(dirname "$0")/guest-suite.sh" /vmtest-out \
  >/vmtest-out/suite.log 2>&1 </dev/null
echo "VMTEST-DONE rc=$? uptime=$(cut -d' ' -f1 /proc/uptime)" >/dev/console
