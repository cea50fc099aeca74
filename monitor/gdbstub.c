/* monitor: the GDB remote stub (-gdb tcp:[HOST]:PORT, -s, -S): GDB's remote serial protocol over TCP, for the one vCPU. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.h"

/*
 * How it fits the run loop. The stub owns the CPU only between
 * instructions: mon_gdb_check runs at the top of every run-loop iteration
 * and, when gdb wants the CPU (a breakpoint at EIP, a finished step, a
 * watched value that changed, Ctrl-C, a new connection), answers gdb's
 * packets until gdb resumes. Breakpoints are precise inside translated
 * blocks because the translator asks mon_gdb_breakpoint for each
 * instruction it translates and ends the block with an exit before a
 * breakpoint (BT_EXIT_BREAK); every change of the breakpoint set flushes
 * the translations. Single steps (gdb's 's', leaving a breakpoint, and
 * every instruction while a watchpoint is set) run one instruction with
 * mon_step_one, interrupts held back as QEMU's stub does. Watchpoints
 * compare the watched bytes after each instruction: gdb reports a write
 * watchpoint only when the value changed, so this is what it would show
 * for a hardware one; read and access watchpoints are not offered.
 */

#define GDB_PACKET_MAX 4096 /* PacketSize, in bytes of payload */
#define GDB_BREAKPOINTS 64
#define GDB_WATCHPOINTS 4
#define GDB_POLL_NS 5000000ull /* look at the socket at most every 5 ms while running */

/* gdb's register numbers for i386 as QEMU's stub numbers them (its
 * i386-32bit target description): the order of the 'g' packet. */
enum {
	GDB_EAX = 0, GDB_EIP = 8, GDB_EFLAGS = 9, GDB_CS = 10, GDB_FS_BASE = 16,
	GDB_GS_BASE = 17, GDB_K_GS_BASE = 18, GDB_CR0 = 19, GDB_CR2 = 20, GDB_CR3 = 21,
	GDB_CR4 = 22, GDB_CR8 = 23, GDB_EFER = 24, GDB_ST0 = 25, GDB_FCTRL = 33,
	GDB_FOP = 40, GDB_XMM0 = 41, GDB_MXCSR = 49, GDB_REGS = 50,
};

/* Byte offsets in the FXSAVE image (bt_cpu.guest_fx). */
enum { FX_FCW = 0, FX_FSW = 2, FX_FTW = 4, FX_FOP = 6, FX_FIP = 8, FX_FCS = 12,
       FX_FDP = 16, FX_FDS = 20, FX_MXCSR = 24, FX_ST0 = 32, FX_XMM0 = 160 };

enum gdb_action { GDB_CONTINUE, GDB_STEP, GDB_KILL };

struct mon_gdb {
	int listen_fd;
	int fd;                 /* the connection, or -1 */
	bool stop_wanted;       /* gdb's Ctrl-C */
	bool fresh;             /* a new connection (or -S): stop, say nothing
				   until gdb asks why */
	bool step_wanted;       /* stop after the next instruction */
	bool no_ack;            /* QStartNoAckMode */
	uint64_t polled;
	uint32_t bp[GDB_BREAKPOINTS];
	unsigned n_bp;
	struct gdb_watch {
		uint32_t addr, len;
		uint8_t value[8];
		bool readable;
	} wp[GDB_WATCHPOINTS];
	unsigned n_wp;
	uint8_t in[GDB_PACKET_MAX + 8];
	unsigned in_len;
	char out[2 * GDB_PACKET_MAX + 8];
};

/* ---- packets ---- */

static const char hex_digits[] = "0123456789abcdef";

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void put_hex(char *out, const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[bytes[i] >> 4];
		out[2 * i + 1] = hex_digits[bytes[i] & 15];
	}
	out[2 * n] = 0;
}

/* Decode 2n hex digits into n bytes; false if one is not a digit. */
static bool get_hex(const char *in, uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value(in[2 * i]), lo = hi < 0 ? -1 : hex_value(in[2 * i + 1]);
		if (lo < 0)
			return false;
		bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* A hex number at *p, which moves past it; false if there is none. */
static bool get_number(const char **p, uint32_t *value)
{
	uint64_t v = 0;
	const char *s = *p;
	while (hex_value(*s) >= 0 && v <= 0xffffffffull)
		v = v << 4 | (uint64_t)hex_value(*s++);
	if (s == *p || v > 0xffffffffull)
		return false;
	*p = s;
	*value = (uint32_t)v;
	return true;
}

static void drop_connection(struct mon_gdb *g);

static void send_packet(struct mon_gdb *g, const char *payload)
{
	if (g->fd < 0)
		return;
	size_t n = strlen(payload);
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + (uint8_t)payload[i]);
	char tail[4] = { '#', hex_digits[sum >> 4], hex_digits[sum & 15], 0 };
	if (!hd_write_all(g->fd, "$", 1) || !hd_write_all(g->fd, payload, n) ||
	    !hd_write_all(g->fd, tail, 3))
		drop_connection(g);
}

