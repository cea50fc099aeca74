/* monitor: QEMU's command-line spellings: those that mean something here, and one line for each that does not. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_qemu.h"

/* The one-line refusal: "btvmm: -OPT: WHY (see btvmm --help)", status 2. */
static _Noreturn void refuse(const char *option, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static _Noreturn void refuse(const char *option, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "btvmm: %s: ", option);
	vfprintf(stderr, fmt, ap);
	fputs(" (see btvmm --help)\n", stderr);
	va_end(ap);
	exit(MON_EXIT_USAGE);
}

/* QEMU's -nographic, -no-reboot and friends name what btvmm always does:
 * it has no display, ends on a reset, and attaches no default device
 * beyond the PC board. */
static void apply_nothing(struct mon_options *o, const char *value)
{
}

/* -nodefaults: QEMU then has no serial port unless -serial names one. */
static void apply_nodefaults(struct mon_options *o, const char *value)
{
	o->nodefaults = true;
}

static void apply_display(struct mon_options *o, const char *value)
{
	if (strcmp(value, "none"))
		refuse("-display", "'%s': btvmm has no display (only -display none; COM1 "
		       "is the console: -serial)", value);
}

/* -smp 1, -smp cpus=1 (with sockets/cores/threads of 1): one vCPU. */
static void apply_smp(struct mon_options *o, const char *value)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", value);
	for (char *save, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		const char *eq = strchr(kv, '=');
		const char *n = eq ? eq + 1 : kv;
		if (strcmp(n, "1") || (kv != buf && !eq))
			refuse("-smp", "'%s': btvmm has one vCPU (-smp 1)", value);
	}
}

/*
 * -cpu: the one model btvmm presents (cpuid.c) is a family-6 model-14
 * stepping-8 part, QEMU's "coreduo" signature, claiming only what btvmm
 * virtualizes; "max" (every feature the engine can give) is that same
 * CPU. Other models would need CPUID leaves btvmm does not present, and
 * +feature/-feature toggles are not offered.
 */
static void apply_cpu(struct mon_options *o, const char *value)
{
	if (strcmp(value, "coreduo") && strcmp(value, "max"))
		refuse("-cpu", "model '%s' is not available: btvmm presents one CPU, "
		       "'coreduo' (also named 'max')", value);
}

/* -machine pc / -M pc[,type=pc]: btvmm's board is QEMU's i440FX "pc". */
static void apply_machine(struct mon_options *o, const char *value)
{
	if (strcmp(value, "pc") && strcmp(value, "type=pc"))
		refuse("-machine", "'%s': btvmm is one machine, 'pc' (i440FX, ISA devices)",
		       value);
}

/*
 * -device isa-debug-exit,iobase=0xf4,iosize=0x04: btvmm always has it, at
 * that port (QEMU's default port, 0x501, is not offered). Disks are
 * attached with -drive, which QEMU users know too.
 */
