/* devices: private header shared by the bus, the device models and the platform. */
#ifndef BTVMM_DEVICES_INTERNAL_H
#define BTVMM_DEVICES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices.h"
#include "pc_map.h"

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
void dev_bus_set_trace(struct dev_bus *bus, FILE *out);

/* Read the platform's clocks; a clock the embedder left NULL stands at 0
 * (unit tests that do not care about time, and the epoch for the RTC). */
static inline uint64_t dev_clock_monotonic(const struct dev_clock *c)
{
	return c->monotonic_ns ? c->monotonic_ns(c->ctx) : 0;
}

static inline uint64_t dev_clock_realtime(const struct dev_clock *c)
{
	return c->realtime_ns ? c->realtime_ns(c->ctx) : 0;
}

/* ---- The 8259A pair: master at 0x20/0x21, slave at 0xa0/0xa1 (pic8259.c) ---- */

/*
 * One 8259A. The IR inputs are edge-triggered unless the chipset's ELCR says
 * level (PIIX semantics, ports 0x4d0/0x4d1): an edge input latches a rising
 * edge into IRR, and IRR keeps it when the line drops again before INTA, as
 * QEMU's i8259 does (a real 8259A forgets it and answers IR7). Priorities
 * rotate from `highest`, the IR with the highest priority (0 after ICW1).
 */
struct dev_pic_chip {
	uint8_t irr;         /* interrupt request register */
	uint8_t isr;         /* in-service register */
	uint8_t imr;         /* interrupt mask register (OCW1) */
	uint8_t lines;       /* IR input levels last seen, for edge detection */
	uint8_t elcr;        /* 1 bits: level-triggered (ELCR); edge by default */
	uint8_t elcr_mask;   /* the ELCR bits the chipset lets software set */
	uint8_t vector_base; /* ICW2 with its low 3 bits clear */
	uint8_t highest;     /* IR of highest priority (rotation) */
	uint8_t init_step;   /* 0: operational; 2, 3, 4: ICW expected next */
	bool icw4_needed;    /* ICW1 IC4 */
	bool single;         /* ICW1 SNGL: no cascade (no ICW3) */
	bool auto_eoi;       /* ICW4 AEOI */
	bool rotate_on_auto_eoi;   /* OCW2 rotate-in-AEOI-mode set/clear */
	bool special_fully_nested; /* ICW4 SFNM (master: IR2 does not block) */
	bool special_mask;   /* OCW3 SMM: masked in-service levels do not block */
	bool read_isr;       /* OCW3 RR/RIS: even-port reads give ISR, not IRR */
	bool poll;           /* OCW3 P: the next read is a poll */
};

struct dev_pic {
	struct dev_pic_chip chip[2]; /* [0] master, [1] slave on master IR2 */
};

/* Put the pair in the state QEMU's guests find after SeaBIOS: initialized,
 * vectors 0x08 and 0x70, IMR 0xb8 and 0x8e, ELCR all edge. */
void dev_pic_init(struct dev_pic *pic);

/* Drive ISA IRQ line `irq` (0-15, not 2: that IR is the cascade) to
 * `level`. An edge-triggered line requests an interrupt on a rising edge
 * only, so a device that holds a level calls this on every change. */
void dev_pic_set_irq(struct dev_pic *pic, unsigned irq, bool level);

/* True when the master asserts INTR. */
bool dev_pic_intr(struct dev_pic *pic);

/* The INTA cycle: see dev_platform_inta(). */
uint8_t dev_pic_inta(struct dev_pic *pic);

extern const struct dev_pio_ops dev_pic_ops;  /* 0x20-0x21 and 0xa0-0xa1 */
extern const struct dev_pio_ops dev_elcr_ops; /* 0x4d0-0x4d1; dev is the pic */

/* ---- The ISA interrupt lines (isa_irq.c) ---- */

struct dev_ioapic;

/*
 * Where an ISA device's IRQ line goes: to the 8259 pair and to I/O APIC pin
 * PC_GSI_OF_IRQ(irq), both at once, as on a PIIX. Devices drive their line
 * through dev_isa_set_irq and never see the controllers. In HPET legacy
 * replacement mode the HPET owns IRQ 0 and 8: the PIT's and the RTC's
 * outputs are cut off and the HPET's timers 0 and 1 drive the lines.
 */
