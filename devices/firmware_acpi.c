/* devices: the ACPI 2.0 tables a BIOS leaves (RSDP, RSDT, XSDT, FADT, FACS, DSDT, MADT, HPET), as QEMU's describe its "pc" machine. */
#include "invariant.h"
#include <string.h>

#include "firmware_internal.h"
#include "pc_map.h"

/*
 * The RSDP (revision 2) points to an RSDT and an XSDT listing the same
 * tables: FACP (the FADT, which points to the FACS and the DSDT), APIC
 * (the MADT) and, with an HPET, HPET. Each table opens with the 36-byte
 * header every system description table has:
 *
 *   0 signature  4 length  8 revision  9 checksum  10 OEM ID (6)
 *   16 OEM table ID (8)  24 OEM revision  28 creator ID  32 creator revision
 *
 * Where QEMU's tables differ from ACPI 2.0's defaults, the comment says
 * why we follow or leave QEMU.
 */

#define SDT_HEADER        36u
#define SDT_CHECKSUM      9u
#define ACPI_OEM_ID       "BTVMM "

/* Generic Address Structure (12 bytes): 0 address space, 1 bit width,
 * 2 bit offset, 3 access size (0: as the field says), 4 address (8). */
#define GAS_SIZE          12u
enum acpi_space { ACPI_SPACE_MEMORY = 0, ACPI_SPACE_IO = 1 };

static void put_gas(uint8_t *ram, uint32_t at, enum acpi_space space,
		    unsigned bit_width, uint64_t address)
{
	memset(ram + at, 0, GAS_SIZE);
	fw_put8(ram, at, (uint8_t)space);
	fw_put8(ram, at + 1, (uint8_t)bit_width);
	fw_put64(ram, at + 4, address);
}

/* Fill a table's header but its checksum (sdt_finish does that last). */
static void sdt_header(uint8_t *ram, uint32_t t, const char sig[4],
		       uint32_t len, uint8_t revision)
{
	memset(ram + t, 0, SDT_HEADER);
	fw_put_chars(ram, t, sig, 4);
	fw_put32(ram, t + 4, len);
	fw_put8(ram, t + 8, revision);
	fw_put_chars(ram, t + 10, ACPI_OEM_ID, 6);
	fw_put_chars(ram, t + 16, "BTVM", 4); /* OEM table ID: BTVM + signature */
	fw_put_chars(ram, t + 20, sig, 4);
	fw_put32(ram, t + 24, 1);
	fw_put_chars(ram, t + 28, "BTVM", 4);
	fw_put32(ram, t + 32, 1);
}

static void sdt_finish(uint8_t *ram, uint32_t t, uint32_t len)
{
	fw_checksum(ram, t, len, t + SDT_CHECKSUM);
}

/* FACS (5.2.9): no checksum; 64-byte aligned. 0 "FACS", 4 length,
 * 8 hardware signature, 12 waking vector, 16 global lock, 20 flags,
 * 24 64-bit waking vector, 32 version (1 for ACPI 2.0). */
#define FACS_SIZE         64u

static uint32_t write_facs(struct fw_area *area)
{
	uint32_t f = fw_alloc(area, FACS_SIZE, 64);
	fw_put_chars(area->ram, f, "FACS", 4);
	fw_put32(area->ram, f + 4, FACS_SIZE);
	fw_put8(area->ram, f + 32, 1);
	return f;
}

static uint32_t write_dsdt(struct fw_area *area, uint32_t ram_end)
{
	uint32_t d = fw_alloc(area, 0, 16);
	uint32_t len = SDT_HEADER + fw_dsdt_aml(area->ram, d + SDT_HEADER,
						area->end - d - SDT_HEADER, ram_end);
	fw_alloc(area, len, 1);
	/* Revision 1: integers are 32-bit, enough for every value here. */
	sdt_header(area->ram, d, "DSDT", len, 1);
	sdt_finish(area->ram, d, len);
	return d;
}

/*
 * FADT, revision 3 (ACPI 2.0, 244 bytes; QEMU 7.2's "pc" has revision 1,
 * whose 116 bytes have no 64-bit fields and no reset register). Offsets
 * as in ACPI 2.0 5.2.8.
 */
