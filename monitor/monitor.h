/* monitor: the virtual CPU, the VM, and the services the emulator uses. */
#ifndef BTVMM_MONITOR_H
#define BTVMM_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "adapt.h"
#include "bt.h"
#include "invariant.h"
#include "hostdriver.h"
#include "devices.h"
#include "shadowmm.h"
#include "stats.h"
#include "x86.h"

/* Exit statuses of the btvmm process (README: "Exit status"). */
enum mon_status {
	MON_EXIT_RESET = 0,       /* guest reset, or halted with interrupts off */
	MON_EXIT_USAGE = 2,       /* bad usage or input */
	MON_EXIT_TRIPLE = 4,      /* guest triple fault */
	MON_EXIT_HALTED = 6,      /* HLT with nothing that can wake the CPU */
	MON_EXIT_UNSUPPORTED = 8, /* the guest did something btvmm cannot do yet */
	MON_EXIT_HOST = HD_EXIT_HOST, /* a host resource failed */
	MON_EXIT_SIGNAL = 12,     /* stopped by SIGINT/SIGTERM/SIGHUP */
	MON_EXIT_ESCAPE = 14,     /* guest ring-3 code tried to leave its sandbox */
	MON_EXIT_BUG = HD_EXIT_BUG, /* a monitor invariant failed (BTVMM_CHECK, MON_BUG) */
};

/* Segment registers in the x86 encoding order. */
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_COUNT };

/*
 * A segment register's visible selector and hidden descriptor cache.
 * `attr` holds VMX-style access rights (x86.h: desc_attr, seg_attr_*).
 */
struct mon_seg {
	uint16_t sel;
	uint16_t attr;
	uint32_t base;
	uint32_t limit; /* expanded byte limit */
};
/* Translated code reads and writes vcpu.seg[] as struct bt_seg_image. */
_Static_assert(sizeof(struct mon_seg) == sizeof(struct bt_seg_image) &&
	       offsetof(struct mon_seg, sel) == offsetof(struct bt_seg_image, sel) &&
	       offsetof(struct mon_seg, attr) == offsetof(struct bt_seg_image, attr) &&
	       offsetof(struct mon_seg, base) == offsetof(struct bt_seg_image, base) &&
	       offsetof(struct mon_seg, limit) == offsetof(struct bt_seg_image, limit),
	       "struct mon_seg is a struct bt_seg_image");

struct mon_dtr {
	uint32_t base;
	uint16_t limit;
};

/* The virtual CPU. General registers, EIP and EFLAGS live in *cpu. */
struct vcpu {
	struct bt_cpu *cpu;
	struct mon_seg seg[SEG_COUNT];
	struct mon_seg ldtr, tr;
	struct mon_dtr gdtr, idtr;
	uint32_t cr0, cr2, cr3, cr4;
	uint32_t dr[8];
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t tsc_offset;   /* guest TSC = host TSC + offset */
	uint64_t misc_enable, pat, apic_base;
	uint64_t efer;
	uint64_t pdpte[4];     /* PAE: loaded at the last CR3 load */
	bool halted;
};

/* What names the guest's current address space (worlds, --de auto):
 * CR3's directory frame; with PAE, its 32-byte PDPT (Linux packs several
 * in one page). */
static inline uint32_t mon_space_key(const struct vcpu *v)
{
	return v->cr3 & ((v->cr4 & CR4_PAE) ? CR3_PDPT : CR3_PD);
}

/* A guest fault raised by an emulated access: delivered, never a host error. */
struct mon_fault {
	bool raised;
	uint8_t vector;
	bool has_error;
	uint32_t error;
	uint32_t cr2;    /* the faulting linear address of a #PF */
};

#define MON_DRIVES 8 /* four IDE drives, four virtio disks */

