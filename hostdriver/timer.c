/* hostdriver: the host timer that interrupts translated code, and sleeping in HLT. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "hostdriver.h"
#include "invariant.h"

/*
 * One POSIX timer on CLOCK_MONOTONIC, armed for an absolute deadline and
 * delivering SIGALRM. Its handler only calls the registered function (the
 * monitor asks translated code to stop at its next block), so the signal
 * path stays tiny; the run loop does the rest.
 */
static timer_t host_timer;
static bool timer_ready;
static uint64_t armed_at = UINT64_MAX;
static void (*expired_fn)(void);

static void on_alarm(int signo)
{
	(void)signo;
	if (expired_fn)
		expired_fn();
}

int hd_timer_init(void (*expired)(void))
{
	expired_fn = expired;
	int r = hd_signal_install(SIGALRM, on_alarm);
	if (r)
		return r;
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGALRM;
	if (timer_create(CLOCK_MONOTONIC, &ev, &host_timer))
		return -errno;
	timer_ready = true;
	return 0;
}

static struct timespec to_ts(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000ull),
				  .tv_nsec = (long)(ns % 1000000000ull) };
}

void hd_timer_arm(uint64_t deadline_ns)
{
	if (!timer_ready || deadline_ns == armed_at)
		return;
	armed_at = deadline_ns;
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	if (deadline_ns != UINT64_MAX)
		its.it_value = to_ts(deadline_ns ? deadline_ns : 1);
	if (timer_settime(host_timer, TIMER_ABSTIME, &its, NULL))
		hd_host_failed("cannot arm the device timer", errno);
}

void hd_sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = to_ts(deadline_ns);
	/* A signal (the stop signals) ends the sleep early: the caller
	 * re-checks its state either way. */
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

uint64_t hd_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A (TSC, CLOCK_MONOTONIC) pair read as close together as possible: the
 * clock read between two TSC reads, from the try with the shortest gap (a
 * preemption inside one try only makes that try lose). */
static void tsc_and_clock(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 5; i++) {
		uint64_t t0 = __builtin_ia32_rdtsc();
		uint64_t now = hd_now_ns();
		uint64_t t1 = __builtin_ia32_rdtsc();
		if (t1 - t0 < best) {
			best = t1 - t0;
			*tsc = t0 + (t1 - t0) / 2;
			*ns = now;
		}
	}
}

uint64_t hd_tsc_hz(void)
{
	static uint64_t hz;
	if (!hz) {
		uint64_t tsc0 = 0, ns0 = 0, tsc1 = 0, ns1 = 0;
		tsc_and_clock(&tsc0, &ns0);
		hd_sleep_until(ns0 + 10000000);
		/* The sleep may end early on a signal: any interval of a
		 * millisecond or more still gives the rate to 0.1%. */
		do
			tsc_and_clock(&tsc1, &ns1);
		while (ns1 - ns0 < 1000000);
		hz = (uint64_t)((unsigned __int128)(tsc1 - tsc0) * 1000000000u / (ns1 - ns0));
	}
	return hz;
}
