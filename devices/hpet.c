/* devices: the HPET (QEMU's: 100 MHz, 3 timers, legacy replacement route). */
#include <string.h>

#include "devices_internal.h"

/*
 * Registers (64 bits each, read and written as 32-bit halves; accesses of
 * other sizes read 0 and are dropped, as QEMU's valid.min_access_size 4):
 *
 *   0x000 capabilities: 0x8086a201 (vendor 8086, legacy route capable,
 *         64-bit counter, 3 timers, revision 1), period 10^7 fs above
 *   0x010 general configuration: bit 0 enable, bit 1 legacy replacement
 *   0x020 general interrupt status: level-triggered timers, write 1 to clear
 *   0x0f0 main counter: writable while halted
 *   0x100 + 0x20 n  timer n configuration; Tn_INT_ROUTE_CAP above
 *   0x108 + 0x20 n  timer n comparator
 *   0x110 + 0x20 n  FSB route: not supported, reads 0
 *
 * Timer n's interrupt goes to I/O APIC pin Tn_INT_ROUTE if that pin is one
 * of ROUTE_CAP's (20-23: pins no ISA device drives; QEMU's PIIX machine
 * offers pin 2 only, its Q35 2, 8 and 16-23), nowhere otherwise; in legacy
 * replacement mode timer 0 drives ISA IRQ 0 (8259 IRQ 0 and pin 2) and
 * timer 1 ISA IRQ 8, and the PIT's and RTC's outputs are cut off.
 *
 * Only timer 0 is periodic-capable, as on the ICH chipsets Linux knows
 * (QEMU offers it on all three). As in QEMU a timer runs only while the
 * HPET and its interrupt are enabled. A match is the hardware's: the
 * counter (its low 32 bits in 32-bit mode) reaching the comparator, so a
 * comparator just behind the counter matches only after the counter wraps
 * (QEMU fires at once when it is behind by less than half the width; Linux
 * checks for a missed comparator itself and does not need that), and a
 * 32-bit one-shot timer matches again every 2^32 ticks.
 */

#define HPET_NS_PER_TICK  10u
#define HPET_CAP_LOW      (0x8086a001u | (DEV_HPET_TIMERS - 1) << 8)
#define HPET_PERIOD_FS    (HPET_NS_PER_TICK * 1000000u)

#define REG_CAP           0x000u
#define REG_CONFIG        0x010u
#define REG_STATUS        0x020u
#define REG_COUNTER       0x0f0u
#define REG_TIMER0        0x100u
#define TIMER_STRIDE      0x20u
#define TN_CONFIG         0x00u
#define TN_CMP            0x08u

#define CONF_ENABLE       0x1u
#define CONF_LEGACY       0x2u

#define TN_LEVEL          (1u << 1)
#define TN_INT_ENABLE     (1u << 2)
#define TN_PERIODIC       (1u << 3)
#define TN_PERIODIC_CAP   (1u << 4)
#define TN_SIZE_CAP       (1u << 5)
#define TN_SETVAL         (1u << 6)
#define TN_32BIT          (1u << 8)
#define TN_ROUTE(c)       (((c) >> 9) & 0x1fu)
#define TN_WRITABLE       0x3f4eu
#define ROUTE_CAP         0x00f00000u /* I/O APIC pins 20-23 */

#define NOT_RUNNING       UINT64_MAX

static bool hpet_enabled(const struct dev_hpet *h)
{
	return h->config & CONF_ENABLE;
}

static uint64_t hpet_counter_at(const struct dev_hpet *h, uint64_t ns)
{
	return hpet_enabled(h) ? ns / HPET_NS_PER_TICK + h->offset : h->counter;
}

static uint64_t hpet_now(const struct dev_hpet *h)
{
	return hpet_counter_at(h, dev_clock_monotonic(h->clock));
}

static bool timer_periodic(const struct dev_hpet_timer *t)
{
	return (t->config & TN_PERIODIC) && t->period;
}

/* Drive timer n's interrupt line, wherever it is routed now. */
static void timer_drive(struct dev_hpet *h, unsigned n, bool level)
{
	unsigned route = TN_ROUTE(h->timer[n].config);

	if ((h->config & CONF_LEGACY) && n <= 1)
		dev_isa_set_hpet_irq(h->irqs, n == 0 ? 0 : 8, level);
	else if (ROUTE_CAP & (1u << route))
		dev_ioapic_set_irq(h->ioapic, route, level);
}

static void timer_raise(struct dev_hpet *h, unsigned n)
{
	if (!(h->timer[n].config & TN_INT_ENABLE))
		return;
	if (h->timer[n].config & TN_LEVEL) {
		h->isr |= 1u << n;
		timer_drive(h, n, true);
	} else {
		timer_drive(h, n, true);
		timer_drive(h, n, false);
	}
}

/* The main-counter value of timer n's next match at or after counter
 * value c (NOT_RUNNING: none before the 64-bit counter wraps). */
