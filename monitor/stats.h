/* monitor: what the monitor records only to report it (--stats, the
 * console's "info stats", the crash report), apart from machine state. */
#ifndef BTVMM_STATS_H
#define BTVMM_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct mon_vm;

/* Per-class counters of emulated sensitive instructions, for --stats. */
enum mon_emu_class {
	/* From classify.def's BT_SENS groups (emulate.c:class_of), and MEMORY. */
	EMU_FLAGS,      /* PUSHF POPF CLI STI */
	EMU_DESCTAB,    /* LGDT LIDT LLDT LTR SGDT SIDT SLDT STR */
	EMU_SEGMENT,    /* MOV/PUSH/POP seg, LDS..LSS, LAR LSL VERR VERW */
	EMU_FAR,        /* far JMP/CALL/RET, IRET, INT n, INT3, INTO */
	EMU_CONTROL,    /* MOV CR/DR, SMSW LMSW CLTS INVLPG INVD WBINVD */
	EMU_IO,         /* IN OUT INS OUTS */
	EMU_CPU,        /* CPUID RDTSC RDMSR WRMSR SYSENTER SYSEXIT HLT */
	EMU_LEGACY,     /* PUSHA POPA BOUND ARPL BCD SALC ENTER */
	EMU_MEMORY,     /* data accesses the S-view cannot map, and page-table
			   writers emulated by adaptive translation */
	EMU_OTHER,      /* #UD (UD2, SYSCALL, ...), FP traps, 16-bit forms */
	EMU_CLASS_COUNT
};

/* --stats: where the monitor's thread spends host time. */
enum mon_activity {
	ACT_LOOP,       /* run loop: devices, interrupts, host timer */
	ACT_TRANSLATED, /* translated code, and entering/leaving it */
	ACT_EMULATE,    /* emulating sensitive instructions */
	ACT_FAULT,      /* host faults: shadow paging, traced writes */
	ACT_STEP,       /* single instructions (interrupt shadow, TF) */
	ACT_DE,         /* direct execution: the user world and its events */
	ACT_HALT,       /* HLT: sleeping */
	ACT_COUNT
};

#define MON_RING 64 /* last exits kept for the crash report */
#define MON_KVM_EXIT_REASONS 64 /* KVM_EXIT_* counted apart; higher ones in the last */
#define MON_SITES 2048 /* emulation sites counted (mon_count_site) */

struct mon_exit_record {
	uint32_t eip;
	uint8_t reason;
	uint8_t detail;
};

/* Emulate exits and single steps at one guest EIP. */
struct mon_site {
	uint32_t eip1;     /* EIP + 1; 0: an empty slot */
	uint16_t mnemonic; /* ZydisMnemonic of the emulated instruction */
	uint8_t step;      /* a single step after STI or MOV SS, not an emulation */
	uint64_t count;
};

/*
 * The counters and records of one run (mon_vm.stats). Nothing the machine
 * does depends on them: they are written as things happen and read only by
 * mon_print_stats, mon_kvm_print_stats and mon_print_ring (and by
 * kvm_run.c's guest_ran, to word a failure message).
 */
struct mon_stats {
	uint64_t start_ns;      /* host clock as the guest started: the run's length */
	/* The last MON_RING exits from translated code, for crash reports. */
	struct mon_exit_record ring[MON_RING];
	unsigned ring_next;     /* where the next one goes (mod MON_RING) */
	uint64_t activity_ticks[ACT_COUNT]; /* host TSC ticks by activity (run.c:charge) */

	/* The emulator and exception delivery. */
	uint64_t emu_count[EMU_CLASS_COUNT]; /* instructions emulated, by class */
	/* With --stats: emulate exits and single steps by guest EIP (open
	 * addressing on EIP; full table: not counted). */
	struct mon_site sites[MON_SITES];
	uint64_t exc_count[32]; /* exceptions delivered, by vector */
	uint64_t irqs;          /* hardware interrupts delivered (KVM: injected) */
	uint64_t halts;         /* HLTs that slept */
	uint64_t fast_sys[4];   /* SYSENTER, SYSEXIT, IRETD, INT n done by the callout */
	uint64_t smc_faults;    /* host faults on writes to pages with translations */

	/* Page-table writes and adaptive translation. */
	uint64_t pt_writes_trapped;  /* traced writes through a host fault */
	uint64_t pt_writes_emulated; /* traced writes by the adaptive callout */
	uint64_t plain_stores;       /* store callouts that wrote no traced table */
	uint64_t hot_demotions;      /* hot writers made native again */

	/* Translated ring 3: the user views. */
	uint64_t view_switches;  /* host GS base writes (from one user view to another) */
	uint64_t view_faults;    /* host faults in the user views */
	uint64_t view_premaps;   /* pages mapped as their PTE became present */
	uint64_t view_around;    /* pages mapped read-only around a user-view fill */
	uint64_t view_assigns;   /* user views given to an address space */
	uint64_t view_evictions; /* of those, views taken from another one */

	/* Direct execution: the user worlds. */
	uint64_t de_tsc;           /* TSC ticks spent in the user world */
	uint64_t de_guest_tsc;     /* of those, ticks guest code ran */
	uint64_t de_entries;       /* entries into a user world */
	uint64_t de_syscalls;      /* system calls out of it (INT 0x80, SYSENTER, ...) */
	uint64_t de_preempts;      /* returns from it for the host timer or a signal */
	uint64_t de_hidden_faults; /* pages mapped in it (U-view fills) */
	uint64_t de_prefaults;     /* U-view fills made before the retried access */
	uint64_t de_vendor_insns;  /* SYSENTER/SYSEXIT/SYSCALL/SYSRET, trapped the host's way */
	uint64_t de_segment_loads; /* segment loads by ring-3 code, redone */
	uint64_t de_world_switches;  /* address spaces given a user world */
	uint64_t de_world_spawns;    /* user worlds started after the first one */
	uint64_t de_world_evictions; /* of those, worlds taken from another space */
	uint64_t spaces_dropped;   /* worlds and views emptied: their directory
				      was written over (mon_de_space_dropped) */
	uint64_t te_emulated;      /* --mode=trap-emulate: guest CPL-0 traps emulated */

	/* --accel kvm. */
	uint64_t kvm_exits[MON_KVM_EXIT_REASONS]; /* by KVM_EXIT_* */
};

/* --stats: print the counters of this run (the console's "info stats"). */
void mon_print_stats(struct mon_vm *vm, FILE *out);
/* Count one emulate exit (step = false) or single step at eip. */
void mon_count_site(struct mon_vm *vm, uint32_t eip, unsigned mnemonic, bool step);
/* Record an exit from translated code in the ring of recent exits. */
void mon_ring_record(struct mon_vm *vm, uint32_t eip, unsigned reason, unsigned detail);
/* The crash report's list of recent exits, oldest first. */
void mon_print_ring(struct mon_vm *vm, FILE *out);

#endif
