/* Unit tests for devices/pit8254.c: counts, OUT and IRQ 0 at chosen fake-clock times, port 0x61. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "devices_internal.h"

/* ---- A clock that moves only when the test says so. ---- */

struct fake_clock {
	uint64_t mono, real;
};

static struct fake_clock fake;

static uint64_t fake_mono(void *ctx) { return ((struct fake_clock *)ctx)->mono; }
static uint64_t fake_real(void *ctx) { return ((struct fake_clock *)ctx)->real; }

static struct dev_platform *plat;
static struct dev_bus *bus;

/* Not on a tick boundary, so the tests see the clock's phase matter. */
#define START_NS 5000000123ull

static void pit_setup(void)
{
	struct dev_platform_config cfg = {
		.clock = { .monotonic_ns = fake_mono, .realtime_ns = fake_real,
			   .ctx = &fake },
	};

	fake.mono = START_NS;
	fake.real = 1709214356ull * 1000000000ull;
	plat = dev_platform_create(&cfg);
	ck_assert_ptr_nonnull(plat);
	bus = dev_platform_bus(plat);
}

static void pit_teardown(void)
{
	dev_platform_destroy(plat);
	plat = NULL;
	bus = NULL;
}

static uint8_t inb(uint16_t port) { return (uint8_t)dev_pio_in(bus, port, 1); }
static void outb(uint16_t port, uint8_t v) { dev_pio_out(bus, port, 1, v); }

/* The tick the clock is in now, and moving the clock to the first ns of
 * `tick` ticks after `base` (plus `extra_ns`). */
static uint64_t now_tick(void) { return dev_pit_tick_at(fake.mono); }

static void at_tick(uint64_t base, uint64_t d, int64_t extra_ns)
{
	fake.mono = dev_pit_tick_start_ns(base + d) + (uint64_t)extra_ns;
}

/* Program channel `ch` (LSB then MSB) and return the tick it counts from. */
static uint64_t program(unsigned ch, uint8_t control, uint16_t count)
{
	outb(0x43, (uint8_t)(ch << 6 | control));
	outb((uint16_t)(0x40 + ch), (uint8_t)count);
	outb((uint16_t)(0x40 + ch), (uint8_t)(count >> 8));
	return now_tick();
}

/* Latch command, then read LSB and MSB. */
static unsigned latched_count(unsigned ch)
{
	unsigned lo, hi;

	outb(0x43, (uint8_t)(ch << 6));
	lo = inb((uint16_t)(0x40 + ch));
	hi = inb((uint16_t)(0x40 + ch));
	return lo | hi << 8;
}

/* Read-back of channel `ch`'s status byte alone. */
static uint8_t status(unsigned ch)
{
	outb(0x43, (uint8_t)(0xe0 | 2u << ch));
	return inb((uint16_t)(0x40 + ch));
}

/* IRQ 0 requested (SeaBIOS leaves it unmasked at vector 8)? Acknowledge
 * and EOI it if so. */
static bool took_irq0(void)
{
	dev_platform_update(plat);
	if (!dev_platform_intr(plat))
		return false;
	ck_assert_uint_eq(dev_platform_inta(plat), 0x08);
	outb(0x20, 0x20);
	return true;
}

START_TEST(tick_conversion_is_exact)
{
	static const uint64_t ticks[] = {
		1, 2, 1193181, 1193182, 1193183, 65536, 59659,
		1234567890123ull, 1193182ull * 86400 * 365 + 7,
	};

	ck_assert_uint_eq(dev_pit_tick_at(0), 0);
	ck_assert_uint_eq(dev_pit_tick_start_ns(0), 0);
	ck_assert_uint_eq(dev_pit_tick_at(1000000000ull), 1193182);
	for (unsigned i = 0; i < sizeof(ticks) / sizeof(ticks[0]); i++) {
		uint64_t ns = dev_pit_tick_start_ns(ticks[i]);

		ck_assert_uint_eq(dev_pit_tick_at(ns), ticks[i]);
		ck_assert_uint_eq(dev_pit_tick_at(ns - 1), ticks[i] - 1);
	}
	/* One tick is 838.095... ns. */
	ck_assert_uint_eq(dev_pit_tick_start_ns(1), 839);
	ck_assert_uint_eq(dev_pit_tick_start_ns(3), 2515);
}
END_TEST

