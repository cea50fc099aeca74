/* Unit tests for devices/: the port bus, the UART, debug exit, i8042, port 0x80. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"
#include "devices_internal.h"

/* ---- A fake device that records the last access it saw. ---- */

struct fake_dev {
	unsigned reads, writes;
	uint16_t port;
	unsigned size;
	uint32_t value;
};

/* Answers with more bits than asked for, to check the bus masks them. */
static uint32_t fake_read(void *dev, uint16_t port, unsigned size)
{
	struct fake_dev *f = dev;

	f->reads++;
	f->port = port;
	f->size = size;
	return 0xa5a50000u | port;
}

static void fake_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	struct fake_dev *f = dev;

	f->writes++;
	f->port = port;
	f->size = size;
	f->value = value;
}

static const struct dev_pio_ops fake_ops = {
	.name = "fake", .read = fake_read, .write = fake_write,
};

/* ---- A serial sink that keeps what it is given. ---- */

struct sink_buf {
	uint8_t bytes[256];
	size_t len;
	unsigned calls;
};

static void sink_write(void *ctx, const uint8_t *bytes, size_t len)
{
	struct sink_buf *s = ctx;

	s->calls++;
	ck_assert_uint_le(s->len + len, sizeof(s->bytes));
	memcpy(s->bytes + s->len, bytes, len);
	s->len += len;
}

static struct sink_buf sink;
static struct dev_platform *plat;
static struct dev_bus *bus;

/* The timers are tested in test_pit.c and test_rtc.c; here time stands
 * still at an arbitrary instant. */
static uint64_t still_mono(void *ctx) { return 1000000000ull; }
static uint64_t still_real(void *ctx) { return 1709214356000000000ull; }

static void platform_setup(void)
{
	struct dev_platform_config cfg = {
		.serial = { .write = sink_write, .ctx = &sink },
		.clock = { .monotonic_ns = still_mono, .realtime_ns = still_real },
	};

	memset(&sink, 0, sizeof(sink));
	plat = dev_platform_create(&cfg);
	ck_assert_ptr_nonnull(plat);
	bus = dev_platform_bus(plat);
}

static void platform_teardown(void)
{
	dev_platform_destroy(plat);
	plat = NULL;
	bus = NULL;
}

#define COM1 0x3f8
static uint8_t inb(uint16_t port) { return (uint8_t)dev_pio_in(bus, port, 1); }
static void outb(uint16_t port, uint8_t v) { dev_pio_out(bus, port, 1, v); }

/* ---- Bus ---- */

START_TEST(bus_refuses_overlaps)
{
	struct dev_bus *b = dev_bus_create();
	struct fake_dev a = {0}, c = {0};

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(dev_bus_register(b, 0x100, 8, &fake_ops, &a), 0);
	ck_assert_int_eq(dev_bus_register(b, 0x100, 8, &fake_ops, &c), -EBUSY);
	ck_assert_int_eq(dev_bus_register(b, 0x0fc, 5, &fake_ops, &c), -EBUSY);
	ck_assert_int_eq(dev_bus_register(b, 0x107, 1, &fake_ops, &c), -EBUSY);
	ck_assert_int_eq(dev_bus_register(b, 0x0f0, 0x20, &fake_ops, &c), -EBUSY);
	/* Neighbours on both sides are fine. */
	ck_assert_int_eq(dev_bus_register(b, 0x0f8, 8, &fake_ops, &c), 0);
	ck_assert_int_eq(dev_bus_register(b, 0x108, 1, &fake_ops, &c), 0);
	/* A refused claim must not have taken any port: 0x0fc.. still b's. */
	dev_pio_in(b, 0x0fc, 1);
	ck_assert_uint_eq(c.reads, 1);
	ck_assert_uint_eq(a.reads, 0);
	dev_bus_destroy(b);
}
END_TEST

