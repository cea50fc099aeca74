/* monitor: QEMU's command-line spellings, as btvmm takes them (private header). */
#ifndef BTVMM_CLI_QEMU_H
#define BTVMM_CLI_QEMU_H

#include <stdbool.h>

#include "monitor.h"

/* One QEMU option btvmm accepts. */
struct mon_qemu_option {
	const char *name;    /* "-nographic": one leading dash */
	bool takes_value;
	/* Carry it out on the options; `value` is NULL for a flag. A value
	 * btvmm cannot honour ends the run with one line and status 2. */
	void (*apply)(struct mon_options *o, const char *value);
};

/*
 * The QEMU option `name` (spelled with one dash), or NULL if QEMU has no
 * such option that btvmm knows of (the caller calls it unknown). An option
 * QEMU has and btvmm does not is refused here: one line naming it and what
 * btvmm offers instead, and exit status 2.
 */
const struct mon_qemu_option *mon_qemu_option(const char *name);

#endif
