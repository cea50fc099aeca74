/* Usermode guest: the layout, numbers and kernel interface shared by its C kernel, entry stubs and ring-3 programs. */
#ifndef USERMODE_H
#define USERMODE_H

/*
 * Included by C and by the .S files, so the constants are plain numbers.
 *
 * Selectors: the runtime's flat kernel segments, then ring-3 ones placed so
 * that SYSEXIT (CS = SYSENTER_CS + 16, SS = SYSENTER_CS + 24) lands on them.
 */
#define KERNEL_CS 0x08 /* slot 1, DPL 0 (the runtime's) */
#define KERNEL_DS 0x10 /* slot 2, DPL 0 (the runtime's) */
#define USER_CS   0x1b /* slot 3, DPL 3, RPL 3 */
#define USER_DS   0x23 /* slot 4, DPL 3, RPL 3: also user SS, FS and GS */
#define TSS_SEL   0x28 /* slot 5 */

#define EFL_CF    0x00000001
#define EFL_DF    0x00000400
#define EFL_IF    0x00000200
#define EFL_IOPL  0x00003000
#define EFL_VM    0x00020000
#define EFL_USER_START 0x00000202 /* IF and the always-one bit 1 */

/* Vectors. VEC_SYSENTER is not an IDT vector: it marks frames that the
   SYSENTER entry builds so that they look like int $0x80's. */
#define VEC_DE 0
#define VEC_BP 3
#define VEC_UD 6
#define VEC_GP 13
#define VEC_PF 14
#define IRQ_BASE 0x20 /* PIC master 0x20..0x27, slave 0x28..0x2f */
#define VEC_SYSCALL  0x80
#define VEC_SYSENTER 0x100

/* System calls: number in EAX, arguments in EBX, ECX; result in EAX. */
#define SYS_WRITE   1 /* (const char *buf, len) -> len or -EFAULT */
#define SYS_COUNTER 2 /* () -> this process's call count, from 1 */
#define SYS_EXIT    3 /* (status), does not return */
#define SYS_YIELD   4 /* () -> 0, after the other process has run */
#define SYS_REMAP   6 /* () -> 0: USER_CODE maps the caller's second code
			     frame (its PTE rewritten, then INVLPG) */
#define SYS_MIGRATE 7 /* () -> 0: the other process's USER_DATA moves to a
			     copy in a new frame with UP_VALUE = MIGRATE_AFTER,
			     its page table changed while it does not run */
#define SYS_REUSE_PD 8 /* () -> 0: the other process's page directory is
			      written over word by word (as a reused frame's
			      data would be), then made a directory again with
			      USER_DATA under a new table, mapping a copy with
			      UP_VALUE = MIGRATE_AFTER */
#define SYS_SHARED  9 /* () -> 0: user_shared, a page of the table every
			     directory shares, maps a copy whose first word is
			     SHARED_AFTER (its PTE rewritten, no INVLPG: the
			     caller reads it only after a CR3 load); the next
			     call maps its own frame again */
#define SYS_REPORT  5 /* (ESI = the caller's ESP, EDI = its return EIP as the
                         kernel should see them) -> 0 or REPORT_* bits */
#define ENOSYS 38
#define EFAULT 14

/* SYS_REPORT's result: what the kernel found wrong with the frame or itself. */
#define REPORT_ESP       0x01 /* saved user ESP differs from ESI */
#define REPORT_EIP       0x02 /* saved EIP differs from EDI */
#define REPORT_SEGMENTS  0x04 /* saved CS, SS, DS, ES, FS or GS not the user's */
#define REPORT_EFLAGS    0x08 /* saved EFLAGS lacks IF or has IOPL/VM */
#define REPORT_KERNEL_IF 0x10 /* kernel IF not 1 after int $0x80 (trap gate), not 0 after SYSENTER */
#define REPORT_KERNEL_SEGS 0x20 /* kernel CS, SS or DS not the kernel's */
#define REPORT_STACK     0x40 /* the frame is not at the top of TSS.ESP0's stack */
#define REPORT_VDSO_EBP  0x80 /* SYSENTER: EBP is not the user ESP holding the user's EBP */
#define REPORT_CR3       0x100 /* CR3 is not the running process's directory */
/* The EBP the sysenter program passes, which the kernel finds at the user ESP. */
#define REPORT_EBP_PROBE 0x0eb0eb0e

