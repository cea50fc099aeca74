/* Unit tests for devices/lapic.c, ioapic.c and isa_irq.c: registers, priorities, timers, routing. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "devices_internal.h"

/* ---- A clock (and TSC) that move only when the test says so. ---- */

struct fake_clock {
	uint64_t mono, real;
};

static struct fake_clock fake;

static uint64_t fake_mono(void *ctx) { return ((struct fake_clock *)ctx)->mono; }
static uint64_t fake_real(void *ctx) { return ((struct fake_clock *)ctx)->real; }
/* A 3 GHz TSC that started with the monotonic clock. */
static uint64_t fake_tsc(void *ctx) { return ((struct fake_clock *)ctx)->mono * 3; }

#define START_NS 7000000001ull

static const struct dev_clock clock_cfg = {
	.monotonic_ns = fake_mono, .realtime_ns = fake_real, .tsc = fake_tsc,
	.tsc_hz = 3000000000ull, .ctx = &fake,
};

/* ---- Fixture 1: the controllers alone, lines driven by hand. ---- */

static struct dev_pic pic;
static struct dev_lapic lapic;
static struct dev_ioapic ioapic;
static struct dev_isa_irqs irqs;

static void parts_setup(void)
{
	fake.mono = START_NS;
	dev_pic_init(&pic);
	dev_lapic_init(&lapic, &clock_cfg, &ioapic);
	dev_ioapic_init(&ioapic, &lapic, &pic);
	irqs = (struct dev_isa_irqs){ .pic = &pic, .ioapic = &ioapic };
}

static uint32_t apic_rd(uint32_t reg) { return dev_lapic_ops.read(&lapic, reg, 4); }
static void apic_wr(uint32_t reg, uint32_t v) { dev_lapic_ops.write(&lapic, reg, 4, v); }

static uint32_t io_rd(uint32_t reg)
{
	dev_ioapic_ops.write(&ioapic, 0x00, 4, reg);
	return dev_ioapic_ops.read(&ioapic, 0x10, 4);
}

static void io_wr(uint32_t reg, uint32_t v)
{
	dev_ioapic_ops.write(&ioapic, 0x00, 4, reg);
	dev_ioapic_ops.write(&ioapic, 0x10, 4, v);
}

/* Program redirection entry `pin` (destination APIC 0, physical). */
static void io_route(unsigned pin, uint32_t low)
{
	io_wr(0x11 + 2 * pin, 0);
	io_wr(0x10 + 2 * pin, low);
}

static bool vec_in(uint32_t base, unsigned v)
{
	return apic_rd(base + (v >> 5) * 0x10) & (1u << (v & 31));
}

static bool in_irr(unsigned v) { return vec_in(0x200, v); }
static bool in_isr(unsigned v) { return vec_in(0x100, v); }
static bool in_tmr(unsigned v) { return vec_in(0x180, v); }

static void sw_enable(void) { apic_wr(0xf0, 0x1ff); }
static void self_ipi(uint8_t v) { apic_wr(0x300, 0x40000u | v); }

/* ESR as the next read shows it: a write latches the errors first. */
static uint32_t esr(void)
{
	apic_wr(0x280, 0);
	return apic_rd(0x280);
}

START_TEST(lapic_reset_values)
{
	static const uint32_t lvts[6] = {
		0x10000, 0x10000, 0x10000, 0x700, 0x10000, 0x10000,
	};

	ck_assert_uint_eq(apic_rd(0x20), PC_LAPIC_ID << 24);
	ck_assert_uint_eq(apic_rd(0x30), 0x00050014);
	ck_assert_uint_eq(apic_rd(0x80), 0);
	ck_assert_uint_eq(apic_rd(0xa0), 0);
	ck_assert_uint_eq(apic_rd(0xd0), 0);
	ck_assert_uint_eq(apic_rd(0xe0), 0xffffffff);
	ck_assert_uint_eq(apic_rd(0xf0), 0xff);
	for (unsigned i = 0; i < 8; i++) {
		ck_assert_uint_eq(apic_rd(0x100 + i * 0x10), 0);
		ck_assert_uint_eq(apic_rd(0x180 + i * 0x10), 0);
		ck_assert_uint_eq(apic_rd(0x200 + i * 0x10), 0);
	}
	for (unsigned i = 0; i < 6; i++)
		ck_assert_uint_eq(apic_rd(0x320 + i * 0x10), lvts[i]);
	ck_assert_uint_eq(apic_rd(0x380), 0);
	ck_assert_uint_eq(apic_rd(0x390), 0);
	ck_assert_uint_eq(apic_rd(0x3e0), 0);
	ck_assert_uint_eq(lapic.base_msr, PC_LAPIC_BASE | 0x900u);
	ck_assert_uint_eq(esr(), 0);
	/* QEMU: not 32 bits wide reads 0, writes do nothing. */
	ck_assert_uint_eq(dev_lapic_ops.read(&lapic, 0x30, 2), 0);
	dev_lapic_ops.write(&lapic, 0x80, 1, 0x20);
	ck_assert_uint_eq(apic_rd(0x80), 0);
	/* No register at 0x2f0 (no CMCI): 0 and "illegal register address". */
	ck_assert_uint_eq(apic_rd(0x2f0), 0);
	ck_assert_uint_eq(esr(), 0x80);
	ck_assert_uint_eq(esr(), 0);
	/* The reset state passes the 8259 through LINT0. */
	ck_assert(dev_lapic_accepts_pic(&lapic));
	ck_assert_int_eq(dev_lapic_pending(&lapic), -1);
}
END_TEST

