#!/bin/sh
# Assemble the Linux guest: Debian's i386 kernel and busybox-static from
# Debian's package registry, and an initramfs whose /init starts a shell.
#
# usage: scripts/make-linux-guest.sh [--pae] OUTDIR
# Writes OUTDIR/vmlinuz and OUTDIR/initrd.gz: the 686 kernel flavour, or
# with --pae the 686-pae one (PAE paging and NX; Debian's default i386
# kernel), and OUTDIR/kernel, the package it came from. Downloads are kept in
# ${BTVMM_CACHE:-~/.cache/btvmm}/debs and not fetched again; the rest is
# rebuilt only when missing. Needs root (or sudo) once, to add Debian's
# i386 architecture to apt.
set -e
flavour=686
if [ "${1:-}" = --pae ]; then
    flavour=686-pae
    shift
fi
out=${1:?usage: $0 [--pae] OUTDIR}
cache=${BTVMM_CACHE:-${HOME:-/root}/.cache/btvmm}/debs
mkdir -p "$out" "$cache"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

have_deb() { ls "$cache"/$1 >/dev/null 2>&1; }
# The package name ends with the flavour and the version follows it after
# '_': 'linux-image-*-686_*' cannot match a 686-pae package, nor the
# reverse.
kglob="linux-image-*-${flavour}_*_i386.deb"

if ! have_deb "$kglob" || ! have_deb 'busybox-static_*_i386.deb'; then
    if ! dpkg --print-foreign-architectures | grep -qx i386; then
        echo "make-linux-guest: adding the i386 architecture to apt" >&2
        $SUDO dpkg --add-architecture i386
    fi
    # An index that fails to download is not fatal: the packages may
    # still be found in the ones that did.
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    kernel=$(apt-cache search --names-only "^linux-image-6\\.1\\.0-[0-9]+-$flavour\$" |
             awk '{print $1}' | sort -V | tail -1)
    if [ -z "$kernel" ]; then
        echo "make-linux-guest: no linux-image-6.1.*-$flavour package found in apt's lists" >&2
        exit 1
    fi
    echo "make-linux-guest: downloading $kernel and busybox-static:i386" >&2
    (cd "$cache" && apt-get download -q=2 "$kernel" busybox-static:i386 2>/dev/null) ||
        (cd "$cache" && $SUDO apt-get download -q=2 "$kernel" busybox-static:i386)
fi

kdeb=$(ls "$cache"/$kglob | sort -V | tail -1)
bdeb=$(ls "$cache"/busybox-static_*_i386.deb | sort -V | tail -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Another package than last time (a newer one, or the other flavour in
# the same OUTDIR) replaces the kernel.
if [ ! -s "$out/vmlinuz" ] || [ "$(cat "$out/kernel" 2>/dev/null)" != "$(basename "$kdeb")" ]; then
    dpkg-deb -x "$kdeb" "$work/k"
    cp "$work"/k/boot/vmlinuz-* "$out/vmlinuz"
    basename "$kdeb" > "$out/kernel"
fi

if [ ! -s "$out/initrd.gz" ] || [ "$bdeb" -nt "$out/initrd.gz" ] || [ "$0" -nt "$out/initrd.gz" ]; then
    dpkg-deb -x "$bdeb" "$work/b"
    root="$work/root"
    mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/root" \
        "$root/etc/init.d"
    cp "$work/b/bin/busybox" "$root/bin/busybox"
    # busybox init as PID 1, so that `poweroff` and `reboot` work as on
    # any system: it runs rcS, keeps a shell on the console (cttyhack
    # gives it the console as controlling terminal, for Ctrl-C), and on
    # poweroff/reboot stops everything and asks the kernel.
    cat > "$root/init" <<'INIT'
#!/bin/busybox sh
exec /bin/busybox init
INIT
    cat > "$root/etc/inittab" <<'TAB'
::sysinit:/etc/init.d/rcS
::respawn:/bin/cttyhack /bin/sh -l
TAB
    cat > "$root/etc/init.d/rcS" <<'RCS'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
hostname btvmm
echo "btvmm: Debian $(uname -r) booted; 'poweroff' or 'reboot' ends the VM"
RCS
    chmod +x "$root/init" "$root/etc/init.d/rcS"
    (cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -9) > "$out/initrd.gz.tmp"
    mv "$out/initrd.gz.tmp" "$out/initrd.gz"
fi
echo "$out/vmlinuz $out/initrd.gz"
