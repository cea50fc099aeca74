/* devices: COM1 as a 16550A UART, register-compatible with QEMU's serial. */
#include <string.h>

#include "devices_internal.h"

/*
 * Register map (offset from the base port; DLAB is LCR bit 7):
 *
 *   +0  R: RBR / DLL (DLAB)        W: THR / DLL (DLAB)
 *   +1  R/W: IER / DLM (DLAB)
 *   +2  R: IIR                     W: FCR
 *   +3  LCR      +4 MCR      +5 LSR (R)      +6 MSR (R)      +7 SCR
 *
 * Transmission is instantaneous: a THR write goes straight to the sink, so
 * LSR always shows THRE|TEMT. The values the guest sees at power-on are the
 * ones QEMU's guests see after SeaBIOS (divisor 12 = 9600 baud, MCR OUT2),
 * checked by a probe guest under qemu-system-i386 7.2, so the two runs
 * compare byte for byte. Linux's 8250 probe relies on: IER keeping only its
 * low 4 bits (scratch test), IIR bits 7:6 = 11 with FIFOs on and bit 5
 * always 0 (16550A, not 16750), loopback MSR 0x90 for MCR 0x1a, and a THRE
 * interrupt raised when IER.THRI goes from 0 to 1 (else UART_BUG_THRE).
 */

enum {
	REG_DATA = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3,
	REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};

#define LCR_DLAB   0x80u
#define MCR_LOOP   0x10u
#define MCR_MASK   0x1fu
#define IER_RDI    0x01u /* received data available */
#define IER_THRI   0x02u /* THR empty */
#define IER_RLSI   0x04u /* receiver line status */
#define IER_MASK   0x0fu
#define FCR_ENABLE 0x01u
#define FCR_CLR_RX 0x02u
#define FCR_TRIGGER(fcr) (((fcr) >> 6) & 3u)
#define IIR_NONE   0x01u
#define IIR_MSI    0x00u
#define IIR_THRI   0x02u
#define IIR_RDI    0x04u
#define IIR_RLSI   0x06u
#define IIR_CTI    0x0cu /* character timeout, FIFO mode only */
#define IIR_FIFO   0xc0u
#define LSR_DR     0x01u
#define LSR_OE     0x02u
#define LSR_THRE   0x20u
#define LSR_TEMT   0x40u
/* MSR without a connected modem: carrier, data set ready, clear to send. */
#define MSR_IDLE   0xb0u

/* Receive trigger levels for FCR bits 7:6. */
static const unsigned rx_trigger[4] = { 1, 4, 8, 14 };

void dev_uart_init(struct dev_uart *u, const struct dev_serial_sink *sink)
{
	memset(u, 0, sizeof(*u));
	if (sink)
		u->sink = *sink;
	u->divisor = 12;
	u->mcr = 0x08; /* OUT2, as SeaBIOS leaves it */
}

static bool fifo_enabled(const struct dev_uart *u)
{
	return u->fcr & FCR_ENABLE;
}

static unsigned rx_capacity(const struct dev_uart *u)
{
	return fifo_enabled(u) ? DEV_UART_FIFO_SIZE : 1;
}

/*
 * Hand one byte to the receiver. A full FIFO keeps its bytes and drops the
 * new one, flagging an overrun; with FIFOs off the single holding register
 * is overwritten and the overrun flagged (what QEMU and the 16550A do).
 */
static void rx_push(struct dev_uart *u, uint8_t byte)
{
	if (u->rx_count == rx_capacity(u)) {
		u->lsr_errors |= LSR_OE;
		if (fifo_enabled(u))
			return;
		u->rx[u->rx_head] = byte;
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % DEV_UART_FIFO_SIZE] = byte;
	u->rx_count++;
}

