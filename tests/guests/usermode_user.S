/* Usermode guest: the ring-3 programs, on pages of their own that the processes map user-accessible and read-only. */
#include "usermode.h"

/*
 * Each program starts at CPL 3 with ESP = USER_STACK_TOP, EBX = its
 * argument, the other general registers 0, IF=1. It checks what it can see
 * itself (results in EAX, preserved registers and flags), sets a bit in its
 * page's UP_FAIL word for each check that fails, and exits with that word
 * as its status; the kernel checks the rest.
 *
 * Absolute addresses are fine here: this code runs at its link address,
 * which the processes' page tables map to the same frames as the kernel's.
 *
 * Nothing here reads a segment register, or runs SGDT, SIDT, SLDT, STR,
 * SMSW, LAR, LSL, VERR/VERW: those would show a monitor's host selectors
 * and tables to ring 3 (a monitor running ring 3 natively cannot hide
 * them), and no real program needs them. The kernel checks the selectors
 * in the frames instead.
 */

/* Set failure bit `bit` unless a == b (compared as cmpl b, a). */
.macro EXPECT_EQ a, b, bit
	cmpl \b, \a
	je .Lok\@
	orl $(1 << (\bit)), USER_DATA + UP_FAIL
.Lok\@:
.endm

.macro SYSCALL nr
	movl $\nr, %eax
	int $0x80
.endm

/* Exit with the failure bits as the status; SYS_EXIT does not return. */
.macro EXIT_WITH_FAILURES
	movl USER_DATA + UP_FAIL, %ebx
	SYSCALL SYS_EXIT
	ud2
.endm

	.section .text.user, "ax", @progbits
	.balign 4096
	.globl user_text_start
user_text_start:

/*
 * The vsyscall stub, as Linux's vDSO __kernel_vsyscall: EAX = number, EBX,
 * ECX, EDX = arguments. SYSEXIT returns to user_vsyscall_return with EDX =
 * EIP and ECX = ESP, so both are saved here, and EBP carries the user ESP
 * to the kernel.
 */
	.globl user_vsyscall
user_vsyscall:
	pushl %ecx
	pushl %edx
	pushl %ebp
	movl %esp, %ebp
	sysenter
	.globl user_vsyscall_return
user_vsyscall_return:
	popl %ebp
	popl %edx
	popl %ecx
	ret

/* ---- syscall: int $0x80 ---- */
	.globl user_syscall_main
user_syscall_main:
	movl $SYS_WRITE, %eax
	movl $user_hello_int80, %ebx
	movl $(user_hello_int80_end - user_hello_int80), %ecx
	int $0x80
	EXPECT_EQ %eax, $(user_hello_int80_end - user_hello_int80), 0

	SYSCALL SYS_COUNTER
	EXPECT_EQ %eax, $1, 1
	SYSCALL SYS_COUNTER
	EXPECT_EQ %eax, $2, 2
	SYSCALL SYS_COUNTER
	EXPECT_EQ %eax, $3, 3

	/* Every register but EAX, ESP and the flags survive the call. */
	movl $0x11111111, %ebx
	movl $0x22222222, %ecx
	movl $0x33333333, %edx
	movl $0x44444444, %esi
	movl $0x55555555, %edi
	movl $0x66666666, %ebp
	movl %esp, USER_DATA + UP_SAVED_ESP
	movl $SYS_COUNTER, %eax
	stc
	std				/* the kernel's cld must not leak back */
	int $0x80
	movl %eax, USER_DATA + UP_SCRATCH	/* mov leaves the flags alone */
	pushfl
	popl USER_DATA + UP_SCRATCH + 4
	cld
	EXPECT_EQ %ebx, $0x11111111, 4
	EXPECT_EQ %ecx, $0x22222222, 5
	EXPECT_EQ %edx, $0x33333333, 6
	EXPECT_EQ %esi, $0x44444444, 7
	EXPECT_EQ %edi, $0x55555555, 8
	EXPECT_EQ %ebp, $0x66666666, 9
	EXPECT_EQ %esp, USER_DATA + UP_SAVED_ESP, 10
	EXPECT_EQ USER_DATA + UP_SCRATCH, $4, 11
	movl USER_DATA + UP_SCRATCH + 4, %eax
	andl $(EFL_CF | EFL_DF | EFL_IF | EFL_IOPL), %eax
	EXPECT_EQ %eax, $(EFL_CF | EFL_DF | EFL_IF), 12

	/* The kernel compares its frame with what we know: ESP and the EIP
	   after int $0x80. */
	movl %esp, %esi
	movl $1f, %edi
	movl $SYS_REPORT, %eax
	int $0x80
