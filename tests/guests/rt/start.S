/* Test-guest entry: multiboot v1 header, flat GDT, stack, IDT stubs, call guest_main. */

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x3		/* bit 0: page-align modules, bit 1: memory info */
#define STACK_SIZE	16384

/* The header lives in its own input section, which link.ld places first. */
	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
	.type _start, @function
_start:
	/* eax = multiboot magic, ebx = info pointer: keep them in callee-saved
	   registers because everything below runs before the C code. */
	cli
	cld
	movl %eax, %esi
	movl %ebx, %edi

	/* The loader's GDT is not ours to keep: QEMU's lives in low memory
	   that nothing reserves. */
	lgdt rt_gdtr
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $rt_stack_top, %esp
	xorl %ebp, %ebp

	/* Entry in C: checks the loader zeroed .bss, then builds the IDT from
	   rt_stub_table and sets up the serial port. */
	call rt_init

	/* The i386 ABI wants ESP 16-byte aligned at each call: the fpu guest's
	   SSE spills (movdqa) fault otherwise. rt_stack_top is aligned. */
	subl $8, %esp
	pushl %edi		/* mb_info */
	pushl %esi		/* mb_magic */
	call guest_main
	addl $16, %esp
	call rt_main_returned	/* prints the verdict and exits; never returns */
2:	cli
	hlt
	jmp 2b
	.size _start, . - _start

/*
 * Exception stubs. Each builds a struct rt_frame (see rt.h) on the stack:
 * [error code] vector, then pushal. The CPU pushes an error code only for
 * vectors 8, 10-14, 17, 21, 29, 30; the others push a dummy 0 so the frame
 * has one layout.
 */
.macro STUB vec, has_error
	.balign 16
rt_stub_\vec:
	.if \has_error == 0
	pushl $0
	.endif
	pushl $\vec
	jmp rt_stub_common
.endm

	STUB 0, 0
	STUB 1, 0
	STUB 2, 0
	STUB 3, 0
	STUB 4, 0
	STUB 5, 0
	STUB 6, 0
	STUB 7, 0
	STUB 8, 1
	STUB 9, 0
	STUB 10, 1
	STUB 11, 1
	STUB 12, 1
	STUB 13, 1
	STUB 14, 1
	STUB 15, 0
	STUB 16, 0
	STUB 17, 1
	STUB 18, 0
	STUB 19, 0
	STUB 20, 0
	STUB 21, 1
	STUB 22, 0
	STUB 23, 0
	STUB 24, 0
	STUB 25, 0
	STUB 26, 0
	STUB 27, 0
	STUB 28, 0
	STUB 29, 1
	STUB 30, 1
	STUB 31, 0
	STUB 128, 0

rt_stub_common:
	pushal
	cld			/* the C dispatcher assumes DF=0; iret restores it */
	movl %esp, %ebp		/* ebp = struct rt_frame *, restored by popal */
	andl $-16, %esp		/* the fpu guest's hooks may use SSE spills */
	subl $12, %esp
	pushl %ebp
	call rt_exception_dispatch
	movl %ebp, %esp
	popal
	addl $8, %esp		/* vector and error code */
	iret

/* Vector -> stub, read by rt_init to fill the IDT. */
	.section .rodata
	.balign 4
	.globl rt_stub_table
rt_stub_table:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.long rt_stub_\v
	.endr
	.globl rt_stub_int80
rt_stub_int80:
	.long rt_stub_128

	.data
	.balign 8
rt_gdtr:
	.word 16 * 8 - 1
	.long rt_gdt

	.bss
	.balign 16
	.globl rt_stack_bottom
rt_stack_bottom:
	.skip STACK_SIZE
rt_stack_top:

	.section .note.GNU-stack, "", @progbits
