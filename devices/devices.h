/* devices: the port-I/O bus and btvmm's device models (public header). */
#ifndef BTVMM_DEVICES_H
#define BTVMM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Every device claims a range of I/O ports with one call and answers through
 * one pair of handlers. `size` is the access width in bytes (1, 2 or 4);
 * `port` is the first port of the access. Reads return the value
 * zero-extended to 32 bits.
 */
struct dev_pio_ops {
	const char *name;
	/* Widest access the device's registers take (0: any). The bus splits
	 * a wider access into byte accesses to consecutive ports, low byte
	 * first, as QEMU's memory core does for byte-wide devices. */
	unsigned max_access;
	uint32_t (*read)(void *dev, uint16_t port, unsigned size);
	void (*write)(void *dev, uint16_t port, unsigned size, uint32_t value);
};

struct dev_bus;

/* Return a new, empty bus, or NULL when out of memory. */
struct dev_bus *dev_bus_create(void);
void dev_bus_destroy(struct dev_bus *bus);

/*
 * Claim ports [first, first + count) for `ops`/`dev`. Return 0, or -EBUSY when
 * any port in the range is already claimed, or -EINVAL for an empty range or
 * one that runs past port 0xffff, or -ENOSPC past 255 claims on one bus.
 */
int dev_bus_register(struct dev_bus *bus, uint16_t first, uint32_t count,
		     const struct dev_pio_ops *ops, void *dev);

/* Release the claim made at `first` for `ops`/`dev` (a PCI BAR the guest
 * moves). Return 0, or -ENOENT when no such claim starts there. */
int dev_bus_unregister(struct dev_bus *bus, uint16_t first,
		       const struct dev_pio_ops *ops, void *dev);

/*
 * Perform a guest IN / OUT. Unclaimed ports read as all ones (0xff, 0xffff,
 * 0xffffffff by size) and ignore writes, as on a PC's ISA bus.
 */
uint32_t dev_pio_in(struct dev_bus *bus, uint16_t port, unsigned size);
void dev_pio_out(struct dev_bus *bus, uint16_t port, unsigned size,
		 uint32_t value);

/* Counters kept by the bus, for --stats. */
struct dev_bus_stats {
	uint64_t reads;
	uint64_t writes;
	uint64_t unclaimed;
};
void dev_bus_get_stats(const struct dev_bus *bus, struct dev_bus_stats *out);

/* ---- The PC platform: the standard devices, registered in one place. ---- */

/* Why the platform asks the run loop to stop. */
enum dev_stop_reason {
	DEV_RUNNING = 0,
	DEV_STOP_DEBUG_EXIT, /* guest wrote v to isa-debug-exit: status (v<<1)|1 */
	DEV_STOP_RESET,      /* guest pulsed the reset line (i8042 0x64 <- 0xfe,
			      * port 0x92 bit 0, 0xcf9 bit 2) */
	DEV_STOP_POWEROFF,   /* guest entered ACPI S5 (PM1a_CNT SLP_EN) */
};

/* Where the UART's transmitted bytes go; NULL write means "nowhere". */
struct dev_serial_sink {
	void (*write)(void *ctx, const uint8_t *bytes, size_t len);
	void *ctx;
};

/* Where the platform's clocks come from (devices never ask the host). */
struct dev_clock {
	/* Monotonic time in ns: drives the PIT (and the RTC's periodic and
	 * update interrupts). Must never go backwards. */
	uint64_t (*monotonic_ns)(void *ctx);
	/* Wall-clock time, ns since the Unix epoch (UTC): the RTC's time. */
	uint64_t (*realtime_ns)(void *ctx);
	/* The guest's TSC now: the local APIC timer's TSC-deadline mode fires
	 * when it reaches IA32_TSC_DEADLINE. NULL: the TSC is taken to be the
	 * monotonic clock in ns (a 1 GHz TSC). */
	uint64_t (*tsc)(void *ctx);
	/* The TSC's rate in Hz, used only to turn a deadline into the ns of
	 * dev_platform_next_event(). 0 = unknown: 1 GHz is assumed, so the run
	 * loop may wake early or late, but the interrupt itself is raised by
	 * dev_platform_update() comparing tsc() with the deadline. */
	uint64_t tsc_hz;
	void *ctx;
};

struct dev_platform_config {
	struct dev_serial_sink serial; /* COM1 output */
	FILE *trace_io;                /* where each port and MMIO access is
					  printed (-D FILE or stderr), or NULL */
	struct dev_clock clock;
	/* Guest RAM, for devices that read and write it (virtio-blk's rings
	 * and buffers). NULL: no such devices can be added. */
	uint8_t *ram;
	uint64_t ram_size;
	/* Called after every device write of [phys, phys + len) in RAM, so
	 * translated code and shadow page tables built from the old bytes
	 * can go. NULL: nobody cares. */
	void (*ram_written)(void *ctx, uint64_t phys, uint64_t len);
	void *ram_ctx;
};

