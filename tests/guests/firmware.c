/* Test guest: finds the firmware tables as an OS does (BDA -> EBDA -> MP floating pointer, RSDP scan), checks every checksum, and prints what SeaBIOS/QEMU and btvmm must agree on. */
#include "rt.h"

/*
 * Only facts both platforms must share are printed: addresses, the IRQ
 * routing, the ACPI fixed-hardware ports. IDs, revisions, OEM strings, the
 * CPU signature and the tables' places in memory differ between SeaBIOS's
 * and btvmm's tables and are checked for consistency, never printed.
 */

/* A physical address as a pointer (paging is off); the empty asm hides the
 * constant from the compiler's array-bounds reasoning. */
static const volatile uint8_t *phys(uint32_t addr)
{
	const volatile uint8_t *p;
	__asm__("" : "=r"(p) : "0"(addr));
	return p;
}

static uint8_t rd8(uint32_t a) { return *phys(a); }
static uint16_t rd16(uint32_t a) { return (uint16_t)(rd8(a) | rd8(a + 1) << 8); }
static uint32_t rd32(uint32_t a) { return rd16(a) | (uint32_t)rd16(a + 2) << 16; }

static uint8_t byte_sum(uint32_t a, uint32_t len)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < len; i++)
		s = (uint8_t)(s + rd8(a + i));
	return s;
}

static int sig_is(uint32_t a, const char *sig)
{
	for (uint32_t i = 0; sig[i]; i++)
		if (rd8(a + i) != (uint8_t)sig[i])
			return 0;
	return 1;
}

/* ---- BIOS data area ---- */

#define BDA_COM1       0x400
#define BDA_EBDA_SEG   0x40e
#define BDA_EQUIPMENT  0x410
#define BDA_BASE_KIB   0x413
#define EQUIP_SERIAL_SHIFT 9 /* bits 11:9: number of serial ports */

static uint32_t ebda_base;

static void check_bda(void)
{
	rt_section("bda");
	ebda_base = (uint32_t)rd16(BDA_EBDA_SEG) << 4;
	uint32_t base_kib = rd16(BDA_BASE_KIB);
	rt_printf("  com1 0x%x com2 0x%x com3 0x%x com4 0x%x\n", rd16(BDA_COM1),
		  rd16(BDA_COM1 + 2), rd16(BDA_COM1 + 4), rd16(BDA_COM1 + 6));
	rt_printf("  serial ports %u\n",
		  (rd16(BDA_EQUIPMENT) >> EQUIP_SERIAL_SHIFT) & 7u);
	rt_printf("  ebda 0x%x, base memory %u KiB, ebda size %u KiB\n",
		  ebda_base, base_kib, rd8(ebda_base));
	/* The EBDA sits at the top of base memory and runs to 640 KiB. */
	RT_CHECK_EQ(ebda_base, base_kib * 1024);
	RT_CHECK_EQ(ebda_base + rd8(ebda_base) * 1024u, 0xa0000u);
	rt_section_end();
}

/* ---- Intel MP 1.4 ---- */

/* Floating pointer: "_MP_", config table address, length in 16-byte
 * units, spec revision, checksum, feature bytes. */
#define MPF_CONFIG   4
#define MPF_LENGTH   8
#define MPF_SPEC     9
#define MPF_FEATURE1 11

/* Configuration table header: "PCMP", base length, spec, checksum, OEM
 * and product IDs, OEM table, entry count, local APIC address, extended
 * table length and checksum; entries follow at 44. */
#define MPC_LENGTH   4
#define MPC_SPEC     6
#define MPC_COUNT    34
#define MPC_LAPIC    36
#define MPC_EXT_LEN  40
#define MPC_ENTRIES  44

enum { MP_CPU = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4 };

/* Return the 16-byte aligned floating pointer in [a, a + len) whose
 * checksum is right, or 0. */
static uint32_t mp_scan(uint32_t a, uint32_t len)
{
	for (uint32_t p = a; p < a + len; p += 16)
		if (sig_is(p, "_MP_") && byte_sum(p, rd8(p + MPF_LENGTH) * 16u) == 0)
			return p;
	return 0;
}

struct mp_facts {
	unsigned cpus, bsp;
	int isa_bus;
	uint32_t ioapic_addr, ioapic_ver;
	int ioapic_id;
	int8_t isa_pin[16];     /* I/O APIC pin of each ISA IRQ, -1: none */
	uint16_t isa_flags[16];
	int lint0_extint, lint1_nmi;
};