static void timer_arm(struct dev_hpet *h, unsigned n, uint64_t c)
{
	struct dev_hpet_timer *t = &h->timer[n];

	t->next = NOT_RUNNING;
	if (!hpet_enabled(h) || !(t->config & TN_INT_ENABLE))
		return;
	if (t->config & TN_32BIT)
		t->next = c + (uint32_t)((uint32_t)t->cmp - (uint32_t)c);
	else if (t->cmp >= c)
		t->next = t->cmp;
}

/* A periodic comparator moves on by whole periods past c. */
static void timer_advance(struct dev_hpet_timer *t, uint64_t c)
{
	if (t->config & TN_32BIT) {
		uint32_t behind = (uint32_t)c - (uint32_t)t->cmp;

		if ((int32_t)behind >= 0)
			t->cmp = (uint32_t)(t->cmp + (behind / t->period + 1) * t->period);
	} else if ((int64_t)(c - t->cmp) >= 0) {
		t->cmp += ((c - t->cmp) / t->period + 1) * t->period;
	}
}

/* Fire what fell due by counter value c (once per timer, however many
 * periods passed: the interrupt line would show one edge). */
static void hpet_sync(struct dev_hpet *h, uint64_t c)
{
	for (unsigned n = 0; n < DEV_HPET_TIMERS; n++) {
		struct dev_hpet_timer *t = &h->timer[n];

		if (t->next == NOT_RUNNING || c < t->next)
			continue;
		timer_raise(h, n);
		if (timer_periodic(t))
			timer_advance(t, c);
		timer_arm(h, n, c + 1);
	}
}

void dev_hpet_init(struct dev_hpet *h, const struct dev_clock *clock,
		   struct dev_isa_irqs *irqs, struct dev_ioapic *ioapic)
{
	memset(h, 0, sizeof(*h));
	h->clock = clock;
	h->irqs = irqs;
	h->ioapic = ioapic;
	for (unsigned n = 0; n < DEV_HPET_TIMERS; n++) {
		h->timer[n].config = TN_SIZE_CAP | (n == 0 ? TN_PERIODIC_CAP : 0);
		h->timer[n].cmp = UINT64_MAX;
		h->timer[n].next = NOT_RUNNING;
	}
}

void dev_hpet_update(struct dev_hpet *h)
{
	if (hpet_enabled(h))
		hpet_sync(h, hpet_now(h));
}

uint64_t dev_hpet_next_event(const struct dev_hpet *h)
{
	uint64_t best = UINT64_MAX;

	if (!hpet_enabled(h))
		return UINT64_MAX;
	for (unsigned n = 0; n < DEV_HPET_TIMERS; n++) {
		uint64_t ticks = h->timer[n].next - h->offset, ns;

		if (h->timer[n].next == NOT_RUNNING)
			continue;
		/* counter(ns) = ns / 10 + offset reaches `next` at ns = ticks * 10. */
		ns = ticks > UINT64_MAX / HPET_NS_PER_TICK ? UINT64_MAX
							   : ticks * HPET_NS_PER_TICK;
		if (ns < best)
			best = ns;
	}
	return best;
}

/* ---- Register writes ---- */

/* Lower the level lines before their routing changes; raise them again on
 * the new routing after (a level timer whose interrupt was disabled or
 * made edge loses its status bit, as in QEMU). */
static void hpet_unroute(struct dev_hpet *h)
{
	for (unsigned n = 0; n < DEV_HPET_TIMERS; n++)
		if (h->isr & (1u << n))
			timer_drive(h, n, false);
}

static void hpet_reroute(struct dev_hpet *h)
{
	for (unsigned n = 0; n < DEV_HPET_TIMERS; n++) {
		uint32_t c = h->timer[n].config;

		if (!(h->isr & (1u << n)))
			continue;
		if ((c & TN_LEVEL) && (c & TN_INT_ENABLE))
			timer_drive(h, n, true);
		else
			h->isr &= ~(1u << n);
	}
}

static void config_write(struct dev_hpet *h, uint32_t value)
{
	uint64_t ns = dev_clock_monotonic(h->clock);
	uint64_t c = hpet_counter_at(h, ns);
	uint32_t old = h->config;

	hpet_sync(h, c);
	hpet_unroute(h);
	h->config = value & (CONF_ENABLE | CONF_LEGACY);
	if ((h->config ^ old) & CONF_LEGACY)
		dev_isa_set_legacy_replacement(h->irqs, h->config & CONF_LEGACY);
	if (hpet_enabled(h) && !(old & CONF_ENABLE))
		h->offset = c - ns / HPET_NS_PER_TICK; /* resume from c */
	else if (!hpet_enabled(h))
		h->counter = c;
	for (unsigned n = 0; n < DEV_HPET_TIMERS; n++)
		timer_arm(h, n, c);
	hpet_reroute(h);
}

