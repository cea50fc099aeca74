/* devices: the port-I/O bus: range claims, dispatch of IN/OUT, counters. */
#include "invariant.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "devices_internal.h"

/*
 * Ports are looked up through a 64 Ki-entry table of one-byte range indices
 * (0 = unclaimed), so dispatch costs one load whatever the number of
 * devices. That caps a bus at 255 claims, far more than a PC has.
 */
#define BUS_PORTS     0x10000u
#define BUS_MAX_RANGE 255u

struct bus_range {
	uint16_t first;
	uint32_t count;
	const struct dev_pio_ops *ops;
	void *dev;
};

struct dev_bus {
	uint8_t owner[BUS_PORTS];               /* range index + 1, or 0 */
	struct bus_range ranges[BUS_MAX_RANGE];
	unsigned nranges;
	struct dev_bus_stats stats;
	FILE *trace;     /* each access printed there, or NULL */
};

struct dev_bus *dev_bus_create(void)
{
	return calloc(1, sizeof(struct dev_bus));
}

void dev_bus_destroy(struct dev_bus *bus)
{
	free(bus);
}

int dev_bus_register(struct dev_bus *bus, uint16_t first, uint32_t count,
		     const struct dev_pio_ops *ops, void *dev)
{
	if (count == 0 || (uint32_t)first + count > BUS_PORTS || ops == NULL)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++)
		if (bus->owner[first + i] != 0)
			return -EBUSY;
	/* A released claim leaves a hole (ops NULL) that the next claim reuses. */
	unsigned slot = 0;
	while (slot < bus->nranges && bus->ranges[slot].ops)
		slot++;
	if (slot == BUS_MAX_RANGE)
		return -ENOSPC;
	bus->ranges[slot] = (struct bus_range){
		.first = first, .count = count, .ops = ops, .dev = dev,
	};
	if (slot == bus->nranges)
		bus->nranges++;
	for (uint32_t i = 0; i < count; i++)
		bus->owner[first + i] = (uint8_t)(slot + 1);
	return 0;
}

int dev_bus_unregister(struct dev_bus *bus, uint16_t first,
		       const struct dev_pio_ops *ops, void *dev)
{
	uint8_t idx = bus->owner[first];
	struct bus_range *r = idx ? &bus->ranges[idx - 1] : NULL;

	if (!r || r->first != first || r->ops != ops || r->dev != dev)
		return -ENOENT;
	for (uint32_t i = 0; i < r->count; i++)
		bus->owner[first + i] = 0;
	r->ops = NULL;
	return 0;
}

void dev_bus_set_trace(struct dev_bus *bus, FILE *out)
{
	bus->trace = out;
}

/*
 * An access belongs to the device that owns its first port; the device
 * decides what a wide access means (the UART, like QEMU's, refuses them).
 * Return the range or NULL.
 */
static const struct bus_range *bus_lookup(const struct dev_bus *bus,
					  uint16_t port)
{
	uint8_t idx = bus->owner[port];

	return idx ? &bus->ranges[idx - 1] : NULL;
}

static void bus_trace(FILE *out, const char *dir, uint16_t port, unsigned size,
		      uint32_t value, const struct bus_range *r)
{
	fprintf(out, "io: %s 0x%x %u 0x%x%s\n", dir, port, size, value,
		r ? "" : " (unclaimed)");
}

uint32_t dev_pio_in(struct dev_bus *bus, uint16_t port, unsigned size)
{
	const struct bus_range *r = bus_lookup(bus, port);
	if (r && r->ops->max_access && size > r->ops->max_access) {
		uint32_t v = 0;
		for (unsigned i = 0; i < size; i++)
			v |= dev_pio_in(bus, (uint16_t)(port + i), 1) << (8 * i);
		return v;
	}
	uint32_t value;

	BTVMM_CHECK(size == 1 || size == 2 || size == 4);
	bus->stats.reads++;
	if (r && r->ops->read) {
		/* Mask so a sloppy device cannot leak bits above the access. */
		value = r->ops->read(r->dev, port, size) & dev_all_ones(size);
	} else {
		value = dev_all_ones(size);
		if (!r)
			bus->stats.unclaimed++;
	}
	if (bus->trace)
		bus_trace(bus->trace, "in", port, size, value, r);
	return value;
}

void dev_pio_out(struct dev_bus *bus, uint16_t port, unsigned size,
		 uint32_t value)
{
	const struct bus_range *r = bus_lookup(bus, port);
	if (r && r->ops->max_access && size > r->ops->max_access) {
		for (unsigned i = 0; i < size; i++)
			dev_pio_out(bus, (uint16_t)(port + i), 1, (value >> (8 * i)) & 0xff);
		return;
	}

	BTVMM_CHECK(size == 1 || size == 2 || size == 4);
	value &= dev_all_ones(size);
	bus->stats.writes++;
	if (!r)
		bus->stats.unclaimed++;
	if (bus->trace)
		bus_trace(bus->trace, "out", port, size, value, r);
	if (r && r->ops->write)
		r->ops->write(r->dev, port, size, value);
}

void dev_bus_get_stats(const struct dev_bus *bus, struct dev_bus_stats *out)
{
	*out = bus->stats;
}
