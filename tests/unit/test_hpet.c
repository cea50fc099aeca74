/* Unit tests for devices/hpet.c, acpi_pm.c, port92.c and the 0xcf9 reset: on the platform, with a fake clock. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "devices_internal.h"

struct fake_clock {
	uint64_t mono;
};

static struct fake_clock fake;

static uint64_t fake_mono(void *ctx) { return ((struct fake_clock *)ctx)->mono; }

/* Not a multiple of the HPET's 10 ns tick. */
#define START_NS 7000000003ull

static struct dev_platform *plat;
static struct dev_bus *bus;

static void setup(void)
{
	struct dev_platform_config cfg = {
		.clock = { .monotonic_ns = fake_mono, .ctx = &fake },
	};

	fake.mono = START_NS;
	plat = dev_platform_create(&cfg);
	ck_assert_ptr_nonnull(plat);
	bus = dev_platform_bus(plat);
}

static void teardown(void)
{
	dev_platform_destroy(plat);
	plat = NULL;
}

static uint32_t rd(uint64_t phys)
{
	uint32_t v = 0;

	ck_assert(dev_mmio_read(plat, phys, 4, &v));
	return v;
}

static void wr(uint64_t phys, uint32_t v)
{
	ck_assert(dev_mmio_write(plat, phys, 4, v));
}

#define HPET(off)       (PC_HPET_BASE + (off))
#define TN_CONF(n)      HPET(0x100 + 0x20 * (n))
#define TN_CMP(n)       HPET(0x108 + 0x20 * (n))
#define LAPIC(off)      (PC_LAPIC_BASE + (off))

static uint64_t counter(void)
{
	uint32_t lo = rd(HPET(0xf0)), hi = rd(HPET(0xf4));

	return (uint64_t)hi << 32 | lo;
}

/* The first ns at which a counter enabled at counter value `c0` at time
 * `t0` reaches `value`. */
static uint64_t ns_of(uint64_t t0, uint64_t c0, uint64_t value)
{
	return (t0 / 10 + (value - c0)) * 10;
}

static void io_route(unsigned pin, uint32_t low)
{
	wr(PC_IOAPIC_BASE, 0x11 + 2 * pin);
	wr(PC_IOAPIC_BASE + 0x10, 0);
	wr(PC_IOAPIC_BASE, 0x10 + 2 * pin);
	wr(PC_IOAPIC_BASE + 0x10, low);
}

/* The I/O APIC path only: 8259 masked, LAPIC on, LINT0 masked. */
static void apic_mode(void)
{
	dev_pio_out(bus, 0x21, 1, 0xff);
	dev_pio_out(bus, 0xa1, 1, 0xff);
	wr(LAPIC(0xf0), 0x1ff);
	wr(LAPIC(0x350), 0x10700);
}

/* The interrupt the CPU would take now (after an update), EOIs included;
 * -1 if none. */
static int take(void)
{
	uint8_t v;

	dev_platform_update(plat);
	if (!dev_platform_intr(plat))
		return -1;
	v = dev_platform_inta(plat);
	if (v < 0x20) {
		dev_pio_out(bus, 0x20, 1, 0x20);
	} else {
		wr(LAPIC(0xb0), 0);
	}
	return v;
}

