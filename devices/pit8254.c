/* devices: the 8254 programmable interval timer and system control port B (0x61). */
#include <string.h>

#include "devices_internal.h"

/*
 * Ports: 0x40-0x42 are channels 0-2 (count and status reads, count
 * writes), 0x43 takes control words. Channel 0's OUT is IRQ 0; channel 1
 * (DRAM refresh on old PCs) runs but drives nothing; channel 2's GATE is
 * port 0x61 bit 0 and its OUT is port 0x61 bit 5.
 *
 * Nothing here runs on a timer: the count and OUT are computed, when the
 * guest asks, from the ticks counted since the count was loaded (see
 * struct dev_pit_channel). Linux's TSC calibration spins on port 0x61 and
 * on channel 2's count, so a read costs one clock callback and integer
 * arithmetic, and gives the same answer for the same clock value.
 *
 * With N the count (a written 0 means 65536, or 10000 in BCD) and d the
 * ticks counted, each mode's OUT and its rising edges (IRQ 0 on channel 0):
 *
 *   mode 0  low; high from d = N on                    edge at N
 *   mode 1  high; on a gate edge, low until d = N      edge at N
 *   mode 2  high, low while the count is 1             edges at N, 2N, ...
 *   mode 3  high for the first ceil(N/2) of each N     edges at N, 2N, ...
 *   mode 4  high, low for the one tick d = N           edge at N + 1
 *   mode 5  as mode 4, started by a gate edge          edge at N + 1
 *
 * The real chip loads a written count on the next clock edge, one tick
 * after the write; here it counts from the tick of the write. A count
 * written while a mode 2 or 3 period runs restarts the period at once
 * (the chip waits for the period's end), as QEMU does. Mode 3 counts down
 * by two; an odd N is approximated as QEMU does.
 */

#define PIT_CHANNELS     3u
#define CTRL_READ_BACK   3u   /* control word bits 7:6 */
#define ACCESS_LATCH     0u   /* control word bits 5:4 */
#define ACCESS_LSB       1u
#define ACCESS_MSB       2u
#define ACCESS_WORD      3u
#define RB_NO_COUNT      0x20u /* read-back: do not latch the count */
#define RB_NO_STATUS     0x10u /* read-back: do not latch the status */
#define NS_PER_S         1000000000ull
#define NO_EDGE          UINT64_MAX

#define PORT61_GATE2     0x01u
#define PORT61_SPEAKER   0x02u
#define PORT61_WRITABLE  0x0fu /* gate, speaker, parity/IOCHK enables */
#define PORT61_REFRESH   0x10u
#define PORT61_OUT2      0x20u
/* The refresh request toggle flips every 18 ticks (15.09 us), the period
 * PC BIOSes program into channel 1 for DRAM refresh. */
#define REFRESH_TICKS    18u

uint64_t dev_pit_tick_at(uint64_t ns)
{
	/* ns * HZ / 1e9 without overflow: the whole seconds, then the rest. */
	return ns / NS_PER_S * DEV_PIT_HZ + ns % NS_PER_S * DEV_PIT_HZ / NS_PER_S;
}

uint64_t dev_pit_tick_start_ns(uint64_t tick)
{
	/* The first ns whose tick count reaches `tick`: ceil(tick * 1e9 / HZ),
	 * split the same way. */
	uint64_t rest = tick % DEV_PIT_HZ * NS_PER_S;

	return tick / DEV_PIT_HZ * NS_PER_S + (rest + DEV_PIT_HZ - 1) / DEV_PIT_HZ;
}

static uint64_t pit_now_tick(const struct dev_pit *pit)
{
	return dev_pit_tick_at(dev_clock_monotonic(pit->clock));
}

/* The counter's modulus: 65536 binary, 10000 BCD. */
static uint32_t ch_modulus(const struct dev_pit_channel *c)
{
	return c->bcd ? 10000u : 65536u;
}

/* d: the ticks counted by the current count at global tick `now`. */
static uint64_t ch_counted(const struct dev_pit_channel *c, uint64_t now)
{
	if (!c->counting || now < c->start_tick)
		return c->elapsed;
	return c->elapsed + (now - c->start_tick);
}

