/* devices: the DSDT's AML, assembled by a few emitters: \_S5 for power-off and \_SB.PCI0 with the PCI interrupt routing. */
#include "invariant.h"
#include <string.h>

#include "firmware_internal.h"
#include "pc_map.h"

/*
 * The namespace, as ASL (what `iasl -d` prints for these bytes):
 *
 *   Name (_S5, Package (4) { PC_ACPI_S5_TYP, PC_ACPI_S5_TYP, 0, 0 })
 *   Scope (_SB) {
 *     Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A03"))   // a PCI host bridge
 *       Name (_ADR, 0)
 *       Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () {  // what the bridge forwards
 *         WordBusNumber (0x00-0xff)
 *         IO (Decode16, 0x0cf8, 0x0cf8, 1, 8)  // its own config ports
 *         WordIO (0x0000-0x0cf7)  WordIO (0x0d00-0xffff)
 *         DWordMemory (0x000a0000-0x000bffff)  // the VGA window
 *         DWordMemory (RAM end-0xfebfffff)     // up to the I/O APIC
 *       })
 *       Name (_PRT, Package (124) {       // slots 1-31, INTA-INTD
 *         Package (4) { 0x0001FFFF, 0, 0, 10 },   // address, pin, source, GSI
 *         ...
 *       })
 *     }
 *   }
 *
 * A _PRT entry whose source is 0 names a GSI directly, with no link
 * device: level-triggered, active low (ACPI 2.0 6.2.8), as PC_PCI_GSI's
 * interrupts are. Without methods there is nothing for the OS to execute.
 * The _CRS windows are QEMU's: without them Linux gives the root bus no
 * I/O or memory window, and cannot place a device's BARs.
 */

/* AML opcodes (ACPI 2.0 chapter 16). */
enum {
	AML_ZERO = 0x00,
	AML_ONE = 0x01,
	AML_NAME = 0x08,
	AML_BYTE_PREFIX = 0x0a,
	AML_WORD_PREFIX = 0x0b,
	AML_DWORD_PREFIX = 0x0c,
	AML_SCOPE = 0x10,
	AML_BUFFER = 0x11,
	AML_PACKAGE = 0x12,
	AML_EXT_PREFIX = 0x5b,
	AML_EXT_DEVICE = 0x82, /* after AML_EXT_PREFIX */
};

/* AML being written at ram[at], up to ram[end]. */
struct aml {
	uint8_t *ram;
	uint32_t at, end;
};

static void aml_byte(struct aml *a, uint8_t b)
{
	BTVMM_CHECK(a->at < a->end && "DSDT overflows the BIOS area");
	a->ram[a->at++] = b;
}

/* A NameSeg: four characters, '_' padded. */
static void aml_nameseg(struct aml *a, const char seg[4])
{
	for (int i = 0; i < 4; i++)
		aml_byte(a, (uint8_t)seg[i]);
}

