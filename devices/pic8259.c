/* devices: the two cascaded 8259A interrupt controllers and the PIIX ELCR. */
#include "invariant.h"
#include <string.h>

#include "devices_internal.h"

/*
 * Port map (A0 is the low address bit; the slave answers at 0xa0/0xa1):
 *
 *   even port  W: bit 4 set      ICW1 (starts initialization)
 *                 bits 4:3 = 01  OCW3 (read IRR/ISR, poll, special mask)
 *                 bits 4:3 = 00  OCW2 (EOI, rotation)
 *              R: IRR or ISR (OCW3), or the poll byte after OCW3 P=1
 *   odd port   W: ICW2, ICW3, ICW4 during initialization, else OCW1 (IMR)
 *              R: IMR (or the poll byte)
 *
 * Only the 8086 vector format is produced: ICW4's uPM bit is accepted and
 * ignored, as is ICW1's LTIM (level mode is the ELCR's job on a PIIX, and
 * QEMU ignores LTIM too). The slave's INT output drives the master's IR2
 * through the same edge detection as any other line.
 */

enum { MASTER = 0, SLAVE = 1 };

#define CASCADE_IR   2u
#define SPURIOUS_IR  7u

#define ICW1_IC4     0x01u /* ICW4 follows */
#define ICW1_SNGL    0x02u /* single controller: no ICW3 */
#define ICW1         0x10u
#define OCW3         0x08u
#define OCW3_RIS     0x01u /* read ISR (with RR) */
#define OCW3_RR      0x02u /* change the read selection */
#define OCW3_POLL    0x04u
#define OCW3_SMM     0x20u /* special mask mode on/off (with ESMM) */
#define OCW3_ESMM    0x40u
#define ICW4_AEOI    0x02u
#define ICW4_SFNM    0x10u

/* OCW2 bits 7:5 (R, SL, EOI). */
enum {
	OCW2_ROTATE_AEOI_CLEAR = 0,
	OCW2_EOI = 1,
	OCW2_NOP = 2,
	OCW2_SPECIFIC_EOI = 3,
	OCW2_ROTATE_AEOI_SET = 4,
	OCW2_ROTATE_EOI = 5,
	OCW2_SET_PRIORITY = 6,
	OCW2_ROTATE_SPECIFIC_EOI = 7,
};

/* Return the IR of highest priority among `bits`, or -1 if none. */
static int chip_highest(const struct dev_pic_chip *c, uint8_t bits)
{
	for (unsigned i = 0; i < 8; i++) {
		unsigned ir = (c->highest + i) & 7u;

		if (bits & (1u << ir))
			return (int)ir;
	}
	return -1;
}

/* Priority rank of `ir`: 0 is the highest. */
static unsigned chip_rank(const struct dev_pic_chip *c, unsigned ir)
{
	return (ir - c->highest) & 7u;
}

/*
 * Return the IR this chip would hand out on INTA now, or -1: the highest
 * unmasked request, if it outranks everything in service. In special mask
 * mode a masked in-service level does not block (that is how a handler
 * lets lower levels in); in special fully nested mode the master lets the
 * slave interrupt its own in-service cascade input.
 */
static int chip_pending(const struct dev_pic_chip *c, bool is_master)
{
	int request = chip_highest(c, (uint8_t)(c->irr & ~c->imr));
	uint8_t blocking = c->isr;
	int current;

	if (request < 0)
		return -1;
	if (c->special_mask)
		blocking &= (uint8_t)~c->imr;
	if (is_master && c->special_fully_nested)
		blocking &= (uint8_t)~(1u << CASCADE_IR);
	current = chip_highest(c, blocking);
	if (current >= 0 &&
	    chip_rank(c, (unsigned)current) <= chip_rank(c, (unsigned)request))
		return -1;
	return request;
}

/* Drive IR input `ir` of one chip: level inputs follow the line, edge
 * inputs latch a rising edge and keep it until acknowledged. */
static void chip_set_line(struct dev_pic_chip *c, unsigned ir, bool level)
{
	uint8_t bit = (uint8_t)(1u << ir);

	if (c->elcr & bit) {
		if (level)
			c->irr |= bit;
		else
			c->irr &= (uint8_t)~bit;
	} else if (level && !(c->lines & bit)) {
		c->irr |= bit;
	}
	if (level)
		c->lines |= bit;
	else
		c->lines &= (uint8_t)~bit;
}

/* The slave's INT output is the master's IR2; called after every change
 * that could move it. */
static void pic_cascade(struct dev_pic *pic)
{
	chip_set_line(&pic->chip[MASTER], CASCADE_IR,
		      chip_pending(&pic->chip[SLAVE], false) >= 0);
}