#define FADT_SIZE         244u
#define FADT_FIRMWARE_CTRL 36u
#define FADT_DSDT         40u
#define FADT_SCI_INT      46u
#define FADT_SMI_CMD      48u
#define FADT_PM1A_EVT_BLK 56u
#define FADT_PM1A_CNT_BLK 64u
#define FADT_PM_TMR_BLK   76u
#define FADT_PM1_EVT_LEN  88u
#define FADT_PM1_CNT_LEN  89u
#define FADT_PM_TMR_LEN   91u
#define FADT_P_LVL2_LAT   96u
#define FADT_P_LVL3_LAT   98u
#define FADT_CENTURY      108u
#define FADT_IAPC_BOOT_ARCH 109u
#define FADT_FLAGS        112u
#define FADT_RESET_REG    116u
#define FADT_RESET_VALUE  128u
#define FADT_X_FIRMWARE_CTRL 132u
#define FADT_X_DSDT       140u
#define FADT_X_PM1A_EVT_BLK 148u
#define FADT_X_PM1A_CNT_BLK 172u
#define FADT_X_PM_TMR_BLK 208u

#define PM1_EVT_LEN       4u /* PM1 status and enable, 2 bytes each */
#define PM1_CNT_LEN       2u
#define PM_TMR_LEN        4u

/* Fixed feature flags. TMR_VAL_EXT stays 0: the PM timer is 24-bit. */
#define FADT_F_WBINVD        (1u << 0)  /* WBINVD flushes caches */
#define FADT_F_PROC_C1       (1u << 2)  /* HLT works on every CPU */
#define FADT_F_SLP_BUTTON    (1u << 5)  /* no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP (1u << 10) /* RESET_REG resets the machine */

/* IA-PC boot architecture flags: ISA devices (the UART, PIT, RTC, PICs)
 * and an 8042 are there. */
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define BOOT_ARCH_8042           (1u << 1)

#define C_STATE_NOT_SUPPORTED 0xfffu /* P_LVL2/3_LAT beyond 100/1000 us */
#define RTC_CENTURY_INDEX     0x32u  /* the CMOS century byte */

static uint32_t write_fadt(struct fw_area *area, uint32_t facs, uint32_t dsdt)
{
	uint8_t *ram = area->ram;
	uint32_t f = fw_alloc(area, FADT_SIZE, 16);
	memset(ram + f, 0, FADT_SIZE);
	sdt_header(ram, f, "FACP", FADT_SIZE, 3);
	fw_put32(ram, f + FADT_FIRMWARE_CTRL, facs);
	fw_put32(ram, f + FADT_DSDT, dsdt);
	fw_put16(ram, f + FADT_SCI_INT, PC_IRQ_SCI);
	/* SMI_CMD 0: ACPI is always enabled (SCI_EN reads 1), so an OS never
	 * asks for the switch. QEMU has 0xb2, where SMM firmware answers. */
	fw_put32(ram, f + FADT_SMI_CMD, 0);
	fw_put32(ram, f + FADT_PM1A_EVT_BLK, PC_ACPI_PM1A_EVT);
	fw_put32(ram, f + FADT_PM1A_CNT_BLK, PC_ACPI_PM1A_CNT);
	fw_put32(ram, f + FADT_PM_TMR_BLK, PC_ACPI_PM_TMR);
	fw_put8(ram, f + FADT_PM1_EVT_LEN, PM1_EVT_LEN);
	fw_put8(ram, f + FADT_PM1_CNT_LEN, PM1_CNT_LEN);
	fw_put8(ram, f + FADT_PM_TMR_LEN, PM_TMR_LEN);
	/* No GPE blocks (QEMU has GPE0 at 0xafe0 for hot-plug): nothing here
	 * raises general-purpose events. */
	fw_put16(ram, f + FADT_P_LVL2_LAT, C_STATE_NOT_SUPPORTED);
	fw_put16(ram, f + FADT_P_LVL3_LAT, C_STATE_NOT_SUPPORTED);
	fw_put8(ram, f + FADT_CENTURY, RTC_CENTURY_INDEX);
	fw_put16(ram, f + FADT_IAPC_BOOT_ARCH, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042);
	fw_put32(ram, f + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 |
		 FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP);
	put_gas(ram, f + FADT_RESET_REG, ACPI_SPACE_IO, 8, PC_RESET_PORT);
	fw_put8(ram, f + FADT_RESET_VALUE, PC_RESET_VALUE);
	fw_put64(ram, f + FADT_X_FIRMWARE_CTRL, facs);
	fw_put64(ram, f + FADT_X_DSDT, dsdt);
	put_gas(ram, f + FADT_X_PM1A_EVT_BLK, ACPI_SPACE_IO, PM1_EVT_LEN * 8, PC_ACPI_PM1A_EVT);
	put_gas(ram, f + FADT_X_PM1A_CNT_BLK, ACPI_SPACE_IO, PM1_CNT_LEN * 8, PC_ACPI_PM1A_CNT);
	put_gas(ram, f + FADT_X_PM_TMR_BLK, ACPI_SPACE_IO, PM_TMR_LEN * 8, PC_ACPI_PM_TMR);
	sdt_finish(ram, f, FADT_SIZE);
	return f;
}

