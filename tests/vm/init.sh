#!/bin/busybox sh
# /init of the obsgen test VM's initramfs (busybox sh, pid 1). It mounts the host root
# read-only under a tmpfs overlay, mounts cgroup v2 with the memory controller enabled, runs
# the requested command as root in a chroot of that root, records its exit status in the
# exchange folder and powers off. The host side (harness.py) writes $CTL/config and $CTL/cmd.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

log() { echo "obsgen-vm-init: $*" > /dev/console; }
halt() { sync; poweroff -f; sleep 10; }

for module in $(cat /modules.order); do
	insmod "/modules/$module" || log "insmod $module failed"
done

mkdir -p /xchg /host /rw /newroot
NINEP=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$NINEP" xchg /xchg || { log "cannot mount the exchange share"; halt; }
CTL=/xchg/.obsgen-vm
fail() { log "$*"; echo "$*" >> "$CTL/init-error"; halt; }
. "$CTL/config"

mount -t 9p -o "ro,$NINEP,cache=loose" hostroot /host || fail "cannot mount the host root share"
mount -t tmpfs -o mode=755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
	|| fail "cannot mount the overlay root"

# memory_recursiveprot is what systemd mounts with on current distributions; fall back to
# plain options on kernels that lack it.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup 2>/dev/null \
	|| mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
for controller in memory cpu io pids; do
	if grep -qw "$controller" /sys/fs/cgroup/cgroup.controllers; then
		echo "+$controller" > /sys/fs/cgroup/cgroup.subtree_control \
			|| log "cannot enable the $controller controller"
	fi
done

ip link set lo up
if [ "$GUEST_NETWORK" = 1 ]; then
	# The address qemu's user-mode network (slirp) expects; its host forward targets it.
	ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 \
		|| fail "cannot configure eth0"
fi

R=/newroot
mount -t proc proc $R/proc
mount -o rbind /sys $R/sys
mount -o rbind /dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=755 run $R/run
mkdir -p $R/xchg
mount -o bind /xchg $R/xchg

cut -d' ' -f1 /proc/uptime > "$CTL/boot-seconds"
chroot $R /usr/bin/timeout -k 2 "$COMMAND_TIMEOUT" /bin/sh "/xchg/.obsgen-vm/cmd" \
	< /dev/null > "$CTL/stdout" 2> "$CTL/stderr"
echo $? > "$CTL/rc.tmp"
mv "$CTL/rc.tmp" "$CTL/rc"
halt
