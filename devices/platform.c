/* devices: the PC platform, every standard device registered from one table (ports) or two (MMIO). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "devices_internal.h"
#include "pc_map.h"

#define PLATFORM_IDE_DRIVES 4u /* two channels, master and slave each */
#define PLATFORM_VIRTIO_MAX 4u /* PCI slots PC_VIRTIO_FIRST_SLOT.. */

struct dev_platform {
	struct dev_bus *bus;
	struct dev_clock clock; /* the embedder's; the timers point here */
	struct dev_stop stop;   /* also the isa-debug-exit device state */
	FILE *trace_mmio;
	struct dev_uart com1;
	struct dev_i8042 i8042;
	struct dev_pic pic;
	struct dev_isa_irqs isa_irqs; /* every ISA IRQ: 8259 and I/O APIC */
	struct dev_pit pit;     /* also port 0x61's state */
	struct dev_rtc rtc;
	struct dev_pci pci;     /* also 0xcf9, the PIIX reset control */
	struct dev_port92 port92;
	struct dev_acpi_pm acpi_pm;
	struct dev_lapic lapic;
	struct dev_ioapic ioapic;
	struct dev_hpet hpet;
	struct dev_ide_channel ide[2];  /* primary, secondary */
	struct dev_virtio_blk virtio[PLATFORM_VIRTIO_MAX];
	bool virtio_used[PLATFORM_VIRTIO_MAX];
	struct dev_disk *disks[PLATFORM_IDE_DRIVES + PLATFORM_VIRTIO_MAX];
	unsigned ndisks;
	struct dev_guest_ram ram;
	char why[256];                  /* dev_platform_add_drive's reason */
};

/* The ISA IRQ lines the platform's devices drive. */
#define IRQ_COM1 4u

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
	/* Master 8259A: command/IRR/ISR, IMR/ICW2-4. */
	{ 0x0020, 2, &dev_pic_ops, offsetof(struct dev_platform, pic) },
	/* 8254 PIT: channels 0-2 and the control word. */
	{ 0x0040, 4, &dev_pit_ops, offsetof(struct dev_platform, pit) },
	/* i8042 data port. */
	{ 0x0060, 1, &dev_i8042_ops, offsetof(struct dev_platform, i8042) },
	/* System control port B: PIT gate 2 and OUT2, speaker, refresh. */
	{ 0x0061, 1, &dev_port61_ops, offsetof(struct dev_platform, pit) },
	/* i8042 status register and command port. */
	{ 0x0064, 1, &dev_i8042_ops, offsetof(struct dev_platform, i8042) },
	/* CMOS index (and NMI mask) and data: the MC146818 RTC. */
	{ 0x0070, 2, &dev_rtc_ops, offsetof(struct dev_platform, rtc) },
	/* POST codes, and Linux's I/O delay. */
	{ 0x0080, 1, &dev_port80_ops, SIZE_MAX },
	/* System control port A: fast reset, A20. */
	{ PC_PORT92, 1, &dev_port92_ops, offsetof(struct dev_platform, port92) },
	/* Slave 8259A (IRQ 8-15, cascaded on the master's IR2). */
	{ 0x00a0, 2, &dev_pic_ops, offsetof(struct dev_platform, pic) },
	/* isa-debug-exit where QEMU's test setup puts it (iobase 0xf4, 4). */
	{ 0x00f4, 4, &dev_debug_exit_ops, offsetof(struct dev_platform, stop) },
	/* COM1. */
	{ 0x03f8, 8, &dev_uart_ops, offsetof(struct dev_platform, com1) },
	/* PIIX edge/level control for IRQ 0-7 and 8-15. */
	{ 0x04d0, 2, &dev_elcr_ops, offsetof(struct dev_platform, pic) },
	/* ACPI PM1a event block (status, enable) and control, PM timer. */
	{ PC_ACPI_PM1A_EVT, 4, &dev_acpi_pm_ops, offsetof(struct dev_platform, acpi_pm) },
	{ PC_ACPI_PM1A_CNT, 2, &dev_acpi_pm_ops, offsetof(struct dev_platform, acpi_pm) },
	{ PC_ACPI_PM_TMR, 4, &dev_acpi_pm_ops, offsetof(struct dev_platform, acpi_pm) },
	/* PCI configuration mechanism #1: CONFIG_ADDRESS and CONFIG_DATA,
	 * with the reset control register at 0xcf9. */
	{ 0x0cf8, 8, &dev_pci_conf1_ops, offsetof(struct dev_platform, pci) },
	/* Legacy IDE, secondary then primary channel: command and control
	 * blocks (0x3f7/0x377 are the floppy controller's, not here). */
	{ PC_IDE1_BASE, 8, &dev_ide_ops, offsetof(struct dev_platform, ide[1]) },
	{ PC_IDE1_CTRL, 1, &dev_ide_ctrl_ops, offsetof(struct dev_platform, ide[1]) },
	{ PC_IDE0_BASE, 8, &dev_ide_ops, offsetof(struct dev_platform, ide[0]) },
	{ PC_IDE0_CTRL, 1, &dev_ide_ctrl_ops, offsetof(struct dev_platform, ide[0]) },
};

