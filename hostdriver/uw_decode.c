/* hostdriver: what a user-world trap means, on either host vendor's path. */
/*
 * Guest ring-3 code runs in compatibility mode, where the host CPU's
 * vendor decides what the fast system-call instructions do (Intel SDM
 * vol. 2B, SYSENTER/SYSCALL/SYSEXIT/SYSRET; AMD APM vol. 3, same):
 *
 *   instruction  Intel, compat mode           AMD, compat mode
 *   SYSENTER     host's 32-bit entry: SIGSYS  #UD: SIGILL at 0F 34
 *                (or SIGSEGV at its landing
 *                pad when [EBP] is unreadable)
 *   SYSCALL      #UD: SIGILL at 0F 05         host's 32-bit entry: SIGSYS
 *   SYSEXIT      #GP(0) (CPL 3): SIGSEGV      #UD: SIGILL
 *   SYSRET       #UD: SIGILL                  #GP(0) (CPL 3): SIGSEGV
 *
 * None of them may become a host system call (the stub's seccomp filter
 * traps every i386 one) or reach the guest as the host raised it: the
 * guest gets what its virtual CPU promises (SEP, no SYSCALL), identically
 * on both vendors. hd_uw_decode turns each shape into one event and names
 * the instruction; the monitor then runs that instruction as its
 * emulator does for translated code.
 *
 * Register state after the host's entry paths (Linux entry_64_compat.S,
 * do_fast_syscall_32; the seccomp trap rolls EAX back to the number):
 *   SYSENTER: RSP holds the guest's EBP (the entry stashes it there), RBP
 *     was reloaded from [EBP]; ESP and EIP are gone (SYSENTER keeps
 *     neither: the guest's do not matter).
 *   SYSCALL:  RCX holds the guest's EBP, RBP was reloaded from [ESP], RIP
 *     is the next instruction, CS the host's 0x23; the CPU itself
 *     overwrote ECX with that return address, so the guest's ECX is lost
 *     (the #UD it gets shows ECX = the return address). If [ESP] is
 *     unreadable the host returns -EFAULT in EAX without any signal: the
 *     one shape no user-mode VMM can see (README: Host requirements).
 * Everything here is untrusted input from the stub's process.
 */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <signal.h>
#include <string.h>

#include "hostdriver.h"

#define HOST_USER32_CS 0x23 /* the host's compat-mode user code selector */

/* Legacy prefixes that may stand before a two-byte opcode. */
static bool is_prefix(uint8_t b)
{
	switch (b) {
	case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
	case 0x66: case 0x67: case 0xf0: case 0xf2: case 0xf3:
		return true;
	default:
		return false;
	}
}

static enum hd_uw_insn insn_of(uint8_t op2)
{
	switch (op2) {
	case 0x05: return HD_UW_INSN_SYSCALL;
	case 0x07: return HD_UW_INSN_SYSRET;
	case 0x34: return HD_UW_INSN_SYSENTER;
	case 0x35: return HD_UW_INSN_SYSEXIT;
	default: return HD_UW_INSN_OTHER;
	}
}

/* Which fast system-call instruction starts at eip, if any. */
static enum hd_uw_insn insn_at(uint32_t eip, hd_code_reader *read, void *ctx)
{
	uint8_t b = 0;
	for (unsigned i = 0; i < 14; i++) {
		if (!read(ctx, eip + i, &b, 1))
			return HD_UW_INSN_OTHER;
		if (is_prefix(b))
			continue;
		if (b != 0x0f || !read(ctx, eip + i + 1, &b, 1))
			return HD_UW_INSN_OTHER;
		return insn_of(b);
	}
	return HD_UW_INSN_OTHER;
}

/* Guest code left its code segment for 64-bit (or other) code: its
 * registers mean nothing; the selector goes in the report. */
static enum hd_uw_result escaped(const struct uw_trap *t, struct hd_uw_event *ev)
{
	ev->syscall_nr = t->cs;
	return HD_UW_ESCAPE;
}

