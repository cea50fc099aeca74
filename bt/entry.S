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
 * Offsets into struct bt_cpu and the exit codes: bt_abi.h (pinned by bt.h).
 */
#include "bt_abi.h"

#if BT_IBL_ENTRY_SIZE != 16
#error "bt_ibl scales the index by shifting it left 4"
#endif

/* The callout frame on the monitor stack (CALLOUT_ENTER's pushes). */
#define FRAME_RDX 16
#define FRAME_RCX 24
#define FRAME_RAX 32
#define FRAME_FLAGS 40

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
	mov [r15 + BT_CPU_HOST_RSP], rsp /* host_rsp: where the exits return */
	mov r11, rsi                    /* target block */
	/* The monitor's x87/SSE registers are all caller-saved (SysV ABI):
	 * only its control words must come back, and the x87 stack empty. */
	fnstcw [r15 + BT_CPU_HOST_FX + BT_FX_FCW] /* host FCW (host_fx, FXSAVE layout) */
	stmxcsr [r15 + BT_CPU_HOST_FX + BT_FX_MXCSR] /* host MXCSR */
	fxrstor [r15 + BT_CPU_GUEST_FX] /* guest x87/SSE state */
	mov eax, [r15 + BT_CPU_EFLAGS]
	and eax, BT_FL_LIVE             /* only the live arithmetic flags + DF */
	or eax, 2
	push rax
	popfq
	mov eax, [r15 + BT_CPU_EAX]
	mov ecx, [r15 + BT_CPU_ECX]
	mov edx, [r15 + BT_CPU_EDX]
	mov ebx, [r15 + BT_CPU_EBX]
	mov ebp, [r15 + BT_CPU_EBP]
	mov esi, [r15 + BT_CPU_ESI]
	mov edi, [r15 + BT_CPU_EDI]
	mov esp, [r15 + BT_CPU_ESP]     /* guest ESP; zero-extends RSP */
	jmp r11
	.size bt_enter, . - bt_enter

/*
 * Common exit: entered by jmp from exit stubs, which stored eip,
 * exit_reason and exit_site. Guest state is in registers.
 */
	.globl bt_exit_common
	.type bt_exit_common, @function
bt_exit_common:
	mov [r15 + BT_CPU_ESP], esp
	mov rsp, [r15 + BT_CPU_HOST_RSP] /* back on the monitor stack */
	pushfq
	pop qword ptr [r15 + BT_CPU_RFLAGS] /* rflags: the live guest flags */
	mov [r15 + BT_CPU_EAX], eax
	mov [r15 + BT_CPU_ECX], ecx
	mov [r15 + BT_CPU_EDX], edx
	mov [r15 + BT_CPU_EBX], ebx
	mov [r15 + BT_CPU_EBP], ebp
	mov [r15 + BT_CPU_ESI], esi
	mov [r15 + BT_CPU_EDI], edi
	/* fall through */
exit_to_monitor:
	fxsave [r15 + BT_CPU_GUEST_FX]
	fninit                          /* empty x87 stack, as the ABI wants */
	fldcw [r15 + BT_CPU_HOST_FX + BT_FX_FCW]
	ldmxcsr [r15 + BT_CPU_HOST_FX + BT_FX_MXCSR]
	cld                             /* the C ABI wants DF clear */
	mov eax, [r15 + BT_CPU_EXIT_REASON]
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
 * the signal context and rewrote the context to resume here with
 * rsp = host_rsp and r15 = cpu. Sigreturn put
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
	shl r12d, 4                     /* * BT_IBL_ENTRY_SIZE */
	and r12d, BT_IBL_INDEX_MASK
	mov r11, [r15 + BT_CPU_IBL_TABLE]
	cmp r14d, [r11 + r12]
	jne 1f
	mov r11, [r11 + r12 + 8]        /* .host */
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
	mov [r15 + BT_CPU_EIP], r14d
	mov dword ptr [r15 + BT_CPU_EXIT_REASON], BT_ABI_EXIT_LOOKUP
	mov qword ptr [r15 + BT_CPU_EXIT_SITE], 0 /* no site to chain */
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
	mov [r15 + BT_CPU_ESP], esp
	mov rsp, [r15 + BT_CPU_HOST_RSP] /* monitor stack, 16-aligned */
	pushfq
	push rax
	push rcx
	push rdx
	push rsi
	push rdi                        /* six pushes: still 16-aligned */
	movdqa [r15 + BT_CPU_XMM_SAVE + 0], xmm0
	movdqa [r15 + BT_CPU_XMM_SAVE + 16], xmm1
	movdqa [r15 + BT_CPU_XMM_SAVE + 32], xmm2
	movdqa [r15 + BT_CPU_XMM_SAVE + 48], xmm3
	movdqa [r15 + BT_CPU_XMM_SAVE + 64], xmm4
	movdqa [r15 + BT_CPU_XMM_SAVE + 80], xmm5
	movdqa [r15 + BT_CPU_XMM_SAVE + 96], xmm6
	movdqa [r15 + BT_CPU_XMM_SAVE + 112], xmm7
	cld
	mov rdi, r15