struct dev_isa_irqs {
	struct dev_pic *pic;
	struct dev_ioapic *ioapic;  /* NULL: the 8259 pair only */
	uint16_t device_levels;     /* what the ISA devices drive, per IRQ */
	uint16_t hpet_levels;       /* what the HPET drives on IRQ 0 and 8 */
	uint16_t hpet_owned;        /* the IRQs the HPET has taken over */
};

/* Drive ISA IRQ `irq` (0-15, not 2) to `level` from its ISA device. As
 * with dev_pic_set_irq, edge inputs see a request on a rising edge only. */
void dev_isa_set_irq(struct dev_isa_irqs *irqs, unsigned irq, bool level);

/* The HPET's legacy replacement: take IRQ 0 and 8 over (or give them back)
 * and drive them from the HPET's timers 0 and 1. */
void dev_isa_set_legacy_replacement(struct dev_isa_irqs *irqs, bool on);
void dev_isa_set_hpet_irq(struct dev_isa_irqs *irqs, unsigned irq,
			  bool level);

/*
 * True while an interrupt on `irq` is still pending or in service at a
 * controller that would deliver it: an unmasked 8259 input with its IRR or
 * ISR bit set, or an unmasked I/O APIC pin whose vector the local APIC has
 * not finished. The PIT pays its backlog of periods only when this is false.
 */
bool dev_isa_irq_busy(const struct dev_isa_irqs *irqs, unsigned irq);

/*
 * An interrupt line a device drives. Where it goes (the PIC, the I/O APIC)
 * is the platform's business: the device only calls dev_irq_line_set on
 * every change of its output. An unwired line (set NULL) goes nowhere.
 */
struct dev_irq_line {
	void (*set)(void *ctx, unsigned irq, bool level);
	void *ctx;
	unsigned irq;
};

static inline void dev_irq_line_set(const struct dev_irq_line *line, bool level)
{
	if (line->set)
		line->set(line->ctx, line->irq, level);
}

/* ---- PCI: configuration mechanism #1 and the functions on bus 0 (pci_conf1.c) ---- */

#define DEV_PCI_BARS       6u
#define DEV_PCI_MAX_FUNCS  16u
#define DEV_PCI_IO_START   0xc000u /* where a BIOS starts assigning I/O BARs */

/* Configuration-space offsets and command bits the devices use. */
#define PCI_VENDOR_ID      0x00u
#define PCI_COMMAND        0x04u
#define PCI_STATUS         0x06u
#define PCI_REVISION       0x08u
#define PCI_CLASS_PROG     0x09u
#define PCI_HEADER_TYPE    0x0eu
#define PCI_BAR0           0x10u
#define PCI_SUBSYS_VENDOR  0x2cu
#define PCI_SUBSYS_ID      0x2eu
#define PCI_INTERRUPT_LINE 0x3cu
#define PCI_INTERRUPT_PIN  0x3du
#define PCI_COMMAND_IO     0x0001u
#define PCI_COMMAND_MEMORY 0x0002u
#define PCI_COMMAND_MASTER 0x0004u
#define PCI_COMMAND_INTX_DISABLE 0x0400u
#define PCI_STATUS_INTERRUPT 0x0008u

/* An I/O BAR: `size` ports (a power of two, at least 4) answered by
 * ops/dev wherever the guest puts them. size 0: no BAR in this slot. */
struct dev_pci_bar {
	uint32_t size;
	const struct dev_pio_ops *ops;
	void *dev;
	uint16_t mapped_at; /* first port claimed on the bus; 0: not mapped */
};

/*
 * One function on bus 0. The device fills `config` (IDs, class, pin) and
 * its BARs before dev_pci_add; from then on the guest owns the writable
 * bits (command, BARs, interrupt line, cache line size, latency timer)
 * and the PCI code keeps the bus claims in step with them.
 */
struct dev_pci_function {
	uint8_t devfn;               /* slot << 3 | function */
	uint8_t config[256];
	uint8_t wmask[256];          /* bits the guest may write */
	struct dev_pci_bar bar[DEV_PCI_BARS];
	unsigned irq;                /* ISA IRQ its INTx pin is routed to */
};

