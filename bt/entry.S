/* bt: entry into the translation cache, the exits back, and the indirect-branch lookup. */
/*
 * Register contract while translated code runs (the emitters rely on it):
 *   eax..edi  guest EAX..EDI (host registers 0..7, upper halves ignored)
 *   rsp       guest ESP, zero-extended (points into the S-view!)
 *   rflags    guest CF PF AF ZF SF DF OF; host IF/AC/TF are the host's
 *   r15       struct bt_cpu *
 *   r11..r14  scratch of the emitted code and of the routines below
 *   fs base     the monitor's (TLS) at all times: guest FS/GS-relative
 *               accesses compute their address inline (emit_fsgs_address)
 *   gs base     the current view's window (bt_cpu.view_base); the monitor
 *               sets it before entering (the C code never uses GS)
 *   x87/SSE   the guest's
 * Offsets into struct bt_cpu are pinned in bt.h.
 */
	.intel_syntax noprefix
	.text

/* enum bt_exit bt_enter(struct bt_cpu *cpu, const void *host_pc) */
	.globl bt_enter
	.type bt_enter, @function
bt_enter:
	push rbp
	push rbx
	push r12
	push r13
	push r14
	push r15
	sub rsp, 8                      /* keep the host stack 16-aligned */
	mov r15, rdi                    /* r15 = cpu for all translated code */
	mov [r15 + 0x28], rsp           /* host_rsp: where the exits return */
	mov r11, rsi                    /* target block */
	/* The monitor's x87/SSE registers are all caller-saved (SysV ABI):
	 * only its control words must come back, and the x87 stack empty. */
	fnstcw [r15 + 0x300]            /* host FCW (host_fx, FXSAVE layout) */
	stmxcsr [r15 + 0x318]           /* host MXCSR */
	fxrstor [r15 + 0x100]           /* guest x87/SSE state */
	mov eax, [r15 + 0x24]
	and eax, 0xcd5                  /* only the live arithmetic flags + DF */
	or eax, 2
	push rax
	popfq
	mov eax, [r15 + 0x00]
	mov ecx, [r15 + 0x04]
	mov edx, [r15 + 0x08]
	mov ebx, [r15 + 0x0c]
	mov ebp, [r15 + 0x14]
	mov esi, [r15 + 0x18]
	mov edi, [r15 + 0x1c]
	mov esp, [r15 + 0x10]           /* guest ESP; zero-extends RSP */
	jmp r11
	.size bt_enter, . - bt_enter

/*
 * Common exit: entered by jmp from exit stubs, which stored eip,
 * exit_reason and exit_site. Guest state is in registers.
 */
	.globl bt_exit_common
	.type bt_exit_common, @function
bt_exit_common:
	mov [r15 + 0x10], esp
	mov rsp, [r15 + 0x28]           /* back on the monitor stack */
	pushfq
	pop qword ptr [r15 + 0x78]      /* rflags: the live guest flags */
	mov [r15 + 0x00], eax
	mov [r15 + 0x04], ecx
	mov [r15 + 0x08], edx
	mov [r15 + 0x0c], ebx
	mov [r15 + 0x14], ebp
	mov [r15 + 0x18], esi
	mov [r15 + 0x1c], edi
	/* fall through */
exit_to_monitor:
	fxsave [r15 + 0x100]
	fninit                          /* empty x87 stack, as the ABI wants */
	fldcw [r15 + 0x300]
	ldmxcsr [r15 + 0x318]
	cld                             /* the C ABI wants DF clear */
	mov eax, [r15 + 0x48]
	add rsp, 8
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
	.size bt_exit_common, . - bt_exit_common

/*
 * Exit from a host signal handler: the handler stored the guest state from
 * the signal context, set the FS base back to the monitor's, and rewrote the
 * context to resume here with rsp = host_rsp and r15 = cpu. Sigreturn put
 * the guest's x87/SSE state back, so it is saved here as usual.
 */
	.globl bt_exit_from_signal
	.type bt_exit_from_signal, @function
bt_exit_from_signal:
	jmp exit_to_monitor
	.size bt_exit_from_signal, . - bt_exit_from_signal

/*
 * Indirect-branch lookup: r14d = guest target EIP. A direct-mapped table of
 * 65536 entries {u32 eip, u32 pad, u64 host} indexed by the low 16 bits of
 * the EIP. Guest flags must survive: OF goes through seto/add, the other
 * arithmetic flags through lahf/sahf; DF is untouched.
 */
	.globl bt_ibl
	.type bt_ibl, @function
bt_ibl:
	mov r13, rax
	lahf
	seto al
	mov r12d, r14d
	shl r12d, 4
	and r12d, 0xffff0
	mov r11, [r15 + 0x68]
	cmp r14d, [r11 + r12]
	jne 1f
	mov r11, [r11 + r12 + 8]
	add al, 0x7f                    /* OF = (al == 1) */
	sahf
	mov rax, r13
	jmp r11
1:	add al, 0x7f
	sahf
	mov rax, r13
	/* Empty table entries point here too, so a guest EIP that equals the
	 * empty marker still ends up in the monitor. */
	.globl bt_ibl_miss
bt_ibl_miss:
	mov [r15 + 0x20], r14d          /* eip */
	mov dword ptr [r15 + 0x48], 1   /* BT_EXIT_LOOKUP */
	mov qword ptr [r15 + 0x50], 0   /* no site to chain */
	jmp bt_exit_common
	.size bt_ibl, . - bt_ibl