static void status_write(struct dev_hpet *h, uint32_t value)
{
	uint32_t clear = h->isr & value;

	for (unsigned n = 0; n < DEV_HPET_TIMERS; n++)
		if (clear & (1u << n))
			timer_drive(h, n, false);
	h->isr &= ~clear;
}

static void counter_write(struct dev_hpet *h, bool high, uint32_t value)
{
	/* A running counter is not written (QEMU keeps the value only until
	 * the next enable overwrites it anyway). */
	if (hpet_enabled(h))
		return;
	if (high)
		h->counter = (h->counter & 0xffffffffull) | (uint64_t)value << 32;
	else
		h->counter = (h->counter & ~0xffffffffull) | value;
}

static void timer_config_write(struct dev_hpet *h, unsigned n, uint32_t value)
{
	struct dev_hpet_timer *t = &h->timer[n];
	uint32_t writable = TN_WRITABLE & ~(n == 0 ? 0 : TN_PERIODIC);
	uint64_t c = hpet_now(h);

	hpet_sync(h, c);
	hpet_unroute(h);
	t->config = (t->config & ~writable) | (value & writable);
	if (t->config & TN_32BIT) {
		t->cmp = (uint32_t)t->cmp;
		t->period = (uint32_t)t->period;
	}
	timer_arm(h, n, c);
	hpet_reroute(h);
}

/*
 * A comparator half. In periodic mode a write sets the period, and with
 * Tn_VAL_SET also the comparator (Linux writes both that way: the first
 * match, then the period); the high half with Tn_VAL_SET sets only the
 * comparator, as QEMU does. Tn_VAL_SET clears itself.
 */
static void timer_cmp_write(struct dev_hpet *h, unsigned n, bool high,
			    uint32_t value)
{
	struct dev_hpet_timer *t = &h->timer[n];
	bool periodic = t->config & TN_PERIODIC;
	bool setval = t->config & TN_SETVAL;
	uint64_t c = hpet_now(h);
	unsigned shift = high ? 32 : 0;
	uint64_t keep = ~(0xffffffffull << shift), v = (uint64_t)value << shift;

	hpet_sync(h, c);
	if (high && (t->config & TN_32BIT))
		return;
	if (!periodic || setval)
		t->cmp = (t->cmp & keep) | v;
	if (periodic && (!high || !setval))
		t->period = (t->period & keep) | v;
	t->config &= ~TN_SETVAL;
	timer_arm(h, n, c);
}

/* ---- MMIO ---- */

static uint64_t hpet_reg_read(struct dev_hpet *h, uint32_t reg)
{
	unsigned n = (reg - REG_TIMER0) / TIMER_STRIDE;
	const struct dev_hpet_timer *t = &h->timer[n < DEV_HPET_TIMERS ? n : 0];

	switch (reg) {
	case REG_CAP: return (uint64_t)HPET_PERIOD_FS << 32 | HPET_CAP_LOW;
	case REG_CONFIG: return h->config;
	case REG_STATUS: return h->isr;
	case REG_COUNTER: return hpet_now(h);
	default: break;
	}
	if (reg < REG_TIMER0 || n >= DEV_HPET_TIMERS)
		return 0;
	switch ((reg - REG_TIMER0) % TIMER_STRIDE) {
	case TN_CONFIG: return (uint64_t)ROUTE_CAP << 32 | t->config;
	case TN_CMP: return t->cmp;
	default: return 0;
	}
}

static uint32_t hpet_mmio_read(void *dev, uint32_t offset, unsigned size)
{
	struct dev_hpet *h = dev;

	if (size != 4 || offset >= DEV_HPET_MMIO)
		return 0;
	dev_hpet_update(h);
	return (uint32_t)(hpet_reg_read(h, offset & ~7u) >> (offset & 4u) * 8);
}

static void hpet_mmio_write(void *dev, uint32_t offset, unsigned size,
			    uint32_t value)
{
	struct dev_hpet *h = dev;
	uint32_t reg = offset & ~7u;
	bool high = offset & 4u;
	unsigned n = (reg - REG_TIMER0) / TIMER_STRIDE;

	if (size != 4 || offset >= DEV_HPET_MMIO)
		return;
	if (reg == REG_CONFIG && !high)
		config_write(h, value);
	else if (reg == REG_STATUS && !high)
		status_write(h, value);
	else if (reg == REG_COUNTER)
		counter_write(h, high, value);
	if (reg < REG_TIMER0 || n >= DEV_HPET_TIMERS)
		return;
	switch ((reg - REG_TIMER0) % TIMER_STRIDE) {
	case TN_CONFIG:
		if (!high)
			timer_config_write(h, n, value);
		break;
	case TN_CMP:
		timer_cmp_write(h, n, high, value);
		break;
	default:
		break;
	}
}

const struct dev_mmio_ops dev_hpet_ops = {
	.name = "hpet",
	.read = hpet_mmio_read,
	.write = hpet_mmio_write,
};
