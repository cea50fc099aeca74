/* monitor: the monitor console, QEMU's "(qemu)" prompt: Ctrl-A c on the terminal, and -monitor unix:PATH,server,nowait for scripts. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor.h"

/*
 * Two places type commands: the terminal, while Ctrl-A c has switched it
 * from COM1 to the console (input.c's mon_pump_input hands the bytes over), and
 * one connection at a time on the UNIX socket. Each line is a command;
 * its output, then a prompt, goes back where the line came from (with
 * CR LF on the raw terminal). "stop" holds the guest: the run loop then
 * only waits for input (mon_console_wait) until "cont".
 */

#define CONSOLE_LINE 256
#define PROMPT "(btvmm) "

struct console_conn {
	int fd;                 /* where output goes; -1: not connected */
	bool terminal;          /* raw terminal: LF becomes CR LF, echo */
	char line[CONSOLE_LINE];
	unsigned len;
};

struct mon_console {
	struct console_conn term;
	struct console_conn sock;
	int listen_fd;          /* -monitor unix:PATH, or -1 */
	const char *path;       /* removed as the run ends */
	bool paused;            /* "stop" */
	uint64_t polled;        /* host time of the last look at the socket */
};

#define CONSOLE_POLL_NS 5000000ull /* as input.c's terminal input */

static void conn_write(struct console_conn *c, const char *text, size_t n)
{
	if (c->fd < 0)
		return;
	for (size_t at = 0; at < n;) {
		const char *nl = c->terminal ? memchr(text + at, '\n', n - at) : NULL;
		size_t run = nl ? (size_t)(nl - (text + at)) : n - at;
		bool ok = hd_write_all(c->fd, text + at, run) &&
			  (!nl || hd_write_all(c->fd, "\r\n", 2));
		if (!ok && !c->terminal) {
			hd_close(c->fd); /* the script went away */
			c->fd = -1;
			return;
		}
		at += run + (nl ? 1 : 0);
	}
}

