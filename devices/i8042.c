/* devices: the i8042 keyboard controller, enough for reset and probing. */
#include <string.h>

#include "devices_internal.h"

/*
 * Port 0x60 is the data port (output buffer on read, command data or
 * keyboard bytes on write); port 0x64 reads the status register and takes
 * controller commands. No keyboard or mouse is attached yet: bytes written
 * for the keyboard (or, with 0xd4, for the mouse) are dropped, so a driver
 * that waits for an answer times out as on a PC with nothing plugged in.
 * The AUX port itself works: 0xd3 loops a byte back as if the mouse had
 * sent it, which is how Linux decides there is an AUX port at all.
 *
 * Each byte in the output buffer remembers whether it is AUX data. As in
 * QEMU's pckbd, the head byte drives status bit 5 and the interrupt lines:
 * IRQ 12 when it is AUX data and the command byte enables AUX interrupts,
 * else IRQ 1 when keyboard interrupts are enabled and the keyboard is not
 * disabled (QEMU's shortcut for "a disabled keyboard sends nothing").
 * Reading the data port drops the lines before the next byte comes up, so
 * every byte is a new edge for the PIC.
 *
 * The initial state is what QEMU's guests find after SeaBIOS (probe guest
 * under qemu-system-i386 7.2): status 0x1c (system flag, last write was a
 * command, keyboard unlocked), command byte 0x61 (translation, mouse
 * disabled, keyboard interrupt), output port 0xcf, and a last data byte of
 * 0xfa (SeaBIOS's keyboard ACK) returned by reads of an empty buffer.
 */

#define PORT_DATA      0x60u
#define STAT_OBF       0x01u /* output buffer full */
#define STAT_SYS       0x04u /* system flag: self-test passed */
#define STAT_AUX       0x20u /* the output buffer holds AUX data */
#define CMDB_KBD_INT   0x01u /* command byte: keyboard data raises IRQ 1 */
#define CMDB_AUX_INT   0x02u /* command byte: AUX data raises IRQ 12 */
#define CMDB_KBD_OFF   0x10u /* command byte: keyboard clock disabled */
#define CMDB_AUX_OFF   0x20u /* command byte: mouse clock disabled */
#define OUTPORT_RESET  0x01u /* output port bit 0: 0 pulls the CPU reset */

enum {
	CMD_NONE = 0x00,
	CMD_READ_CMDBYTE = 0x20,
	CMD_WRITE_CMDBYTE = 0x60,
	CMD_AUX_DISABLE = 0xa7,
	CMD_AUX_ENABLE = 0xa8,
	CMD_AUX_TEST = 0xa9,
	CMD_SELF_TEST = 0xaa,
	CMD_KBD_TEST = 0xab,
	CMD_KBD_DISABLE = 0xad,
	CMD_KBD_ENABLE = 0xae,
	CMD_READ_OUTPORT = 0xd0,
	CMD_WRITE_OUTPORT = 0xd1,
	CMD_WRITE_KBD_OBUF = 0xd2,
	CMD_WRITE_AUX_OBUF = 0xd3,
	CMD_PULSE_FIRST = 0xf0, /* 0xf0-0xff pulse output lines 3:0 low */
};

void dev_i8042_init(struct dev_i8042 *kbc, struct dev_stop *stop)
{
	memset(kbc, 0, sizeof(*kbc));
	kbc->stop = stop;
	kbc->status = 0x1c;
	kbc->command_byte = 0x61;
	kbc->outport = 0xcf;
	kbc->last = 0xfa;
}

static bool kbc_head_is_aux(const struct dev_i8042 *kbc)
{
	return kbc->queue_count && kbc->queue_aux[0];
}

static uint8_t kbc_status(const struct dev_i8042 *kbc)
{
	uint8_t status = kbc->status;

	if (kbc->queue_count)
		status |= STAT_OBF;
	if (kbc_head_is_aux(kbc))
		status |= STAT_AUX;
	return status;
}

static void kbc_set_lines(struct dev_i8042 *kbc, bool kbd, bool aux)
{
	if (!kbc->irqs)
		return;
	dev_isa_set_irq(kbc->irqs, DEV_I8042_IRQ_KBD, kbd);
	dev_isa_set_irq(kbc->irqs, DEV_I8042_IRQ_AUX, aux);
}

/* Drive IRQ 1 and 12 from the head byte and the command byte. The PIC
 * sees an edge only when a level changes, so calling this after any
 * write is harmless. */
static void kbc_update_irq(struct dev_i8042 *kbc)
{
	uint8_t cmdb = kbc->command_byte;
	bool kbd = false, aux = false;

	if (kbc_head_is_aux(kbc))
		aux = cmdb & CMDB_AUX_INT;
	else if (kbc->queue_count)
		kbd = (cmdb & CMDB_KBD_INT) && !(cmdb & CMDB_KBD_OFF);
	kbc_set_lines(kbc, kbd, aux);
}

