#!/bin/bash
# Boot Debian's i386 kernel with a busybox initramfs under btvmm (and QEMU TCG), drive a shell session, check every answer.
#
# usage: boot-test.sh BTVMM GUESTDIR [--expect-pae] [--platform pic|apic] [BTVMM OPTION...]
# GUESTDIR is made by scripts/make-linux-guest.sh (vmlinuz, initrd.gz). The
# options go to btvmm (--de on|off|auto); --de on on a host that cannot run
# 32-bit code natively skips the test (status 77). --expect-pae: the guest
# is the 686-pae kernel (make-linux-guest.sh --pae), and Linux must run
# with PAE paging and NX.
set -u
btvmm=$1 dir=$2
shift 2
opts=("$@")
pae=0
if [ "${opts[0]:-}" = "--expect-pae" ]; then
    pae=1
    opts=("${opts[@]:1}")
fi
# --platform pic (the default): Linux told to use the 8259s alone, as
# before btvmm had APICs and ACPI; --platform apic: the plain command line,
# so Linux finds the local APIC, I/O APIC, HPET and PM timer through ACPI.
platform=pic
if [ "${opts[0]:-}" = "--platform" ]; then
    platform=${opts[1]:-}
    opts=("${opts[@]:2}")
fi
case $platform in
    pic) APPEND="console=ttyS0 noapic nolapic acpi=off tsc=reliable"
         TIMER_IRQ='^ +0: +[0-9]+ +XT-PIC +timer' SERIAL_IRQ='^ +4: +[0-9]+ +XT-PIC +ttyS0' ;;
    apic) APPEND="console=ttyS0"
          TIMER_IRQ='^ +0: +[0-9]+ +IO-APIC +2-edge +timer'
          SERIAL_IRQ='^ +4: +[0-9]+ +IO-APIC +4-edge +ttyS0' ;;
    *) echo "usage: $0 BTVMM GUESTDIR [--expect-pae] [--platform pic|apic] [BTVMM OPTION...]" >&2; exit 2 ;;
esac
if [ "${opts[*]}" = "--de on" ] &&
   "$btvmm" --check-host 2>/dev/null | grep -Eq '^compat-mode +missing'; then
    echo "skipped: --de on needs a host that runs 32-bit code natively (btvmm --check-host)"
    exit 77
