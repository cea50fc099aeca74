/* bt: host faults in translated code become precise guest exits. */
#define _GNU_SOURCE
#include "bt_private.h"
#include "hostdriver.h"

/*
 * Runs inside the host signal handler (on the alternate stack, FS base
 * already the monitor's). It must not allocate or take locks: it reads the
 * block array and side tables, which the monitor only changes while no
 * translated code runs.
 */
bool bt_handle_host_fault(struct bt *bt, struct hd_fault *f)
{
	uint64_t pc = f->rip;
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
	for (int r = 0; r < 8; r++) /* BT_EAX.. and HD_RAX.. share the order */
		cpu->gpr[r] = (uint32_t)f->gpr[r];
	cpu->gpr[BT_ESP] += (uint32_t)(int32_t)b->esp_lag[i]; /* bt_private.h */
	cpu->rflags = f->rflags;
	cpu->eip = b->eip + b->guest_off[i];
	cpu->exit_signo = (uint32_t)f->signo;
	cpu->fault_addr = f->addr;
	cpu->fault_code = (uint32_t)f->code;
	cpu->fault_trapno = f->trapno;
	cpu->fault_err = f->err;
	cpu->exit_site = 0;
	/* A #PF on the poll page: a request to leave (bt_request_exit). */
	uint64_t poll = (uint64_t)bt->cpu_mem;
	if (f->trapno == EXC_PF && cpu->fault_addr >= poll &&
	    cpu->fault_addr < poll + 4096)
		cpu->exit_reason = BT_EXIT_POLL;
	else
		cpu->exit_reason = BT_EXIT_FAULT;

	f->rip = (uint64_t)bt_exit_from_signal;
	f->gpr[HD_RSP] = cpu->host_rsp;
	f->gpr[HD_R15] = (uint64_t)cpu;
	f->rflags &= ~(uint64_t)(BT_FL_DF | BT_FL_TF | BT_FL_AC);
	return true;
}
