/* Unit tests for devices/pic8259.c: the 8259A pair, driven through its ports and IRQ lines. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "devices_internal.h"

/* A bus with just the PIC pair and the ELCR, so IRQ lines can be driven
 * directly through dev_pic_set_irq. */
static struct dev_pic pic;
static struct dev_bus *bus;

static void pic_setup(void)
{
	bus = dev_bus_create();
	ck_assert_ptr_nonnull(bus);
	dev_pic_init(&pic);
	ck_assert_int_eq(dev_bus_register(bus, 0x20, 2, &dev_pic_ops, &pic), 0);
	ck_assert_int_eq(dev_bus_register(bus, 0xa0, 2, &dev_pic_ops, &pic), 0);
	ck_assert_int_eq(dev_bus_register(bus, 0x4d0, 2, &dev_elcr_ops, &pic), 0);
}

static void pic_teardown(void)
{
	dev_bus_destroy(bus);
	bus = NULL;
}

static uint8_t inb(uint16_t port) { return (uint8_t)dev_pio_in(bus, port, 1); }
static void outb(uint16_t port, uint8_t v) { dev_pio_out(bus, port, 1, v); }

/* Linux's init_8259A sequence (auto_eoi 0 or 1): master at 0x30, slave at
 * 0x38, everything unmasked afterwards. */
static void init_pair(bool auto_eoi)
{
	outb(0x20, 0x11);              /* ICW1: edge, cascade, ICW4 */
	outb(0x21, 0x30);              /* ICW2 */
	outb(0x21, 0x04);              /* ICW3: slave on IR2 */
	outb(0x21, auto_eoi ? 0x03 : 0x01); /* ICW4: 8086, (auto-)EOI */
	outb(0xa0, 0x11);
	outb(0xa1, 0x38);
	outb(0xa1, 0x02);
	outb(0xa1, 0x01);
	outb(0x21, 0x00);
	outb(0xa1, 0x00);
}

static uint8_t read_irr(uint16_t base) { outb(base, 0x0a); return inb(base); }
static uint8_t read_isr(uint16_t base) { outb(base, 0x0b); return inb(base); }

/* Raise and lower a line: one rising edge. */
static void pulse(unsigned irq)
{
	dev_pic_set_irq(&pic, irq, true);
	dev_pic_set_irq(&pic, irq, false);
}

START_TEST(seabios_state)
{
	/* Values a QEMU 7.2 guest reads after SeaBIOS. */
	ck_assert_uint_eq(inb(0x21), 0xb8);
	ck_assert_uint_eq(inb(0xa1), 0x8e);
	ck_assert_uint_eq(read_irr(0x20), 0);
	ck_assert_uint_eq(read_isr(0x20), 0);
	ck_assert_uint_eq(inb(0x4d0), 0);
	ck_assert_uint_eq(inb(0x4d1), 0);
	ck_assert(!dev_pic_intr(&pic));
	pulse(0);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x08);
	outb(0x20, 0x20);
	pulse(8);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x70);
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	/* IRQ 3 is masked by the BIOS. */
	pulse(3);
	ck_assert_uint_eq(read_irr(0x20), 0x08);
	ck_assert(!dev_pic_intr(&pic));
	ck_assert_uint_eq(read_isr(0x20) | read_isr(0xa0), 0x00);
}
END_TEST

START_TEST(init_clears_and_reads_irr_by_default)
{
	pulse(5);
	outb(0x20, 0x0b);              /* select ISR... */
	outb(0x20, 0x11);              /* ...then ICW1 resets to IRR */
	ck_assert_uint_eq(inb(0x21), 0x00); /* ICW1 cleared IMR */
	outb(0x21, 0x30);
	outb(0x21, 0x04);
	outb(0x21, 0x01);
	ck_assert_uint_eq(inb(0x20), 0x00); /* IRR, cleared by ICW1 */
	pulse(6);
	ck_assert_uint_eq(inb(0x20), 0x40);
	/* OCW1 after the sequence is the IMR. */
	outb(0x21, 0x5a);
	ck_assert_uint_eq(inb(0x21), 0x5a);
	ck_assert(!dev_pic_intr(&pic));  /* IR6 masked */
}
END_TEST

