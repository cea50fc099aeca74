/*
 * Invariant checks that stay on in every build, and the two ways btvmm
 * stops on a failure of its own rather than the guest's:
 *
 *   BTVMM_CHECK(cond)     a monitor bug: prints "btvmm: internal error:
 *                         FILE:LINE: check `cond` failed", then what the
 *                         monitor registered (guest EIP, recent exits), and
 *                         exits with HD_EXIT_BUG;
 *   hd_host_failed(...)   a host resource failed where btvmm cannot go on
 *                         (an mprotect of the guest view refused): one line,
 *                         exit HD_EXIT_HOST.
 *
 * Header-only use for everything below monitor/ (bt/, shadowmm/, devices/):
 * none of them knows the virtual CPU, the monitor's report hook does.
 */
#ifndef BTVMM_INVARIANT_H
#define BTVMM_INVARIANT_H

/* Exit statuses, the README's "Exit status" table (monitor.h's enum uses them). */
#define HD_EXIT_HOST 10
#define HD_EXIT_BUG  16

_Noreturn void hd_check_failed(const char *file, int line, const char *expr);
_Noreturn void hd_host_failed(const char *what, int err);

/* Called after the failure line and before exit: the monitor prints the
 * guest's state there. One hook; NULL removes it. */
void hd_set_failure_report(void (*report)(void *ctx), void *ctx);

#define BTVMM_CHECK(cond) \
	((cond) ? (void)0 : hd_check_failed(__FILE__, __LINE__, #cond))

#endif