START_TEST(hpet_registers)
{
	ck_assert_uint_eq(rd(HPET(0x00)), 0x8086a201);
	ck_assert_uint_eq(rd(HPET(0x04)), 10000000);
	ck_assert_uint_eq(rd(HPET(0x10)), 0);
	ck_assert_uint_eq(rd(TN_CONF(0)), 0x30);
	ck_assert_uint_eq(rd(TN_CONF(0) + 4), 0x00f00000);
	ck_assert_uint_eq(rd(TN_CONF(1)), 0x20);
	ck_assert_uint_eq(rd(TN_CONF(2)), 0x20);
	ck_assert_uint_eq(rd(TN_CMP(2)), 0xffffffff);
	ck_assert_uint_eq(rd(TN_CMP(2) + 4), 0xffffffff);
	/* Writable bits; only timer 0 can be periodic. */
	wr(TN_CONF(0), 0xffffffff);
	ck_assert_uint_eq(rd(TN_CONF(0)), 0x3f7e);
	wr(TN_CONF(1), 0xffffffff);
	ck_assert_uint_eq(rd(TN_CONF(1)), 0x3f66);
	/* 32-bit mode truncates the comparator. */
	wr(TN_CONF(2), 0x100);
	ck_assert_uint_eq(rd(TN_CMP(2) + 4), 0);
	ck_assert_uint_eq(rd(TN_CMP(2)), 0xffffffff);
	/* Other sizes: 0 (QEMU's minimum access size is 4). */
	uint32_t v = 1;
	ck_assert(dev_mmio_read(plat, HPET(0x00), 2, &v));
	ck_assert_uint_eq(v, 0);
	ck_assert(dev_mmio_read(plat, HPET(0x200), 4, &v));
	ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(hpet_main_counter)
{
	uint64_t t0;

	ck_assert_uint_eq(counter(), 0);
	fake.mono += 1000;
	ck_assert_uint_eq(counter(), 0);      /* halted */
	wr(HPET(0xf0), 0xfffffff0);
	wr(HPET(0xf4), 0x1);
	ck_assert_uint_eq(counter(), 0x1fffffff0ull);
	t0 = fake.mono;
	wr(HPET(0x10), 1);
	ck_assert_uint_eq(counter(), 0x1fffffff0ull);
	fake.mono = t0 + 200;
	ck_assert_uint_eq(counter(), 0x1fffffff0ull + (t0 + 200) / 10 - t0 / 10);
	ck_assert_uint_eq(rd(HPET(0xf4)), 2);
	/* Not writable while running. */
	wr(HPET(0xf0), 0);
	ck_assert_uint_ne(counter(), 0x200000000ull);
	/* Halting keeps the value; resuming goes on from it. */
	wr(HPET(0x10), 0);
	uint64_t held = counter();
	fake.mono += 1000000;
	ck_assert_uint_eq(counter(), held);
	t0 = fake.mono;
	wr(HPET(0x10), 1);
	fake.mono = t0 + 10000;
	ck_assert_uint_eq(counter(), held + (t0 + 10000) / 10 - t0 / 10);
}
END_TEST

START_TEST(hpet_one_shot_to_ioapic)
{
	uint64_t t0 = fake.mono, due;

	apic_mode();
	io_route(20, 0x50);
	wr(TN_CONF(2), 0x4 | 20u << 9);
	wr(TN_CMP(2), 500);
	wr(TN_CMP(2) + 4, 0);
	wr(HPET(0x10), 1);
	due = ns_of(t0, 0, 500);
	ck_assert_uint_eq(dev_platform_next_event(plat), due);
	fake.mono = due - 1;
	ck_assert_int_eq(take(), -1);
	fake.mono = due;
	ck_assert_int_eq(take(), 0x50);
	ck_assert_int_eq(take(), -1);
	/* One-shot: no further match (the 64-bit counter never wraps). */
	ck_assert_uint_lt(dev_platform_next_event(plat), UINT64_MAX);
	ck_assert_uint_ne(dev_platform_next_event(plat), due);
	fake.mono += 1000000;
	ck_assert_int_eq(take(), -1);
	/* A comparator behind the counter matches only after a wrap: in
	 * 32-bit mode 2^32 ticks (42.9 s) on, and again every 2^32 ticks. */
	wr(TN_CONF(2), 0x4 | 0x100 | 20u << 9);
	uint64_t c = counter();
	wr(TN_CMP(2), (uint32_t)(c - 5));
	ck_assert_int_eq(take(), -1);
	fake.mono = ns_of(t0, 0, c - 5 + (1ull << 32)) - 1;
	ck_assert_int_eq(take(), -1);
	fake.mono += 1;
	ck_assert_int_eq(take(), 0x50);
	fake.mono = ns_of(t0, 0, c - 5 + (3ull << 31));
	ck_assert_int_eq(take(), -1);
	fake.mono = ns_of(t0, 0, c - 5 + (2ull << 32));
	ck_assert_int_eq(take(), 0x50);
	/* A route outside Tn_INT_ROUTE_CAP goes nowhere. */
	io_route(5, 0x55);
	wr(TN_CONF(2), 0x4 | 5u << 9);
	wr(TN_CMP(2), (uint32_t)counter() + 10);
	wr(TN_CMP(2) + 4, (uint32_t)(counter() >> 32));
	fake.mono += 1000;
	ck_assert_int_eq(take(), -1);
}
END_TEST

START_TEST(hpet_periodic_legacy)
{
	uint64_t t0, c0, pit_edge;

	/* SeaBIOS's 8259 set-up, through LINT0: IRQ 0 is vector 8. */
	pit_edge = dev_platform_next_event(plat);
	wr(HPET(0x10), 3);                    /* enable, legacy replacement */
	/* Timer 0 interrupt off: the PIT's IRQ 0 edge is cut off. */
	fake.mono = pit_edge;
	ck_assert_int_eq(take(), -1);
	/* Linux's periodic set-up: VAL_SET, the first match, the period. */
	t0 = fake.mono;
	c0 = counter();
	wr(TN_CONF(0), 0x4 | 0x8 | 0x40 | 0x100);
	wr(TN_CMP(0), (uint32_t)(c0 + 1000));
	wr(TN_CMP(0), 1000);
	ck_assert_uint_eq(dev_platform_next_event(plat), ns_of(t0, c0, c0 + 1000));
	fake.mono = ns_of(t0, c0, c0 + 1000) - 1;
	ck_assert_int_eq(take(), -1);
	fake.mono = ns_of(t0, c0, c0 + 1000);
	ck_assert_int_eq(take(), 0x08);
	ck_assert_uint_eq(rd(TN_CMP(0)), (uint32_t)(c0 + 2000));
	fake.mono = ns_of(t0, c0, c0 + 2000);
	ck_assert_int_eq(take(), 0x08);
	/* Periods nobody saw: one interrupt, the comparator moves past. */
	fake.mono = ns_of(t0, c0, c0 + 7500);
	ck_assert_int_eq(take(), 0x08);
	ck_assert_int_eq(take(), -1);
	ck_assert_uint_eq(rd(TN_CMP(0)), (uint32_t)(c0 + 8000));
	/* Legacy replacement off: the PIT has IRQ 0 again. */
	wr(HPET(0x10), 1);
	wr(TN_CONF(0), 0);
	fake.mono = dev_platform_next_event(plat);
	ck_assert_int_eq(take(), 0x08);
}
END_TEST

START_TEST(hpet_level_status)
{
	uint32_t redir;

	apic_mode();
	io_route(21, 0x8051);                 /* level */
	wr(TN_CONF(1), 0x2 | 0x4 | 21u << 9);
	wr(TN_CMP(1), 100);
	wr(TN_CMP(1) + 4, 0);
	wr(HPET(0x10), 1);
	fake.mono += 1000;
	ck_assert_int_eq(take(), 0x51);
	ck_assert_uint_eq(rd(HPET(0x20)), 0x2);
	/* Still asserted after the EOI: delivered again. */
	ck_assert_int_eq(take(), 0x51);
	/* Write 1 to clear drops the line; then the EOI ends it. */
	wr(HPET(0x20), 0x5);                  /* bit 0 and 2 not set: no-op */
	ck_assert_uint_eq(rd(HPET(0x20)), 0x2);
	dev_platform_update(plat);
	ck_assert_uint_eq(dev_platform_inta(plat), 0x51);
	wr(HPET(0x20), 0x2);
	ck_assert_uint_eq(rd(HPET(0x20)), 0);
	wr(LAPIC(0xb0), 0);
	ck_assert_int_eq(take(), -1);
	wr(PC_IOAPIC_BASE, 0x10 + 2 * 21);
	redir = rd(PC_IOAPIC_BASE + 0x10);
	ck_assert_uint_eq(redir & 0x4000, 0);
}
END_TEST

/* ---- ACPI PM ---- */

static uint32_t pm_timer(void) { return dev_pio_in(bus, PC_ACPI_PM_TMR, 4); }

START_TEST(pm_timer_rate)
{
	fake.mono = 1000000000ull;
	ck_assert_uint_eq(pm_timer(), 3579545);
	fake.mono = 2000000000ull;
	ck_assert_uint_eq(pm_timer(), 7159090);
	/* 24 bits: 5 s is 17897725 ticks. */
	fake.mono = 5000000000ull;
	ck_assert_uint_eq(pm_timer(), 17897725 - (1u << 24));
	/* One tick is 279.4 ns. */
	fake.mono = 1000000000ull + 279;
	ck_assert_uint_eq(pm_timer(), 3579545);
	fake.mono = 1000000000ull + 280;
	ck_assert_uint_eq(pm_timer(), 3579546);
	/* Any second is 3579545 ticks, modulo 2^24. */
	for (uint64_t t = 123456789; t < 60000000000ull; t += 7777777777ull) {
		uint32_t a, b;

		fake.mono = t;
		a = pm_timer();
		fake.mono = t + 1000000000ull;
		b = pm_timer();
		ck_assert_uint_eq((b - a) & 0xffffff, 3579545);
		ck_assert_uint_lt(b, 1u << 24);
	}
	/* Byte reads see the same count. */
	fake.mono = 1000000000ull;
	ck_assert_uint_eq(dev_pio_in(bus, PC_ACPI_PM_TMR + 1, 1), 0x9e);
}
END_TEST

START_TEST(pm_status_and_sci)
{
	uint32_t bit23;

	/* PM1 control: SCI_EN reads 1. */
	ck_assert_uint_eq(dev_pio_in(bus, PC_ACPI_PM1A_CNT, 2), 1);
	dev_pio_out(bus, PC_ACPI_PM1A_EVT + 2, 2, 0x0001);   /* TMR_EN */
	ck_assert_uint_eq(dev_pio_in(bus, PC_ACPI_PM1A_EVT, 4), 0x00010000);
	bit23 = pm_timer() & 0x800000;
	/* Small steps in the same epoch: no TMR_STS. */
	for (int i = 0; i < 3; i++) {
		fake.mono += 100000000ull;
		if ((pm_timer() & 0x800000) == bit23) {
			dev_platform_update(plat);
			ck_assert_uint_eq(dev_pio_in(bus, PC_ACPI_PM1A_EVT, 2), 0);
		}
	}
	/* 2^23 ticks are 2.34 s: bit 23 has toggled. */
	fake.mono += 2400000000ull;
	dev_platform_update(plat);
	ck_assert_uint_eq(dev_pio_in(bus, PC_ACPI_PM1A_EVT, 2), 1);
	/* The SCI is IRQ 9: the slave 8259's IR1. */
	dev_pio_out(bus, 0xa0, 1, 0x0a);
	ck_assert_uint_eq(dev_pio_in(bus, 0xa0, 1) & 0x02, 0x02);
	/* Write 1 to clear; 0 bits leave the status alone. */
	dev_pio_out(bus, PC_ACPI_PM1A_EVT, 2, 0x0100);
	ck_assert_uint_eq(dev_pio_in(bus, PC_ACPI_PM1A_EVT, 2), 1);
	dev_pio_out(bus, PC_ACPI_PM1A_EVT, 2, 0x0001);
	ck_assert_uint_eq(dev_pio_in(bus, PC_ACPI_PM1A_EVT, 2), 0);
}
END_TEST

START_TEST(pm_s5_poweroff)
{
	/* SLP_TYP 5 (not S5 here) with SLP_EN: nothing. */
	dev_pio_out(bus, PC_ACPI_PM1A_CNT, 2, 5u << 10 | 0x2000);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_RUNNING);
	ck_assert_uint_eq(dev_pio_in(bus, PC_ACPI_PM1A_CNT, 2), 5u << 10 | 1);
	/* SLP_TYP without SLP_EN: nothing. */
	dev_pio_out(bus, PC_ACPI_PM1A_CNT, 2, PC_ACPI_S5_TYP << 10);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_RUNNING);
	/* Linux's acpi_enter_sleep_state(5): SLP_TYP, then SLP_EN too. */
	dev_pio_out(bus, PC_ACPI_PM1A_CNT, 2, PC_ACPI_S5_TYP << 10 | 0x2000);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_STOP_POWEROFF);
}
END_TEST

