/* devices: system control port A (0x92): fast reset and the A20 gate bit. */
#include "devices_internal.h"

/*
 * Bit 0 written 0 -> 1 resets the machine; bit 1 is the A20 gate, which
 * btvmm always has open, so it is only remembered. Reads give back what was
 * written, as QEMU's port92 does.
 */

#define PORT92_RESET 0x01u
#define PORT92_A20   0x02u

/* SeaBIOS opens A20 through this port before the guest starts. */
void dev_port92_init(struct dev_port92 *p92, struct dev_stop *stop)
{
	p92->stop = stop;
	p92->value = PORT92_A20;
}

static uint32_t port92_read(void *dev, uint16_t port, unsigned size)
{
	const struct dev_port92 *p92 = dev;

	return p92->value;
}

static void port92_write(void *dev, uint16_t port, unsigned size,
			 uint32_t value)
{
	struct dev_port92 *p92 = dev;
	uint8_t old = p92->value;

	p92->value = (uint8_t)value;
	if ((value & PORT92_RESET) && !(old & PORT92_RESET))
		dev_stop_request(p92->stop, DEV_STOP_RESET, 0);
}

const struct dev_pio_ops dev_port92_ops = {
	.name = "port92",
	.max_access = 1,
	.read = port92_read,
	.write = port92_write,
};