START_TEST(bus_refuses_bad_ranges)
{
	struct dev_bus *b = dev_bus_create();
	struct fake_dev a = {0};

	ck_assert_int_eq(dev_bus_register(b, 0x10, 0, &fake_ops, &a), -EINVAL);
	ck_assert_int_eq(dev_bus_register(b, 0xfff0, 0x11, &fake_ops, &a), -EINVAL);
	ck_assert_int_eq(dev_bus_register(b, 0, 0x10001, &fake_ops, &a), -EINVAL);
	ck_assert_int_eq(dev_bus_register(b, 0xfff0, 0x10, &fake_ops, &a), 0);
	dev_pio_out(b, 0xffff, 1, 7);
	ck_assert_uint_eq(a.writes, 1);
	ck_assert_uint_eq(a.port, 0xffff);
	dev_bus_destroy(b);
}
END_TEST

START_TEST(bus_unclaimed_reads_all_ones)
{
	struct dev_bus *b = dev_bus_create();
	struct dev_bus_stats st;

	ck_assert_uint_eq(dev_pio_in(b, 0x200, 1), 0xffu);
	ck_assert_uint_eq(dev_pio_in(b, 0x200, 2), 0xffffu);
	ck_assert_uint_eq(dev_pio_in(b, 0x200, 4), 0xffffffffu);
	dev_pio_out(b, 0x200, 4, 0x12345678);
	dev_bus_get_stats(b, &st);
	ck_assert_uint_eq(st.reads, 3);
	ck_assert_uint_eq(st.writes, 1);
	ck_assert_uint_eq(st.unclaimed, 4);
	dev_bus_destroy(b);
}
END_TEST

START_TEST(bus_dispatches_each_width)
{
	struct dev_bus *b = dev_bus_create();
	struct fake_dev f = {0};
	struct dev_bus_stats st;

	ck_assert_int_eq(dev_bus_register(b, 0x1f0, 8, &fake_ops, &f), 0);
	/* Reads are cut to the access width. */
	ck_assert_uint_eq(dev_pio_in(b, 0x1f3, 1), 0xf3u);
	ck_assert_uint_eq(f.size, 1);
	ck_assert_uint_eq(dev_pio_in(b, 0x1f2, 2), 0x01f2u);
	ck_assert_uint_eq(f.size, 2);
	ck_assert_uint_eq(dev_pio_in(b, 0x1f4, 4), 0xa5a501f4u);
	ck_assert_uint_eq(f.size, 4);
	ck_assert_uint_eq(f.port, 0x1f4);
	/* Writes too, and reach the device with their port and size. */
	dev_pio_out(b, 0x1f1, 1, 0x1234);
	ck_assert_uint_eq(f.value, 0x34);
	ck_assert_uint_eq(f.port, 0x1f1);
	dev_pio_out(b, 0x1f6, 2, 0xabcdef);
	ck_assert_uint_eq(f.value, 0xcdef);
	ck_assert_uint_eq(f.size, 2);
	dev_pio_out(b, 0x1f0, 4, 0xdeadbeef);
	ck_assert_uint_eq(f.value, 0xdeadbeef);
	ck_assert_uint_eq(f.size, 4);
	ck_assert_uint_eq(f.reads, 3);
	ck_assert_uint_eq(f.writes, 3);
	/* A port just past the range is not the device's. */
	ck_assert_uint_eq(dev_pio_in(b, 0x1f8, 1), 0xffu);
	ck_assert_uint_eq(f.reads, 3);
	dev_bus_get_stats(b, &st);
	ck_assert_uint_eq(st.reads, 4);
	ck_assert_uint_eq(st.writes, 3);
	ck_assert_uint_eq(st.unclaimed, 1);
	dev_bus_destroy(b);
}
END_TEST

/* ---- UART ---- */

START_TEST(uart_power_on_state)
{
	/* Values a QEMU 7.2 guest reads after SeaBIOS. */
	ck_assert_uint_eq(inb(COM1 + 1), 0x00); /* IER */
	ck_assert_uint_eq(inb(COM1 + 2), 0x01); /* IIR: nothing pending */
	ck_assert_uint_eq(inb(COM1 + 3), 0x00); /* LCR */
	ck_assert_uint_eq(inb(COM1 + 4), 0x08); /* MCR: OUT2 */
	ck_assert_uint_eq(inb(COM1 + 5), 0x60); /* LSR: THRE | TEMT */
	ck_assert_uint_eq(inb(COM1 + 6), 0xb0); /* MSR: DCD DSR CTS */
	ck_assert_uint_eq(inb(COM1 + 7), 0x00); /* SCR */
	ck_assert(!dev_uart_irq_pending(dev_platform_com1(plat)));
}
END_TEST

