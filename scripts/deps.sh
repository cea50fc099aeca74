#!/bin/sh
# Install btvmm's build and test dependencies from Debian's packages.
# Idempotent and quiet when everything is already present.
set -e
PKGS="cmake gcc make pkg-config libzydis-dev libzycore-dev libelf-dev check \
qemu-system-x86 nasm gcc-multilib binutils cpio gzip bc \
debootstrap e2fsprogs gdb"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "btvmm: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
