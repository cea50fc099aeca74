/* devices: the I/O APIC (82093AA as QEMU models it, version 0x11, 24 pins). */
#include <string.h>

#include "devices_internal.h"

/*
 * Two registers in the window, repeated every 256 bytes as in QEMU:
 * IOREGSEL at 0x00 selects, IOWIN at 0x10 reads or writes the selected
 * register (32-bit accesses only; others read 0 and are dropped, QEMU).
 *
 *   0x00 ID (27:24)   0x01 version   0x02 arbitration (reads the ID)
 *   0x10 + 2n, 0x11 + 2n: redirection entry n, low and high dwords:
 *
 *    63      56 55     17 16   15    14     13   12  11   10:8   7:0
 *   +----------+---------+----+-----+------+----+----+----+------+------+
 *   | dest     | reserved|mask|trig |remote|pol |busy|log |mode  |vector|
 *   +----------+---------+----+-----+ IRR  +----+----+----+------+------+
 *
 * Delivery status (12) is always idle here; Remote IRR (14) is read-only.
 * The polarity bit is stored and, as in QEMU, not applied: the ISA
 * devices' lines are active high and so are the pins.
 */

#define REG_ID        0x00u
#define REG_VERSION   0x01u
#define REG_ARB       0x02u
#define REG_REDIR     0x10u
#define VERSION       (0x11u | (PC_IOAPIC_PINS - 1) << 16) /* 0x00170011 */

#define WIN_REGSEL    0x00u
#define WIN_DATA      0x10u

#define RE_VECTOR(e)  ((uint8_t)(e))
#define RE_MODE(e)    ((unsigned)((e) >> 8) & 7u)
#define RE_LOGICAL    (1ull << 11)
#define RE_REMOTE_IRR (1ull << 14)
#define RE_LEVEL      (1ull << 15)
#define RE_MASKED     (1ull << 16)
#define RE_DEST(e)    ((uint8_t)((e) >> 56))
#define RE_WRITABLE   0xff0000000001afffull /* not 12, 14, 55:17 */

enum { MODE_FIXED = 0, MODE_LOWEST = 1, MODE_EXTINT = 7 };

/*
 * Send entry `pin`'s message to the local APIC. Fixed and lowest-priority
 * go to the one CPU alike; ExtINT takes the 8259's vector at once, as QEMU
 * does; NMI, SMI and INIT have no path in btvmm and go nowhere. Return
 * whether the APIC accepted it.
 */
static bool ioapic_deliver(struct dev_ioapic *io, unsigned pin)
{
	uint64_t e = io->redir[pin];
	uint8_t vector = RE_VECTOR(e);

	if (!dev_lapic_is_destination(io->lapic, RE_DEST(e), e & RE_LOGICAL))
		return false;
	switch (RE_MODE(e)) {
	case MODE_FIXED:
	case MODE_LOWEST:
		break;
	case MODE_EXTINT:
		vector = dev_pic_inta(io->pic);
		break;
	default:
		return false;
	}
	return dev_lapic_accept(io->lapic, vector, e & RE_LEVEL);
}

/*
 * Deliver every unmasked request. An edge request is consumed; a level
 * one stays while the line is high but is sent again only after the EOI
 * clears Remote IRR, which is set only when the APIC took the message
 * (KVM's rule: a lost message does not wedge the pin).
 */
static void ioapic_service(struct dev_ioapic *io)
{
	for (unsigned pin = 0; pin < PC_IOAPIC_PINS; pin++) {
		uint64_t *e = &io->redir[pin];

		if (!(io->irr & (1u << pin)) || (*e & RE_MASKED))
			continue;
		if (!(*e & RE_LEVEL)) {
			io->irr &= ~(1u << pin);
			ioapic_deliver(io, pin);
		} else if (!(*e & RE_REMOTE_IRR) && ioapic_deliver(io, pin)) {
			*e |= RE_REMOTE_IRR;
		}
	}
}

void dev_ioapic_init(struct dev_ioapic *io, struct dev_lapic *lapic,
		     struct dev_pic *pic)
{
	memset(io, 0, sizeof(*io));
	io->lapic = lapic;
	io->pic = pic;
	io->id = PC_IOAPIC_ID;
	for (unsigned pin = 0; pin < PC_IOAPIC_PINS; pin++)
		io->redir[pin] = RE_MASKED;
}