START_TEST(uart_transmit_reaches_sink)
{
	const char *msg = "Hi\n";

	for (const char *c = msg; *c; c++) {
		ck_assert_uint_eq(inb(COM1 + 5) & 0x20, 0x20);
		outb(COM1, (uint8_t)*c);
	}
	ck_assert_uint_eq(sink.len, 3);
	ck_assert(memcmp(sink.bytes, msg, 3) == 0);
	ck_assert_uint_eq(inb(COM1 + 5), 0x60);
}
END_TEST

START_TEST(uart_divisor_latch)
{
	outb(COM1 + 3, 0x80);           /* DLAB on */
	ck_assert_uint_eq(inb(COM1), 12);    /* 9600 baud, as SeaBIOS sets */
	ck_assert_uint_eq(inb(COM1 + 1), 0);
	outb(COM1, 0x01);
	outb(COM1 + 1, 0x02);
	ck_assert_uint_eq(inb(COM1), 0x01);
	ck_assert_uint_eq(inb(COM1 + 1), 0x02);
	ck_assert_uint_eq(sink.len, 0); /* DLL writes are not transmitted */
	ck_assert_uint_eq(inb(COM1 + 3), 0x80);
	outb(COM1 + 3, 0x03);           /* DLAB off, 8N1 */
	ck_assert_uint_eq(inb(COM1 + 1), 0x00); /* IER, untouched by DLM */
	outb(COM1, 'x');
	ck_assert_uint_eq(sink.len, 1);
	outb(COM1 + 3, 0x83);
	ck_assert_uint_eq(inb(COM1), 0x01); /* the divisor survived */
}
END_TEST

START_TEST(uart_scratch_and_ier_mask)
{
	outb(COM1 + 7, 0x5a);
	ck_assert_uint_eq(inb(COM1 + 7), 0x5a);
	outb(COM1 + 7, 0xa5);
	ck_assert_uint_eq(inb(COM1 + 7), 0xa5);
	/* Linux's existence test: IER keeps its low nibble only. */
	outb(COM1 + 1, 0xff);
	ck_assert_uint_eq(inb(COM1 + 1), 0x0f);
	outb(COM1 + 1, 0x00);
	ck_assert_uint_eq(inb(COM1 + 1), 0x00);
	/* MCR keeps 5 bits; LSR ignores writes. */
	outb(COM1 + 4, 0xff);
	ck_assert_uint_eq(inb(COM1 + 4), 0x1f);
	outb(COM1 + 4, 0x0b);
	outb(COM1 + 5, 0xff);
	ck_assert_uint_eq(inb(COM1 + 5), 0x60);
}
END_TEST

START_TEST(uart_iir_fifo_bits)
{
	outb(COM1 + 2, 0x07);   /* enable and clear FIFOs */
	ck_assert_uint_eq(inb(COM1 + 2), 0xc1);
	outb(COM1 + 2, 0x21);   /* 64-byte bit: a 16550A, not a 16750 */
	ck_assert_uint_eq(inb(COM1 + 2), 0xc1);
	outb(COM1 + 2, 0x00);
	ck_assert_uint_eq(inb(COM1 + 2), 0x01);
}
END_TEST

START_TEST(uart_thre_interrupt)
{
	struct dev_uart *u = dev_platform_com1(plat);

	/* Enabling THRI with THR empty raises it; reading IIR acknowledges. */
	outb(COM1 + 1, 0x02);
	ck_assert(dev_uart_irq_pending(u));
	ck_assert_uint_eq(inb(COM1 + 2), 0x02);
	ck_assert_uint_eq(inb(COM1 + 2), 0x01);
	ck_assert(!dev_uart_irq_pending(u));
	/* Re-enabling raises it again (Linux's UART_BUG_THRE test). */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 1, 0x02);
	ck_assert_uint_eq(inb(COM1 + 2), 0x02);
	/* Each transmitted byte empties THR again. */
	outb(COM1, 'a');
	outb(COM1 + 2, 0x01);
	ck_assert_uint_eq(inb(COM1 + 2), 0xc2);
	ck_assert_uint_eq(inb(COM1 + 2), 0xc1);
}
END_TEST

