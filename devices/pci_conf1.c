/* devices: PCI configuration mechanism #1, the functions on bus 0 (host bridge, devices' BARs and INTx) and the PIIX reset control register. */
#include <errno.h>
#include <string.h>

#include "devices_internal.h"
#include "pc_map.h"

/*
 * 0xcf8: CONFIG_ADDRESS (enable bit 31, bus 23:16, device 15:11, function
 * 10:8, register 7:2); 0xcfc-0xcff: CONFIG_DATA, any width at any offset
 * within the dword. Linux probes type 1 by writing CONFIG_ADDRESS and
 * reading it back, then insists on finding a host bridge on bus 0 before
 * it trusts the mechanism; so 00:00.0 is QEMU's Intel 440FX. Functions
 * that do not exist, and every other bus, read as all ones.
 *
 * Each function's configuration space is 256 bytes with a write mask:
 * a config write changes only the mask's bits, then the I/O BAR claims
 * on the port bus are brought in line with the command register and the
 * BARs. BAR sizing works as on hardware: writing all ones leaves the
 * size's address bits clear, and the guest reads the mask back.
 *
 * 0xcf9 is also the PIIX reset control register, for byte accesses only
 * (QEMU's RCR region overlaps CONFIG_ADDRESS the same way): bit 2 written
 * as 1 resets the machine (bit 1, hard or soft, makes no difference here),
 * and reads give back bit 1. A 32-bit access at 0xcf8 is CONFIG_ADDRESS.
 */

#define RCR_PORT      0xcf9u
#define RCR_RESET     0x04u
#define RCR_HARD      0x02u

#define CONF_ADDRESS_ENABLE 0x80000000u
#define PCI_BAR_IO          0x01u /* bit 0 of an I/O BAR */

