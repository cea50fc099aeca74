/* monitor: btvmm's command line: its options and QEMU's (cli_qemu.c), checked and read into struct mon_options. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_qemu.h"
#include "hostdriver.h"

static const char usage[] =
	"usage: btvmm -kernel FILE [options]\n"
	"Run a 32-bit x86 guest kernel under binary translation (or, to compare,\n"
	"on the same virtual machine under KVM: --accel kvm).\n"
	"\n"
	"  -kernel FILE       Linux bzImage or multiboot v1 ELF32 kernel to boot\n"
	"  -initrd FILE       Linux initrd/initramfs, or multiboot module 0\n"
	"  -append STR        kernel command line\n"
	"  -m MiB             guest RAM (default 128; suffixes M and G; max 3584)\n"
	"  -drive SPEC        a raw disk image: file=PATH[,format=raw][,if=ide|virtio]\n"
	"                     [,index=N][,media=disk][,readonly=on|off]\n"
	"                     [,snapshot=on|off] (if=ide by default: index 0-3 is\n"
	"                     primary master/slave, secondary master/slave;\n"
	"                     virtio disks are PCI devices from slot 3)\n"
	"  -hda/-hdb/-hdc/-hdd FILE  IDE disk 0-3 (as -drive file=FILE,index=N)\n"
	"  -snapshot          writes to every disk stay in memory, never reach\n"
	"                     the image files\n"
	"  -serial DEV        COM1: stdio (default: the terminal, raw; Ctrl-A x\n"
	"                     quits), none, or file:PATH\n"
	"  --accel ENGINE     bt (the default; tcg is a synonym) translates guest\n"
	"                     kernel code; kvm runs the same machine on /dev/kvm\n"
	"                     (status 10 where /dev/kvm cannot run 32-bit guests);\n"
	"                     --tc-size, --de, --user-worlds, --adaptive,\n"
	"                     --perf-map and --trace bt/exc are for bt only\n"
	"  --tc-size KiB      translation cache size (default 32768)\n"
	"  --de auto|on|off   run guest ring-3 code natively in the isolated user\n"
	"                     world (on), or translate it too (off); auto, the\n"
	"                     default: per guest address space, native unless it\n"
	"                     exits too often (--stats shows the choices), where\n"
	"                     the host runs 32-bit code; off with a note otherwise\n"
	"  --mode bt|trap-emulate  bt (default): binary translation; trap-emulate:\n"
	"                     run guest kernel code natively, deprivileged, emulating\n"
	"                     only what traps (unfaithful by design: the Popek-\n"
	"                     Goldberg laboratory, docs/popek-goldberg.md; needs a\n"
	"                     host that runs 32-bit code, else exits 10)\n"
	"  --user-worlds N    guest address spaces whose user world is kept (1-8,\n"
	"                     default 4)\n"
	"  --adaptive on|off  retranslate instructions that keep writing page\n"
	"                     tables as callouts (default on)\n"
	"  --stats            print counters when the guest stops\n"
	"  --perf-map         name translated blocks for perf (/tmp/perf-PID.map:\n"
	"                     \"guest:EIP\" per block of the translation cache)\n"
	"  --trace LIST       comma-separated: bt (translated blocks), io (port\n"
	"                     accesses), exc (exceptions delivered)\n"
	"  --check-host       report what this host offers btvmm, then exit (0: btvmm\n"
	"                     runs here, 10: something it needs is missing)\n"
	"  --help             this text\n"
	"  --version          btvmm's version and the commit it was built from\n"
	"\n"
	"QEMU's spellings, where they mean something here: -nographic,\n"
	"-display none, -no-reboot, -nodefaults (no COM1 output unless -serial),\n"
	"-smp 1, -cpu coreduo|max, -machine pc, -monitor none, -parallel none,\n"
	"-device isa-debug-exit,iobase=0xf4,iosize=0x04, -serial mon:stdio,\n"
	"-d int,in_asm,out_asm,cpu_reset, -D FILE (the log), -name NAME[,process=P],\n"
	"-pidfile FILE; the GDB stub: -gdb tcp:[HOST]:PORT, -s (tcp::1234); -S\n"
	"(start stopped until gdb or the console continues); the monitor console:\n"
	"Ctrl-A c on the terminal, -monitor stdio|unix:PATH,server,nowait. Other\n"
	"QEMU options are refused with what btvmm offers.\n"
	"\n"
	"Options are spelled -opt or --opt; a value follows as the next argument\n"
	"or as -opt=value. -kernel, -initrd, -append, -m and -serial may be given\n"
	"once.\n"
	"\n"
	"Exit status: (v << 1) | 1 when the guest writes v to port 0xf4\n"
	"(isa-debug-exit); 0 guest reset or powered off (halted with interrupts\n"
	"off); 2 bad usage or input; 4 guest triple fault; 6 guest waits for an\n"
	"interrupt no device will raise (or is held with no way left to continue\n"
	"it); 8 guest used something btvmm does not support yet; 10 host failure\n"
	"(or --de on or --mode=trap-emulate on a host that cannot run 32-bit code,\n"
	"or --accel kvm where /dev/kvm cannot run this guest); 12 stopped by a\n"
	"signal (or Ctrl-A x, the console's quit, gdb's kill); 14 guest code run\n"
	"natively (ring 3, or any under --mode=trap-emulate) tried to escape its\n"
	"sandbox; 16 a btvmm bug (an internal check failed).\n";

static void fail_usage(const char *fmt, const char *arg)
{
	fputs("btvmm: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see btvmm --help)\n", stderr);
	exit(MON_EXIT_USAGE);
}

static uint64_t parse_mib(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || errno || s[0] == '-')
		fail_usage("invalid memory size '%s'", s);
	if (*end == 'G' || *end == 'g') {
		if (v > (1ull << 20))
			fail_usage("memory size '%s' is too large: the maximum is 3584 MiB", s);
		v *= 1024, end++;
	} else if (*end == 'M' || *end == 'm') {
		end++;
	}
	if (*end)
		fail_usage("invalid memory size '%s'", s);
	if (v > MAX_RAM_MIB)
		fail_usage("memory size '%s' is too large: the maximum is 3584 MiB", s);
	if (v < MIN_RAM_MIB)
		fail_usage("memory size '%s' is too small: the minimum is 2 MiB", s);
	return v;
}

/* A comma-separated list of any length, read in place (empty items are
 * skipped, as strtok would). */
