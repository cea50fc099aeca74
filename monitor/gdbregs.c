/* monitor: the GDB stub's view of the CPU: the target description gdb reads and the registers in its numbering. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gdbstub.h"

/* gdb's register numbers for i386 as QEMU's stub numbers them (its
 * i386-32bit target description): the order of the 'g' packet. */
enum {
	GDB_EAX = 0, GDB_EIP = 8, GDB_EFLAGS = 9, GDB_CS = 10, GDB_FS_BASE = 16,
	GDB_GS_BASE = 17, GDB_K_GS_BASE = 18, GDB_CR0 = 19, GDB_CR2 = 20, GDB_CR3 = 21,
	GDB_CR4 = 22, GDB_CR8 = 23, GDB_EFER = 24, GDB_ST0 = 25, GDB_FCTRL = 33,
	GDB_FOP = 40, GDB_XMM0 = 41, GDB_MXCSR = 49,
};
_Static_assert(GDB_MXCSR + 1 == GDB_REGS, "MXCSR is the description's last register");

/* Byte offsets in the FXSAVE image (bt_cpu.guest_fx). */
enum { FX_FCW = 0, FX_FSW = 2, FX_FTW = 4, FX_FOP = 6, FX_FIP = 8, FX_FCS = 12,
       FX_FDP = 16, FX_FDS = 20, FX_MXCSR = 24, FX_ST0 = 32, FX_XMM0 = 160 };


/* ---- the target description ---- */

/* Flags fields gdb shows by name ("[ ZF PF ]"): field, first bit, last
 * bit, in the order of QEMU's description (gdb prints them in this order). */
struct gdb_field { const char *name; unsigned start, end; };
static const struct gdb_field eflags_fields[] = {
	{ "", 22, 31 }, { "ID", 21, 21 }, { "VIP", 20, 20 }, { "VIF", 19, 19 },
	{ "AC", 18, 18 }, { "VM", 17, 17 }, { "RF", 16, 16 }, { "", 15, 15 },
	{ "NT", 14, 14 }, { "IOPL", 12, 13 }, { "OF", 11, 11 }, { "DF", 10, 10 },
	{ "IF", 9, 9 }, { "TF", 8, 8 }, { "SF", 7, 7 }, { "ZF", 6, 6 }, { "", 5, 5 },
	{ "AF", 4, 4 }, { "", 3, 3 }, { "PF", 2, 2 }, { "", 1, 1 }, { "CF", 0, 0 },
	{ NULL, 0, 0 },
};
static const struct gdb_field cr0_fields[] = {
	{ "PG", 31, 31 }, { "CD", 30, 30 }, { "NW", 29, 29 }, { "AM", 18, 18 },
	{ "WP", 16, 16 }, { "NE", 5, 5 }, { "ET", 4, 4 }, { "TS", 3, 3 }, { "EM", 2, 2 },
	{ "MP", 1, 1 }, { "PE", 0, 0 }, { NULL, 0, 0 },
};
static const struct gdb_field cr3_fields[] = {
	{ "PDBR", 12, 31 }, { "PCID", 0, 11 }, { NULL, 0, 0 },
};
static const struct gdb_field cr4_fields[] = {
	{ "PKE", 22, 22 }, { "SMAP", 21, 21 }, { "SMEP", 20, 20 }, { "OSXSAVE", 18, 18 },
	{ "PCIDE", 17, 17 }, { "FSGSBASE", 16, 16 }, { "SMXE", 14, 14 }, { "VMXE", 13, 13 },
	{ "LA57", 12, 12 }, { "UMIP", 11, 11 }, { "OSXMMEXCPT", 10, 10 },
	{ "OSFXSR", 9, 9 }, { "PCE", 8, 8 }, { "PGE", 7, 7 }, { "MCE", 6, 6 },
	{ "PAE", 5, 5 }, { "PSE", 4, 4 }, { "DE", 3, 3 }, { "TSD", 2, 2 }, { "PVI", 1, 1 },
	{ "VME", 0, 0 }, { NULL, 0, 0 },
};
static const struct gdb_field efer_fields[] = {
	{ "TCE", 15, 15 }, { "FFXSR", 14, 14 }, { "LMSLE", 13, 13 }, { "SVME", 12, 12 },
	{ "NXE", 11, 11 }, { "LMA", 10, 10 }, { "LME", 8, 8 }, { "SCE", 0, 0 },
	{ NULL, 0, 0 },
};
static const struct gdb_field mxcsr_fields[] = {
	{ "IE", 0, 0 }, { "DE", 1, 1 }, { "ZE", 2, 2 }, { "OE", 3, 3 }, { "UE", 4, 4 },
	{ "PE", 5, 5 }, { "DAZ", 6, 6 }, { "IM", 7, 7 }, { "DM", 8, 8 }, { "ZM", 9, 9 },
	{ "OM", 10, 10 }, { "UM", 11, 11 }, { "PM", 12, 12 }, { "FZ", 15, 15 }, { NULL, 0, 0 },
};

