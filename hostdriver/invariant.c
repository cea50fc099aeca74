/* hostdriver: the end of the run on a monitor bug or an unrecoverable host failure. */
#include "invariant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*report_hook)(void *ctx);
static void *report_ctx;

void hd_set_failure_report(void (*report)(void *ctx), void *ctx)
{
	report_hook = report;
	report_ctx = ctx;
}

/* The hook runs once: a check failing inside it must not loop. */
static void report_once(void)
{
	void (*hook)(void *) = report_hook;
	report_hook = NULL;
	if (hook)
		hook(report_ctx);
}

/* exit(), not abort(): atexit restores the terminal, and the user world
 * dies with its parent (PR_SET_PDEATHSIG). */
void hd_check_failed(const char *file, int line, const char *expr)
{
	fprintf(stderr, "btvmm: internal error: %s:%d: check `%s` failed\n", file, line, expr);
	report_once();
	exit(HD_EXIT_BUG);
}

void hd_host_failed(const char *what, int err)
{
	fprintf(stderr, "btvmm: host failure: %s: %s\n", what, strerror(err));
	report_once();
	exit(HD_EXIT_HOST);
}