static void parse_trace(struct mon_options *o, const char *list)
{
	for (const char *t = list; *t; t += *t == ',') {
		size_t n = strcspn(t, ",");
		if (n == 2 && !strncmp(t, "bt", n))
			o->trace_bt = true;
		else if (n == 2 && !strncmp(t, "io", n))
			o->trace_io = true;
		else if (n == 3 && !strncmp(t, "exc", n))
			o->trace_exc = true;
		else if (n) {
			char item[64]; /* only the message is cut */
			snprintf(item, sizeof item, "%.*s", (int)n, t);
			fail_usage("unknown trace category '%s'", item);
		}
		t += n;
	}
}

/* Is `v` QEMU's on (on, yes, true) or off (off, no, false)? */
static bool parse_switch(const char *key, const char *v)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"))
		return true;
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false"))
		return false;
	fprintf(stderr, "btvmm: -drive: %s takes on or off, not '%s' (see btvmm --help)\n", key, v);
	exit(MON_EXIT_USAGE);
}

/*
 * -drive file=PATH,format=raw,if=ide|virtio,index=N,media=disk,
 * readonly=on|off,snapshot=on|off: QEMU's spelling, for the raw images
 * btvmm can attach. The strings point into argv (or a copy kept for the
 * run), so `spec` must live as long as the options.
 */
static void parse_drive(struct mon_options *o, char *spec)
{
	if (o->ndrives == MON_DRIVES)
		fail_usage("too many drives (at most %s)", "8");
	struct dev_drive_config *d = &o->drives[o->ndrives];
	*d = (struct dev_drive_config){ .interface = DEV_IF_IDE, .index = -1 };
	for (char *save, *kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		if (!v)
			fail_usage("-drive: '%s' is not key=value", kv);
		*v++ = 0;
		if (!strcmp(kv, "file")) {
			d->file = v;
		} else if (!strcmp(kv, "format")) {
			if (strcmp(v, "raw"))
				fail_usage("-drive: format '%s' is not supported (only raw)", v);
		} else if (!strcmp(kv, "if")) {
			if (!strcmp(v, "ide"))
				d->interface = DEV_IF_IDE;
			else if (!strcmp(v, "virtio"))
				d->interface = DEV_IF_VIRTIO;
			else
				fail_usage("-drive: interface '%s' is not supported (ide or virtio)", v);
		} else if (!strcmp(kv, "index")) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);
			if (*end || end == v || n > 3)
				fail_usage("-drive: index '%s' is not 0 to 3", v);
			d->index = (int)n;
		} else if (!strcmp(kv, "media")) {
			if (strcmp(v, "disk"))
				fail_usage("-drive: media '%s' is not supported (only disk)", v);
		} else if (!strcmp(kv, "readonly")) {
			d->readonly = parse_switch(kv, v);
		} else if (!strcmp(kv, "snapshot")) {
			d->snapshot = parse_switch(kv, v);
		} else {
			fail_usage("-drive: unknown key '%s' (file, format, if, index, media, "
				   "readonly, snapshot)", kv);
		}
	}
	if (!d->file || !*d->file)
		fail_usage("-drive: no file=PATH given%s", "");
	o->ndrives++;
}