/*
 * The memory-mapped devices at fixed addresses. The local APIC is not
 * here: its page moves with IA32_APIC_BASE (platform_mmio_find).
 */
static const struct platform_mmio_row {
	uint32_t base;
	uint32_t size;
	const struct dev_mmio_ops *ops;
	size_t state; /* offsetof(struct dev_platform, ...) */
} platform_mmio[] = {
	/* I/O APIC: IOREGSEL, IOWIN (QEMU decodes the whole page). */
	{ PC_IOAPIC_BASE, PC_MMIO_PAGE, &dev_ioapic_ops, offsetof(struct dev_platform, ioapic) },
	/* HPET: 1 KiB of registers. */
	{ PC_HPET_BASE, DEV_HPET_MMIO, &dev_hpet_ops, offsetof(struct dev_platform, hpet) },
};

/*
 * Drive ISA IRQ `irq` to `level` for the IDE channels and PCI INTx: as
 * every ISA line, to the 8259 pair and the I/O APIC (isa_irq.c).
 */
static void platform_isa_irq(void *ctx, unsigned irq, bool level)
{
	struct dev_platform *p = ctx;

	dev_isa_set_irq(&p->isa_irqs, irq, level);
}

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
	p->clock = cfg->clock;
	p->trace_mmio = cfg->trace_io;
	dev_pic_init(&p->pic);
	dev_lapic_init(&p->lapic, &p->clock, &p->ioapic);
	/* What SeaBIOS leaves for the OS under QEMU: the APIC software-
	 * enabled with spurious vector 0xff, LINT0 ExtINT (virtual wire) and
	 * LINT1 NMI, both level-triggered. */
	dev_lapic_ops.write(&p->lapic, 0xf0, 4, 0x1ff);
	dev_lapic_ops.write(&p->lapic, 0x350, 4, 0x8700);
	dev_lapic_ops.write(&p->lapic, 0x360, 4, 0x8400);
	dev_ioapic_init(&p->ioapic, &p->lapic, &p->pic);
	p->isa_irqs = (struct dev_isa_irqs){ .pic = &p->pic, .ioapic = &p->ioapic };
	dev_uart_init(&p->com1, &cfg->serial);
	dev_uart_connect_irq(&p->com1, &p->isa_irqs, IRQ_COM1);
	dev_i8042_init(&p->i8042, &p->stop);
	dev_i8042_connect_irq(&p->i8042, &p->isa_irqs);
	dev_pit_init(&p->pit, &p->clock, &p->isa_irqs);
	dev_rtc_init(&p->rtc, &p->clock, &p->isa_irqs);
	dev_hpet_init(&p->hpet, &p->clock, &p->isa_irqs, &p->ioapic);
	dev_acpi_pm_init(&p->acpi_pm, &p->clock, &p->isa_irqs, &p->stop);
	dev_port92_init(&p->port92, &p->stop);
	p->ram = (struct dev_guest_ram){
		.base = cfg->ram, .size = cfg->ram_size,
		.written = cfg->ram_written, .ctx = cfg->ram_ctx,
	};
	struct dev_irq_line isa = { .set = platform_isa_irq, .ctx = p };
	dev_pci_init(&p->pci, p->bus, &isa);
	p->pci.stop = &p->stop;
	isa.irq = PC_IDE0_IRQ;
	dev_ide_init(&p->ide[0], &isa);
	isa.irq = PC_IDE1_IRQ;
	dev_ide_init(&p->ide[1], &isa);
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
	for (unsigned i = 0; i < p->ndisks; i++)
		dev_disk_close(p->disks[i]);
	dev_bus_destroy(p->bus);
	free(p);
}