struct dev_platform;

/*
 * Create the platform: COM1 16550A UART at 0x3f8-0x3ff (IRQ 4), the 8259A
 * PIC pair at 0x20/0xa0 (+ ELCR 0x4d0), the 8254 PIT at 0x40-0x43 (IRQ 0)
 * with port 0x61, the CMOS/RTC at 0x70/0x71 (IRQ 8), isa-debug-exit at 0xf4
 * (4 ports, as QEMU's -device isa-debug-exit,iobase=0xf4,iosize=0x04), the
 * POST diagnostic port 0x80 (writes accepted and ignored, reads 0xff... as
 * QEMU does), and the i8042 controller at 0x60/0x64 (reset, AUX loopback,
 * IRQ 1 and 12; no keyboard or mouse attached); port 0x92 (fast reset,
 * A20), the PIIX reset control register at 0xcf9 and the ACPI PM1a event,
 * control and PM timer registers at PC_ACPI_PM_BASE (SCI on IRQ 9).
 * Memory-mapped (dev_mmio_read/write): the local APIC at its IA32_APIC_BASE
 * page, the I/O APIC at PC_IOAPIC_BASE, the HPET at PC_HPET_BASE.
 * Every ISA IRQ line goes both to the 8259 pair and to I/O APIC pin
 * PC_GSI_OF_IRQ(irq).
 * PCI configuration mechanism #1 at 0xcf8 with a 440FX host bridge at
 * 00:00.0, and both legacy IDE channels (no drives until
 * dev_platform_add_drive).
 * Return NULL when out of memory.
 */
struct dev_platform *dev_platform_create(const struct dev_platform_config *cfg);
void dev_platform_destroy(struct dev_platform *p);
struct dev_bus *dev_platform_bus(struct dev_platform *p);

/* ---- Disks: IDE drives and virtio-blk PCI functions ---- */

enum dev_drive_interface {
	DEV_IF_IDE,    /* legacy IDE: 0x1f0/0x3f6 IRQ 14, 0x170/0x376 IRQ 15 */
	DEV_IF_VIRTIO, /* virtio-blk (legacy PCI interface), slot 3 up */
};

struct dev_drive_config {
	const char *file;  /* raw image, a positive multiple of 512 bytes */
	enum dev_drive_interface interface;
	/* IDE: 0-3 = primary master, primary slave, secondary master,
	 * secondary slave; virtio: 0-3 = PCI slot 3-6. -1: the next free. */
	int index;
	bool readonly;     /* writes fail: ATA ABRT, virtio IOERR */
	bool snapshot;     /* writes go to memory, never to the file */
};

/*
 * Attach a drive (after dev_platform_create, before the guest runs; the
 * image is closed by dev_platform_destroy). Return 0, or -errno with *why
 * set to a one-line reason ("disk.img: size 1000 is not a positive
 * multiple of 512"), valid until the next call: -ENOENT and friends from
 * open, -EINVAL for a bad size or index or a virtio drive without guest
 * RAM, -EBUSY for a position already taken, -ENOSPC when none is free.
 */
int dev_platform_add_drive(struct dev_platform *p,
			   const struct dev_drive_config *d, const char **why);

/*
 * Return why the platform wants the run to stop (DEV_RUNNING if it does
 * not). For DEV_STOP_DEBUG_EXIT, *status receives (v << 1) | 1.
 */
enum dev_stop_reason dev_platform_stop_reason(const struct dev_platform *p,
					      int *status);

/* Flush any buffered serial output (called when the run ends). */
void dev_platform_flush(struct dev_platform *p);

/* ---- COM1's receive side and interrupt state (IRQ 4 on the master PIC). ---- */

struct dev_uart;

/* Return the platform's COM1 UART (valid until dev_platform_destroy). */
struct dev_uart *dev_platform_com1(struct dev_platform *p);
/* Press the ACPI power button (the monitor's system_powerdown): the
 * guest's OS decides what follows, as on QEMU. */
void dev_platform_power_button(struct dev_platform *p);

/*
 * Offer `len` bytes to the UART's receiver. Return how many it took: the
 * receive FIFO holds 16 bytes (1 with FIFOs off) and never overruns from
 * here, so the caller offers the rest again after the guest has read some.
 * In loopback mode the receiver hears only the transmitter: returns 0.
 */
size_t dev_uart_receive(struct dev_uart *uart, const uint8_t *bytes,
			size_t len);

/* True when the UART has an enabled interrupt pending (IIR bit 0 clear):
 * the level its IRQ line (4 for COM1) would have. */
bool dev_uart_irq_pending(const struct dev_uart *uart);

/* ---- Interrupts and time (8259A pair, 8254 PIT, CMOS/RTC, port 0x61) ---- */

/*
 * Bring the timers up to the clock's current time: raise the IRQ edges
 * that fell due (PIT channel 0 -> IRQ 0, RTC -> IRQ 8) and latch UART
 * state into IRQ 4. Called by the run loop before it looks for interrupts.
 */