/* What INTA (or a poll) does to the chip that supplies the vector. */
static void chip_acknowledge(struct dev_pic_chip *c, unsigned ir)
{
	uint8_t bit = (uint8_t)(1u << ir);

	if (c->auto_eoi) {
		if (c->rotate_on_auto_eoi)
			c->highest = (uint8_t)((ir + 1) & 7u);
	} else {
		c->isr |= bit;
	}
	/* A level input is still asserted: its request stays. */
	if (!(c->elcr & bit))
		c->irr &= (uint8_t)~bit;
}

/*
 * ICW1: what the datasheet lists (IMR cleared, IR7 lowest priority, special
 * mask off, reads select IRR, ICW4 functions zero unless IC4) plus IRR and
 * ISR cleared, as QEMU does. The edge detectors are not reset: a line held
 * high must fall and rise again to request, as the datasheet says.
 */
static void chip_icw1(struct dev_pic_chip *c, uint8_t value)
{
	c->irr = c->lines & c->elcr;
	c->isr = 0;
	c->imr = 0;
	c->highest = 0;
	c->special_mask = false;
	c->read_isr = false;
	c->poll = false;
	c->auto_eoi = false;
	c->rotate_on_auto_eoi = false;
	c->special_fully_nested = false;
	c->icw4_needed = value & ICW1_IC4;
	c->single = value & ICW1_SNGL;
	c->init_step = 2;
}

static void chip_ocw2(struct dev_pic_chip *c, uint8_t value)
{
	unsigned ir = value & 7u;
	int served;

	switch (value >> 5) {
	case OCW2_ROTATE_AEOI_CLEAR:
		c->rotate_on_auto_eoi = false;
		break;
	case OCW2_ROTATE_AEOI_SET:
		c->rotate_on_auto_eoi = true;
		break;
	case OCW2_EOI:
	case OCW2_ROTATE_EOI:
		/* Non-specific: the highest-priority level in service. */
		served = chip_highest(c, c->isr);
		if (served < 0)
			break;
		c->isr &= (uint8_t)~(1u << served);
		if ((value >> 5) == OCW2_ROTATE_EOI)
			c->highest = (uint8_t)((served + 1) & 7);
		break;
	case OCW2_SPECIFIC_EOI:
		c->isr &= (uint8_t)~(1u << ir);
		break;
	case OCW2_ROTATE_SPECIFIC_EOI:
		c->isr &= (uint8_t)~(1u << ir);
		c->highest = (uint8_t)((ir + 1) & 7u);
		break;
	case OCW2_SET_PRIORITY:
		/* `ir` becomes the lowest priority. */
		c->highest = (uint8_t)((ir + 1) & 7u);
		break;
	default:
		break; /* OCW2_NOP */
	}
}

static void chip_write_even(struct dev_pic_chip *c, uint8_t value)
{
	if (value & ICW1) {
		chip_icw1(c, value);
	} else if (value & OCW3) {
		if (value & OCW3_POLL)
			c->poll = true;
		if (value & OCW3_RR)
			c->read_isr = value & OCW3_RIS;
		if (value & OCW3_ESMM)
			c->special_mask = value & OCW3_SMM;
	} else {
		chip_ocw2(c, value);
	}
}

static void chip_write_odd(struct dev_pic_chip *c, uint8_t value)
{
	switch (c->init_step) {
	case 2: /* ICW2: the vector base */
		c->vector_base = value & 0xf8u;
		c->init_step = c->single ? (c->icw4_needed ? 4 : 0) : 3;
		break;
	case 3: /* ICW3: the cascade wiring, fixed on a PC */
		c->init_step = c->icw4_needed ? 4 : 0;
		break;
	case 4:
		c->auto_eoi = value & ICW4_AEOI;
		c->special_fully_nested = value & ICW4_SFNM;
		c->init_step = 0;
		break;
	default: /* OCW1 */
		c->imr = value;
		break;
	}
}

/* A poll read is an interrupt acknowledge that returns 0x80 | IR instead
 * of a vector, or 0 when nothing is pending. */
static uint8_t chip_poll(struct dev_pic_chip *c, bool is_master)
{
	int ir = chip_pending(c, is_master);

	c->poll = false;
	if (ir < 0)
		return 0;
	chip_acknowledge(c, (unsigned)ir);
	return (uint8_t)(0x80u | (unsigned)ir);
}