static const struct { const char *id; const struct gdb_field *fields; } flag_types[] = {
	{ "i386_eflags", eflags_fields }, { "i386_cr0", cr0_fields },
	{ "i386_cr3", cr3_fields }, { "i386_cr4", cr4_fields },
	{ "i386_efer", efer_fields }, { "i386_mxcsr", mxcsr_fields },
};

/* The registers in 'g' order: name, bits, type. */
static const struct { const char *name; unsigned bits; const char *type; } regs[GDB_REGS] = {
	{ "eax", 32, "int32" }, { "ecx", 32, "int32" }, { "edx", 32, "int32" },
	{ "ebx", 32, "int32" }, { "esp", 32, "data_ptr" }, { "ebp", 32, "data_ptr" },
	{ "esi", 32, "int32" }, { "edi", 32, "int32" }, { "eip", 32, "code_ptr" },
	{ "eflags", 32, "i386_eflags" }, { "cs", 32, "int32" }, { "ss", 32, "int32" },
	{ "ds", 32, "int32" }, { "es", 32, "int32" }, { "fs", 32, "int32" },
	{ "gs", 32, "int32" }, { "fs_base", 32, "int32" }, { "gs_base", 32, "int32" },
	{ "k_gs_base", 32, "int32" }, { "cr0", 32, "i386_cr0" }, { "cr2", 32, "int32" },
	{ "cr3", 32, "i386_cr3" }, { "cr4", 32, "i386_cr4" }, { "cr8", 32, "int32" },
	{ "efer", 32, "i386_efer" },
	{ "st0", 80, "i387_ext" }, { "st1", 80, "i387_ext" }, { "st2", 80, "i387_ext" },
	{ "st3", 80, "i387_ext" }, { "st4", 80, "i387_ext" }, { "st5", 80, "i387_ext" },
	{ "st6", 80, "i387_ext" }, { "st7", 80, "i387_ext" },
	{ "fctrl", 32, "int" }, { "fstat", 32, "int" },
	{ "ftag", 32, "int" }, { "fiseg", 32, "int" },
	{ "fioff", 32, "int" }, { "foseg", 32, "int" },
	{ "fooff", 32, "int" }, { "fop", 32, "int" },
	{ "xmm0", 128, "vec128" }, { "xmm1", 128, "vec128" }, { "xmm2", 128, "vec128" },
	{ "xmm3", 128, "vec128" }, { "xmm4", 128, "vec128" }, { "xmm5", 128, "vec128" },
	{ "xmm6", 128, "vec128" }, { "xmm7", 128, "vec128" },
	{ "mxcsr", 32, "i386_mxcsr" },
};

/* Append to a growing text; the buffer is sized for the whole document. */
static void add(char *doc, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *doc, size_t size, const char *fmt, ...)
{
	size_t used = strlen(doc);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(doc + used, size - used, fmt, ap);
	va_end(ap);
}

/* target.xml, built once from the tables above. */
const char *mon_gdb_target_xml(void)
{
	static char doc[12288];
	if (doc[0])
		return doc;
	add(doc, sizeof doc, "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
		"<target><architecture>i386</architecture>"
		"<feature name=\"org.gnu.gdb.i386.core\">");
	for (size_t t = 0; t < sizeof flag_types / sizeof flag_types[0]; t++) {
		add(doc, sizeof doc, "<flags id=\"%s\" size=\"4\">", flag_types[t].id);
		for (const struct gdb_field *f = flag_types[t].fields; f->name; f++)
			add(doc, sizeof doc, "<field name=\"%s\" start=\"%u\" end=\"%u\"/>", f->name,
			    f->start, f->end);
		add(doc, sizeof doc, "</flags>");
	}
	add(doc, sizeof doc, "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>"
		"<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
		"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>"
		"<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
		"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>"
		"<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
		"<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/>"
		"<field name=\"v2_double\" type=\"v2d\"/><field name=\"v16_int8\" type=\"v16i8\"/>"
		"<field name=\"v8_int16\" type=\"v8i16\"/><field name=\"v4_int32\" type=\"v4i32\"/>"
		"<field name=\"v2_int64\" type=\"v2i64\"/><field name=\"uint128\" type=\"uint128\"/>"
		"</union>");
	for (int r = 0; r < GDB_REGS; r++) {
		add(doc, sizeof doc, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\"", regs[r].name,
		    regs[r].bits, regs[r].type);
		/* gdb shows the x87 control registers with "info float"
		 * and MXCSR with the vectors, not with "info registers". */
		if (r >= GDB_FCTRL && r <= GDB_FOP)
			add(doc, sizeof doc, " group=\"float\"");
		else if (r == GDB_MXCSR)
			add(doc, sizeof doc, " group=\"vector\"");
		add(doc, sizeof doc, "%s/>", r == 0 ? " regnum=\"0\"" : "");
	}
	add(doc, sizeof doc, "</feature></target>");
	return doc;
}