.endm

.macro CALLOUT_LEAVE
	movdqa xmm0, [r15 + BT_CPU_XMM_SAVE + 0]
	movdqa xmm1, [r15 + BT_CPU_XMM_SAVE + 16]
	movdqa xmm2, [r15 + BT_CPU_XMM_SAVE + 32]
	movdqa xmm3, [r15 + BT_CPU_XMM_SAVE + 48]
	movdqa xmm4, [r15 + BT_CPU_XMM_SAVE + 64]
	movdqa xmm5, [r15 + BT_CPU_XMM_SAVE + 80]
	movdqa xmm6, [r15 + BT_CPU_XMM_SAVE + 96]
	movdqa xmm7, [r15 + BT_CPU_XMM_SAVE + 112]
	pop rdi
	pop rsi
	pop rdx
	pop rcx
	pop rax
	popfq                           /* guest flags, DF included */
	mov esp, [r15 + BT_CPU_ESP]
	jmp [r15 + BT_CPU_CALLOUT_BACK + r12 * 8] /* no flags touched */
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
	mov esi, [r15 + BT_CPU_CALLOUT_ARG] /* port | size << 16 | out << 24 */
	mov edx, [rsp + FRAME_RAX]      /* guest EAX */
	call bt_port_callout            /* new guest EAX; bit 32: refused */
	mov [rsp + FRAME_RAX], eax
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
	mov esi, [r15 + BT_CPU_CALLOUT_ADDR] /* linear address */
	mov edx, [r15 + BT_CPU_CALLOUT_ARG] /* value */
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
	mov esi, [r15 + BT_CPU_CALLOUT_ARG] /* enum bt_transition | vector << 8 */
	mov edx, [rsp + FRAME_RCX]      /* guest ECX */
	mov ecx, [rsp + FRAME_RDX]      /* guest EDX */
	lea r8, [rsp + FRAME_FLAGS]     /* guest flags, for popfq */
	call bt_sys_callout
	mov r12d, eax
	CALLOUT_LEAVE
	.size bt_callout_sys, . - bt_callout_sys

/* A transition done, with the run loop to look before its target runs:
 * leave translated code with EIP as the callout left it. */
	.globl bt_callout_runloop
	.type bt_callout_runloop, @function
bt_callout_runloop:
	mov dword ptr [r15 + BT_CPU_EXIT_REASON], BT_ABI_EXIT_RUNLOOP
	mov qword ptr [r15 + BT_CPU_EXIT_SITE], 0
	jmp bt_exit_common
	.size bt_callout_runloop, . - bt_callout_runloop

/* A callout refused (I/O not allowed at this CPL; a store or a transition
 * the monitor will not do inline): leave translated code with the
 * instruction to be emulated (which raises the guest's #GP for the I/O). */
	.globl bt_callout_refused
	.type bt_callout_refused, @function
bt_callout_refused:
	mov r11d, [r15 + BT_CPU_CALLOUT_EIP]
	mov [r15 + BT_CPU_EIP], r11d
	mov dword ptr [r15 + BT_CPU_EXIT_REASON], BT_ABI_EXIT_EMULATE
	mov qword ptr [r15 + BT_CPU_EXIT_SITE], 0
	jmp bt_exit_common
	.size bt_callout_refused, . - bt_callout_refused

	.section .note.GNU-stack, "", @progbits