struct dev_pci {
	uint32_t address;            /* CONFIG_ADDRESS */
	uint8_t rcr;                 /* 0xcf9 bit 1: the reset type (bit 2 resets) */
	struct dev_stop *stop;       /* where 0xcf9's reset goes */
	struct dev_bus *bus;         /* where I/O BARs are claimed */
	struct dev_irq_line irq_out; /* .irq unused: each function has its own */
	struct dev_pci_function host_bridge;
	struct dev_pci_function *func[DEV_PCI_MAX_FUNCS];
	unsigned nfunc;
	uint32_t next_io;            /* next free port for BIOS-style assignment */
};

/* Put a 440FX host bridge at 00:00.0; I/O BARs go on `bus`, INTx lines to
 * `irq_out` (a level per ISA IRQ: the OR of the functions routed there). */
void dev_pci_init(struct dev_pci *pci, struct dev_bus *bus,
		  const struct dev_irq_line *irq_out);

/*
 * Add `f` at its devfn and assign its BARs and interrupt line as a BIOS
 * does (I/O from DEV_PCI_IO_START up, decoding on; line PC_PCI_GSI of its
 * slot and pin). Return 0, -EBUSY (devfn taken), -ENOSPC (no room).
 */
int dev_pci_add(struct dev_pci *pci, struct dev_pci_function *f);

/* Drive `f`'s INTx output (level-triggered; the command register's
 * INTX_DISABLE masks it, and the status register shows it). */
void dev_pci_set_intx(struct dev_pci *pci, struct dev_pci_function *f,
		      bool level);

/* Little-endian accessors for configuration space. */
static inline void dev_pci_set16(struct dev_pci_function *f, unsigned off,
				 uint16_t v)
{
	f->config[off] = (uint8_t)v;
	f->config[off + 1] = (uint8_t)(v >> 8);
}

static inline uint16_t dev_pci_get16(const struct dev_pci_function *f,
				     unsigned off)
{
	return (uint16_t)(f->config[off] | f->config[off + 1] << 8);
}

extern const struct dev_pio_ops dev_pci_conf1_ops; /* 0xcf8-0xcff */

/* ---- Memory-mapped device registers ---- */

/* One handler pair per device, as for ports: `offset` is from the start
 * of the device's window, `size` 1, 2 or 4. */
struct dev_mmio_ops {
	const char *name;
	uint32_t (*read)(void *dev, uint32_t offset, unsigned size);
	void (*write)(void *dev, uint32_t offset, unsigned size, uint32_t value);
};

/* ---- The local APIC (lapic.c) ---- */

#define DEV_LAPIC_LVTS 6u /* timer, thermal, performance, LINT0, LINT1, error */

/*
 * The xAPIC of the one CPU. The timer, like the PIT, is computed from the
 * clock: the count is a function of the ns since the initial count was
 * written, and `next_fire_ns` is the next time it reaches 0.
 */
struct dev_lapic {
	const struct dev_clock *clock;
	struct dev_ioapic *ioapic;  /* EOI of a level-triggered vector */
	uint64_t base_msr;          /* IA32_APIC_BASE */
	uint8_t id;                 /* APIC ID register bits 31:24 */
	uint8_t tpr;
	uint8_t ldr;                /* logical destination, bits 31:24 */
	uint8_t dfr_model;          /* destination format, bits 31:28 */
	uint32_t svr;               /* spurious vector; bit 8 software enable */
	uint32_t isr[8], tmr[8], irr[8];
	uint32_t esr;               /* as last latched by an ESR write */
	uint32_t esr_pending;       /* errors seen since that write */
	uint32_t icr_low, icr_high;
	uint32_t lvt[DEV_LAPIC_LVTS];
	uint32_t initial_count;
	uint32_t divide_conf;
	uint64_t load_ns;           /* when initial_count was written */
	uint64_t next_fire_ns;      /* UINT64_MAX: the count is not running */
	uint64_t tsc_deadline;      /* IA32_TSC_DEADLINE, 0: disarmed */
};

/* QEMU's reset state of the boot CPU's APIC (apic_reset_common): base
 * PC_LAPIC_BASE, enabled, BSP; SVR 0xff; LINT0 ExtINT, other LVTs masked. */
void dev_lapic_init(struct dev_lapic *l, const struct dev_clock *clock,
		    struct dev_ioapic *ioapic);

/* True when the APIC is globally enabled (IA32_APIC_BASE bit 11). */
bool dev_lapic_enabled(const struct dev_lapic *l);

