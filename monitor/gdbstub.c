/* monitor: the GDB remote stub (-gdb tcp:[HOST]:PORT, -s, -S): GDB's remote serial protocol over TCP, for the one vCPU. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdbstub.h"
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

static void reply_all_registers(struct mon_vm *vm, struct mon_gdb *g)
{
	char *out = g->out;
	uint8_t buf[16];
	for (int n = 0; n < GDB_REGS; n++) {
		unsigned size = mon_gdb_read_register(vm, n, buf);
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
		unsigned size = mon_gdb_read_register(vm, n, now);
		ok = strlen(hex) >= 2 * size && get_hex(hex, buf, size) &&
		     mon_gdb_write_register(vm, n, buf);
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
	const char *doc = mon_gdb_target_xml();
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
			if (mon_stopped_by_signal(vm))
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
			put_hex(g->out, buf, mon_gdb_read_register(vm, n, buf));
			send_packet(g, g->out);
			break;
		case 'P': {
			unsigned size = 0;
			bool ok = register_number(&args, &n) && *args++ == '=';
			if (ok)
				size = mon_gdb_read_register(vm, n, buf);
			ok = ok && strlen(args) == 2 * size && get_hex(args, buf, size) &&
			     mon_gdb_write_register(vm, n, buf);
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
		if (fd < 0 && mon_stopped_by_signal(vm))
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
