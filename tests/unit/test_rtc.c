/* Unit tests for devices/rtc_cmos.c: time registers, UIP, SET, register C and IRQ 8 on a fake clock. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "devices_internal.h"

struct fake_clock {
	uint64_t mono, real;
};

static struct fake_clock fake;

static uint64_t fake_mono(void *ctx) { return ((struct fake_clock *)ctx)->mono; }
static uint64_t fake_real(void *ctx) { return ((struct fake_clock *)ctx)->real; }

#define S 1000000000ull
/* Thursday 2024-02-29 13:45:56.5 UTC. */
#define LEAP_DAY_S 1709214356ull
/* A monotonic time on a 2 Hz boundary (7e9 ns = 14000 * 16384 cycles). */
#define MONO_START (7 * S)

static struct dev_platform *plat;
static struct dev_bus *bus;

static uint8_t inb(uint16_t port) { return (uint8_t)dev_pio_in(bus, port, 1); }
static void outb(uint16_t port, uint8_t v) { dev_pio_out(bus, port, 1, v); }

static uint8_t cmos_read(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static void cmos_write(uint8_t reg, uint8_t v)
{
	outb(0x70, reg);
	outb(0x71, v);
}

static void rtc_setup(void)
{
	struct dev_platform_config cfg = {
		.clock = { .monotonic_ns = fake_mono, .realtime_ns = fake_real,
			   .ctx = &fake },
	};

	fake.mono = MONO_START;
	fake.real = LEAP_DAY_S * S + S / 2;
	plat = dev_platform_create(&cfg);
	ck_assert_ptr_nonnull(plat);
	bus = dev_platform_bus(plat);
	/* A control word without a count stops PIT channel 0, so only the
	 * RTC makes events here. */
	outb(0x43, 0x30);
	ck_assert_uint_eq(dev_platform_next_event(plat), UINT64_MAX);
}

static void rtc_teardown(void)
{
	dev_platform_destroy(plat);
	plat = NULL;
	bus = NULL;
}

static void advance(uint64_t ns)
{
	fake.mono += ns;
	fake.real += ns;
}

/* IRQ 8 requested (vector 0x70 after SeaBIOS)? Acknowledge and EOI. */
static bool took_irq8(void)
{
	dev_platform_update(plat);
	if (!dev_platform_intr(plat))
		return false;
	ck_assert_uint_eq(dev_platform_inta(plat), 0x70);
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	return true;
}

START_TEST(bcd_24h_defaults)
{
	static const uint8_t want[][2] = {
		{ 0x00, 0x56 }, { 0x02, 0x45 }, { 0x04, 0x13 },
		{ 0x06, 0x05 }, /* Thursday */
		{ 0x07, 0x29 }, { 0x08, 0x02 }, { 0x09, 0x24 }, { 0x32, 0x20 },
		{ 0x0a, 0x26 }, { 0x0b, 0x02 }, { 0x0c, 0x00 }, { 0x0d, 0x80 },
		{ 0x01, 0x00 }, { 0x0e, 0x00 }, { 0x14, 0x06 }, { 0x15, 0x80 },
		{ 0x16, 0x02 }, { 0x37, 0x20 },
	};

	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(cmos_read(want[i][0]) == want[i][1],
			      "register 0x%02x: 0x%02x, want 0x%02x", want[i][0],
			      cmos_read(want[i][0]), want[i][1]);
	ck_assert_uint_eq(inb(0x70), 0xff);        /* write-only index */
}
END_TEST

START_TEST(binary_and_12_hour)
{
	cmos_write(0x0b, 0x06);                    /* binary, 24 h */
	ck_assert_uint_eq(cmos_read(0x00), 56);
	ck_assert_uint_eq(cmos_read(0x02), 45);
	ck_assert_uint_eq(cmos_read(0x04), 13);
	ck_assert_uint_eq(cmos_read(0x07), 29);
	ck_assert_uint_eq(cmos_read(0x08), 2);
	ck_assert_uint_eq(cmos_read(0x09), 24);
	ck_assert_uint_eq(cmos_read(0x32), 20);
	cmos_write(0x0b, 0x04);                    /* binary, 12 h */
	ck_assert_uint_eq(cmos_read(0x04), 0x81);  /* 1 PM */
	cmos_write(0x0b, 0x00);                    /* BCD, 12 h */
	ck_assert_uint_eq(cmos_read(0x04), 0x81);
	fake.real = (LEAP_DAY_S + 10 * 3600) * S;  /* 23:45 */
	ck_assert_uint_eq(cmos_read(0x04), 0x91);  /* 11 PM */
	fake.real = (LEAP_DAY_S + 10 * 3600 + 15 * 60) * S; /* Fri 00:00:56 */
	ck_assert_uint_eq(cmos_read(0x04), 0x12);  /* 12 AM */
	ck_assert_uint_eq(cmos_read(0x06), 0x06);
	ck_assert_uint_eq(cmos_read(0x07), 0x01);
	ck_assert_uint_eq(cmos_read(0x08), 0x03);
	fake.real = (LEAP_DAY_S - 6 * 3600 + 15 * 60) * S; /* 08:00:56 */
	ck_assert_uint_eq(cmos_read(0x04), 0x08);
	fake.real = (LEAP_DAY_S - 3600) * S;               /* 12:45:56 */
	ck_assert_uint_eq(cmos_read(0x04), 0x92);  /* 12 PM */
	/* Dates before 2000 and the century. */
	fake.real = 946684799ull * S;              /* 1999-12-31 23:59:59 */
	cmos_write(0x0b, 0x02);
	ck_assert_uint_eq(cmos_read(0x09), 0x99);
	ck_assert_uint_eq(cmos_read(0x32), 0x19);
	ck_assert_uint_eq(cmos_read(0x06), 0x06);  /* Friday */
	fake.real += S;
	ck_assert_uint_eq(cmos_read(0x09), 0x00);
	ck_assert_uint_eq(cmos_read(0x32), 0x20);
	ck_assert_uint_eq(cmos_read(0x07), 0x01);
	ck_assert_uint_eq(cmos_read(0x08), 0x01);
}
END_TEST

START_TEST(update_in_progress_window)
{
	/* The last 244.14 us of each second. */
	ck_assert_uint_eq(cmos_read(0x0a), 0x26);
	fake.real = LEAP_DAY_S * S + S - 244140 - 1;
	ck_assert_uint_eq(cmos_read(0x0a), 0x26);
	fake.real += 1;
	ck_assert_uint_eq(cmos_read(0x0a), 0xa6);
	ck_assert_uint_eq(cmos_read(0x00), 0x56);  /* not yet updated */
	fake.real = LEAP_DAY_S * S + S - 1;
	ck_assert_uint_eq(cmos_read(0x0a), 0xa6);
	fake.real += 1;
	ck_assert_uint_eq(cmos_read(0x0a), 0x26);
	ck_assert_uint_eq(cmos_read(0x00), 0x57);
	/* No updates while SET holds them or the divider is in reset. */
	fake.real = LEAP_DAY_S * S + S - 1000;
	cmos_write(0x0b, 0x82);
	ck_assert_uint_eq(cmos_read(0x0a), 0x26);
	cmos_write(0x0b, 0x02);
	cmos_write(0x0a, 0x76);
	ck_assert_uint_eq(cmos_read(0x0a), 0x76);
	/* UIP is read-only. */
	cmos_write(0x0a, 0xa6);
	fake.real = LEAP_DAY_S * S;
	ck_assert_uint_eq(cmos_read(0x0a), 0x26);
}
END_TEST

START_TEST(set_freezes_and_sets_the_clock)
{
	cmos_write(0x0b, 0x82);
	advance(5 * S);
	ck_assert_uint_eq(cmos_read(0x00), 0x56);  /* frozen */
	/* Linux's mc146818_set_time: 2030-01-02 03:04:05. */
	cmos_write(0x00, 0x05);
	cmos_write(0x02, 0x04);
	cmos_write(0x04, 0x03);
	cmos_write(0x07, 0x02);
	cmos_write(0x08, 0x01);
	cmos_write(0x09, 0x30);
	advance(3 * S);
	ck_assert_uint_eq(cmos_read(0x00), 0x05);
	cmos_write(0x0b, 0x02);
	ck_assert_uint_eq(cmos_read(0x00), 0x05);
	ck_assert_uint_eq(cmos_read(0x02), 0x04);
	ck_assert_uint_eq(cmos_read(0x04), 0x03);
	ck_assert_uint_eq(cmos_read(0x06), 0x04);  /* a Wednesday */
	ck_assert_uint_eq(cmos_read(0x07), 0x02);
	ck_assert_uint_eq(cmos_read(0x08), 0x01);
	ck_assert_uint_eq(cmos_read(0x09), 0x30);
	ck_assert_uint_eq(cmos_read(0x32), 0x20);
	/* It runs on from there, with the host's seconds. */
	advance(10 * S);
	ck_assert_uint_eq(cmos_read(0x00), 0x15);
	advance(S / 2 - 1);
	ck_assert_uint_eq(cmos_read(0x00), 0x15);
	advance(1);
	ck_assert_uint_eq(cmos_read(0x00), 0x16);
	/* A field written while the clock runs takes effect at once. */
	cmos_write(0x02, 0x30);
	ck_assert_uint_eq(cmos_read(0x02), 0x30);
	ck_assert_uint_eq(cmos_read(0x00), 0x16);
	advance(60 * S);
	ck_assert_uint_eq(cmos_read(0x02), 0x31);
	/* Setting SET clears UIE. */
	cmos_write(0x0b, 0x92);
	ck_assert_uint_eq(cmos_read(0x0b), 0x82);
	cmos_write(0x0b, 0x02);
}
END_TEST

/* Register C without UF, which the second boundaries set as they pass. */
static uint8_t read_c_but_uf(void)
{
	return cmos_read(0x0c) & (uint8_t)~0x10u;
}

START_TEST(periodic_interrupt)
{
	unsigned edges = 0;

	cmos_write(0x0a, 0x2f);                    /* 2 Hz */
	cmos_write(0x0b, 0x42);                    /* PIE */
	ck_assert_uint_eq(dev_platform_next_event(plat), MONO_START + S / 2);
	advance(S / 2 - 1);
	ck_assert(!took_irq8());
	advance(1);
	ck_assert(took_irq8());
	ck_assert_uint_eq(read_c_but_uf(), 0xc0);  /* IRQF | PF */
	ck_assert_uint_eq(read_c_but_uf(), 0x00);  /* cleared by reading */
	ck_assert_uint_eq(dev_platform_next_event(plat), MONO_START + S);
	/* Until register C is read, IRQ 8 stays high: no new edge. */
	advance(S / 2);
	ck_assert(took_irq8());
	ck_assert_uint_eq(dev_platform_next_event(plat), UINT64_MAX);
	advance(S / 2);
	ck_assert(!took_irq8());
	ck_assert_uint_eq(read_c_but_uf(), 0xc0);
	ck_assert_uint_eq(dev_platform_next_event(plat), MONO_START + 2 * S);
	/* Ten seconds of a handler that reads C: twenty edges. */
	for (unsigned i = 0; i < 20; i++) {
		advance(S / 2);
		if (took_irq8())
			edges++;
		cmos_read(0x0c);
	}
	ck_assert_uint_eq(edges, 20);
	/* PF is latched without PIE, but is no interrupt. */
	cmos_write(0x0b, 0x02);
	advance(S / 2);
	ck_assert(!took_irq8());
	ck_assert_uint_eq(read_c_but_uf(), 0x40);
	ck_assert_uint_eq(dev_platform_next_event(plat), UINT64_MAX);
	/* Enabling PIE over a latched PF raises IRQ 8 at once. */
	advance(S / 2);
	dev_platform_update(plat);
	cmos_write(0x0b, 0x42);
	ck_assert(took_irq8());
	ck_assert_uint_eq(read_c_but_uf(), 0xc0);
}
END_TEST

START_TEST(periodic_rates)
{
	/* 1024 Hz: 32 cycles of 30517.578125 ns, from monotonic 0. */
	cmos_write(0x0a, 0x26);
	cmos_write(0x0b, 0x42);
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  MONO_START + 976563);
	advance(976563);
	ck_assert(took_irq8());
	cmos_read(0x0c);
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  MONO_START + 2 * 976562 + 1);
	/* Rates 1 and 2 are 256 and 128 Hz with a 32.768 kHz base. */
	cmos_write(0x0a, 0x21);
	ck_assert_uint_eq(dev_platform_next_event(plat) % 3906250, 0);
	cmos_write(0x0a, 0x22);
	ck_assert_uint_eq(dev_platform_next_event(plat) % 7812500, 0);
	/* Rate 0, or the divider in reset: none. */
	cmos_write(0x0a, 0x20);
	ck_assert_uint_eq(dev_platform_next_event(plat), UINT64_MAX);
	cmos_write(0x0a, 0x66);
	ck_assert_uint_eq(dev_platform_next_event(plat), UINT64_MAX);
	advance(S);
	ck_assert(!took_irq8());
	ck_assert_uint_eq(cmos_read(0x0c), 0x00);
}
END_TEST