START_TEST(seabios_channel0)
{
	uint64_t base = now_tick();

	/* Mode 2, LSB/MSB, count 65536, OUT high; channel 2 mode 3 idle. */
	ck_assert_uint_eq(status(0), 0xb4);
	ck_assert_uint_eq(status(2), 0xb6);
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  dev_pit_tick_start_ns(base + 65536));
	at_tick(base, 65535, 0);
	ck_assert(!took_irq0());
	at_tick(base, 65536, 0);
	ck_assert(took_irq0());
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  dev_pit_tick_start_ns(base + 2 * 65536));
}
END_TEST

START_TEST(mode2_rate_generator)
{
	uint64_t base = program(0, 0x34, 1000);

	ck_assert_uint_eq(latched_count(0), 1000);
	at_tick(base, 1, 0);
	ck_assert_uint_eq(latched_count(0), 999);
	at_tick(base, 998, 0);
	ck_assert_uint_eq(status(0), 0xb4);
	ck_assert(!took_irq0());
	at_tick(base, 999, 0);
	ck_assert_uint_eq(latched_count(0), 1);
	ck_assert_uint_eq(status(0), 0x34);      /* OUT low while count = 1 */
	at_tick(base, 1000, -1);
	ck_assert(!took_irq0());
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  dev_pit_tick_start_ns(base + 1000));
	at_tick(base, 1000, 0);
	ck_assert_uint_eq(latched_count(0), 1000);
	ck_assert_uint_eq(status(0), 0xb4);
	ck_assert(took_irq0());
	ck_assert(!took_irq0());
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  dev_pit_tick_start_ns(base + 2000));
	at_tick(base, 1001, 0);
	ck_assert_uint_eq(latched_count(0), 999);
	/* Periods that pass unobserved (2000, 3000, 4000, 5000) are owed:
	 * one request now, then one more after each is taken and ended. */
	at_tick(base, 5500, 0);
	for (int i = 0; i < 4; i++)
		ck_assert(took_irq0());
	ck_assert(!took_irq0());
	ck_assert_uint_eq(latched_count(0), 500);
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  dev_pit_tick_start_ns(base + 6000));
}
END_TEST

START_TEST(mode3_square_wave)
{
	uint64_t base = program(0, 0x36, 1000);

	ck_assert_uint_eq(latched_count(0), 1000);
	ck_assert_uint_eq(status(0) & 0x80, 0x80);
	at_tick(base, 1, 0);
	ck_assert_uint_eq(latched_count(0), 998);  /* counts down by two */
	at_tick(base, 499, 0);
	ck_assert_uint_eq(latched_count(0), 2);
	ck_assert_uint_eq(status(0), 0xb6);
	at_tick(base, 500, 0);
	ck_assert_uint_eq(latched_count(0), 1000);
	ck_assert_uint_eq(status(0), 0x36);        /* second half: low */
	at_tick(base, 999, 0);
	ck_assert_uint_eq(status(0), 0x36);
	ck_assert(!took_irq0());
	at_tick(base, 1000, 0);
	ck_assert_uint_eq(status(0), 0xb6);
	ck_assert(took_irq0());
	/* Odd N: high for (N + 1) / 2 ticks. */
	base = program(0, 0x36, 5);
	at_tick(base, 2, 0);
	ck_assert_uint_eq(status(0) & 0x80, 0x80);
	at_tick(base, 3, 0);
	ck_assert_uint_eq(status(0) & 0x80, 0);
}
END_TEST

START_TEST(mode0_terminal_count)
{
	uint64_t base = program(0, 0x30, 100);

	ck_assert_uint_eq(status(0), 0x30);
	ck_assert_uint_eq(latched_count(0), 100);
	at_tick(base, 99, 0);
	ck_assert_uint_eq(latched_count(0), 1);
	ck_assert_uint_eq(status(0), 0x30);
	ck_assert(!took_irq0());
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  dev_pit_tick_start_ns(base + 100));
	at_tick(base, 100, 0);
	ck_assert_uint_eq(latched_count(0), 0);
	ck_assert_uint_eq(status(0), 0xb0);
	ck_assert(took_irq0());
	/* Once only: the counter wraps on, OUT stays high. */
	at_tick(base, 101, 0);
	ck_assert_uint_eq(latched_count(0), 0xffff);
	at_tick(base, 100 + 65536 * 3, 0);
	ck_assert(!took_irq0());
	ck_assert_uint_eq(status(0), 0xb0);
	ck_assert_uint_eq(dev_platform_next_event(plat), UINT64_MAX);
	/* Writing the LSB stops the count and drops OUT; the MSB restarts. */
	outb(0x40, 50);
	ck_assert_uint_eq(status(0) & 0x80, 0);
	base = now_tick();
	fake.mono += 1000000;
	ck_assert_uint_eq(dev_platform_next_event(plat), UINT64_MAX);
	outb(0x40, 0);
	base = now_tick();
	at_tick(base, 50, 0);
	ck_assert(took_irq0());
}
END_TEST