/* The IA32_APIC_BASE write: see dev_platform_set_apic_base. */
bool dev_lapic_set_base(struct dev_lapic *l, uint64_t value);
uint64_t dev_lapic_tsc_deadline(const struct dev_lapic *l);
void dev_lapic_set_tsc_deadline(struct dev_lapic *l, uint64_t tsc);

/*
 * An interrupt message for this APIC: a fixed or lowest-priority `vector`
 * (from the I/O APIC, an IPI, or a local source). Sets IRR (and TMR when
 * level-triggered). Vectors 0-15 are illegal: ESR "receive illegal vector".
 * Return whether it was accepted (a disabled APIC takes nothing).
 */
bool dev_lapic_accept(struct dev_lapic *l, uint8_t vector, bool level);

/* True when a message to `dest` in the given destination mode (false:
 * physical, true: logical) reaches this APIC. */
bool dev_lapic_is_destination(const struct dev_lapic *l, uint8_t dest,
			      bool logical);

/* The vector the APIC would hand the CPU now, or -1. */
int dev_lapic_pending(const struct dev_lapic *l);

/* The INTA: move the pending vector from IRR to ISR and return it, or
 * return the spurious vector if there is none. */
uint8_t dev_lapic_acknowledge(struct dev_lapic *l);

/* True when the 8259's INTR reaches the CPU (QEMU's apic_accept_pic_intr
 * with the delivery mode checked: APIC globally disabled, or LINT0
 * unmasked ExtINT). */
bool dev_lapic_accepts_pic(const struct dev_lapic *l);

/* True when `vector` is in IRR or ISR. */
bool dev_lapic_vector_busy(const struct dev_lapic *l, uint8_t vector);

/* Raise the timer interrupt if the count reached 0 (once per period
 * however many passed, as the IRR would latch only one). */
void dev_lapic_update(struct dev_lapic *l);

/* Monotonic ns of the timer's next interrupt, UINT64_MAX if none. */
uint64_t dev_lapic_next_event(const struct dev_lapic *l);

extern const struct dev_mmio_ops dev_lapic_ops; /* the 4 KiB at the base */

/* ---- The I/O APIC (ioapic.c) ---- */

struct dev_ioapic {
	struct dev_lapic *lapic;    /* the one CPU's */
	struct dev_pic *pic;        /* ExtINT entries read the 8259's vector */
	uint32_t regsel;            /* IOREGSEL */
	uint8_t id;                 /* ID register bits 27:24 */
	uint32_t irr;               /* pins requesting (edge latched, level high) */
	uint32_t lines;             /* input levels last seen, for edges */
	uint64_t redir[PC_IOAPIC_PINS];
};

/* ID PC_IOAPIC_ID, all pins masked, edge, vector 0. */
void dev_ioapic_init(struct dev_ioapic *io, struct dev_lapic *lapic,
		     struct dev_pic *pic);

/* Drive input `pin` (0-23). Edge pins request on a rising edge while
 * unmasked; level pins while high, once per Remote IRR handshake. */
void dev_ioapic_set_irq(struct dev_ioapic *io, unsigned pin, bool level);

/* The local APIC's EOI of a level-triggered `vector`: clear Remote IRR
 * of the pins with that vector and deliver again those still asserted. */
void dev_ioapic_eoi(struct dev_ioapic *io, uint8_t vector);

/* True when `pin` is unmasked and its last request is not finished. */
bool dev_ioapic_pin_busy(const struct dev_ioapic *io, unsigned pin);

extern const struct dev_mmio_ops dev_ioapic_ops;

/* ---- The HPET (hpet.c) ---- */

#define DEV_HPET_TIMERS  3u
#define DEV_HPET_MMIO    0x400u /* QEMU's HPET_LEN */

struct dev_hpet_timer {
	uint32_t config;  /* Tn_CONFIG bits 31:0 */
	uint64_t cmp;     /* comparator (the next match in periodic mode) */
	uint64_t period;  /* periodic mode: what the comparator grows by */
	uint64_t next;    /* main-counter value of the next match, or
			   * UINT64_MAX when the timer does not run */
};

/*
 * The main counter runs at 100 MHz: while enabled it is
 * ns / 10 + offset, while halted it is `counter`.
 */
struct dev_hpet {
	const struct dev_clock *clock;
	struct dev_isa_irqs *irqs;   /* legacy replacement: IRQ 0 and 8 */
	struct dev_ioapic *ioapic;   /* Tn_INT_ROUTE pins */
	uint32_t config;             /* general configuration */
	uint32_t isr;                /* general interrupt status (level) */
	uint64_t counter;
	uint64_t offset;
	struct dev_hpet_timer timer[DEV_HPET_TIMERS];
};

