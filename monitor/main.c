/* monitor: btvmm's main: the VM built from the options (cli.c reads them), run, and ended with its status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostdriver.h"
#include "layout.h"
#include "cli.h"
#include "loader.h"
#include "monitor.h"
#include "pc_map.h"

#define MAX_FILE (1u << 30)

static uint64_t clock_monotonic(void *ctx)
{
	struct mon_vm *vm = ctx;
	return vm->clock_now ? vm->clock_now : hd_now_ns();
}

static uint64_t clock_guest_tsc(void *ctx)
{
	return mon_guest_tsc(ctx);
}

static uint64_t clock_realtime(void *ctx)
{
	(void)ctx;
	return hd_realtime_ns();
}

/* COM1's output. A failed write (a full disk, a closed pipe) is said once
 * and the line is cut, as if unplugged: the guest runs on. */
static void serial_write(void *ctx, const uint8_t *bytes, size_t len)
{
	struct mon_vm *vm = ctx;
	if (vm->serial_fd < 0 || hd_write_all(vm->serial_fd, bytes, len))
		return;
	fprintf(stderr, "btvmm: serial output failed (%s); the guest's further output is dropped\n",
		errno ? strerror(errno) : "nothing written");
	vm->serial_fd = -1;
}

/* A device wrote guest RAM (DMA). */
static void ram_written(void *ctx, uint64_t phys, uint64_t len)
{
	mon_ram_written(ctx, phys, len);
}

/* The boot state both loaders hand over: 32-bit protected mode, paging
 * off, flat segments (multiboot spec §3.2; Linux's 32-bit boot protocol
 * wants the same, with ESI at the boot_params), with a flat GDT in guest
 * memory so that a guest reloading a segment register before its own LGDT
 * still finds CS 0x10 and DS 0x18, as QEMU's loader provides. */
static void reset_vcpu(struct mon_vm *vm, const struct mon_boot *boot)
{
	struct vcpu *v = &vm->vcpu;
	static const uint64_t gdt[4] = {
		0, 0,
		0x00cf9b000000ffffull, /* 0x10: code, base 0, 4 GiB, accessed */
		0x00cf93000000ffffull, /* 0x18: data, base 0, 4 GiB, accessed */
	};
	memcpy(vm->ram + LAYOUT_BOOT_GDT, gdt, sizeof gdt);
	v->gdtr = (struct mon_dtr){ .base = LAYOUT_BOOT_GDT, .limit = sizeof gdt - 1 };
	v->idtr = (struct mon_dtr){ .base = 0, .limit = 0x3ff };
	for (int s = 0; s < SEG_COUNT; s++)
		mon_desc_to_seg(gdt[3], 0x18, &v->seg[s]);
	mon_desc_to_seg(gdt[2], 0x10, &v->seg[SEG_CS]);
	v->ldtr = (struct mon_seg){ 0 };
	v->tr = (struct mon_seg){ .attr = SEG_ATTR_P | SYS_TSS32_BUSY, .limit = 0xffff };
	v->cr0 = CR0_PE | CR0_ET;
	v->dr[6] = 0xffff0ff0u;
	v->dr[7] = 0x400;
	v->tsc_offset = 0; /* the guest's TSC is the host's: RDTSC runs natively */
	v->pat = 0x0007040600070406ull; /* the power-on value */
	struct bt_cpu *cpu = v->cpu;
	memset(cpu->gpr, 0, sizeof cpu->gpr);
	cpu->gpr[BT_EAX] = boot->eax;
	cpu->gpr[BT_EBX] = boot->ebx;
	cpu->gpr[BT_ESI] = boot->esi;
	cpu->eip = boot->entry;
	cpu->eflags = 0x2;
	mon_sync_seg_bases(vm);
}