/* An integer in its shortest encoding. */
static void aml_integer(struct aml *a, uint32_t v)
{
	unsigned bytes;
	if (v <= 1) {
		aml_byte(a, v ? AML_ONE : AML_ZERO);
		return;
	}
	if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		bytes = 1;
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		bytes = 2;
	} else {
		aml_byte(a, AML_DWORD_PREFIX);
		bytes = 4;
	}
	for (unsigned i = 0; i < bytes; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/*
 * An EISA ID as EisaId() compiles it: three letters of five bits each
 * (A = 1) and a 16-bit product number, big-endian, as a DWord.
 */
static void aml_eisa_id(struct aml *a, const char vendor[3], uint16_t product)
{
	uint16_t v = (uint16_t)((vendor[0] - '@') << 10 | (vendor[1] - '@') << 5 |
				(vendor[2] - '@'));
	aml_byte(a, AML_DWORD_PREFIX);
	aml_byte(a, (uint8_t)(v >> 8));
	aml_byte(a, (uint8_t)v);
	aml_byte(a, (uint8_t)(product >> 8));
	aml_byte(a, (uint8_t)product);
}

/*
 * Scopes, devices and packages carry a PkgLength: the length of what
 * follows it, itself included, in 1 to 4 bytes. aml_open marks where the
 * body starts; aml_close moves the body up to make room for the shortest
 * encoding and writes it:
 *
 *   1 byte:  [7:6]=0, [5:0] length (< 64)
 *   2-4:     [7:6]=bytes-1, [3:0] length bits 3:0, then length >> 4,
 *            little-endian, in the following bytes
 */
static uint32_t aml_open(struct aml *a)
{
	return a->at;
}

static void aml_close(struct aml *a, uint32_t body)
{
	uint32_t n = a->at - body;
	unsigned k = n + 1 < 64 ? 1 : n + 2 < (1u << 12) ? 2 : n + 3 < (1u << 20) ? 3 : 4;
	uint32_t total = n + k;
	BTVMM_CHECK(a->at + k <= a->end && "DSDT overflows the BIOS area");
	memmove(a->ram + body + k, a->ram + body, n);
	if (k == 1) {
		a->ram[body] = (uint8_t)total;
	} else {
		a->ram[body] = (uint8_t)((k - 1) << 6 | (total & 0xf));
		for (unsigned i = 1; i < k; i++)
			a->ram[body + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	a->at += k;
}

/* Package (n) { ... }: PackageOp, PkgLength, NumElements, elements. The
 * caller writes the elements between this and aml_close. */
static uint32_t aml_package(struct aml *a, uint8_t elements)
{
	aml_byte(a, AML_PACKAGE);
	uint32_t body = aml_open(a);
	aml_byte(a, elements);
	return body;
}

/* Name (_S5, Package (4) { typ, typ, 0, 0 }): the SLP_TYP values for
 * PM1a_CNT and PM1b_CNT, then two reserved. */
static void aml_s5(struct aml *a)
{
	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_S5_");
	uint32_t pkg = aml_package(a, 4);
	aml_integer(a, PC_ACPI_S5_TYP);
	aml_integer(a, PC_ACPI_S5_TYP);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_close(a, pkg);
}

/*
 * Resource descriptors (ACPI 2.0 6.4), written into a scratch buffer
 * first because a Buffer states its size before its bytes. The address
 * space descriptors' general flags: bit 0 consumer (0: the bridge
 * produces the range for its children), bit 2 min fixed, bit 3 max fixed.
 */
#define RES_IO               0x47u /* small: I/O port range */
#define RES_END_TAG          0x79u /* small: end, then a checksum (0: none) */
#define RES_DWORD_SPACE      0x87u /* large: DWord address space */
#define RES_WORD_SPACE       0x88u /* large: Word address space */
#define RES_SPACE_MEMORY     0u
#define RES_SPACE_IO         1u
#define RES_SPACE_BUS        2u
#define RES_PRODUCER_FIXED   0x0cu
#define RES_IO_ENTIRE_RANGE  0x03u /* ISA and non-ISA ports */
#define RES_MEM_RW           0x01u
#define RES_MEM_CACHEABLE    0x02u

static void aml_word(struct aml *a, uint16_t v)
{
	aml_byte(a, (uint8_t)v);
	aml_byte(a, (uint8_t)(v >> 8));
}

static void aml_dword(struct aml *a, uint32_t v)
{
	aml_word(a, (uint16_t)v);
	aml_word(a, (uint16_t)(v >> 16));
}

/* Word address space: type, flags, granularity 0, min, max, translation
 * 0, length. */
static void res_word_space(struct aml *a, uint8_t space, uint8_t type_flags,
			   uint16_t min, uint16_t max)
{
	aml_byte(a, RES_WORD_SPACE);
	aml_word(a, 13);
	aml_byte(a, space);
	aml_byte(a, RES_PRODUCER_FIXED);
	aml_byte(a, type_flags);
	aml_word(a, 0);
	aml_word(a, min);
	aml_word(a, max);
	aml_word(a, 0);
	aml_word(a, (uint16_t)(max - min + 1));
}

static void res_dword_memory(struct aml *a, uint8_t type_flags, uint32_t min,
			     uint32_t max)
{
	aml_byte(a, RES_DWORD_SPACE);
	aml_word(a, 23);
	aml_byte(a, RES_SPACE_MEMORY);
	aml_byte(a, RES_PRODUCER_FIXED);
	aml_byte(a, type_flags);
	aml_dword(a, 0);
	aml_dword(a, min);
	aml_dword(a, max);
	aml_dword(a, 0);
	aml_dword(a, max - min + 1);
}

/* IO (Decode16, base, base, 1, len): ports the bridge itself consumes. */
static void res_io(struct aml *a, uint16_t base, uint8_t len)
{
	aml_byte(a, RES_IO);
	aml_byte(a, 0x01); /* 16-bit decode */
	aml_word(a, base);
	aml_word(a, base);
	aml_byte(a, 1);
	aml_byte(a, len);
}

#define PCI_CONFIG_PORTS   0x0cf8u
#define VGA_WINDOW         0x000a0000u
#define VGA_WINDOW_END     0x000bffffu

static void aml_crs(struct aml *a, uint32_t ram_end)
{
	uint8_t scratch[128];
	struct aml r = { .ram = scratch, .at = 0, .end = sizeof(scratch) };
	res_word_space(&r, RES_SPACE_BUS, 0, 0x00, 0xff);
	res_io(&r, PCI_CONFIG_PORTS, 8);
	res_word_space(&r, RES_SPACE_IO, RES_IO_ENTIRE_RANGE, 0x0000, PCI_CONFIG_PORTS - 1);
	res_word_space(&r, RES_SPACE_IO, RES_IO_ENTIRE_RANGE, PCI_CONFIG_PORTS + 8, 0xffff);
	res_dword_memory(&r, RES_MEM_RW | RES_MEM_CACHEABLE, VGA_WINDOW, VGA_WINDOW_END);
	res_dword_memory(&r, RES_MEM_RW, ram_end, PC_IOAPIC_BASE - 1);
	aml_byte(&r, RES_END_TAG);
	aml_byte(&r, 0);

	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_CRS");
	aml_byte(a, AML_BUFFER);
	uint32_t buf = aml_open(a);
	aml_integer(a, r.at);
	for (uint32_t i = 0; i < r.at; i++)
		aml_byte(a, scratch[i]);
	aml_close(a, buf);
}

/* Name (_PRT, Package () { Package (4) { (slot << 16) | 0xffff (any
 * function), pin, 0 (no link device), GSI }, ... }). */
static void aml_prt(struct aml *a)
{
	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_PRT");
	uint32_t prt = aml_package(a, (uint8_t)((PC_PCI_SLOTS - 1) * 4));
	for (uint32_t slot = 1; slot < PC_PCI_SLOTS; slot++) {
		for (uint32_t pin = 0; pin < 4; pin++) {
			uint32_t entry = aml_package(a, 4);
			aml_integer(a, slot << 16 | 0xffff);
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, PC_PCI_GSI(slot, pin));
			aml_close(a, entry);
		}
	}
	aml_close(a, prt);
}

static void aml_pci0(struct aml *a, uint32_t ram_end)
{
	aml_byte(a, AML_EXT_PREFIX);
	aml_byte(a, AML_EXT_DEVICE);
	uint32_t dev = aml_open(a);
	aml_nameseg(a, "PCI0");
	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_HID");
	aml_eisa_id(a, "PNP", 0x0a03);
	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_ADR");
	aml_integer(a, 0);
	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_UID");
	aml_integer(a, 0);
	aml_crs(a, ram_end);
	aml_prt(a);
	aml_close(a, dev);
}

uint32_t fw_dsdt_aml(uint8_t *ram, uint32_t addr, uint32_t room,
		     uint32_t ram_end)
{
	struct aml a = { .ram = ram, .at = addr, .end = addr + room };
	aml_s5(&a);
	aml_byte(&a, AML_SCOPE);
	uint32_t sb = aml_open(&a);
	aml_nameseg(&a, "_SB_");
	aml_pci0(&a, ram_end);
	aml_close(&a, sb);
	return a.at - addr;
}