/*
 * MADT (ACPI 2.0 5.2.10.4, revision 1): 36 local APIC address, 40 flags,
 * then entries, each 0 type, 1 length. The interrupt source overrides and
 * their MPS INTI flags (polarity bits 1:0, trigger 3:2) are QEMU's, except
 * that QEMU's PCI interrupts (IRQ 5, 10, 11) are level, active high through
 * its PCI link devices; ours (10 and 11) are level, active low, which is
 * what the DSDT's _PRT implies for a GSI without a link device.
 */
#define MADT_LAPIC_ADDR   36u
#define MADT_FLAGS        40u
#define MADT_PCAT_COMPAT  1u /* the 8259s are there too */
enum madt_type { MADT_LAPIC = 0, MADT_IOAPIC = 1, MADT_ISO = 2, MADT_LAPIC_NMI = 4 };
#define MADT_LAPIC_SIZE   8u
#define MADT_IOAPIC_SIZE  12u
#define MADT_ISO_SIZE     10u
#define MADT_NMI_SIZE     6u
#define MADT_OVERRIDES    4u

#define INTI_CONFORMING   0x0u
#define INTI_LEVEL_HIGH   0xdu
#define INTI_LEVEL_LOW    0xfu

/* Interrupt source override: 2 bus (0: ISA), 3 source IRQ, 4 GSI, 8 flags. */
static uint32_t madt_override(uint8_t *ram, uint32_t e, unsigned irq, unsigned flags)
{
	fw_put8(ram, e, MADT_ISO);
	fw_put8(ram, e + 1, MADT_ISO_SIZE);
	fw_put8(ram, e + 3, (uint8_t)irq);
	fw_put32(ram, e + 4, PC_GSI_OF_IRQ(irq));
	fw_put16(ram, e + 8, (uint16_t)flags);
	return e + MADT_ISO_SIZE;
}

static uint32_t write_madt(struct fw_area *area)
{
	uint8_t *ram = area->ram;
	uint32_t len = SDT_HEADER + 8 + MADT_LAPIC_SIZE + MADT_IOAPIC_SIZE +
		       MADT_OVERRIDES * MADT_ISO_SIZE + MADT_NMI_SIZE;
	uint32_t m = fw_alloc(area, len, 16);
	memset(ram + m, 0, len);
	sdt_header(ram, m, "APIC", len, 1);
	fw_put32(ram, m + MADT_LAPIC_ADDR, PC_LAPIC_BASE);
	fw_put32(ram, m + MADT_FLAGS, MADT_PCAT_COMPAT);
	uint32_t e = m + SDT_HEADER + 8;

	/* Processor local APIC: 2 ACPI processor ID, 3 APIC ID, 4 flags
	 * (bit 0 enabled). */
	fw_put8(ram, e, MADT_LAPIC);
	fw_put8(ram, e + 1, MADT_LAPIC_SIZE);
	fw_put8(ram, e + 3, PC_LAPIC_ID);
	fw_put32(ram, e + 4, 1);
	e += MADT_LAPIC_SIZE;

	/* I/O APIC: 2 ID, 4 address, 8 first GSI. */
	fw_put8(ram, e, MADT_IOAPIC);
	fw_put8(ram, e + 1, MADT_IOAPIC_SIZE);
	fw_put8(ram, e + 2, PC_IOAPIC_ID);
	fw_put32(ram, e + 4, PC_IOAPIC_BASE);
	fw_put32(ram, e + 8, 0);
	e += MADT_IOAPIC_SIZE;

	e = madt_override(ram, e, 0, INTI_CONFORMING); /* the PIT on pin 2 */
	e = madt_override(ram, e, PC_IRQ_SCI, INTI_LEVEL_HIGH);
	e = madt_override(ram, e, PC_PCI_GSI_FIRST, INTI_LEVEL_LOW);
	e = madt_override(ram, e, PC_PCI_GSI_FIRST + 1, INTI_LEVEL_LOW);

	/* Local APIC NMI: 2 processor ID (0xff: all), 3 flags, 5 LINT#. */
	fw_put8(ram, e, MADT_LAPIC_NMI);
	fw_put8(ram, e + 1, MADT_NMI_SIZE);
	fw_put8(ram, e + 2, 0xff);
	fw_put16(ram, e + 3, INTI_CONFORMING);
	fw_put8(ram, e + 5, 1);
	e += MADT_NMI_SIZE;
	BTVMM_CHECK(e == m + len);
	sdt_finish(ram, m, len);
	return m;
}