START_TEST(lapic_tpr_ppr)
{
	sw_enable();
	apic_wr(0x80, 0x35);
	ck_assert_uint_eq(apic_rd(0x80), 0x35);
	ck_assert_uint_eq(apic_rd(0xa0), 0x35);
	/* Class 3 is not above the TPR's class 3; class 4 is. */
	self_ipi(0x3f);
	ck_assert_int_eq(dev_lapic_pending(&lapic), -1);
	self_ipi(0x41);
	ck_assert_int_eq(dev_lapic_pending(&lapic), 0x41);
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0x41);
	/* In service: PPR is the ISR's class, sub-class 0. */
	ck_assert_uint_eq(apic_rd(0xa0), 0x40);
	apic_wr(0x80, 0x55);
	ck_assert_uint_eq(apic_rd(0xa0), 0x55);
	apic_wr(0x80, 0x00);
	ck_assert_uint_eq(apic_rd(0xa0), 0x40);
	apic_wr(0xb0, 0);
	ck_assert_uint_eq(apic_rd(0xa0), 0x00);
	/* With the TPR at 0 the class-3 request goes through. */
	ck_assert_int_eq(dev_lapic_pending(&lapic), 0x3f);
	/* Nothing deliverable: INTA answers the spurious vector. */
	apic_wr(0x80, 0xf0);
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0xff);
	ck_assert(in_irr(0x3f));
}
END_TEST

START_TEST(lapic_irr_isr_eoi_order)
{
	sw_enable();
	self_ipi(0x30);
	self_ipi(0x80);
	self_ipi(0x45);
	ck_assert(in_irr(0x30) && in_irr(0x80) && in_irr(0x45));
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0x80);
	ck_assert(!in_irr(0x80) && in_isr(0x80));
	/* Lower classes wait for the EOI. */
	ck_assert_int_eq(dev_lapic_pending(&lapic), -1);
	self_ipi(0x90);
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0x90);
	/* EOI ends the highest in service: 0x90, not 0x80. */
	apic_wr(0xb0, 0);
	ck_assert(!in_isr(0x90) && in_isr(0x80));
	apic_wr(0xb0, 0);
	ck_assert(!in_isr(0x80));
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0x45);
	/* Same class as the one in service: blocked. */
	self_ipi(0x4f);
	ck_assert_int_eq(dev_lapic_pending(&lapic), -1);
	apic_wr(0xb0, 0);
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0x4f);
	apic_wr(0xb0, 0);
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0x30);
	apic_wr(0xb0, 0);
	ck_assert_int_eq(dev_lapic_pending(&lapic), -1);
	/* An EOI with nothing in service is harmless. */
	apic_wr(0xb0, 0);
	ck_assert_uint_eq(apic_rd(0x100 + 0x10), 0);
}
END_TEST

/* Take the timer's vector if it is pending; EOI it. */
static bool took(uint8_t vector)
{
	dev_lapic_update(&lapic);
	if (dev_lapic_pending(&lapic) != vector)
		return false;
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), vector);
	apic_wr(0xb0, 0);
	return true;
}