static void conn_printf(struct console_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void conn_printf(struct console_conn *c, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	conn_write(c, text, n < (int)sizeof text ? (size_t)n : sizeof text - 1);
}

/* ---- commands ---- */

/* A number (0x... hex, else decimal) or $eip/$pc/$esp. */
static bool parse_address(struct mon_vm *vm, const char *s, uint32_t *value)
{
	const struct bt_cpu *c = vm->vcpu.cpu;
	if (!strcmp(s, "$eip") || !strcmp(s, "$pc")) {
		*value = c->eip;
		return true;
	}
	if (!strcmp(s, "$esp")) {
		*value = c->gpr[BT_ESP];
		return true;
	}
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (end == s || *end || v > 0xffffffffull)
		return false;
	*value = (uint32_t)v;
	return true;
}

/*
 * x/FMT ADDR (linear, through the guest's tables) and xp/FMT ADDR
 * (physical): FMT is [COUNT][x|d|u][b|h|w], as QEMU's (default 1 x w).
 * Lines of 16 bytes, "ADDRESS: value value ...".
 */
static void examine(struct mon_vm *vm, FILE *out, const char *cmd, const char *arg,
		    bool physical)
{
	const char *fmt = strchr(cmd, '/');
	unsigned count = 1, size = 4;
	char format = 'x';
	if (fmt) {
		char *end;
		fmt++;
		unsigned long n = strtoul(fmt, &end, 10);
		if (end != fmt)
			count = n ? (unsigned)n : 1;
		for (; *end; end++) {
			if (strchr("xdu", *end))
				format = *end;
			else if (strchr("bhw", *end))
				size = *end == 'b' ? 1 : *end == 'h' ? 2 : 4;
			else {
				fprintf(out, "unknown format '%c' (x, d, u; b, h, w)\n", *end);
				return;
			}
		}
	}
	uint32_t addr;
	if (!arg || !parse_address(vm, arg, &addr)) {
		fprintf(out, "%s: give an address (0x..., $eip, $esp)\n", physical ? "xp" : "x");
		return;
	}
	if (count > 4096 / size)
		count = 4096 / size;
	for (unsigned i = 0; i < count; i++) {
		uint32_t at = addr + i * size, v = 0;
		bool ok = physical ? (uint64_t)at + size <= vm->ram_size
				   : mon_debug_read(vm, at, (uint8_t *)&v, size) == size;
		if (physical && ok)
			memcpy(&v, vm->ram + at, size);
		/* QEMU prints a physical address as 16 digits. */
		if (i % (16 / size) == 0)
			fprintf(out, "%s%0*x:", i ? "\n" : "", physical ? 16 : 8, at);
		if (!ok) {
			fprintf(out, " Cannot access memory");
			break;
		} else if (format == 'x') {
			fprintf(out, " 0x%0*x", (int)size * 2, v);
		} else if (format == 'd') {
			int32_t sv = size == 1 ? (int8_t)v : size == 2 ? (int16_t)v : (int32_t)v;
			fprintf(out, " %d", sv);
		} else {
			fprintf(out, " %u", v);
		}
	}
	fputc('\n', out);
}

/* "u" for user pages, "r", "w" for writable ones: QEMU's info mem letters. */
static void protection(unsigned rights, char text[4])
{
	text[0] = rights & SMM_DEBUG_US ? 'u' : '-';
	text[1] = 'r';
	text[2] = rights & SMM_DEBUG_RW ? 'w' : '-';
	text[3] = 0;
}

/*
 * info mem: the guest's mapped linear ranges with the same protection,
 * "START-END SIZE PROT", as QEMU 7.2 prints them (16 hex digits). info
 * tlb: every mapped page, "LINEAR: PHYSICAL PROT" (QEMU prints the PTE's
 * flags there; the debug walk knows only U/S and R/W).
 */
static void mappings(struct mon_vm *vm, FILE *out, bool per_page)
{
	if (!(vm->vcpu.cr0 & CR0_PG)) {
		fputs("PG disabled\n", out);
		return;
	}
	bool open = false;
	unsigned run_rights = 0;
	uint64_t run_start = 0;
	for (uint64_t page = 0; page <= 0xfffff + 1ull; page++) {
		uint64_t phys = 0;
		unsigned rights = 0;
		bool mapped = page <= 0xfffff &&
			      smm_debug_translate(vm->smm, (uint32_t)(page << 12), &phys, &rights);
		if (mapped && per_page) {
			char prot[4];
			protection(rights, prot);
			fprintf(out, "%016llx: %016llx %s\n", (unsigned long long)(page << 12),
				(unsigned long long)phys, prot);
			continue;
		}
		if (open && (!mapped || rights != run_rights)) {
			char prot[4];
			protection(run_rights, prot);
			fprintf(out, "%016llx-%016llx %016llx %s\n",
				(unsigned long long)(run_start << 12),
				(unsigned long long)(page << 12),
				(unsigned long long)((page - run_start) << 12), prot);
			open = false;
		}
		if (mapped && !open) {
			open = true;
			run_start = page;
			run_rights = rights;
		}
	}
}

static const char help_text[] =
	"info registers        the CPU's registers\n"
	"info mem              mapped linear ranges and their protection\n"
	"info tlb              every mapped page: linear, physical, protection\n"
	"info stats            btvmm's counters (as --stats prints them)\n"
	"x/FMT ADDR            guest memory at a linear address (FMT: [N][x|d|u][b|h|w])\n"
	"xp/FMT ADDR           guest memory at a physical address\n"
	"stop                  hold the guest\n"
	"cont, c               let it run again\n"
	"system_reset          reset the machine (btvmm then ends, status 0)\n"
	"system_powerdown      press the ACPI power button\n"
	"quit, q               end btvmm (status 12)\n"
	"help                  this text\n";

/* Carry out one command line; its output goes to out. */
static void execute(struct mon_vm *vm, struct mon_console *con, char *line, FILE *out)
{
	char *save, *cmd = strtok_r(line, " \t", &save);
	char *arg = strtok_r(NULL, " \t", &save);
	if (!cmd)
		return;
	if (!strcmp(cmd, "info") && arg && !strcmp(arg, "registers"))
		mon_dump_cpu(vm, out);
	else if (!strcmp(cmd, "info") && arg && !strcmp(arg, "mem"))
		mappings(vm, out, false);
	else if (!strcmp(cmd, "info") && arg && !strcmp(arg, "tlb"))
		mappings(vm, out, true);
	else if (!strcmp(cmd, "info") && arg && !strcmp(arg, "stats"))
		mon_print_stats(vm, out);
	else if (!strcmp(cmd, "info"))
		fputs("info registers, info mem, info tlb or info stats\n", out);
	else if (!strcmp(cmd, "x") || !strncmp(cmd, "x/", 2))
		examine(vm, out, cmd, arg, false);
	else if (!strcmp(cmd, "xp") || !strncmp(cmd, "xp/", 3))
		examine(vm, out, cmd, arg, true);
	else if (!strcmp(cmd, "stop"))
		con->paused = true;
	else if (!strcmp(cmd, "cont") || !strcmp(cmd, "c"))
		con->paused = false;
	else if (!strcmp(cmd, "system_reset"))
		mon_stop(vm, MON_EXIT_RESET, "guest reset (system_reset)");
	else if (!strcmp(cmd, "system_powerdown"))
		dev_platform_power_button(vm->plat);
	else if (!strcmp(cmd, "quit") || !strcmp(cmd, "q"))
		mon_stop(vm, MON_EXIT_SIGNAL, "quit from the monitor console");
	else if (!strcmp(cmd, "help") || !strcmp(cmd, "?"))
		fputs(help_text, out);
	else
		fprintf(out, "unknown command: '%s' (help lists them)\n", cmd);
}

/* Run a line and send its output and the next prompt to c. */
static void run_line(struct mon_vm *vm, struct mon_console *con, struct console_conn *c)
{
	c->line[c->len] = 0;
	c->len = 0;
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	if (!out) {
		conn_printf(c, "out of memory\n");
		return;
	}
	execute(vm, con, c->line, out);
	if (fclose(out)) {
		free(text);
		conn_printf(c, "out of memory\n");
		return;
	}
	conn_write(c, text, size);
	free(text);
	if (!vm->stop)
		conn_write(c, PROMPT, strlen(PROMPT));
}

/* Take typed bytes: lines run as they end; the terminal echoes and
 * knows backspace. */
static void take_bytes(struct mon_vm *vm, struct mon_console *con, struct console_conn *c,
		       const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n && !vm->stop; i++) {
		uint8_t b = bytes[i];
		if (b == '\r' || b == '\n') {
			if (c->terminal)
				conn_write(c, "\n", 1);
			if (b == '\n' && c->terminal)
				continue; /* CR LF from a terminal: one line */
			run_line(vm, con, c);
		} else if ((b == 0x7f || b == 0x08) && c->terminal) {
			if (c->len) {
				c->len--;
				conn_write(c, "\b \b", 3);
			}
		} else if (b >= 0x20 && b < 0x7f && c->len < CONSOLE_LINE - 1) {
			c->line[c->len++] = (char)b;
			if (c->terminal)
				conn_write(c, (const char *)&b, 1);
		}
	}
}