1:	EXPECT_EQ %eax, $0, 13

	movl $999, %eax
	int $0x80
	EXPECT_EQ %eax, $-ENOSYS, 14

	/* A buffer in kernel memory: refused, not printed. */
	movl $SYS_WRITE, %eax
	movl $kernel_secret, %ebx
	movl $4, %ecx
	int $0x80
	EXPECT_EQ %eax, $-EFAULT, 15

	/* POPF at CPL 3 with IOPL 0 leaves IF and IOPL alone, without a fault. */
	pushfl
	andl $~EFL_IF, (%esp)
	orl $EFL_IOPL, (%esp)
	popfl
	pushfl
	popl %eax
	andl $(EFL_IF | EFL_IOPL), %eax
	EXPECT_EQ %eax, $EFL_IF, 16
	EXIT_WITH_FAILURES

/* ---- sysenter: the same through the vsyscall stub ---- */
	.globl user_sysenter_main
user_sysenter_main:
	movl $SYS_WRITE, %eax
	movl $user_hello_sysenter, %ebx
	movl $(user_hello_sysenter_end - user_hello_sysenter), %ecx
	call user_vsyscall
	EXPECT_EQ %eax, $(user_hello_sysenter_end - user_hello_sysenter), 0

	movl $SYS_COUNTER, %eax
	call user_vsyscall
	EXPECT_EQ %eax, $1, 1
	movl $SYS_COUNTER, %eax
	call user_vsyscall
	EXPECT_EQ %eax, $2, 2

	movl $0x11111111, %ebx
	movl $0x22222222, %ecx
	movl $0x33333333, %edx
	movl $0x44444444, %esi
	movl $0x55555555, %edi
	movl $0x66666666, %ebp
	movl %esp, USER_DATA + UP_SAVED_ESP
	movl $SYS_COUNTER, %eax
	stc
	std
	call user_vsyscall
	movl %eax, USER_DATA + UP_SCRATCH
	pushfl
	popl USER_DATA + UP_SCRATCH + 4
	cld
	EXPECT_EQ %ebx, $0x11111111, 4
	EXPECT_EQ %ecx, $0x22222222, 5
	EXPECT_EQ %edx, $0x33333333, 6
	EXPECT_EQ %esi, $0x44444444, 7
	EXPECT_EQ %edi, $0x55555555, 8
	EXPECT_EQ %ebp, $0x66666666, 9
	EXPECT_EQ %esp, USER_DATA + UP_SAVED_ESP, 10
	EXPECT_EQ USER_DATA + UP_SCRATCH, $3, 11
	movl USER_DATA + UP_SCRATCH + 4, %eax
	andl $(EFL_CF | EFL_DF | EFL_IF | EFL_IOPL), %eax
	EXPECT_EQ %eax, $(EFL_CF | EFL_DF | EFL_IF), 12

	/* At SYSENTER the stub has pushed ECX, EDX, EBP below our return
	   address, and the return EIP is user_vsyscall_return. */
	leal -16(%esp), %esi
	movl $user_vsyscall_return, %edi
	movl $REPORT_EBP_PROBE, %ebp		/* the kernel finds it on the user stack */
	movl $SYS_REPORT, %eax
	call user_vsyscall
	EXPECT_EQ %eax, $0, 13
	EXPECT_EQ %ebp, $REPORT_EBP_PROBE, 14

	movl $999, %eax
	call user_vsyscall
	EXPECT_EQ %eax, $-ENOSYS, 15

	movl USER_DATA + UP_FAIL, %ebx
	movl $SYS_EXIT, %eax
	call user_vsyscall
	ud2

/* ---- demand-paging: a stack growing into pages that are not there yet ---- */
	.globl user_demand_main
user_demand_main:
	movl %esp, %ebp
	movl $USER_STACK_PAGE, %esp	/* the next push is the first below the stack page */
	movl $DEMAND_PUSHES, %ecx