START_TEST(priority_and_in_service_blocking)
{
	init_pair(false);
	pulse(3);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x33);
	ck_assert_uint_eq(read_isr(0x20), 0x08);
	ck_assert_uint_eq(read_irr(0x20), 0x00);
	/* Lower priority waits for IR3's EOI; higher priority does not. */
	pulse(5);
	ck_assert(!dev_pic_intr(&pic));
	pulse(1);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x31);
	ck_assert_uint_eq(read_isr(0x20), 0x0a);
	/* Non-specific EOI ends the highest level in service: IR1. */
	outb(0x20, 0x20);
	ck_assert_uint_eq(read_isr(0x20), 0x08);
	ck_assert(!dev_pic_intr(&pic));
	/* Specific EOI for IR3 lets IR5 in. */
	outb(0x20, 0x63);
	ck_assert_uint_eq(read_isr(0x20), 0x00);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x35);
	outb(0x20, 0x20);
	ck_assert(!dev_pic_intr(&pic));
	/* Two requests at once: IR0 first. */
	pulse(7);
	pulse(0);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x30);
	outb(0x20, 0x20);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x37);
	outb(0x20, 0x20);
	ck_assert_uint_eq(read_isr(0x20), 0x00);
}
END_TEST

START_TEST(edge_detection)
{
	init_pair(false);
	/* A line held high requests once. */
	dev_pic_set_irq(&pic, 4, true);
	dev_pic_set_irq(&pic, 4, true);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x34);
	outb(0x20, 0x20);
	dev_pic_set_irq(&pic, 4, true);
	ck_assert(!dev_pic_intr(&pic));
	ck_assert_uint_eq(read_irr(0x20), 0x00);
	/* Falling and rising again is a new request. */
	dev_pic_set_irq(&pic, 4, false);
	dev_pic_set_irq(&pic, 4, true);
	ck_assert_uint_eq(read_irr(0x20), 0x10);
	/* An edge request survives its line dropping before INTA (QEMU). */
	dev_pic_set_irq(&pic, 4, false);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x34);
}
END_TEST

START_TEST(masks)
{
	init_pair(false);
	outb(0x21, 0x08);
	pulse(3);
	ck_assert(!dev_pic_intr(&pic));
	ck_assert_uint_eq(read_irr(0x20), 0x08); /* requested, masked */
	outb(0x21, 0x00);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x33);
	outb(0x20, 0x20);
	/* Masking the cascade input hides the whole slave. */
	outb(0x21, 0x04);
	pulse(9);
	ck_assert(!dev_pic_intr(&pic));
	outb(0x21, 0x00);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x39);
}
END_TEST

START_TEST(auto_eoi)
{
	init_pair(true);
	pulse(3);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x33);
	ck_assert_uint_eq(read_isr(0x20), 0x00);
	/* Nothing in service, so a lower priority gets in straight away. */
	pulse(6);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x36);
	ck_assert(!dev_pic_intr(&pic));
}
END_TEST

START_TEST(cascade)
{
	init_pair(false);
	pulse(10);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(read_irr(0x20), 0x04);
	ck_assert_uint_eq(read_irr(0xa0), 0x04);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x3a);
	ck_assert_uint_eq(read_isr(0x20), 0x04);
	ck_assert_uint_eq(read_isr(0xa0), 0x04);
	/* IR2 in service on the master blocks IR3-7 and further slave IRQs. */
	pulse(5);
	pulse(9);
	ck_assert(!dev_pic_intr(&pic));
	/* IR1 outranks IR2. */
	pulse(1);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x31);
	outb(0x20, 0x20);
	/* EOI both chips, as Linux does; IRQ 9 (on IR2) outranks IRQ 5. */
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x39);
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x35);
	outb(0x20, 0x20);
	ck_assert(!dev_pic_intr(&pic));
	ck_assert_uint_eq(read_isr(0x20) | read_isr(0xa0), 0x00);
}
END_TEST