static void mp_entry(uint32_t e, struct mp_facts *f)
{
	switch (rd8(e)) {
	case MP_CPU:
		if (rd8(e + 3) & 1) /* enabled */
			f->cpus++;
		if (rd8(e + 3) & 2)
			f->bsp++;
		break;
	case MP_BUS:
		if (sig_is(e + 2, "ISA   "))
			f->isa_bus = rd8(e + 1);
		break;
	case MP_IOAPIC:
		f->ioapic_id = rd8(e + 1);
		f->ioapic_ver = rd8(e + 2);
		RT_CHECK(rd8(e + 3) & 1); /* enabled */
		f->ioapic_addr = rd32(e + 4);
		break;
	case MP_INTSRC: {
		unsigned bus = rd8(e + 4), irq = rd8(e + 5);
		/* Buses come before interrupt entries (MP 1.4, 4.2). */
		if (rd8(e + 1) == 0 && (int)bus == f->isa_bus && irq < 16) {
			RT_CHECK_EQ(f->isa_pin[irq], -1);
			RT_CHECK_EQ(rd8(e + 6), f->ioapic_id);
			f->isa_pin[irq] = (int8_t)rd8(e + 7);
			f->isa_flags[irq] = rd16(e + 2);
		}
		break;
	}
	case MP_LINTSRC:
		if (rd8(e + 1) == 3 && rd8(e + 7) == 0) /* ExtINT on LINT0 */
			f->lint0_extint++;
		if (rd8(e + 1) == 1 && rd8(e + 7) == 1) /* NMI on LINT1 */
			f->lint1_nmi++;
		break;
	}
}

static void check_mp(void)
{
	rt_section("mp");
	/* Linux's order: the EBDA's first KiB, then the BIOS area. */
	const char *where = "ebda";
	uint32_t fp = mp_scan(ebda_base, 1024);
	if (!fp) {
		where = "bios area";
		fp = mp_scan(0xf0000, 0x10000);
	}
	RT_CHECK(fp != 0);
	if (!fp) {
		rt_section_end();
		return;
	}
	rt_printf("  floating pointer found in the %s, spec 1.%u, default config %u\n",
		  where, rd8(fp + MPF_SPEC), rd8(fp + MPF_FEATURE1));
	uint32_t ct = rd32(fp + MPF_CONFIG);
	RT_CHECK(sig_is(ct, "PCMP"));
	RT_CHECK_EQ(byte_sum(ct, rd16(ct + MPC_LENGTH)), 0);
	RT_CHECK_EQ(rd8(ct + MPC_SPEC), 4);
	RT_CHECK_EQ(rd16(ct + MPC_EXT_LEN), 0);

	struct mp_facts f = { .isa_bus = -1, .ioapic_id = -1 };
	for (int i = 0; i < 16; i++)
		f.isa_pin[i] = -1;
	uint32_t e = ct + MPC_ENTRIES, end = ct + rd16(ct + MPC_LENGTH);
	unsigned count = rd16(ct + MPC_COUNT), seen = 0;
	for (; e < end && seen < count; seen++)
		e += rd8(e) == MP_CPU ? 20 : 8;
	RT_CHECK_EQ(seen, count);
	RT_CHECK_EQ(e, end);
	e = ct + MPC_ENTRIES;
	for (unsigned i = 0; i < seen; i++) {
		mp_entry(e, &f);
		e += rd8(e) == MP_CPU ? 20 : 8;
	}
	rt_printf("  lapic 0x%x, cpus %u, bsp %u\n", rd32(ct + MPC_LAPIC), f.cpus, f.bsp);
	rt_printf("  ioapic 0x%x version 0x%x, isa bus %s\n", f.ioapic_addr,
		  f.ioapic_ver, f.isa_bus >= 0 ? "yes" : "no");
	/* The ISA IRQs both describe (SeaBIOS leaves out 5, 9, 10 and 11,
	 * which it counts as PCI interrupts). */
	static const uint8_t shared[] = { 0, 1, 3, 4, 6, 7, 8, 12, 13, 14, 15 };
	rt_printf("  isa");
	for (unsigned i = 0; i < sizeof(shared); i++) {
		unsigned irq = shared[i];
		rt_printf(" %u->%d", irq, f.isa_pin[irq]);
		RT_CHECK_EQ(f.isa_flags[irq], 0); /* conforming */
	}
	rt_printf(", irq2 %s\n", f.isa_pin[2] < 0 ? "none" : "routed");
	rt_printf("  lint0 extint %d, lint1 nmi %d\n", f.lint0_extint, f.lint1_nmi);
	rt_section_end();
}

