/* devices: private header shared by the bus, the device models and the platform. */
#ifndef BTVMM_DEVICES_INTERNAL_H
#define BTVMM_DEVICES_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "devices.h"

/*
 * A stop request raised by a device (debug exit, reset) and read by the run
 * loop through dev_platform_stop_reason(). The first request wins: a guest
 * that writes the exit port twice before the run loop looks still exits with
 * the first status, which is what QEMU does (it exits at once).
 */
struct dev_stop {
	enum dev_stop_reason reason;
	int status;
};

/* Record a stop request unless one is already pending. */
void dev_stop_request(struct dev_stop *stop, enum dev_stop_reason reason,
		      int status);

/* Print every access on `bus` to stderr ("io: out 0x3f8 1 0x41"). */
void dev_bus_set_trace(struct dev_bus *bus, bool on);

/* ---- COM1: 16550A UART (uart16550.c) ---- */

#define DEV_UART_FIFO_SIZE 16u

struct dev_uart {
	struct dev_serial_sink sink;
	uint16_t divisor;  /* divisor latch, DLL | DLM << 8 */
	uint8_t ier;       /* interrupt enable, low 4 bits only */
	uint8_t lcr;       /* line control; bit 7 is DLAB */
	uint8_t mcr;       /* modem control, low 5 bits; bit 4 is loopback */
	uint8_t lsr_errors;/* sticky LSR error bits (OE), cleared by reading LSR */
	uint8_t fcr;       /* last FIFO control write (enable and trigger bits) */
	uint8_t scr;       /* scratch register */
	uint8_t rbr;       /* last byte handed to the guest from RBR */
	bool thr_ipending; /* THR-empty interrupt raised and not yet acknowledged */
	/* Receive FIFO, a ring: 16 entries with FIFOs on, 1 (the RBR) off. */
	uint8_t rx[DEV_UART_FIFO_SIZE];
	unsigned rx_head;
	unsigned rx_count;
};

/* Put `u` in the power-on state QEMU's guests find after SeaBIOS. */
void dev_uart_init(struct dev_uart *u, const struct dev_serial_sink *sink);
extern const struct dev_pio_ops dev_uart_ops;

/* ---- i8042 keyboard controller (i8042.c) ---- */

#define DEV_I8042_QUEUE_SIZE 8u

struct dev_i8042 {
	struct dev_stop *stop;
	uint8_t status;       /* status register without OBF (derived) */
	uint8_t command_byte; /* "mode": interrupts, disables, translation */
	uint8_t outport;      /* output port: bit 0 reset line, bit 1 A20 */
	uint8_t pending;      /* controller command awaiting its data byte */
	uint8_t last;         /* last byte read from 0x60 (re-read when empty) */
	uint8_t queue[DEV_I8042_QUEUE_SIZE]; /* output buffer bytes, oldest first */
	unsigned queue_count;
};

void dev_i8042_init(struct dev_i8042 *kbc, struct dev_stop *stop);
extern const struct dev_pio_ops dev_i8042_ops;

/* ---- isa-debug-exit (debug_exit.c) and the POST port (port80.c) ---- */

/* The device state of isa-debug-exit is where its stop request goes. */
extern const struct dev_pio_ops dev_debug_exit_ops; /* dev is a struct dev_stop */
extern const struct dev_pio_ops dev_port80_ops;     /* dev is unused */

/* All ones for an access of `size` bytes: what an undriven ISA bus reads. */
static inline uint32_t dev_all_ones(unsigned size)
{
	return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

#endif