START_TEST(lapic_timer_one_shot)
{
	uint64_t t0;

	sw_enable();
	apic_wr(0x320, 0x40);        /* one-shot, vector 0x40 */
	apic_wr(0x3e0, 0x0);         /* divide by 2 */
	t0 = fake.mono;
	apic_wr(0x380, 1000);
	ck_assert_uint_eq(apic_rd(0x390), 1000);
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), t0 + 2000);
	fake.mono = t0 + 1;
	ck_assert_uint_eq(apic_rd(0x390), 1000);
	fake.mono = t0 + 2;
	ck_assert_uint_eq(apic_rd(0x390), 999);
	fake.mono = t0 + 1999;
	ck_assert_uint_eq(apic_rd(0x390), 1);
	ck_assert(!took(0x40));
	fake.mono = t0 + 2000;
	ck_assert_uint_eq(apic_rd(0x390), 0);
	ck_assert(took(0x40));
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), UINT64_MAX);
	fake.mono = t0 + 100000;
	ck_assert(!took(0x40));
	ck_assert_uint_eq(apic_rd(0x390), 0);
	ck_assert_uint_eq(apic_rd(0x380), 1000);
	/* A new count restarts; 0 stops. */
	t0 = fake.mono;
	apic_wr(0x380, 10);
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), t0 + 20);
	apic_wr(0x380, 0);
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), UINT64_MAX);
	fake.mono += 100;
	ck_assert(!took(0x40));
}
END_TEST

START_TEST(lapic_timer_periodic)
{
	uint64_t t0;

	sw_enable();
	apic_wr(0x320, 0x20041);     /* periodic, vector 0x41 */
	apic_wr(0x3e0, 0x3);         /* divide by 16 */
	t0 = fake.mono;
	apic_wr(0x380, 100);         /* 1600 ns */
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), t0 + 1600);
	fake.mono = t0 + 16 * 30;
	ck_assert_uint_eq(apic_rd(0x390), 70);
	fake.mono = t0 + 1599;
	ck_assert(!took(0x41));
	fake.mono = t0 + 1600;
	ck_assert_uint_eq(apic_rd(0x390), 100);
	ck_assert(took(0x41));
	ck_assert(!took(0x41));
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), t0 + 3200);
	fake.mono = t0 + 3200 + 16 * 25;
	ck_assert_uint_eq(apic_rd(0x390), 75);
	ck_assert(took(0x41));
	/* Periods nobody looked at give one interrupt, not a burst. */
	fake.mono = t0 + 1600 * 10 + 5;
	ck_assert(took(0x41));
	ck_assert(!took(0x41));
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), t0 + 1600 * 11);
	/* Masked: the count runs, no interrupt, no wake-up. */
	apic_wr(0x320, 0x30041);
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), UINT64_MAX);
	fake.mono = t0 + 1600 * 12;
	ck_assert(!took(0x41));
	ck_assert_uint_eq(apic_rd(0x390), 100);
}
END_TEST

START_TEST(lapic_timer_divide_config)
{
	/* Divide configuration value -> divisor (bits 3, 1:0). */
	static const struct { uint32_t conf, div; } table[] = {
		{ 0x0, 2 }, { 0x1, 4 }, { 0x2, 8 }, { 0x3, 16 },
		{ 0x8, 32 }, { 0x9, 64 }, { 0xa, 128 }, { 0xb, 1 },
	};

	sw_enable();
	apic_wr(0x320, 0x40);
	for (unsigned i = 0; i < 8; i++) {
		uint64_t t0;

		apic_wr(0x3e0, table[i].conf | 0xf4);  /* other bits ignored */
		ck_assert_uint_eq(apic_rd(0x3e0), table[i].conf);
		t0 = fake.mono;
		apic_wr(0x380, 50000);
		fake.mono = t0 + table[i].div * 123 + table[i].div - 1;
		ck_assert_uint_eq(apic_rd(0x390), 50000 - 123);
		ck_assert_uint_eq(dev_lapic_next_event(&lapic),
				  t0 + 50000ull * table[i].div);
	}
}
END_TEST

START_TEST(lapic_timer_tsc_deadline)
{
	uint64_t tsc;

	sw_enable();
	/* Not in TSC-deadline mode: the MSR reads 0 and ignores writes. */
	dev_lapic_set_tsc_deadline(&lapic, 12345);
	ck_assert_uint_eq(dev_lapic_tsc_deadline(&lapic), 0);
	apic_wr(0x320, 0x40042);     /* TSC-deadline, vector 0x42 */
	ck_assert_uint_eq(apic_rd(0x320), 0x40042);
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), UINT64_MAX);
	/* The initial count is ignored in this mode; the count reads 0. */
	apic_wr(0x380, 100);
	ck_assert_uint_eq(apic_rd(0x380), 0);
	ck_assert_uint_eq(apic_rd(0x390), 0);
	tsc = fake.mono * 3;
	dev_lapic_set_tsc_deadline(&lapic, tsc + 3000);
	ck_assert_uint_eq(dev_lapic_tsc_deadline(&lapic), tsc + 3000);
	/* 3000 ticks of a 3 GHz TSC are 1000 ns. */
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), fake.mono + 1000);
	fake.mono += 999;
	ck_assert(!took(0x42));
	fake.mono += 1;
	ck_assert(took(0x42));
	/* Fired: the deadline MSR is cleared, nothing more comes. */
	ck_assert_uint_eq(dev_lapic_tsc_deadline(&lapic), 0);
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), UINT64_MAX);
	/* A deadline already past fires at once; 0 disarms. */
	dev_lapic_set_tsc_deadline(&lapic, 1);
	ck_assert(took(0x42));
	dev_lapic_set_tsc_deadline(&lapic, fake.mono * 3 + 30);
	dev_lapic_set_tsc_deadline(&lapic, 0);
	fake.mono += 100;
	ck_assert(!took(0x42));
	/* Leaving the mode disarms. */
	dev_lapic_set_tsc_deadline(&lapic, fake.mono * 3 + 30);
	apic_wr(0x320, 0x42);
	fake.mono += 100;
	ck_assert(!took(0x42));
	ck_assert_uint_eq(dev_lapic_tsc_deadline(&lapic), 0);
}
END_TEST