START_TEST(cascade_auto_eoi_back_to_back)
{
	/* With auto-EOI a slave that still has requests keeps INT high; each
	 * one must still come through the master. */
	init_pair(true);
	outb(0xa0, 0x11);
	outb(0xa1, 0x38);
	outb(0xa1, 0x02);
	outb(0xa1, 0x03);
	pulse(11);
	pulse(12);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x3b);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x3c);
	ck_assert(!dev_pic_intr(&pic));
}
END_TEST

START_TEST(spurious)
{
	init_pair(false);
	/* Nothing pending at all: IR7, and no ISR bit. */
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x37);
	ck_assert_uint_eq(read_isr(0x20), 0x00);
	/* The request is masked between INTR and INTA. */
	pulse(3);
	ck_assert(dev_pic_intr(&pic));
	outb(0x21, 0x08);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x37);
	ck_assert_uint_eq(read_isr(0x20), 0x00);
	outb(0x21, 0x00);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x33); /* still requested */
	outb(0x20, 0x20);
	/* On the slave: the master grants IR2, the slave answers IRQ 15
	 * and the master's IR2 is left in service. */
	pulse(12);
	ck_assert(dev_pic_intr(&pic));
	outb(0xa1, 0x10);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x3f);
	ck_assert_uint_eq(read_isr(0x20), 0x04);
	ck_assert_uint_eq(read_isr(0xa0), 0x00);
	outb(0x20, 0x20);
	ck_assert(!dev_pic_intr(&pic));
}
END_TEST

START_TEST(level_triggered_elcr)
{
	init_pair(false);
	/* The chipset keeps IRQ 0-2, 8 and 13 edge-triggered. */
	outb(0x4d0, 0xff);
	outb(0x4d1, 0xff);
	ck_assert_uint_eq(inb(0x4d0), 0xf8);
	ck_assert_uint_eq(inb(0x4d1), 0xde);
	outb(0x4d0, 0x20);           /* IRQ 5 level */
	outb(0x4d1, 0x04);           /* IRQ 10 level */
	dev_pic_set_irq(&pic, 5, true);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x35);
	ck_assert_uint_eq(read_irr(0x20), 0x20); /* still asserted */
	outb(0x20, 0x20);
	ck_assert(dev_pic_intr(&pic)); /* level: requests again */
	dev_pic_set_irq(&pic, 5, false);
	ck_assert_uint_eq(read_irr(0x20), 0x00);
	ck_assert(!dev_pic_intr(&pic));
	/* Dropped before INTA: spurious IRQ 7. */
	dev_pic_set_irq(&pic, 5, true);
	ck_assert(dev_pic_intr(&pic));
	dev_pic_set_irq(&pic, 5, false);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x37);
	ck_assert_uint_eq(read_isr(0x20), 0x00);
	/* On the slave the master's IR2 is edge-triggered: the cascade
	 * request outlives the level, and the slave answers IRQ 15. */
	dev_pic_set_irq(&pic, 10, true);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x3a);
	ck_assert_uint_eq(read_irr(0xa0), 0x04);
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	ck_assert(dev_pic_intr(&pic));
	dev_pic_set_irq(&pic, 10, false);
	ck_assert_uint_eq(read_irr(0xa0), 0x00);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x3f);
	outb(0x20, 0x20);
	ck_assert(!dev_pic_intr(&pic));
}
END_TEST

START_TEST(poll_mode)
{
	init_pair(false);
	outb(0x20, 0x0c);
	ck_assert_uint_eq(inb(0x20), 0x00); /* nothing pending */
	pulse(6);
	outb(0x20, 0x0c);
	ck_assert_uint_eq(inb(0x21), 0x86); /* either port, acknowledges */
	ck_assert_uint_eq(read_isr(0x20), 0x40);
	ck_assert_uint_eq(read_irr(0x20), 0x00);
	ck_assert_uint_eq(inb(0x21), 0x00); /* one-shot: IMR again */
}
END_TEST