void dev_ioapic_set_irq(struct dev_ioapic *io, unsigned pin, bool level)
{
	uint32_t bit;
	bool rising;
	uint64_t e;

	if (pin >= PC_IOAPIC_PINS)
		return;
	bit = 1u << pin;
	rising = level && !(io->lines & bit);
	e = io->redir[pin];
	io->lines = level ? io->lines | bit : io->lines & ~bit;
	if (e & RE_LEVEL) {
		io->irr = level ? io->irr | bit : io->irr & ~bit;
	} else if (rising && !(e & RE_MASKED)) {
		/* A masked edge pin ignores the edge (82093AA datasheet). */
		io->irr |= bit;
	}
	if (level)
		ioapic_service(io);
}

void dev_ioapic_eoi(struct dev_ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < PC_IOAPIC_PINS; pin++) {
		uint64_t *e = &io->redir[pin];

		if ((*e & RE_LEVEL) && RE_VECTOR(*e) == vector)
			*e &= ~RE_REMOTE_IRR;
	}
	ioapic_service(io);
}

bool dev_ioapic_pin_busy(const struct dev_ioapic *io, unsigned pin)
{
	uint64_t e = io->redir[pin];

	if (e & RE_MASKED)
		return false;
	return (e & RE_REMOTE_IRR) || (io->irr & (1u << pin)) ||
	       dev_lapic_vector_busy(io->lapic, RE_VECTOR(e));
}

static uint32_t ioapic_reg_read(const struct dev_ioapic *io)
{
	unsigned n;

	switch (io->regsel) {
	case REG_ID:
	case REG_ARB:
		return (uint32_t)io->id << 24;
	case REG_VERSION:
		return VERSION;
	default:
		break;
	}
	n = (io->regsel - REG_REDIR) / 2;
	if (io->regsel < REG_REDIR || n >= PC_IOAPIC_PINS)
		return 0xffffffffu; /* QEMU */
	return (uint32_t)(io->redir[n] >> ((io->regsel & 1u) * 32));
}

static void ioapic_reg_write(struct dev_ioapic *io, uint32_t value)
{
	uint64_t *e, shift, merged;
	unsigned n;

	if (io->regsel == REG_ID) {
		io->id = (uint8_t)((value >> 24) & 0xfu);
		return;
	}
	n = (io->regsel - REG_REDIR) / 2;
	if (io->regsel < REG_REDIR || n >= PC_IOAPIC_PINS)
		return; /* version, arbitration, nothing */
	e = &io->redir[n];
	shift = (io->regsel & 1u) * 32;
	merged = (*e & ~(0xffffffffull << shift)) | (uint64_t)value << shift;
	*e = (merged & RE_WRITABLE) | (*e & RE_REMOTE_IRR);
	/* Remote IRR means nothing on an edge pin (QEMU clears it). */
	if (!(*e & RE_LEVEL))
		*e &= ~RE_REMOTE_IRR;
	/* A level line found high on unmasking is a request. */
	ioapic_service(io);
}

static uint32_t ioapic_mmio_read(void *dev, uint32_t offset, unsigned size)
{
	struct dev_ioapic *io = dev;

	switch (offset & 0xffu) {
	case WIN_REGSEL:
		return io->regsel;
	case WIN_DATA:
		return size == 4 ? ioapic_reg_read(io) : 0;
	default:
		return 0;
	}
}

static void ioapic_mmio_write(void *dev, uint32_t offset, unsigned size,
			      uint32_t value)
{
	struct dev_ioapic *io = dev;

	switch (offset & 0xffu) {
	case WIN_REGSEL:
		io->regsel = value & 0xffu;
		break;
	case WIN_DATA:
		if (size == 4)
			ioapic_reg_write(io, value);
		break;
	default:
		break;
	}
}

const struct dev_mmio_ops dev_ioapic_ops = {
	.name = "ioapic",
	.read = ioapic_mmio_read,
	.write = ioapic_mmio_write,
};