/* With tsc_hz unknown a 1 GHz TSC is assumed for the wake-up time only. */
START_TEST(lapic_tsc_deadline_unknown_rate)
{
	static const struct dev_clock no_rate = {
		.monotonic_ns = fake_mono, .tsc = fake_tsc, .ctx = &fake,
	};

	lapic.clock = &no_rate;
	sw_enable();
	apic_wr(0x320, 0x40042);
	dev_lapic_set_tsc_deadline(&lapic, fake.mono * 3 + 3000);
	ck_assert_uint_eq(dev_lapic_next_event(&lapic), fake.mono + 3000);
	fake.mono += 1000;
	ck_assert(took(0x42));
}
END_TEST

START_TEST(lapic_self_ipi_and_icr)
{
	sw_enable();
	/* Shorthand self. */
	apic_wr(0x300, 0x40061);
	ck_assert(in_irr(0x61));
	ck_assert_uint_eq(apic_rd(0x300), 0x40061); /* delivery status idle */
	/* Physical destination = our ID; all including self. */
	apic_wr(0x310, PC_LAPIC_ID << 24);
	ck_assert_uint_eq(apic_rd(0x310), PC_LAPIC_ID << 24);
	apic_wr(0x300, 0x62);
	ck_assert(in_irr(0x62));
	apic_wr(0x300, 0x80063);
	ck_assert(in_irr(0x63));
	/* Others: absent CPUs, and INIT/SIPI/NMI go nowhere. */
	apic_wr(0x300, 0xc0064);
	apic_wr(0x310, 5u << 24);
	apic_wr(0x300, 0x65);
	apic_wr(0x300, 0x40500);        /* INIT to self */
	apic_wr(0x300, 0xc4600 | 0x10); /* SIPI to all others */
	apic_wr(0x300, 0x40466);        /* NMI to self */
	ck_assert(!in_irr(0x64) && !in_irr(0x65) && !in_irr(0x66));
	ck_assert(!in_irr(0x10));
	/* Logical flat destination matches LDR bits. */
	apic_wr(0xd0, 0x02000000);
	apic_wr(0x310, 0x06000000);
	apic_wr(0x300, 0x867);
	ck_assert(in_irr(0x67));
	apic_wr(0x310, 0x01000000);
	apic_wr(0x300, 0x868);
	ck_assert(!in_irr(0x68));
	ck_assert_uint_eq(esr(), 0);
	ck_assert(!in_tmr(0x61));
}
END_TEST

START_TEST(lapic_illegal_vectors)
{
	sw_enable();
	apic_wr(0x370, 0xfe);              /* LVT error, vector 0xfe */
	/* Sending vector 5: "send illegal vector", nothing received. */
	self_ipi(0x05);
	ck_assert(!in_irr(0x05));
	ck_assert(in_irr(0xfe));
	ck_assert_uint_eq(esr(), 0x20);
	/* Receiving vector 3 (an I/O APIC entry): "receive illegal vector". */
	ck_assert(!dev_lapic_accept(&lapic, 3, false));
	ck_assert_uint_eq(apic_rd(0x280), 0x20); /* not latched yet */
	ck_assert_uint_eq(esr(), 0x40);
	/* A timer with an illegal vector fires into the ESR too. */
	apic_wr(0x320, 0x0f);
	apic_wr(0x3e0, 0xb);
	apic_wr(0x380, 10);
	fake.mono += 10;
	dev_lapic_update(&lapic);
	ck_assert(!in_irr(0x0f));
	ck_assert_uint_eq(esr(), 0x40);
}
END_TEST

