/* Unit tests for devices/firmware*.c: the BDA, MP and ACPI tables, found and parsed as an OS would, independently of the writer. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "pc_map.h"

/*
 * Every test builds the tables into a fresh 2 MiB RAM image, filled first
 * with zeros or (the loop's second run) with 0xa5, so that what the writer
 * forgot to clear shows. Offsets and values come from the specifications
 * (MP 1.4, ACPI 2.0, IA-PC HPET), not from the writer's code.
 */
#define RAM_SIZE (2u << 20)
#define CPU_FEATURES 0x0789a839u /* any CPUID.1:EDX: it must come through */

static uint8_t *ram;

static const struct dev_firmware_config config = {
	.ram_size = RAM_SIZE,
	.ioapic_pins = PC_IOAPIC_PINS,
	.hpet = true,
	.cpu_signature = 0x6e8,
	.cpu_features = CPU_FEATURES,
};

static uint8_t rd8(uint32_t a) { return ram[a]; }
static uint16_t rd16(uint32_t a) { return (uint16_t)(ram[a] | ram[a + 1] << 8); }
static uint32_t rd32(uint32_t a) { return rd16(a) | (uint32_t)rd16(a + 2) << 16; }
static uint64_t rd64(uint32_t a) { return rd32(a) | (uint64_t)rd32(a + 4) << 32; }

static uint8_t byte_sum(uint32_t a, uint32_t len)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < len; i++)
		s = (uint8_t)(s + ram[a + i]);
	return s;
}

