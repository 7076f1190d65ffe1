#!/bin/busybox sh
# PID 1 of the test VM (see test/vm/README.md). It loads the kernel modules in /modules (CAN, vcan,
# virtio and 9p, in dependency order), mounts the host's root read-only on /mnt and the host's
# results folder writable on /mnt/tmp/tcu-vm, runs /tmp/tcu-vm/job.sh chrooted into /mnt (so the
# job sees the host's node, node_modules and can-utils at their usual paths), writes the job's exit
# status to /tmp/tcu-vm/exit-status and powers the VM off. Every step prints a "tcu-vm:" line on
# the console; a step that fails powers off at once, and the host reports the console's tail.

/bin/busybox --install -s /bin
export PATH=/bin

say() { echo "tcu-vm: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
fail() {
  say "FAILED: $*"
  poweroff -f
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sys /sys || fail "mount /sys"
mount -t devtmpfs dev /dev || fail "mount /dev"

for module in /modules/*.ko; do
  insmod "$module" || fail "insmod $module"
done
say "modules loaded at $(uptime_s) s"

# msize: 9p's default of 8 KiB makes node start in 10 s instead of 3; cache=loose is safe on a
# read-only share the test run does not change while the guest runs.
NINEP="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o "$NINEP,ro,cache=loose" host /mnt || fail "mount the host's root (9p tag host)"
mount -t proc proc /mnt/proc || fail "mount /mnt/proc"
mount -t sysfs sys /mnt/sys || fail "mount /mnt/sys"
mount -t devtmpfs dev /mnt/dev || fail "mount /mnt/dev"
# The host's /tmp and /run stay reachable under /host-tmp and /host-run: the guest's own writable
# tmpfs hides them, and the repository (a CI clone in /tmp, say) may live there.
mkdir -p /host-tmp /host-run
mount -o bind /mnt/tmp /host-tmp || fail "keep the host's /tmp"
mount -o bind /mnt/run /host-run || fail "keep the host's /run"
mount -t tmpfs -o mode=1777 tmp /mnt/tmp || fail "mount /mnt/tmp"
mount -t tmpfs run /mnt/run || fail "mount /mnt/run"
mount -t tmpfs -o mode=1777 shm /mnt/dev/shm 2>/dev/null || { mkdir -p /mnt/dev/shm && mount -t tmpfs -o mode=1777 shm /mnt/dev/shm; }
mkdir -p /mnt/tmp/tcu-vm
mount -t 9p -o "$NINEP" out /mnt/tmp/tcu-vm || fail "mount the results folder (9p tag out)"
# Host paths the job needs (keep-paths, one per line: the repository, node) that the tmpfs hid.
if [ -f /mnt/tmp/tcu-vm/keep-paths ]; then
  while read -r path; do
    case "$path" in
      /tmp/*) from="/host-tmp${path#/tmp}" ;;
      /run/*) from="/host-run${path#/run}" ;;
      *) continue ;;
    esac
    mkdir -p "/mnt$path" && mount -o bind "$from" "/mnt$path" || fail "keep $path visible"
    say "kept $path"
  done < /mnt/tmp/tcu-vm/keep-paths
fi
ip link set lo up || fail "ip link set lo up"
hostname tcu-vm
say "host root mounted at $(uptime_s) s"

chroot /mnt /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TERM=dumb CI=1 TCU_VM_GUEST=1 \
  /bin/sh /tmp/tcu-vm/job.sh
status=$?
echo "$status" > /mnt/tmp/tcu-vm/exit-status
sync
say "job exited with status $status at $(uptime_s) s"
poweroff -f