void dev_i8042_connect_irq(struct dev_i8042 *kbc, struct dev_isa_irqs *irqs)
{
	kbc->irqs = irqs;
	kbc_update_irq(kbc);
}

/* Queue a byte for the guest; a full queue drops it (never happens with
 * the one-byte answers below, but a guest could issue commands forever). */
static void kbc_queue(struct dev_i8042 *kbc, uint8_t byte, bool aux)
{
	if (kbc->queue_count < DEV_I8042_QUEUE_SIZE) {
		kbc->queue[kbc->queue_count] = byte;
		kbc->queue_aux[kbc->queue_count] = aux;
		kbc->queue_count++;
	}
	kbc_update_irq(kbc);
}

static uint8_t kbc_read_data(struct dev_i8042 *kbc)
{
	if (kbc->queue_count) {
		/* Low first, as QEMU: a next byte raises a fresh edge. */
		kbc_set_lines(kbc, false, false);
		kbc->last = kbc->queue[0];
		kbc->queue_count--;
		memmove(kbc->queue, kbc->queue + 1, kbc->queue_count);
		memmove(kbc->queue_aux, kbc->queue_aux + 1,
			kbc->queue_count * sizeof(kbc->queue_aux[0]));
		kbc_update_irq(kbc);
	}
	return kbc->last;
}

static void kbc_write_outport(struct dev_i8042 *kbc, uint8_t value)
{
	kbc->outport = value;
	/* Bit 0 is wired to the CPU's reset line, active low. A20 (bit 1) is
	 * always on for btvmm, so the bit is stored and otherwise ignored. */
	if (!(value & OUTPORT_RESET))
		dev_stop_request(kbc->stop, DEV_STOP_RESET, 0);
}

static void kbc_command(struct dev_i8042 *kbc, uint8_t cmd)
{
	/* "Pulse output lines": bit n clear pulses line n; line 0 is reset. */
	if (cmd >= CMD_PULSE_FIRST) {
		if (!(cmd & 1u))
			dev_stop_request(kbc->stop, DEV_STOP_RESET, 0);
		return;
	}
	switch (cmd) {
	case CMD_READ_CMDBYTE:
		kbc_queue(kbc, kbc->command_byte, false);
		break;
	case CMD_WRITE_CMDBYTE:
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
		kbc->pending = cmd; /* the data byte follows on port 0x60 */
		break;
	case CMD_AUX_DISABLE:
		kbc->command_byte |= CMDB_AUX_OFF;
		break;
	case CMD_AUX_ENABLE:
		kbc->command_byte &= (uint8_t)~CMDB_AUX_OFF;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		kbc_queue(kbc, 0x00, false); /* interface test passed */
		break;
	case CMD_SELF_TEST:
		kbc->status |= STAT_SYS;
		kbc_queue(kbc, 0x55, false);
		break;
	case CMD_KBD_DISABLE:
		kbc->command_byte |= CMDB_KBD_OFF;
		break;
	case CMD_KBD_ENABLE:
		kbc->command_byte &= (uint8_t)~CMDB_KBD_OFF;
		break;
	case CMD_READ_OUTPORT:
		kbc_queue(kbc, kbc->outport, false);
		break;
	default:
		break; /* unknown commands are ignored, as QEMU does */
	}
}

static void kbc_write_data(struct dev_i8042 *kbc, uint8_t value)
{
	uint8_t cmd = kbc->pending;

	kbc->pending = CMD_NONE;
	switch (cmd) {
	case CMD_WRITE_CMDBYTE:
		kbc->command_byte = value;
		break;
	case CMD_WRITE_OUTPORT:
		kbc_write_outport(kbc, value);
		break;
	case CMD_WRITE_KBD_OBUF:
		kbc_queue(kbc, value, false);
		break;
	case CMD_WRITE_AUX_OBUF:
		kbc_queue(kbc, value, true);
		break;
	default:
		break; /* for the keyboard or (0xd4) the mouse: not attached */
	}
}

/* The controller is a byte device; a wider access touches its first port. */
static uint32_t i8042_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_i8042 *kbc = dev;

	if (port == PORT_DATA)
		return kbc_read_data(kbc);
	return kbc_status(kbc);
}

static void i8042_write(void *dev, uint16_t port, unsigned size,
			uint32_t value)
{
	struct dev_i8042 *kbc = dev;

	if (port == PORT_DATA)
		kbc_write_data(kbc, (uint8_t)value);
	else
		kbc_command(kbc, (uint8_t)value);
	/* Command byte writes and 0xad/0xae change the interrupt levels. */
	kbc_update_irq(kbc);
}

const struct dev_pio_ops dev_i8042_ops = {
	.max_access = 1,
	.name = "i8042",
	.read = i8042_read,
	.write = i8042_write,
};
