/* monitor: --de auto, the choice between running an address space's ring 3
 * directly (DE) and translating it (BT), per address space. */
#ifndef BTVMM_ADAPT_H
#define BTVMM_ADAPT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Direct execution runs ring-3 code at native speed but pays a hand-off
 * between host processes for every exit (system call, page fault); the
 * translator pays a fraction of native speed but takes a system call
 * inside translated code. A space that runs less than ADAPT_MIN_RUN_US
 * between exits, on average over a window, is translated for a while;
 * then direct execution is tried again. Each failed try doubles the
 * while (up to ADAPT_MAX_SHIFT doublings); each clean window halves it
 * back, so a space that changes its ways follows without flapping.
 */
#define ADAPT_SPACES 64          /* address spaces remembered (LRU) */
#define ADAPT_MIN_RUN_US 40      /* mean run between exits that DE needs */
#define ADAPT_WINDOW_EXITS 64    /* a window: this many exits ... */
#define ADAPT_WINDOW_US 4000     /* ... or this much ring-3 time in DE */
#define ADAPT_BT_US 10000        /* first stay in BT, in its ring-3 time */
#define ADAPT_MAX_SHIFT 7        /* longest stay: ADAPT_BT_US << 7 */

struct adapt_space {
	uint32_t cr3;            /* the space's key (mon_space_key: the page
				    directory, or the PDPT with PAE); 0: free */
	bool bt;                 /* translated now */
	uint8_t strikes;         /* windows that sent it to BT, less clean ones */
	uint64_t last_use;
	uint64_t ticks, exits;   /* this DE window */
	uint64_t bt_ticks;       /* time in BT since it went there */
	uint64_t bt_for;         /* how long it stays */
};

struct adapt {
	uint64_t ticks_per_us;   /* 0: not known yet, no decisions */
	uint64_t clock;
	uint64_t to_bt, to_de;   /* switches made */
	uint64_t spaces_seen;
	struct adapt_space s[ADAPT_SPACES];
};

/* Run ring 3 of the space at cr3 directly? */
bool adapt_de(struct adapt *a, uint32_t cr3);
/* The space's ring 3 ran directly for `ticks` and came back: for an exit
 * the monitor had to handle (`exit`), or a preemption (not its doing). */
void adapt_de_ran(struct adapt *a, uint32_t cr3, uint64_t ticks, bool exit);
/* The space ran translated (ring 3, and the kernel on its behalf) for
 * `ticks`. */
void adapt_bt_ran(struct adapt *a, uint32_t cr3, uint64_t ticks);
/* Spaces translated now. */
unsigned adapt_translated(const struct adapt *a);

#endif
