/* bench: the timed loop bodies, shared by the guest and the native host program. */

/*
 * Both functions are cdecl and preserve EBX/ESI/EDI/EBP. The same object
 * code runs natively (loopnative) and as guest ring-0 code (loopguest.elf),
 * so any difference in time is the cost of the runner, not of the code.
 *
 * Each returns a value that depends on every iteration, so neither a
 * runner nor a reader can mistake a skipped iteration for a fast one. The
 * bodies use the shapes compilers emit: a counter decremented with `dec`
 * (opcode 0x49, a REX prefix in 64-bit mode, so the translator must
 * rewrite it), a backward `jnz`, base+index*scale addressing, a push/pop
 * pair like a spill around a call.
 */

	.code32
	.text

/*
 * Both bodies keep their loop-carried dependency chains short (one or two
 * 1-cycle ops per iteration), so native time is set by instruction
 * throughput, not by one long latency chain: a runner's extra host
 * instructions then show up in the time instead of hiding in the shadow
 * of a stall.
 */

/*
 * uint32_t loop_reg(uint32_t iters)
 *
 * Registers only: imul, rol, xor, lea, add, xor, then the counter. The
 * imul reads only the counter, which keeps its 3-cycle latency off the
 * carried chains (a: lea; b: add, xor; c: rol, xor).
 */
	.globl	loop_reg
	.type	loop_reg, @function
	.p2align 4
loop_reg:
	pushl	%ebx
	pushl	%esi
	pushl	%edi
	movl	16(%esp), %ecx		/* iters (3 saved registers + return) */
	movl	$0x12345678, %eax	/* a */
	movl	$0x9abcdef0, %edx	/* b */
	movl	$1, %esi		/* c */
	testl	%ecx, %ecx
	jz	2f
	.p2align 4
1:	imull	$0x2545f491, %ecx, %edi	/* t = i * K */
	roll	$5, %esi		/* c = rol(c, 5) ^ a */
	xorl	%eax, %esi
	leal	3(%eax,%edx,2), %eax	/* a = a + 2b + 3 */
	addl	%edi, %edx		/* b = (b + t) ^ c */
	xorl	%esi, %edx
	decl	%ecx
	jnz	1b
2:	xorl	%edx, %eax
	xorl	%esi, %eax
	popl	%edi
	popl	%esi
	popl	%ebx
	ret
	.size	loop_reg, . - loop_reg

/*
 * uint32_t loop_mem(uint32_t iters, uint32_t *buf)
 *
 * Loads and stores: a read-modify-write of buf[i & 63] (i counts down, so
 * each word was last stored 64 iterations earlier and no store-to-load
 * forwarding chain forms), and a push/pop of the loaded value, as a spill
 * around a call would do. `buf` must hold LOOP_MEM_WORDS (64) words; its
 * content is part of the state, so callers start from an all-zero buffer
 * to get comparable results.
 */
	.globl	loop_mem
	.type	loop_mem, @function
	.p2align 4
loop_mem:
	pushl	%ebx
	pushl	%esi
	pushl	%edi
	movl	16(%esp), %ecx		/* iters */
	movl	20(%esp), %esi		/* buf */
	movl	$0x9e3779b9, %eax	/* a */
	testl	%ecx, %ecx
	jz	2f
	.p2align 4
1:	movl	%ecx, %ebx
	andl	$63, %ebx
	movl	(%esi,%ebx,4), %edx	/* x = buf[i & 63] */
	pushl	%edx			/* spill x */
	addl	%eax, %edx		/* y = x + a */
	roll	$3, %eax		/* a = rol(a, 3) ^ y */
	xorl	%edx, %eax
	popl	%edi			/* reload x */
	leal	1(%edi,%edx), %edi
	movl	%edi, (%esi,%ebx,4)	/* buf[i & 63] = x + y + 1 */
	decl	%ecx
	jnz	1b
2:	popl	%edi
	popl	%esi
	popl	%ebx
	ret
	.size	loop_mem, . - loop_mem

/*
 * uint32_t loop_spill(uint32_t iters, uint32_t *buf)
 *
 * A store-to-load chain through memory, as register-starved code makes:
 * a read-modify-write of buf[7] and a load of what it stored, then a
 * spill of the result and an add that reloads it before the pop. Here the
 * CPU must hand each store to the next load, so the time shows what a
 * runner adds to that hand-off (a stack pointer that moves between the
 * push and the reload, a segment base, an address-size override) rather
 * than to the instruction count. `buf` must hold LOOP_MEM_WORDS words;
 * callers start from an all-zero buffer.
 */
	.globl	loop_spill
	.type	loop_spill, @function
	.p2align 4
loop_spill:
	pushl	%ebx
	pushl	%esi
	pushl	%edi
	movl	16(%esp), %ecx		/* iters */
	movl	20(%esp), %esi		/* buf */
	movl	$0x9e3779b9, %eax
	xorl	%ebx, %ebx
	movl	$7, %edi
	testl	%ecx, %ecx
	jz	2f
	.p2align 4
1:	addl	%eax, (%esi,%edi,4)	/* buf[7] += a */
	xorl	(%esi,%edi,4), %ebx	/* b ^= buf[7] */
	pushl	%ebx			/* spill b */
	addl	(%esp), %eax		/* a += b (reloaded) */
	popl	%ebx
	decl	%ecx
	jnz	1b
2:	xorl	%ebx, %eax
	xorl	(%esi,%edi,4), %eax
	popl	%edi
	popl	%esi
	popl	%ebx
	ret
	.size	loop_spill, . - loop_spill

	/* No executable stack for the native link. */
	.section .note.GNU-stack, "", @progbits