static unsigned fetch_code(void *ctx, uint32_t eip, uint8_t *buf, unsigned len,
			   uint32_t *page)
{
	struct mon_vm *vm = ctx;
	uint64_t phys;
	uint32_t err;
	unsigned got = 0;
	while (got < len) {
		uint32_t a = eip + got;
		if (smm_translate(vm->smm, a, SMM_FETCH, mon_cpl(&vm->vcpu) == 3,
				  &phys, &err) != SMM_OK)
			break;
		if (got == 0)
			*page = (uint32_t)(phys >> 12);
		unsigned n = 4096 - (a & 4095);
		if (n > len - got)
			n = len - got;
		memcpy(buf + got, vm->ram + phys, n);
		got += n;
	}
	return got;
}

static void protect_code(void *ctx, uint32_t page, bool on)
{
	struct mon_vm *vm = ctx;
	smm_protect_code(vm->smm, page, on);
}

static void linear_dropped(void *ctx, uint32_t first, uint32_t count, uint32_t space)
{
	mon_de_linear_dropped(ctx, first, count, space);
}

static void frame_protected(void *ctx, uint32_t frame)
{
	mon_de_frame_protected(ctx, frame);
}

static enum bt_tr_result transition(void *ctx, enum bt_transition kind, uint8_t vector,
				    uint32_t ecx, uint32_t edx)
{
	return mon_transition(ctx, kind, vector, ecx, edx);
}

static void space_dropped(void *ctx, uint32_t pd_frame)
{
	mon_de_space_dropped(ctx, pd_frame);
}

/* Linear pages holding translated code changed their mappings. */
static void code_mapping_dropped(void *ctx)
{
	struct mon_vm *vm = ctx;
	if (vm->bt)
		bt_flush(vm->bt);
}

/* A code page no longer maps this frame: set its translations aside. */
static void code_frame_dropped(void *ctx, uint32_t frame)
{
	struct mon_vm *vm = ctx;
	if (vm->bt)
		bt_detach_page(vm->bt, frame);
}

/*
 * Ports translated code may answer inline: reads of the PIT counters and
 * port 0x61 (TSC calibration spins on them) and the port 0x80 delay. Their
 * devices need nothing from the run loop (no interrupt to raise, no timer
 * to re-arm, no stop to request).
 */
static bool inline_port(void *ctx, uint16_t port, bool out)
{
	(void)ctx;
	if (out)
		return port == 0x80;
	return (port >= 0x40 && port <= 0x42) || port == 0x61;
}

static bool io_allowed(void *ctx)
{
	struct mon_vm *vm = ctx;
	return mon_cpl(&vm->vcpu) <= ((vm->vcpu.cpu->eflags & BT_FL_IOPL) >> 12);
}

static uint32_t port_in(void *ctx, uint16_t port, unsigned size)
{
	struct mon_vm *vm = ctx;
	return dev_pio_in(vm->bus, port, size);
}

static void port_out(void *ctx, uint16_t port, unsigned size, uint32_t value)
{
	struct mon_vm *vm = ctx;
	dev_pio_out(vm->bus, port, size, value);
}

static bool stop_before(void *ctx, uint32_t eip)
{
	return mon_gdb_breakpoint(ctx, eip);
}

static bool force_emulate(void *ctx, uint32_t eip)
{
	struct mon_vm *vm = ctx;
	return !vm->opt.no_adaptive && mon_is_hot_writer(vm, eip);
}

/* The store callout of a page-table writer (bt_env.pt_store): a store the
 * emulator would do the same way -- within a page, no fault, into RAM that
 * holds no code -- is done here, and counts for the adaptive bookkeeping
 * (a writer that stops writing tables goes native again); anything else
 * is refused and emulated. */