struct mon_options {
	const char *kernel, *initrd, *append;
	uint64_t ram_mib;
	const char *serial;      /* "stdio", "none", "file:PATH" */
	size_t tc_kib;
	bool stats;
	bool perf_map;         /* --perf-map */
	bool trace_bt, trace_io, trace_exc;
	bool no_adaptive;        /* --adaptive off: page-table writes always trap */
	bool no_de;              /* --de off: ring-3 code is translated too */
	bool de_adaptive;        /* --de auto: per address space (adapt.h) */
	bool trap_emulate;       /* --mode=trap-emulate (trapemu.c) */
	unsigned user_worlds;    /* --user-worlds: address spaces kept at once */
	struct dev_drive_config drives[MON_DRIVES]; /* -drive, -hda..-hdd */
	unsigned ndrives;
	bool snapshot;           /* -snapshot: every drive's writes stay in memory */
	/* QEMU's spellings (cli_qemu.c) */
	bool nodefaults;         /* -nodefaults: no COM1 output unless -serial */
	const char *log_file;    /* -D FILE: --trace and -d output (else stderr) */
	bool trace_cpu_reset;    /* -d cpu_reset: the CPU state as the guest starts */
	const char *pidfile;     /* -pidfile FILE */
	const char *process_name; /* -name ...,process=NAME */
	const char *gdb;         /* -gdb tcp:[HOST]:PORT (-s: tcp::1234), or NULL */
	bool gdb_wait;           /* -S: start stopped, until gdb continues */
	const char *monitor_socket; /* -monitor unix:PATH,server,nowait: PATH */
	bool monitor_stdio;      /* -monitor stdio: the console on the terminal */
};

/* How often the run loops look at COM1's host input while the guest runs. */
#define MON_INPUT_POLL_NS 5000000ull

#define MON_HOT_SLOTS 1024 /* page-table writers adaptive translation tracks */
#define MON_WORLDS 8 /* at most; --user-worlds, default 4 */
#define MON_UV_RW_MAX 4096
/* A user world and the guest address space (CR3) its U-view shows. */
struct mon_world {
	struct hd_uworld *uw;
	uint32_t cr3;
	bool valid;
	uint64_t last_use;
	uint8_t *mapped; /* bitmap over linear pages the U-view maps */
	uint32_t n_mapped;
	uint32_t *regions; /* shared by all worlds and views (mon_vm.view_regions) */
	uint32_t rw_n; /* U-view pages mapped writable, to re-protect */
	struct { uint32_t lpage, frame; } rw[MON_UV_RW_MAX];
};

/* The virtual machine. */
struct mon_vm {
	/* Configuration: the command line, as parsed. */
	struct mon_options opt;

	/* The machine: the vCPU, guest RAM, the translator and shadow paging. */
	struct vcpu vcpu;
	struct bt *bt;
	struct smm *smm;
	uint8_t *ram;          /* the monitor's view of guest RAM */
	uint64_t ram_size;
	int ram_fd;
	bool irq_shadow;       /* after STI or a load of SS: no interrupt
				  before the next instruction completes */
	uint64_t events;       /* exceptions and interrupts delivered (a
				  single step tells whether its instruction
				  delivered one) */
	unsigned delivering;   /* nesting of exception delivery */
	/* Set while the INT n callout of translated code delivers: a task
	 * gate (which switches CR3 and CR0.TS under that callout) is left
	 * to the emulator, and task_gate_refused says so. */
	bool refuse_task_gate, task_gate_refused;
	/* The exceptions of the delivery in progress, outermost first: the
	 * triple-fault message names them. */
	struct mon_exc_link {
		uint8_t vector;
		bool has_error;
		uint32_t error;
	} exc_chain[6];
	unsigned exc_chain_len;

	/* Devices. */
	struct dev_platform *plat;
	struct dev_bus *bus;
	uint64_t clock_now;    /* while non-zero: the devices' "now" (one host
				  clock read per run-loop iteration) */