void dev_hpet_init(struct dev_hpet *h, const struct dev_clock *clock,
		   struct dev_isa_irqs *irqs, struct dev_ioapic *ioapic);
void dev_hpet_update(struct dev_hpet *h);
uint64_t dev_hpet_next_event(const struct dev_hpet *h);
extern const struct dev_mmio_ops dev_hpet_ops;

/* ---- ACPI fixed hardware (acpi_pm.c) ---- */

struct dev_acpi_pm {
	const struct dev_clock *clock;
	struct dev_isa_irqs *irqs;   /* the SCI, IRQ 9 */
	struct dev_stop *stop;       /* S5 */
	uint16_t status;             /* PM1 status */
	uint16_t enable;             /* PM1 enable */
	uint16_t control;            /* PM1 control, SLP_EN never stored */
	uint64_t timer_epoch;        /* PM timer bit 23 epoch last seen */
};

void dev_acpi_pm_init(struct dev_acpi_pm *pm, const struct dev_clock *clock,
		      struct dev_isa_irqs *irqs, struct dev_stop *stop);
/* Latch TMR_STS if the PM timer's bit 23 toggled; drive the SCI. */
void dev_acpi_pm_update(struct dev_acpi_pm *pm);
/* Monotonic ns of the next TMR_STS-raising toggle while TMR_EN is set. */
uint64_t dev_acpi_pm_next_event(const struct dev_acpi_pm *pm);
/* The power button was pressed: PWRBTN_STS, an SCI if PWRBTN_EN. */
void dev_acpi_pm_power_button(struct dev_acpi_pm *pm);
/* The PM timer's 24-bit count at monotonic `ns`. */
uint32_t dev_acpi_pm_timer_at(uint64_t ns);
extern const struct dev_pio_ops dev_acpi_pm_ops; /* PM1a_EVT, PM1a_CNT, PM_TMR */

/* ---- System control port A, 0x92 (port92.c) ---- */

struct dev_port92 {
	struct dev_stop *stop;
	uint8_t value;    /* as last written: bit 1 A20, bit 0 reset */
};
void dev_port92_init(struct dev_port92 *p92, struct dev_stop *stop);
extern const struct dev_pio_ops dev_port92_ops;

/* ---- Guest RAM as devices see it (DMA) ---- */

/*
 * The guest's RAM for bus-mastering devices. Every device write to RAM is
 * reported through `written`, so the monitor can drop translated code and
 * shadow page tables built from the old bytes.
 */
struct dev_guest_ram {
	uint8_t *base;
	uint64_t size;
	void (*written)(void *ctx, uint64_t phys, uint64_t len);
	void *ctx;
};

/* True when [phys, phys + len) lies inside RAM (no wrap-around). */
static inline bool dev_ram_contains(const struct dev_guest_ram *ram,
				    uint64_t phys, uint64_t len)
{
	return phys <= ram->size && len <= ram->size - phys;
}

/* Report a device write of [phys, phys + len), already checked in RAM. */
static inline void dev_ram_written(const struct dev_guest_ram *ram,
				   uint64_t phys, uint64_t len)
{
	if (ram->written && len)
		ram->written(ram->ctx, phys, len);
}

/* ---- Disk images (disk.c) ---- */

#define DEV_SECTOR_SIZE 512u

struct dev_disk;

/*
 * Open the raw image `path` (read-only when `readonly` or `snapshot`).
 * Return 0 and *out, or -errno with a one-line reason in why[] ("disk.img:
 * size 1000 is not a positive multiple of 512").
 */
int dev_disk_open(struct dev_disk **out, const char *path, bool readonly,
		  bool snapshot, char *why, size_t why_size);
void dev_disk_close(struct dev_disk *d);
uint64_t dev_disk_sectors(const struct dev_disk *d);
bool dev_disk_readonly(const struct dev_disk *d);

/* Transfer `count` sectors from `sector` on. Return 0 or -errno: -EINVAL
 * past the end, -EROFS writing a read-only disk, -EIO on a short file. */
int dev_disk_read(struct dev_disk *d, uint64_t sector, uint32_t count, void *buf);
int dev_disk_write(struct dev_disk *d, uint64_t sector, uint32_t count,
		   const void *buf);