static struct mon_console *console(struct mon_vm *vm)
{
	if (!vm->console) {
		vm->console = calloc(1, sizeof *vm->console);
		if (!vm->console)
			return NULL;
		vm->console->term.fd = vm->console->sock.fd = vm->console->listen_fd = -1;
	}
	return vm->console;
}

static void greet(struct console_conn *c)
{
	conn_printf(c, "btvmm %s monitor - type 'help' for more information\n" PROMPT,
		    BTVMM_VERSION);
}

bool mon_console_hold(struct mon_vm *vm)
{
	struct mon_console *con = console(vm);
	if (con)
		con->paused = true;
	return con != NULL;
}

void mon_console_terminal(struct mon_vm *vm, bool on)
{
	struct mon_console *con = console(vm);
	if (!con)
		return;
	con->term.fd = on ? STDOUT_FILENO : -1;
	con->term.terminal = true;
	con->term.len = 0;
	if (on)
		greet(&con->term);
}

void mon_console_typed(struct mon_vm *vm, const uint8_t *bytes, size_t n)
{
	struct mon_console *con = console(vm);
	if (con)
		take_bytes(vm, con, &con->term, bytes, n);
}

bool mon_console_open(struct mon_vm *vm, const char *path, char *err, size_t errlen)
{
	struct mon_console *con = console(vm);
	if (!con) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	con->listen_fd = hd_unix_listen(path, err, errlen);
	con->path = path;
	return con->listen_fd >= 0;
}

bool mon_console_poll(struct mon_vm *vm, uint64_t now)
{
	struct mon_console *con = vm->console;
	if (!con || (!con->paused && now - con->polled < CONSOLE_POLL_NS))
		return con && con->paused;
	con->polled = now;
	if (con->listen_fd >= 0 && con->sock.fd < 0) {
		con->sock.fd = hd_unix_accept(con->listen_fd);
		con->sock.len = 0;
		if (con->sock.fd >= 0)
			greet(&con->sock);
	}
	/* One read per look: after a "cont" the guest runs before the next
	 * command is taken, even if the script sent it at once. */
	if (con->sock.fd >= 0) {
		uint8_t buf[256];
		int n = hd_read_nonblock(con->sock.fd, buf, sizeof buf);
		if (n < 0) {
			hd_close(con->sock.fd);
			con->sock.fd = -1;
		} else {
			take_bytes(vm, con, &con->sock, buf, (size_t)n);
		}
	}
	return con->paused;
}

void mon_console_wait(struct mon_vm *vm)
{
	struct mon_console *con = vm->console;
	int fds[3] = { vm->input_fd, con ? con->listen_fd : -1, con ? con->sock.fd : -1 };
	if (con && con->sock.fd >= 0)
		fds[1] = -1; /* one script at a time: the next waits */
	if (fds[0] < 0 && fds[1] < 0 && fds[2] < 0) {
		/* The terminal's input ended and there is no socket: no one
		 * can type "cont" any more. */
		mon_stop(vm, MON_EXIT_HALTED, "the guest is held (stop or -S) and nothing is "
			 "left to continue it from (the terminal's input ended)");
		return;
	}
	hd_wait_readable(fds, 3);
}

void mon_console_close(struct mon_vm *vm)
{
	struct mon_console *con = vm->console;
	if (!con)
		return;
	if (con->sock.fd >= 0)
		hd_close(con->sock.fd);
	if (con->listen_fd >= 0) {
		hd_close(con->listen_fd);
		hd_unlink(con->path);
	}
	free(con);
	vm->console = NULL;
}
