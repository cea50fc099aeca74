/* devices: what a PC BIOS leaves in RAM for the OS — the BIOS data area, the EBDA and the Intel MP 1.4 tables (the ACPI tables are in firmware_acpi.c). */
#include "invariant.h"
#include <errno.h>
#include <string.h>

#include "firmware_internal.h"
#include "pc_map.h"

/*
 * btvmm boots kernels directly, so no BIOS runs: these are the tables
 * SeaBIOS would have built under QEMU's "pc" machine, describing the same
 * addresses (devices/pc_map.h). Layout:
 *
 *   0x00400  BIOS data area (256 bytes)
 *   0x9fc00  EBDA (1 KiB): its first byte is its size in KiB
 *   0xf0000  ACPI RSDP, then the MP floating pointer and configuration
 *            table, then the other ACPI tables, one after another
 *
 * An OS finds the MP floating pointer by scanning the EBDA's first KiB
 * and then 0xf0000-0xfffff, and the RSDP by scanning the EBDA's first KiB
 * and then 0xe0000-0xfffff; SeaBIOS leaves both in the 0xf0000 segment,
 * and so do we.
 */

#define BDA_SIZE          0x100u
#define BDA_COM1          (PC_BDA + 0x00) /* COM1-4 base ports, 4 words */
#define BDA_EBDA_SEGMENT  (PC_BDA + 0x0e)
#define BDA_EQUIPMENT     (PC_BDA + 0x10)
#define BDA_BASE_KIB      (PC_BDA + 0x13)
#define EBDA_SIZE         (0xa0000u - PC_EBDA)

#define COM1_BASE         0x3f8u
/* Equipment word (INT 11h): bit 1 math coprocessor, bits 11:9 serial
 * ports; no floppy, no video (no VGA) and no PS/2 mouse (bit 2: the
 * i8042 has none attached). SeaBIOS under QEMU -nodefaults reports 0x206,
 * the same plus QEMU's PS/2 mouse. */
#define EQUIP_FPU         (1u << 1)
#define EQUIP_SERIAL(n)   ((uint16_t)((n) << 9))

_Static_assert(PC_EBDA == PC_EBDA_KIB * 1024u, "the EBDA starts where base memory ends");
_Static_assert(EBDA_SIZE == 1024u, "one KiB of EBDA, its size byte says 1");

void fw_put_chars(uint8_t *ram, uint32_t addr, const char *s, uint32_t n)
{
	memcpy(ram + addr, s, n);
}

void fw_checksum(uint8_t *ram, uint32_t addr, uint32_t len, uint32_t sum_at)
{
	uint8_t sum = 0;
	ram[sum_at] = 0;
	for (uint32_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + ram[addr + i]);
	ram[sum_at] = (uint8_t)-sum;
}

uint32_t fw_alloc(struct fw_area *area, uint32_t size, uint32_t align)
{
	uint32_t at = (area->next + align - 1) & ~(align - 1);
	BTVMM_CHECK(at + size <= area->end && "firmware tables overflow the BIOS area");
	area->next = at + size;
	return at;
}

static void write_bda(uint8_t *ram)
{
	memset(ram + PC_BDA, 0, BDA_SIZE);
	fw_put16(ram, BDA_COM1, COM1_BASE); /* COM2-4 stay 0: absent */
	fw_put16(ram, BDA_EQUIPMENT, EQUIP_FPU | EQUIP_SERIAL(1));
	fw_put16(ram, BDA_BASE_KIB, PC_EBDA_KIB);
	fw_put16(ram, BDA_EBDA_SEGMENT, PC_EBDA >> 4);

	memset(ram + PC_EBDA, 0, EBDA_SIZE);
	fw_put8(ram, PC_EBDA, EBDA_SIZE / 1024);
}

/* ---- Intel MP 1.4 ---- */

/*
 * Floating pointer structure (16 bytes):
 *   0 "_MP_"  4 configuration table address  8 length in 16-byte units
 *   9 spec revision (4 = 1.4)  10 checksum  11-15 feature bytes (all 0:
 *   a configuration table is present; no IMCR, virtual wire mode)
 *
 * Configuration table header (44 bytes):
 *   0 "PCMP"  4 base table length  6 spec revision  7 checksum
 *   8 OEM ID (8)  16 product ID (12)  28 OEM table pointer  32 its size
 *   34 entry count  36 local APIC address  40 extended table length
 *   42 extended table checksum  43 reserved
 */
#define MPF_SIZE          16u
#define MPC_HEADER        44u
#define MP_SPEC_1_4       4u
#define MP_CPU_SIZE       20u /* every other entry type is 8 bytes */
#define MP_ENTRY_SIZE     8u

