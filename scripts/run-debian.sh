#!/bin/sh
# Boot the Debian 12 i386 disk image (scripts/make-debian-disk.sh) to a login
# prompt on this terminal; log in as root, no password. Builds btvmm and the
# image first if they are missing. `poweroff` in the guest ends the VM.
#
# usage: scripts/run-debian.sh [--qemu] [--8259] [-o IMAGE] [VMM OPTION...]
#   --qemu   boot under qemu-system-i386 (TCG) instead, for comparison
#   --8259   the 8259-only kernel command line: noapic nolapic acpi=off
#   -o IMAGE the image (default: make-debian-disk.sh's)
# Other options go to btvmm (or QEMU). Ctrl-A x leaves either VMM.
set -e
cd "$(dirname "$0")/.."
vmm=btvmm
append="console=ttyS0 root=/dev/vda rw"
img=""
while [ $# -gt 0 ]; do
    case $1 in
    --qemu) vmm=qemu; shift ;;
    --8259) append="$append noapic nolapic acpi=off"; shift ;;
    -o) [ $# -ge 2 ] || { echo "run-debian: -o needs a file name" >&2; exit 2; }
        img=$2; shift 2 ;;
    *) break ;;
    esac
done
sh scripts/deps.sh
img=$(sh scripts/make-debian-disk.sh ${img:+-o "$img"} | head -1)
if [ "$vmm" = qemu ]; then
    exec qemu-system-i386 -accel tcg -nographic -no-reboot -m 512 \
        -kernel "$img.vmlinuz" -initrd "$img.initrd" -append "$append" \
        -drive "file=$img,format=raw,if=virtio" "$@"
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target btvmm >/dev/null
exec build/monitor/btvmm -kernel "$img.vmlinuz" -initrd "$img.initrd" -m 512 \
    -append "$append" -drive "file=$img,format=raw,if=virtio" "$@"