/* Start counting N afresh from tick `now`. */
static void ch_restart(struct dev_pit_channel *c, uint64_t now)
{
	c->elapsed = 0;
	c->start_tick = now;
	c->counting = true;
	c->edge = (c->mode == 4 || c->mode == 5) ? c->reload + 1ull : c->reload;
}

static void ch_pause(struct dev_pit_channel *c, uint64_t now)
{
	c->elapsed = ch_counted(c, now);
	c->counting = false;
}

static void ch_resume(struct dev_pit_channel *c, uint64_t now)
{
	c->start_tick = now;
	c->counting = true;
}

/* The count the guest would read at tick `now`, in binary. */
static uint32_t ch_count(const struct dev_pit_channel *c, uint64_t now)
{
	uint32_t m = ch_modulus(c), n = c->reload;
	uint64_t d = ch_counted(c, now);

	if (!c->armed || ((c->mode == 1 || c->mode == 5) && !c->triggered))
		return n % m;
	switch (c->mode) {
	case 2:
		return (uint32_t)(n - d % n) % m;
	case 3:
		return (uint32_t)(n - (2 * d) % n) % m;
	default:
		/* One-shot modes keep counting down past 0, wrapping. */
		return (uint32_t)((n % m + m - d % m) % m);
	}
}

static bool ch_out(const struct dev_pit_channel *c, uint64_t now)
{
	uint64_t n = c->reload, d = ch_counted(c, now);

	if (!c->armed)
		return c->mode != 0;
	switch (c->mode) {
	case 0:
		return d >= n;
	case 1:
		return !c->triggered || d >= n;
	case 2:
		return !c->gate || d % n != n - 1;
	case 3:
		return !c->gate || d % n < (n + 1) / 2;
	case 4:
		return d != n;
	default:
		return !c->triggered || d != n;
	}
}

/* The count as the guest sees it: binary, or four BCD digits. */
static uint16_t ch_encode(const struct dev_pit_channel *c, uint32_t count)
{
	if (!c->bcd)
		return (uint16_t)count;
	return (uint16_t)(count % 10 | count / 10 % 10 << 4 |
			  count / 100 % 10 << 8 | count / 1000 % 10 << 12);
}

static uint32_t ch_decode(const struct dev_pit_channel *c, uint16_t value)
{
	uint32_t n = value;

	if (c->bcd)
		n = (value & 0xfu) + (value >> 4 & 0xfu) * 10 +
		    (value >> 8 & 0xfu) * 100 + (value >> 12 & 0xfu) * 1000;
	return n ? n : ch_modulus(c);
}

static uint8_t ch_status(const struct dev_pit_channel *c, uint64_t now)
{
	return (uint8_t)((ch_out(c, now) ? 0x80u : 0) |
			 (c->null_count ? 0x40u : 0) | c->access << 4 |
			 c->mode_field << 1 | (c->bcd ? 1u : 0));
}

static void ch_latch_count(struct dev_pit_channel *c, uint64_t now)
{
	/* A second latch before the first is read is ignored. */
	if (c->latch_bytes)
		return;
	c->latch = ch_encode(c, ch_count(c, now));
	c->latch_bytes = c->access == ACCESS_WORD ? 2 : 1;
}

/*
 * Channel 0 only: raise IRQ 0 if OUT rose since the last look. Every path
 * that changes channel 0's programming calls this first, so an edge that
 * fell due under the old programming is not lost.
 */
static void pit_sync_irq(struct dev_pit *pit, uint64_t now)
{
	struct dev_pit_channel *c = &pit->ch[0];
	uint64_t d = ch_counted(c, now);

	if (c->edge == NO_EDGE || d < c->edge)
		return;
	/* A pulse: the PIC latches the rising edge; lowering the line again
	 * lets the next period's edge be seen. */
	dev_isa_set_irq(pit->irqs, 0, true);
	dev_isa_set_irq(pit->irqs, 0, false);
	if (c->mode == 2 || c->mode == 3) {
		/* Periods that went by unseen (the guest had interrupts off,
		 * or the host was slow) are owed, not merged: Linux counts
		 * time in ticks and would fall behind the TSC. At most a
		 * quarter second's worth, so a long stall does not replay. */
		uint64_t missed = (d - c->edge) / c->reload;
		uint64_t cap = 1193182 / 4 / c->reload + 1;
		pit->backlog = (uint32_t)(pit->backlog + missed > cap ? cap : pit->backlog + missed);
		c->edge = (d / c->reload + 1) * c->reload;
	} else {
		c->edge = NO_EDGE;
	}
}