/* Make written sectors durable (fsync); 0 or -errno. */
int dev_disk_flush(struct dev_disk *d);

/* ---- The 8254 PIT at 0x40-0x43 and system control port B, 0x61 (pit8254.c) ---- */

#define DEV_PIT_HZ 1193182u /* input clock of every channel */

/*
 * One counter. Time is counted in ticks of the 1.193182 MHz input clock,
 * numbered globally from monotonic 0 (tick T covers [T, T+1) / DEV_PIT_HZ s),
 * so every channel sees the same clock edges. The count is never stepped:
 * it is computed from d, the ticks counted since the count was loaded,
 *
 *     d = elapsed + (counting ? T(now) - start_tick : 0)
 *
 * where `elapsed` keeps what was counted before the gate paused the channel.
 */
struct dev_pit_channel {
	uint8_t mode_field;  /* control word bits 3:1 as written (status) */
	uint8_t mode;        /* the mode they select, 0-5 (6, 7 are 2, 3) */
	uint8_t access;      /* 1 LSB only, 2 MSB only, 3 LSB then MSB */
	bool bcd;            /* count in BCD, 0-9999 */
	bool gate;           /* GATE input (channels 0, 1: tied high) */
	bool armed;          /* a full count was written since the control word */
	bool triggered;      /* modes 1, 5: a gate edge started the count */
	bool counting;       /* d advances with the clock */
	bool null_count;     /* status bit 6: count written, not yet loaded */
	bool write_msb_next; /* access 3: the next write is the MSB */
	bool read_msb_next;  /* access 3: the next live read is the MSB */
	bool status_latched; /* read-back latched the status byte */
	uint8_t write_lsb;   /* access 3: the LSB waiting for its MSB */
	uint8_t status;      /* latched status byte */
	uint8_t latch_bytes; /* bytes of the latched count left to read */
	uint16_t latch;      /* latched count, as the guest reads it */
	uint32_t reload;     /* N, 1-65536 (1-10000 in BCD): a written 0 is max */
	uint64_t start_tick; /* global tick at which d last resumed */
	uint64_t elapsed;    /* ticks counted before start_tick */
	uint64_t edge;       /* d of OUT's next rising edge, UINT64_MAX: none */
};

struct dev_pit {
	const struct dev_clock *clock;
	struct dev_isa_irqs *irqs;    /* channel 0's OUT is IRQ 0 */
	struct dev_pit_channel ch[3];
	uint8_t port61;               /* port 0x61 bits 3:0 as written */
	uint32_t backlog;             /* periodic IRQ 0 edges owed (see below) */
};

/* SeaBIOS's state: channel 0 in mode 2 with count 65536 (18.2 Hz) since
 * now, channels 1 and 2 in mode 3 without a count, gate 2 low. */
void dev_pit_init(struct dev_pit *pit, const struct dev_clock *clock,
		  struct dev_isa_irqs *irqs);

/* Raise IRQ 0 if channel 0's OUT rose since the last call (one edge, however
 * many periods passed: the PIC would latch only one). */
void dev_pit_update(struct dev_pit *pit);

/* Monotonic ns of channel 0's next rising edge (possibly already past if
 * dev_pit_update has not run since), UINT64_MAX if none will come. */
uint64_t dev_pit_next_event(const struct dev_pit *pit);

/* The global tick count at `ns`, and the first ns of tick `tick`: exact
 * integer conversions, so port reads are pure functions of the clock. */
uint64_t dev_pit_tick_at(uint64_t ns);
uint64_t dev_pit_tick_start_ns(uint64_t tick);

extern const struct dev_pio_ops dev_pit_ops;    /* 0x40-0x43 */
extern const struct dev_pio_ops dev_port61_ops; /* 0x61; dev is the pit */

/* ---- CMOS RAM and the MC146818 RTC at 0x70/0x71 (rtc_cmos.c) ---- */

#define DEV_RTC_CMOS_SIZE 128u

/*
 * The RTC's time is the host's UTC plus a whole number of seconds the guest
 * chose by setting the clock, so its seconds tick over exactly when the
 * host's do. While register B's SET bit is on, the time registers are plain
 * bytes in `cmos`; clearing SET turns them back into the offset.
 */