static void apply_device(struct mon_options *o, const char *value)
{
	char buf[128];
	if (strlen(value) >= sizeof buf)
		refuse("-device", "'%.40s...' is too long", value);
	snprintf(buf, sizeof buf, "%s", value);
	char *save, *name = strtok_r(buf, ",", &save);
	if (!name || strcmp(name, "isa-debug-exit"))
		refuse("-device", "'%s' is not a device btvmm has: it has "
		       "isa-debug-exit,iobase=0xf4,iosize=0x04 (always present); disks "
		       "are -drive file=PATH[,if=virtio]", name ? name : value);
	bool iobase = false;
	for (char *kv = strtok_r(NULL, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		const char *v = strchr(kv, '=');
		char *end = NULL;
		unsigned long n = v ? strtoul(v + 1, &end, 0) : 0;
		bool number = v && end != v + 1 && !*end;
		size_t key = v ? (size_t)(v - kv) : strlen(kv);
		if (key == 6 && !strncmp(kv, "iobase", 6) && number && n == 0xf4)
			iobase = true;
		else if (!(key == 6 && !strncmp(kv, "iosize", 6) && number && n >= 1 && n <= 4))
			refuse("-device", "isa-debug-exit: btvmm has it only at iobase=0xf4,"
			       "iosize=0x04, not with '%s'", kv);
	}
	if (!iobase)
		refuse("-device", "isa-debug-exit: btvmm has it at port 0xf4 only: give "
		       "iobase=0xf4,iosize=0x04%s", "");
}

/* -monitor none / -parallel none: QEMU's way of saying "not this one". */
static void apply_none_only(const char *option, const char *value, const char *why)
{
	if (strcmp(value, "none"))
		refuse(option, "'%s': %s (only '%s none')", value, why, option);
}

/*
 * -monitor none; stdio (the console on the terminal, for a COM1 that is
 * elsewhere); or unix:PATH,server,nowait (server=on, wait=off): the
 * console on a UNIX socket btvmm listens on, the guest running at once.
 */
static void apply_monitor(struct mon_options *o, const char *value)
{
	static char buf[512];
	if (!strcmp(value, "none"))
		return;
	if (!strcmp(value, "stdio")) {
		o->monitor_stdio = true;
		return;
	}
	if (o->monitor_socket)
		refuse("-monitor", "one monitor socket only%s", "");
	if (strncmp(value, "unix:", 5) || strlen(value) >= sizeof buf)
		refuse("-monitor", "'%s': btvmm's console is on the terminal (stdio, or "
		       "Ctrl-A c) or on unix:PATH,server,nowait", value);
	snprintf(buf, sizeof buf, "%s", value + 5);
	bool server = false, nowait = false;
	char *save, *path = strtok_r(buf, ",", &save);
	for (char *kv = strtok_r(NULL, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		if (!strcmp(kv, "server") || !strcmp(kv, "server=on"))
			server = true;
		else if (!strcmp(kv, "nowait") || !strcmp(kv, "wait=off"))
			nowait = true;
		else
			refuse("-monitor", "'%s': unix:PATH takes server and nowait only", kv);
	}
	if (!path || !*path || !server || !nowait)
		refuse("-monitor", "'%s': btvmm listens without waiting: give "
		       "unix:PATH,server,nowait", value);
	o->monitor_socket = path;
}

static void apply_parallel(struct mon_options *o, const char *value)
{
	apply_none_only("-parallel", value, "btvmm has no parallel port");
}

/*
 * -d ITEMS: QEMU's log items that have a btvmm trace. int (interrupts
 * and exceptions) is --trace exc; in_asm and out_asm (each translated
 * block's guest and host code) are --trace bt, which prints both;
 * cpu_reset prints the CPU state the guest starts with (btvmm ends on a
 * reset, so that is the only one).
 */
static void apply_log_items(struct mon_options *o, const char *value)
{
	char buf[256];
	if (strlen(value) >= sizeof buf)
		refuse("-d", "the list is too long%s", "");
	snprintf(buf, sizeof buf, "%s", value);
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "int"))
			o->trace_exc = true;
		else if (!strcmp(t, "in_asm") || !strcmp(t, "out_asm"))
			o->trace_bt = true;
		else if (!strcmp(t, "cpu_reset"))
			o->trace_cpu_reset = true;
		else
			refuse("-d", "log item '%s' is not available: btvmm logs int, in_asm, "
			       "out_asm and cpu_reset (and --trace io for port accesses)", t);
	}
}

static void apply_log_file(struct mon_options *o, const char *value)
{
	if (o->log_file)
		refuse("-D", "given twice%s", "");
	o->log_file = value;
}

static void apply_pidfile(struct mon_options *o, const char *value)
{
	if (o->pidfile)
		refuse("-pidfile", "given twice%s", "");
	o->pidfile = value;
}

/* -name GUEST[,process=NAME][,debug-threads=on|off], or guest=GUEST,...:
 * process= names the host process, as QEMU does; the guest's name and
 * debug-threads (btvmm runs one thread) change nothing. */
static void apply_name(struct mon_options *o, const char *value)
{
	static char buf[256];
	if (strlen(value) >= sizeof buf)
		refuse("-name", "the value is too long%s", "");
	snprintf(buf, sizeof buf, "%s", value);
	bool first = true;
	for (char *save, *kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save), first = false) {
		char *v = strchr(kv, '=');
		if (!v && first)
			continue; /* the guest's name */
		if (!v)
			refuse("-name", "'%s' is not key=value", kv);
		*v++ = 0;
		if (!strcmp(kv, "process"))
			o->process_name = v;
		else if (strcmp(kv, "guest") && strcmp(kv, "debug-threads"))
			refuse("-name", "unknown key '%s' (guest, process, debug-threads)", kv);
	}
}