/* Pick the IDE position: the requested one if free, else the first free. */
static int ide_position(struct dev_platform *p, int index)
{
	if (index >= (int)PLATFORM_IDE_DRIVES || index < -1)
		return -EINVAL;
	if (index >= 0)
		return p->ide[index / 2].drive[index % 2].disk ? -EBUSY : index;
	for (unsigned i = 0; i < PLATFORM_IDE_DRIVES; i++)
		if (!p->ide[i / 2].drive[i % 2].disk)
			return (int)i;
	return -ENOSPC;
}

static int virtio_position(struct dev_platform *p, int index)
{
	if (index >= (int)PLATFORM_VIRTIO_MAX || index < -1)
		return -EINVAL;
	if (index >= 0)
		return p->virtio_used[index] ? -EBUSY : index;
	for (unsigned i = 0; i < PLATFORM_VIRTIO_MAX; i++)
		if (!p->virtio_used[i])
			return (int)i;
	return -ENOSPC;
}

/* Put a virtio-blk function in slot PC_VIRTIO_FIRST_SLOT + n. Its INTx
 * line is level-triggered: the ELCR says so, as SeaBIOS sets it. */
static int attach_virtio(struct dev_platform *p, unsigned n, struct dev_disk *disk)
{
	struct dev_virtio_blk *vb = &p->virtio[n];

	dev_virtio_blk_init(vb, &p->pci, PC_VIRTIO_FIRST_SLOT + n, disk, &p->ram, n);
	int err = dev_pci_add(&p->pci, &vb->fn);
	if (err)
		return err;
	p->virtio_used[n] = true;
	p->pic.chip[vb->fn.irq >> 3].elcr |= (uint8_t)(1u << (vb->fn.irq & 7));
	return 0;
}

int dev_platform_add_drive(struct dev_platform *p,
			   const struct dev_drive_config *d, const char **why)
{
	bool ide = d->interface == DEV_IF_IDE;
	int pos = ide ? ide_position(p, d->index) : virtio_position(p, d->index);
	struct dev_disk *disk;

	*why = p->why;
	if (pos < 0) {
		snprintf(p->why, sizeof p->why, "%s: %s drive index %d: %s", d->file,
			 ide ? "IDE" : "virtio", d->index,
			 pos == -EBUSY ? "already taken" : pos == -ENOSPC ? "no free position"
							 : "out of range");
		return pos;
	}
	if (!ide && !p->ram.base) {
		snprintf(p->why, sizeof p->why, "%s: virtio needs guest RAM", d->file);
		return -EINVAL;
	}
	int err = dev_disk_open(&disk, d->file, d->readonly, d->snapshot,
				p->why, sizeof p->why);
	if (err)
		return err;
	if (ide)
		dev_ide_attach(&p->ide[pos / 2], (unsigned)pos % 2, disk, (unsigned)pos + 1);
	else if ((err = attach_virtio(p, (unsigned)pos, disk)) != 0) {
		snprintf(p->why, sizeof p->why, "%s: no room on the PCI bus", d->file);
		dev_disk_close(disk);
		return err;
	}
	p->disks[p->ndisks++] = disk;
	return 0;
}

struct dev_bus *dev_platform_bus(struct dev_platform *p)
{
	return p->bus;
}

struct dev_uart *dev_platform_com1(struct dev_platform *p)
{
	return &p->com1;
}

