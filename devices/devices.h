/* devices: the port-I/O bus and btvmm's device models (public header). */
#ifndef BTVMM_DEVICES_H
#define BTVMM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	DEV_STOP_RESET,      /* guest pulsed the reset line (i8042 0x64 <- 0xfe) */
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
	void *ctx;
};

struct dev_platform_config {
	struct dev_serial_sink serial; /* COM1 output */
	bool trace_io;                 /* print each port access to stderr */
	struct dev_clock clock;
};

struct dev_platform;

/*
 * Create the platform: COM1 16550A UART at 0x3f8-0x3ff (IRQ 4), the 8259A
 * PIC pair at 0x20/0xa0 (+ ELCR 0x4d0), the 8254 PIT at 0x40-0x43 (IRQ 0)
 * with port 0x61, the CMOS/RTC at 0x70/0x71 (IRQ 8), isa-debug-exit at 0xf4
 * (4 ports, as QEMU's -device isa-debug-exit,iobase=0xf4,iosize=0x04), the
 * POST diagnostic port 0x80 (writes accepted and ignored, reads 0xff... as
 * QEMU does), and the i8042 controller at 0x60/0x64 (reset, AUX loopback,
 * IRQ 1 and 12; no keyboard or mouse attached).
 * Return NULL when out of memory.
 */
struct dev_platform *dev_platform_create(const struct dev_platform_config *cfg);
void dev_platform_destroy(struct dev_platform *p);
struct dev_bus *dev_platform_bus(struct dev_platform *p);

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

/* True when the master PIC asserts INTR to the CPU (an unmasked request
 * of higher priority than any in service). */
bool dev_platform_intr(struct dev_platform *p);

/*
 * The CPU's interrupt-acknowledge cycle: return the vector of the highest
 * priority pending request and move it to in-service (or, in auto-EOI mode,
 * complete it); the spurious vector (IRQ 7 / IRQ 15 of its PIC) when the
 * request went away.
 */
uint8_t dev_platform_inta(struct dev_platform *p);

/* Absolute monotonic time (ns) of the next timer-driven interrupt edge,
 * or UINT64_MAX if none is programmed: the run loop sleeps in HLT until
 * then and arms a host timer for it. */
uint64_t dev_platform_next_event(struct dev_platform *p);

/* True when the guest masked NMIs through bit 7 of port 0x70 (CMOS index). */
bool dev_platform_nmi_masked(const struct dev_platform *p);

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
