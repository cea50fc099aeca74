#!/bin/sh
# Build a raw disk image of a minimal Debian 12 (bookworm) i386 system from
# Debian's packages, and put its kernel and initramfs next to it.
#
# usage: scripts/make-debian-disk.sh [-o IMAGE] [--size SIZE]
#   IMAGE  default ${BTVMM_CACHE:-~/.cache/btvmm}/debian/debian-12-i386.img
#   SIZE   of the file system, as mkfs.ext4 takes it; default 2G (sparse)
# Writes IMAGE (a bare ext4 file system, no partition table: the guest's
# /dev/vda), IMAGE.vmlinuz and IMAGE.initrd, and prints their names, one a
# line. A second run with the same script and size does nothing; delete
# IMAGE to rebuild from the mirror's packages.
#
# The system: debootstrap's minbase, the stock non-PAE 686 kernel (6.1),
# sysvinit (much less for a translating VMM to run at boot than systemd), a
# getty on ttyS0, hostname btvmm-debian, root without a password (log in
# as root; no password prompt), root file system /dev/vda.
#
# No i386 program runs on the host, and nothing host-wide changes (no
# binfmt handler): the host only downloads and unpacks the packages
# (debootstrap --foreign); their maintainer scripts run in a VM, under QEMU
# TCG, booted from the new system's own kernel with a small busybox
# initramfs that mounts the image and runs debootstrap's second stage
# (about 8 minutes on a 2-core machine). So the same build works on hosts
# that cannot run 32-bit code at all. debootstrap needs root (or sudo).
set -e
me=make-debian-disk
die() { echo "$me: $*" >&2; exit 1; }

cache=${BTVMM_CACHE:-${HOME:-/root}/.cache/btvmm}
img=$cache/debian/debian-12-i386.img
size=2G
while [ $# -gt 0 ]; do
    case $1 in
    -o) [ $# -ge 2 ] || die "-o needs a file name"; img=$2; shift 2 ;;
    --size) [ $# -ge 2 ] || die "--size needs a size (e.g. 2G)"; size=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown argument '$1' (usage: $0 [-o IMAGE] [--size 2G])" ;;
    esac
done
case $size in
*[!0-9KMGkmg]*|'') die "--size '$size': give a size such as 2G or 1536M" ;;
esac

# The initramfs the kernel's package makes loads these itself (MODULES=list
# keeps it small): the virtio disk, PIIX IDE, ext4.
INITRD_MODULES="virtio_pci virtio_blk ata_piix sd_mod ext4"
PACKAGES="linux-image-686,initramfs-tools,sysvinit-core,util-linux,procps,kmod,e2fsprogs,busybox-static"
MIRROR=http://deb.debian.org/debian
STAGE2_LIMIT=2400 # seconds for the second stage in the VM