struct dev_rtc {
	const struct dev_clock *clock;
	struct dev_isa_irqs *irqs;     /* IRQ 8 */
	uint8_t cmos[DEV_RTC_CMOS_SIZE];
	uint8_t index;                 /* port 0x70 bits 6:0 */
	bool nmi_masked;               /* port 0x70 bit 7 */
	bool irq_level;                /* IRQ 8 as last driven (= IRQF) */
	uint8_t flags;                 /* register C's PF, AF, UF */
	int64_t offset_s;              /* guest time - host time, seconds */
	int64_t last_second;           /* guest second the update logic saw */
	uint64_t last_periodic;        /* periodic tick index it saw */
};

/* A=0x26 (32.768 kHz, 1024 Hz), B=0x02 (BCD, 24 h), the guest's clock at
 * host UTC, century 20, and the RAM-size-free bytes QEMU's guests find. */
void dev_rtc_init(struct dev_rtc *rtc, const struct dev_clock *clock,
		  struct dev_isa_irqs *irqs);

/* Latch the periodic, update-ended and alarm flags that fell due and drive
 * IRQ 8 from IRQF. */
void dev_rtc_update(struct dev_rtc *rtc);

/* Monotonic ns at which IRQ 8 would next rise (UINT64_MAX: never; in
 * particular while IRQF is still set, since register C was not read). */
uint64_t dev_rtc_next_event(const struct dev_rtc *rtc);

extern const struct dev_pio_ops dev_rtc_ops; /* 0x70-0x71 */

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
	struct dev_isa_irqs *irqs; /* where the interrupt line goes (NULL: nowhere) */
	unsigned irq;
};

/* Put `u` in the power-on state QEMU's guests find after SeaBIOS. */
void dev_uart_init(struct dev_uart *u, const struct dev_serial_sink *sink);

/* Wire the UART's interrupt output to ISA IRQ `irq`. From then on every
 * register access and every received byte drives the line to
 * dev_uart_irq_pending(): a level, which the edge-triggered PIC turns into
 * one request per rising edge. */
void dev_uart_connect_irq(struct dev_uart *u, struct dev_isa_irqs *irqs,
			  unsigned irq);

/* Drive the interrupt line from the current state (no-op if unwired). */
void dev_uart_update_irq(struct dev_uart *u);
extern const struct dev_pio_ops dev_uart_ops;

/* ---- i8042 keyboard controller (i8042.c) ---- */

#define DEV_I8042_QUEUE_SIZE 8u
#define DEV_I8042_IRQ_KBD    1u  /* keyboard data and controller answers */
#define DEV_I8042_IRQ_AUX    12u /* AUX (mouse) data */

struct dev_i8042 {
	struct dev_stop *stop;
	uint8_t status;       /* status register without OBF, AUX (derived) */
	uint8_t command_byte; /* "mode": interrupts, disables, translation */
	uint8_t outport;      /* output port: bit 0 reset line, bit 1 A20 */
	uint8_t pending;      /* controller command awaiting its data byte */
	uint8_t last;         /* last byte read from 0x60 (re-read when empty) */
	uint8_t queue[DEV_I8042_QUEUE_SIZE]; /* output buffer bytes, oldest first */
	bool queue_aux[DEV_I8042_QUEUE_SIZE]; /* the byte came from the AUX port */
	unsigned queue_count;
	struct dev_isa_irqs *irqs; /* where IRQ 1 and 12 go (NULL: nowhere) */
};

void dev_i8042_init(struct dev_i8042 *kbc, struct dev_stop *stop);

/* Wire the controller's interrupt outputs to ISA IRQ 1 and IRQ 12.
 * From then on every change of the output buffer or the command byte
 * drives both lines to their level, which the edge-triggered PIC turns
 * into one request per rising edge. */
void dev_i8042_connect_irq(struct dev_i8042 *kbc, struct dev_isa_irqs *irqs);
extern const struct dev_pio_ops dev_i8042_ops;

/* ---- isa-debug-exit (debug_exit.c) and the POST port (port80.c) ---- */

/* The device state of isa-debug-exit is where its stop request goes. */
extern const struct dev_pio_ops dev_debug_exit_ops; /* dev is a struct dev_stop */
extern const struct dev_pio_ops dev_port80_ops;     /* dev is unused */

/* ---- ATA/IDE: the legacy primary and secondary channels (ide.c) ---- */

#define DEV_IDE_MAX_MULT 16u /* sectors per READ/WRITE MULTIPLE block */

