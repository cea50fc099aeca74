#!/bin/bash
# Boot the Debian 12 i386 disk image (scripts/make-debian-disk.sh) under a
# VMM, log in as root on the serial console, run a few commands, write a
# file, power off, and find the file in the image afterwards.
#
# usage: debian-disk.sh [--8259] IMAGE VMM [VMM OPTION...]
# VMM is btvmm or qemu-system-i386 (for QEMU pass e.g. -accel tcg -display
# none -nodefaults -serial stdio). The test adds -kernel IMAGE.vmlinuz
# -initrd IMAGE.initrd -m 512 -append ... -drive file=COPY,format=raw,if=virtio,
# booting a sparse copy of IMAGE, which it leaves unchanged.
# --8259 boots with noapic nolapic acpi=off: no ACPI, so the kernel cannot
# switch the machine off; it halts ("reboot: System halted"), after init
# has unmounted everything, and the test then stops the VMM.
set -u
legacy=0
if [ "${1:-}" = --8259 ]; then
    legacy=1
    shift
fi
[ $# -ge 2 ] || { echo "usage: $0 [--8259] IMAGE VMM [VMM OPTION...]" >&2; exit 2; }
img=$1
shift
vmm=("$@")
for f in "$img" "$img.vmlinuz" "$img.initrd"; do
    [ -s "$f" ] || { echo "debian-disk: $f missing: run scripts/make-debian-disk.sh -o $img" >&2; exit 1; }
done
for tool in debugfs e2fsck; do
    command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] || [ -x /sbin/$tool ] ||
        { echo "debian-disk: $tool not found (apt-get install e2fsprogs)" >&2; exit 1; }
done
PATH=$PATH:/usr/sbin:/sbin
APPEND="console=ttyS0 root=/dev/vda rw"
[ $legacy = 1 ] && APPEND="$APPEND noapic nolapic acpi=off"
PROMPT='root@btvmm-debian:~# '
HALTED='reboot: (System halted|Power down)'
VM_LIMIT=900

work=$(mktemp -d "${TMPDIR:-/tmp}/debian-disk.XXXXXX")
vm=""
cleanup() {
    [ -n "$vm" ] && kill "$vm" 2>/dev/null && wait "$vm" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
fail=0
check() { # DESCRIPTION COMMAND...
    if "${@:2}"; then echo "ok: $1"; else echo "FAIL: $1" >&2; fail=1; fi
}
wait_for() { # PATTERN SECONDS: in the console output; 1 if the VM ended first
    local n=$(( $2 * 20 ))
    while [ $n -gt 0 ]; do
        grep -aq -E -- "$1" "$work/out" && return 0
        kill -0 "$vm" 2>/dev/null || return 1
        sleep 0.05
        n=$((n - 1))
    done
    return 1
}
# A failure keeps the whole console output in $keep.
keep=${TMPDIR:-/tmp}/debian-disk-console.log
give_up() { # WHY: the console's last lines, then fail
    tail -30 "$work/out" | tr -d '\r' >&2
    cp "$work/out" "$keep"
    echo "debian-disk: FAIL: $1 (console output in $keep)" >&2
    exit 1
}
# The output of command number N: the lines between its echoed command
# line (which has @@ENDN""@@) and its end marker (@@ENDN@@), without the
# terminal's escape sequences (bash's bracketed-paste switches).
answer() { # N
    tr -d '\r' < "$work/out" | sed 's/\x1b\[[?0-9;]*[a-zA-Z]//g' |
        awk -v e="@@END$1@@" -v c="@@END$1\"\"@@" 'index($0, e) { exit } index($0, c) { on = 1; next } on'
}

cp --sparse=always "$img" "$work/disk.img" || { echo "debian-disk: cannot copy $img" >&2; exit 1; }
mkfifo "$work/in"
start=$(date +%s)
timeout "$VM_LIMIT" "${vmm[@]}" -kernel "$img.vmlinuz" -initrd "$img.initrd" -m 512 \
    -append "$APPEND" -drive "file=$work/disk.img,format=raw,if=virtio" \
    < "$work/in" > "$work/out" 2>&1 &
vm=$!
exec 3> "$work/in"

wait_for 'login: *$' 600 || give_up "no login prompt"
echo "login prompt after $(( $(date +%s) - start )) s"
printf 'root\n' >&3
wait_for "$PROMPT" 60 || give_up "no shell after logging in as root"
# Command 1 widens the terminal: readline would wrap longer command lines
# and break them up in the echo.
i=0
for cmd in "stty cols 250" "uname -r" "cat /proc/cmdline" "grep ' / ' /proc/mounts" \
           "echo btvmm-was-here > /root/proof; sync" "dmesg --level=emerg,alert,crit,err,warn"; do
    i=$((i + 1))
    printf '%s; echo @@END%d""@@\n' "$cmd" "$i" >&3
    wait_for "@@END$i@@" 120 || give_up "no answer to: $cmd"
done
check "uname -r: Debian's 686 kernel ($(answer 2))" grep -qE '^6\.1\.0-[0-9]+-686$' <(answer 2)
check "/proc/cmdline: $APPEND" test "$(answer 3)" = "$APPEND"
check "root file system: /dev/vda, ext4, read-write ($(answer 4))" grep -qE '^/dev/vda / ext4 rw[, ]' <(answer 4)
echo "kernel warnings and errors (for information):"
answer 6 | sed 's/^/  /'

# As a user would: sysvinit stops the services, unmounts the file
# systems, and asks the kernel to switch off.
printf 'poweroff\n' >&3
exec 3>&-
n=$(( 300 * 20 ))
while kill -0 "$vm" 2>/dev/null && [ $n -gt 0 ]; do
    [ $legacy = 1 ] && grep -aqE "$HALTED" "$work/out" && break
    sleep 0.05
    n=$((n - 1))
done
if kill -0 "$vm" 2>/dev/null; then
    if [ $legacy = 1 ] && grep -aqE "$HALTED" "$work/out"; then
        sleep 1 # the kernel's last messages
        echo "ok: poweroff: the kernel halted (no ACPI to switch the machine off: VMM stopped)"
    else
        check "poweroff ends the VMM within 300 s" false
    fi
    kill "$vm"
    wait "$vm" 2>/dev/null
else
    wait "$vm"
    status=$?
    check "poweroff ends the VMM with status 0 (got $status)" test $status = 0
fi
vm=""
echo "boot, session and poweroff took $(( $(date +%s) - start )) s"
check "the file written in the guest is in the image" \
    test "$(debugfs -R 'cat /root/proof' "$work/disk.img" 2>/dev/null)" = btvmm-was-here
# A file system still mounted (or with a journal to replay) is not clean.
fs_clean() { e2fsck -fn "$work/disk.img" >/dev/null 2>&1; }
check "init left the file system clean (e2fsck -fn)" fs_clean

[ $fail -eq 0 ] && echo "debian-disk: PASS" ||
    { cp "$work/out" "$keep"; echo "debian-disk: FAIL (console output in $keep)" >&2; }
exit $fail