/* ---- Resets ---- */

START_TEST(port92_reset)
{
	ck_assert_uint_eq(dev_pio_in(bus, PC_PORT92, 1), 0x02);
	dev_pio_out(bus, PC_PORT92, 1, 0x00);
	ck_assert_uint_eq(dev_pio_in(bus, PC_PORT92, 1), 0x00);
	dev_pio_out(bus, PC_PORT92, 1, 0x02);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_RUNNING);
	dev_pio_out(bus, PC_PORT92, 1, 0x03);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_STOP_RESET);
	ck_assert_uint_eq(dev_pio_in(bus, PC_PORT92, 1), 0x03);
}
END_TEST

START_TEST(port92_reset_needs_rising_bit0)
{
	/* A write that keeps bit 0 at 1 is no new reset: only 0 -> 1. */
	struct dev_stop stop = { 0 };
	struct dev_port92 p92;

	dev_port92_init(&p92, &stop);
	dev_port92_ops.write(&p92, PC_PORT92, 1, 0x01);
	ck_assert_int_eq(stop.reason, DEV_STOP_RESET);
	stop.reason = DEV_RUNNING;
	dev_port92_ops.write(&p92, PC_PORT92, 1, 0x03);
	ck_assert_int_eq(stop.reason, DEV_RUNNING);
}
END_TEST