static void build(int fill)
{
	ram = malloc(RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
	memset(ram, fill ? 0xa5 : 0, RAM_SIZE);
	ck_assert_int_eq(dev_firmware_build(ram, &config), 0);
}

static void teardown(void)
{
	free(ram);
	ram = NULL;
}

/* ---- BIOS data area ---- */

START_TEST(bda)
{
	build(_i);
	ck_assert_uint_eq(rd16(0x400), 0x3f8);              /* COM1 */
	ck_assert_uint_eq(rd16(0x402), 0);                  /* COM2-4 absent */
	ck_assert_uint_eq(rd16(0x404), 0);
	ck_assert_uint_eq(rd16(0x406), 0);
	ck_assert_uint_eq(rd16(0x40e), PC_EBDA >> 4);       /* EBDA segment */
	ck_assert_uint_eq((rd16(0x410) >> 9) & 7, 1);       /* one serial port */
	ck_assert_uint_eq(rd16(0x410) & 1, 0);              /* no floppy */
	ck_assert_uint_eq(rd16(0x413), 639);                /* base memory KiB */
	ck_assert_uint_eq(rd8(PC_EBDA), 1);                 /* EBDA size KiB */
	ck_assert_uint_eq((uint32_t)rd16(0x413) * 1024 + rd8(PC_EBDA) * 1024u, 0xa0000);
	/* The rest of the BDA is clear, as after POST of a machine with
	 * nothing else: the keyboard buffer pointers etc. read 0. */
	ck_assert_uint_eq(rd32(0x41a), 0);
	ck_assert_uint_eq(rd8(0x4ff), 0);
}
END_TEST

/* ---- MP 1.4 ---- */

static uint32_t mp_scan(uint32_t a, uint32_t len)
{
	for (uint32_t p = a; p < a + len; p += 16)
		if (!memcmp(ram + p, "_MP_", 4) && byte_sum(p, rd8(p + 8) * 16u) == 0)
			return p;
	return 0;
}

/* Linux's order: the EBDA's first KiB (found through the BDA), the last
 * KiB of base memory, then the BIOS area. */
static uint32_t mp_find(void)
{
	uint32_t ebda = (uint32_t)rd16(0x40e) << 4;
	uint32_t fp = mp_scan(ebda, 1024);
	if (!fp)
		fp = mp_scan(rd16(0x413) * 1024u - 1024, 1024);
	if (!fp)
		fp = mp_scan(0xf0000, 0x10000);
	return fp;
}

/* One parsed configuration table. */
struct mp {
	unsigned cpus, buses, ioapics, intsrcs, lintsrcs;
	int isa_bus, pci_bus;
	int isa_pin[16];
	unsigned isa_flags[16];
	int pci_pin[32][4];
	unsigned pci_flags;
	uint32_t cpu_entry, ioapic_entry;
	int lint0_extint, lint1_nmi;
};

static void mp_parse_intsrc(uint32_t e, struct mp *m)
{
	unsigned bus = rd8(e + 4), src = rd8(e + 5);
	ck_assert_uint_eq(rd8(e + 1), 0);                   /* INT */
	ck_assert_uint_eq(rd8(e + 6), PC_IOAPIC_ID);
	if ((int)bus == m->isa_bus) {
		ck_assert_uint_lt(src, 16);
		ck_assert_int_eq(m->isa_pin[src], -1);
		m->isa_pin[src] = rd8(e + 7);
		m->isa_flags[src] = rd16(e + 2);
	} else {
		ck_assert_int_eq((int)bus, m->pci_bus);
		ck_assert_int_eq(m->pci_pin[src >> 2][src & 3], -1);
		m->pci_pin[src >> 2][src & 3] = rd8(e + 7);
		m->pci_flags |= rd16(e + 2);
	}
}

static void mp_parse(uint32_t ct, struct mp *m)
{
	memset(m, 0, sizeof(*m));
	m->isa_bus = m->pci_bus = -1;
	memset(m->isa_pin, 0xff, sizeof(m->isa_pin));
	memset(m->pci_pin, 0xff, sizeof(m->pci_pin));
	uint32_t e = ct + 44, end = ct + rd16(ct + 4);
	for (unsigned i = 0; i < rd16(ct + 34); i++) {
		ck_assert_uint_lt(e, end);
		switch (rd8(e)) {
		case 0:
			m->cpus++;
			m->cpu_entry = e;
			e += 20;
			continue;
		case 1:
			m->buses++;
			if (!memcmp(ram + e + 2, "ISA   ", 6))
				m->isa_bus = rd8(e + 1);
			if (!memcmp(ram + e + 2, "PCI   ", 6))
				m->pci_bus = rd8(e + 1);
			break;
		case 2:
			m->ioapics++;
			m->ioapic_entry = e;
			break;
		case 3:
			m->intsrcs++;
			mp_parse_intsrc(e, m);
			break;
		case 4:
			m->lintsrcs++;
			if (rd8(e + 1) == 3 && rd8(e + 7) == 0 && rd8(e + 6) == PC_LAPIC_ID)
				m->lint0_extint++;
			if (rd8(e + 1) == 1 && rd8(e + 7) == 1 && rd8(e + 6) == 0xff)
				m->lint1_nmi++;
			break;
		default:
			ck_abort_msg("MP entry type %u at 0x%x", rd8(e), e);
		}
		e += 8;
	}
	ck_assert_uint_eq(e, end); /* the count and the length agree */
}

START_TEST(mp_tables)
{
	build(_i);
	uint32_t fp = mp_find();
	ck_assert_uint_ne(fp, 0);
	ck_assert_uint_eq(fp % 16, 0);
	ck_assert_uint_eq(rd8(fp + 8), 1);      /* 16 bytes */
	ck_assert_uint_eq(rd8(fp + 9), 4);      /* MP 1.4 */
	ck_assert_uint_eq(rd8(fp + 11), 0);     /* a configuration table, not a default one */
	uint32_t ct = rd32(fp + 4);
	ck_assert_uint_ge(ct, PC_BIOS_TABLES);
	ck_assert_uint_le(ct + rd16(ct + 4), PC_BIOS_TABLES_END);
	ck_assert_mem_eq(ram + ct, "PCMP", 4);
	ck_assert_uint_eq(byte_sum(ct, rd16(ct + 4)), 0);
	ck_assert_uint_eq(rd8(ct + 6), 4);
	ck_assert_uint_eq(rd32(ct + 36), PC_LAPIC_BASE);
	ck_assert_uint_eq(rd16(ct + 40), 0);    /* no extended table */
	ck_assert_uint_eq(rd8(ct + 42), 0);

	struct mp m;
	mp_parse(ct, &m);
	ck_assert_uint_eq(m.cpus, 1);
	ck_assert_uint_eq(rd8(m.cpu_entry + 1), PC_LAPIC_ID);
	ck_assert_uint_eq(rd8(m.cpu_entry + 2), 0x14);
	ck_assert_uint_eq(rd8(m.cpu_entry + 3), 3);          /* enabled, BSP */
	ck_assert_uint_eq(rd32(m.cpu_entry + 4), 0x6e8);
	ck_assert_uint_eq(rd32(m.cpu_entry + 8), CPU_FEATURES);
	ck_assert_uint_eq(m.buses, 2);
	ck_assert_int_eq(m.pci_bus, 0);                      /* = PCI bus number */
	ck_assert_int_ge(m.isa_bus, 0);
	ck_assert_uint_eq(m.ioapics, 1);
	ck_assert_uint_eq(rd8(m.ioapic_entry + 1), PC_IOAPIC_ID);
	ck_assert_uint_ne(rd8(m.ioapic_entry + 1), PC_LAPIC_ID);
	ck_assert_uint_eq(rd8(m.ioapic_entry + 2), 0x11);
	ck_assert_uint_eq(rd8(m.ioapic_entry + 3) & 1, 1);
	ck_assert_uint_eq(rd32(m.ioapic_entry + 4), PC_IOAPIC_BASE);

	/* ISA: IRQ 0 on pin 2, no IRQ 2, 10 and 11 left to the PCI entries,
	 * the SCI level/high, every other IRQ n on pin n, conforming. */
	for (int irq = 0; irq < 16; irq++) {
		if (irq == 2 || irq == 10 || irq == 11) {
			ck_assert_int_eq(m.isa_pin[irq], -1);
			continue;
		}
		ck_assert_int_eq(m.isa_pin[irq], irq == 0 ? 2 : irq);
		ck_assert_uint_eq(m.isa_flags[irq], irq == 9 ? 0xd : 0);
	}
	/* PCI: every pin of slots 1-31 on GSI 10 or 11, level, active low. */
	ck_assert_int_eq(m.pci_pin[0][0], -1);
	for (unsigned slot = 1; slot < 32; slot++)
		for (unsigned pin = 0; pin < 4; pin++)
			ck_assert_int_eq(m.pci_pin[slot][pin], (int)PC_PCI_GSI(slot, pin));
	ck_assert_uint_eq(m.pci_flags, 0xf);
	ck_assert_uint_eq(m.intsrcs, 13 + 31 * 4);
	ck_assert_int_eq(m.lint0_extint, 1);
	ck_assert_int_eq(m.lint1_nmi, 1);
	ck_assert_uint_eq(m.lintsrcs, 2);
}
END_TEST

START_TEST(pci_gsi_is_qemus)
{
	/* SeaBIOS on QEMU's PIIX: slot s pin p uses PIRQ (s - 1 + p) mod 4,
	 * and PIRQA-D are IRQ 10, 10, 11, 11. */
	static const unsigned pirq_irq[4] = { 10, 10, 11, 11 };
	for (unsigned slot = 1; slot < 32; slot++)
		for (unsigned pin = 0; pin < 4; pin++)
			ck_assert_uint_eq(PC_PCI_GSI(slot, pin), pirq_irq[(slot - 1 + pin) % 4]);
}
END_TEST

/* ---- ACPI ---- */

static uint32_t rsdp_find(void)
{
	for (uint32_t p = 0xe0000; p < 0x100000; p += 16)
		if (!memcmp(ram + p, "RSD PTR ", 8) && byte_sum(p, 20) == 0)
			return p;
	return 0;
}

/* Check a table's header; return its address. */
static uint32_t sdt(uint32_t t, const char *sig)
{
	ck_assert_msg(!memcmp(ram + t, sig, 4), "%s at 0x%x", sig, t);
	uint32_t len = rd32(t + 4);
	ck_assert_uint_ge(len, 36);
	ck_assert_uint_ge(t, PC_BIOS_TABLES);
	ck_assert_uint_le(t + len, PC_BIOS_TABLES_END);
	ck_assert_msg(byte_sum(t, len) == 0, "%s checksum", sig);
	ck_assert_mem_eq(ram + t + 10, "BTVMM ", 6);
	return t;
}

/* The table with signature `sig` the RSDT lists, or 0. */
static uint32_t acpi_table(const char *sig)
{
	uint32_t rsdt = rd32(rsdp_find() + 16);
	for (uint32_t p = rsdt + 36; p < rsdt + rd32(rsdt + 4); p += 4)
		if (!memcmp(ram + rd32(p), sig, 4))
			return sdt(rd32(p), sig);
	return 0;
}

START_TEST(rsdp_rsdt_xsdt)
{
	build(_i);
	uint32_t r = rsdp_find();
	ck_assert_uint_ne(r, 0);
	ck_assert_uint_ge(r, PC_BIOS_TABLES);
	ck_assert_uint_eq(rd8(r + 15), 2);
	ck_assert_uint_eq(rd32(r + 20), 36);
	ck_assert_uint_eq(byte_sum(r, 36), 0);
	uint32_t rsdt = sdt(rd32(r + 16), "RSDT");
	uint64_t xsdt64 = rd64(r + 24);
	ck_assert_uint_lt(xsdt64, 1u << 20);
	uint32_t xsdt = sdt((uint32_t)xsdt64, "XSDT");
	uint32_t n = (rd32(rsdt + 4) - 36) / 4;
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(rd32(xsdt + 4), 36 + 8 * n);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_uint_eq(rd64(xsdt + 36 + 8 * i), rd32(rsdt + 36 + 4 * i));
	ck_assert_uint_ne(acpi_table("FACP"), 0);
	ck_assert_uint_ne(acpi_table("APIC"), 0);
	ck_assert_uint_ne(acpi_table("HPET"), 0);
}
END_TEST

/* A GAS in system I/O space at `port`, `bytes` wide. */
static void check_io_gas(uint32_t g, uint32_t port, unsigned bytes)
{
	ck_assert_uint_eq(rd8(g), 1);
	ck_assert_uint_eq(rd8(g + 1), bytes * 8);
	ck_assert_uint_eq(rd8(g + 2), 0);
	ck_assert_uint_eq(rd64(g + 4), port);
}

START_TEST(fadt)
{
	build(_i);
	uint32_t f = acpi_table("FACP");
	ck_assert_uint_eq(rd32(f + 4), 244);
	ck_assert_uint_ge(rd8(f + 8), 3);
	ck_assert_uint_eq(rd16(f + 46), PC_IRQ_SCI);
	ck_assert_uint_eq(rd32(f + 48), 0);                 /* SMI_CMD: ACPI always on */
	ck_assert_uint_eq(rd32(f + 56), PC_ACPI_PM1A_EVT);
	ck_assert_uint_eq(rd32(f + 60), 0);                 /* no PM1b */
	ck_assert_uint_eq(rd32(f + 64), PC_ACPI_PM1A_CNT);
	ck_assert_uint_eq(rd32(f + 76), PC_ACPI_PM_TMR);
	ck_assert_uint_eq(rd32(f + 80), 0);                 /* no GPE0 */
	ck_assert_uint_eq(rd8(f + 88), 4);
	ck_assert_uint_eq(rd8(f + 89), 2);
	ck_assert_uint_eq(rd8(f + 91), 4);
	ck_assert_uint_eq(rd8(f + 92), 0);
	ck_assert_uint_eq(rd8(f + 108), 0x32);              /* RTC century */
	ck_assert_uint_eq(rd16(f + 109), 3);                /* legacy devices, 8042 */
	uint32_t flags = rd32(f + 112);
	ck_assert_uint_eq(flags & 1, 1);                    /* WBINVD */
	ck_assert_uint_eq(flags & 4, 4);                    /* PROC_C1 */
	ck_assert_uint_eq(flags & 0x20, 0x20);              /* SLP_BUTTON */
	ck_assert_uint_eq(flags & 0x100, 0);                /* TMR_VAL_EXT: 24-bit */
	ck_assert_uint_eq(flags & 0x400, 0x400);            /* RESET_REG_SUP */
	check_io_gas(f + 116, PC_RESET_PORT, 1);
	ck_assert_uint_eq(rd8(f + 128), PC_RESET_VALUE);
	uint32_t facs = rd32(f + 36), dsdt = rd32(f + 40);
	ck_assert_uint_eq(rd64(f + 132), facs);
	ck_assert_uint_eq(rd64(f + 140), dsdt);
	check_io_gas(f + 148, PC_ACPI_PM1A_EVT, 4);
	check_io_gas(f + 172, PC_ACPI_PM1A_CNT, 2);
	check_io_gas(f + 208, PC_ACPI_PM_TMR, 4);
	ck_assert_uint_eq(rd8(f + 220), 0);                 /* X_GPE0: none */
	ck_assert_uint_eq(rd64(f + 224), 0);

	ck_assert_uint_eq(facs % 64, 0);
	ck_assert_mem_eq(ram + facs, "FACS", 4);
	ck_assert_uint_eq(rd32(facs + 4), 64);
	ck_assert_uint_eq(rd32(facs + 12), 0);              /* no waking vector */
	ck_assert_uint_eq(rd32(facs + 16), 0);              /* global lock free */
	sdt(dsdt, "DSDT");
}
END_TEST

/*
 * DSDT: walk the AML's top level — Name(_S5_, Package) then Scope(_SB_) —
 * decoding PkgLengths, so that a wrong length anywhere shows as a walk that
 * does not end exactly at the table's end.
 */
static uint32_t pkg_length(uint32_t *p)
{
	uint8_t lead = rd8(*p);
	unsigned extra = lead >> 6;
	uint32_t len = extra ? lead & 0xfu : lead & 0x3fu;
	for (unsigned i = 0; i < extra; i++)
		len |= (uint32_t)rd8(*p + 1 + i) << (4 + 8 * i);
	uint32_t start = *p;
	*p += 1 + extra;
	return start + len; /* the end of the package */
}

static int small_int(uint32_t *p)
{
	uint8_t op = rd8(*p);
	*p += 1;
	if (op == 0x00 || op == 0x01)
		return op;
	ck_assert_uint_eq(op, 0x0a);
	*p += 1;
	return rd8(*p - 1);
}

static uint32_t find_bytes(uint32_t from, uint32_t to, const void *bytes, size_t n)
{
	for (uint32_t p = from; p + n <= to; p++)
		if (!memcmp(ram + p, bytes, n))
			return p;
	return 0;
}

START_TEST(dsdt)
{
	build(_i);
	uint32_t d = rd32(acpi_table("FACP") + 40);
	sdt(d, "DSDT");
	uint32_t end = d + rd32(d + 4);
	uint32_t p = d + 36;

	ck_assert_uint_eq(rd8(p), 0x08);                    /* NameOp */
	ck_assert_mem_eq(ram + p + 1, "_S5_", 4);
	p += 5;
	ck_assert_uint_eq(rd8(p++), 0x12);                  /* PackageOp */
	uint32_t pkg_end = pkg_length(&p);
	ck_assert_uint_eq(rd8(p++), 4);                     /* NumElements */
	ck_assert_int_eq(small_int(&p), PC_ACPI_S5_TYP);    /* PM1a SLP_TYP */
	ck_assert_int_eq(small_int(&p), PC_ACPI_S5_TYP);    /* PM1b SLP_TYP */
	small_int(&p);
	small_int(&p);
	ck_assert_uint_eq(p, pkg_end);

	ck_assert_uint_eq(rd8(p++), 0x10);                  /* ScopeOp */
	ck_assert_uint_eq(pkg_length(&p), end);
	ck_assert_mem_eq(ram + p, "_SB_", 4);
	p += 4;
	ck_assert_uint_eq(rd8(p++), 0x5b);                  /* DeviceOp */
	ck_assert_uint_eq(rd8(p++), 0x82);
	ck_assert_uint_eq(pkg_length(&p), end);
	ck_assert_mem_eq(ram + p, "PCI0", 4);

	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	ck_assert_uint_ne(find_bytes(p, end, hid, sizeof(hid)), 0);
	/* _PRT: 124 four-element packages; slot 3's INTA (address 0x3ffff,
	 * pin 0, source 0) on GSI PC_PCI_GSI(3, 0). */
	static const uint8_t prt[] = { 0x08, '_', 'P', 'R', 'T', 0x12 };
	uint32_t q = find_bytes(p, end, prt, sizeof(prt));
	ck_assert_uint_ne(q, 0);
	q += sizeof(prt);
	ck_assert_uint_eq(pkg_length(&q), end);
	ck_assert_uint_eq(rd8(q), 124);
	uint8_t slot3_inta[] = { 0x12, 0x0b, 0x04, 0x0c, 0xff, 0xff, 0x03, 0x00, 0x00, 0x00,
				 0x0a, (uint8_t)PC_PCI_GSI(3, 0) };
	ck_assert_uint_ne(find_bytes(q, end, slot3_inta, sizeof(slot3_inta)), 0);

	/* _CRS: a Buffer whose resource template ends in an end tag and
	 * holds a DWordMemory window from the end of RAM to below the I/O
	 * APIC and the two I/O windows around the config ports. */
	static const uint8_t crs[] = { 0x08, '_', 'C', 'R', 'S', 0x11 };
	uint32_t c = find_bytes(p, end, crs, sizeof(crs));
	ck_assert_uint_ne(c, 0);
	c += sizeof(crs);
	uint32_t buf_end = pkg_length(&c);
	uint32_t size;
	if (rd8(c) == 0x0a) {
		size = rd8(c + 1);
		c += 2;
	} else {
		ck_assert_uint_eq(rd8(c), 0x0b);
		size = rd16(c + 1);
		c += 3;
	}
	ck_assert_uint_eq(c + size, buf_end);
	ck_assert_uint_eq(rd8(buf_end - 2), 0x79);
	const uint8_t window[14] = { 0x87, 23, 0, 0, 0x0c, 0x01, 0, 0, 0, 0,
				     RAM_SIZE & 0xff, RAM_SIZE >> 8 & 0xff,
				     RAM_SIZE >> 16 & 0xff, RAM_SIZE >> 24 };
	ck_assert_uint_ne(find_bytes(c, buf_end, window, sizeof(window)), 0);
	ck_assert_uint_eq(rd32(find_bytes(c, buf_end, window, sizeof(window)) + 14),
			  PC_IOAPIC_BASE - 1);
	static const uint8_t io_low[] = { 0x88, 13, 0, 1, 0x0c, 0x03, 0, 0, 0x00, 0x00, 0xf7, 0x0c };
	static const uint8_t io_high[] = { 0x88, 13, 0, 1, 0x0c, 0x03, 0, 0, 0x00, 0x0d, 0xff, 0xff };
	ck_assert_uint_ne(find_bytes(c, buf_end, io_low, sizeof(io_low)), 0);
	ck_assert_uint_ne(find_bytes(c, buf_end, io_high, sizeof(io_high)), 0);
}
END_TEST

START_TEST(madt)
{
	build(_i);
	uint32_t m = acpi_table("APIC");
	ck_assert_uint_eq(rd32(m + 36), PC_LAPIC_BASE);
	ck_assert_uint_eq(rd32(m + 40) & 1, 1);             /* PCAT_COMPAT */
	uint32_t end = m + rd32(m + 4);
	unsigned cpus = 0, ioapics = 0, nmis = 0, overrides = 0;
	unsigned iso_flags[16];
	int iso_gsi[16];
	memset(iso_gsi, 0xff, sizeof(iso_gsi));
	for (uint32_t e = m + 44; e < end; e += rd8(e + 1)) {
		ck_assert_uint_ge(rd8(e + 1), 2);
		ck_assert_uint_le(e + rd8(e + 1), end);
		switch (rd8(e)) {
		case 0:
			cpus++;
			ck_assert_uint_eq(rd8(e + 1), 8);
			ck_assert_uint_eq(rd8(e + 3), PC_LAPIC_ID);
			ck_assert_uint_eq(rd32(e + 4) & 1, 1);
			break;
		case 1:
			ioapics++;
			ck_assert_uint_eq(rd8(e + 1), 12);
			ck_assert_uint_eq(rd8(e + 2), PC_IOAPIC_ID);
			ck_assert_uint_eq(rd32(e + 4), PC_IOAPIC_BASE);
			ck_assert_uint_eq(rd32(e + 8), 0);
			break;
		case 2:
			overrides++;
			ck_assert_uint_eq(rd8(e + 1), 10);
			ck_assert_uint_eq(rd8(e + 2), 0);   /* ISA */
			ck_assert_uint_lt(rd8(e + 3), 16);
			iso_gsi[rd8(e + 3)] = (int)rd32(e + 4);
			iso_flags[rd8(e + 3)] = rd16(e + 8);
			break;
		case 4:
			nmis++;
			ck_assert_uint_eq(rd8(e + 1), 6);
			ck_assert_uint_eq(rd8(e + 2), 0xff);
			ck_assert_uint_eq(rd8(e + 5), 1);   /* LINT1 */
			break;
		default:
			ck_abort_msg("MADT entry type %u", rd8(e));
		}
	}
	ck_assert_uint_eq(cpus, 1);
	ck_assert_uint_eq(ioapics, 1);
	ck_assert_uint_eq(nmis, 1);
	ck_assert_uint_eq(overrides, 4);
	ck_assert_int_eq(iso_gsi[0], 2);
	ck_assert_uint_eq(iso_flags[0], 0);
	ck_assert_int_eq(iso_gsi[9], 9);
	ck_assert_uint_eq(iso_flags[9], 0xd);
	ck_assert_int_eq(iso_gsi[10], 10);
	ck_assert_uint_eq(iso_flags[10], 0xf);
	ck_assert_int_eq(iso_gsi[11], 11);
	ck_assert_uint_eq(iso_flags[11], 0xf);
}
END_TEST

START_TEST(hpet)
{
	build(_i);
	uint32_t h = acpi_table("HPET");
	ck_assert_uint_eq(rd32(h + 4), 56);
	ck_assert_uint_eq(rd32(h + 36), 0x8086a201);
	ck_assert_uint_eq(rd8(h + 40), 0);                  /* system memory */
	ck_assert_uint_eq(rd64(h + 44), PC_HPET_BASE);
	ck_assert_uint_eq(rd8(h + 52), 0);
	ck_assert_uint_eq(rd16(h + 53), 0);                 /* QEMU's minimum tick */
}
END_TEST

START_TEST(no_hpet)
{
	ram = calloc(1, RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
	struct dev_firmware_config c = config;
	c.hpet = false;
	ck_assert_int_eq(dev_firmware_build(ram, &c), 0);
	ck_assert_uint_eq(acpi_table("HPET"), 0);
	ck_assert_uint_ne(acpi_table("FACP"), 0);
	ck_assert_uint_ne(acpi_table("APIC"), 0);
	uint32_t xsdt = (uint32_t)rd64(rsdp_find() + 24);
	ck_assert_uint_eq(rd32(sdt(xsdt, "XSDT") + 4), 36 + 2 * 8);
}
END_TEST

/* Too little RAM or too few I/O APIC pins: refused, and nothing written. */
START_TEST(refused)
{
	ram = calloc(1, RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
	struct dev_firmware_config c = config;
	c.ram_size = PC_BIOS_TABLES_END - 1;
	ck_assert_int_eq(dev_firmware_build(ram, &c), -EINVAL);
	c.ram_size = 640 * 1024;
	ck_assert_int_eq(dev_firmware_build(ram, &c), -EINVAL);
	c.ram_size = PC_IOAPIC_BASE; /* RAM over the APICs */
	ck_assert_int_eq(dev_firmware_build(ram, &c), -EINVAL);
	c = config;
	c.ioapic_pins = 15;
	ck_assert_int_eq(dev_firmware_build(ram, &c), -EINVAL);
	uint32_t written = 0;
	for (uint32_t a = 0; a < RAM_SIZE; a++)
		written += ram[a] != 0;
	ck_assert_uint_eq(written, 0);
	c.ram_size = PC_BIOS_TABLES_END; /* exactly 1 MiB is enough */
	c.ioapic_pins = 16;
	ck_assert_int_eq(dev_firmware_build(ram, &c), 0);
	ck_assert_uint_ne(rsdp_find(), 0);
}
END_TEST

static Suite *firmware_suite(void)
{
	Suite *s = suite_create("firmware");
	TCase *tc = tcase_create("tables");
	tcase_add_checked_fixture(tc, NULL, teardown);
	/* _i = 0: RAM zeroed before; 1: RAM full of 0xa5. */
	tcase_add_loop_test(tc, bda, 0, 2);
	tcase_add_loop_test(tc, mp_tables, 0, 2);
	tcase_add_test(tc, pci_gsi_is_qemus);
	tcase_add_loop_test(tc, rsdp_rsdt_xsdt, 0, 2);
	tcase_add_loop_test(tc, fadt, 0, 2);
	tcase_add_loop_test(tc, dsdt, 0, 2);
	tcase_add_loop_test(tc, madt, 0, 2);
	tcase_add_loop_test(tc, hpet, 0, 2);
	tcase_add_test(tc, no_hpet);
	tcase_add_test(tc, refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(firmware_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