START_TEST(uart_loopback)
{
	outb(COM1 + 4, 0x1a);   /* loop, RTS, OUT2: Linux's probe */
	ck_assert_uint_eq(inb(COM1 + 6), 0x90);
	outb(COM1 + 4, 0x1f);
	ck_assert_uint_eq(inb(COM1 + 6), 0xf0);
	outb(COM1 + 4, 0x10);
	ck_assert_uint_eq(inb(COM1 + 6), 0x00);
	outb(COM1, 'Z');
	ck_assert_uint_eq(sink.len, 0);           /* not on the wire */
	ck_assert_uint_eq(inb(COM1 + 5), 0x61);   /* DR */
	ck_assert_uint_eq(inb(COM1), 'Z');
	ck_assert_uint_eq(inb(COM1 + 5), 0x60);
	/* With FIFOs off a second byte overruns and replaces the first. */
	outb(COM1, 'a');
	outb(COM1, 'b');
	ck_assert_uint_eq(inb(COM1 + 5), 0x63);   /* DR | OE */
	ck_assert_uint_eq(inb(COM1 + 5), 0x61);   /* OE clears on read */
	ck_assert_uint_eq(inb(COM1), 'b');
	/* With FIFOs on, 16 bytes fit and the 17th is lost. */
	outb(COM1 + 2, 0x01);
	for (unsigned i = 0; i < 17; i++)
		outb(COM1, (uint8_t)i);
	ck_assert_uint_eq(inb(COM1 + 5), 0x63);
	for (unsigned i = 0; i < 16; i++)
		ck_assert_uint_eq(inb(COM1), i);
	ck_assert_uint_eq(inb(COM1 + 5), 0x60);
	ck_assert_uint_eq(inb(COM1), 0);          /* empty FIFO reads 0 */
	outb(COM1 + 4, 0x0b);
	ck_assert_uint_eq(inb(COM1 + 6), 0xb0);
	outb(COM1, 'q');
	ck_assert_uint_eq(sink.len, 1);
	ck_assert_uint_eq(sink.bytes[0], 'q');
}
END_TEST

START_TEST(uart_receive)
{
	struct dev_uart *u = dev_platform_com1(plat);
	uint8_t data[20];

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)('A' + i);
	/* FIFOs off: one byte at a time. */
	ck_assert_uint_eq(dev_uart_receive(u, data, sizeof(data)), 1);
	ck_assert_uint_eq(dev_uart_receive(u, data, sizeof(data)), 0);
	ck_assert(!dev_uart_irq_pending(u));      /* RDI not enabled */
	outb(COM1 + 1, 0x01);
	ck_assert(dev_uart_irq_pending(u));
	ck_assert_uint_eq(inb(COM1 + 2), 0x04);   /* received data */
	ck_assert_uint_eq(inb(COM1), 'A');
	ck_assert(!dev_uart_irq_pending(u));
	/* FIFOs on with trigger 4: below it a timeout, from it data avail. */
	outb(COM1 + 2, 0x41);
	ck_assert_uint_eq(dev_uart_receive(u, data, sizeof(data)), 16);
	ck_assert_uint_eq(inb(COM1 + 5), 0x61);   /* no overrun from here */
	ck_assert_uint_eq(inb(COM1 + 2), 0xc4);
	for (unsigned i = 0; i < 13; i++)
		ck_assert_uint_eq(inb(COM1), 'A' + i);
	ck_assert_uint_eq(inb(COM1 + 2), 0xcc);
	/* Wide accesses become byte accesses to consecutive registers, low
	 * byte first, as QEMU's memory core splits them: RBR, then IER. */
	ck_assert_uint_eq(dev_pio_in(bus, COM1, 2), (uint32_t)('A' + 13) | 0x01u << 8);
	ck_assert_uint_eq(inb(COM1), 'A' + 14);
	/* THR <- 'Z', IER <- 1, FCR <- 0x41, LCR <- 3 */
	dev_pio_out(bus, COM1, 4, 0x03410100u | 'Z');
	ck_assert_uint_eq(sink.len, 1);
	ck_assert_uint_eq(sink.bytes[0], 'Z');
	ck_assert_uint_eq(inb(COM1 + 3), 0x03);
}
END_TEST