void dev_platform_update(struct dev_platform *p);

/*
 * True when the CPU has a maskable interrupt to take: the master PIC's INTR
 * while the local APIC passes it through (APIC globally disabled, or LINT0
 * unmasked in ExtINT mode, QEMU's apic_accept_pic_intr rule), or a vector
 * in the local APIC's IRR whose priority class is above the PPR.
 */
bool dev_platform_intr(struct dev_platform *p);

/*
 * The CPU's interrupt-acknowledge cycle. The 8259's request comes first
 * when it passes through (ExtINT ignores the APIC's priorities, as in
 * QEMU): its vector, moved to in-service (or completed in auto-EOI mode),
 * or the PIC's spurious vector (IRQ 7 / IRQ 15) when the request went away.
 * Otherwise the local APIC's vector, moved from IRR to ISR, or its
 * spurious vector (SVR bits 7:0) when none is deliverable.
 */
uint8_t dev_platform_inta(struct dev_platform *p);

/* Absolute monotonic time (ns) of the next timer-driven interrupt edge,
 * or UINT64_MAX if none is programmed: the run loop sleeps in HLT until
 * then and arms a host timer for it. */
uint64_t dev_platform_next_event(struct dev_platform *p);

/* True when the guest masked NMIs through bit 7 of port 0x70 (CMOS index). */
bool dev_platform_nmi_masked(const struct dev_platform *p);

/* ---- Memory-mapped devices and the local APIC's MSRs ---- */

/*
 * Guest-physical accesses no RAM backs. size 1, 2, 4 (an 8-byte access is
 * split by the caller into two 4-byte ones, low first). Return true and the
 * value when a device claims `phys`; false for open bus (the caller reads
 * all ones / drops writes). A device that claims an access of a size its
 * registers do not take answers as QEMU does (the local APIC, HPET and
 * I/O APIC window read 0 and ignore writes of other sizes).
 */
bool dev_mmio_read(struct dev_platform *p, uint64_t phys, unsigned size,
		   uint32_t *value);
bool dev_mmio_write(struct dev_platform *p, uint64_t phys, unsigned size,
		    uint32_t value);

/* IA32_APIC_BASE (MSR 0x1b): read; write returns false for a value the
 * CPU refuses (#GP): reserved bits 7:0, 9, 10 (no x2APIC) or 63:32 (our
 * CPUID has no PAE: 32-bit physical addresses). */
uint64_t dev_platform_apic_base(const struct dev_platform *p);
bool dev_platform_set_apic_base(struct dev_platform *p, uint64_t value);

/* IA32_TSC_DEADLINE (MSR 0x6e0), in guest TSC ticks. Reads 0 and ignores
 * writes unless the LVT timer is in TSC-deadline mode; 0 disarms. */
uint64_t dev_platform_tsc_deadline(const struct dev_platform *p);
void dev_platform_set_tsc_deadline(struct dev_platform *p, uint64_t tsc);

/* ---- Firmware tables: what a PC BIOS leaves in RAM (firmware.c) ---- */

/* What the tables describe beyond devices/pc_map.h's fixed platform. */
struct dev_firmware_config {
	uint64_t ram_size;      /* bytes of guest RAM from physical 0 */
	unsigned ioapic_pins;   /* the I/O APIC's pins: GSIs 0..pins-1 */
	bool hpet;              /* an HPET at PC_HPET_BASE (the ACPI HPET table) */
	uint32_t cpu_signature; /* CPUID.1:EAX, for the MP processor entry */
	uint32_t cpu_features;  /* CPUID.1:EDX, likewise */
};

/*
 * Write into `ram` (the guest's RAM image, cfg->ram_size bytes from guest
 * physical 0) what SeaBIOS leaves for an OS: the BIOS data area at 0x400
 * (COM1, equipment word, base memory size, EBDA segment), the 1 KiB EBDA at
 * PC_EBDA, and in [PC_BIOS_TABLES, PC_BIOS_TABLES_END) an Intel MP 1.4
 * floating pointer and configuration table and the ACPI tables (RSDP
 * revision 2, RSDT, XSDT, FADT, FACS, DSDT with \_S5 and \_SB.PCI0._PRT,
 * MADT, HPET when cfg->hpet). Those three areas are zeroed first; nothing
 * else is touched, so the loaders may write their structures before or
 * after. The memory map must keep the EBDA and the BIOS area reserved.
 * Return 0, or -EINVAL when the RAM does not reach PC_BIOS_TABLES_END or
 * reaches PC_IOAPIC_BASE (the PCI memory window runs from the end of RAM
 * to the I/O APIC), or the I/O APIC has fewer than 16 pins (the ISA IRQs
 * need them).
 */
int dev_firmware_build(uint8_t *ram, const struct dev_firmware_config *cfg);

#endif
