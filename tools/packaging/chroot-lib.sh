# SPDX-License-Identifier: MIT
# Sourced by tools/packaging/test-deb, build-image and test-image: a fresh
# minimal Debian root, mounts for running things in it, and the demo check.

pkg_chroots=${GPURTSP_PKG_CHROOTS:-/var/tmp/pkg-chroots}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# A pristine `debootstrap --variant=minbase SUITE` kept in
# $pkg_chroots/base-SUITE (made once, a few minutes), copied to @dir: every
# test starts from Debian's packages alone.
fresh_root() { # fresh_root SUITE DIR
  local suite=$1 dir=$2 base=$pkg_chroots/base-$1
  if [[ ! -f $base/.ready ]]; then
    echo "debootstrap $suite into $base" >&2
    rm -rf --one-file-system "$base"
    mkdir -p "$pkg_chroots"
    debootstrap --variant=minbase --include=ca-certificates "$suite" "$base" "$mirror" \
      >"$base.log" 2>&1 || { tail -20 "$base.log" >&2; return 1; }
    touch "$base/.ready"
  fi
  rm -rf --one-file-system "$dir"
  cp -a "$base" "$dir"
  rm -f "$dir/.ready"
  # No fsync per file: a throw-away root installs several times faster.
  echo force-unsafe-io >"$dir/etc/dpkg/dpkg.cfg.d/zz-test-unsafe-io"
}

chroot_mounts=()
mount_root() { # mount_root DIR: /proc, /dev, /dev/pts, /dev/shm, /run, resolv.conf
  local root=$1
  mount -t proc proc "$root/proc" && chroot_mounts+=("$root/proc")
  mount --bind /dev "$root/dev" && chroot_mounts+=("$root/dev")
  mount --bind /dev/pts "$root/dev/pts" && chroot_mounts+=("$root/dev/pts")
  mkdir -p "$root/dev/shm" "$root/run"
  mount -t tmpfs -o mode=1777 shm "$root/dev/shm" && chroot_mounts+=("$root/dev/shm")
  mount -t tmpfs -o mode=755 run "$root/run" && chroot_mounts+=("$root/run")
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
}
umount_root() {
  local i
  for ((i = ${#chroot_mounts[@]} - 1; i >= 0; i--)); do umount -l "${chroot_mounts[i]}" 2>/dev/null || true; done
  chroot_mounts=()
}

in_root() { # in_root DIR COMMAND...: as root, with a clean environment
  local root=$1
  shift
  env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin chroot "$root" "$@"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until every camera of the launcher on @port streams, then fetches
# /api/cameras and one frame.jpg (the chroot shares this machine's network).
# Prints one line: cameras, states, frame size.
check_demo() { # check_demo PORT CAMERAS TIMEOUT_S
  python3 - "$@" <<'EOF'
import json, sys, time, urllib.request
port, cameras, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
base = f"http://127.0.0.1:{port}"
deadline, states = time.time() + timeout, []
while time.time() < deadline:
    try:
        listed = json.load(urllib.request.urlopen(base + "/api/cameras", timeout=5))
        states = [c.get("state") for c in listed]
        if len(listed) == cameras and all(s == "streaming" for s in states):
            break
    except OSError:
        pass
    time.sleep(1)
else:
    sys.exit(f"demo: not all {cameras} cameras streaming within {timeout} s: {states}")
cam = listed[0]["id"]
frame = urllib.request.urlopen(f"{base}/api/cameras/{cam}/frame.jpg", timeout=5).read()
if frame[:2] != b"\xff\xd8" or len(frame) < 1000:
    sys.exit(f"demo: {cam}/frame.jpg is not a JPEG ({len(frame)} bytes)")
print(f"/api/cameras: {len(listed)} cameras {sorted(set(states))}; "
      f"{cam}/frame.jpg: {len(frame)} bytes JPEG")
EOF
}