1:	movl %ecx, %eax
	xorl $DEMAND_PATTERN, %eax
	.globl user_demand_push
user_demand_push:
	pushl %eax			/* faults at each new page: ESP must be unchanged then */
	decl %ecx
	jnz 1b
	/* Pop them back: 1, 2, ... DEMAND_PUSHES. */
	movl $1, %ecx
2:	popl %eax
	movl %ecx, %edx
	xorl $DEMAND_PATTERN, %edx
	cmpl %edx, %eax
	jne 3f
	incl %ecx
	cmpl $DEMAND_PUSHES, %ecx
	jbe 2b
	jmp 4f
3:	orl $1, USER_DATA + UP_FAIL
4:	EXPECT_EQ %esp, $USER_STACK_PAGE, 1
	/* A read of a page never touched: mapped on demand, and zeroed. */
	movl $0xffffffff, %eax
	.globl user_demand_read
user_demand_read:
	movl DEMAND_READ_ADDR, %eax
	EXPECT_EQ %eax, $0, 2
	movl %ebp, %esp
	EXIT_WITH_FAILURES

/* ---- user-faults: privileged and faulting instructions at CPL 3 ---- */

/* Run one instruction that must fault; the kernel logs the fault and
   resumes after it (at the label uf_<name>_end). */
.macro EXPECT_FAULT name, insn:vararg
	movl $SKIP_MAGIC, %edi
	movl $uf_\name\()_end, %esi
	.globl uf_\name
uf_\name:
	\insn
	.globl uf_\name\()_end
uf_\name\()_end:
.endm

	.globl user_faults_main
user_faults_main:
	movl %esp, %ebp			/* the kernel checks every frame's ESP against EBP */
	EXPECT_FAULT ud2, ud2
	xorl %ecx, %ecx
	movl $1, %eax
	xorl %edx, %edx
	EXPECT_FAULT div0, divl %ecx
	EXPECT_FAULT int3, int3
	EXPECT_FAULT int21, int $0x21
	EXPECT_FAULT read_kernel, movl kernel_secret, %eax
	EXPECT_FAULT write_kernel, movl %eax, kernel_secret
	EXPECT_FAULT write_ro, movl %eax, USER_RO + 8
	movl $guest_main, %eax
	EXPECT_FAULT exec_kernel, jmp *%eax
	EXPECT_FAULT cli, cli
	EXPECT_FAULT sti, sti
	EXPECT_FAULT hlt, hlt
	EXPECT_FAULT in, inb $0x61, %al
	EXPECT_FAULT out, outb %al, $0x80
	EXPECT_FAULT lgdt, lgdt USER_DATA + UP_SCRATCH
	EXPECT_FAULT lidt, lidt USER_DATA + UP_SCRATCH
	EXPECT_FAULT read_cr3, movl %cr3, %eax
	EXPECT_FAULT write_cr3, movl %eax, %cr3
	EXPECT_FAULT read_cr0, movl %cr0, %eax
	EXPECT_FAULT rdmsr, rdmsr
	EXPECT_FAULT wrmsr, wrmsr
	EXPECT_FAULT invlpg, invlpg USER_DATA
	EXPECT_FAULT clts, clts
	EXPECT_FAULT read_dr7, movl %dr7, %eax
	EXPECT_FAULT wbinvd, wbinvd
	/* The fast system-call instructions whose compat-mode behaviour
	   differs between host CPU vendors: the guest sees its own CPU's
	   (SEP, no SYSCALL) on any host. SYSCALL gets a readable [ESP]: an
	   AMD host's entry path reads it (hostdriver/uw_decode.c). */
	pushl $0
	movl %esp, %ebp
	EXPECT_FAULT syscall, .byte 0x0f, 0x05	/* syscall (the name is our macro's) */
	EXPECT_FAULT sysret, sysret
	EXPECT_FAULT sysexit, sysexit
	popl %eax
	movl %esp, %ebp
	/* The data was not changed by the faulting writes. */
	EXPECT_EQ USER_RO + 8, $USER_RO_FILL, 0
	EXPECT_EQ %esp, %ebp, 1
	/* A fault without the magic: the kernel ends the process. */
	xorl %edi, %edi
	.globl uf_fatal
uf_fatal:
	movl USER_UNMAPPED, %eax
	EXIT_WITH_FAILURES		/* not reached */

