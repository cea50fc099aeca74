#!/bin/bash
# bench: what an OS does all day (fork+exec, system calls, page faults, CR3 switches) in the Linux guest: btvmm vs QEMU TCG, idle and with a CPU hog per host CPU, in one run.
#
# usage: run-os.sh --btvmm PATH --guest DIR [--reps R] [--scale S] [--qemu PATH]
#                  [--modes "on off"] [--no-hogs] [--png FILE]
#
# DIR from scripts/make-linux-guest.sh. Each rep boots the guest once per
# runner and load and runs the six workloads below in that one session,
# each timed by the guest's own `time` (10 ms resolution); the table shows
# medians over R reps. --modes lists btvmm's --de modes to run (default:
# btvmm's own choice, shown as "btvmm", and "off"). The hogs are busy
# shell loops, one per host CPU, started before and ended after each
# loaded run. Native i386 figures come from the guest's busybox run on the
# host, where the host runs 32-bit code. --png draws the table (gnuplot,
# installed from Debian's packages if missing). Tests never assert on time.
set -eu
. "$(dirname "$0")/lib.sh"
btvmm="" dir="" reps=3 scale=1 qemu=qemu-system-i386 modes="default off" hogs=1 png=""
while [ $# -gt 0 ]; do
    case $1 in
    --btvmm) btvmm=$2; shift 2 ;;
    --guest) dir=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --qemu) qemu=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --no-hogs) hogs=0; shift ;;
    --png) png=$2; shift 2 ;;
    *) echo "run-os.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$btvmm" ] && [ -n "$dir" ] || { echo "usage: $0 --btvmm PATH --guest DIR [--reps R] [--scale S]" >&2; exit 2; }
case $scale in ''|*[!0-9]*|0) echo "run-os.sh: --scale takes a positive integer" >&2; exit 2 ;; esac
APPEND="console=ttyS0 noapic nolapic acpi=off tsc=reliable quiet"
# QEMU's CPU is qemu32 with NX, as btvmm's has: the 686-pae kernel
# (make-linux-guest.sh --pae) then runs with NX under both; the 686 one
# cannot use it.
work=$(mktemp -d)
vm="" hog_pids=""
stop_hogs() { [ -n "$hog_pids" ] && kill $hog_pids 2>/dev/null; wait $hog_pids 2>/dev/null || true; hog_pids=""; }
trap 'stop_hogs; [ -n "$vm" ] && kill $vm 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT

n_fork=$((200 * scale)) n_dd=$((50000 * scale)) n_loop=$((50000 * scale)) n_seq=$((100000 * scale))
names=("fork+exec" "dd 512 B" "ls -lR /sys" "sh loop" "seq | awk" "sha256sum")
labels=("$n_fork x fork+exec /bin/true" "dd bs=512 count=$n_dd" "ls -lR /sys, twice"
        "sh loop, $n_loop rounds" "seq 1 $n_seq | awk sum" "sha256sum of 32 MiB")
# The guest script: a timed command per workload, in the order above.
read -r -d '' SCRIPT <<EOF || true
dd if=/dev/zero of=/tmp/f bs=1M count=32 2>/dev/null
time sh -c 'i=0; while [ \$i -lt $n_fork ]; do /bin/true; i=\$((i+1)); done'
time sh -c 'dd if=/dev/zero of=/dev/null bs=512 count=$n_dd 2>/dev/null'
time sh -c 'ls -lR /sys >/dev/null 2>&1; ls -lR /sys >/dev/null 2>&1'
time sh -c 'i=0; while [ \$i -lt $n_loop ]; do i=\$((i+1)); done'
time sh -c 'seq 1 $n_seq | awk "{ s += \\\$1 } END { print s }" >/dev/null'
time sha256sum /tmp/f >/dev/null
EOF

# session RUNNER: boot, run SCRIPT, leave the guest's output in $work/out.
session() {
    local runner=$1
    rm -f "$work/in" "$work/out"
    mkfifo "$work/in"
    case $runner in
    qemu) timeout 900 "$qemu" -accel tcg -cpu qemu32,+nx -display none -nodefaults -no-reboot -m 256 -serial stdio \
              -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" -append "$APPEND" \
              < "$work/in" > "$work/out" 2>&1 & ;;
    default) timeout 900 "$btvmm" -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" -m 256 \
              -append "$APPEND" < "$work/in" > "$work/out" 2>&1 & ;;
    *) timeout 900 "$btvmm" --de "$runner" -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" -m 256 \
              -append "$APPEND" < "$work/in" > "$work/out" 2>&1 & ;;
    esac
    vm=$!
    exec 3> "$work/in"
    local t=0
    until grep -aq '/ # ' "$work/out"; do
        sleep 0.05; t=$((t + 1))
        if [ $t -gt 6000 ] || ! kill -0 $vm 2>/dev/null; then
            echo "run-os.sh: $runner did not reach the shell prompt:" >&2; tail -5 "$work/out" >&2; exit 1
        fi
    done
    printf '%s\necho @@DONE@@\n' "$SCRIPT" >&3
    until grep -aq '^@@DONE@@' "$work/out"; do
        sleep 0.1
        kill -0 $vm 2>/dev/null || { echo "run-os.sh: $runner stopped during the workloads:" >&2; tail -5 "$work/out" >&2; exit 1; }
    done
    printf 'poweroff -f\n' >&3
    exec 3>&-
    for i in $(seq 1 100); do kill -0 $vm 2>/dev/null || break; sleep 0.05; done
    kill $vm 2>/dev/null || true
    wait $vm 2>/dev/null || true
    vm=""
}
# real<TAB>XmY.YYs -> seconds, the Nth such line of the guest's output
real_n() { grep -a '^real' "$work/out" | tr -d '\r' | sed -n "${1}p" |
           awk '{ split($2, m, "m"); print m[1] * 60 + $3 }'; }