enum hd_uw_result hd_uw_decode(const struct uw_trap *t, struct uw_regs *regs,
			       struct hd_uw_event *ev, hd_code_reader *read, void *ctx)
{
	ev->trapno = t->trapno;
	ev->err = t->err;
	ev->addr = (uint32_t)t->addr;
	ev->syscall_nr = 0;
	ev->insn = HD_UW_INSN_OTHER;
	/* Any other code selector than ours, but for the host's entry
	 * paths below, is an escape. */
	bool ours = t->cs == UW_SEL_CODE;
	/* In the 32-bit segment RIP has no high half, and R8-R15 (but R11)
	 * stay 0: otherwise code ran in 64-bit mode and came back
	 * (uw_shared.h). */
	if (ours && ((t->rip >> 32) || t->wide))
		return HD_UW_FORGED;

	/* Sent by a process (kill, tgkill), not raised by guest code: a
	 * host event, never a guest exception. (SIGUSR1 is the monitor's
	 * preemption; an outsider's is one more, which is harmless.) In
	 * another code segment it is an escape all the same. */
	if (t->sent && t->sig != SIGUSR1) {
		if (!ours)
			return escaped(t, ev);
		ev->trapno = t->sig;
		ev->addr = t->pid;
		return HD_UW_EXTERNAL;
	}

	switch (t->sig) {
	case SIGSYS:
		if (t->arch != AUDIT_ARCH_I386)
			return escaped(t, ev);
		ev->syscall_nr = t->nr;
		if (t->call_addr >> 32) {
			/* Intel's SYSENTER: the host reports its own return
			 * point, above the guest's 4 GiB, and its compat CS
			 * (the entry path pushes it). */
			if (t->cs != HOST_USER32_CS)
				return escaped(t, ev);
			ev->insn = HD_UW_INSN_SYSENTER;
			regs->gpr[5] = (uint32_t)t->rsp;
			return HD_UW_SYSCALL;
		}
		uint8_t before[2] = { 0, 0 };
		uint32_t next = (uint32_t)t->rip;
		if (t->cs == HOST_USER32_CS && !(t->rip >> 32) && next >= 2 &&
		    read(ctx, next - 2, before, 2) && before[0] == 0x0f && before[1] == 0x05) {
			/* AMD's SYSCALL (the frame shows the host's compat CS,
			 * which the entry path pushes): back to the
			 * instruction, with the registers the entry moved
			 * put back. */
			ev->insn = HD_UW_INSN_SYSCALL;
			regs->gpr[5] = (uint32_t)t->rcx; /* EBP */
			regs->gpr[1] = next;             /* ECX, as the CPU left it */
			regs->eip = next - 2;
			return HD_UW_SYSCALL;
		}
		if (!ours)
			return escaped(t, ev);
		/* int $0x80 (CD 80): EIP is past it. */
		ev->insn = HD_UW_INSN_INT80;
		return HD_UW_SYSCALL;
	case SIGSEGV:
	case SIGBUS:
		/*
		 * Intel's SYSENTER with [EBP] unreadable: the host skipped the
		 * call and returned to its landing pad, which compat mode
		 * cannot reach: a fetch fault at that address in the host's
		 * 32-bit code segment. The guest's SYSENTER has happened.
		 */
		if (t->cs == HOST_USER32_CS && t->trapno == EXC_PF && t->addr == t->rip) {
			ev->insn = HD_UW_INSN_SYSENTER;
			ev->syscall_nr = regs->gpr[0];
			regs->gpr[5] = (uint32_t)t->rsp;
			return HD_UW_SYSCALL;
		}
		if (!ours)
			return escaped(t, ev);
		/* #GP(0): SYSEXIT on Intel, SYSRET on AMD (and privileged
		 * instructions, which are no fast system call). */
		if (t->trapno == EXC_GP && t->err == 0)
			ev->insn = insn_at(regs->eip, read, ctx);
		return HD_UW_FAULT;
	case SIGILL:
		if (!ours)
			return escaped(t, ev);
		ev->insn = insn_at(regs->eip, read, ctx);
		if (ev->insn == HD_UW_INSN_SYSENTER) {
			/* AMD's SYSENTER: nothing happened yet, all registers
			 * are the guest's. */
			ev->syscall_nr = regs->gpr[0];
			return HD_UW_SYSCALL;
		}
		return HD_UW_ILLEGAL;
	case SIGFPE:
		return ours ? HD_UW_FPE : escaped(t, ev);
	case SIGTRAP:
		return ours ? HD_UW_TRAP : escaped(t, ev);
	case SIGUSR1:
		return ours ? HD_UW_PREEMPT : escaped(t, ev);
	default: /* the stub handles no other signal */
		return HD_UW_FORGED;
	}
}