START_TEST(update_ended_interrupt)
{
	cmos_write(0x0a, 0x20);                    /* no periodic flag */
	cmos_write(0x0b, 0x12);                    /* UIE */
	ck_assert_uint_eq(dev_platform_next_event(plat), MONO_START + S / 2);
	advance(S / 2 - 1);
	ck_assert(!took_irq8());
	advance(1);
	ck_assert(took_irq8());
	ck_assert_uint_eq(cmos_read(0x0c), 0x90);  /* IRQF | UF */
	ck_assert_uint_eq(cmos_read(0x00), 0x57);
	ck_assert_uint_eq(dev_platform_next_event(plat), MONO_START + 3 * S / 2);
	/* The seconds boundary comes from the wall clock. */
	fake.real += S / 4;
	ck_assert_uint_eq(dev_platform_next_event(plat),
			  MONO_START + 5 * S / 4);
}
END_TEST

START_TEST(alarm_interrupt)
{
	cmos_write(0x01, 0x00);                    /* 13:46:00 */
	cmos_write(0x03, 0x46);
	cmos_write(0x05, 0x13);
	cmos_write(0x0a, 0x20);                    /* no periodic flag */
	cmos_write(0x0b, 0x22);                    /* AIE */
	advance(3 * S);                            /* 13:45:59.5 */
	ck_assert(!took_irq8());
	ck_assert_uint_eq(cmos_read(0x0c), 0x10);  /* UF only */
	advance(S / 2);
	ck_assert(took_irq8());
	ck_assert_uint_eq(cmos_read(0x0c), 0xb0);  /* IRQF | AF | UF */
	advance(S);
	ck_assert(!took_irq8());
	/* "Don't care" bytes: every minute at :30. */
	cmos_write(0x01, 0x30);
	cmos_write(0x03, 0xc0);
	cmos_write(0x05, 0xff);
	cmos_read(0x0c);
	advance(29 * S);                           /* 13:46:30 */
	ck_assert(took_irq8());
	ck_assert_uint_eq(cmos_read(0x0c), 0xb0);
	/* An alarm that passed unobserved during a long gap still counts. */
	advance(3 * 86400 * S);
	ck_assert(took_irq8());
	ck_assert_uint_eq(cmos_read(0x0c) & 0x20, 0x20);
}
END_TEST

