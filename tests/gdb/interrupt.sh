#!/bin/bash
# The GDB stub's raw protocol: attach to a running guest, continue, Ctrl-C (0x03), read EIP, kill.
#
# usage: interrupt.sh BTVMM GUEST.elf
#
# GUEST spins with interrupts off (end-spin.elf): only the stub's own
# polling can see the Ctrl-C. Without -S the guest runs at once and stops
# when a client connects. The client (bash's /dev/tcp) asks why it
# stopped ('?': T05, as QEMU answers), continues ('c'), sends Ctrl-C
# (T02, SIGINT, as QEMU), reads EIP ('p 8': in the spin loop at 1 MiB),
# then kills ('k': status 12, "killed by gdb"). (gdb's batch mode cannot
# send a Ctrl-C, hence this test. QEMU 7.2 is no reference here: it also
# sends an unasked T02 as a client connects, does not answer 'p', and
# exits 0 on 'k'.)
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 BTVMM GUEST.elf" >&2
    exit 2
fi
btvmm=$1 guest=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/gdb-interrupt.XXXXXX") || exit 2
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

listening_inode() {
    awk -v port=":$(printf '%04X' "$1")" \
        '$4 == "0A" && substr($2, length($2) - 4) == port { print $10 }' /proc/net/tcp
}

# A packet with its checksum.
packet() {
    local sum=0 i
    for ((i = 0; i < ${#1}; i++)); do
        sum=$(((sum + $(printf '%d' "'${1:i:1}")) & 255))
    done
    printf '$%s#%02x' "$1" "$sum"
}

# Read one reply packet from fd 3 into $reply (acks before it dropped).
read_reply() {
    local c body=""
    reply=""
    while IFS= read -r -t 20 -n 1 -u 3 c; do
        [ "$c" = '$' ] && break
    done || return 1
    IFS= read -r -t 20 -d '#' -u 3 body || return 1
    IFS= read -r -t 20 -n 2 -u 3 c || return 1
    reply=$body
}

# talk NAME EMULATOR: the session on a free port; its replies in $work/NAME.
talk() {
    local name=$1 emulator=$2 port=$((40000 + $$ % 10000)) tries=0
    while :; do
        if [ -z "$(listening_inode "$port")" ]; then
            "$emulator" -display none -nodefaults -no-reboot -m 64 -serial none \
                -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
                -gdb "tcp:127.0.0.1:$port" -kernel "$guest" 2>"$work/$name.stderr" &
            pid=$!
            while kill -0 "$pid" 2>/dev/null; do
                inode=$(listening_inode "$port")
                [ -n "$inode" ] && ls -l "/proc/$pid/fd" 2>/dev/null |
                    grep -q "socket:\[$inode\]" && break 2
                sleep 0.1
            done
            wait "$pid"
        fi
        port=$((port + 1)) tries=$((tries + 1))
        if [ "$tries" -ge 50 ]; then
            echo "interrupt: FAIL: $name: no free port" >&2
            exit 1
        fi
    done
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    {
        packet '?' >&3; read_reply && echo "? -> $reply"
        packet 'c' >&3
        # The guest runs; "c" has no reply until it stops.
        sleep 0.5
        printf '\003' >&3; read_reply && echo "Ctrl-C -> $reply"
        packet 'p8' >&3; read_reply && echo "p8 -> $reply"
        packet 'k' >&3
    } >"$work/$name"
    exec 3<&-
    wait "$pid"
    echo "status $?" >>"$work/$name"
    pid=""
}

talk btvmm "$btvmm"
sed 's/^/  btvmm: /' "$work/btvmm" >&2
fail=0
# EIP: little-endian hex, somewhere in the spin loop at 1 MiB.
grep -Eq '^p8 -> [0-9a-f]{2}[0-9a-f]{2}1000$' "$work/btvmm" || {
    echo "interrupt: FAIL: btvmm's EIP is not in the guest's loop" >&2
    fail=1
}
grep -q '^? -> T05thread:01;$' "$work/btvmm" || { echo "interrupt: FAIL: '?' after attaching" >&2; fail=1; }
grep -q '^Ctrl-C -> T02thread:01;$' "$work/btvmm" || { echo "interrupt: FAIL: Ctrl-C" >&2; fail=1; }
grep -q '^status 12$' "$work/btvmm" || { echo "interrupt: FAIL: btvmm did not end with 12 after k" >&2; fail=1; }
grep -q 'killed by gdb' "$work/btvmm.stderr" || { echo "interrupt: FAIL: no 'killed by gdb'" >&2; fail=1; }
[ "$(grep -c ' -> ' "$work/btvmm")" -eq 3 ] || { echo "interrupt: FAIL: want 3 replies" >&2; fail=1; }
[ "$fail" -eq 0 ] && echo "interrupt: PASS"
exit $fail