/*
 * Each process's linear layout (the kernel and the user programs' code keep
 * their link addresses in the first 4 MiB, which every directory shares):
 *
 *   0x00100000..       image: kernel pages supervisor, user text pages U=1, read-only
 *   0x40000000         USER_DATA: struct user_page, per process, U=1 W=1
 *   0x40001000         USER_RO: U=1, read-only
 *   0x40002000         USER_CODE: per process, its own code, U=1, read-only
 *   0x40008000..       USER_DEMAND_LOW..USER_STACK_PAGE: mapped on first touch
 *   0x4000f000         USER_STACK_PAGE: the stack, U=1 W=1, ESP starts at its top
 *   0x50000000         USER_UNMAPPED: no page table: a fault there ends the process
 */
#define USER_DATA       0x40000000
#define USER_RO         0x40001000
#define USER_CODE       0x40002000
#define USER_DEMAND_LOW 0x40008000
#define USER_STACK_PAGE 0x4000f000
#define USER_STACK_TOP  0x40010000
#define USER_UNMAPPED   0x50000000
#define USER_RO_FILL    0x0badf00d /* every dword of USER_RO */

/* demand-paging: pushes filling three pages below the stack page, then a read. */
#define DEMAND_PUSHES    (3 * 1024)
#define DEMAND_PATTERN   0xa5a50000
#define DEMAND_READ_ADDR 0x4000b004

/* user-faults: EDI = SKIP_MAGIC and ESI = resume address ask the kernel to
   log the fault and go on at ESI; any other fault ends the process. */
#define SKIP_MAGIC 0x5c1b0000

/* address-spaces: the kernel's initial USER_DATA value and each process's own. */
#define ASPACE_INITIAL 0x5eed0000
#define ASPACE_MINE    0xabcd0000
/* code-per-process: USER_CODE holds "mov $v, %eax; ret" with v =
 * CODE_VALUE + 0x10 * process + code frame (0, or 1 after SYS_REMAP). */
#define CODE_VALUE     0xc0de0000
#define MIGRATE_BEFORE 0xbef0be40
#define MIGRATE_AFTER  0xaf7e0af7
#define SHARED_BEFORE  0x5ba4ed00
#define SHARED_AFTER   0x5ba4ed11

/* The user loops give up (and fail) when the high dword of their 64-bit
   progress count reaches this: the kernel never stopped them. */
#define SPIN_LIMIT_HI 2

/* struct user_page offsets, for the ring-3 programs (pinned in usermode_kernel.c). */
#define UP_FAIL      0x000 /* failure bits set by the user program's own checks */
#define UP_VALUE     0x004
#define UP_STOP      0x008 /* set by the kernel: leave the spin loop */
#define UP_SAVED_ESP 0x00c
#define UP_PROGRESS  0x010 /* 64-bit loop count */
#define UP_FCW_IN    0x018
#define UP_MXCSR_IN  0x01c
#define UP_FCW_OUT   0x020
#define UP_FSW_OUT   0x024
#define UP_MXCSR_OUT 0x028
#define UP_SCRATCH   0x030 /* 16 bytes */
#define UP_X87_IN    0x040 /* 4 dwords */
#define UP_X87_OUT   0x050 /* 4 dwords */
#define UP_XMM_IN    0x080 /* 8 x 16 bytes */
#define UP_XMM_OUT   0x100 /* 8 x 16 bytes */

#ifndef __ASSEMBLER__
#include "pagetables.h"

/*
 * What every trap entry leaves on the kernel stack, lowest address first:
 * the segment registers, pushal, vector and error code (0 when the CPU
 * pushes none), then the CPU's frame. user_esp and user_ss exist only when
 * (cs & 3) == 3: from ring 3 the CPU switched to TSS.ESP0 and pushed them,
 * so a ring-3 frame ends exactly at ESP0.
 */
struct trap_frame {
	uint32_t gs, fs, es, ds;  /* as pushed: only the low 16 bits are the selector */
	uint32_t edi, esi, ebp, esp_dummy, ebx, edx, ecx, eax;
	uint32_t vector, error;
	uint32_t eip, cs, eflags;
	uint32_t user_esp, user_ss;
};

/* The page at USER_DATA, as the ring-3 programs see it (offsets UP_*). */
struct user_page {
	uint32_t fail, value, stop, saved_esp;
	uint32_t progress_lo, progress_hi;
	uint32_t fcw_in, mxcsr_in, fcw_out, fsw_out, mxcsr_out, pad0;
	uint32_t scratch[4];
	int32_t x87_in[4], x87_out[4];
	uint32_t pad1[8];
	uint32_t xmm_in[8][4], xmm_out[8][4];
};

#define MAX_PROCESSES 2
#define DEMAND_FRAMES 6 /* per process */
#define FAULT_LOG 32
#define KSTACK_SIZE 8192

