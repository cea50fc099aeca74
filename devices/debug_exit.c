/* devices: isa-debug-exit, the port through which test guests end the run. */
#include "devices_internal.h"

/*
 * QEMU's -device isa-debug-exit,iobase=0xf4,iosize=0x04: a write of v (of
 * any width, at any of the four ports) ends the run with status
 * (v << 1) | 1, so a guest can never fake a clean exit 0. The status is
 * computed in 32 bits; the process exit code is its low 8 bits, as in QEMU.
 * Reads return 0, as QEMU's do (seen under qemu-system-i386 7.2).
 */
static uint32_t debug_exit_read(void *dev, uint16_t port, unsigned size)
{
	return 0;
}

static void debug_exit_write(void *dev, uint16_t port, unsigned size,
			     uint32_t value)
{
	uint32_t status = (value << 1) | 1u;

	/* Conversion of values above INT_MAX wraps (GCC's documented rule). */
	dev_stop_request(dev, DEV_STOP_DEBUG_EXIT, (int)status);
}

const struct dev_pio_ops dev_debug_exit_ops = {
	.name = "isa-debug-exit",
	.read = debug_exit_read,
	.write = debug_exit_write,
};