/* ---- isa-debug-exit, port 0x80 ---- */

START_TEST(debug_exit_status)
{
	int status = -7;

	ck_assert_int_eq(dev_platform_stop_reason(plat, &status), DEV_RUNNING);
	ck_assert_int_eq(status, -7);
	ck_assert_uint_eq(dev_pio_in(bus, 0xf4, 1), 0);
	ck_assert_uint_eq(dev_pio_in(bus, 0xf4, 4), 0);
	outb(0xf4, 0x10);
	ck_assert_int_eq(dev_platform_stop_reason(plat, &status),
			 DEV_STOP_DEBUG_EXIT);
	ck_assert_int_eq(status, 0x21);
	/* The first request stands. */
	outb(0xf4, 0);
	ck_assert_int_eq(dev_platform_stop_reason(plat, &status),
			 DEV_STOP_DEBUG_EXIT);
	ck_assert_int_eq(status, 0x21);
}
END_TEST

START_TEST(debug_exit_widths)
{
	static const struct { uint16_t port; unsigned size; uint32_t v; int want; } cases[] = {
		{ 0xf4, 1, 0x00, 1 },
		{ 0xf5, 1, 0x7f, 0xff },
		{ 0xf6, 2, 0x1234, 0x2469 },
		{ 0xf7, 4, 0x40000000u, (int)0x80000001u },
		{ 0xf4, 4, 0xffffffffu, -1 },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = 0;

		platform_teardown();
		platform_setup();
		dev_pio_out(bus, cases[i].port, cases[i].size, cases[i].v);
		ck_assert_int_eq(dev_platform_stop_reason(plat, &status),
				 DEV_STOP_DEBUG_EXIT);
		ck_assert_int_eq(status, cases[i].want);
	}
}
END_TEST

START_TEST(port80_ignored)
{
	struct dev_bus_stats st;

	outb(0x80, 0x42);
	ck_assert_uint_eq(inb(0x80), 0xff);
	ck_assert_uint_eq(dev_pio_in(bus, 0x80, 4), 0xffffffffu);
	dev_bus_get_stats(bus, &st);
	ck_assert_uint_eq(st.unclaimed, 0);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_RUNNING);
}
END_TEST

/* ---- i8042 ---- */

START_TEST(i8042_self_test_and_command_byte)
{
	ck_assert_uint_eq(inb(0x64), 0x1c);     /* input buffer empty, no OBF */
	outb(0x64, 0xaa);
	ck_assert_uint_eq(inb(0x64), 0x1d);     /* OBF */
	ck_assert_uint_eq(inb(0x60), 0x55);
	ck_assert_uint_eq(inb(0x64), 0x1c);
	outb(0x64, 0x20);
	ck_assert_uint_eq(inb(0x60), 0x61);
	outb(0x64, 0x60);
	outb(0x60, 0x45);
	outb(0x64, 0xad);                       /* disable keyboard: bit 4 */
	outb(0x64, 0x20);
	ck_assert_uint_eq(inb(0x60), 0x55);
	outb(0x64, 0xae);
	outb(0x64, 0x20);
	ck_assert_uint_eq(inb(0x60), 0x45);
	ck_assert_uint_eq(inb(0x60), 0x45);     /* empty: last byte again */
	outb(0x64, 0xab);
	ck_assert_uint_eq(inb(0x60), 0x00);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_RUNNING);
}
END_TEST

START_TEST(i8042_reset)
{
	outb(0x64, 0xff);                       /* pulse nothing: no reset */
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_RUNNING);
	outb(0x64, 0xfe);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_STOP_RESET);
}
END_TEST

START_TEST(i8042_reset_via_output_port)
{
	outb(0x64, 0xd0);
	ck_assert_uint_eq(inb(0x60), 0xcf);
	outb(0x64, 0xd1);
	outb(0x60, 0xcf);                       /* reset line stays high */
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_RUNNING);
	outb(0x64, 0xd1);
	outb(0x60, 0xce);
	ck_assert_int_eq(dev_platform_stop_reason(plat, NULL), DEV_STOP_RESET);
}
END_TEST

/* The platform wires the controller to the PIC pair: IRQ 1 is vector 0x09
 * and IRQ 12 vector 0x74 in the state SeaBIOS leaves. */