static void rx_clear(struct dev_uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

static uint8_t uart_lsr(const struct dev_uart *u)
{
	return LSR_THRE | LSR_TEMT | u->lsr_errors | (u->rx_count ? LSR_DR : 0);
}

/*
 * The interrupt identification, highest priority first. With FIFOs on and
 * fewer bytes than the trigger level, a real UART raises the character
 * timeout after four character times; btvmm has no notion of character
 * time, so it reports the timeout at once (QEMU reports it a few
 * milliseconds later: timing-dependent, so tests must not depend on it).
 * Modem status never changes here, so the MSI source never fires.
 */
static uint8_t uart_iir(const struct dev_uart *u)
{
	uint8_t id = IIR_NONE;

	if ((u->ier & IER_RLSI) && u->lsr_errors)
		id = IIR_RLSI;
	else if ((u->ier & IER_RDI) && u->rx_count)
		id = (fifo_enabled(u) &&
		      u->rx_count < rx_trigger[FCR_TRIGGER(u->fcr)])
			? IIR_CTI : IIR_RDI;
	else if ((u->ier & IER_THRI) && u->thr_ipending)
		id = IIR_THRI;
	return id | (fifo_enabled(u) ? IIR_FIFO : 0);
}

bool dev_uart_irq_pending(const struct dev_uart *u)
{
	/* PCs gate the IRQ line with MCR.OUT2; QEMU does not, nor do we yet. */
	return (uart_iir(u) & IIR_NONE) == 0;
}

void dev_uart_connect_irq(struct dev_uart *u, struct dev_isa_irqs *irqs,
			  unsigned irq)
{
	u->irqs = irqs;
	u->irq = irq;
	dev_uart_update_irq(u);
}

void dev_uart_update_irq(struct dev_uart *u)
{
	if (u->irqs)
		dev_isa_set_irq(u->irqs, u->irq, dev_uart_irq_pending(u));
}

/* In loopback the modem outputs feed the inputs: RTS->CTS, DTR->DSR,
 * OUT1->RI, OUT2->DCD. */
static uint8_t uart_msr(const struct dev_uart *u)
{
	if (!(u->mcr & MCR_LOOP))
		return MSR_IDLE;
	return (uint8_t)(((u->mcr & 0x0cu) << 4) | ((u->mcr & 0x02u) << 3) |
			 ((u->mcr & 0x01u) << 5));
}

static void uart_transmit(struct dev_uart *u, uint8_t byte)
{
	if (u->mcr & MCR_LOOP)
		rx_push(u, byte);
	else if (u->sink.write)
		u->sink.write(u->sink.ctx, &byte, 1);
	/* The byte has left: THR is empty again and says so. */
	u->thr_ipending = true;
}

size_t dev_uart_receive(struct dev_uart *u, const uint8_t *bytes, size_t len)
{
	size_t n = 0;

	/* In loopback the receiver hears only the transmitter. */
	if (u->mcr & MCR_LOOP)
		return 0;
	while (n < len && u->rx_count < rx_capacity(u))
		rx_push(u, bytes[n++]);
	dev_uart_update_irq(u);
	return n;
}

static uint8_t uart_read_byte(struct dev_uart *u, unsigned reg)
{
	uint8_t v;

	switch (reg) {
	case REG_DATA:
		if (u->lcr & LCR_DLAB)
			return (uint8_t)u->divisor;
		if (u->rx_count) {
			u->rbr = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % DEV_UART_FIFO_SIZE;
			u->rx_count--;
		} else if (fifo_enabled(u)) {
			u->rbr = 0; /* an empty FIFO reads 0 on QEMU */
		}
		return u->rbr;
	case REG_IER:
		if (u->lcr & LCR_DLAB)
			return (uint8_t)(u->divisor >> 8);
		return u->ier;
	case REG_IIR_FCR:
		v = uart_iir(u);
		/* Reading IIR acknowledges a THR-empty interrupt it reports. */
		if ((v & 0x0fu) == IIR_THRI)
			u->thr_ipending = false;
		return v;
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		v = uart_lsr(u);
		u->lsr_errors = 0;
		return v;
	case REG_MSR:
		return uart_msr(u);
	default:
		return u->scr;
	}
}

static void uart_write_byte(struct dev_uart *u, unsigned reg, uint8_t v)
{
	switch (reg) {
	case REG_DATA:
		if (u->lcr & LCR_DLAB) {
			u->divisor = (uint16_t)((u->divisor & 0xff00u) | v);
			return;
		}
		u->thr_ipending = false;
		uart_transmit(u, v);
		return;
	case REG_IER:
		if (u->lcr & LCR_DLAB) {
			u->divisor = (uint16_t)((u->divisor & 0x00ffu) | v << 8);
			return;
		}
		/* Enabling THRI while THR is empty raises it (always empty). */
		if ((v & IER_THRI) && !(u->ier & IER_THRI))
			u->thr_ipending = true;
		u->ier = v & IER_MASK;
		return;
	case REG_IIR_FCR:
		/* Turning the FIFOs on or off empties them, as does FCR bit 1. */
		if (((v ^ u->fcr) & FCR_ENABLE) || (v & FCR_CLR_RX))
			rx_clear(u);
		u->fcr = v & (FCR_ENABLE | 0xc0u);
		return;
	case REG_LCR:
		u->lcr = v;
		return;
	case REG_MCR:
		u->mcr = v & MCR_MASK;
		return;
	case REG_LSR:
	case REG_MSR:
		return; /* factory-test writes: ignored, as on QEMU */
	default:
		u->scr = v;
		return;
	}
}

/*
 * QEMU's serial accepts byte accesses only: a wider IN reads all ones and a
 * wider OUT is dropped (seen under qemu-system-i386 7.2). We do the same so
 * that guests compare equal.
 */
static uint32_t uart_read(void *dev, uint16_t port, unsigned size)
{
	uint8_t value;

	if (size != 1)
		return dev_all_ones(size);
	value = uart_read_byte(dev, port & 7u);
	/* Reads acknowledge interrupts (IIR, LSR, RBR): the line may drop. */
	dev_uart_update_irq(dev);
	return value;
}

static void uart_write(void *dev, uint16_t port, unsigned size, uint32_t value)
{
	if (size != 1)
		return;
	uart_write_byte(dev, port & 7u, (uint8_t)value);
	dev_uart_update_irq(dev);
}

const struct dev_pio_ops dev_uart_ops = {
	.max_access = 1,
	.name = "uart16550a",
	.read = uart_read,
	.write = uart_write,
};