fi
# Kernel warnings that are not btvmm's doing (each explained):
#  L1TF    Debian's 686 kernel has no PAE, so no L1TF mitigation (QEMU too)
#  mce     MCE is not in the virtual CPUID; the mce device still tries (QEMU too)
#  weird   "boot CPU not listed by the BIOS": no MP table (nolapic); harmless
#  PMU     no performance counters are virtualized (an information line)
# tsc=reliable: the guest's TSC is the host's invariant TSC. Without it the
# clocksource watchdog, which checks the TSC against PIT ticks, may flag it:
# a PIT tick can reach the guest a few ms late under host load.
KNOWN='L1TF|mce: Unable to init MCE|boot CPU \(#0\) not listed|PMU'
export KNOWN
work=$(mktemp -d "${TMPDIR:-/tmp}/boot-test.XXXXXX")
# Every VM started here ends with the test, whatever happens: each runs
# under timeout(1) too, so none outlives a killed test for long.
VM_LIMIT=600
vms=""
cleanup() {
    for p in $vms; do kill "$p" 2>/dev/null; done
    for p in $vms; do wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
fail=0

# session NAME CMD...: boot, run the commands below, collect outputs.
session() {
    local name=$1
    shift
    mkfifo "$work/$name.in"
    timeout "$VM_LIMIT" "$@" < "$work/$name.in" > "$work/$name.out" 2>&1 &
    vm=$!
    vms="$vms $vm"
    exec 3> "$work/$name.in"
    wait_for "$name" '/ # ' 120 || { echo "$name: FAIL: no shell prompt" >&2; fail=1; return; }
    local i=0
    for cmd in "uname -a" "cat /proc/cpuinfo" "cat /proc/interrupts" \
               "echo clocksource=\$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)" \
               "ls /" \
               'i=0; s=0; while [ $i -lt 1000 ]; do s=$((s+i*i)); i=$((i+1)); done; echo sum=$s' \
               "dmesg -r | grep -E '^<[0-4]>' | grep -v -E '$KNOWN' || true" \
               'i=0; while [ $i -lt 100 ]; do /bin/true || break; i=$((i+1)); done; echo forks=$i' \
               'echo bytes=$(dd if=/dev/zero bs=512 count=2000 2>/dev/null | wc -c)' \
               "echo nx=\$(dmesg | grep -m1 -o 'NX (Execute Disable) protection: active')"; do
        i=$((i + 1))
        printf '%s; echo "@@END%d@@"\n' "$cmd" "$i" >&3
        wait_for "$name" "^@@END$i@@" 60 || { echo "$name: FAIL: no answer to: $cmd" >&2; fail=1; return; }
    done
    # As a user would: busybox init stops everything, then the kernel
    # powers off (btvmm exits; QEMU only halts: give up on it after 30 s).
    printf 'poweroff\n' >&3
    exec 3>&-
    finish "$name"
}

finish() { # NAME: wait for the VM to end or halt, record its status
    local name=$1 n=600
    while kill -0 $vm 2>/dev/null && [ $n -gt 0 ] &&
          ! grep -aq 'System halted' "$work/$name.out"; do
        sleep 0.05
        n=$((n - 1))
    done
    sleep 0.2
    if kill -0 $vm 2>/dev/null; then
        kill $vm
        wait $vm 2>/dev/null
        echo killed > "$work/$name.status"
    else
        wait $vm
        echo $? > "$work/$name.status"
    fi
}

wait_for() { # NAME PATTERN SECONDS
    local n=$(( $3 * 20 ))
    while [ $n -gt 0 ]; do
        grep -aq -E -- "$2" "$work/$1.out" && return 0
        kill -0 $vm 2>/dev/null || return 1
        sleep 0.05
        n=$((n - 1))
    done
    return 1
}

# The output of command number N (between its echo and the next marker).
answer() { # NAME N
    awk -v s="@@END$(( $2 - 1 ))@@" -v e="@@END$2@@" '
        $0 ~ "^" e { exit } on { print } index($0, s) == 1 && '"$2"' > 1 { on = 1 }
        '"$2"' == 1 && /^\/ # / && !on { on = 1; next }' "$work/$1.out" | tr -d '\r' | grep -v '@@END'
}

check() { # DESCRIPTION COMMAND...
    if "${@:2}"; then echo "ok: $1"; else echo "FAIL: $1" >&2; fail=1; fi
}

session btvmm "$btvmm" "${opts[@]}" -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" -m 256 -append "$APPEND"
status=$(cat "$work/btvmm.status" 2>/dev/null || echo none)
check "btvmm: poweroff ends btvmm with status 0 (got $status)" test "$status" = 0
check "btvmm: init stopped everything first" grep -aq 'The system is going down NOW' "$work/btvmm.out"
flavour=686
[ $pae = 1 ] && flavour=686-pae
check "btvmm: uname -a ($flavour)" grep -aq "Linux btvmm 6\.1\.0-[0-9]*-$flavour .* i686 GNU/Linux" "$work/btvmm.out"
if [ $pae = 1 ]; then
    check "btvmm: /proc/cpuinfo: pae and nx" \
        sh -c "grep -aE '^flags' '$work/btvmm.out' | grep -qw pae && grep -aE '^flags' '$work/btvmm.out' | grep -qw nx"
    check "btvmm: dmesg: NX (Execute Disable) protection: active" \
        grep -aq '^nx=NX (Execute Disable) protection: active' "$work/btvmm.out"
fi
check "btvmm: /proc/cpuinfo: GenuineIntel, family 6, SSE2" \
    sh -c "grep -aq 'vendor_id.*GenuineIntel' '$work/btvmm.out' && grep -aq 'cpu family.*: 6' '$work/btvmm.out' && grep -aE '^flags' '$work/btvmm.out' | grep -q 'sse2'"
check "btvmm: /proc/interrupts: the timer ($platform)" grep -aqE "$TIMER_IRQ" "$work/btvmm.out"
check "btvmm: /proc/interrupts: the serial port, IRQ 4 ($platform)" grep -aqE "$SERIAL_IRQ" "$work/btvmm.out"
if [ "$platform" = apic ]; then
    # Calibrated against the HPET/PM timer. (With the 8259 alone Linux
    # calibrates against the PIT, whose port reads are too slow under
    # translation for its variance limits: it may fall back to the PIT.)
    check "btvmm: the TSC is the clocksource" grep -aq '^clocksource=tsc' "$work/btvmm.out"
    check "btvmm: poweroff through ACPI S5" grep -aq 'guest powered off (ACPI S5)' "$work/btvmm.out"
fi
check "btvmm: ls /" grep -aqE '^bin +dev +etc +init +proc +root +sys +tmp' "$work/btvmm.out"
check "btvmm: shell arithmetic" grep -aq '^sum=332833500' "$work/btvmm.out"
check "btvmm: 100 fork+exec of /bin/true" grep -aq '^forks=100' "$work/btvmm.out"
check "btvmm: dd through a pipe, 2000 system calls each side" grep -aq '^bytes=1024000' "$work/btvmm.out"
warnings=$(awk '/@@END6@@/{on=1;next} /@@END7@@/{on=0} on' "$work/btvmm.out" | grep -a '^<' || true)
check "btvmm: no kernel warnings or errors in dmesg but the known ones${warnings:+: $warnings}" test -z "$warnings"

if command -v qemu-system-i386 >/dev/null; then
    # qemu32 has PAE but not NX unless asked.
    qcpu=qemu32
    [ $pae = 1 ] && qcpu=qemu32,+nx
    session qemu qemu-system-i386 -accel tcg -cpu "$qcpu" -display none -nodefaults -no-reboot -m 256 \
        -serial stdio -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" -append "$APPEND"
    for pat in '^Linux btvmm .* i686 GNU/Linux' '^bin +dev +etc +init +proc +root +sys +tmp' \
               '^sum=332833500' '^forks=' '^bytes='; do
        a=$(grep -a -m1 -E "$pat" "$work/btvmm.out" | tr -d '\r')
        b=$(grep -a -m1 -E "$pat" "$work/qemu.out" | tr -d '\r')
        check "same as QEMU TCG: ${a:-<missing>}" test -n "$a" -a "$a" = "$b"
    done
fi
# `reboot`: Linux resets the machine through the i8042; btvmm ends with 0.
mkfifo "$work/reboot.in"
timeout "$VM_LIMIT" "$btvmm" "${opts[@]}" -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" -m 256 \
    -append "$APPEND" < "$work/reboot.in" > "$work/reboot.out" 2>&1 &
vm=$!
vms="$vms $vm"
exec 3> "$work/reboot.in"
if wait_for reboot '/ # ' 120; then
    printf 'reboot\n' >&3
    exec 3>&-
    finish reboot
    status=$(cat "$work/reboot.status")
    check "btvmm: reboot ends btvmm with status 0 (got $status)" test "$status" = 0
    check "btvmm: through the reset line" grep -aq 'guest reset' "$work/reboot.out"
else
    exec 3>&-
    check "btvmm: a shell prompt before reboot" false
fi

[ $fail -eq 0 ] && echo "boot-test: PASS" || echo "boot-test: FAIL" >&2
exit $fail
