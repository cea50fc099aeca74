/* devices: the DSDT's AML, assembled by a few emitters: \_S5 for power-off and \_SB.PCI0 with the PCI interrupt routing. */
#include <assert.h>
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
	assert(a->at < a->end && "DSDT overflows the BIOS area");
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
	assert(a->at + k <= a->end && "DSDT overflows the BIOS area");
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

static void aml_pci0(struct aml *a)
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
	aml_prt(a);
	aml_close(a, dev);
}

uint32_t fw_dsdt_aml(uint8_t *ram, uint32_t addr, uint32_t room)
{
	struct aml a = { .ram = ram, .at = addr, .end = addr + room };
	aml_s5(&a);
	aml_byte(&a, AML_SCOPE);
	uint32_t sb = aml_open(&a);
	aml_nameseg(&a, "_SB_");
	aml_pci0(&a);
	aml_close(&a, sb);
	return a.at - addr;
}
