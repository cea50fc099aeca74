#!/bin/sh
# Build btvmm three ways and run every test: the plain build (unit tests,
# differential guests against QEMU, CLI contract), the same suite under
# UndefinedBehaviorSanitizer, and the unit tests under AddressSanitizer
# (ASan cannot run the monitor itself: its shadow memory lies inside the
# host [0, 8 GiB) that btvmm reserves for the guest). Run as root, it then
# runs the plain suite once more as an unprivileged user
# (btvmm needs no privilege, and must not come to need one). Last, it
# checks that no test left a VM behind.
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
JOBS=$(nproc 2>/dev/null || echo 2)

# The VMs of this machine before the suite (a user's own are not ours).
vm_pids() { pgrep -x 'btvmm|btvmm-userworl|qemu-system-i38' 2>/dev/null | sort; }
before=$(vm_pids || true)

run_suite() { # dir cmake-args ctest-args
    dir=$1; shift
    cfg=$1; shift
    echo "== btvmm tests: $dir"
    # shellcheck disable=SC2086
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo $cfg >/dev/null
    if [ "$dir" = build-asan ]; then
        cmake --build "$dir" -j "$JOBS" --target unit-tests
    else
        cmake --build "$dir" -j "$JOBS"
    fi
    # shellcheck disable=SC2068
    ctest --test-dir "$dir" --output-on-failure -j "$JOBS" $@
}

# The unprivileged pass: a copy of the sources owned by an ordinary user
# (the checkout may sit where that user cannot read), built and tested as
# that user with a clean environment.
run_unprivileged() {
    user=${BTVMM_TEST_USER:-nobody}
    group=$(id -gn "$user" 2>/dev/null || echo nogroup)
    echo "== btvmm tests: as the unprivileged user '$user'"
    tmp=$(mktemp -d /tmp/btvmm-unpriv.XXXXXX)
    chmod 755 "$tmp"
    mkdir "$tmp/src" "$tmp/cache"
    tar --exclude='./build*' --exclude=./.git -cf - . | tar -C "$tmp/src" -xf -
    # The Linux guest's packages, as downloaded by the root pass.
    cp -r "${BTVMM_CACHE:-${HOME:-/root}/.cache/btvmm}/debs" "$tmp/cache/" 2>/dev/null || true
    # The Debian disk image the root pass built (debootstrap needs root).
    cp -r --sparse=always "${BTVMM_CACHE:-${HOME:-/root}/.cache/btvmm}/debian" "$tmp/cache/" \
        2>/dev/null || true
    chown -R "$user:$group" "$tmp"
    status=0
    setpriv --reuid="$user" --regid="$group" --clear-groups --reset-env \
        env HOME="$tmp" BTVMM_CACHE="$tmp/cache" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        sh -c 'cd "$1/src" &&
               [ "$(id -u)" -ne 0 ] &&
               cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
               cmake --build build -j "$2" >/dev/null &&
               ctest --test-dir build --output-on-failure -j "$2"' \
        sh "$tmp" "$JOBS" || status=$?
    rm -rf "$tmp"
    return $status
}

check_leftovers() {
    after=$(vm_pids || true)
    left=$(printf '%s\n' "$after" | grep -vxF -e "$before" -e '' || true)
    [ -z "$before" ] && left=$after
    if [ -n "$left" ]; then
        echo "btvmm tests: FAIL: VMs left running by the tests:" >&2
        # shellcheck disable=SC2086
        ps -o pid,ppid,etime,args -p $(echo $left | tr ' ' ',') >&2 || true
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
        return 1
    fi
    echo "btvmm tests: no VM left running"
}

run_suite build ""
run_suite build-ubsan "-DBTVMM_SANITIZE=undefined"
run_suite build-asan "-DBTVMM_SANITIZE=address" -L unit
if [ "$(id -u)" -eq 0 ]; then
    run_unprivileged
fi
check_leftovers
