#!/bin/sh
# Build btvmm, assemble Debian's i386 kernel and busybox (scripts/make-linux-guest.sh),
# and boot them under btvmm to an interactive shell on this terminal.
# usage: scripts/run-linux.sh [--pae] [BTVMM OPTION...]
# --pae boots the 686-pae kernel (PAE paging and NX) instead of the 686 one.
# Extra arguments go to btvmm (e.g. --stats). Ctrl-A x leaves btvmm.
set -e
cd "$(dirname "$0")/.."
guest=build/linux-guest pae=""
if [ "${1:-}" = --pae ]; then
    guest=build/linux-guest-pae pae=--pae
    shift
fi
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target btvmm >/dev/null
sh scripts/make-linux-guest.sh $pae "$guest" >/dev/null
exec build/monitor/btvmm -kernel "$guest/vmlinuz" \
    -initrd "$guest/initrd.gz" -m 256 \
    -append "console=ttyS0 quiet" "$@"