/* The host bridge: read-only but for the bits every function has. */
static void host_bridge_init(struct dev_pci_function *f)
{
	memset(f, 0, sizeof(*f));
	dev_pci_set16(f, PCI_VENDOR_ID, 0x8086);
	dev_pci_set16(f, PCI_VENDOR_ID + 2, 0x1237); /* 440FX */
	dev_pci_set16(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	dev_pci_set16(f, PCI_STATUS, 0x0200); /* DEVSEL medium */
	f->config[PCI_REVISION] = 0x02;
	f->config[PCI_CLASS_PROG + 2] = 0x06; /* bridge, */
	f->config[PCI_CLASS_PROG + 1] = 0x00; /* host */
}

static struct dev_pci_function *pci_find(struct dev_pci *pci, unsigned devfn)
{
	for (unsigned i = 0; i < pci->nfunc; i++)
		if (pci->func[i]->devfn == devfn)
			return pci->func[i];
	return NULL;
}

void dev_pci_init(struct dev_pci *pci, struct dev_bus *bus,
		  const struct dev_irq_line *irq_out)
{
	memset(pci, 0, sizeof(*pci));
	pci->bus = bus;
	if (irq_out)
		pci->irq_out = *irq_out;
	pci->next_io = DEV_PCI_IO_START;
	host_bridge_init(&pci->host_bridge);
	pci->func[pci->nfunc++] = &pci->host_bridge;
}

static uint32_t bar_value(const struct dev_pci_function *f, unsigned n)
{
	const uint8_t *b = &f->config[PCI_BAR0 + 4 * n];

	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static void set_bar_value(struct dev_pci_function *f, unsigned n, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		f->config[PCI_BAR0 + 4 * n + i] = (uint8_t)(v >> (8 * i));
}

/*
 * Where BAR n should be claimed now: its address if I/O decoding is on and
 * the whole range lies in the 64 KiB port space, else 0 (unmapped). Port
 * 0 is never a valid place: that is the BAR's reset value.
 */
static uint32_t bar_target(const struct dev_pci_function *f, unsigned n)
{
	uint32_t addr = bar_value(f, n) & ~(f->bar[n].size - 1) & ~3u;

	if (!(dev_pci_get16(f, PCI_COMMAND) & PCI_COMMAND_IO) || addr == 0)
		return 0;
	return addr + f->bar[n].size <= 0x10000u ? addr : 0;
}

/* Move each I/O BAR's claim to where the BAR and the command register
 * now say. A claim that clashes with another device is not made: the
 * guest put two devices on one port, and neither real hardware nor QEMU
 * promises anything then; here the first owner keeps it. */
static void pci_update_mappings(struct dev_pci *pci, struct dev_pci_function *f)
{
	for (unsigned n = 0; n < DEV_PCI_BARS; n++) {
		struct dev_pci_bar *bar = &f->bar[n];
		uint32_t target = bar->size ? bar_target(f, n) : 0;

		if (target == bar->mapped_at)
			continue;
		if (bar->mapped_at)
			dev_bus_unregister(pci->bus, bar->mapped_at, bar->ops, bar->dev);
		bar->mapped_at = 0;
		if (target && dev_bus_register(pci->bus, (uint16_t)target, bar->size,
					       bar->ops, bar->dev) == 0)
			bar->mapped_at = (uint16_t)target;
	}
}

/* The write masks every type-0 function shares; BARs by their size. */
static void pci_set_wmask(struct dev_pci_function *f)
{
	memset(f->wmask, 0, sizeof(f->wmask));
	f->wmask[PCI_COMMAND] = 0x47;     /* IO, MEM, MASTER, PARITY */
	f->wmask[PCI_COMMAND + 1] = 0x05; /* SERR, INTX_DISABLE */
	f->wmask[0x0c] = 0xff;            /* cache line size */
	f->wmask[0x0d] = 0xff;            /* latency timer */
	f->wmask[PCI_INTERRUPT_LINE] = 0xff;
	for (unsigned n = 0; n < DEV_PCI_BARS; n++) {
		uint32_t mask = f->bar[n].size ? ~(f->bar[n].size - 1) & ~3u : 0;
		for (unsigned i = 0; i < 4; i++)
			f->wmask[PCI_BAR0 + 4 * n + i] = (uint8_t)(mask >> (8 * i));
	}
}

int dev_pci_add(struct dev_pci *pci, struct dev_pci_function *f)
{
	if (pci_find(pci, f->devfn))
		return -EBUSY;
	if (pci->nfunc == DEV_PCI_MAX_FUNCS)
		return -ENOSPC;
	pci_set_wmask(f);
	/* As SeaBIOS: I/O BARs packed upward, each aligned to its size. */
	for (unsigned n = 0; n < DEV_PCI_BARS; n++) {
		uint32_t size = f->bar[n].size;
		if (!size)
			continue;
		uint32_t addr = (pci->next_io + size - 1) & ~(size - 1);
		if (addr + size > 0x10000u)
			return -ENOSPC;
		set_bar_value(f, n, addr | PCI_BAR_IO);
		pci->next_io = addr + size;
	}
	unsigned pin = f->config[PCI_INTERRUPT_PIN];
	f->irq = pin ? PC_PCI_GSI(f->devfn >> 3, pin - 1u) : 0;
	f->config[PCI_INTERRUPT_LINE] = pin ? (uint8_t)f->irq : 0xff;
	dev_pci_set16(f, PCI_COMMAND, dev_pci_get16(f, PCI_COMMAND) | PCI_COMMAND_IO);
	pci->func[pci->nfunc++] = f;
	pci_update_mappings(pci, f);
	return 0;
}

/* Drive f's ISA IRQ: the wired OR of every function routed there. */
static void pci_drive_irq(struct dev_pci *pci, unsigned irq)
{
	bool level = false;

	for (unsigned i = 0; i < pci->nfunc; i++) {
		const struct dev_pci_function *g = pci->func[i];
		if (g->irq == irq && (dev_pci_get16(g, PCI_STATUS) & PCI_STATUS_INTERRUPT) &&
		    !(dev_pci_get16(g, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE))
			level = true;
	}
	if (pci->irq_out.set)
		pci->irq_out.set(pci->irq_out.ctx, irq, level);
}

void dev_pci_set_intx(struct dev_pci *pci, struct dev_pci_function *f,
		      bool level)
{
	uint16_t status = dev_pci_get16(f, PCI_STATUS) & ~PCI_STATUS_INTERRUPT;

	dev_pci_set16(f, PCI_STATUS, status | (level ? PCI_STATUS_INTERRUPT : 0));
	if (f->config[PCI_INTERRUPT_PIN])
		pci_drive_irq(pci, f->irq);
}

/* The function CONFIG_ADDRESS selects, or NULL (disabled, not bus 0, absent). */
static struct dev_pci_function *conf1_target(struct dev_pci *pci)
{
	uint32_t a = pci->address;

	if (!(a & CONF_ADDRESS_ENABLE) || ((a >> 16) & 0xff) != 0)
		return NULL;
	return pci_find(pci, (a >> 8) & 0xff);
}

static uint32_t conf1_read(void *dev, uint16_t port, unsigned size)
{
	struct dev_pci *pci = dev;
	if (port == RCR_PORT && size == 1)
		return pci->rcr;
	if (port == 0xcf8)
		return size == 4 ? pci->address : 0xffffffffu;
	if (port < 0xcfc)
		return 0xffffffffu;
	struct dev_pci_function *f = conf1_target(pci);
	unsigned off = (pci->address & 0xfc) + (port & 3u);
	uint32_t v = 0;
	if (!f || off + size > 256)
		return 0xffffffffu;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)f->config[off + i] << (8 * i);
	return v;
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
	if (port == 0xcf8 && size == 4) {
		pci->address = value & 0x80fffffcu;
		return;
	}
	struct dev_pci_function *f = port >= 0xcfc ? conf1_target(pci) : NULL;
	unsigned off = (pci->address & 0xfc) + (port & 3u);
	if (!f || off + size > 256)
		return;
	bool intx_disable_was = dev_pci_get16(f, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
	for (unsigned i = 0; i < size; i++) {
		uint8_t m = f->wmask[off + i];
		uint8_t b = (uint8_t)(value >> (8 * i));
		f->config[off + i] = (uint8_t)((f->config[off + i] & ~m) | (b & m));
	}
	pci_update_mappings(pci, f);
	bool intx_disable = dev_pci_get16(f, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
	if (intx_disable != intx_disable_was && f->config[PCI_INTERRUPT_PIN])
		pci_drive_irq(pci, f->irq);
}

const struct dev_pio_ops dev_pci_conf1_ops = {
	.name = "pci-conf1",
	.read = conf1_read,
	.write = conf1_write,
};
