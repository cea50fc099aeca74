/* bt: host faults in translated code become precise guest exits. */
#define _GNU_SOURCE
#include "bt_private.h"

#include <signal.h>
#include <ucontext.h>

/*
 * Runs inside the host signal handler (on the alternate stack, FS base
 * already the monitor's). It must not allocate or take locks: it reads the
 * block array and side tables, which the monitor only changes while no
 * translated code runs.
 */
bool bt_handle_host_fault(struct bt *bt, int signo, siginfo_t *si, ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t pc = (uint64_t)g[REG_RIP];
	if (!bt_owns_pc(bt, pc))
		return false;
	struct bt_block *b = bt_block_at_pc(bt, pc);
	if (!b)
		return false;
	uint32_t off = (uint32_t)(pc - (uint64_t)b->host);
	unsigned i = 0;
	while (i + 1 < b->n_insns && b->host_off[i + 1] <= off)
		i++;

	struct bt_cpu *cpu = bt->cpu;
	static const int regs[8] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX,
				     REG_RSP, REG_RBP, REG_RSI, REG_RDI };
	for (int r = 0; r < 8; r++)
		cpu->gpr[r] = (uint32_t)g[regs[r]];
	cpu->gpr[BT_ESP] += (uint32_t)(int32_t)b->esp_lag[i]; /* bt_private.h */
	cpu->rflags = (uint64_t)g[REG_EFL];
	cpu->eip = b->eip + b->guest_off[i];
	cpu->exit_signo = (uint32_t)signo;
	cpu->fault_addr = (uint64_t)si->si_addr;
	cpu->fault_code = (uint32_t)si->si_code;
	cpu->fault_trapno = (uint32_t)g[REG_TRAPNO];
	cpu->fault_err = (uint64_t)g[REG_ERR];
	cpu->exit_site = 0;
	uint64_t poll = (uint64_t)bt->cpu_mem;
	if (signo == SIGSEGV && cpu->fault_addr >= poll &&
	    cpu->fault_addr < poll + 4096)
		cpu->exit_reason = BT_EXIT_POLL;
	else
		cpu->exit_reason = BT_EXIT_FAULT;

	g[REG_RIP] = (greg_t)(uint64_t)bt_exit_from_signal;
	g[REG_RSP] = (greg_t)cpu->host_rsp;
	g[REG_R15] = (greg_t)(uint64_t)cpu;
	g[REG_EFL] &= ~(greg_t)(BT_FL_DF | BT_FL_TF | BT_FL_AC);
	return true;
}