/* ---- registers ---- */

/* gdb's segment order (CS SS DS ES FS GS) in btvmm's encoding order. */
static const int gdb_seg[6] = { SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS };

/* The local APIC's TPR as CR8 shows it (bits 7:4), as QEMU's stub does. */
static uint32_t cr8(struct mon_vm *vm)
{
	uint32_t tpr = 0;
	if (!dev_mmio_read(vm->plat, dev_platform_apic_base(vm->plat) + 0x80, 4, &tpr))
		return 0; /* the APIC is disabled: no TPR */
	return (tpr >> 4) & 15;
}

/* Register n's bytes (little-endian) into buf; return its size. */
unsigned mon_gdb_read_register(struct mon_vm *vm, int n, uint8_t *buf)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *c = v->cpu;
	uint32_t x = 0;
	if (n >= GDB_ST0 && n < GDB_ST0 + 8) {
		memcpy(buf, c->guest_fx + FX_ST0 + 16 * (n - GDB_ST0), 10);
		return 10;
	}
	if (n >= GDB_XMM0 && n < GDB_XMM0 + 8) {
		memcpy(buf, c->guest_fx + FX_XMM0 + 16 * (n - GDB_XMM0), 16);
		return 16;
	}
	if (n < GDB_EIP) {
		x = c->gpr[n];
	} else if (n >= GDB_CS && n < GDB_CS + 6) {
		x = v->seg[gdb_seg[n - GDB_CS]].sel;
	} else if (n >= GDB_FCTRL && n <= GDB_FOP) {
		static const uint8_t fx_at[8] = { FX_FCW, FX_FSW, FX_FTW, FX_FCS, FX_FIP,
						  FX_FDS, FX_FDP, FX_FOP };
		static const uint8_t fx_size[8] = { 2, 2, 1, 2, 4, 2, 4, 2 };
		memcpy(&x, c->guest_fx + fx_at[n - GDB_FCTRL], fx_size[n - GDB_FCTRL]);
	} else {
		switch (n) {
		case GDB_EIP: x = c->eip; break;
		case GDB_EFLAGS: x = c->eflags; break;
		case GDB_FS_BASE: x = v->seg[SEG_FS].base; break;
		case GDB_GS_BASE: x = v->seg[SEG_GS].base; break;
		case GDB_K_GS_BASE: x = 0; break; /* no long mode: no SWAPGS base */
		case GDB_CR0: x = v->cr0; break;
		case GDB_CR2: x = v->cr2; break;
		case GDB_CR3: x = v->cr3; break;
		case GDB_CR4: x = v->cr4; break;
		case GDB_CR8: x = cr8(vm); break;
		case GDB_EFER: x = (uint32_t)v->efer; break;
		case GDB_MXCSR: memcpy(&x, c->guest_fx + FX_MXCSR, 4); break;
		default: return 0;
		}
	}
	memcpy(buf, &x, 4);
	return 4;
}

/* EFLAGS bits gdb may change: what POPF at CPL 0 may, and TF. */
#define GDB_EFLAGS_WRITABLE (BT_FL_LIVE | BT_FL_TF | BT_FL_IF | BT_FL_IOPL | BT_FL_NT | \
			     BT_FL_RF | BT_FL_AC | BT_FL_ID)

/*
 * Set register n from buf (its size as read_register gives it). The
 * general registers, EIP, EFLAGS and the x87/SSE state can be changed;
 * a segment, control or base register only to the value it has (a
 * write-all packet carries them unchanged): anything else is refused.
 */
bool mon_gdb_write_register(struct mon_vm *vm, int n, const uint8_t *buf)
{
	struct bt_cpu *c = vm->vcpu.cpu;
	uint8_t now[16];
	unsigned size = mon_gdb_read_register(vm, n, now);
	uint32_t x;
	memcpy(&x, buf, 4);
	if (n >= GDB_ST0 && n < GDB_ST0 + 8)
		memcpy(c->guest_fx + FX_ST0 + 16 * (n - GDB_ST0), buf, 10);
	else if (n >= GDB_XMM0 && n < GDB_XMM0 + 8)
		memcpy(c->guest_fx + FX_XMM0 + 16 * (n - GDB_XMM0), buf, 16);
	else if (n < GDB_EIP)
		c->gpr[n] = x;
	else if (n == GDB_EIP)
		c->eip = x;
	else if (n == GDB_EFLAGS)
		c->eflags = (c->eflags & ~GDB_EFLAGS_WRITABLE) | (x & GDB_EFLAGS_WRITABLE);
	else if (n == GDB_FCTRL || n == GDB_FCTRL + 1)
		memcpy(c->guest_fx + (n == GDB_FCTRL ? FX_FCW : FX_FSW), buf, 2);
	else if (n == GDB_MXCSR)
		memcpy(c->guest_fx + FX_MXCSR, buf, 4);
	else
		return size && !memcmp(now, buf, size);
	return true;
}