void dev_pic_init(struct dev_pic *pic)
{
	static const struct { uint8_t base, imr, elcr_mask; } seabios[2] = {
		/* The PIIX lets IRQ 0-2 and 8, 13 be edge only, as QEMU does. */
		{ 0x08, 0xb8, 0xf8 },
		{ 0x70, 0x8e, 0xde },
	};

	memset(pic, 0, sizeof(*pic));
	for (unsigned i = 0; i < 2; i++) {
		struct dev_pic_chip *c = &pic->chip[i];

		chip_icw1(c, ICW1 | ICW1_IC4);
		c->vector_base = seabios[i].base;
		c->imr = seabios[i].imr;
		c->elcr_mask = seabios[i].elcr_mask;
		c->init_step = 0;
	}
}

void dev_pic_set_irq(struct dev_pic *pic, unsigned irq, bool level)
{
	/* IR2 belongs to the cascade; an ISA card's IRQ 2 is wired to IRQ 9. */
	BTVMM_CHECK(irq < 16 && irq != CASCADE_IR);
	chip_set_line(&pic->chip[irq >> 3], irq & 7u, level);
	pic_cascade(pic);
}

bool dev_pic_intr(struct dev_pic *pic)
{
	pic_cascade(pic);
	return chip_pending(&pic->chip[MASTER], true) >= 0;
}

/*
 * The request may have gone since INTR was sampled (masked, or a level
 * input dropped): the chip then answers with IR7's vector and sets no ISR
 * bit. If it went on the slave after the master granted IR2, the master's
 * IR2 is in service and the slave answers IR7 (IRQ 15), which is why
 * Linux's handler for a spurious IRQ 15 still sends the master an EOI.
 */
uint8_t dev_pic_inta(struct dev_pic *pic)
{
	struct dev_pic_chip *master = &pic->chip[MASTER];
	struct dev_pic_chip *slave = &pic->chip[SLAVE];
	int ir, slave_ir;
	uint8_t vector;

	pic_cascade(pic);
	ir = chip_pending(master, true);
	if (ir < 0)
		return master->vector_base | SPURIOUS_IR;
	chip_acknowledge(master, (unsigned)ir);
	if (ir != (int)CASCADE_IR || master->single)
		return (uint8_t)(master->vector_base | (unsigned)ir);

	slave_ir = chip_pending(slave, false);
	if (slave_ir < 0) {
		vector = slave->vector_base | SPURIOUS_IR;
	} else {
		chip_acknowledge(slave, (unsigned)slave_ir);
		vector = (uint8_t)(slave->vector_base | (unsigned)slave_ir);
	}
	/* The master took this cascade request: a slave that still asserts
	 * INT (another request, auto-EOI) is a new request, not a stale
	 * level, or it would never be heard. */
	master->lines &= (uint8_t)~(1u << CASCADE_IR);
	pic_cascade(pic);
	return vector;
}

/* The slave answers at 0xa0/0xa1, the master at 0x20/0x21: bit 7 tells. */
static struct dev_pic_chip *pic_chip_at(struct dev_pic *pic, uint16_t port)
{
	return &pic->chip[(port & 0x80u) ? SLAVE : MASTER];
}

static uint32_t pic_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_pic *pic = dev;
	struct dev_pic_chip *c = pic_chip_at(pic, port);
	uint8_t value;

	pic_cascade(pic);
	if (c->poll)
		value = chip_poll(c, c == &pic->chip[MASTER]);
	else if (port & 1u)
		value = c->imr;
	else
		value = c->read_isr ? c->isr : c->irr;
	pic_cascade(pic);
	return value;
}

static void pic_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	struct dev_pic *pic = dev;
	struct dev_pic_chip *c = pic_chip_at(pic, port);

	if (port & 1u)
		chip_write_odd(c, (uint8_t)value);
	else
		chip_write_even(c, (uint8_t)value);
	pic_cascade(pic);
}

const struct dev_pio_ops dev_pic_ops = {
	.name = "i8259",
	.max_access = 1,
	.read = pic_read,
	.write = pic_write,
};

/* Edge/level control: 0x4d0 for IRQ 0-7, 0x4d1 for IRQ 8-15. */
static uint32_t elcr_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_pic *pic = dev;

	return pic->chip[port & 1u].elcr;
}

static void elcr_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	struct dev_pic *pic = dev;
	struct dev_pic_chip *c = &pic->chip[port & 1u];

	c->elcr = (uint8_t)value & c->elcr_mask;
	/* A line that becomes level-triggered requests while it is high. */
	c->irr = (uint8_t)((c->irr & ~c->elcr) | (c->lines & c->elcr));
	pic_cascade(pic);
}

const struct dev_pio_ops dev_elcr_ops = {
	.name = "elcr",
	.max_access = 1,
	.read = elcr_read,
	.write = elcr_write,
};