/* Re-raise one owed IRQ 0 edge once the last one has been taken and
 * finished (neither requested nor in service at the controller that
 * delivers it: the master PIC, or the I/O APIC and local APIC). */
static void pit_pay_backlog(struct dev_pit *pit)
{
	if (!pit->backlog || dev_isa_irq_busy(pit->irqs, 0))
		return;
	pit->backlog--;
	dev_isa_set_irq(pit->irqs, 0, true);
	dev_isa_set_irq(pit->irqs, 0, false);
}

/* A gate level change (only channel 2's gate moves). */
static void ch_set_gate(struct dev_pit_channel *c, bool gate, uint64_t now)
{
	bool rising = gate && !c->gate;

	if (gate == c->gate)
		return;
	c->gate = gate;
	switch (c->mode) {
	case 0:
	case 4:
		/* The gate holds the count. */
		if (!c->armed)
			break;
		if (gate)
			ch_resume(c, now);
		else
			ch_pause(c, now);
		break;
	case 2:
	case 3:
		/* Low stops the count and forces OUT high; high reloads. */
		if (!c->armed)
			break;
		if (rising)
			ch_restart(c, now);
		else
			ch_pause(c, now);
		break;
	default:
		/* Modes 1 and 5: a rising edge (re)triggers. */
		if (rising && c->armed) {
			c->triggered = true;
			ch_restart(c, now);
		}
		break;
	}
}

static void ch_control(struct dev_pit_channel *c, uint8_t value)
{
	c->mode_field = (value >> 1) & 7u;
	c->mode = c->mode_field > 5 ? c->mode_field - 4 : c->mode_field;
	c->access = (value >> 4) & 3u;
	c->bcd = value & 1u;
	c->armed = false;
	c->triggered = false;
	c->counting = false;
	c->null_count = true;
	c->write_msb_next = false;
	c->read_msb_next = false;
	c->latch_bytes = 0;
	c->status_latched = false;
	c->elapsed = 0;
	c->edge = NO_EDGE;
}

/* A complete count (both bytes for access 3) was written. */
static void ch_load(struct dev_pit_channel *c, uint16_t value, uint64_t now)
{
	c->reload = ch_decode(c, value);
	c->armed = true;
	c->null_count = false;
	if (c->mode == 1 || c->mode == 5) {
		/* Loaded by the next gate edge; a running one-shot goes on. */
		if (!c->triggered)
			c->edge = NO_EDGE;
		return;
	}
	ch_restart(c, now);
	if (!c->gate)
		ch_pause(c, now);
}

static void ch_write(struct dev_pit_channel *c, uint8_t value, uint64_t now)
{
	switch (c->access) {
	case ACCESS_LSB:
		ch_load(c, value, now);
		break;
	case ACCESS_MSB:
		ch_load(c, (uint16_t)(value << 8), now);
		break;
	default:
		if (!c->write_msb_next) {
			c->write_lsb = value;
			c->write_msb_next = true;
			/* Mode 0: writing the first byte stops the count and
			 * drops OUT (Linux's one-shot relies on the restart). */
			if (c->mode == 0) {
				c->armed = false;
				c->counting = false;
			}
			break;
		}
		c->write_msb_next = false;
		ch_load(c, (uint16_t)(c->write_lsb | value << 8), now);
		break;
	}
}

static uint8_t ch_read(struct dev_pit_channel *c, uint64_t now)
{
	uint16_t count;
	bool msb;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latch_bytes) {
		msb = c->access == ACCESS_MSB ||
		      (c->access == ACCESS_WORD && c->latch_bytes == 1);
		c->latch_bytes = c->access == ACCESS_WORD ? c->latch_bytes - 1 : 0;
		return (uint8_t)(msb ? c->latch >> 8 : c->latch);
	}
	/* Unlatched: each byte is the count at the time of its own read. */
	count = ch_encode(c, ch_count(c, now));
	msb = c->access == ACCESS_MSB;
	if (c->access == ACCESS_WORD) {
		msb = c->read_msb_next;
		c->read_msb_next = !c->read_msb_next;
	}
	return (uint8_t)(msb ? count >> 8 : count);
}