/* ---- ACPI ---- */

/* Every system description table opens with this 36-byte header. */
#define SDT_LENGTH   4
#define SDT_REVISION 8
#define SDT_HEADER   36

/* RSDP: "RSD PTR ", checksum (first 20 bytes), OEM ID, revision, RSDT;
 * from revision 2: length, XSDT (8), extended checksum. */
#define RSDP_REVISION 15
#define RSDP_RSDT     16
#define RSDP_LENGTH   20
#define RSDP_XSDT     24

static uint32_t rsdp_scan(uint32_t a, uint32_t len)
{
	for (uint32_t p = a; p < a + len; p += 16)
		if (sig_is(p, "RSD PTR ") && byte_sum(p, 20) == 0)
			return p;
	return 0;
}

/* Check a table's header and checksum; return its length (0 if bad). */
static uint32_t sdt_check(uint32_t t, const char *sig)
{
	uint32_t len = rd32(t + SDT_LENGTH);
	if (!sig_is(t, sig) || len < SDT_HEADER || byte_sum(t, len) != 0) {
		rt_printf("FAIL table %s at 0x%x: bad signature, length or checksum\n", sig, t);
		rt_failures++;
		return 0;
	}
	return len;
}

/* Tables listed by the RSDT, by signature. */
static uint32_t rsdt, xsdt;

static uint32_t rsdt_find(const char *sig)
{
	uint32_t len = rd32(rsdt + SDT_LENGTH);
	for (uint32_t p = rsdt + SDT_HEADER; p + 4 <= rsdt + len; p += 4)
		if (sig_is(rd32(p), sig))
			return rd32(p);
	return 0;
}

/* An XSDT, where there is one, must list what the RSDT lists. */
static void xsdt_compare(void)
{
	uint32_t rn = (rd32(rsdt + SDT_LENGTH) - SDT_HEADER) / 4;
	uint32_t xn = (rd32(xsdt + SDT_LENGTH) - SDT_HEADER) / 8;
	RT_CHECK_EQ(xn, rn);
	for (uint32_t i = 0; i < rn && i < xn; i++) {
		RT_CHECK_EQ(rd32(xsdt + SDT_HEADER + 8 * i), rd32(rsdt + SDT_HEADER + 4 * i));
		RT_CHECK_EQ(rd32(xsdt + SDT_HEADER + 8 * i + 4), 0);
	}
}

static void check_rsdp(void)
{
	rt_section("rsdp");
	uint32_t rp = rsdp_scan(ebda_base, 1024);
	if (!rp)
		rp = rsdp_scan(0xe0000, 0x20000);
	RT_CHECK(rp != 0);
	if (!rp) {
		rt_section_end();
		return;
	}
	rsdt = rd32(rp + RSDP_RSDT);
	if (rd8(rp + RSDP_REVISION) >= 2) {
		RT_CHECK_EQ(byte_sum(rp, rd32(rp + RSDP_LENGTH)), 0);
		RT_CHECK_EQ(rd32(rp + RSDP_XSDT + 4), 0);
		xsdt = rd32(rp + RSDP_XSDT);
	}
	rt_printf("  found in 0xe0000-0xfffff, rsdt valid %d\n", sdt_check(rsdt, "RSDT") != 0);
	if (xsdt && sdt_check(xsdt, "XSDT"))
		xsdt_compare();
	static const char *const listed[] = { "FACP", "APIC", "HPET" };
	rt_printf("  rsdt lists");
	for (unsigned i = 0; i < 3; i++)
		rt_printf(" %s %s", listed[i], rsdt_find(listed[i]) ? "yes" : "no");
	rt_printf("\n");
	rt_section_end();
}

/* FADT fields (ACPI 2.0, 5.2.8). */
#define FADT_FACS       36
#define FADT_DSDT       40
#define FADT_SCI_INT    46
#define FADT_PM1A_EVT   56
#define FADT_PM1A_CNT   64
#define FADT_PM_TMR     76
#define FADT_GPE0       80
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN  91
#define FADT_GPE0_LEN    92
#define FADT_FLAGS      112
#define FADT_X_FACS     132
#define FADT_X_DSDT     140
#define FADT_X_PM1A_EVT 148 /* GAS: space, width, offset, access, address */
#define FADT_X_PM1A_CNT 172
#define FADT_X_PM_TMR   208
#define FADT_REV3_LEN   244

#define FADT_F_WBINVD      (1u << 0)
#define FADT_F_PROC_C1     (1u << 2)
#define FADT_F_TMR_VAL_EXT (1u << 8)