START_TEST(i8042_platform_irqs)
{
	ck_assert(!dev_platform_intr(plat));
	outb(0x64, 0x20);                       /* command byte 0x61: IRQ 1 on */
	ck_assert(dev_platform_intr(plat));
	ck_assert_uint_eq(dev_platform_inta(plat), 0x09);
	ck_assert_uint_eq(inb(0x60), 0x61);
	outb(0x20, 0x20);
	outb(0x64, 0x60);
	outb(0x60, 0x63);                       /* and IRQ 12 */
	ck_assert(!dev_platform_intr(plat));
	outb(0x64, 0xd3);
	outb(0x60, 0xa5);
	ck_assert(dev_platform_intr(plat));
	ck_assert_uint_eq(dev_platform_inta(plat), 0x74);
	ck_assert_uint_eq(inb(0x64), 0x3d);
	ck_assert_uint_eq(inb(0x60), 0xa5);
}
END_TEST

/* ---- i8042 interrupts, with just the controller and the PIC pair ---- */

static struct dev_i8042 kbc;
static struct dev_pic kbc_pic;
static struct dev_isa_irqs kbc_irqs = { .pic = &kbc_pic };
static struct dev_stop kbc_stop;

static void kbc_setup(void)
{
	memset(&kbc_stop, 0, sizeof(kbc_stop));
	dev_pic_init(&kbc_pic);
	kbc_irqs = (struct dev_isa_irqs){ .pic = &kbc_pic };
	dev_i8042_init(&kbc, &kbc_stop);
	dev_i8042_connect_irq(&kbc, &kbc_irqs);
	bus = dev_bus_create();
	ck_assert_ptr_nonnull(bus);
	ck_assert_int_eq(dev_bus_register(bus, 0x20, 2, &dev_pic_ops, &kbc_pic), 0);
	ck_assert_int_eq(dev_bus_register(bus, 0xa0, 2, &dev_pic_ops, &kbc_pic), 0);
	ck_assert_int_eq(dev_bus_register(bus, 0x60, 1, &dev_i8042_ops, &kbc), 0);
	ck_assert_int_eq(dev_bus_register(bus, 0x64, 1, &dev_i8042_ops, &kbc), 0);
}

static void kbc_teardown(void)
{
	dev_bus_destroy(bus);
	bus = NULL;
}

/* The levels the controller drives, as the PIC last saw them. */
static bool irq1_level(void) { return kbc_pic.chip[0].lines & 0x02u; }
static bool irq12_level(void) { return kbc_pic.chip[1].lines & 0x10u; }

static void write_command_byte(uint8_t v)
{
	outb(0x64, 0x60);
	outb(0x60, v);
}

/* Acknowledge the pending interrupt, return its vector, and EOI both PICs. */
static uint8_t take_irq(void)
{
	uint8_t vector;

	ck_assert(dev_pic_intr(&kbc_pic));
	vector = dev_pic_inta(&kbc_pic);
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	return vector;
}