runners=()
for m in $modes; do runners+=("$m"); done
runners+=(qemu)
loads=(idle)
[ "$hogs" = 1 ] && loads+=(hogs)
declare -A res # [runner,load,workload] = "t1 t2 ..."
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$reps"); do
    for load in "${loads[@]}"; do
        if [ "$load" = hogs ]; then
            for c in $(seq 1 "$(nproc)"); do (while :; do :; done) & hog_pids="$hog_pids $!"; done
        fi
        for runner in "${runners[@]}"; do
            session "$runner"
            line="rep $r/$reps $load $runner:"
            for w in 0 1 2 3 4 5; do
                t=$(real_n $((w + 1)))
                [ -n "$t" ] || { echo "run-os.sh: $runner gave no time for ${names[$w]}" >&2; exit 1; }
                res[$runner,$load,$w]="${res[$runner,$load,$w]:-} $t"
                line="$line $t"
            done
            echo "$line" >&2
        done
        stop_hogs
    done
done

# Native i386: the guest's own busybox, where this host runs it.
native=()
deb=$(ls ~/.cache/btvmm/debs/busybox-static_*_i386.deb 2>/dev/null | tail -1 || true)
if [ -n "$deb" ]; then
    mkdir -p "$work/bin"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO ./bin/busybox > "$work/bin/busybox"
    chmod +x "$work/bin/busybox"
    if "$work/bin/busybox" true 2>/dev/null; then
        for a in sh true dd ls seq awk sha256sum; do ln -sf busybox "$work/bin/$a"; done
        dd if=/dev/zero of="$work/f" bs=1M count=32 2>/dev/null
        nat() { local s e; s=$(now); PATH=$work/bin:$PATH "$work/bin/sh" -c "$1" >/dev/null 2>&1; e=$(now); echo "$e - $s" | bc -l; }
        cmds=("i=0; while [ \$i -lt $n_fork ]; do $work/bin/true; i=\$((i+1)); done"
              "dd if=/dev/zero of=/dev/null bs=512 count=$n_dd"
              "" "i=0; while [ \$i -lt $n_loop ]; do i=\$((i+1)); done"
              "seq 1 $n_seq | awk '{ s += \$1 } END { print s }'" "sha256sum $work/f")
        for w in 0 1 2 3 4 5; do
            if [ -z "${cmds[$w]}" ]; then native+=("-"); continue; fi # /sys is the guest's
            native+=("$(for i in 1 2 3; do nat "${cmds[$w]}"; done | median)")
        done
    fi
fi

med() { printf '%s\n' ${res[$1]} | median; }
printf '\nseconds, median of %s reps (guest-timed); ratio = QEMU / btvmm (>1: btvmm faster)\n' "$reps"
hdr=$(printf '%-28s' workload)
for load in "${loads[@]}"; do for runner in "${runners[@]}"; do
    n=$runner; [ "$n" = default ] && n=btvmm; [ "$n" != btvmm ] && [ "$n" != qemu ] && n="de=$n"
    hdr="$hdr$(printf ' %11s' "$n/$load")"
done; hdr="$hdr$(printf ' %10s' "ratio/$load")"; done
[ ${#native[@]} -gt 0 ] && hdr="$hdr$(printf ' %9s %12s' native btvmm/native)"
echo "$hdr"
: > "$work/plot.dat"
for w in 0 1 2 3 4 5; do
    row=$(printf '%-28s' "${labels[$w]:0:28}")
    plot="\"${names[$w]}\""
    for load in "${loads[@]}"; do
        for runner in "${runners[@]}"; do row="$row$(printf ' %11.2f' "$(med "$runner,$load,$w")")"; done
        b=$(med "${runners[0]},$load,$w"); q=$(med "qemu,$load,$w")
        ratio=$(echo "$q / ($b + 0.005)" | bc -l)
        row="$row$(printf ' %9.2fx' "$ratio")"
        plot="$plot $ratio"
    done
    if [ ${#native[@]} -gt 0 ]; then
        if [ "${native[$w]}" = - ]; then row="$row$(printf ' %9s %12s' - -)"
        else row="$row$(printf ' %9.3f %11.2fx' "${native[$w]}" "$(echo "$(med "${runners[0]},idle,$w") / ${native[$w]}" | bc -l)")"; fi
    fi
    echo "$row"
    echo "$plot" >> "$work/plot.dat"
done
[ ${#native[@]} -gt 0 ] || echo "native i386: this host does not run 32-bit programs (btvmm --check-host: compat-mode)"

if [ -n "$png" ]; then
    if ! command -v gnuplot >/dev/null; then
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        echo "run-os.sh: installing gnuplot-nox for the plot" >&2
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1 || true
    fi
    if command -v gnuplot >/dev/null; then
        cols="using 2:xtic(1) title \"idle\""
        [ "$hogs" = 1 ] && cols="$cols, '' using 3 title \"one hog per CPU\""
        gnuplot <<EOF
set terminal png size 900,480
set output "$png"
set title "btvmm vs QEMU TCG, Linux guest workloads: QEMU time / btvmm time (above 1: btvmm faster)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y 2
set yrange [0.05:32]
set ylabel "QEMU / btvmm"
set grid ytics
set key top left
f(x) = 1
plot "$work/plot.dat" $cols, f(x) notitle with lines lt -1
EOF
        echo "plot: $png"
    else
        echo "run-os.sh: no gnuplot: no plot" >&2
    fi
fi