	/* Host I/O: COM1's host side, the log, the debugger and the console. */
	int serial_fd;
	FILE *log;             /* --trace and -d output: stderr, or -D FILE */
	struct mon_gdb *gdb;   /* the GDB stub (-gdb, -s), or NULL */
	struct mon_console *console; /* the monitor console, once used */
	bool console_on;       /* Ctrl-A c: the terminal types to the console */
	/* gdb or a console socket listens: the host timer brings translated
	 * code back at least every 5 ms (poll_deadline), IF or not, so that
	 * their input is seen while the guest computes. */
	bool poll_watch;
	uint64_t poll_deadline;
	int input_fd;          /* COM1 input (stdin with -serial stdio), or -1 */
	uint8_t input[256];    /* read from the host, not yet taken by the UART */
	unsigned input_len;
	bool input_escape;     /* the last byte was Ctrl-A (QEMU's escape) */
	uint64_t input_polled; /* host time of the last look at input_fd */

	/* The run: whether and why it ends, and when it began. */
	bool stop;
	int status;            /* exit status once stop is set */
	char stop_message[256];
	uint64_t run_tsc0, run_ns0;  /* TSC and host clock as mon_run began */

	/* Adaptive translation (hotwriter.c): instructions that wrote traced
	 * page tables, by EIP (open addressing; 0 = empty slot, EIP stored + 1). */
	struct { uint32_t eip1; uint32_t count, clean; } hot[MON_HOT_SLOTS];
	bool pt_written;             /* an emulated write reached a traced
					page table (set by mon_write) */

	/* Direct execution (direct.c): one user world per guest address
	 * space, up to MON_WORLDS, least recently used replaced. */
	struct mon_world worlds[MON_WORLDS];
	struct hd_uworld *uw;          /* the first world, spawned at start */
	struct hd_uworld *volatile uw_running; /* the one in hd_uworld_run */
	char uw_stub[4096];            /* where btvmm-userworld is */
	uint64_t world_clock;
	struct mon_de_retry {  /* the last ring-3 #PF handed to the guest */
		bool valid, write;
		uint32_t addr, cr3, eip;
	} de_retry;
	/* User views of translated CPL-3 code: one in-monitor window per
	 * guest address space, as many as user worlds, LRU (direct.c). */
	struct mon_world views[MON_WORLDS];
	struct mon_world *view_cur;  /* the one GS points at */
	uint64_t host_gs;            /* the host GS base: the last user view run */
	/* Per 4 MiB of guest linear space, pages mapped in any user world or
	 * view: a table change elsewhere drops nothing where this is 0. */
	uint32_t view_regions[1024];
	struct adapt adapt;          /* --de auto's decisions */

	/* --accel kvm (kvm_run.c): the VM on /dev/kvm, or NULL under BT. */
	struct hd_kvm *kvm;
	uint32_t kvm_entry_eip;      /* where the guest starts: a first exit
					there means KVM ran none of it */
	bool kvm_injected;           /* an interrupt went in since the last
					KVM_RUN (the run area's readiness is stale) */

	/* Counters and records nothing above depends on (stats.h). */
	struct mon_stats stats;
};

/* ---- run.c: the run loop, stops, host signals, HLT ---- */
/* Install the host's fault, stop-signal and timer handlers for `vm` (one
 * VM per process). 0, or non-zero with errno set by the one that failed. */