static bool pt_store(void *ctx, uint32_t eip, uint32_t linear, uint32_t value)
{
	struct mon_vm *vm = ctx;
	uint64_t phys;
	uint32_t err;
	if ((linear & 0xfff) > 0xffc ||
	    smm_translate(vm->smm, linear, SMM_WRITE, mon_cpl(&vm->vcpu) == 3, &phys,
			  &err) != SMM_OK ||
	    phys + 4 > vm->ram_size || smm_is_code_page(vm->smm, (uint32_t)(phys >> 12)))
		return false;
	/* A table's frame, or one no longer traced (a flooded table being
	 * cleared): stored here either way, which is cheaper than refusing. */
	memcpy(vm->ram + phys, &value, 4);
	bool table = smm_phys_written(vm->smm, phys, 4);
	mon_hot_writer_done(vm, eip, true, table);
	if (table)
		vm->stats.pt_writes_emulated++;
	else
		vm->stats.plain_stores++;
	return true;
}

static int open_serial(const char *spec)
{
	if (!strcmp(spec, "stdio"))
		return STDOUT_FILENO;
	if (!strcmp(spec, "none"))
		return -1;
	int fd = hd_file_create(spec + 5);
	if (fd < 0) {
		fprintf(stderr, "btvmm: cannot open serial output '%s': %s\n",
			spec + 5, strerror(-fd));
		exit(MON_EXIT_USAGE);
	}
	return fd;
}

/* -D FILE: where --trace and -d write (QEMU's log file), else stderr. */
static FILE *open_log(const char *path)
{
	if (!path)
		return stderr;
	FILE *f = hd_stream_create(path);
	if (!f) {
		fprintf(stderr, "btvmm: -D: cannot open '%s': %s\n", path, strerror(errno));
		exit(MON_EXIT_USAGE);
	}
	return f;
}

/*
 * btvmm --check-host: one line per item, "NAME STATUS DETAIL". Return 0 if
 * btvmm runs here (every required item ok), MON_EXIT_HOST otherwise. A
 * missing optional item (compat mode) is reported but leaves the status 0:
 * btvmm runs without it.
 */
static int check_host(void)
{
	struct hd_check_item items[HD_CHECK_ITEMS];
	unsigned n = hd_host_check(items);
	bool runs = true;
	for (unsigned i = 0; i < n; i++) {
		const struct hd_check_item *it = &items[i];
		bool fatal = it->required && it->status == HD_CHECK_MISSING;
		printf("%-14s %-8s %s%s\n", it->name, hd_check_status_name(it->status),
		       fatal ? "required: " : "", it->detail);
		runs = runs && !fatal;
	}
	return runs ? 0 : MON_EXIT_HOST;
}

/*
 * Decide whether guest ring-3 code runs natively, before the guest space
 * is reserved (the probe needs low memory) and before any user world is
 * spawned, so that a host without compat mode is never found out by a
 * dying user world.
 */
static void choose_direct_execution(struct mon_options *o, enum de_request de)
{
	char why[256];
	if (de == DE_OFF || hd_compat_mode_works(why, sizeof why))
		return;
	if (o->trap_emulate) {
		fprintf(stderr, "btvmm: --mode=trap-emulate: this host cannot run 32-bit code "
				"natively (%s), so guest code cannot run deprivileged here\n", why);
		exit(MON_EXIT_HOST);
	}
	if (de == DE_ON) {
		fprintf(stderr, "btvmm: --de on: this host cannot run 32-bit code natively "
				"(%s); use --de off\n", why);
		exit(MON_EXIT_HOST);
	}
	fprintf(stderr, "btvmm: this host cannot run 32-bit code natively (%s); guest "
			"ring-3 code will be translated (--de off)\n", why);
	o->no_de = true;
}

/* A file the command line names cannot be made (status 2, as -serial
 * file: and -D). */
static void die_usage(const char *what, const char *err)
{
	fprintf(stderr, "btvmm: %s: %s\n", what, err);
	exit(MON_EXIT_USAGE);
}

static void die_host(const char *what, const char *err)
{
	fprintf(stderr, "btvmm: %s: %s\n", what, err);
	exit(MON_EXIT_HOST);
}