START_TEST(mode4_software_strobe)
{
	/* Linux's PIT clockevent in one-shot mode: control 0x38. */
	uint64_t base = program(0, 0x38, 50);

	ck_assert_uint_eq(status(0), 0xb8);
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  dev_pit_tick_start_ns(base + 51));
	at_tick(base, 50, 0);
	ck_assert_uint_eq(status(0), 0x38);        /* low for one tick */
	ck_assert(!took_irq0());
	at_tick(base, 51, 0);
	ck_assert_uint_eq(status(0), 0xb8);
	ck_assert(took_irq0());
	ck_assert_uint_eq(dev_platform_next_event(plat), UINT64_MAX);
	/* Linux's shutdown: mode 0, count 0 (65536). */
	base = program(0, 0x30, 0);
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  dev_pit_tick_start_ns(base + 65536));
}
END_TEST

START_TEST(latch_holds_value)
{
	uint64_t base = program(0, 0x34, 1000);

	at_tick(base, 10, 0);
	outb(0x43, 0x00);
	at_tick(base, 500, 0);
	ck_assert_uint_eq(inb(0x40), 990 & 0xff);
	outb(0x43, 0x00);                          /* ignored: still latched */
	ck_assert_uint_eq(inb(0x40), 990 >> 8);
	/* Latch consumed: reads are live again. */
	ck_assert_uint_eq(inb(0x40), 500 & 0xff);
	ck_assert_uint_eq(inb(0x40), 500 >> 8);
	ck_assert_uint_eq(latched_count(0), 500);
}
END_TEST

START_TEST(access_modes)
{
	uint64_t base;

	/* LSB only: count 200. */
	outb(0x43, 0x14);
	outb(0x40, 200);
	base = now_tick();
	at_tick(base, 3, 0);
	ck_assert_uint_eq(inb(0x40), 197);
	ck_assert_uint_eq(inb(0x40), 197);
	outb(0x43, 0x00);
	ck_assert_uint_eq(inb(0x40), 197);
	ck_assert_uint_eq(status(0), 0x94);
	/* MSB only: count 0x200. */
	outb(0x43, 0x24);
	outb(0x40, 0x02);
	base = now_tick();
	at_tick(base, 1, 0);
	ck_assert_uint_eq(inb(0x40), 0x01);        /* 0x1ff */
	ck_assert_uint_eq(inb(0x40), 0x01);
	/* LSB then MSB: the flip-flop alternates on live reads. */
	base = program(0, 0x34, 0x1234);
	ck_assert_uint_eq(inb(0x40), 0x34);
	ck_assert_uint_eq(inb(0x40), 0x12);
	ck_assert_uint_eq(inb(0x40), 0x34);
	/* A control word resets the flip-flop. */
	base = program(0, 0x34, 0x1234);
	ck_assert_uint_eq(inb(0x40), 0x34);
	outb(0x43, 0x34);
	ck_assert_uint_eq(inb(0x40), 0x34);
	ck_assert_uint_eq(inb(0x43), 0xff);        /* write-only */
}
END_TEST

START_TEST(read_back)
{
	uint64_t base;

	outb(0x61, 0x01);                          /* gate 2 high */
	outb(0x43, 0xb0);
	ck_assert_uint_eq(status(2), 0x70);        /* null count, OUT low */
	outb(0x42, 0x10);
	ck_assert_uint_eq(status(2), 0x70);
	outb(0x42, 0x00);
	base = now_tick();
	ck_assert_uint_eq(status(2), 0x30);
	/* Count and status at once: status first, then the count. */
	at_tick(base, 0x20, 0);
	outb(0x43, 0xc8);
	at_tick(base, 0x30, 0);
	ck_assert_uint_eq(inb(0x42), 0xb0);
	ck_assert_uint_eq(inb(0x42), 0xf0);        /* 0x0010 - 0x20 */
	ck_assert_uint_eq(inb(0x42), 0xff);
	ck_assert_uint_eq(inb(0x42), 0xe0);        /* live: 0x0010 - 0x30 */
	ck_assert_uint_eq(inb(0x42), 0xff);
	/* A latched status is not overwritten; several channels at once. */
	outb(0x43, 0xea);                          /* status of 0 and 2 */
	at_tick(base, 0x40, 0);
	outb(0x43, 0xe8);
	outb(0x43, 0xdc);                          /* counts of 1 and 2 */
	ck_assert_uint_eq(inb(0x40), 0xb4);
	ck_assert_uint_eq(inb(0x42), 0xb0);
	ck_assert_uint_eq(inb(0x42), 0xd0);        /* 0x0010 - 0x40 */
	ck_assert_uint_eq(inb(0x42), 0xff);
	ck_assert_uint_eq(inb(0x41), 0x00);        /* channel 1: 65536 */
	ck_assert_uint_eq(inb(0x41), 0x00);
}
END_TEST