enum mp_entry_type {
	MP_CPU = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4,
};

/* Bus IDs: Linux matches a PCI interrupt entry's bus ID with the PCI bus
 * number, so PCI bus 0 must be bus 0 here; ISA comes next, as SeaBIOS's. */
#define MP_BUS_PCI        0u
#define MP_BUS_ISA        1u

/* Interrupt entry flags (MPS INTI flags): polarity bits 1:0, trigger 3:2;
 * 0 conforms to the bus (ISA: edge, active high). */
#define MP_IRQ_CONFORMING 0x0u
#define MP_IRQ_LEVEL_HIGH 0xdu /* the SCI, as the MADT's override says */
#define MP_IRQ_LEVEL_LOW  0xfu /* PCI INTx (PC_PCI_GSI) */

enum mp_irq_type { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

/* Processor entry flags. */
#define MP_CPU_ENABLED    0x1u
#define MP_CPU_BSP        0x2u

/* ISA IRQs described as ISA interrupts: all but the cascade (2) and the
 * two PCI interrupts (10 and 11), which the PCI entries describe. */
static bool mp_isa_irq_listed(unsigned irq)
{
	return irq != 2u && irq != PC_PCI_GSI_FIRST && irq != PC_PCI_GSI_FIRST + 1u;
}

/* An MP table being filled: where the next entry goes, and how many. */
struct mp_table {
	uint8_t *ram;
	uint32_t next;
	uint16_t count;
};

static uint32_t mp_entry(struct mp_table *t, enum mp_entry_type type, uint32_t size)
{
	uint32_t e = t->next;
	memset(t->ram + e, 0, size);
	fw_put8(t->ram, e, (uint8_t)type);
	t->next += size;
	t->count++;
	return e;
}

/* Processor: 1 APIC ID, 2 APIC version, 3 flags, 4 CPUID signature,
 * 8 CPUID feature flags, 12-19 reserved. */
static void mp_add_cpu(struct mp_table *t, const struct dev_firmware_config *cfg)
{
	uint32_t e = mp_entry(t, MP_CPU, MP_CPU_SIZE);
	fw_put8(t->ram, e + 1, PC_LAPIC_ID);
	fw_put8(t->ram, e + 2, PC_LAPIC_VERSION);
	fw_put8(t->ram, e + 3, MP_CPU_ENABLED | MP_CPU_BSP);
	fw_put32(t->ram, e + 4, cfg->cpu_signature);
	fw_put32(t->ram, e + 8, cfg->cpu_features);
}

/* Bus: 1 bus ID, 2-7 bus type (blank-padded). */
static void mp_add_bus(struct mp_table *t, unsigned id, const char type[6])
{
	uint32_t e = mp_entry(t, MP_BUS, MP_ENTRY_SIZE);
	fw_put8(t->ram, e + 1, (uint8_t)id);
	fw_put_chars(t->ram, e + 2, type, 6);
}

/* I/O APIC: 1 ID, 2 version, 3 flags (bit 0 enabled), 4 address. */
static void mp_add_ioapic(struct mp_table *t)
{
	uint32_t e = mp_entry(t, MP_IOAPIC, MP_ENTRY_SIZE);
	fw_put8(t->ram, e + 1, PC_IOAPIC_ID);
	fw_put8(t->ram, e + 2, PC_IOAPIC_VERSION);
	fw_put8(t->ram, e + 3, 1);
	fw_put32(t->ram, e + 4, PC_IOAPIC_BASE);
}

/* I/O or local interrupt: 1 interrupt type, 2 flags, 4 source bus,
 * 5 source bus IRQ, 6 destination APIC ID, 7 destination pin (INTIN/LINTIN). */
static void mp_add_interrupt(struct mp_table *t, enum mp_entry_type type,
			     enum mp_irq_type irq_type, unsigned flags,
			     unsigned bus, unsigned bus_irq, unsigned apic,
			     unsigned pin)
{
	uint32_t e = mp_entry(t, type, MP_ENTRY_SIZE);
	fw_put8(t->ram, e + 1, (uint8_t)irq_type);
	fw_put16(t->ram, e + 2, (uint16_t)flags);
	fw_put8(t->ram, e + 4, (uint8_t)bus);
	fw_put8(t->ram, e + 5, (uint8_t)bus_irq);
	fw_put8(t->ram, e + 6, (uint8_t)apic);
	fw_put8(t->ram, e + 7, (uint8_t)pin);
}

static void mp_add_interrupts(struct mp_table *t)
{
	/* PCI: the source IRQ is (device << 2) | pin. */
	for (unsigned slot = 1; slot < PC_PCI_SLOTS; slot++)
		for (unsigned pin = 0; pin < 4; pin++)
			mp_add_interrupt(t, MP_INTSRC, MP_INT, MP_IRQ_LEVEL_LOW,
					 MP_BUS_PCI, slot << 2 | pin, PC_IOAPIC_ID,
					 PC_PCI_GSI(slot, pin));
	for (unsigned irq = 0; irq < 16; irq++) {
		if (!mp_isa_irq_listed(irq))
			continue;
		unsigned flags = irq == PC_IRQ_SCI ? MP_IRQ_LEVEL_HIGH : MP_IRQ_CONFORMING;
		mp_add_interrupt(t, MP_INTSRC, MP_INT, flags, MP_BUS_ISA, irq,
				 PC_IOAPIC_ID, PC_GSI_OF_IRQ(irq));
	}
	/* Virtual wire: the 8259's INTR on the BSP's LINT0, NMI on every
	 * CPU's LINT1 (destination 0xff: all local APICs). */
	mp_add_interrupt(t, MP_LINTSRC, MP_EXTINT, MP_IRQ_CONFORMING, MP_BUS_ISA,
			 0, PC_LAPIC_ID, 0);
	mp_add_interrupt(t, MP_LINTSRC, MP_NMI, MP_IRQ_CONFORMING, MP_BUS_ISA,
			 0, 0xff, 1);
}

/* The configuration table's size: its header, the processor, the two
 * buses, the I/O APIC, the PCI and ISA interrupts and the two local ones. */
static uint32_t mp_table_size(void)
{
	unsigned isa = 0;
	for (unsigned irq = 0; irq < 16; irq++)
		isa += mp_isa_irq_listed(irq);
	unsigned eights = 2 + 1 + (PC_PCI_SLOTS - 1) * 4 + isa + 2;
	return MPC_HEADER + MP_CPU_SIZE + eights * MP_ENTRY_SIZE;
}

static void write_mp(struct fw_area *area, const struct dev_firmware_config *cfg)
{
	uint8_t *ram = area->ram;
	uint32_t fp = fw_alloc(area, MPF_SIZE, 16);
	uint32_t size = mp_table_size();
	uint32_t ct = fw_alloc(area, size, 16);

	struct mp_table t = { .ram = ram, .next = ct + MPC_HEADER };
	mp_add_cpu(&t, cfg);
	mp_add_bus(&t, MP_BUS_PCI, "PCI   ");
	mp_add_bus(&t, MP_BUS_ISA, "ISA   ");
	mp_add_ioapic(&t);
	mp_add_interrupts(&t);
	BTVMM_CHECK(t.next == ct + size);

	fw_put_chars(ram, ct, "PCMP", 4);
	fw_put16(ram, ct + 4, (uint16_t)size);
	fw_put8(ram, ct + 6, MP_SPEC_1_4);
	fw_put_chars(ram, ct + 8, "BTVMM   ", 8);
	fw_put_chars(ram, ct + 16, "PC          ", 12);
	fw_put16(ram, ct + 34, t.count);
	fw_put32(ram, ct + 36, PC_LAPIC_BASE);
	fw_checksum(ram, ct, size, ct + 7);

	fw_put_chars(ram, fp, "_MP_", 4);
	fw_put32(ram, fp + 4, ct);
	fw_put8(ram, fp + 8, MPF_SIZE / 16);
	fw_put8(ram, fp + 9, MP_SPEC_1_4);
	fw_checksum(ram, fp, MPF_SIZE, fp + 10);
}

int dev_firmware_build(uint8_t *ram, const struct dev_firmware_config *cfg)
{
	if (cfg->ram_size < PC_BIOS_TABLES_END || cfg->ram_size >= PC_IOAPIC_BASE ||
	    cfg->ioapic_pins < 16)
		return -EINVAL;
	write_bda(ram);

	memset(ram + PC_BIOS_TABLES, 0, PC_BIOS_TABLES_END - PC_BIOS_TABLES);
	struct fw_area area = {
		.ram = ram, .next = PC_BIOS_TABLES, .end = PC_BIOS_TABLES_END,
	};
	/* The RSDP first, at the start of the area; the ACPI tables follow
	 * the MP table, and fill the RSDP in last. */
	uint32_t rsdp = fw_alloc(&area, 36, 16);
	write_mp(&area, cfg);
	fw_acpi_build(&area, rsdp, cfg);
	return 0;
}