START_TEST(lapic_software_disable)
{
	/* Disabled at reset: LVT writes keep the mask. */
	apic_wr(0x320, 0x40);
	ck_assert_uint_eq(apic_rd(0x320), 0x10040);
	apic_wr(0x370, 0xfe);
	ck_assert_uint_eq(apic_rd(0x370), 0x100fe);
	/* Nor does it take interrupts. */
	self_ipi(0x70);
	ck_assert(!in_irr(0x70));
	sw_enable();
	apic_wr(0x320, 0x40);
	ck_assert_uint_eq(apic_rd(0x320), 0x40);
	apic_wr(0x350, 0x700);
	ck_assert_uint_eq(apic_rd(0x350), 0x700);
	/* Read-only and reserved LVT bits stay clear. */
	apic_wr(0x360, 0xfffff7ff);
	ck_assert_uint_eq(apic_rd(0x360), 0x1a7ff);
	/* Disabling masks every LVT. */
	apic_wr(0xf0, 0xff);
	for (unsigned i = 0; i < 6; i++)
		ck_assert_uint_ne(apic_rd(0x320 + i * 0x10) & 0x10000, 0);
	ck_assert(!dev_lapic_accepts_pic(&lapic));
}
END_TEST

START_TEST(ioapic_registers)
{
	ck_assert_uint_eq(io_rd(0x00), PC_IOAPIC_ID << 24);
	ck_assert_uint_eq(io_rd(0x01), 0x00170011);
	ck_assert_uint_eq(io_rd(0x02), PC_IOAPIC_ID << 24);
	for (unsigned pin = 0; pin < 24; pin++) {
		ck_assert_uint_eq(io_rd(0x10 + 2 * pin), 0x10000);
		ck_assert_uint_eq(io_rd(0x11 + 2 * pin), 0);
	}
	ck_assert_uint_eq(io_rd(0x40), 0xffffffff);
	io_wr(0x00, 0x0f000000);
	ck_assert_uint_eq(io_rd(0x00), 0x0f000000);
	io_wr(0x01, 0);
	ck_assert_uint_eq(io_rd(0x01), 0x00170011);
	/* Remote IRR and delivery status are read-only; reserved bits stay 0. */
	io_wr(0x10 + 2 * 5, 0xffffffff);
	ck_assert_uint_eq(io_rd(0x10 + 2 * 5), 0x1afff);
	io_wr(0x11 + 2 * 5, 0xffffffff);
	ck_assert_uint_eq(io_rd(0x11 + 2 * 5), 0xff000000);
	ck_assert_uint_eq(io_rd(0x10 + 2 * 5), 0x1afff);
	/* IOREGSEL reads back; IOWIN wants 32-bit accesses; the window
	 * repeats every 256 bytes. */
	dev_ioapic_ops.write(&ioapic, 0x00, 4, 0x01);
	ck_assert_uint_eq(dev_ioapic_ops.read(&ioapic, 0x00, 4), 0x01);
	ck_assert_uint_eq(dev_ioapic_ops.read(&ioapic, 0x10, 1), 0);
	ck_assert_uint_eq(dev_ioapic_ops.read(&ioapic, 0x110, 4), 0x00170011);
}
END_TEST

START_TEST(ioapic_edge)
{
	sw_enable();
	io_route(4, 0x34);
	dev_isa_set_irq(&irqs, 4, true);
	ck_assert(in_irr(0x34) && !in_tmr(0x34));
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0x34);
	/* Held high: no new edge. */
	dev_isa_set_irq(&irqs, 4, true);
	ck_assert(!in_irr(0x34));
	apic_wr(0xb0, 0);
	dev_isa_set_irq(&irqs, 4, false);
	dev_isa_set_irq(&irqs, 4, true);
	ck_assert(in_irr(0x34));
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0x34);
	apic_wr(0xb0, 0);
	dev_isa_set_irq(&irqs, 4, false);
	/* A masked edge pin drops the edge, even once unmasked. */
	io_route(4, 0x10034);
	dev_isa_set_irq(&irqs, 4, true);
	io_route(4, 0x34);
	ck_assert(!in_irr(0x34));
	/* The same vector for a pin in logical mode that misses us. */
	io_wr(0x11 + 2 * 6, 0x04000000);
	io_wr(0x10 + 2 * 6, 0x836);
	dev_isa_set_irq(&irqs, 6, true);
	ck_assert(!in_irr(0x36));
}
END_TEST