START_TEST(channel2_gate)
{
	uint64_t base;

	outb(0x61, 0x00);
	base = program(2, 0x30, 1000);             /* mode 0, gate low */
	at_tick(base, 300, 0);
	ck_assert_uint_eq(latched_count(2), 1000); /* held by the gate */
	outb(0x61, 0x01);
	at_tick(base, 400, 0);
	ck_assert_uint_eq(latched_count(2), 900);
	outb(0x61, 0x00);
	at_tick(base, 5000, 0);
	ck_assert_uint_eq(latched_count(2), 900);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0);
	outb(0x61, 0x01);
	at_tick(base, 5899, 0);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0);
	at_tick(base, 5900, 0);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
	/* Mode 2: gate low forces OUT high, rising reloads. */
	base = program(2, 0x34, 100);
	at_tick(base, 99, 0);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0);
	outb(0x61, 0x00);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
	at_tick(base, 150, 0);
	outb(0x61, 0x01);
	at_tick(base, 160, 0);
	ck_assert_uint_eq(latched_count(2), 90);
	/* Mode 1: a gate edge triggers a one-shot low pulse of N ticks. */
	outb(0x61, 0x00);
	base = program(2, 0x32, 100);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
	at_tick(base, 10, 0);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20); /* not triggered */
	outb(0x61, 0x01);
	base = now_tick();
	ck_assert_uint_eq(inb(0x61) & 0x20, 0);
	at_tick(base, 100, 0);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
	/* Mode 5: a strobe at N after the trigger. */
	outb(0x61, 0x00);
	program(2, 0x3a, 100);
	outb(0x61, 0x01);
	base = now_tick();
	at_tick(base, 99, 0);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
	at_tick(base, 100, 0);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0);
	at_tick(base, 101, 0);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
}
END_TEST

START_TEST(port61_bits)
{
	outb(0x61, 0xfe);
	ck_assert_uint_eq(inb(0x61) & 0xcf, 0x0e); /* bits 3:0 kept */
	/* The refresh toggle flips every 18 ticks. */
	fake.mono = dev_pit_tick_start_ns(36 * 1000);
	ck_assert_uint_eq(inb(0x61) & 0x10, 0x00);
	fake.mono = dev_pit_tick_start_ns(36 * 1000 + 18) - 1;
	ck_assert_uint_eq(inb(0x61) & 0x10, 0x00);
	fake.mono = dev_pit_tick_start_ns(36 * 1000 + 18);
	ck_assert_uint_eq(inb(0x61) & 0x10, 0x10);
	fake.mono = dev_pit_tick_start_ns(36 * 1000 + 36);
	ck_assert_uint_eq(inb(0x61) & 0x10, 0x00);
}
END_TEST

START_TEST(bcd_counting)
{
	uint64_t base = program(0, 0x31, 0x1000); /* mode 0, 1000 in BCD */

	at_tick(base, 1, 0);
	ck_assert_uint_eq(latched_count(0), 0x0999);
	at_tick(base, 1000, 0);
	ck_assert_uint_eq(latched_count(0), 0x0000);
	ck_assert_uint_eq(status(0), 0xb1);
	at_tick(base, 1001, 0);
	ck_assert_uint_eq(latched_count(0), 0x9999);
	base = program(0, 0x35, 0);                /* mode 2, 10000 */
	at_tick(base, 1, 0);
	ck_assert_uint_eq(latched_count(0), 0x9999);
}
END_TEST

/*
 * arch/x86/kernel/tsc.c, quick_pit_calibrate(): gate channel 2, mode 0 with
 * 0xffff, then read LSB and MSB pairs from 0x42 watching the MSB fall by
 * one every 256 ticks. Every MSB must be the exact function of the clock.
 */