/*
 * The binary translator's machinery: the shadow MMU over guest RAM, the
 * translator, the host fault and timer handlers and, for direct
 * execution, the first user world. Return the --perf-map file, or NULL.
 */
static FILE *setup_translation(struct mon_vm *vm)
{
	char err[512];
	struct mon_options *o = &vm->opt;
	struct smm_config sc = {
		.fd = vm->ram_fd, .ram = vm->ram, .ram_size = vm->ram_size,
		.code_mapping_dropped = code_mapping_dropped,
		.code_frame_dropped = code_frame_dropped,
		.linear_dropped = linear_dropped, .frame_protected = frame_protected,
		.space_dropped = space_dropped,
		.ctx = vm,
	};
	vm->smm = smm_create(&sc, err, sizeof err);
	if (!vm->smm)
		die_host("cannot map guest memory", err);
	struct bt_env env = { .ctx = vm, .fetch = fetch_code, .protect_code = protect_code,
			      .stop_before = o->gdb ? stop_before : NULL,
			      .force_emulate = force_emulate, .pt_store = pt_store, .inline_port = inline_port,
			      .port_in = port_in, .port_out = port_out,
			      .io_allowed = io_allowed,
			      .seg_regs = (struct bt_seg_image *)vm->vcpu.seg,
			      .cr2 = &vm->vcpu.cr2, .transition = transition };
	FILE *perf_map = NULL;
	if (o->perf_map) {
		perf_map = hd_perf_map_create();
		if (!perf_map)
			die_host("cannot create the perf map", strerror(errno));
	}
	struct bt_config bc = {
		.tc_size = o->tc_kib << 10,
		.ram_pages = (uint32_t)(vm->ram_size >> 12),
		.trace = o->trace_bt ? vm->log : NULL,
		.perf_map = perf_map,
	};
	vm->bt = bt_create(&bc, &env, &vm->vcpu.cpu, err, sizeof err);
	if (!vm->bt)
		die_host("cannot create the translator", err);
	if (mon_install_handlers(vm))
		die_host("cannot install signal handlers", strerror(errno));
	if (!o->no_de) {
		if (!hd_sibling_path("btvmm-userworld", vm->uw_stub, sizeof vm->uw_stub))
			die_host("cannot find btvmm-userworld", "no /proc/self/exe");
		vm->uw = hd_uworld_spawn(vm->uw_stub, vm->ram_fd, err, sizeof err);
		if (!vm->uw)
			die_host("cannot start the user world for direct execution "
				 "(--de off runs without it)", err);
		vm->worlds[0].uw = vm->uw; /* given to the first address space */
		vm->worlds[0].mapped = calloc((1u << 20) / 8, 1);
		vm->worlds[0].regions = vm->view_regions;
		if (!vm->worlds[0].mapped)
			die_host("cannot start direct execution", "out of memory");
	}
	return perf_map;
}