void dev_platform_power_button(struct dev_platform *p)
{
	dev_acpi_pm_power_button(&p->acpi_pm);
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

void dev_platform_update(struct dev_platform *p)
{
	dev_pit_update(&p->pit);
	dev_rtc_update(&p->rtc);
	dev_hpet_update(&p->hpet);
	dev_lapic_update(&p->lapic);
	dev_acpi_pm_update(&p->acpi_pm);
	/* The UART drives its line on every access already; received bytes
	 * arrive through dev_uart_receive, which does too. This is the
	 * safety net the contract promises. */
	dev_uart_update_irq(&p->com1);
}

/* The 8259's INTR as the CPU sees it: through the local APIC's LINT0. */
static bool platform_pic_intr(struct dev_platform *p)
{
	return dev_lapic_accepts_pic(&p->lapic) && dev_pic_intr(&p->pic);
}

bool dev_platform_intr(struct dev_platform *p)
{
	return platform_pic_intr(p) || dev_lapic_pending(&p->lapic) >= 0;
}

uint8_t dev_platform_inta(struct dev_platform *p)
{
	if (platform_pic_intr(p) || !dev_lapic_enabled(&p->lapic))
		return dev_pic_inta(&p->pic);
	return dev_lapic_acknowledge(&p->lapic);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t dev_platform_next_event(struct dev_platform *p)
{
	uint64_t next = min_u64(dev_pit_next_event(&p->pit),
				dev_rtc_next_event(&p->rtc));

	next = min_u64(next, dev_hpet_next_event(&p->hpet));
	next = min_u64(next, dev_lapic_next_event(&p->lapic));
	return min_u64(next, dev_acpi_pm_next_event(&p->acpi_pm));
}

bool dev_platform_nmi_masked(const struct dev_platform *p)
{
	return p->rtc.nmi_masked;
}

/* ---- Memory-mapped devices ---- */

/* The device claiming `phys`, its state and the offset into its window;
 * NULL for open bus. The local APIC's page hides whatever is under it
 * (it sits between the CPU and the bus), but only while enabled. */
static const struct dev_mmio_ops *platform_mmio_find(struct dev_platform *p,
						     uint64_t phys, void **state,
						     uint32_t *offset)
{
	uint64_t apic_page = dev_platform_apic_base(p) & ~(uint64_t)(PC_MMIO_PAGE - 1);

	if (dev_lapic_enabled(&p->lapic) && phys - apic_page < PC_MMIO_PAGE) {
		*state = &p->lapic;
		*offset = (uint32_t)(phys - apic_page);
		return &dev_lapic_ops;
	}
	for (size_t i = 0; i < sizeof(platform_mmio) / sizeof(platform_mmio[0]); i++) {
		const struct platform_mmio_row *row = &platform_mmio[i];

		if (phys - row->base < row->size) {
			*state = (char *)p + row->state;
			*offset = (uint32_t)(phys - row->base);
			return row->ops;
		}
	}
	return NULL;
}

static void mmio_trace(FILE *out, const char *dir, uint64_t phys, unsigned size,
		       uint32_t value, const struct dev_mmio_ops *ops)
{
	fprintf(out, "mmio: %s 0x%llx %u 0x%x %s\n", dir,
		(unsigned long long)phys, size, value, ops ? ops->name : "(open bus)");
}

bool dev_mmio_read(struct dev_platform *p, uint64_t phys, unsigned size,
		   uint32_t *value)
{
	void *state;
	uint32_t offset;
	const struct dev_mmio_ops *ops = platform_mmio_find(p, phys, &state, &offset);

	if (ops)
		*value = ops->read(state, offset, size) & dev_all_ones(size);
	if (p->trace_mmio)
		mmio_trace(p->trace_mmio, "read", phys, size, ops ? *value : dev_all_ones(size), ops);
	return ops != NULL;
}

bool dev_mmio_write(struct dev_platform *p, uint64_t phys, unsigned size,
		    uint32_t value)
{
	void *state;
	uint32_t offset;
	const struct dev_mmio_ops *ops = platform_mmio_find(p, phys, &state, &offset);

	value &= dev_all_ones(size);
	if (p->trace_mmio)
		mmio_trace(p->trace_mmio, "write", phys, size, value, ops);
	if (ops)
		ops->write(state, offset, size, value);
	return ops != NULL;
}

/* ---- The local APIC's MSRs ---- */

uint64_t dev_platform_apic_base(const struct dev_platform *p)
{
	return p->lapic.base_msr;
}

bool dev_platform_set_apic_base(struct dev_platform *p, uint64_t value)
{
	return dev_lapic_set_base(&p->lapic, value);
}

uint64_t dev_platform_tsc_deadline(const struct dev_platform *p)
{
	return dev_lapic_tsc_deadline(&p->lapic);
}

void dev_platform_set_tsc_deadline(struct dev_platform *p, uint64_t tsc)
{
	dev_lapic_set_tsc_deadline(&p->lapic, tsc);
}