START_TEST(rotation)
{
	init_pair(false);
	/* Rotate on non-specific EOI: the served level becomes lowest. */
	pulse(3);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x33);
	outb(0x20, 0xa0);
	pulse(0);
	pulse(4);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x34); /* 4 now outranks 0 */
	outb(0x20, 0x20);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x30);
	outb(0x20, 0x20);
	/* Set priority: IR6 lowest, so IR7 is highest. */
	outb(0x20, 0xc6);
	pulse(6);
	pulse(7);
	pulse(1);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x37);
	outb(0x20, 0xe7);                    /* rotate on specific EOI 7 */
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x31);
	outb(0x20, 0x61);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x36);
	outb(0x20, 0x66);
	/* Rotate in auto-EOI mode. */
	init_pair(true);
	outb(0x20, 0x80);
	pulse(1);
	pulse(5);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x31);
	pulse(1);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x35); /* 1 is lowest now */
	outb(0x20, 0x00);                    /* rotation off again */
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x31);
}
END_TEST

START_TEST(special_mask_mode)
{
	init_pair(false);
	pulse(3);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x33);
	pulse(6);
	ck_assert(!dev_pic_intr(&pic));
	/* The handler masks its own level and enters special mask mode:
	 * lower levels get in. */
	outb(0x21, 0x08);
	outb(0x20, 0x68);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x36);
	outb(0x20, 0x66);
	outb(0x20, 0x48);                    /* special mask mode off */
	outb(0x21, 0x00);
	outb(0x20, 0x63);
	ck_assert_uint_eq(read_isr(0x20), 0x00);
}
END_TEST

START_TEST(special_fully_nested)
{
	outb(0x20, 0x11);
	outb(0x21, 0x30);
	outb(0x21, 0x04);
	outb(0x21, 0x11);                    /* SFNM */
	outb(0x21, 0x00);
	outb(0xa0, 0x11);
	outb(0xa1, 0x38);
	outb(0xa1, 0x02);
	outb(0xa1, 0x01);
	outb(0xa1, 0x00);
	pulse(12);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x3c);
	/* A higher slave level interrupts the in-service cascade. */
	pulse(9);
	ck_assert(dev_pic_intr(&pic));
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x39);
	/* A lower one does not: the slave itself blocks it. */
	pulse(14);
	ck_assert(!dev_pic_intr(&pic));
}
END_TEST

START_TEST(single_mode_skips_icw3)
{
	outb(0x20, 0x13);                    /* single, ICW4 */
	outb(0x21, 0x48);
	outb(0x21, 0x01);                    /* ICW4, not ICW3 */
	outb(0x21, 0x00);                    /* IMR */
	ck_assert_uint_eq(inb(0x21), 0x00);
	pulse(5);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x4d);
	/* Without ICW4 the sequence ends at ICW2 and auto-EOI is off. */
	outb(0x20, 0x12);
	outb(0x21, 0x50);
	outb(0x21, 0xfe);
	ck_assert_uint_eq(inb(0x21), 0xfe);
	pulse(0);
	ck_assert_uint_eq(dev_pic_inta(&pic), 0x50);
	ck_assert_uint_eq(read_isr(0x20), 0x01);
}
END_TEST

START_TEST(wide_access_splits)
{
	/* outw 0x20 writes 0x20 then 0x21, as QEMU's byte-wide PIC sees it. */
	init_pair(false);
	dev_pio_out(bus, 0x20, 2, 0x550a);
	ck_assert_uint_eq(dev_pio_in(bus, 0x20, 2), 0x5500);
}
END_TEST

static Suite *pic_suite(void)
{
	Suite *s = suite_create("pic");
	TCase *tc = tcase_create("pic");

	tcase_add_checked_fixture(tc, pic_setup, pic_teardown);
	tcase_add_test(tc, seabios_state);
	tcase_add_test(tc, init_clears_and_reads_irr_by_default);
	tcase_add_test(tc, priority_and_in_service_blocking);
	tcase_add_test(tc, edge_detection);
	tcase_add_test(tc, masks);
	tcase_add_test(tc, auto_eoi);
	tcase_add_test(tc, cascade);
	tcase_add_test(tc, cascade_auto_eoi_back_to_back);
	tcase_add_test(tc, spurious);
	tcase_add_test(tc, level_triggered_elcr);
	tcase_add_test(tc, poll_mode);
	tcase_add_test(tc, rotation);
	tcase_add_test(tc, special_mask_mode);
	tcase_add_test(tc, special_fully_nested);
	tcase_add_test(tc, single_mode_skips_icw3);
	tcase_add_test(tc, wide_access_splits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pic_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
