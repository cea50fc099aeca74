#!/bin/sh
# Assemble a KVM host for nested.sh: Debian's x86-64 kernel and its KVM modules, from Debian's package registry.
#
# usage: make-kvm-host.sh OUTDIR
# Writes OUTDIR/vmlinuz and OUTDIR/modules/{irqbypass,ccp,kvm,kvm-amd}.ko
# (kvm-amd: QEMU TCG emulates AMD's SVM, not Intel's VMX). The package is
# kept in ${BTVMM_CACHE:-~/.cache/btvmm}/debs and not fetched again.
# Exits 77 when no such package can be had (no apt, no network).
set -e
out=${1:?usage: $0 OUTDIR}
cache=${BTVMM_CACHE:-${HOME:-/root}/.cache/btvmm}/debs
mkdir -p "$out/modules" "$cache"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# linux-image-6.1.0-N-amd64, not its -cloud- or -rt- variants.
latest_deb() {
    for f in "$cache"/linux-image-6.1.0-*-amd64_*_amd64.deb; do
        case ${f##*/} in
            *-cloud-amd64_*|*-rt-amd64_*) ;;
            *) [ -e "$f" ] && echo "${f##*/}" ;;
        esac
    done | sort -V | tail -1
}

if [ -z "$(latest_deb)" ]; then
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    kernel=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
             awk '{print $1}' | sort -V | tail -1)
    if [ -z "$kernel" ]; then
        echo "make-kvm-host: no linux-image-6.1.*-amd64 package in apt's lists" >&2
        exit 77
    fi
    echo "make-kvm-host: downloading $kernel" >&2
    if ! (cd "$cache" && apt-get download -q=2 "$kernel" 2>/dev/null) &&
       ! (cd "$cache" && $SUDO apt-get download -q=2 "$kernel"); then
        echo "make-kvm-host: cannot download $kernel" >&2
        exit 77
    fi
fi
deb=$cache/$(latest_deb)
if [ "$(cat "$out/kernel" 2>/dev/null)" != "$(basename "$deb")" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    dpkg-deb -x "$deb" "$work"
    cp "$work"/boot/vmlinuz-* "$out/vmlinuz"
    for m in virt/lib/irqbypass drivers/crypto/ccp/ccp arch/x86/kvm/kvm arch/x86/kvm/kvm-amd; do
        cp "$work"/lib/modules/*/kernel/$m.ko "$out/modules/"
    done
    basename "$deb" > "$out/kernel"
fi
echo "$out/vmlinuz"