/* HPET table (IA-PC HPET spec 3.2.4, revision 1): 36 event timer block
 * ID, 40 base address (GAS), 52 HPET number, 53 minimum clock tick in
 * periodic mode, 55 page protection. QEMU's: the GAS has width 0 and the
 * minimum tick is 0. */
#define HPET_TABLE_SIZE   56u

static uint32_t write_hpet(struct fw_area *area)
{
	uint32_t h = fw_alloc(area, HPET_TABLE_SIZE, 16);
	memset(area->ram + h, 0, HPET_TABLE_SIZE);
	sdt_header(area->ram, h, "HPET", HPET_TABLE_SIZE, 1);
	fw_put32(area->ram, h + 36, PC_HPET_BLOCK_ID);
	put_gas(area->ram, h + 40, ACPI_SPACE_MEMORY, 0, PC_HPET_BASE);
	sdt_finish(area->ram, h, HPET_TABLE_SIZE);
	return h;
}

/* RSDT (4-byte entries) or XSDT (8-byte entries) listing `tables`. */
static uint32_t write_sdt_list(struct fw_area *area, const char sig[4],
			       unsigned entry_size, const uint32_t *tables,
			       unsigned n)
{
	uint32_t len = SDT_HEADER + n * entry_size;
	uint32_t t = fw_alloc(area, len, 16);
	sdt_header(area->ram, t, sig, len, 1);
	for (unsigned i = 0; i < n; i++) {
		uint32_t at = t + SDT_HEADER + i * entry_size;
		if (entry_size == 8)
			fw_put64(area->ram, at, tables[i]);
		else
			fw_put32(area->ram, at, tables[i]);
	}
	sdt_finish(area->ram, t, len);
	return t;
}

/* RSDP (5.2.4.3): 0 "RSD PTR ", 8 checksum of bytes 0-19, 9 OEM ID,
 * 15 revision, 16 RSDT; from revision 2: 20 length, 24 XSDT, 32 extended
 * checksum (all 36 bytes), 33-35 reserved. QEMU's is revision 0 (no XSDT). */
#define RSDP_SIZE         36u
#define RSDP_V1_SIZE      20u

static void write_rsdp(uint8_t *ram, uint32_t r, uint32_t rsdt, uint32_t xsdt)
{
	memset(ram + r, 0, RSDP_SIZE);
	fw_put_chars(ram, r, "RSD PTR ", 8);
	fw_put_chars(ram, r + 9, ACPI_OEM_ID, 6);
	fw_put8(ram, r + 15, 2);
	fw_put32(ram, r + 16, rsdt);
	fw_put32(ram, r + 20, RSDP_SIZE);
	fw_put64(ram, r + 24, xsdt);
	fw_checksum(ram, r, RSDP_V1_SIZE, r + 8);
	fw_checksum(ram, r, RSDP_SIZE, r + 32);
}

void fw_acpi_build(struct fw_area *area, uint32_t rsdp,
		   const struct dev_firmware_config *cfg)
{
	uint32_t facs = write_facs(area);
	uint32_t dsdt = write_dsdt(area, (uint32_t)cfg->ram_size);
	uint32_t tables[3];
	unsigned n = 0;
	tables[n++] = write_fadt(area, facs, dsdt);
	tables[n++] = write_madt(area);
	if (cfg->hpet)
		tables[n++] = write_hpet(area);
	uint32_t rsdt = write_sdt_list(area, "RSDT", 4, tables, n);
	uint32_t xsdt = write_sdt_list(area, "XSDT", 8, tables, n);
	write_rsdp(area->ram, rsdp, rsdt, xsdt);
}