START_TEST(cmos_ram_and_nmi_mask)
{
	cmos_write(0x40, 0x5a);
	cmos_write(0x7f, 0xa5);
	ck_assert_uint_eq(cmos_read(0x40), 0x5a);
	ck_assert_uint_eq(cmos_read(0x7f), 0xa5);
	/* Bit 7 of the index masks NMI and is not part of the index. */
	ck_assert(!dev_platform_nmi_masked(plat));
	outb(0x70, 0xc0);
	ck_assert(dev_platform_nmi_masked(plat));
	ck_assert_uint_eq(inb(0x71), 0x5a);
	outb(0x70, 0x40);
	ck_assert(!dev_platform_nmi_masked(plat));
	/* C and D are read-only. */
	cmos_write(0x0c, 0xff);
	cmos_write(0x0d, 0x00);
	ck_assert_uint_eq(cmos_read(0x0c), 0x00);
	ck_assert_uint_eq(cmos_read(0x0d), 0x80);
	/* Byte access only: a word access is two byte accesses. */
	dev_pio_out(bus, 0x70, 2, 0x7740);
	ck_assert_uint_eq(cmos_read(0x40), 0x77);
}
END_TEST

START_TEST(next_event_is_the_earliest)
{
	uint64_t pit;

	/* PIT channel 0, mode 2 with a 10 ms period, against 2 Hz. */
	cmos_write(0x0a, 0x2f);
	cmos_write(0x0b, 0x42);
	outb(0x43, 0x34);
	outb(0x40, 11932 & 0xff);
	outb(0x40, 11932 >> 8);
	pit = dev_pit_tick_start_ns(dev_pit_tick_at(fake.mono) + 11932);
	ck_assert_uint_eq(dev_platform_next_event(plat), pit);
	/* At 8192 Hz the RTC's tick comes first: 4 cycles, 122070.3 ns. */
	cmos_write(0x0a, 0x23);
	ck_assert_uint_eq(dev_platform_next_event(plat), MONO_START + 122071);
	/* Nothing from the RTC: the PIT's edge. */
	cmos_write(0x0b, 0x02);
	ck_assert_uint_eq(dev_platform_next_event(plat), pit);
}
END_TEST

static Suite *rtc_suite(void)
{
	Suite *s = suite_create("rtc");
	TCase *tc = tcase_create("rtc");

	tcase_add_checked_fixture(tc, rtc_setup, rtc_teardown);
	tcase_add_test(tc, bcd_24h_defaults);
	tcase_add_test(tc, binary_and_12_hour);
	tcase_add_test(tc, update_in_progress_window);
	tcase_add_test(tc, set_freezes_and_sets_the_clock);
	tcase_add_test(tc, periodic_interrupt);
	tcase_add_test(tc, periodic_rates);
	tcase_add_test(tc, update_ended_interrupt);
	tcase_add_test(tc, alarm_interrupt);
	tcase_add_test(tc, cmos_ram_and_nmi_mask);
	tcase_add_test(tc, next_event_is_the_earliest);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rtc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