static uint32_t dsdt;

static void check_gas(uint32_t gas, uint32_t port, uint32_t len)
{
	RT_CHECK_EQ(rd8(gas), 1); /* system I/O */
	RT_CHECK_EQ(rd8(gas + 1), len * 8);
	RT_CHECK_EQ(rd32(gas + 4), port);
	RT_CHECK_EQ(rd32(gas + 8), 0);
}

static void check_fadt(void)
{
	rt_section("fadt");
	uint32_t f = rsdt_find("FACP");
	uint32_t len = f ? sdt_check(f, "FACP") : 0;
	RT_CHECK(len >= 116);
	if (len < 116) {
		rt_section_end();
		return;
	}
	rt_printf("  sci %u, pm1a_evt 0x%x/%u, pm1a_cnt 0x%x/%u, pm_tmr 0x%x/%u\n",
		  rd16(f + FADT_SCI_INT), rd32(f + FADT_PM1A_EVT), rd8(f + FADT_PM1_EVT_LEN),
		  rd32(f + FADT_PM1A_CNT), rd8(f + FADT_PM1_CNT_LEN),
		  rd32(f + FADT_PM_TMR), rd8(f + FADT_PM_TMR_LEN));
	uint32_t flags = rd32(f + FADT_FLAGS);
	rt_printf("  wbinvd %u, proc_c1 %u, tmr_val_ext %u\n", !!(flags & FADT_F_WBINVD),
		  !!(flags & FADT_F_PROC_C1), !!(flags & FADT_F_TMR_VAL_EXT));
	uint32_t facs = rd32(f + FADT_FACS);
	dsdt = rd32(f + FADT_DSDT);
	if (len >= FADT_REV3_LEN) {
		/* The 64-bit fields, where there are any, agree with the 32-bit ones. */
		if (rd32(f + FADT_X_FACS))
			RT_CHECK_EQ(rd32(f + FADT_X_FACS), facs);
		if (rd32(f + FADT_X_DSDT))
			RT_CHECK_EQ(rd32(f + FADT_X_DSDT), dsdt);
		if (rd8(f + FADT_X_PM1A_EVT)) {
			check_gas(f + FADT_X_PM1A_EVT, rd32(f + FADT_PM1A_EVT), rd8(f + FADT_PM1_EVT_LEN));
			check_gas(f + FADT_X_PM1A_CNT, rd32(f + FADT_PM1A_CNT), rd8(f + FADT_PM1_CNT_LEN));
			check_gas(f + FADT_X_PM_TMR, rd32(f + FADT_PM_TMR), rd8(f + FADT_PM_TMR_LEN));
		}
	}
	/* FACS: no checksum; 64-byte aligned, at least 64 bytes. */
	RT_CHECK(sig_is(facs, "FACS"));
	RT_CHECK(rd32(facs + 4) >= 64);
	RT_CHECK_EQ(facs & 63, 0);
	rt_printf("  facs found\n");
	rt_section_end();
}

/*
 * Find `Name(_S5, Package(n){a, b, ...})` in the DSDT's AML: NameOp 0x08,
 * the name, PackageOp 0x12, a one-byte PkgLength, NumElements, then
 * integers as ZeroOp 0x00, OneOp 0x01 or BytePrefix 0x0a n.
 */
static int aml_small_int(uint32_t *p)
{
	uint8_t op = rd8(*p);
	if (op == 0x00 || op == 0x01) {
		*p += 1;
		return op;
	}
	if (op == 0x0a) {
		*p += 2;
		return rd8(*p - 1);
	}
	return -1;
}

/* Return the address of the first occurrence of `bytes` in the DSDT, or 0. */
static uint32_t dsdt_find(const uint8_t *bytes, uint32_t n)
{
	uint32_t len = rd32(dsdt + SDT_LENGTH);
	for (uint32_t p = dsdt + SDT_HEADER; p + n <= dsdt + len; p++) {
		uint32_t i = 0;
		while (i < n && rd8(p + i) == bytes[i])
			i++;
		if (i == n)
			return p;
	}
	return 0;
}