/* ---- preemption: a CPU-bound loop that only the timer interrupts ---- */
	.globl user_spin_main
user_spin_main:
1:	addl $1, USER_DATA + UP_PROGRESS
	adcl $0, USER_DATA + UP_PROGRESS + 4
	cmpl $0, USER_DATA + UP_STOP
	jne 2f
	cmpl $SPIN_LIMIT_HI, USER_DATA + UP_PROGRESS + 4
	jb 1b
	orl $1, USER_DATA + UP_FAIL	/* never stopped */
2:	EXIT_WITH_FAILURES

/* ---- fpu-preserved: x87 and XMM values held across preemption and system calls ---- */
	.globl user_fpu_main
user_fpu_main:
	fldcw USER_DATA + UP_FCW_IN
	ldmxcsr USER_DATA + UP_MXCSR_IN
	fildl USER_DATA + UP_X87_IN
	fildl USER_DATA + UP_X87_IN + 4
	fildl USER_DATA + UP_X87_IN + 8
	fildl USER_DATA + UP_X87_IN + 12
	movdqu USER_DATA + UP_XMM_IN + 0x00, %xmm0
	movdqu USER_DATA + UP_XMM_IN + 0x10, %xmm1
	movdqu USER_DATA + UP_XMM_IN + 0x20, %xmm2
	movdqu USER_DATA + UP_XMM_IN + 0x30, %xmm3
	movdqu USER_DATA + UP_XMM_IN + 0x40, %xmm4
	movdqu USER_DATA + UP_XMM_IN + 0x50, %xmm5
	movdqu USER_DATA + UP_XMM_IN + 0x60, %xmm6
	movdqu USER_DATA + UP_XMM_IN + 0x70, %xmm7
1:	addl $1, USER_DATA + UP_PROGRESS
	adcl $0, USER_DATA + UP_PROGRESS + 4
	cmpl $0, USER_DATA + UP_STOP
	jne 2f
	cmpl $SPIN_LIMIT_HI, USER_DATA + UP_PROGRESS + 4
	jb 1b
	orl $1, USER_DATA + UP_FAIL
2:	movl $SYS_COUNTER, %eax
	int $0x80
	EXPECT_EQ %eax, $1, 1
	movl $SYS_COUNTER, %eax
	call user_vsyscall
	EXPECT_EQ %eax, $2, 2
	fnstcw USER_DATA + UP_FCW_OUT
	fnstsw USER_DATA + UP_FSW_OUT
	stmxcsr USER_DATA + UP_MXCSR_OUT
	fistpl USER_DATA + UP_X87_OUT + 12
	fistpl USER_DATA + UP_X87_OUT + 8
	fistpl USER_DATA + UP_X87_OUT + 4
	fistpl USER_DATA + UP_X87_OUT
	movdqu %xmm0, USER_DATA + UP_XMM_OUT + 0x00
	movdqu %xmm1, USER_DATA + UP_XMM_OUT + 0x10
	movdqu %xmm2, USER_DATA + UP_XMM_OUT + 0x20
	movdqu %xmm3, USER_DATA + UP_XMM_OUT + 0x30
	movdqu %xmm4, USER_DATA + UP_XMM_OUT + 0x40
	movdqu %xmm5, USER_DATA + UP_XMM_OUT + 0x50
	movdqu %xmm6, USER_DATA + UP_XMM_OUT + 0x60
	movdqu %xmm7, USER_DATA + UP_XMM_OUT + 0x70
	EXIT_WITH_FAILURES

/* ---- address-spaces: the same linear address, two processes' own data ---- */
/* EBX = process index: 0 yields with int $0x80, 1 through SYSENTER. */
	.globl user_aspace_main
user_aspace_main:
	movl %ebx, %esi
	leal ASPACE_INITIAL(%esi), %edx
	EXPECT_EQ USER_DATA + UP_VALUE, %edx, 0
	leal ASPACE_MINE(%esi), %edx
	movl %edx, USER_DATA + UP_VALUE
	call aspace_yield
	leal ASPACE_MINE(%esi), %edx
	EXPECT_EQ USER_DATA + UP_VALUE, %edx, 1
	call aspace_yield
	leal ASPACE_MINE(%esi), %edx
	EXPECT_EQ USER_DATA + UP_VALUE, %edx, 2
	EXIT_WITH_FAILURES

