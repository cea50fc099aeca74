/* CLI test guest that ends its run one way: -DEND_TRIPLE_FAULT, -DEND_HALT, -DEND_RESET (also _PORT92, _CF9), -DEND_UNSUPPORTED. */

/*
 * Deliberately independent of tests/guests/rt: it must end the way its name
 * says even if the runtime is broken, and it needs no serial output.
 * Entered by the multiboot loader at CPL 0, paging off, interrupts off.
 */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0

	.text
	/* First thing in .text, so within the file's first 8 KiB. */
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.globl _start
_start:
	cli
#if defined(END_TRIPLE_FAULT)
	/* With an IDT limit of 0 no vector can be delivered: #UD becomes #GP,
	   then #DF, then a triple fault (shutdown). */
	lidt empty_idtr
	ud2
#elif defined(END_SPIN)
	/* Spin forever in translated code: only a host signal ends the run,
	   through the poll page that stops translated code. */
2:	addl $1, %eax
	jmp 2b
#elif defined(END_UNSUPPORTED)
	/* An x87 load with 16-bit addressing: neither translated nor
	   emulated (docs/fidelity.md): exit 8 with one line, not a crash. */
	movl $0x9000, %ebx
	addr16 flds (%bx)
#elif defined(END_HALT)
	/* Nothing can wake the CPU: IF=0 and no NMI source. */
#elif defined(END_RESET)
	/* i8042 command 0xfe pulses the CPU reset line. */
	movb $0xfe, %al
	outb %al, $0x64
#elif defined(END_RESET_PORT92)
	/* System control port A: bit 0 from 0 to 1 resets (fast reset). */
	movb $0x01, %al
	outb %al, $0x92
#elif defined(END_RESET_CF9)
	/* The PIIX reset control register, the FADT's reset register: 6 is
	   a hard reset. */
	movb $0x06, %al
	movw $0xcf9, %dx
	outb %al, %dx
	/* Still here: the reset was ignored, fall into the halt below so the
	   test sees "halted" rather than a hang. */
#else
#error "define END_TRIPLE_FAULT, END_SPIN, END_HALT, END_RESET, END_RESET_PORT92, END_RESET_CF9 or END_UNSUPPORTED"
#endif
1:	hlt
	jmp 1b

	.balign 8
empty_idtr:
	.word 0
	.long 0

	.section .note.GNU-stack, "", @progbits
