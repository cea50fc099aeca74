/* hostdriver: the page shared by the monitor and the user-world stub (the handoff protocol). */
#ifndef BTVMM_UW_SHARED_H
#define BTVMM_UW_SHARED_H

#include <stdint.h>

/*
 * One page (plus the FP area), mapped in both processes. Whoever holds the
 * turn may touch the rest; the other side waits on `turn` (spinning a
 * while, then futex). The monitor treats everything the stub writes here
 * as untrusted guest input. A handoff costs no system call while the
 * waiting side still spins.
 *
 *   monitor                                  stub (in its signal handler)
 *   fill regs/maps, cmd = RUN, turn = WORLD  ->  apply maps, load regs,
 *                                                sigreturn into the guest
 *                                                ... guest traps ...
 *   read event and regs                  <-  store regs, event, turn = MONITOR
 */

enum { UW_TURN_MONITOR = 0, UW_TURN_WORLD = 1 };

#define UW_FX_TO_WORLD 1u   /* RUN: the guest FP state is what the world last had */
#define UW_FX_TO_MONITOR 2u /* event: the guest FP state is what the monitor sent */

enum uw_cmd {
	UW_CMD_RUN = 1,  /* apply the map list, then run the guest from regs */
	UW_CMD_MAP,      /* apply the map list only */
	UW_CMD_EXIT,     /* leave */
};

enum uw_event {
	UW_EV_NONE = 0,
	UW_EV_READY,     /* the stub is set up (first report) */
	UW_EV_MAPPED,    /* UW_CMD_MAP done */
	UW_EV_SIGNAL,    /* guest code trapped: `trap` says how (the monitor
			    classifies it: hd_uw_decode) */
	UW_EV_BAD_STATE, /* the stub refused regs it was given */
};

/*
 * The facts of the host signal that took guest code out, unclassified: the
 * stub runs in an untrusted process and on one host vendor, so it only
 * copies; what the signal means (a system call, and which instruction
 * made it, on which vendor's path) is decided in the monitor, where it is
 * unit-tested with every vendor's shapes (uw_decode.c).
 */
struct uw_trap {
	uint32_t sig;
	uint32_t cs;          /* code selector in the signal frame */
	uint32_t trapno, err; /* the frame's trap number and error code */
	uint64_t rip, rsp, rcx; /* the frame's, all 64 bits */
	uint64_t addr;        /* si_addr */
	uint64_t call_addr;   /* SIGSYS: si_call_addr (the host's return point) */
	uint32_t arch, nr;    /* SIGSYS: si_arch, si_syscall */
	uint32_t sent;        /* nonzero: a process sent the signal (si_code
				 <= 0: SI_USER, SI_TKILL...), the CPU did not
				 raise it */
	uint32_t pid;         /* its sender's si_pid */
	uint64_t wide;        /* R8-R10 and R12-R15 ORed: the stub zeroes
				 them, 32-bit code cannot name them and the
				 host's compat entry paths keep them (R11 is
				 not among them: SYSCALL puts RFLAGS there), so
				 anything but 0 was left by 64-bit code */
};

/* Guest-visible registers. Selectors are the stub's own (see LDT below). */
struct uw_regs {
	uint32_t gpr[8]; /* EAX ECX EDX EBX ESP EBP ESI EDI */
	uint32_t eip;
	uint32_t eflags;
	uint32_t fs_base, gs_base;
};

/* Stub LDT layout: selectors the guest's segment registers hold in DE. */
#define UW_SEL_CODE 0x07 /* LDT 0: 32-bit code, base 0, 4 GiB, DPL 3 */
#define UW_SEL_DATA 0x0f /* LDT 1: data, base 0, 4 GiB, DPL 3 */
#define UW_SEL_FS 0x17   /* LDT 2: data, base fs_base */
#define UW_SEL_GS 0x1f   /* LDT 3: data, base gs_base */
enum { UW_DS, UW_ES, UW_FS, UW_GS };

/* The stub maps nothing below this guest linear address (the host's
 * vm.mmap_min_addr on stock kernels); the monitor emulates accesses there. */
#define UW_MIN_LINEAR 0x10000u

#define UW_MAX_MAPS 128
struct uw_map {
	uint32_t linear;  /* page-aligned guest linear address */
	uint32_t frame;   /* first guest-physical frame */
	uint32_t pages;
	uint32_t prot;    /* 0: unmap, 1: read, 3: read-write */
};

struct uw_shared {
	volatile uint32_t turn;
	/* Set by a side about to sleep on `turn` (after spinning): only
	 * then does the other side make the futex wake call. */
	volatile uint32_t monitor_sleeps, world_sleeps;
	uint32_t spins;            /* how long to spin before sleeping (0 on
				      a single host CPU: the other side cannot
				      run while one spins) */
	uint32_t cmd;
	uint32_t event;
	struct uw_trap trap;       /* with UW_EV_SIGNAL */
	uint32_t stub_errors;      /* maps the stub could not make */
	uint64_t ran_tsc;          /* TSC ticks from the return into guest code
				      to this event (for --stats) */
	/* fx below is only copied when it changed: each side keeps the image
	 * last exchanged, and says "same" rather than send 512 bytes across
	 * CPUs on every handoff (guest system calls rarely touch the FPU). */
	uint32_t fx_same;          /* UW_FX_* */
	/* Segment selectors found in DS ES FS GS at the event: anything but
	 * the stub's own means ring-3 code loaded that register itself (with
	 * a guest selector value the host resolved in its own tables). */
	uint16_t sel[4];
	struct uw_regs regs;
	uint32_t n_maps;
	struct uw_map maps[UW_MAX_MAPS];
	uint8_t fx[512] __attribute__((aligned(64))); /* guest FXSAVE image */
};

_Static_assert(sizeof(struct uw_shared) <= 8192, "uw_shared fits two pages");
#define UW_SHARED_SIZE 8192

/* File descriptors the stub is started with. */
#define UW_FD_RAM 3
#define UW_FD_SHARED 4

#endif