/* ---- code-per-process: the same linear code address, each process's own
   code, across switches and a remap (INVLPG) ---- */
/* EBX = process index: 0 yields with int $0x80, 1 through SYSENTER. */
	.globl user_code_main
user_code_main:
	movl %ebx, %esi
	shll $4, %ebx
	addl $CODE_VALUE, %ebx		/* EBX = what frame 0's routine returns */
	movl $USER_CODE, %edi
	call *%edi
	EXPECT_EQ %eax, %ebx, 0
	call aspace_yield
	call *%edi
	EXPECT_EQ %eax, %ebx, 1
	call aspace_yield
	call *%edi
	EXPECT_EQ %eax, %ebx, 2
	SYSCALL SYS_REMAP
	incl %ebx			/* frame 1's routine */
	call *%edi
	EXPECT_EQ %eax, %ebx, 4
	call aspace_yield
	call *%edi
	EXPECT_EQ %eax, %ebx, 5
	EXIT_WITH_FAILURES

/* ---- inactive-tables, directory-reuse: process 1 changes process 0's
   address space while 0 waits (SYS_MIGRATE moves its data page; SYS_REUSE_PD
   writes over its directory first); 0 then sees the new page, and so does
   the kernel ---- */
/* EBX = process index | system call << 8: 0 yields with int $0x80, 1
   through SYSENTER, after making that call. */
	.globl user_migrate_main
user_migrate_main:
	movl %ebx, %esi
	andl $0xff, %esi
	shrl $8, %ebx
	testl %esi, %esi
	jnz 1f
	EXPECT_EQ USER_DATA + UP_VALUE, $MIGRATE_BEFORE, 0
	call aspace_yield
	EXPECT_EQ USER_DATA + UP_VALUE, $MIGRATE_AFTER, 1
	call aspace_yield		/* SYS_YIELD reads it too */
	EXIT_WITH_FAILURES
1:	movl %ebx, %eax
	int $0x80
	EXPECT_EQ %eax, $0, 2
	call aspace_yield
	call aspace_yield
	EXIT_WITH_FAILURES

aspace_yield:
	movl $SYS_YIELD, %eax
	testl %esi, %esi
	jnz 1f
	int $0x80
	jmp 2f
1:	call user_vsyscall
2:	EXPECT_EQ %eax, $0, 3
	ret

/*
 * shared-table: process 0 reads user_shared, yields; process 1 reads it,
 * has the kernel remap it (SYS_SHARED), yields; process 0 must read the
 * copy, yields; process 1 reads the copy, remaps it back, yields; process
 * 0 must read the original. Each read through its own address space, in a
 * table both share; each after a CR3 load since the remap.
 */
	.globl user_shared_main
user_shared_main:
	testl %ebx, %ebx
	jnz 1f
	EXPECT_EQ user_shared, $SHARED_BEFORE, 0
	SYSCALL SYS_YIELD
	EXPECT_EQ user_shared, $SHARED_AFTER, 1
	SYSCALL SYS_YIELD
	EXPECT_EQ user_shared, $SHARED_BEFORE, 2
	EXIT_WITH_FAILURES
1:	EXPECT_EQ user_shared, $SHARED_BEFORE, 0
	SYSCALL SYS_SHARED
	EXPECT_EQ %eax, $0, 3
	SYSCALL SYS_YIELD
	EXPECT_EQ user_shared, $SHARED_AFTER, 1
	SYSCALL SYS_SHARED
	SYSCALL SYS_YIELD
	EXIT_WITH_FAILURES

/* Strings the programs print: in these pages, so ring 3 can read them. */
	.globl user_hello_int80
user_hello_int80:
	.ascii "  ring 3: hello through int $0x80\n"
user_hello_int80_end:
	.globl user_hello_sysenter
user_hello_sysenter:
	.ascii "  ring 3: hello through sysenter\n"
user_hello_sysenter_end:

	/* shared-table's page (SYS_SHARED maps a copy in its place). */
	.balign 4096
	.globl user_shared
user_shared:
	.long SHARED_BEFORE

	/* The pages end here: nothing of the kernel's may share them. */
	.balign 4096
	.globl user_text_end
user_text_end:

	.section .note.GNU-stack, "", @progbits