/* -gdb tcp:[HOST]:PORT, and -s for tcp::1234: the GDB stub (gdbstub.c). */
static void apply_gdb(struct mon_options *o, const char *value)
{
	const char *colon = strrchr(value, ':');
	char *end = NULL;
	unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
	if (strncmp(value, "tcp:", 4) || colon < value + 3 || end == colon + 1 || *end ||
	    port < 1 || port > 65535)
		refuse("-gdb", "'%s' is not tcp:[HOST]:PORT (the stub listens on TCP only)",
		       value);
	if (o->gdb)
		refuse("-gdb", "one GDB stub only (-s is -gdb tcp::1234)%s", "");
	o->gdb = value;
}

static void apply_gdb_default(struct mon_options *o, const char *value)
{
	apply_gdb(o, "tcp::1234");
}

static void apply_start_stopped(struct mon_options *o, const char *value)
{
	o->gdb_wait = true;
}

static const struct mon_qemu_option accepted[] = {
	{ "-gdb", true, apply_gdb },
	{ "-s", false, apply_gdb_default },
	{ "-S", false, apply_start_stopped },
	{ "-nographic", false, apply_nothing },
	{ "-no-reboot", false, apply_nothing },
	{ "-nodefaults", false, apply_nodefaults },
	{ "-display", true, apply_display },
	{ "-smp", true, apply_smp },
	{ "-cpu", true, apply_cpu },
	{ "-machine", true, apply_machine },
	{ "-M", true, apply_machine },
	{ "-device", true, apply_device },
	{ "-monitor", true, apply_monitor },
	{ "-parallel", true, apply_parallel },
	{ "-d", true, apply_log_items },
	{ "-D", true, apply_log_file },
	{ "-pidfile", true, apply_pidfile },
	{ "-name", true, apply_name },
};

/* QEMU options btvmm has no use for, with what it offers instead. */
static const struct {
	const char *name;
	const char *instead;
} refused[] = {
	{ "-enable-kvm", "btvmm chooses its engine with -accel" },
	{ "-no-shutdown", "btvmm ends when the guest powers off (status 0); stop it "
			  "before with the console's stop, or gdb" },
	{ "-daemonize", "btvmm runs in the foreground: use setsid or nohup, with "
			"-serial file:PATH" },
	{ "-bios", "btvmm has no firmware: it boots -kernel directly" },
	{ "-L", "btvmm has no firmware: it boots -kernel directly" },
	{ "-boot", "btvmm has no firmware: it boots -kernel directly" },
	{ "-cdrom", "btvmm attaches raw disk images: -drive, -hda..-hdd" },
	{ "-fda", "btvmm attaches raw disk images: -drive, -hda..-hdd" },
	{ "-fdb", "btvmm attaches raw disk images: -drive, -hda..-hdd" },
	{ "-pflash", "btvmm has no firmware: it boots -kernel directly" },
	{ "-net", "btvmm has no network device" },
	{ "-netdev", "btvmm has no network device" },
	{ "-nic", "btvmm has no network device" },
	{ "-vga", "btvmm has no display: COM1 is the console (-serial)" },
	{ "-vnc", "btvmm has no display: COM1 is the console (-serial)" },
	{ "-spice", "btvmm has no display: COM1 is the console (-serial)" },
	{ "-full-screen", "btvmm has no display: COM1 is the console (-serial)" },
	{ "-usb", "btvmm has no USB" },
	{ "-usbdevice", "btvmm has no USB" },
	{ "-audiodev", "btvmm has no sound device" },
	{ "-chardev", "COM1 goes where -serial says (stdio, none, file:PATH)" },
	{ "-mon", "the monitor console is -monitor unix:PATH,server,nowait or Ctrl-A c" },
	{ "-qmp", "btvmm has no QMP" },
	{ "-rtc", "the RTC follows host time" },
	{ "-icount", "the guest's clocks follow the host's" },
	{ "-object", "btvmm has no QOM objects" },
	{ "-global", "btvmm's devices take no properties" },
	{ "-numa", "btvmm has one vCPU and one memory node" },
	{ "-mem-path", "guest RAM is an anonymous memfd" },
	{ "-incoming", "btvmm cannot migrate" },
	{ "-loadvm", "btvmm has no snapshots of the machine (-snapshot is for disks)" },
	{ "-readconfig", "btvmm takes its configuration on the command line" },
	{ "-k", "btvmm has no keyboard: COM1 is the console (-serial)" },
};

const struct mon_qemu_option *mon_qemu_option(const char *name)
{
	for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
		if (!strcmp(name, accepted[i].name))
			return &accepted[i];
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (!strcmp(name, refused[i].name))
			refuse(name, "not supported: %s", refused[i].instead);
	return NULL;
}