enum process_state { PROC_FREE, PROC_RUNNABLE, PROC_DONE };

/* One logged ring-3 exception (a demand fault, a skipped or a fatal fault). */
struct fault_record {
	uint32_t vector, error, cr2, eip, cs, user_esp, user_ebp;
};

struct process {
	enum process_state state;
	uint32_t *pd;                 /* page directory */
	uint32_t *user_table;         /* page table for the USER_DATA region */
	struct user_page *data;       /* the USER_DATA frame, through the identity map */
	uint32_t *ro_frame, *stack_frame;
	uint8_t *code_frame[2];       /* what USER_CODE maps: [0], after SYS_REMAP [1] */
	uint8_t (*demand)[PAGE_SIZE]; /* DEMAND_FRAMES frames for demand faults */
	uint32_t demand_used;
	uint32_t kstack_top;          /* TSS.ESP0 and SYSENTER_ESP while it runs */
	struct trap_frame saved;      /* its registers while another runs */
	uint8_t *fx;                  /* FXSAVE image while another runs (16-aligned) */
	/* Results. */
	uint32_t exit_status;         /* SYS_EXIT's argument, or KILLED | vector */
	struct fault_record killed_by;
	uint32_t counter;             /* SYS_COUNTER */
	uint32_t yields, switches_in, preempted;
	uint32_t last_progress, slices_with_progress;
};
#define KILLED 0x80000000u

/* Kernel-wide counters the tests read (and reset between groups). */
struct kernel_stats {
	uint32_t irq0_user, irq0_kernel;   /* timer interrupts, by where they hit */
	uint32_t irq0_outside_user_text;   /* ring-3 timer frames whose EIP is not user code */
	uint32_t unexpected_irqs;          /* bit n: IRQ n */
	uint32_t bad_user_frames;          /* ring-3 frames failing the common checks */
	uint32_t first_bad_frame;          /* REPORT_* bits of the first one */
	uint32_t switches;
	uint32_t yield_cr3_mismatch;       /* SYS_YIELD saw another process's USER_DATA */
	uint32_t n_faults;                 /* ring-3 exceptions logged */
	struct fault_record faults[FAULT_LOG];
	uint32_t n_reports, reports_failed;
	char written[256];                 /* what SYS_WRITE printed, for the tests */
	uint32_t n_written;
};

extern struct process processes[MAX_PROCESSES];
extern struct kernel_stats kstats;
extern uint32_t kernel_secret;                /* supervisor data a user probe reads */
extern char user_text_start[], user_text_end[]; /* the ring-3 programs' pages */

/* Build GDT, TSS, IDT, paging (kernel directory loaded), PIC, PIT, FPU and SYSENTER MSRs. */
void kernel_init(void);
/* Reset process idx to start at entry with EBX = arg, a fresh address
   space content (USER_DATA zeroed, no demand pages) and the FNINIT FPU state. */
void process_setup(int idx, void (*entry)(void), uint32_t arg);
/* Run processes 0..n-1 (from 0) until all have ended; with preempt, the
   timer switches between them and stops their loops once each has made
   progress in stop_after slices. Returns with IF=0 and the kernel directory. */
void run_processes(int n, int preempt, uint32_t stop_after);
void kernel_stats_reset(void);

/* Entry stubs (usermode_entry.S). */
extern void (*const trap_stubs[48])(void); /* vectors 0..31, then IRQs 0..15 */
void trap_stub_syscall(void);
void sysenter_entry(void);
/* Save the kernel's callee-saved registers and ESP, then return to ring 3
   through frame (at the top of a kernel stack); "returns" when kernel_resume
   is called. */
void kernel_enter_user(struct trap_frame *frame);
__attribute__((noreturn)) void kernel_resume(void);
/* Called by the stubs; nonzero means the frame is the one SYSENTER built,
   unchanged, so SYSEXIT may return through it. */
int trap_dispatch(struct trap_frame *f);

/* Ring-3 programs (usermode_user.S). */
void user_syscall_main(void);
void user_sysenter_main(void);
void user_demand_main(void);
void user_faults_main(void);
void user_spin_main(void);
void user_fpu_main(void);
void user_aspace_main(void);
void user_code_main(void);
void user_migrate_main(void); /* EBX = process | SYS_MIGRATE or SYS_REUSE_PD << 8 */
void user_shared_main(void);  /* EBX = process */
extern char user_shared[];
extern char user_vsyscall_return[];
extern char user_demand_push[], user_demand_read[];
extern const char user_hello_int80[], user_hello_sysenter[];
#endif

#endif