START_TEST(cf9_reset_and_config_address)
{
	/* CONFIG_ADDRESS still works around the reset register. */
	dev_pio_out(bus, 0xcf8, 4, 0x80000000);
	ck_assert_uint_eq(dev_pio_in(bus, 0xcf8, 4), 0x80000000);
	ck_assert_uint_eq(dev_pio_in(bus, 0xcfc, 4), 0x12378086);
	dev_pio_out(bus, 0xcf8, 4, 0x80000008);
	ck_assert_uint_eq(dev_pio_in(bus, 0xcfe, 2), 0x0600);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_RUNNING);
	/* Bit 1 alone only selects the reset type. */
	dev_pio_out(bus, PC_RESET_PORT, 1, 0x02);
	ck_assert_uint_eq(dev_pio_in(bus, PC_RESET_PORT, 1), 0x02);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_RUNNING);
	ck_assert_uint_eq(dev_pio_in(bus, 0xcf8, 4), 0x80000008);
	dev_pio_out(bus, PC_RESET_PORT, 1, PC_RESET_VALUE);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_STOP_RESET);
}
END_TEST

static Suite *hpet_suite(void)
{
	Suite *s = suite_create("hpet");
	TCase *tc = tcase_create("hpet");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hpet_registers);
	tcase_add_test(tc, hpet_main_counter);
	tcase_add_test(tc, hpet_one_shot_to_ioapic);
	tcase_add_test(tc, hpet_periodic_legacy);
	tcase_add_test(tc, hpet_level_status);
	tcase_add_test(tc, pm_timer_rate);
	tcase_add_test(tc, pm_status_and_sci);
	tcase_add_test(tc, pm_s5_poweroff);
	tcase_add_test(tc, port92_reset);
	tcase_add_test(tc, port92_reset_needs_rising_bit0);
	tcase_add_test(tc, cf9_reset_and_config_address);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hpet_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
