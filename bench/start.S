/* bench: multiboot v1 header and entry for loopguest.elf (ring 0, paging off). */

	.code32

	/*
	 * Flags 0: no module alignment, no memory map, no video; the loader
	 * takes the load address from the ELF program headers.
	 */
	.set	MB_MAGIC, 0x1badb002
	.set	MB_FLAGS, 0
	.section .multiboot, "a"
	.p2align 2
	.long	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.text
	.globl	_start
	.type	_start, @function
_start:
	/*
	 * The loader leaves EAX = 0x2badb002, EBX = multiboot info, flat
	 * CS/DS/ES/SS, IF = 0 and ESP undefined. No segment register is
	 * loaded here, so the loader's possibly invalid GDTR does not matter.
	 */
	cld
	movl	$boot_stack_top, %esp
	pushl	%ebx			/* multiboot info */
	pushl	%eax			/* multiboot magic */
	call	loopguest_main
	/* Only reached if the debug-exit port is absent: stop quietly. */
	cli
1:	hlt
	jmp	1b
	.size	_start, . - _start

	.bss
	.p2align 4
boot_stack:
	.skip	16384
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
