/* devices: the PC platform, every standard device registered from one table. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "devices_internal.h"

struct dev_platform {
	struct dev_bus *bus;
	struct dev_stop stop;   /* also the isa-debug-exit device state */
	struct dev_uart com1;
	struct dev_i8042 i8042;
};

void dev_stop_request(struct dev_stop *stop, enum dev_stop_reason reason,
		      int status)
{
	if (stop->reason != DEV_RUNNING)
		return;
	stop->reason = reason;
	stop->status = status;
}

/*
 * The platform's port map. Device state is embedded in struct dev_platform;
 * each row names it by offset (SIZE_MAX: the device keeps no state). This
 * is the only place a device is wired up: a device missing here does not
 * exist for the guest.
 */
static const struct platform_port_row {
	uint16_t first;
	uint16_t count;
	const struct dev_pio_ops *ops;
	size_t state; /* offsetof(struct dev_platform, ...) or SIZE_MAX */
} platform_ports[] = {
	/* i8042 data port; 0x61 (system control port B) is not modelled. */
	{ 0x0060, 1, &dev_i8042_ops, offsetof(struct dev_platform, i8042) },
	/* i8042 status register and command port. */
	{ 0x0064, 1, &dev_i8042_ops, offsetof(struct dev_platform, i8042) },
	/* POST codes, and Linux's I/O delay. */
	{ 0x0080, 1, &dev_port80_ops, SIZE_MAX },
	/* isa-debug-exit where QEMU's test setup puts it (iobase 0xf4, 4). */
	{ 0x00f4, 4, &dev_debug_exit_ops, offsetof(struct dev_platform, stop) },
	/* COM1. */
	{ 0x03f8, 8, &dev_uart_ops, offsetof(struct dev_platform, com1) },
};

struct dev_platform *dev_platform_create(const struct dev_platform_config *cfg)
{
	struct dev_platform *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->bus = dev_bus_create();
	if (!p->bus) {
		free(p);
		return NULL;
	}
	dev_bus_set_trace(p->bus, cfg->trace_io);
	dev_uart_init(&p->com1, &cfg->serial);
	dev_i8042_init(&p->i8042, &p->stop);
	for (size_t i = 0; i < sizeof(platform_ports) / sizeof(platform_ports[0]); i++) {
		const struct platform_port_row *row = &platform_ports[i];
		void *state = row->state == SIZE_MAX ? NULL : (char *)p + row->state;
		int err = dev_bus_register(p->bus, row->first, row->count,
					   row->ops, state);

		/* The table is fixed: a clash in it is a bug in this file. */
		if (err) {
			fprintf(stderr, "devices: bug: %s at 0x%x: error %d\n",
				row->ops->name, row->first, err);
			abort();
		}
	}
	return p;
}

void dev_platform_destroy(struct dev_platform *p)
{
	if (!p)
		return;
	dev_bus_destroy(p->bus);
	free(p);
}

struct dev_bus *dev_platform_bus(struct dev_platform *p)
{
	return p->bus;
}

struct dev_uart *dev_platform_com1(struct dev_platform *p)
{
	return &p->com1;
}

enum dev_stop_reason dev_platform_stop_reason(const struct dev_platform *p,
					      int *status)
{
	if (p->stop.reason == DEV_STOP_DEBUG_EXIT && status)
		*status = p->stop.status;
	return p->stop.reason;
}

/* The UART hands every byte to the sink as it is written, so there is
 * nothing here to flush; a sink that buffers flushes itself. */
void dev_platform_flush(struct dev_platform *p)
{
}
