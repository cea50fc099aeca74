/* Usermode guest: kernel entry and exit for traps from ring 0 or 3, SYSENTER/SYSEXIT, and the ring-3 entry/return-to-kernel pair. */
#include "usermode.h"

/*
 * Every entry builds a struct trap_frame (usermode.h) and calls
 * trap_dispatch with it. From ring 3 the CPU has already switched to
 * TSS.SS0:ESP0 and pushed SS, ESP, EFLAGS, CS, EIP; DS and ES still hold
 * the user's selector (DPL 3), which the kernel replaces with its own, as a
 * real kernel does, and puts back on the way out. FS and GS are saved and
 * restored but not changed: the kernel does not use them.
 */

.macro TRAP vec, has_error
	.balign 16
trap_stub_\vec:
	.if \has_error == 0
	pushl $0			/* one frame layout for every vector */
	.endif
	pushl $\vec
	jmp trap_common
.endm

	.text
	TRAP 0, 0
	TRAP 1, 0
	TRAP 2, 0
	TRAP 3, 0
	TRAP 4, 0
	TRAP 5, 0
	TRAP 6, 0
	TRAP 7, 0
	TRAP 8, 1
	TRAP 9, 0
	TRAP 10, 1
	TRAP 11, 1
	TRAP 12, 1
	TRAP 13, 1
	TRAP 14, 1
	TRAP 15, 0
	TRAP 16, 0
	TRAP 17, 1
	TRAP 18, 0
	TRAP 19, 0
	TRAP 20, 0
	TRAP 21, 1
	TRAP 22, 0
	TRAP 23, 0
	TRAP 24, 0
	TRAP 25, 0
	TRAP 26, 0
	TRAP 27, 0
	TRAP 28, 0
	TRAP 29, 1
	TRAP 30, 1
	TRAP 31, 0
	/* IRQ 0..15 at vectors 32..47 */
	.if IRQ_BASE != 32
	.error "the IRQ stubs below assume IRQ_BASE == 32"
	.endif
	.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	TRAP \v, 0
	.endr

	.balign 16
	.globl trap_stub_syscall
trap_stub_syscall:
	pushl $0
	pushl $VEC_SYSCALL
	/* fall through */

trap_common:
	pushal
	pushl %ds
	pushl %es
	pushl %fs
	pushl %gs
	movw $KERNEL_DS, %ax		/* eax is saved: free until popal */
	movw %ax, %ds
	movw %ax, %es
	cld				/* the C code assumes DF=0; iret restores the user's */
	pushl %esp			/* struct trap_frame * */
	call trap_dispatch
	addl $4, %esp
	/* fall through: the frame may have been rewritten (a process switch)
	   but it is still here */

	.globl trap_return
trap_return:
	popl %gs
	popl %fs
	popl %es
	popl %ds
	popal
	addl $8, %esp			/* vector and error code */
	iret

/*
 * SYSENTER from the user's vsyscall stub (usermode_user.S), Linux's
 * convention: the stub saved ECX, EDX and EBP on the user stack and put
 * the user ESP in EBP; the return EIP is the fixed user_vsyscall_return.
 * The CPU loaded CS = KERNEL_CS, SS = KERNEL_DS, ESP = SYSENTER_ESP (the
 * top of this process's kernel stack) and cleared IF. Push what int $0x80
 * would have, so that trap_dispatch sees one frame format.
 */
	.balign 16
	.globl sysenter_entry
sysenter_entry:
	pushl $USER_DS			/* user SS */
	pushl %ebp			/* user ESP */
	pushfl
	orl $EFL_IF, (%esp)		/* the user ran with IF=1; SYSENTER cleared it */
	pushl $USER_CS
	pushl $user_vsyscall_return	/* user EIP */
	pushl $0
	pushl $VEC_SYSENTER
	pushal
	pushl %ds
	pushl %es
	pushl %fs
	pushl %gs
	movw $KERNEL_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	cld
	pushl %esp
	call trap_dispatch
	addl $4, %esp
	testl %eax, %eax
	jz trap_return			/* another process's frame: only IRET restores all of it */

	popl %gs
	popl %fs
	popl %es			/* the user's DS and ES: still usable at CPL 0 */
	popl %ds
	popal				/* eax = the system call's result */
	addl $8, %esp
	/* Now (%esp) = EIP, 4 = CS, 8 = EFLAGS, 12 = user ESP, 16 = SS.
	   SYSEXIT takes EIP from EDX and ESP from ECX: the vsyscall stub
	   restores the user's ECX and EDX from its stack. */
	movl (%esp), %edx
	movl 12(%esp), %ecx
	pushl 8(%esp)
	andl $~EFL_IF, (%esp)		/* the user's flags, but not IF yet */
	popfl
	sti				/* its shadow covers SYSEXIT: no interrupt in between */
	sysexit

/*
 * void kernel_enter_user(struct trap_frame *frame)
 * Called with IF=0; the frame holds the ring-3 state, TSS.ESP0 points just
 * above it.
 */
	.globl kernel_enter_user
kernel_enter_user:
	pushl %ebp
	pushl %ebx
	pushl %esi
	pushl %edi
	movl %esp, kernel_saved_esp
	movl 20(%esp), %esp		/* the frame */
	jmp trap_return

/* void kernel_resume(void): back into kernel_enter_user's caller, from any
   kernel stack; what is on that stack is dropped. */
	.globl kernel_resume
kernel_resume:
	cli
	movl kernel_saved_esp, %esp
	movw $KERNEL_DS, %ax		/* FS and GS still hold the user's selector */
	movw %ax, %fs
	movw %ax, %gs
	popl %edi
	popl %esi
	popl %ebx
	popl %ebp
	ret

/* Vector -> stub, read by kernel_init to fill the IDT. */
	.section .rodata
	.balign 4
	.globl trap_stubs
trap_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.long trap_stub_\v
	.endr
	.irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
	.long trap_stub_\v
	.endr

	.bss
	.balign 4
kernel_saved_esp:
	.skip 4

	.section .note.GNU-stack, "", @progbits