static void pit_read_back(struct dev_pit *pit, uint8_t value, uint64_t now)
{
	for (unsigned i = 0; i < PIT_CHANNELS; i++) {
		struct dev_pit_channel *c = &pit->ch[i];

		if (!(value & (2u << i)))
			continue;
		if (!(value & RB_NO_COUNT))
			ch_latch_count(c, now);
		if (!(value & RB_NO_STATUS) && !c->status_latched) {
			c->status = ch_status(c, now);
			c->status_latched = true;
		}
	}
}

void dev_pit_init(struct dev_pit *pit, const struct dev_clock *clock,
		  struct dev_isa_irqs *irqs)
{
	uint64_t now;

	memset(pit, 0, sizeof(*pit));
	pit->clock = clock;
	pit->irqs = irqs;
	now = pit_now_tick(pit);
	for (unsigned i = 0; i < PIT_CHANNELS; i++) {
		struct dev_pit_channel *c = &pit->ch[i];

		c->gate = i != 2; /* port 0x61 bit 0 starts clear */
		c->reload = 65536;
		ch_control(c, 0x36); /* mode 3, LSB then MSB: QEMU's reset */
		c->null_count = false;
	}
	/* SeaBIOS: control word 0x34, count 0. */
	ch_control(&pit->ch[0], 0x34);
	ch_load(&pit->ch[0], 0, now);
}

void dev_pit_update(struct dev_pit *pit)
{
	pit_sync_irq(pit, pit_now_tick(pit));
	pit_pay_backlog(pit);
}

uint64_t dev_pit_next_event(const struct dev_pit *pit)
{
	const struct dev_pit_channel *c = &pit->ch[0];

	if (c->edge == NO_EDGE || !c->counting)
		return UINT64_MAX;
	/* d reaches `edge` at this global tick. */
	return dev_pit_tick_start_ns(c->start_tick + (c->edge - c->elapsed));
}

static uint32_t pit_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_pit *pit = dev;
	unsigned n = port & 3u;

	/* The control register is write-only. */
	if (n == 3)
		return 0xff;
	return ch_read(&pit->ch[n], pit_now_tick(pit));
}

static void pit_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	struct dev_pit *pit = dev;
	unsigned n = port & 3u;
	uint64_t now = pit_now_tick(pit);
	uint8_t v = (uint8_t)value;

	pit_sync_irq(pit, now);
	if (n != 3) {
		ch_write(&pit->ch[n], v, now);
		return;
	}
	n = v >> 6;
	if (n == CTRL_READ_BACK)
		pit_read_back(pit, v, now);
	else if (((v >> 4) & 3u) == ACCESS_LATCH)
		ch_latch_count(&pit->ch[n], now);
	else
		ch_control(&pit->ch[n], v);
}

const struct dev_pio_ops dev_pit_ops = {
	.name = "i8254",
	.max_access = 1,
	.read = pit_read,
	.write = pit_write,
};

static uint32_t port61_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_pit *pit = dev;
	uint64_t now = pit_now_tick(pit);

	return pit->port61 |
	       ((now / REFRESH_TICKS) & 1u ? PORT61_REFRESH : 0) |
	       (ch_out(&pit->ch[2], now) ? PORT61_OUT2 : 0);
}

/* Bit 1 would drive the speaker together with OUT2: stored, silent. */
static void port61_write(void *dev, uint16_t port, unsigned size,
			 uint32_t value)
{
	struct dev_pit *pit = dev;

	pit->port61 = (uint8_t)value & PORT61_WRITABLE;
	ch_set_gate(&pit->ch[2], value & PORT61_GATE2, pit_now_tick(pit));
}

const struct dev_pio_ops dev_port61_ops = {
	.name = "port61",
	.max_access = 1,
	.read = port61_read,
	.write = port61_write,
};
