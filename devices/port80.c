/* devices: port 0x80, the POST diagnostic port firmware and Linux write to. */
#include "devices_internal.h"

/* Linux uses OUT 0x80 as an I/O delay; writes are ignored and reads give all
 * ones, as QEMU's ioport80 does. */
static uint32_t port80_read(void *dev, uint16_t port, unsigned size)
{
	return dev_all_ones(size);
}

static void port80_write(void *dev, uint16_t port, unsigned size,
			 uint32_t value)
{
}

const struct dev_pio_ops dev_port80_ops = {
	.name = "port80",
	.read = port80_read,
	.write = port80_write,
};