/*
 * The frame of an inline callout: guest ESP, flags and the registers a C
 * handler may clobber saved on the monitor stack, XMM0-7 (all a 32-bit
 * guest can name) in the register block; RDI = the bt_cpu for the
 * handler. CALLOUT_LEAVE restores them and jumps to callout_back[r12]
 * (0: back into the block, 1: bt_callout_refused).
 */
.macro CALLOUT_ENTER
	mov [r15 + 0x10], esp           /* guest ESP */
	mov rsp, [r15 + 0x28]           /* monitor stack, 16-aligned */
	pushfq
	push rax
	push rcx
	push rdx
	push rsi
	push rdi                        /* six pushes: still 16-aligned */
	movdqa [r15 + 0x500], xmm0
	movdqa [r15 + 0x510], xmm1
	movdqa [r15 + 0x520], xmm2
	movdqa [r15 + 0x530], xmm3
	movdqa [r15 + 0x540], xmm4
	movdqa [r15 + 0x550], xmm5
	movdqa [r15 + 0x560], xmm6
	movdqa [r15 + 0x570], xmm7
	cld
	mov rdi, r15
.endm

.macro CALLOUT_LEAVE
	movdqa xmm0, [r15 + 0x500]
	movdqa xmm1, [r15 + 0x510]
	movdqa xmm2, [r15 + 0x520]
	movdqa xmm3, [r15 + 0x530]
	movdqa xmm4, [r15 + 0x540]
	movdqa xmm5, [r15 + 0x550]
	movdqa xmm6, [r15 + 0x560]
	movdqa xmm7, [r15 + 0x570]
	pop rdi
	pop rsi
	pop rdx
	pop rcx
	pop rax
	popfq                           /* guest flags, DF included */
	mov esp, [r15 + 0x10]
	jmp [r15 + 0xb0 + r12 * 8]      /* no flags touched */
.endm

/*
 * Inline port callout: translated code stored callout_arg, callout_eip and
 * callout_back[0]
 * and jumped here (guest state live in registers). Run the C handler on
 * the monitor stack with the monitor's FS base, keep guest flags and
 * registers, merge the handler's result into EAX, and jump back.
 *   NB: the C handler may use XMM registers (libc may): XMM0-7, all a
 *   32-bit guest can name, are saved around the call. x87 state and MXCSR
 *   are not touched by the handlers (integer code).
 */
	.globl bt_callout_port
	.type bt_callout_port, @function
bt_callout_port:
	CALLOUT_ENTER
	mov esi, [r15 + 0x98]           /* port | size << 16 | out << 24 */
	mov edx, [rsp + 32]             /* guest EAX */
	call bt_port_callout            /* new guest EAX; bit 32: refused */
	mov [rsp + 32], eax
	shr rax, 32
	mov r12, rax                    /* 0: back into the block, 1: exit */
	CALLOUT_LEAVE
	.size bt_callout_port, . - bt_callout_port

/*
 * Inline page-table store: translated code stored callout_addr,
 * callout_arg (the value), callout_eip and callout_back[0] and jumped
 * here. The handler returns 0 (done: back into the block) or 1 (refused:
 * the instruction is emulated).
 */
	.globl bt_callout_store
	.type bt_callout_store, @function
bt_callout_store:
	CALLOUT_ENTER
	mov esi, [r15 + 0x30]           /* linear address */
	mov edx, [r15 + 0x98]           /* value */
	call bt_store_callout
	mov r12d, eax                   /* 0: back into the block, 1: exit */
	CALLOUT_LEAVE
	.size bt_callout_store, . - bt_callout_store

/*
 * Inline SYSENTER or INT n (from a U block), SYSEXIT or IRETD (from an S
 * block): translated code stored callout_arg (enum bt_transition | vector
 * << 8), callout_eip and callout_back[0]. The handler switches the virtual
 * CPU (and the kind of blocks, with their indirect-branch table) and
 * leaves the target in bt_cpu: EIP, ESP in gpr[ESP], which CALLOUT_LEAVE
 * loads, and the live flags in the frame, which it pops. Back in the
 * block, the lookup goes to the target (or bt_callout_runloop, if the
 * handler put it in callout_back[0]); or 1: refused, emulated.
 */
	.globl bt_callout_sys
	.type bt_callout_sys, @function
bt_callout_sys:
	CALLOUT_ENTER
	mov esi, [r15 + 0x98]           /* enum bt_transition | vector << 8 */
	mov edx, [rsp + 24]             /* guest ECX */
	mov ecx, [rsp + 16]             /* guest EDX */
	lea r8, [rsp + 40]              /* guest flags, for popfq */
	call bt_sys_callout
	mov r12d, eax
	CALLOUT_LEAVE
	.size bt_callout_sys, . - bt_callout_sys

/* A transition done, with the run loop to look before its target runs:
 * leave translated code with EIP as the callout left it. */
	.globl bt_callout_runloop
	.type bt_callout_runloop, @function
bt_callout_runloop:
	mov dword ptr [r15 + 0x48], 8   /* BT_EXIT_RUNLOOP */
	mov qword ptr [r15 + 0x50], 0
	jmp bt_exit_common
	.size bt_callout_runloop, . - bt_callout_runloop

/* The callout refused (I/O not allowed at this CPL): leave translated code
 * with the instruction to be emulated, which raises the guest's #GP. */
	.globl bt_callout_refused
	.type bt_callout_refused, @function
bt_callout_refused:
	mov r11d, [r15 + 0xc0]
	mov [r15 + 0x20], r11d          /* eip */
	mov dword ptr [r15 + 0x48], 2   /* BT_EXIT_EMULATE */
	mov qword ptr [r15 + 0x50], 0
	jmp bt_exit_common
	.size bt_callout_refused, . - bt_callout_refused

	.section .note.GNU-stack, "", @progbits
