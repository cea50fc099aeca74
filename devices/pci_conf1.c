/* devices: PCI configuration mechanism #1 with one device, a host bridge, and the PIIX reset control register. */
#include <string.h>

#include "devices_internal.h"

/*
 * 0xcf8: CONFIG_ADDRESS (enable bit 31, bus 23:16, device 15:11, function
 * 10:8, register 7:2); 0xcfc-0xcff: CONFIG_DATA. Linux probes type 1 by
 * writing CONFIG_ADDRESS and reading it back, then insists on finding a
 * host bridge on bus 0 before it trusts the mechanism; so 00:00.0 answers
 * as an Intel 440FX host bridge (QEMU's) and every other function reads as
 * absent (all ones). Its configuration space is read-only.
 *
 * 0xcf9 is also the PIIX reset control register, for byte accesses only
 * (QEMU's RCR region overlaps CONFIG_ADDRESS the same way): bit 2 written
 * as 1 resets the machine (bit 1, hard or soft, makes no difference here),
 * and reads give back bit 1. A 32-bit access at 0xcf8 is CONFIG_ADDRESS.
 */

#define RCR_PORT      0xcf9u
#define RCR_RESET     0x04u
#define RCR_HARD      0x02u

static uint32_t bridge_dword(unsigned reg)
{
	switch (reg) {
	case 0x00: return 0x12378086u; /* device 0x1237, vendor 0x8086 */
	case 0x04: return 0x02000006u; /* status, command: memory + bus master */
	case 0x08: return 0x06000002u; /* class: host bridge, revision 2 */
	case 0x0c: return 0x00000000u; /* header type 0, single function */
	default: return 0;
	}
}

static uint32_t conf1_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_pci *pci = dev;
	if (port == RCR_PORT && size == 1)
		return pci->rcr;
	if (port == 0xcf8)
		return size == 4 ? pci->address : 0xffffffffu;
	uint32_t a = pci->address;
	uint32_t v = 0xffffffffu;
	if ((a & 0x80000000u) && ((a >> 8) & 0xffff) == 0) /* bus 0, device 0, function 0 */
		v = bridge_dword(a & 0xfc);
	unsigned shift = (port & 3u) * 8;
	return size == 4 ? v : (v >> shift) & (size == 2 ? 0xffffu : 0xffu);
}

static void conf1_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	struct dev_pci *pci = dev;
	if (port == RCR_PORT && size == 1) {
		if (value & RCR_RESET)
			dev_stop_request(pci->stop, DEV_STOP_RESET, 0);
		else
			pci->rcr = value & RCR_HARD;
		return;
	}
	if (port == 0xcf8 && size == 4)
		pci->address = value & 0x80fffffcu;
	/* CONFIG_DATA writes: nothing is writable. */
}

const struct dev_pio_ops dev_pci_conf1_ops = {
	.name = "pci-conf1",
	.read = conf1_read,
	.write = conf1_write,
};