stamp="$img.stamp"
want=$( (cat "$0"; echo "size=$size") | sha256sum | cut -d' ' -f1)
if [ -s "$img" ] && [ -s "$img.vmlinuz" ] && [ -s "$img.initrd" ] &&
   [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    printf '%s\n' "$img" "$img.vmlinuz" "$img.initrd"
    exit 0
fi

PATH=$PATH:/usr/sbin:/sbin
for tool in debootstrap mkfs.ext4 debugfs dpkg-deb cpio gzip qemu-system-i386; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool not found: run scripts/deps.sh (it installs debootstrap, e2fsprogs, qemu-system-x86, cpio)"
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "debootstrap needs root: run as root or with sudo available"
    SUDO="sudo"
fi

outdir=$(dirname "$img")
mkdir -p "$outdir" || die "cannot create $outdir"
work=$(mktemp -d "$outdir/.debian-build.XXXXXX") || die "cannot create a directory in $outdir"
root=$work/root
# --one-file-system: never follow a mount left in the tree.
cleanup() { $SUDO rm -rf --one-file-system "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The system takes ~450 MB unpacked, the image as much again.
free_mb=$(df -Pm "$outdir" | awk 'NR == 2 { print $4 }')
[ "$free_mb" -ge 1200 ] || die "not enough space in $outdir: ${free_mb} MB free, 1200 MB needed"

# ---- Stage 1, on the host: download and unpack; no maintainer script runs.
echo "$me: downloading Debian 12 i386 into $work (stage 1 of 2)" >&2
if ! $SUDO debootstrap --foreign --arch=i386 --variant=minbase --include="$PACKAGES" \
        bookworm "$root" "$MIRROR" > "$work/log" 2>&1; then
    if grep -qE 'Could not resolve|Failed getting|Temporary failure|Unable to connect|Couldn.t download' "$work/log"; then
        die "cannot download from deb.debian.org: $(grep -m1 -E 'Could not resolve|Failed getting|Temporary failure|Unable to connect|Couldn.t download' "$work/log")"
    fi
    tail -15 "$work/log" >&2
    die "debootstrap failed (log above)"
fi

# What stage 2 needs to find in the tree: the initramfs contents (the
# kernel's package builds the initramfs during stage 2), and the system's
# configuration, run once everything is installed.
$SUDO sh -s "$root" "$INITRD_MODULES" <<'EOF'
set -e
r=$1
mkdir -p "$r/etc/initramfs-tools/hooks" "$r/etc/initramfs-tools/conf.d"
echo MODULES=list > "$r/etc/initramfs-tools/conf.d/btvmm"
{
    echo '#!/bin/sh'
    echo '[ "$1" = prereqs ] && exit 0'
    echo '. /usr/share/initramfs-tools/hook-functions'
    echo "for m in $2; do force_load \"\$m\"; done"
} > "$r/etc/initramfs-tools/hooks/btvmm"
chmod 755 "$r/etc/initramfs-tools/hooks/btvmm"
cat > "$r/btvmm-setup.sh" <<'SETUP'
set -e
echo btvmm-debian > /etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\tbtvmm-debian\n' > /etc/hosts
# Pass 0: the kernel mounts it read-write (rw), so no fsck at boot.
printf '/dev/vda\t/\text4\terrors=remount-ro\t0\t0\n' > /etc/fstab
# The serial console is the only terminal: no gettys on VTs.
sed -i 's/^\([1-6]:[0-9]*:respawn:\/sbin\/getty\)/#\1/' /etc/inittab
echo 'T0:2345:respawn:/sbin/getty -L ttyS0 115200 vt100' >> /etc/inittab
passwd --delete root >/dev/null
apt-get clean
rm -f /btvmm-setup.sh
SETUP
EOF

# ---- The VM for stage 2: the new system's kernel, and an initramfs of
# busybox and the modules that reach an ext4 file system on virtio-blk.
archives=$root/var/cache/apt/archives
kdeb=$(ls "$archives"/linux-image-6.1*-686_*_i386.deb 2>/dev/null | sort -V | tail -1)
bdeb=$(ls "$archives"/busybox-static_*_i386.deb 2>/dev/null | sort -V | tail -1)
[ -n "$kdeb" ] && [ -n "$bdeb" ] || die "debootstrap did not download the kernel and busybox packages"
mkdir -p "$work/k" "$work/bb" "$work/ird/bin" "$work/ird/mods" "$work/ird/proc" "$work/ird/dev"
dpkg-deb -x "$kdeb" "$work/k"
dpkg-deb -x "$bdeb" "$work/bb"
cp "$work/bb/bin/busybox" "$work/ird/bin/busybox"
# Modules after what they depend on (each .ko's "depends=" field).
order=""
add_module() {
    local f d
    case " $order " in *" $1 "*) return ;; esac
    f=$(find "$work/k/lib/modules" -name "$1.ko" | head -1)
    [ -n "$f" ] || die "module $1 is not in $(basename "$kdeb")"
    for d in $(tr '\0' '\n' < "$f" | sed -n 's/^depends=//p' | tr ',' ' '); do
        add_module "$d"
    done
    cp "$f" "$work/ird/mods/"
    order="$order $1"
}
# crc32c: ext4's checksums, loaded by name (a soft dependency).
for m in crc32c_generic ext4 virtio_pci virtio_blk; do add_module "$m"; done
cat > "$work/ird/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t devtmpfs dev /dev
for m in $order; do insmod /mods/\$m.ko; done
mkdir -p /mnt
if mount -t ext4 /dev/vda /mnt && mount -o bind /dev /mnt/dev &&
   chroot /mnt /debootstrap/debootstrap --second-stage &&
   chroot /mnt /bin/sh /btvmm-setup.sh; then
    echo BTVMM-STAGE2-OK
else
    echo BTVMM-STAGE2-FAILED
    tail -20 /mnt/debootstrap/debootstrap.log 2>/dev/null
fi
umount /mnt/dev
umount /mnt
sync
poweroff -f
EOF
chmod 755 "$work/ird/init"
(cd "$work/ird" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/stage2.initrd"

rm -f "$img" "$img.vmlinuz" "$img.initrd" "$stamp"
$SUDO mkfs.ext4 -q -F -L debian -d "$root" "$img" "$size" >&2 ||
    die "mkfs.ext4 -d failed (is $size enough for the system?)"
$SUDO chown "$(id -u):$(id -g)" "$img"

# ---- Stage 2, in the VM: the maintainer scripts, the initramfs, the setup.
echo "$me: configuring the system in a VM (stage 2 of 2, QEMU TCG: several minutes)" >&2
kernel=$(ls "$work/k/boot"/vmlinuz-* | head -1)
timeout "$STAGE2_LIMIT" qemu-system-i386 -accel tcg -display none -nodefaults -no-reboot \
    -m 512 -serial stdio -kernel "$kernel" -initrd "$work/stage2.initrd" \
    -append "console=ttyS0 quiet panic=-1" -drive "file=$img,format=raw,if=virtio" \
    </dev/null > "$work/stage2.log" 2>&1 || true
if ! grep -q BTVMM-STAGE2-OK "$work/stage2.log"; then
    tail -25 "$work/stage2.log" >&2
    rm -f "$img"
    die "the second stage failed in the VM (its console above)"
fi

# The kernel and initramfs stage 2 installed, out of the image.
kv=$(debugfs -R "ls /boot" "$img" 2>/dev/null | tr -s ' \t' '\n\n' | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
[ -n "$kv" ] || die "no kernel in the image's /boot"
debugfs -R "dump /boot/vmlinuz-$kv $img.vmlinuz" "$img" >/dev/null 2>&1
debugfs -R "dump /boot/initrd.img-$kv $img.initrd" "$img" >/dev/null 2>&1
[ -s "$img.vmlinuz" ] && [ -s "$img.initrd" ] ||
    die "cannot take the kernel and initramfs out of the image"
echo "$want" > "$stamp"
echo "$me: $(du -h "$img" | cut -f1) used of $size, kernel $kv" >&2
printf '%s\n' "$img" "$img.vmlinuz" "$img.initrd"