static void check_dsdt(void)
{
	rt_section("dsdt");
	if (!dsdt || !sdt_check(dsdt, "DSDT")) {
		RT_CHECK(0);
		rt_section_end();
		return;
	}
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12 };
	uint32_t p = dsdt_find(s5, sizeof(s5));
	RT_CHECK(p != 0);
	if (p) {
		p += sizeof(s5) + 1; /* one-byte PkgLength */
		unsigned n = rd8(p++);
		int a = aml_small_int(&p), b = aml_small_int(&p);
		rt_printf("  _S5 found: %u elements, slp_typ a %d b %d\n", n, a, b);
	}
	/* Name(_HID, EisaId("PNP0A03")): DWordPrefix-less EISA ID 0x030ad041. */
	static const uint8_t pci_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	rt_printf("  pci host bridge PNP0A03 %s\n", dsdt_find(pci_hid, sizeof(pci_hid)) ? "found" : "absent");
	/* The bridge's windows, Name(_CRS, Buffer), and its interrupt
	 * routing, _PRT (a Name here, a Method in QEMU's). */
	static const uint8_t crs[] = { 0x08, '_', 'C', 'R', 'S', 0x11 };
	static const uint8_t prt[] = { '_', 'P', 'R', 'T' };
	rt_printf("  _CRS %s, _PRT %s\n", dsdt_find(crs, sizeof(crs)) ? "found" : "absent",
		  dsdt_find(prt, sizeof(prt)) ? "found" : "absent");
	rt_section_end();
}

/* MADT (ACPI 2.0, 5.2.10.4): local APIC address, flags, then entries of
 * type, length. */
#define MADT_LAPIC   36
#define MADT_FLAGS   40
#define MADT_ENTRIES 44
enum { MADT_CPU = 0, MADT_IOAPIC = 1, MADT_ISO = 2, MADT_LAPIC_NMI = 4 };

static void madt_iso(uint32_t e, unsigned irq)
{
	/* Bus 0 (ISA), source IRQ, GSI, MPS INTI flags. */
	if (rd8(e + 3) == irq)
		rt_printf("  override irq%u->gsi%u flags 0x%x\n", irq, rd32(e + 4), rd16(e + 8));
}

static void check_madt(void)
{
	rt_section("madt");
	uint32_t m = rsdt_find("APIC");
	uint32_t len = m ? sdt_check(m, "APIC") : 0;
	RT_CHECK(len >= MADT_ENTRIES);
	if (len < MADT_ENTRIES) {
		rt_section_end();
		return;
	}
	rt_printf("  lapic 0x%x, pcat_compat %u\n", rd32(m + MADT_LAPIC), rd32(m + MADT_FLAGS) & 1);
	unsigned cpus = 0, ioapics = 0;
	for (uint32_t e = m + MADT_ENTRIES; e < m + len; e += rd8(e + 1)) {
		RT_CHECK(rd8(e + 1) >= 2 && e + rd8(e + 1) <= m + len);
		if (rd8(e + 1) < 2)
			break;
		switch (rd8(e)) {
		case MADT_CPU:
			cpus += rd32(e + 4) & 1; /* enabled */
			break;
		case MADT_IOAPIC:
			ioapics++;
			rt_printf("  ioapic 0x%x gsi base %u\n", rd32(e + 4), rd32(e + 8));
			break;
		case MADT_ISO:
			RT_CHECK_EQ(rd8(e + 2), 0); /* ISA */
			madt_iso(e, 0);
			madt_iso(e, 9);
			break;
		case MADT_LAPIC_NMI:
			rt_printf("  lapic nmi lint%u flags 0x%x\n", rd8(e + 5), rd16(e + 3));
			break;
		}
	}
	rt_printf("  cpus %u, ioapics %u\n", cpus, ioapics);
	rt_section_end();
}

/* HPET table: event timer block ID, base address (a GAS), HPET number,
 * minimum clock tick, page protection. */
#define HPET_BLOCK_ID 36
#define HPET_BASE_GAS 40
#define HPET_MIN_TICK 53

static void check_hpet(void)
{
	rt_section("hpet");
	uint32_t h = rsdt_find("HPET");
	uint32_t len = h ? sdt_check(h, "HPET") : 0;
	RT_CHECK(len >= 56);
	if (len >= 56) {
		rt_printf("  block id 0x%x, base 0x%x (space %u), min tick %u\n",
			  rd32(h + HPET_BLOCK_ID), rd32(h + HPET_BASE_GAS + 4),
			  rd8(h + HPET_BASE_GAS), rd16(h + HPET_MIN_TICK));
		RT_CHECK_EQ(rd32(h + HPET_BASE_GAS + 8), 0);
	}
	rt_section_end();
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_magic;
	(void)mb_info;
	check_bda();
	check_mp();
	check_rsdp();
	check_fadt();
	check_dsdt();
	check_madt();
	check_hpet();
}