START_TEST(i8042_aux_loopback)
{
	/* Command byte 0x61: AUX interrupts off. */
	outb(0x64, 0xd3);
	outb(0x60, 0x5a);
	ck_assert_uint_eq(inb(0x64), 0x3d);     /* 0x1c | OBF | AUX data */
	ck_assert(!irq12_level());
	ck_assert(!irq1_level());               /* AUX data never raises IRQ 1 */
	ck_assert(!dev_pic_intr(&kbc_pic));
	ck_assert_uint_eq(inb(0x60), 0x5a);
	ck_assert_uint_eq(inb(0x64), 0x1c);
	/* Linux's AUX IRQ delivery test. */
	write_command_byte(0x63);
	ck_assert(!irq12_level());
	outb(0x64, 0xd3);
	outb(0x60, 0xa5);
	ck_assert(irq12_level());
	ck_assert(!irq1_level());
	ck_assert_uint_eq(take_irq(), 0x74);
	ck_assert_uint_eq(inb(0x64), 0x3d);
	ck_assert_uint_eq(inb(0x60), 0xa5);
	ck_assert(!irq12_level());
	ck_assert_uint_eq(inb(0x64), 0x1c);
	ck_assert(!dev_pic_intr(&kbc_pic));
	/* Every byte is a new edge: the line drops while the next comes up. */
	outb(0x64, 0xd3);
	outb(0x60, 0x01);
	outb(0x64, 0xd3);
	outb(0x60, 0x02);
	ck_assert_uint_eq(take_irq(), 0x74);
	ck_assert(!dev_pic_intr(&kbc_pic));
	ck_assert_uint_eq(inb(0x60), 0x01);
	ck_assert(irq12_level());
	ck_assert_uint_eq(take_irq(), 0x74);
	ck_assert_uint_eq(inb(0x60), 0x02);
	ck_assert(!irq12_level());
	/* The head byte decides: AUX, then keyboard data. */
	outb(0x64, 0xd3);
	outb(0x60, 0x11);
	outb(0x64, 0xd2);
	outb(0x60, 0x22);
	ck_assert_uint_eq(inb(0x64), 0x3d);
	ck_assert(irq12_level() && !irq1_level());
	ck_assert_uint_eq(inb(0x60), 0x11);
	ck_assert_uint_eq(inb(0x64), 0x1d);
	ck_assert(!irq12_level() && irq1_level());
	ck_assert_uint_eq(inb(0x60), 0x22);
	ck_assert(!irq12_level() && !irq1_level());
}
END_TEST

START_TEST(i8042_kbd_obuf)
{
	/* Keyboard interrupts off: OBF, no AUX bit, no IRQ. */
	write_command_byte(0x60);
	outb(0x64, 0xd2);
	outb(0x60, 0x42);
	ck_assert_uint_eq(inb(0x64), 0x1d);
	ck_assert(!irq1_level());
	ck_assert(!dev_pic_intr(&kbc_pic));
	ck_assert_uint_eq(inb(0x60), 0x42);
	ck_assert_uint_eq(inb(0x64), 0x1c);
	/* Enabling them with a byte waiting raises the line at once. */
	outb(0x64, 0xd2);
	outb(0x60, 0x43);
	ck_assert(!irq1_level());
	write_command_byte(0x61);
	ck_assert(irq1_level());
	ck_assert(!irq12_level());
	ck_assert_uint_eq(take_irq(), 0x09);
	ck_assert_uint_eq(inb(0x60), 0x43);
	ck_assert(!irq1_level());
	ck_assert_uint_eq(inb(0x64), 0x1c);
	outb(0x64, 0xd2);
	outb(0x60, 0x44);
	ck_assert(irq1_level());
	ck_assert_uint_eq(take_irq(), 0x09);
	ck_assert_uint_eq(inb(0x60), 0x44);
	ck_assert(!irq1_level());
	/* As in QEMU, a disabled keyboard interface holds IRQ 1 low. */
	write_command_byte(0x71);
	outb(0x64, 0xd2);
	outb(0x60, 0x45);
	ck_assert(!irq1_level());
	outb(0x64, 0xae);
	ck_assert(irq1_level());
	ck_assert_uint_eq(inb(0x60), 0x45);
	ck_assert(!irq1_level());
}
END_TEST

START_TEST(i8042_controller_answers_irq1)
{
	/* Command byte 0x61 after SeaBIOS: keyboard interrupts on. */
	outb(0x64, 0x20);
	ck_assert_uint_eq(inb(0x64), 0x1d);
	ck_assert(irq1_level());
	ck_assert(!irq12_level());
	ck_assert_uint_eq(take_irq(), 0x09);
	ck_assert_uint_eq(inb(0x60), 0x61);
	ck_assert(!irq1_level());
	outb(0x64, 0xaa);
	ck_assert(irq1_level());
	ck_assert_uint_eq(take_irq(), 0x09);
	ck_assert_uint_eq(inb(0x60), 0x55);
	/* Without bit 0 an answer only sets OBF. */
	write_command_byte(0x60);
	outb(0x64, 0x20);
	ck_assert_uint_eq(inb(0x64), 0x1d);
	ck_assert(!irq1_level());
	ck_assert_uint_eq(inb(0x60), 0x60);
	/* A byte for the mouse (0xd4) goes nowhere: no mouse is attached. */
	write_command_byte(0x63);
	outb(0x64, 0xd4);
	outb(0x60, 0xf2);
	ck_assert_uint_eq(inb(0x64), 0x1c);
	ck_assert(!irq1_level() && !irq12_level());
	ck_assert(!dev_pic_intr(&kbc_pic));
}
END_TEST