START_TEST(linux_quick_pit_calibrate)
{
	uint64_t base, d;
	unsigned reads = 0, msb_changes = 0, last_msb = 0xff;

	outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
	outb(0x43, 0xb0);
	outb(0x42, 0xff);
	outb(0x42, 0xff);
	base = now_tick();
	/* Spin as the kernel would, ~1.3 us per inb pair, for 100 ms. */
	for (uint64_t t = fake.mono; t < fake.mono + 100000000ull; t += 1300) {
		uint64_t saved = fake.mono;
		unsigned msb;

		fake.mono = t;
		inb(0x42);
		msb = inb(0x42);
		d = now_tick() - base;
		ck_assert_uint_eq(msb, ((0xffffu - d) & 0xffffu) >> 8);
		if (msb != last_msb)
			msb_changes++;
		last_msb = msb;
		reads++;
		fake.mono = saved;
	}
	ck_assert_uint_gt(reads, 70000);
	/* 100 ms is 119318 ticks: through 0 (at 65535) and round again. */
	ck_assert_uint_eq(msb_changes, 466);
	/* The MSB turns exactly at the tick. */
	at_tick(base, 256, -1);
	inb(0x42);
	ck_assert_uint_eq(inb(0x42), 0xff);
	at_tick(base, 256, 0);
	inb(0x42);
	ck_assert_uint_eq(inb(0x42), 0xfe);
	/* And OUT2 (port 0x61 bit 5) rises at terminal count. */
	at_tick(base, 0xffff, -1);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0);
	at_tick(base, 0xffff, 0);
	ck_assert_uint_eq(inb(0x61) & 0x20, 0x20);
}
END_TEST

/* pit_calibrate_tsc(): a 50 ms mode-0 countdown polled through port 0x61. */
START_TEST(linux_pit_calibrate_tsc)
{
	const unsigned latch = 1193182 / 20;
	uint64_t start, base, expect;
	unsigned loops = 0;

	outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
	outb(0x43, 0xb0);
	outb(0x42, latch & 0xff);
	outb(0x42, latch >> 8);
	start = fake.mono;
	base = now_tick();
	while ((inb(0x61) & 0x20) == 0) {
		fake.mono += 1000;
		loops++;
	}
	expect = dev_pit_tick_start_ns(base + latch);
	ck_assert_uint_ge(fake.mono, expect);
	ck_assert_uint_lt(fake.mono, expect + 1000);
	ck_assert_uint_eq(loops, (expect - start + 999) / 1000);
	/* 59659 ticks are 49.99993 ms: within a tick and a poll step. */
	ck_assert_uint_ge(fake.mono - start, 49999928ull - 839);
	ck_assert_uint_le(fake.mono - start, 49999928ull + 1000);
}
END_TEST

START_TEST(reads_are_pure_functions_of_the_clock)
{
	uint64_t base;
	unsigned first;

	program(2, 0x34, 0x8000);                  /* gate low: held */
	outb(0x61, 0x01);
	base = now_tick();
	at_tick(base, 12345, 77);
	first = latched_count(2);
	for (unsigned i = 0; i < 100; i++)
		ck_assert_uint_eq(latched_count(2), first);
	ck_assert_uint_eq(first, 0x8000 - 12345 % 0x8000);
}
END_TEST

static Suite *pit_suite(void)
{
	Suite *s = suite_create("pit");
	TCase *tc = tcase_create("pit");

	tcase_add_checked_fixture(tc, pit_setup, pit_teardown);
	tcase_add_test(tc, tick_conversion_is_exact);
	tcase_add_test(tc, seabios_channel0);
	tcase_add_test(tc, mode2_rate_generator);
	tcase_add_test(tc, mode3_square_wave);
	tcase_add_test(tc, mode0_terminal_count);
	tcase_add_test(tc, mode4_software_strobe);
	tcase_add_test(tc, latch_holds_value);
	tcase_add_test(tc, access_modes);
	tcase_add_test(tc, read_back);
	tcase_add_test(tc, channel2_gate);
	tcase_add_test(tc, port61_bits);
	tcase_add_test(tc, bcd_counting);
	tcase_add_test(tc, linux_quick_pit_calibrate);
	tcase_add_test(tc, linux_pit_calibrate_tsc);
	tcase_add_test(tc, reads_are_pure_functions_of_the_clock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
