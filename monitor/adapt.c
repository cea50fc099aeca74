/* monitor: --de auto, per address space (adapt.h). */
#include "adapt.h"

#include <string.h>

/* The space's slot; a new one (the least recently used given up) if
 * `make`, else NULL when the space is not known. */
static struct adapt_space *space(struct adapt *a, uint32_t cr3, bool make)
{
	struct adapt_space *lru = &a->s[0];
	cr3 |= 1; /* never 0: 0 marks a free slot */
	for (unsigned i = 0; i < ADAPT_SPACES; i++) {
		struct adapt_space *s = &a->s[i];
		if (s->cr3 == cr3) {
			s->last_use = ++a->clock;
			return s;
		}
		if (s->last_use < lru->last_use)
			lru = s;
	}
	if (!make)
		return NULL;
	memset(lru, 0, sizeof *lru);
	lru->cr3 = cr3;
	lru->last_use = ++a->clock;
	a->spaces_seen++;
	return lru;
}

bool adapt_de(struct adapt *a, uint32_t cr3)
{
	const struct adapt_space *s = space(a, cr3, false);
	return !s || !s->bt;
}

void adapt_de_ran(struct adapt *a, uint32_t cr3, uint64_t ticks, bool exit)
{
	struct adapt_space *s = space(a, cr3, true);
	if (s->bt)
		return; /* decided meanwhile */
	s->ticks += ticks;
	s->exits += exit;
	if (!a->ticks_per_us || (s->exits < ADAPT_WINDOW_EXITS &&
				 s->ticks < ADAPT_WINDOW_US * a->ticks_per_us))
		return;
	bool busy = s->ticks < s->exits * ADAPT_MIN_RUN_US * a->ticks_per_us;
	s->ticks = s->exits = 0;
	if (!busy) {
		if (s->strikes)
			s->strikes--;
		return;
	}
	s->bt = true;
	s->bt_ticks = 0;
	s->bt_for = ((uint64_t)ADAPT_BT_US << s->strikes) * a->ticks_per_us;
	if (s->strikes < ADAPT_MAX_SHIFT)
		s->strikes++;
	a->to_bt++;
}

void adapt_bt_ran(struct adapt *a, uint32_t cr3, uint64_t ticks)
{
	struct adapt_space *s = space(a, cr3, false);
	if (!s || !s->bt)
		return;
	s->bt_ticks += ticks;
	if (s->bt_ticks < s->bt_for)
		return;
	s->bt = false; /* try direct execution again, with a fresh window */
	s->ticks = s->exits = 0;
	a->to_de++;
}

unsigned adapt_translated(const struct adapt *a)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ADAPT_SPACES; i++)
		n += a->s[i].cr3 && a->s[i].bt;
	return n;
}
