#!/bin/sh
# The monitor console on its socket: a scripted session against a spinning guest, each answer checked.
#
# usage: monitor-test.sh BTVMM MONCLIENT GUEST.elf PAGING-GUEST.elf
#
# GUEST is end-spin.elf (tests/cli): its ELF header loaded at 1 MiB, then
# a loop adding 1 to EAX forever, paging off. The session: with -S, the
# registers before the first instruction (multiboot's EAX); "cont";
# "stop", then registers twice (identical: nothing ran
# between them) and memory by linear and physical address (the ELF
# header at 0x100000); "info mem" (no paging), "info stats", an unknown
# command, "help"; "cont"; "quit", which ends btvmm with status 12 and
# removes the socket. Then PAGING-GUEST (userbench.elf, its ring-3 loop:
# the low 32 MiB identity-mapped for ring 3) is stopped and its mappings
# listed: "info mem" as QEMU 7.2 prints it for that guest, "info tlb" a
# line per page. Last, the terminal (-serial mon:stdio, input from a
# pipe): Ctrl-A h lists the escapes, Ctrl-A c opens the console there,
# whose "info registers" and "quit" work as on the socket; and with
# -monitor stdio (COM1 elsewhere) the terminal starts on the console.
set -u
if [ $# -ne 4 ]; then
    echo "usage: $0 BTVMM MONCLIENT GUEST.elf PAGING-GUEST.elf" >&2
    exit 2
fi
btvmm=$1 client=$2 guest=$3 paging_guest=$4
work=$(mktemp -d "${TMPDIR:-/tmp}/monitor-test.XXXXXX") || exit 2
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
sock=$work/mon

"$btvmm" -S -nographic -serial none -monitor "unix:$sock,server,nowait" -kernel "$guest" \
    </dev/null >"$work/stdout" 2>"$work/stderr" &
pid=$!
"$client" "$sock" >"$work/session" <<'COMMANDS'
info registers
cont
stop
info registers
info registers
x/4xw 0x100000
xp/2xw 0x100000
x/2xb $eip
info mem
info stats
frobnicate
help
cont
quit
COMMANDS
client_status=$?
wait "$pid"
status=$?
pid=""
sed 's/^/  | /' "$work/session" >&2

fail=0
check() { # check WHAT: say what failed
    echo "monitor-test: FAIL: $1" >&2
    fail=1
}
[ "$client_status" -eq 0 ] || check "the client could not talk to the console"
[ "$status" -eq 12 ] || check "btvmm ended with status $status, want 12 (quit)"
grep -q 'quit from the monitor console' "$work/stderr" || check "no quit message on stderr"
[ ! -e "$sock" ] || check "the socket $sock is left behind"
grep -q '^btvmm .* monitor - type .help. for more information$' "$work/session" ||
    check "no greeting"
# The two register dumps after "stop" (the 2nd and 3rd) are the same.
awk '/^EAX=/ { n++ } /^[A-Z][A-Z0-9 ]*=/ && n >= 2 && n <= 3 { print > ("'"$work"'/regs" n) }' \
    "$work/session"
[ "$(grep -c '^EAX=' "$work/session")" -eq 3 ] || check "want 3 register dumps"
[ "$(grep -m 1 '^EAX=' "$work/session" | cut -c1-12)" = "EAX=2badb002" ] ||
    check "-S did not hold the guest before its first instruction"
[ -s "$work/regs2" ] && cmp -s "$work/regs2" "$work/regs3" ||
    check "the registers changed while the guest was stopped"
grep -Eq '^EIP=001[0-9a-f]{5} EFL=' "$work/regs2" || check "EIP is not in the guest's code"
grep -q '^CS =0010 00000000 ffffffff 00cf9b00$' "$work/regs2" || check "CS is not the multiboot flat code segment"
grep -Eq '^00100000: 0x464c457f 0x00010101 0x00000000 0x00000000$' "$work/session" ||
    check "x/4xw 0x100000 does not show the ELF header loaded there"
grep -Eq '^0000000000100000: 0x464c457f 0x00010101$' "$work/session" || check "xp/2xw 0x100000"
grep -Eq '^001[0-9a-f]{5}: 0x[0-9a-f]{2} 0x[0-9a-f]{2}$' "$work/session" || check "x/2xb \$eip"
grep -q '^PG disabled$' "$work/session" || check "info mem without paging"
grep -q "unknown command: 'frobnicate'" "$work/session" || check "an unknown command"
grep -q '^system_powerdown ' "$work/session" || check "help"
grep -Eq '^EAX=[0-9a-f]{8} ' "$work/regs2" && ! grep -q '^EAX=2badb002' "$work/regs2" ||
    check "the guest did not run after cont"
grep -qi 'exit' "$work/session" || check "info stats printed no exits"

"$btvmm" -serial none -monitor "unix:$sock,server,nowait" -m 64 \
    -append "op=loop iters=4000000000" -kernel "$paging_guest" \
    </dev/null >"$work/stdout" 2>"$work/stderr" &
pid=$!
# Until the guest has turned paging on (it is not there at once).
tries=0
while [ "$tries" -lt 100 ]; do
    printf 'stop\ninfo mem\ncont\n' | "$client" "$sock" >"$work/paging" || break
    grep -q '^PG disabled$' "$work/paging" || break
    tries=$((tries + 1))
done
printf 'stop\ninfo mem\ninfo tlb\nquit\n' | "$client" "$sock" >"$work/paging"
wait "$pid"
status=$?
pid=""
head -8 "$work/paging" | sed 's/^/  | /' >&2
[ "$status" -eq 12 ] || check "the paging guest: status $status, want 12 (quit)"
grep -q '^0000000000000000-0000000002000000 0000000002000000 urw$' "$work/paging" ||
    check "info mem is not QEMU's for the paging guest"
pages=$(grep -Ec '^[0-9a-f]{16}: [0-9a-f]{16} urw$' "$work/paging")
[ "$pages" -eq 8192 ] || check "info tlb lists $pages pages, want 8192 (32 MiB)"

printf '\001h\001cinfo registers\rquit\r' |
    "$btvmm" -serial mon:stdio -m 64 -append "op=loop iters=4000000000" \
        -kernel "$paging_guest" >"$work/terminal" 2>"$work/stderr"
status=$?
tr -d '\r' <"$work/terminal" >"$work/terminal.lf"
head -8 "$work/terminal.lf" | sed 's/^/  | /' >&2
[ "$status" -eq 12 ] || check "the terminal console: status $status, want 12 (quit)"
grep -q '^C-a c    switch between console and monitor$' "$work/terminal.lf" ||
    check "Ctrl-A h did not list the escapes"
grep -q '^(btvmm) info registers$' "$work/terminal.lf" && grep -q '^EAX=' "$work/terminal.lf" ||
    check "Ctrl-A c did not open the console on the terminal"
grep -q 'quit from the monitor console' "$work/stderr" || check "quit on the terminal"

# -monitor stdio, COM1 elsewhere: the terminal starts on the console.
printf 'info registers\rquit\r' |
    "$btvmm" -serial none -monitor stdio -m 64 -append "op=loop iters=4000000000" \
        -kernel "$paging_guest" >"$work/terminal" 2>"$work/stderr"
status=$?
tr -d '\r' <"$work/terminal" >"$work/terminal.lf"
[ "$status" -eq 12 ] || check "-monitor stdio: status $status, want 12 (quit)"
head -n 1 "$work/terminal.lf" | grep -q ' monitor - type .help. for more information$' &&
    grep -q '^EAX=' "$work/terminal.lf" || check "-monitor stdio did not start on the console"

[ "$fail" -eq 0 ] && echo "monitor-test: PASS"
exit $fail