/* What finishes when the guest has moved the last byte of the buffer. */
enum dev_ide_transfer {
	IDE_XFER_NONE,     /* no transfer: the data port reads 0 */
	IDE_XFER_OUT,      /* IDENTIFY: one block to the host, then done */
	IDE_XFER_READ,     /* READ SECTORS/MULTIPLE: the next block, or done */
	IDE_XFER_WRITE,    /* WRITE SECTORS/MULTIPLE: write it, next or done */
};

/*
 * One drive. As on QEMU, each drive keeps its own copy of the task file;
 * register writes go to both drives of the channel (they share the
 * cable), reads come from the selected one.
 */
struct dev_ide_drive {
	struct dev_disk *disk;         /* NULL: no drive at this position */
	char serial[21];
	uint16_t cylinders, heads, sectors;   /* default geometry (words 1, 3, 6) */
	uint16_t cur_cylinders, cur_heads, cur_sectors; /* translation in use */
	uint8_t mult_sectors;          /* READ/WRITE MULTIPLE block; 0: off */
	uint8_t feature, error, sector, lcyl, hcyl, select, status;
	uint8_t hob_feature, hob_nsector, hob_sector, hob_lcyl, hob_hcyl;
	uint32_t nsector;              /* count register; during a command,
					* the sectors still to transfer */
	bool lba48;                    /* the command being run is an EXT one */
	unsigned block;                /* sectors per DRQ block of the command */
	enum dev_ide_transfer xfer;
	uint32_t pos, end;             /* data port cursor in buffer */
	uint8_t buffer[DEV_IDE_MAX_MULT * DEV_SECTOR_SIZE];
};

struct dev_ide_channel {
	struct dev_ide_drive drive[2]; /* master, slave */
	unsigned unit;                 /* the DEV bit of the last select */
	uint8_t control;               /* device control: nIEN, SRST, HOB */
	bool irq_pending;              /* INTRQ as last driven */
	struct dev_irq_line irq;
};

/* A channel with no drives, raising `irq` (14 primary, 15 secondary). */
void dev_ide_init(struct dev_ide_channel *ch, const struct dev_irq_line *irq);

/* Put `disk` at `unit` (0 master, 1 slave); `number` makes its serial. */
void dev_ide_attach(struct dev_ide_channel *ch, unsigned unit,
		    struct dev_disk *disk, unsigned number);

extern const struct dev_pio_ops dev_ide_ops;      /* command block, 8 ports */
extern const struct dev_pio_ops dev_ide_ctrl_ops; /* control block, 1 port */

/* ---- virtio-blk, legacy PCI interface (virtio_blk.c) ---- */

#define DEV_VIRTIO_QUEUE_SIZE 128u
#define DEV_VIRTIO_BAR_SIZE   64u
#define DEV_VIRTIO_ID_BYTES   20u /* VIRTIO_BLK_ID_BYTES: GET_ID's answer */

struct dev_virtio_blk {
	struct dev_pci_function fn;
	struct dev_pci *pci;
	struct dev_disk *disk;
	const struct dev_guest_ram *ram;
	char serial[DEV_VIRTIO_ID_BYTES + 1];
	uint32_t guest_features;
	uint32_t queue_pfn;    /* ring at queue_pfn * 4096; 0: no queue */
	uint16_t queue_select;
	uint16_t last_avail;   /* free-running index of the next request */
	uint16_t used_idx;     /* free-running used->idx, as last published */
	uint8_t status;        /* device status (driver's bits + NEEDS_RESET) */
	uint8_t isr;           /* bit 0: used buffers; read clears */
};

/*
 * Make `vb` a virtio-blk function at `slot` (function 0) of `pci` over
 * `disk`, doing DMA into `ram` (both outlive it); `index` numbers the
 * serial ("BTVMM-VD<index>"). Then add it with dev_pci_add(pci, &vb->fn).
 */
void dev_virtio_blk_init(struct dev_virtio_blk *vb, struct dev_pci *pci,
			 unsigned slot, struct dev_disk *disk,
			 const struct dev_guest_ram *ram, unsigned index);
extern const struct dev_pio_ops dev_virtio_blk_ops; /* BAR 0; dev is the vb */

/* All ones for an access of `size` bytes: what an undriven ISA bus reads. */
static inline uint32_t dev_all_ones(unsigned size)
{
	return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

#endif