START_TEST(ioapic_level_remote_irr)
{
	sw_enable();
	io_route(9, 0xa039);              /* level, active low (stored only) */
	dev_isa_set_irq(&irqs, 9, true);
	ck_assert(in_irr(0x39) && in_tmr(0x39));
	ck_assert_uint_ne(io_rd(0x10 + 2 * 9) & 0x4000, 0);
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0x39);
	/* Still asserted, but Remote IRR holds it back until the EOI. */
	dev_isa_set_irq(&irqs, 9, true);
	ck_assert(!in_irr(0x39));
	apic_wr(0xb0, 0);
	ck_assert(in_irr(0x39));
	ck_assert_uint_ne(io_rd(0x10 + 2 * 9) & 0x4000, 0);
	ck_assert_uint_eq(dev_lapic_acknowledge(&lapic), 0x39);
	/* The device lets go before the EOI: nothing more. */
	dev_isa_set_irq(&irqs, 9, false);
	apic_wr(0xb0, 0);
	ck_assert_uint_eq(io_rd(0x10 + 2 * 9) & 0x4000, 0);
	ck_assert(!in_irr(0x39));
	/* A line high while masked is delivered on unmasking. */
	io_route(9, 0x1a039);
	dev_isa_set_irq(&irqs, 9, true);
	ck_assert(!in_irr(0x39));
	io_route(9, 0xa039);
	ck_assert(in_irr(0x39));
	/* Writing Remote IRR does not clear it; making the pin edge does. */
	io_wr(0x10 + 2 * 9, 0xa039);
	ck_assert_uint_ne(io_rd(0x10 + 2 * 9) & 0x4000, 0);
	io_wr(0x10 + 2 * 9, 0x2039);
	ck_assert_uint_eq(io_rd(0x10 + 2 * 9) & 0x4000, 0);
}
END_TEST

START_TEST(isa_fan_out)
{
	sw_enable();
	io_route(2, 0x30);
	io_route(4, 0x34);
	io_route(0, 0x3f);
	/* IRQ 4: the master 8259's IR4 and I/O APIC pin 4. */
	dev_isa_set_irq(&irqs, 4, true);
	ck_assert_uint_eq(pic.chip[0].irr & 0x10, 0x10);
	ck_assert_uint_eq(ioapic.lines & (1u << 4), 1u << 4);
	ck_assert(in_irr(0x34));
	/* IRQ 0 lands on pin 2, never pin 0. */
	dev_isa_set_irq(&irqs, 0, true);
	ck_assert_uint_eq(pic.chip[0].irr & 0x01, 0x01);
	ck_assert(in_irr(0x30) && !in_irr(0x3f));
	ck_assert(dev_isa_irq_busy(&irqs, 0));
	/* IRQ 8 on the slave and pin 8. */
	io_route(8, 0x38);
	dev_isa_set_irq(&irqs, 8, true);
	ck_assert_uint_eq(pic.chip[1].irr & 0x01, 0x01);
	ck_assert(in_irr(0x38));
}
END_TEST

START_TEST(isa_legacy_replacement)
{
	sw_enable();
	io_route(2, 0x30);
	/* The PIT's IRQ 0 is cut off while the HPET owns the line. */
	dev_isa_set_legacy_replacement(&irqs, true);
	dev_isa_set_irq(&irqs, 0, true);
	dev_isa_set_irq(&irqs, 0, false);
	ck_assert_uint_eq(pic.chip[0].irr & 1, 0);
	ck_assert(!in_irr(0x30));
	dev_isa_set_hpet_irq(&irqs, 0, true);
	ck_assert_uint_eq(pic.chip[0].irr & 1, 1);
	ck_assert(in_irr(0x30));
	/* The RTC raises IRQ 8 while cut off: the line stays low. */
	dev_isa_set_irq(&irqs, 8, true);
	ck_assert_uint_eq(ioapic.lines & (1u << 8), 0);
	ck_assert_uint_eq(pic.chip[1].lines & 1, 0);
	/* Given back, each line takes its device's level: the PIT's low
	 * (the HPET's high is forgotten), the RTC's high. */
	dev_isa_set_legacy_replacement(&irqs, false);
	ck_assert_uint_eq(ioapic.lines & (1u << 2), 0);
	ck_assert_uint_eq(ioapic.lines & (1u << 8), 1u << 8);
	ck_assert_uint_eq(pic.chip[1].lines & 1, 1);
}
END_TEST

/* ---- Fixture 2: the whole platform, through MMIO, MSRs and ports. ---- */

static struct dev_platform *plat;
static struct dev_bus *bus;

static void plat_setup(void)
{
	struct dev_platform_config cfg = { .clock = clock_cfg };

	fake.mono = START_NS;
	plat = dev_platform_create(&cfg);
	ck_assert_ptr_nonnull(plat);
	bus = dev_platform_bus(plat);
}