int mon_install_handlers(struct mon_vm *vm);
/* End the run with `status` and a one-line message (printf-style). */
void mon_stop(struct mon_vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A monitor bug found where the run can still end cleanly (devices
 * flushed, statistics printed): status MON_EXIT_BUG, the message, then the
 * recent exits. Where it cannot, BTVMM_CHECK. */
#define MON_BUG(vm, ...) mon_stop((vm), MON_EXIT_BUG, "internal error: " __VA_ARGS__)
int mon_run(struct mon_vm *vm);
/* If SIGINT, SIGTERM or SIGHUP came: stop the VM (status 12, unless it
 * is stopped already), return true. For loops that wait outside the run
 * loop too. */
bool mon_stopped_by_signal(struct mon_vm *vm);
/* Stop the VM if a device asked (isa-debug-exit, reset, ACPI power-off). */
void mon_check_devices(struct mon_vm *vm);
/*
 * The vCPU executed HLT at `eip` (the instruction after it, as pushed).
 * With interrupts off nothing can wake it: the guest powered off (status
 * 0). With no device deadline and no input to wait for: status 6.
 * Otherwise sleep until the next device deadline or input.
 */
void mon_halt(struct mon_vm *vm, bool interrupts_on, uint32_t eip);

/* ---- input.c: COM1's host input ---- */
/*
 * Host input for COM1 (-serial stdio), QEMU's way: Ctrl-A x ends btvmm,
 * Ctrl-A h lists the escapes, Ctrl-A c switches the terminal between COM1
 * and the monitor console, Ctrl-A Ctrl-A sends one Ctrl-A, any other byte
 * goes to the guest (or the console). Reads
 * at most every MON_INPUT_POLL_NS unless `force`; `now` is the host clock.
 */
void mon_pump_input(struct mon_vm *vm, uint64_t now, bool force);

/* ---- transition.c: fast transitions of translated code ---- */
/* bt_env.transition: SYSENTER, SYSEXIT, IRETD or INT n from translated
 * code, without leaving it. */
enum bt_tr_result mon_transition(struct mon_vm *vm, enum bt_transition kind, uint8_t vector,
				 uint32_t ecx, uint32_t edx);

/* ---- hotwriter.c: adaptive translation ---- */
/* True if eip was retranslated as a callout (it writes page tables). */
bool mon_is_hot_writer(struct mon_vm *vm, uint32_t eip);
/* After emulating an instruction adaptive translation sent to the
 * emulator: `emulated` false if the emulator could not (it was stepped),
 * `wrote_pt` whether it wrote a traced page table. */
void mon_hot_writer_done(struct mon_vm *vm, uint32_t eip, bool emulated, bool wrote_pt);

/* ---- step.c: single instructions ---- */
/* Run the one instruction at EIP (no interrupt is taken first), as a
 * debugger's single step. */
void mon_step_one(struct mon_vm *vm);
/* Run the instruction at cpu->eip natively, once, from a throw-away
 * translation (faults on the way are handled as usual). */
void mon_step_native(struct mon_vm *vm);

/* ---- kvm_run.c: --accel kvm, the same machine on /dev/kvm ---- */
/*
 * Create the VM on /dev/kvm for guest RAM and the vCPU state reset_vcpu
 * left in vm->vcpu: the CPUID leaves of mon_cpuid, the MSRs the devices
 * own trapped to them, the registers. Return 0, or -1 with a one-line
 * reason in err (the caller exits 10).
 */
int mon_kvm_setup(struct mon_vm *vm, char *err, size_t errlen);
/* The vCPU loop: KVM_RUN, exits to device calls, interrupts, HLT. Returns
 * the exit status. */
int mon_kvm_run(struct mon_vm *vm);
/*
 * Act on the exit KVM left in `run` (port and MMIO accesses to the devices,
 * trapped MSRs, HLT, shutdown, entry failures), as the vCPU loop does
 * after each KVM_RUN. Needs no /dev/kvm: unit-tested on hand-built exits.
 */
void mon_kvm_exit(struct mon_vm *vm, struct kvm_run *run);
/* --stats under --accel kvm: exits by reason, interrupts, halts. */
void mon_kvm_print_stats(struct mon_vm *vm, FILE *out);

/* ---- console.c: the monitor console (Ctrl-A c, -monitor unix:...) ---- */
struct mon_console;
/* -S without gdb: the guest starts held, as after "stop". False if out
 * of memory. */
bool mon_console_hold(struct mon_vm *vm);
/* Ctrl-A c: the terminal switches to the console (on) or back to COM1. */
void mon_console_terminal(struct mon_vm *vm, bool on);
/* Bytes typed on the terminal while it shows the console. */
void mon_console_typed(struct mon_vm *vm, const uint8_t *bytes, size_t n);
/* -monitor unix:PATH,server,nowait: listen on PATH. False with a reason. */
bool mon_console_open(struct mon_vm *vm, const char *path, char *err, size_t errlen);
/* The run loop, at host time `now`: take a connection and run the
 * commands that came (at most every 5 ms while the guest runs). Return
 * true while "stop" holds the guest. */
bool mon_console_poll(struct mon_vm *vm, uint64_t now);
/* While held: block until the terminal or the console's socket has
 * input; if neither is left, stop the VM (status 6). */
void mon_console_wait(struct mon_vm *vm);
/* The run ended: close the socket and remove its path. */
void mon_console_close(struct mon_vm *vm);

/* ---- gdbstub.c: the GDB remote stub (-gdb, -s, -S) ---- */
struct mon_gdb;
/*
 * Listen for gdb on `spec` (tcp:[HOST]:PORT). With `wait` (-S), wait for
 * it to connect: the guest then starts stopped. Return false with a
 * reason in err.
 */
bool mon_gdb_open(struct mon_vm *vm, const char *spec, bool wait, char *err, size_t errlen);
/* The run ended: close the sockets (gdb sees the connection close). */
void mon_gdb_close(struct mon_vm *vm);
/*
 * The run loop, before the next instruction: if gdb wants the CPU (a
 * breakpoint at EIP, a finished step, a watched value that changed,
 * Ctrl-C, a new connection), answer it until it resumes. Return true if
 * an instruction ran here (the run loop starts over).
 */
bool mon_gdb_check(struct mon_vm *vm);
/* Is there a gdb breakpoint at eip (bt_env.stop_before)? */
bool mon_gdb_breakpoint(struct mon_vm *vm, uint32_t eip);

/* ---- memory.c: guest memory as the virtual CPU sees it ---- */
/*
 * A guest-physical access no RAM backs, `n` bytes within one page: split
 * into naturally aligned pieces of at most 4 bytes (an 8-byte operand goes
 * low dword first, as on a 32-bit bus) for the device models. Where no
 * device answers, the bus is empty: reads return all ones, writes vanish
 * (QEMU does the same).
 */
void mon_mmio_access(struct mon_vm *vm, uint64_t phys, uint8_t *buf, unsigned n, bool write);
/*
 * Read/write `len` bytes at guest linear address `linear` through the
 * guest's current translation. Return true, or false with *f set to the
 * guest fault (#PF, or #GP for an unbacked access the monitor refuses).
 * Writes to pages holding translated code drop those translations.
 */
bool mon_read(struct mon_vm *vm, uint32_t linear, void *buf, unsigned len,
	      struct mon_fault *f);
bool mon_write(struct mon_vm *vm, uint32_t linear, const void *buf,
	       unsigned len, struct mon_fault *f);
/* Guest RAM at [phys, phys + len) was written behind the CPU's back (a
 * device's DMA, a debugger): translations of those pages and shadow page
 * tables built from them are stale, as after a CPU store. */
void mon_ram_written(struct mon_vm *vm, uint64_t phys, uint64_t len);
/* A debugger's access (the GDB stub, the monitor console) at guest
 * linear address `linear` through the current tables, changing no A/D
 * bit and raising nothing. mon_debug_read returns how many bytes it
 * copied (it stops at the first page that is not RAM); mon_debug_write
 * writes all of them or, if a page is not RAM, none. */
unsigned mon_debug_read(struct mon_vm *vm, uint32_t linear, uint8_t *buf, unsigned len);
bool mon_debug_write(struct mon_vm *vm, uint32_t linear, const uint8_t *buf, unsigned len);
/* The same as implicit supervisor accesses (descriptor tables, IDT, TSS). */
bool mon_read_sys(struct mon_vm *vm, uint32_t linear, void *buf, unsigned len,
		  struct mon_fault *f);
bool mon_write_sys(struct mon_vm *vm, uint32_t linear, const void *buf,
		   unsigned len, struct mon_fault *f);
/* Push/pop `size` (2 or 4) bytes on the guest stack (SS:ESP). */
bool mon_push(struct mon_vm *vm, uint32_t value, unsigned size, struct mon_fault *f);
bool mon_pop(struct mon_vm *vm, uint32_t *value, unsigned size, struct mon_fault *f);

/* ---- interrupt.c: exceptions and interrupts through the guest IDT ---- */
/* Set *f to a fault with or without an error code. */
void mon_fault_set(struct mon_fault *f, uint8_t vector, bool has_error,
		   uint32_t error);
/*
 * Deliver vector `v` through the guest IDT. `next_eip` is the EIP pushed
 * (the faulting instruction for faults, the next one for traps and INT n).
 * `soft` is true for INT n / INT3 / INTO (gate DPL is checked against CPL);
 * false for exceptions (external interrupts: mon_deliver_irq).
 * Faults during delivery escalate to #DF and then to a triple fault, which
 * stops the VM.
 */
void mon_deliver(struct mon_vm *vm, uint8_t v, bool has_error, uint32_t error,
		 uint32_t next_eip, bool soft);
/* Deliver external interrupt vector `v` (from the interrupt controllers),
 * `next_eip` the instruction it comes before: no error code, no gate DPL
 * check, and, whatever the vector, never an exception (SDM table 6-4). */
void mon_deliver_irq(struct mon_vm *vm, uint8_t v, uint32_t next_eip);
/* Deliver a fault raised while emulating the instruction at cpu->eip. */
void mon_deliver_fault(struct mon_vm *vm, const struct mon_fault *f);
/* Between instructions, at the top of the run loop: bring the devices up
 * to date and, if one requests an interrupt the vCPU can take now (IF
 * set, no interrupt shadow), acknowledge and deliver it (true). Keeps
 * cpu->irq_waiting saying whether one still waits. */
bool mon_take_interrupt(struct mon_vm *vm);

/* ---- segments.c: descriptors and segment loads ---- */
/* Read the 8-byte descriptor for `sel` from the GDT or LDT; false with *f
 * (#GP(sel & ~3)) if it lies beyond the table limit. */
bool mon_read_descriptor(struct mon_vm *vm, uint16_t sel, uint64_t *desc,
			 struct mon_fault *f);
/* Unpack a descriptor into a segment cache entry. */
void mon_desc_to_seg(uint64_t desc, uint16_t sel, struct mon_seg *s);
/* Load segment register `sreg` with `sel`, with the protected-mode checks
 * (#GP/#NP/#SS with the selector as error code). */
bool mon_load_seg(struct mon_vm *vm, int sreg, uint16_t sel, struct mon_fault *f);
/* Load CS for a far transfer; checks that `sel` is a code segment. */
bool mon_load_cs(struct mon_vm *vm, uint16_t sel, struct mon_fault *f);
/* Load CS for a transfer that lands at privilege `new_cpl` (interrupt
 * gates to inner levels, IRET to outer ones): type, DPL and presence. */
bool mon_load_cs_at(struct mon_vm *vm, uint16_t sel, unsigned new_cpl,
		    struct mon_fault *f);
/* The stack of privilege level `cpl` (0-2) in the current 32-bit TSS,
 * SSn:ESPn, for a gate to an inner level; false with *f (#TS(TR)) if the
 * TSS is not a 32-bit one or too short to hold it, or a #PF reading it. */
bool mon_tss_stack(struct mon_vm *vm, unsigned cpl, uint16_t *ss, uint32_t *esp,
		   struct mon_fault *f);
/* After a return to an outer level: null ES/DS/FS/GS it may not use. */
void mon_null_outer_segments(struct mon_vm *vm);
/* Current privilege level. */
unsigned mon_cpl(const struct vcpu *v);
/* The segment-load cache of translated code: fill after an emulated
 * ring-0 load or VERW of `sel`; empty when tables or translation change. */
void mon_segc_note(struct mon_vm *vm, uint16_t sel);
void mon_segc_flush(struct mon_vm *vm);
/* Set the guest FS/GS bases the translated code sees from the caches. */
void mon_sync_seg_bases(struct mon_vm *vm);

/* ---- task.c, task_check.c: hardware task switches (SDM vol. 3 §7.3) ---- */
/* What starts a task switch: it decides the busy bits, the back-link and NT. */
enum mon_task_reason { MON_TASK_JMP, MON_TASK_CALL, MON_TASK_IRET, MON_TASK_INT };
/*
 * The checks on the new task's TSS descriptor `desc` (selector `sel`), in
 * the order QEMU makes them: an available 32- or 16-bit TSS for JMP, CALL
 * and INT (else #GP(sel)), a busy one for IRET (else #TS(sel)); present
 * (else #NP(sel)); in the GDT with a limit of at least 0x67, 0x2b for a
 * 16-bit TSS (else #TS(sel)). Returns the fault, `raised` false if none.
 */
struct mon_fault mon_tss_check(uint64_t desc, uint16_t sel, enum mon_task_reason why);
/*
 * Switch to the task of TSS selector `sel`, whose descriptor `desc` the
 * caller read. `next_eip` is the EIP saved in the old task (where it
 * resumes). True when the new task is loaded. False with *f set: a fault
 * found before the switch (nothing changed, cpu->eip still the old
 * task's) or while loading the new task's segments (then in the new
 * task's context: cpu->eip is its EIP). False with vm->stop set: 16-bit
 * TSSes and virtual-8086 tasks are not supported.
 */
bool mon_task_switch(struct mon_vm *vm, uint16_t sel, uint64_t desc,
		     enum mon_task_reason why, uint32_t next_eip, struct mon_fault *f);
/* Far JMP or CALL to `sel`, whose descriptor `desc` is an available TSS
 * or a task gate (privilege checks included); as mon_task_switch. */
bool mon_task_far(struct mon_vm *vm, uint16_t sel, uint64_t desc, bool call,
		  uint32_t next_eip, struct mon_fault *f);
/* Deliver through IDT task gate `gate` (type, DPL and P checked by the
 * caller, `gate_error` its selector error code): switch, then push the
 * error code on the new task's stack if there is one. As mon_task_switch. */
bool mon_task_gate_deliver(struct mon_vm *vm, uint64_t gate, uint32_t gate_error,
			   bool has_error, uint32_t error, uint32_t next_eip,
			   struct mon_fault *f);

/* ---- trapemu.c ---- */
/* --mode=trap-emulate: may the vCPU's code, at either CPL, run in a user world? */
bool mon_te_possible(struct mon_vm *vm);
/* A trap out of the user world at guest CPL 0 (only trap-emulate runs
 * that there): emulate the instruction at EIP and return true; at CPL 3
 * return false (the guest's own fault). */
bool mon_te_emulate(struct mon_vm *vm);

/* ---- direct.c ---- */
bool mon_de_possible(struct mon_vm *vm);
/* Would direct execution take the current address space's ring 3 (a
 * user world exists, and --de auto has not sent the space to the
 * translator)? */
bool mon_de_wanted(struct mon_vm *vm);
void mon_de_run(struct mon_vm *vm);
void mon_de_linear_dropped(struct mon_vm *vm, uint32_t first, uint32_t count, uint32_t space);
/* The host base of the current address space's user view (translated
 * CPL-3 code), given one if it has none. 0 if none can be had. */
uint64_t mon_user_view(struct mon_vm *vm);
/* Show guest page `linear` -> `frame` in the current user view. */
void mon_user_view_map(struct mon_vm *vm, uint32_t linear, uint32_t frame, bool writable);
/* Back in ring 3 at the access whose #PF the guest just handled: if its
 * tables now allow it, map the page in the current user view before the
 * access faults again (de_retry). */
void mon_user_view_retry(struct mon_vm *vm);
/* Deliver a ring-3 #PF at addr, remembering the access for that retry. */
void mon_user_page_fault(struct mon_vm *vm, uint32_t addr, bool write, uint32_t err);
void mon_de_frame_protected(struct mon_vm *vm, uint32_t frame);
/* The address space whose page directory is pd_frame is no longer traced:
 * its user worlds and views are emptied and given up. */
void mon_de_space_dropped(struct mon_vm *vm, uint32_t pd_frame);

/* ---- emulate.c ---- */
/* SYSENTER's transfer to CPL 0 through the SYSENTER MSRs. */
void mon_sysenter(struct mon_vm *vm);
/* The register and segment changes of SYSENTER and SYSEXIT (the checks
 * are the caller's; SYSEXIT's new ESP and EIP are the guest's ECX, EDX). */
void mon_sysenter_state(struct vcpu *v);
void mon_sysexit_state(struct vcpu *v, uint32_t ecx, uint32_t edx);
/* IRETD at `at` in protected mode, as the emulator does it; false, with
 * nothing changed, where it would fault (emulate_seg.c). Not for NT or VM
 * set. */
bool mon_iretd_inline(struct mon_vm *vm, uint32_t at);
/* Emulate the instruction at cpu->eip (the block exited for it). */
void mon_emulate(struct mon_vm *vm);
/* The instruction at CS:EIP as text ("rdmsr", with ECX for RDMSR and
 * WRMSR), or "?" when it cannot be read; no fault is raised. */
void mon_describe_insn(struct mon_vm *vm, char *text, size_t size);
/* Is the instruction at cpu->eip one the translator leaves to the
 * emulator (sensitive, privileged, far control transfer, segment
 * operand: bt_classify_insn)? False if it cannot be read. For direct
 * execution's #GP. */
bool mon_emulated_at_eip(struct mon_vm *vm);
/* Emulate the instruction at cpu->eip whose data access has no host
 * mapping (device memory, below vm.mmap_min_addr) or must go through the
 * monitor (a ring-3 write to a page table); exit 8 if it cannot. */
void mon_emulate_memory(struct mon_vm *vm);

/* After a write to CR0, CR3, CR4 or the TSC: tell the translator whether
 * FP instructions trap (CR0.TS/EM) and whether RDTSC may run natively,
 * and the S-view about paging. */
void mon_sync_mode(struct mon_vm *vm);
/* Control registers about to become cr0/cr3/cr4: if that is PAE paging,
 * load the PDPTEs at cr3 into the vCPU (SDM vol. 3 4.4.1). Return false,
 * leaving the vCPU as it was, if a present one has a reserved bit set
 * (the instruction raises #GP(0)). */
bool mon_load_pdptes(struct mon_vm *vm, uint32_t cr0, uint32_t cr3, uint32_t cr4);
/* Set *f to the #PF for `linear` with error code `error`. */
void mon_page_fault(struct mon_fault *f, uint32_t linear, uint32_t error);

/* ---- cpuid.c ---- */
void mon_cpuid(struct mon_vm *vm, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
/* The instruction set that CPUID claims (the words of leaves 1, 7 and
 * 0x80000001 it answers), for bt_isa_check. */
void mon_isa(struct mon_vm *vm, struct bt_isa *isa);
/* Return true and the value, or false for an MSR that raises #GP. */
bool mon_rdmsr(struct mon_vm *vm, uint32_t msr, uint64_t *value);
bool mon_wrmsr(struct mon_vm *vm, uint32_t msr, uint64_t value);
uint64_t mon_guest_tsc(struct mon_vm *vm);

/* ---- cpudump.c ---- */
/* The registers, segment caches, descriptor tables, control and debug
 * registers, in the layout of QEMU's "info registers" (-d cpu_reset). */
void mon_dump_cpu(struct mon_vm *vm, FILE *out);

#endif