/* -kernel, -initrd, -append, -serial: given twice is a mistake, not a
 * choice of the last one. */
static void set_once(const char **slot, const char *option, const char *value)
{
	if (*slot)
		fail_usage("%s given twice", option);
	*slot = value;
}

void mon_parse_args(int argc, char **argv, struct mon_options *o, struct cli_request *req)
{
	o->ram_mib = DEFAULT_RAM_MIB;
	o->user_worlds = 4;
	for (int i = 1; i < argc; i++) {
		/* QEMU accepts both -opt and --opt; so do we. A value may
		 * follow as the next argument or, GNU-style, after '='
		 * (-opt=value, --opt=value). */
		char name[32];
		const char *a = argv[i], *inline_val = NULL;
		if (a[0] == '-' && a[1] == '-')
			a++;
		const char *eq = a[0] == '-' ? strchr(a, '=') : NULL;
		if (eq) {
			if ((size_t)(eq - a) >= sizeof name)
				fail_usage("unknown option '%s'", argv[i]);
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = 0;
			a = name;
			inline_val = eq + 1;
		}
		const char *val = inline_val ? inline_val : i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS_VALUE()                                                          \
	do {                                                                   \
		if (!val || (inline_val && !*inline_val))                      \
			fail_usage("option '%s' needs a value", argv[i]);      \
		if (!inline_val)                                               \
			i++;                                                   \
	} while (0)
#define NO_VALUE()                                                             \
	do {                                                                   \
		if (inline_val)                                                \
			fail_usage("option '%s' takes no value", argv[i]);     \
	} while (0)
		if (!strcmp(a, "-help") || !strcmp(a, "-h")) {
			NO_VALUE();
			fputs(usage, stdout);
			exit(0);
		} else if (!strcmp(a, "-version")) {
			NO_VALUE();
			printf("btvmm %s (commit %s)\n", BTVMM_VERSION, BTVMM_COMMIT);
			exit(0);
		} else if (!strcmp(a, "-kernel")) {
			NEEDS_VALUE();
			set_once(&o->kernel, "-kernel", val);
		} else if (!strcmp(a, "-initrd")) {
			NEEDS_VALUE();
			set_once(&o->initrd, "-initrd", val);
		} else if (!strcmp(a, "-append")) {
			NEEDS_VALUE();
			set_once(&o->append, "-append", val);
		} else if (!strcmp(a, "-m")) {
			NEEDS_VALUE();
			if (req->ram_given)
				fail_usage("%s given twice", "-m");
			req->ram_given = true;
			o->ram_mib = parse_mib(val);
		} else if (!strcmp(a, "-drive")) {
			NEEDS_VALUE();
			char *spec = strdup(val);
			if (!spec)
				fail_usage("out of memory%s", "");
			parse_drive(o, spec); /* kept: the drive points into it */
		} else if (!strcmp(a, "-hda") || !strcmp(a, "-hdb") || !strcmp(a, "-hdc") ||
			   !strcmp(a, "-hdd")) {
			NEEDS_VALUE();
			if (o->ndrives == MON_DRIVES)
				fail_usage("too many drives (at most %s)", "8");
			o->drives[o->ndrives++] = (struct dev_drive_config){
				.file = val, .interface = DEV_IF_IDE, .index = a[3] - 'a',
			};
		} else if (!strcmp(a, "-snapshot")) {
			NO_VALUE();
			o->snapshot = true;
		} else if (!strcmp(a, "-serial")) {
			NEEDS_VALUE();
			/* mon:stdio: QEMU multiplexes its monitor in; here
			 * stdio has Ctrl-A x either way. */
			if (!strcmp(val, "mon:stdio"))
				val = "stdio";
			if (strcmp(val, "stdio") && strcmp(val, "none") &&
			    strncmp(val, "file:", 5))
				fail_usage("unsupported serial device '%s' (stdio, mon:stdio, none or "
					   "file:PATH)", val);
			set_once(&o->serial, "-serial", val);
		} else if (!strcmp(a, "-tc-size")) {
			NEEDS_VALUE();
			char *end;
			unsigned long v = strtoul(val, &end, 10);
			if (*end || end == val || v < 16 || v > (1ul << 20))
				fail_usage("invalid translation cache size '%s' (16 to 1048576 KiB)", val);
			o->tc_kib = v;
			req->bt_option = "--tc-size";
		} else if (!strcmp(a, "-user-worlds")) {
			NEEDS_VALUE();
			char *end;
			unsigned long n = strtoul(val, &end, 10);
			if (*end || end == val || n < 1 || n > MON_WORLDS)
				fail_usage("--user-worlds takes 1 to 8, not '%s'", val);
			o->user_worlds = (unsigned)n;
			req->bt_option = "--user-worlds";
		} else if (!strcmp(a, "-adaptive")) {
			NEEDS_VALUE();
			if (strcmp(val, "on") && strcmp(val, "off"))
				fail_usage("--adaptive takes on or off, not '%s'", val);
			o->no_adaptive = !strcmp(val, "off");
			req->bt_option = "--adaptive";
		} else if (!strcmp(a, "-de")) {
			NEEDS_VALUE();
			if (strcmp(val, "auto") && strcmp(val, "on") && strcmp(val, "off"))
				fail_usage("--de takes auto, on or off, not '%s'", val);
			req->de = !strcmp(val, "off") ? DE_OFF : !strcmp(val, "on") ? DE_ON : DE_AUTO;
			req->bt_option = "--de";
		} else if (!strcmp(a, "-mode")) {
			NEEDS_VALUE();
			if (strcmp(val, "bt") && strcmp(val, "trap-emulate"))
				fail_usage("--mode takes bt or trap-emulate, not '%s'", val);
			o->trap_emulate = !strcmp(val, "trap-emulate");
			if (o->trap_emulate)
				req->bt_option = "--mode=trap-emulate";
		} else if (!strcmp(a, "-stats")) {
			NO_VALUE();
			o->stats = true;
		} else if (!strcmp(a, "-perf-map")) {
			NO_VALUE();
			o->perf_map = true;
			req->bt_option = "--perf-map";
		} else if (!strcmp(a, "-accel")) {
			NEEDS_VALUE();
			/* QEMU's name for its translator is tcg: accepted too. */
			if (!strcmp(val, "kvm"))
				req->accel = ACCEL_KVM;
			else if (!strcmp(val, "bt") || !strcmp(val, "tcg"))
				req->accel = ACCEL_BT;
			else
				fail_usage("--accel takes bt, tcg or kvm, not '%s'", val);
		} else if (!strcmp(a, "-check-host")) {
			NO_VALUE();
			req->check_host = true;
		} else if (!strcmp(a, "-trace")) {
			NEEDS_VALUE();
			parse_trace(o, val);
		} else {
			const struct mon_qemu_option *q = mon_qemu_option(a);
			if (!q)
				fail_usage("unknown option '%s'", argv[i]);
			if (q->takes_value)
				NEEDS_VALUE();
			else
				NO_VALUE();
			q->apply(o, q->takes_value ? val : NULL);
		}
#undef NEEDS_VALUE
#undef NO_VALUE
	}
	if (!o->serial)
		o->serial = o->nodefaults ? "none" : "stdio";
	/* -S without gdb: held until the console's "cont", which must be
	 * reachable. */
	if (o->monitor_stdio && !strcmp(o->serial, "stdio"))
		fail_usage("-monitor: stdio: COM1 is on the terminal already: use -serial "
			   "mon:stdio (Ctrl-A c reaches the console)%s", "");
	if (o->gdb_wait && !o->gdb && !o->monitor_socket && !o->monitor_stdio &&
	    strcmp(o->serial, "stdio"))
		fail_usage("-S: nothing could start the guest: give -s, -gdb, -monitor "
			   "unix:PATH,server,nowait or -serial stdio (Ctrl-A c)%s", "");
	/* Breakpoints and steps need ring-3 code translated too. */
	if (o->gdb && req->de == DE_ON)
		fail_usage("--de on cannot be used with the GDB stub (ring-3 code is "
			   "translated under it)%s", "");
	if (o->gdb)
		req->de = DE_OFF;
	/* The stub and the console drive the translator's run loop. */
	if (o->gdb || o->gdb_wait || o->monitor_socket || o->monitor_stdio)
		req->bt_option = o->gdb ? "the GDB stub" : o->gdb_wait ? "-S" : "-monitor";
	if (o->trace_bt || o->trace_exc)
		req->bt_option = o->trace_bt ? "--trace bt" : "--trace exc";
	if (req->accel == ACCEL_KVM && req->bt_option)
		fail_usage("%s is for the binary translator: not with --accel kvm",
			   req->bt_option);
	if (o->trap_emulate && req->de == DE_OFF)
		fail_usage("%s--mode=trap-emulate runs guest code natively: not with --de off", "");
	o->no_de = req->de == DE_OFF;
	o->de_adaptive = req->de == DE_AUTO && !o->trap_emulate;
	if (req->check_host)
		return; /* needs no kernel */
	if (!o->kernel)
		fail_usage("%sno kernel given: use -kernel FILE", "");
}