/* A controller wired to no PIC still answers. */
START_TEST(i8042_without_pic)
{
	dev_bus_destroy(bus);
	dev_i8042_init(&kbc, &kbc_stop);
	bus = dev_bus_create();
	ck_assert_ptr_nonnull(bus);
	ck_assert_int_eq(dev_bus_register(bus, 0x60, 1, &dev_i8042_ops, &kbc), 0);
	ck_assert_int_eq(dev_bus_register(bus, 0x64, 1, &dev_i8042_ops, &kbc), 0);
	write_command_byte(0x63);
	outb(0x64, 0xd3);
	outb(0x60, 0x5a);
	ck_assert_uint_eq(inb(0x64), 0x3d);
	ck_assert_uint_eq(inb(0x60), 0x5a);
	ck_assert_uint_eq(inb(0x64), 0x1c);
	ck_assert(!kbc_pic.chip[0].irr && !kbc_pic.chip[1].irr);
}
END_TEST

/* ---- platform ---- */

START_TEST(platform_trace_io)
{
	FILE *capture = tmpfile();
	ck_assert_ptr_nonnull(capture);
	struct dev_platform_config cfg = { .trace_io = capture };
	struct dev_platform *p;
	char text[256] = "";
	size_t n;

	p = dev_platform_create(&cfg);
	ck_assert_ptr_nonnull(p);
	dev_pio_out(dev_platform_bus(p), 0x3f8, 1, 0x41); /* no sink: dropped */
	dev_pio_in(dev_platform_bus(p), 0x3fd, 1);
	dev_pio_in(dev_platform_bus(p), 0x2f8, 2);
	dev_platform_flush(p);
	dev_platform_destroy(p);
	rewind(capture);
	n = fread(text, 1, sizeof(text) - 1, capture);
	text[n] = '\0';
	fclose(capture);
	ck_assert_str_eq(text, "io: out 0x3f8 1 0x41\n"
			       "io: in 0x3fd 1 0x60\n"
			       "io: in 0x2f8 2 0xffff (unclaimed)\n");
}
END_TEST

static Suite *devices_suite(void)
{
	Suite *s = suite_create("devices");
	TCase *tc = tcase_create("bus");

	tcase_add_test(tc, bus_refuses_overlaps);
	tcase_add_test(tc, bus_refuses_bad_ranges);
	tcase_add_test(tc, bus_unclaimed_reads_all_ones);
	tcase_add_test(tc, bus_dispatches_each_width);
	suite_add_tcase(s, tc);

	tc = tcase_create("platform");
	tcase_add_checked_fixture(tc, platform_setup, platform_teardown);
	tcase_add_test(tc, uart_power_on_state);
	tcase_add_test(tc, uart_transmit_reaches_sink);
	tcase_add_test(tc, uart_divisor_latch);
	tcase_add_test(tc, uart_scratch_and_ier_mask);
	tcase_add_test(tc, uart_iir_fifo_bits);
	tcase_add_test(tc, uart_thre_interrupt);
	tcase_add_test(tc, uart_loopback);
	tcase_add_test(tc, uart_receive);
	tcase_add_test(tc, debug_exit_status);
	tcase_add_test(tc, debug_exit_widths);
	tcase_add_test(tc, port80_ignored);
	tcase_add_test(tc, i8042_self_test_and_command_byte);
	tcase_add_test(tc, i8042_reset);
	tcase_add_test(tc, i8042_reset_via_output_port);
	tcase_add_test(tc, i8042_platform_irqs);
	suite_add_tcase(s, tc);

	tc = tcase_create("i8042");
	tcase_add_checked_fixture(tc, kbc_setup, kbc_teardown);
	tcase_add_test(tc, i8042_aux_loopback);
	tcase_add_test(tc, i8042_kbd_obuf);
	tcase_add_test(tc, i8042_controller_answers_irq1);
	tcase_add_test(tc, i8042_without_pic);
	suite_add_tcase(s, tc);

	tc = tcase_create("trace");
	tcase_add_test(tc, platform_trace_io);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(devices_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