int main(int argc, char **argv)
{
	static struct mon_vm vm;
	char err[512];
	struct mon_options *o = &vm.opt;
	struct cli_request req = { .de = DE_AUTO };
	mon_parse_args(argc, argv, o, &req);
	if (req.check_host)
		return check_host();

	uint8_t *kernel, *initrd = NULL;
	size_t kernel_len, initrd_len = 0;
	if (hd_read_file(o->kernel, &kernel, &kernel_len, MAX_FILE, err, sizeof err)) {
		fprintf(stderr, "btvmm: %s\n", err);
		return MON_EXIT_USAGE;
	}
	if (o->initrd &&
	    hd_read_file(o->initrd, &initrd, &initrd_len, MAX_FILE, err, sizeof err)) {
		fprintf(stderr, "btvmm: %s\n", err);
		return MON_EXIT_USAGE;
	}
	bool kvm = req.accel == ACCEL_KVM;
	if (kvm && !hd_kvm_probe(err, sizeof err))
		die_host("--accel kvm", err);
	vm.serial_fd = open_serial(o->serial);
	vm.log = open_log(o->log_file);
	if (o->process_name && !hd_set_process_name(o->process_name))
		die_host("-name: cannot name the process", strerror(errno));

	if (!kvm)
		choose_direct_execution(o, req.de);
	if (o->trap_emulate)
		fputs("btvmm: --mode=trap-emulate: guest kernel code runs deprivileged and only "
		      "what traps is emulated: unfaithful by design (docs/popek-goldberg.md)\n",
		      stderr);
	/* vm.max_map_count is the host's: btvmm lives within it, dropping
	 * shadow mappings when it is reached (--stats counts them). Under
	 * KVM the reservation only keeps RAM's view where it always is. */
	if (hd_reserve_guest_space(err, sizeof err) ||
	    (!kvm && hd_windows_reserve(MON_WORLDS, err, sizeof err)))
		die_host("cannot set up the guest address space", err);
	vm.ram_size = o->ram_mib << 20;
	vm.ram_fd = hd_ram_create(vm.ram_size, &vm.ram, err, sizeof err);
	if (vm.ram_fd < 0)
		die_host("cannot allocate guest RAM", err);

	struct dev_platform_config pc = {
		.serial = { .write = serial_write, .ctx = &vm },
		.ram = vm.ram, .ram_size = vm.ram_size,
		/* Under KVM nothing is derived from RAM's bytes. */
		.ram_written = kvm ? NULL : ram_written, .ram_ctx = &vm,
		.trace_io = o->trace_io ? vm.log : NULL,
		.clock = { .monotonic_ns = clock_monotonic, .realtime_ns = clock_realtime,
			   .tsc = clock_guest_tsc, .tsc_hz = hd_tsc_hz(),
			   .ctx = &vm },
	};
	vm.plat = dev_platform_create(&pc);
	if (!vm.plat)
		die_host("cannot create devices", "out of memory");
	vm.bus = dev_platform_bus(vm.plat);
	for (unsigned i = 0; i < o->ndrives; i++) {
		struct dev_drive_config d = o->drives[i];
		const char *why = "";
		d.snapshot |= o->snapshot;
		if (dev_platform_add_drive(vm.plat, &d, &why)) {
			fprintf(stderr, "btvmm: -drive: %s\n", why);
			return MON_EXIT_USAGE;
		}
	}
	/* What the BIOS would have left: the data area, MP and ACPI tables
	 * (after the platform exists: CPUID's APIC bit reads its MSR; before
	 * the kernel is loaded: a kernel that loads into the BIOS area wins,
	 * as it does on QEMU). */
	uint32_t id[4];
	mon_cpuid(&vm, 1, 0, id);
	struct dev_firmware_config fw = {
		.ram_size = vm.ram_size, .ioapic_pins = PC_IOAPIC_PINS, .hpet = true,
		.cpu_signature = id[0], .cpu_features = id[3],
	};
	if (dev_firmware_build(vm.ram, &fw))
		die_host("cannot write the firmware tables", "guest RAM too small");

	/* QEMU hands a multiboot kernel "<kernel path> <append>", and a
	 * Linux kernel just the -append string. */
	size_t cl = strlen(o->kernel) + (o->append ? strlen(o->append) : 0) + 2;
	char *cmdline = malloc(cl);
	if (!cmdline)
		die_host("out of memory", "command line");
	snprintf(cmdline, cl, "%s %s", o->kernel, o->append ? o->append : "");
	struct mon_boot boot = { 0 };
	bool linux_boot = mon_is_bzimage(kernel, kernel_len);
	int lr = linux_boot
			 ? mon_load_bzimage(vm.ram, vm.ram_size, kernel, kernel_len, initrd,
					    initrd_len, o->append ? o->append : "", &boot, err,
					    sizeof err)
			 : mon_load_multiboot(vm.ram, vm.ram_size, kernel, kernel_len, initrd,
					      initrd_len, o->initrd, cmdline, &boot, err,
					      sizeof err);
	if (lr) {
		fprintf(stderr, "btvmm: %s: %s\n", o->kernel, err);
		return MON_EXIT_USAGE;
	}
	free(kernel);
	free(initrd);
	free(cmdline);

	FILE *perf_map = NULL;
	if (kvm) {
		static struct bt_cpu kvm_cpu; /* the registers reset_vcpu sets */
		vm.vcpu.cpu = &kvm_cpu;
		reset_vcpu(&vm, &boot);
		if (mon_kvm_setup(&vm, err, sizeof err))
			die_host("--accel kvm", err);
		if (mon_install_handlers(&vm))
			die_host("cannot install signal handlers", strerror(errno));
	} else {
		perf_map = setup_translation(&vm);
		reset_vcpu(&vm, &boot);
		mon_sync_mode(&vm);
	}
	if (o->trace_cpu_reset) {
		fputs("CPU Reset (CPU 0)\n", vm.log);
		mon_dump_cpu(&vm, vm.log);
	}
	/* With -serial stdio the guest owns the terminal: raw, so that Ctrl-C
	 * and friends reach it (Ctrl-A x leaves), restored on every exit. */
	vm.input_fd = -1;
	if (!strcmp(o->serial, "stdio") || o->monitor_stdio) {
		vm.input_fd = STDIN_FILENO;
		hd_term_raw(STDIN_FILENO);
	}
	/* -monitor stdio: the terminal starts on the console. */
	if (o->monitor_stdio) {
		vm.console_on = true;
		mon_console_terminal(&vm, true);
	}
	/* Files last, so that a failure before them leaves nothing behind;
	 * the pid file before -S waits for gdb. */
	if (o->monitor_socket && !mon_console_open(&vm, o->monitor_socket, err, sizeof err))
		die_usage("-monitor", err);
	if (o->pidfile && hd_pidfile_create(o->pidfile, err, sizeof err)) {
		mon_console_close(&vm);
		die_usage("-pidfile", err);
	}
	if (o->gdb && !mon_gdb_open(&vm, o->gdb, o->gdb_wait, err, sizeof err)) {
		mon_console_close(&vm);
		if (o->pidfile)
			hd_pidfile_remove(o->pidfile);
		die_host("-gdb", err);
	}
	if (o->gdb_wait && !o->gdb && !mon_console_hold(&vm))
		die_host("-S", "out of memory");
	vm.poll_watch = o->gdb || o->monitor_socket;
	vm.stats.start_ns = hd_now_ns();
	int status = kvm ? mon_kvm_run(&vm) : mon_run(&vm);
	mon_gdb_close(&vm);
	mon_console_close(&vm);
	dev_platform_flush(vm.plat);
	hd_term_restore();
	if (vm.stop_message[0])
		fprintf(stderr, "btvmm: %s\n", vm.stop_message);
	if (!kvm && status == MON_EXIT_BUG)
		mon_print_ring(&vm, stderr);
	if (o->stats && kvm)
		mon_kvm_print_stats(&vm, stderr);
	else if (o->stats)
		mon_print_stats(&vm, stderr);
	if (perf_map)
		(void)hd_stream_close(perf_map); /* a short map only costs perf symbols */
	int r = vm.log != stderr ? hd_stream_close(vm.log) : 0;
	if (r)
		fprintf(stderr, "btvmm: -D %s: %s\n", o->log_file, strerror(-r));
	if (o->pidfile)
		hd_pidfile_remove(o->pidfile);
	for (unsigned i = 0; i < MON_WORLDS; i++) {
		hd_uworld_destroy(vm.worlds[i].uw);
		free(vm.worlds[i].mapped);
		hd_uworld_destroy(vm.views[i].uw);
		free(vm.views[i].mapped);
	}
	return status;
}