static void plat_teardown(void)
{
	dev_platform_destroy(plat);
	plat = NULL;
}

static uint32_t mmio_rd(uint64_t phys)
{
	uint32_t v = 0;

	ck_assert(dev_mmio_read(plat, phys, 4, &v));
	return v;
}

static void mmio_wr(uint64_t phys, uint32_t v)
{
	ck_assert(dev_mmio_write(plat, phys, 4, v));
}

static void p_io_route(unsigned pin, uint32_t low)
{
	mmio_wr(PC_IOAPIC_BASE, 0x11 + 2 * pin);
	mmio_wr(PC_IOAPIC_BASE + 0x10, 0);
	mmio_wr(PC_IOAPIC_BASE, 0x10 + 2 * pin);
	mmio_wr(PC_IOAPIC_BASE + 0x10, low);
}

/* Run the clock to the PIT's next IRQ 0 edge (SeaBIOS's 18.2 Hz). */
static void to_next_pit_edge(void)
{
	fake.mono = dev_platform_next_event(plat);
	dev_platform_update(plat);
}

START_TEST(platform_mmio_map)
{
	uint32_t v;

	ck_assert_uint_eq(mmio_rd(PC_LAPIC_BASE + 0x30), 0x00050014);
	ck_assert_uint_eq(mmio_rd(PC_IOAPIC_BASE + 0x00), 0);
	mmio_wr(PC_IOAPIC_BASE, 1);
	ck_assert_uint_eq(mmio_rd(PC_IOAPIC_BASE + 0x10), 0x00170011);
	ck_assert_uint_eq(mmio_rd(PC_HPET_BASE), 0x8086a201);
	/* Open bus: below, between and above the devices. */
	ck_assert(!dev_mmio_read(plat, 0xfebff000, 4, &v));
	ck_assert(!dev_mmio_read(plat, PC_HPET_BASE + 0x400, 4, &v));
	ck_assert(!dev_mmio_write(plat, 0xfef00000, 4, 1));
	ck_assert(!dev_mmio_read(plat, 0x1fee00000ull, 4, &v));
	/* A byte of the LAPIC is claimed, and reads 0 (QEMU). */
	v = 0x55;
	ck_assert(dev_mmio_read(plat, PC_LAPIC_BASE + 0x30, 1, &v));
	ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(platform_apic_base_msr)
{
	uint32_t v;

	ck_assert_uint_eq(dev_platform_apic_base(plat), 0xfee00900);
	/* Reserved bits: bits 7:0, 9, x2APIC, above 32-bit physical. */
	ck_assert(!dev_platform_set_apic_base(plat, 0xfee00901));
	ck_assert(!dev_platform_set_apic_base(plat, 0xfee00b00));
	ck_assert(!dev_platform_set_apic_base(plat, 0xfee00d00));
	ck_assert(!dev_platform_set_apic_base(plat, 0x1fee00900ull));
	ck_assert_uint_eq(dev_platform_apic_base(plat), 0xfee00900);
	/* Relocation; the BSP flag cannot be cleared. */
	mmio_wr(PC_LAPIC_BASE + 0x80, 0x20);
	ck_assert(dev_platform_set_apic_base(plat, 0xfe000800));
	ck_assert_uint_eq(dev_platform_apic_base(plat), 0xfe000900);
	ck_assert_uint_eq(mmio_rd(0xfe000080), 0x20);
	ck_assert(!dev_mmio_read(plat, PC_LAPIC_BASE + 0x80, 4, &v));
	/* Global disable: the page is gone, the state is lost. */
	ck_assert(dev_platform_set_apic_base(plat, 0xfee00000));
	ck_assert_uint_eq(dev_platform_apic_base(plat), 0xfee00100);
	ck_assert(!dev_mmio_read(plat, PC_LAPIC_BASE + 0x80, 4, &v));
	ck_assert(dev_platform_set_apic_base(plat, 0xfee00800));
	ck_assert_uint_eq(mmio_rd(PC_LAPIC_BASE + 0x80), 0);
	ck_assert_uint_eq(mmio_rd(PC_LAPIC_BASE + 0x350), 0x700);
	ck_assert_uint_eq(mmio_rd(PC_LAPIC_BASE + 0xf0), 0xff);
}
END_TEST

START_TEST(platform_extint_path)
{
	/* Reset: the 8259 reaches the CPU through LINT0 (ExtINT). */
	to_next_pit_edge();
	ck_assert(dev_platform_intr(plat));
	ck_assert_uint_eq(dev_platform_inta(plat), 0x08);
	dev_pio_out(bus, 0x20, 1, 0x20);
	/* LINT0 masked: the 8259's INTR goes nowhere. */
	mmio_wr(PC_LAPIC_BASE + 0xf0, 0x1ff);
	mmio_wr(PC_LAPIC_BASE + 0x350, 0x10700);
	to_next_pit_edge();
	ck_assert(!dev_platform_intr(plat));
	/* APIC globally disabled: the 8259 goes straight to the CPU. */
	ck_assert(dev_platform_set_apic_base(plat, 0xfee00000));
	ck_assert(dev_platform_intr(plat));
	ck_assert_uint_eq(dev_platform_inta(plat), 0x08);
	dev_pio_out(bus, 0x20, 1, 0x20);
	ck_assert(!dev_platform_intr(plat));
}
END_TEST

START_TEST(platform_ioapic_mode)
{
	/* Linux with the I/O APIC: 8259 masked, LINT0 masked, pin 2. */
	dev_pio_out(bus, 0x21, 1, 0xff);
	dev_pio_out(bus, 0xa1, 1, 0xff);
	mmio_wr(PC_LAPIC_BASE + 0xf0, 0x1ff);
	mmio_wr(PC_LAPIC_BASE + 0x350, 0x10700);
	p_io_route(2, 0x30);
	to_next_pit_edge();
	ck_assert(dev_platform_intr(plat));
	ck_assert_uint_eq(dev_platform_inta(plat), 0x30);
	ck_assert(!dev_platform_intr(plat));
	mmio_wr(PC_LAPIC_BASE + 0xb0, 0);
	/* COM1's THR-empty interrupt on pin 4, level as the line is. */
	p_io_route(4, 0x34);
	dev_pio_out(bus, 0x3f9, 1, 0x02);
	ck_assert(dev_platform_intr(plat));
	ck_assert_uint_eq(dev_platform_inta(plat), 0x34);
	mmio_wr(PC_LAPIC_BASE + 0xb0, 0);
	/* The LAPIC timer through the platform's update and next event. */
	mmio_wr(PC_LAPIC_BASE + 0x3e0, 0xb);
	mmio_wr(PC_LAPIC_BASE + 0x320, 0x45);
	mmio_wr(PC_LAPIC_BASE + 0x380, 100);
	ck_assert_uint_eq(dev_platform_next_event(plat), fake.mono + 100);
	fake.mono += 100;
	dev_platform_update(plat);
	ck_assert_uint_eq(dev_platform_inta(plat), 0x45);
	/* TSC deadline through the MSR hooks. */
	mmio_wr(PC_LAPIC_BASE + 0x320, 0x40046);
	dev_platform_set_tsc_deadline(plat, fake.mono * 3 + 300);
	ck_assert_uint_eq(dev_platform_tsc_deadline(plat), fake.mono * 3 + 300);
	ck_assert_uint_eq(dev_platform_next_event(plat), fake.mono + 100);
}
END_TEST

static Suite *apic_suite(void)
{
	Suite *s = suite_create("apic");
	TCase *parts = tcase_create("parts");
	TCase *platform = tcase_create("platform");

	tcase_add_checked_fixture(parts, parts_setup, NULL);
	tcase_add_test(parts, lapic_reset_values);
	tcase_add_test(parts, lapic_tpr_ppr);
	tcase_add_test(parts, lapic_irr_isr_eoi_order);
	tcase_add_test(parts, lapic_timer_one_shot);
	tcase_add_test(parts, lapic_timer_periodic);
	tcase_add_test(parts, lapic_timer_divide_config);
	tcase_add_test(parts, lapic_timer_tsc_deadline);
	tcase_add_test(parts, lapic_tsc_deadline_unknown_rate);
	tcase_add_test(parts, lapic_self_ipi_and_icr);
	tcase_add_test(parts, lapic_illegal_vectors);
	tcase_add_test(parts, lapic_software_disable);
	tcase_add_test(parts, ioapic_registers);
	tcase_add_test(parts, ioapic_edge);
	tcase_add_test(parts, ioapic_level_remote_irr);
	tcase_add_test(parts, isa_fan_out);
	tcase_add_test(parts, isa_legacy_replacement);
	suite_add_tcase(s, parts);

	tcase_add_checked_fixture(platform, plat_setup, plat_teardown);
	tcase_add_test(platform, platform_mmio_map);
	tcase_add_test(platform, platform_apic_base_msr);
	tcase_add_test(platform, platform_extint_path);
	tcase_add_test(platform, platform_ioapic_mode);
	suite_add_tcase(s, platform);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(apic_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