static void reply(struct mon_gdb *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct mon_gdb *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->out, sizeof g->out, fmt, ap);
	va_end(ap);
	send_packet(g, g->out);
}

/*
 * Block until a whole packet has come; return its payload (NUL-ended, in
 * g->in), acknowledged, or NULL if gdb went away or a signal came. Bytes
 * outside packets ('+', '-', a Ctrl-C while stopped) are dropped: a NAK
 * of our last packet is not retransmitted, since TCP does not corrupt.
 */
static char *receive_packet(struct mon_gdb *g)
{
	for (;;) {
		uint8_t *start = memchr(g->in, '$', g->in_len);
		if (!start) {
			g->in_len = 0;
		} else if (start != g->in) {
			g->in_len -= (unsigned)(start - g->in);
			memmove(g->in, start, g->in_len);
		}
		uint8_t *hash = g->in_len ? memchr(g->in, '#', g->in_len) : NULL;
		if (hash && (unsigned)(hash - g->in) + 3 <= g->in_len) {
			unsigned len = (unsigned)(hash - g->in) + 3;
			uint8_t sum = 0, want;
			for (uint8_t *c = g->in + 1; c < hash; c++)
				sum = (uint8_t)(sum + *c);
			bool ok = get_hex((char *)hash + 1, &want, 1) && want == sum;
			static char payload[GDB_PACKET_MAX + 8];
			size_t n = (size_t)(hash - g->in - 1);
			memcpy(payload, g->in + 1, n);
			payload[n] = 0;
			g->in_len -= len;
			memmove(g->in, g->in + len, g->in_len);
			if (!g->no_ack && !hd_write_all(g->fd, ok ? "+" : "-", 1)) {
				drop_connection(g);
				return NULL;
			}
			if (ok)
				return payload;
			continue;
		}
		if (g->in_len == sizeof g->in - 1) {
			g->in_len = 0; /* longer than we said we take: drop it */
			continue;
		}
		int n = hd_read_wait(g->fd, g->in + g->in_len, sizeof g->in - 1 - g->in_len);
		if (n < 0) {
			drop_connection(g);
			return NULL;
		}
		if (n == 0)
			return NULL;
		g->in_len += (unsigned)n;
	}
}

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
static const char *target_xml(void)
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
static unsigned read_register(struct mon_vm *vm, int n, uint8_t *buf)
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
static bool write_register(struct mon_vm *vm, int n, const uint8_t *buf)
{
	struct bt_cpu *c = vm->vcpu.cpu;
	uint8_t now[16];
	unsigned size = read_register(vm, n, now);
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

static void reply_all_registers(struct mon_vm *vm, struct mon_gdb *g)
{
	char *out = g->out;
	uint8_t buf[16];
	for (int n = 0; n < GDB_REGS; n++) {
		unsigned size = read_register(vm, n, buf);
		put_hex(out, buf, size);
		out += 2 * size;
	}
	send_packet(g, g->out);
}

static void write_all_registers(struct mon_vm *vm, struct mon_gdb *g, const char *hex)
{
	uint8_t buf[16], now[16];
	bool ok = true;
	for (int n = 0; n < GDB_REGS && ok; n++) {
		unsigned size = read_register(vm, n, now);
		ok = strlen(hex) >= 2 * size && get_hex(hex, buf, size) &&
		     write_register(vm, n, buf);
		hex += 2 * size;
	}
	reply(g, ok ? "OK" : "E01");
}

/* ---- memory, by guest linear address through the current tables ---- */

static void read_memory(struct mon_vm *vm, struct mon_gdb *g, const char *args)
{
	uint32_t addr, len;
	static uint8_t buf[GDB_PACKET_MAX / 2];
	if (!get_number(&args, &addr) || *args++ != ',' || !get_number(&args, &len)) {
		reply(g, "E01");
		return;
	}
	if (len > sizeof buf)
		len = sizeof buf; /* gdb asks again for the rest */
	unsigned got = mon_debug_read(vm, addr, buf, len);
	if (!got && len) {
		reply(g, "E14"); /* EFAULT */
		return;
	}
	put_hex(g->out, buf, got);
	send_packet(g, g->out);
}

static void write_memory(struct mon_vm *vm, struct mon_gdb *g, const char *args)
{
	uint32_t addr, len;
	static uint8_t buf[GDB_PACKET_MAX / 2];
	if (!get_number(&args, &addr) || *args++ != ',' || !get_number(&args, &len) ||
	    *args++ != ':' || len > sizeof buf || strlen(args) != 2 * (size_t)len ||
	    !get_hex(args, buf, len)) {
		reply(g, "E01");
		return;
	}
	reply(g, mon_debug_write(vm, addr, buf, len) ? "OK" : "E14");
}

/* ---- breakpoints and watchpoints ---- */

static bool has_breakpoint(const struct mon_gdb *g, uint32_t eip)
{
	for (unsigned i = 0; i < g->n_bp; i++)
		if (g->bp[i] == eip)
			return true;
	return false;
}

bool mon_gdb_breakpoint(struct mon_vm *vm, uint32_t eip)
{
	return vm->gdb && has_breakpoint(vm->gdb, eip);
}

/* Remember what a watched range holds now. */
static void watch_sample(struct mon_vm *vm, struct gdb_watch *w)
{
	w->readable = mon_debug_read(vm, w->addr, w->value, w->len) == w->len;
}

/* The first watchpoint whose bytes changed (all are sampled anew), or NULL. */
static struct gdb_watch *watch_changed(struct mon_vm *vm, struct mon_gdb *g)
{
	struct gdb_watch *hit = NULL;
	for (unsigned i = 0; i < g->n_wp; i++) {
		struct gdb_watch *w = &g->wp[i];
		uint8_t before[8];
		bool was = w->readable;
		memcpy(before, w->value, sizeof before);
		watch_sample(vm, w);
		if (!hit && (was != w->readable || memcmp(before, w->value, w->len)))
			hit = w;
	}
	return hit;
}

/* Z/z packets: type 0 (software) and 1 (hardware) breakpoints, 2 (write)
 * watchpoints. Read and access watchpoints get the empty reply gdb takes
 * for "not supported". */
static void change_point(struct mon_vm *vm, struct mon_gdb *g, const char *args, bool insert)
{
	uint32_t type, addr, kind;
	if (!get_number(&args, &type) || *args++ != ',' || !get_number(&args, &addr) ||
	    *args++ != ',' || !get_number(&args, &kind)) {
		reply(g, "E01");
		return;
	}
	if (type > 2) {
		reply(g, "%s", "");
		return;
	}
	if (type == 2) {
		unsigned i = 0;
		while (i < g->n_wp && (g->wp[i].addr != addr || g->wp[i].len != kind))
			i++;
		if (insert && i == g->n_wp && (g->n_wp == GDB_WATCHPOINTS || !kind || kind > 8)) {
			reply(g, "E22");
			return;
		}
		if (insert && i == g->n_wp) {
			g->wp[g->n_wp] = (struct gdb_watch){ .addr = addr, .len = kind };
			watch_sample(vm, &g->wp[g->n_wp++]);
		} else if (!insert && i < g->n_wp) {
			g->wp[i] = g->wp[--g->n_wp];
		}
		reply(g, "OK");
		return;
	}
	bool present = has_breakpoint(g, addr);
	if (insert && !present) {
		if (g->n_bp == GDB_BREAKPOINTS) {
			reply(g, "E22");
			return;
		}
		g->bp[g->n_bp++] = addr;
	} else if (!insert && present) {
		unsigned i = 0;
		while (g->bp[i] != addr)
			i++;
		g->bp[i] = g->bp[--g->n_bp];
	}
	/* Translations made under the old set would run through a new
	 * breakpoint, or stop at a removed one. */
	if (insert != present)
		bt_flush(vm->bt);
	reply(g, "OK");
}

/* ---- the conversation ---- */

static void drop_connection(struct mon_gdb *g)
{
	if (g->fd >= 0)
		hd_close(g->fd);
	g->fd = -1;
	g->in_len = 0;
	g->no_ack = false;
}

/* gdb left (D, or the connection closed): the guest runs on without
 * breakpoints or watchpoints, as under QEMU. */
static void detach(struct mon_vm *vm, struct mon_gdb *g)
{
	drop_connection(g);
	if (g->n_bp)
		bt_flush(vm->bt);
	g->n_bp = g->n_wp = 0;
	g->step_wanted = false;
}

/* qXfer:features:read:target.xml:OFFSET,LENGTH */
static void send_target_xml(struct mon_gdb *g, const char *args)
{
	const char *doc = target_xml();
	uint32_t off, len;
	size_t total = strlen(doc);
	if (strncmp(args, "target.xml:", 11)) {
		reply(g, "E00");
		return;
	}
	args += 11;
	if (!get_number(&args, &off) || *args++ != ',' || !get_number(&args, &len)) {
		reply(g, "E01");
		return;
	}
	if (off >= total) {
		reply(g, "l");
		return;
	}
	if (len > GDB_PACKET_MAX - 1)
		len = GDB_PACKET_MAX - 1;
	size_t n = total - off < len ? total - off : len;
	/* No '#', '$', '}' or '*' in the document: nothing to escape. */
	reply(g, "%c%.*s", off + n < total ? 'm' : 'l', (int)n, doc + off);
}

static void query(struct mon_gdb *g, const char *q)
{
	if (!strncmp(q, "qSupported", 10))
		reply(g, "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+", GDB_PACKET_MAX);
	else if (!strncmp(q, "qXfer:features:read:", 20))
		send_target_xml(g, q + 20);
	else if (!strcmp(q, "qAttached") || !strncmp(q, "qAttached:", 10))
		reply(g, "1");
	else if (!strcmp(q, "qfThreadInfo"))
		reply(g, "m01");
	else if (!strcmp(q, "qsThreadInfo"))
		reply(g, "l");
	else if (!strcmp(q, "qC"))
		reply(g, "QC01");
	else if (!strcmp(q, "QStartNoAckMode")) {
		reply(g, "OK");
		g->no_ack = true;
	} else
		reply(g, "%s", "");
}

static bool register_number(const char **args, int *n)
{
	uint32_t v;
	if (!get_number(args, &v) || v >= GDB_REGS)
		return false;
	*n = (int)v;
	return true;
}

/*
 * Answer gdb until it resumes the guest; `why` is the stop reply, sent
 * at once if `announce` (gdb waits for it after 'c', 's' or Ctrl-C) and
 * whenever gdb asks ('?'). Return what gdb asked for; GDB_CONTINUE also
 * when gdb left.
 */
static enum gdb_action serve(struct mon_vm *vm, struct mon_gdb *g, const char *why,
			     bool announce)
{
	char stop[64];
	snprintf(stop, sizeof stop, "%s", why);
	if (announce)
		send_packet(g, stop);
	while (g->fd >= 0) {
		char *p = receive_packet(g);
		if (!p) {
			if (mon_stop_signalled(vm))
				return GDB_KILL;
			continue;
		}
		const char *args = p + 1;
		int n;
		uint8_t buf[16];
		switch (p[0]) {
		case '?':
			send_packet(g, stop);
			break;
		case 'q':
		case 'Q':
			query(g, p);
			break;
		case 'H':
		case 'T':
			reply(g, "OK"); /* one thread */
			break;
		case 'g':
			reply_all_registers(vm, g);
			break;
		case 'G':
			write_all_registers(vm, g, args);
			break;
		case 'p':
			if (!register_number(&args, &n)) {
				reply(g, "E01");
				break;
			}
			put_hex(g->out, buf, read_register(vm, n, buf));
			send_packet(g, g->out);
			break;
		case 'P': {
			unsigned size = 0;
			bool ok = register_number(&args, &n) && *args++ == '=';
			if (ok)
				size = read_register(vm, n, buf);
			ok = ok && strlen(args) == 2 * size && get_hex(args, buf, size) &&
			     write_register(vm, n, buf);
			reply(g, ok ? "OK" : "E01");
			break;
		}
		case 'm':
			read_memory(vm, g, args);
			break;
		case 'M':
			write_memory(vm, g, args);
			break;
		case 'Z':
		case 'z':
			change_point(vm, g, args, p[0] == 'Z');
			break;
		case 'c':
			return GDB_CONTINUE;
		case 's':
			return GDB_STEP;
		case 'D':
			reply(g, "OK");
			detach(vm, g);
			return GDB_CONTINUE;
		case 'k':
			return GDB_KILL;
		default:
			reply(g, "%s", ""); /* not supported (X, vCont, ...): gdb falls back */
			break;
		}
	}
	detach(vm, g);
	return GDB_CONTINUE;
}

/* Look at the socket while the guest runs: a connection (the guest stops
 * for it, as under QEMU) or gdb's Ctrl-C. */
static void poll_socket(struct mon_vm *vm, struct mon_gdb *g)
{
	uint64_t now = hd_now_ns();
	if (now - g->polled < GDB_POLL_NS)
		return;
	g->polled = now;
	if (g->fd < 0) {
		int fd = hd_tcp_accept(g->listen_fd, false);
		if (fd >= 0) {
			g->fd = fd;
			g->fresh = true;
		}
		return;
	}
	uint8_t buf[64];
	int n = hd_read_nonblock(g->fd, buf, sizeof buf);
	if (n < 0)
		detach(vm, g);
	else if (n > 0 && memchr(buf, 0x03, (size_t)n))
		g->stop_wanted = true;
}

/* Carry out gdb's answer: stepping runs the instruction here. Return
 * true if an instruction ran. */
static bool stopped(struct mon_vm *vm, struct mon_gdb *g, const char *why, bool announce)
{
	char reason[64];
	snprintf(reason, sizeof reason, "%s", why);
	for (;;) {
		enum gdb_action a = serve(vm, g, reason, announce);
		announce = true;
		if (a == GDB_KILL) {
			if (!vm->stop)
				mon_stop(vm, MON_EXIT_SIGNAL, "killed by gdb");
			return true;
		}
		if (a == GDB_STEP && vm->vcpu.halted) {
			g->step_wanted = true; /* the step ends after the CPU wakes */
			return false;
		}
		/* Leaving a breakpoint, or stepping: the instruction at EIP
		 * runs without stopping at its own breakpoint. */
		if (a == GDB_CONTINUE && !has_breakpoint(g, vm->vcpu.cpu->eip) && !g->n_wp)
			return false;
		mon_step_one(vm);
		struct gdb_watch *w = watch_changed(vm, g);
		if (vm->stop)
			return true;
		if (w)
			snprintf(reason, sizeof reason, "T05watch:%x;thread:01;", w->addr);
		else if (a == GDB_STEP)
			snprintf(reason, sizeof reason, "T05thread:01;");
		else
			return true;
	}
}

bool mon_gdb_check(struct mon_vm *vm)
{
	struct mon_gdb *g = vm->gdb;
	if (!g)
		return false;
	poll_socket(vm, g);
	if (g->fd < 0)
		return false;
	if (g->fresh) {
		g->fresh = false;
		return stopped(vm, g, "T05thread:01;", false);
	}
	if (g->stop_wanted) {
		g->stop_wanted = false;
		return stopped(vm, g, "T02thread:01;", true);
	}
	if (vm->vcpu.halted)
		return false; /* the run loop sleeps until an interrupt */
	if (g->step_wanted) {
		g->step_wanted = false;
		mon_step_one(vm);
		if (!vm->stop)
			stopped(vm, g, "T05thread:01;", true);
		return true;
	}
	if (has_breakpoint(g, vm->vcpu.cpu->eip))
		return stopped(vm, g, "T05thread:01;", true);
	if (!g->n_wp)
		return false;
	/* Watching: one instruction at a time, each checked. */
	mon_step_one(vm);
	struct gdb_watch *w = watch_changed(vm, g);
	if (w && !vm->stop) {
		char why[64];
		snprintf(why, sizeof why, "T05watch:%x;thread:01;", w->addr);
		stopped(vm, g, why, true);
	}
	return true;
}

bool mon_gdb_open(struct mon_vm *vm, const char *spec, bool wait, char *err, size_t errlen)
{
	/* tcp:[HOST]:PORT; the port is after the last ':' (IPv6 hosts have
	 * colons of their own). */
	const char *colon = strrchr(spec, ':');
	if (strncmp(spec, "tcp:", 4) || !colon || colon < spec + 3 || !colon[1]) {
		snprintf(err, errlen, "'%s' is not tcp:[HOST]:PORT", spec);
		return false;
	}
	char host[256];
	snprintf(host, sizeof host, "%.*s", (int)(colon - spec - 4), spec + 4);
	struct mon_gdb *g = calloc(1, sizeof *g);
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	g->fd = -1;
	g->listen_fd = hd_tcp_listen(host, colon + 1, err, errlen);
	if (g->listen_fd < 0) {
		free(g);
		return false;
	}
	vm->gdb = g;
	/* -S: the guest starts stopped, and only gdb can start it. */
	while (wait && g->fd < 0) {
		int fd = hd_tcp_accept(g->listen_fd, true);
		if (fd == -2) {
			snprintf(err, errlen, "waiting for gdb on '%s' failed", spec);
			return false;
		}
		if (fd < 0 && mon_stop_signalled(vm))
			return true; /* the run ends at once */
		g->fd = fd;
		g->fresh = fd >= 0;
	}
	return true;
}

void mon_gdb_close(struct mon_vm *vm)
{
	struct mon_gdb *g = vm->gdb;
	if (!g)
		return;
	/* The connection just closes, as QEMU's does when its guest ends
	 * (gdb: "Remote connection closed"). */
	drop_connection(g);
	hd_close(g->listen_fd);
	free(g);
	vm->gdb = NULL;
}
