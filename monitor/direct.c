/* monitor: direct execution of guest ring-3 code in the user world, and every way back. */
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "hostdriver.h"
#include "monitor.h"

/*
 * Direct execution (DE) runs guest CPL-3 code natively in the user-world
 * process (hostdriver/uw_stub.c) when VMware's conditions hold: protected
 * mode, CPL 3, virtual IF = 1, IOPL < 3, not virtual-8086. Everything else
 * runs translated. The user world's address space (the U-view) holds only
 * pages the guest's tables make user-accessible, filled on its faults by a
 * user-mode walk (which sets A/D) and emptied wherever the S-view drops a
 * mapping (page-table writes, INVLPG, CR3 loads: the smm callbacks below).
 *
 * What stays imperfect, by construction:
 *  - segment selectors read by ring-3 code are the user world's own LDT
 *    selectors (UW_SEL_*), not the guest's; the guest's CS, SS and data
 *    segments must be flat (FS/GS bases are honoured);
 *  - ring-3 code that loads a segment register itself loads a *host*
 *    descriptor (the user world cannot trap MOV Sreg). The user world
 *    reports the selector values it finds at every event; the monitor
 *    then performs the guest's load and, when the event was a fault
 *    (typically the first use of the wrong base, e.g. glibc's GS-based
 *    TLS), simply runs the instruction again with the guest's segment;
 *  - PUSHF at CPL 3 shows IOPL 0 whatever the guest's IOPL (< 3).
 */

bool mon_de_possible(struct mon_vm *vm)
{
	if (vm->opt.trap_emulate)
		return mon_te_possible(vm);
	const struct vcpu *v = &vm->vcpu;
	uint32_t fl = v->cpu->eflags;
	return (v->cr0 & CR0_PE) && mon_cpl(v) == 3 && (fl & BT_FL_IF) &&
	       ((fl & BT_FL_IOPL) >> 12) < 3 && !(fl & BT_FL_VM) && smm_paging(vm->smm) &&
	       mon_de_wanted(vm);
}

bool mon_de_wanted(struct mon_vm *vm)
{
	return vm->uw && (!vm->opt.de_adaptive || adapt_de(&vm->adapt, mon_space_key(&vm->vcpu)));
}

/* --de auto: the TSC's rate, once enough time has passed to tell it. */
static void adapt_learn_rate(struct mon_vm *vm)
{
	uint64_t ns = hd_now_ns() - vm->run_ns0;
	if (ns >= 20000000)
		vm->adapt.ticks_per_us = (__rdtsc() - vm->run_tsc0) * 1000 / ns;
}

/* ---- keeping the U-views coherent (smm callbacks) ---- */

#define FIRST_LPAGE (UW_MIN_LINEAR >> 12) /* the stub maps nothing below */

static bool world_has(const struct mon_world *w, uint32_t lpage)
{
	return w->mapped[lpage / 8] & (1u << (lpage % 8));
}

/* Drop linear pages [first, first + count) from a world's U-view: only
 * those it maps cost it anything (each is a host call in that process). */
static void world_drop(struct mon_world *w, uint32_t first, uint32_t count)
{
	uint32_t lowest = hd_uworld_base(w->uw) ? 0 : FIRST_LPAGE; /* windows map all */
	if (first < lowest) {
		if (first + count <= lowest)
			return;
		count -= lowest - first;
		first = lowest;
	}
	if (first >= (1u << 20))
		return;
	if (first + count > (1u << 20))
		count = (1u << 20) - first;
	/* The whole U-view (not just a large range: with PAE a directory
	 * dropped from its PDPTE is a quarter of the space, and the bitmap
	 * outside it still describes live host mappings). */
	bool all = first == lowest && count == (1u << 20) - lowest;
	/* Nothing mapped, nothing to do; but a view emptied whole with
	 * unmaps still queued (a dead process's, given to another) makes
	 * them one host call. */
	if (!w->n_mapped && !(all && hd_uworld_unmaps_queued(w->uw)))
		return;
	bool dropped = false;
	if (all) { /* one call, and a clean slate */
		hd_uworld_map(w->uw, first << 12, 0, count, HD_PROT_NONE);
		for (uint32_t b = 0; b < (1u << 20) / 8; b++)
			if (w->mapped[b])
				w->regions[b / 128] -= (uint32_t)__builtin_popcount(w->mapped[b]);
		memset(w->mapped, 0, (1u << 20) / 8);
		w->n_mapped = 0;
		dropped = true;
	} else {
		for (uint32_t l = first; l < first + count; l++) {
			/* Whole empty bytes of the bitmap at a time (PD-wide
			 * drops of other address spaces are common). */
			if (!(l & 7) && !w->mapped[l / 8]) {
				l += 7;
				continue;
			}
			if (!world_has(w, l))
				continue;
			uint32_t run = 1;
			while (l + run < first + count && world_has(w, l + run))
				run++;
			hd_uworld_map(w->uw, l << 12, 0, run, HD_PROT_NONE);
			for (uint32_t i = 0; i < run; i++) {
				w->mapped[(l + i) / 8] &= (uint8_t)~(1u << ((l + i) % 8));
				w->regions[(l + i) >> 10]--;
			}
			w->n_mapped -= run;
			l += run;
			dropped = true;
		}
	}
	/* Writable pages are mapped pages: none went, none to forget. */
	if (!dropped)
		return;
	for (uint32_t i = 0; i < w->rw_n;) {
		if (w->rw[i].lpage - first < count)
			w->rw[i] = w->rw[--w->rw_n];
		else
			i++;
	}
}

/* Traced page tables changed in the address space whose directory is
 * frame `space` (SMM_ANY_SPACE: any): its worlds and views drop the range
 * (cheap: the unmaps are queued until that world runs again). */
void mon_de_linear_dropped(struct mon_vm *vm, uint32_t first, uint32_t count, uint32_t space)
{
	if (!count || first >= (1u << 20))
		return;
	uint32_t last = first + count - 1 < (1u << 20) ? first + count - 1 : (1u << 20) - 1;
	bool any = false;
	for (uint32_t r = first >> 10; r <= last >> 10 && !any; r++)
		any = vm->view_regions[r] != 0;
	if (!any)
		return; /* no world or view maps anything there */
	for (unsigned k = 0; k < 2 * MON_WORLDS; k++) {
		struct mon_world *w = k < MON_WORLDS ? &vm->worlds[k] : &vm->views[k - MON_WORLDS];
		if (w->uw && (space == SMM_ANY_SPACE || w->cr3 >> 12 == space))
			world_drop(w, first, count);
	}
}

void mon_de_frame_protected(struct mon_vm *vm, uint32_t frame)
{
	for (unsigned k = 0; k < 2 * MON_WORLDS; k++) {
		struct mon_world *w = k < MON_WORLDS ? &vm->worlds[k] : &vm->views[k - MON_WORLDS];
		if (!w->uw)
			continue;
		for (uint32_t i = 0; i < w->rw_n;) {
			if (w->rw[i].frame == frame) {
				hd_uworld_map(w->uw, w->rw[i].lpage << 12, frame, 1, HD_PROT_READ);
				w->rw[i] = w->rw[--w->rw_n];
			} else {
				i++;
			}
		}
	}
}

void mon_de_space_dropped(struct mon_vm *vm, uint32_t pd_frame)
{
	for (unsigned k = 0; k < 2 * MON_WORLDS; k++) {
		struct mon_world *w = k < MON_WORLDS ? &vm->worlds[k] : &vm->views[k - MON_WORLDS];
		if (!w->uw || !w->valid || w->cr3 >> 12 != pd_frame)
			continue;
		world_drop(w, 0, 1u << 20);
		w->rw_n = 0;
		w->valid = false;
		vm->stats.spaces_dropped++;
	}
}

static void remember_writable(struct mon_world *w, uint32_t lpage, uint32_t frame)
{
	if (w->rw_n == MON_UV_RW_MAX) {
		/* Too many to track: empty this U-view and start again. */
		world_drop(w, 0, 1u << 20);
		w->rw_n = 0;
	}
	w->rw[w->rw_n].lpage = lpage;
	w->rw[w->rw_n].frame = frame;
	w->rw_n++;
}

/* The world showing the current address space: a cached one, a new one,
 * or the least recently used one, emptied and given to this CR3. */
static struct mon_world *current_world(struct mon_vm *vm)
{
	uint32_t cr3 = mon_space_key(&vm->vcpu);
	struct mon_world *lru = NULL, *empty = NULL, *unused = NULL;
	for (unsigned i = 0; i < vm->opt.user_worlds; i++) {
		struct mon_world *w = &vm->worlds[i];
		if (w->uw && w->valid && w->cr3 == cr3)
			return w;
		if (w->uw && !w->valid && !unused)
			unused = w;
		if (!w->uw && !empty)
			empty = w;
		if (w->uw && (!lru || w->last_use < lru->last_use))
			lru = w;
	}
	vm->stats.de_world_switches++;
	if (unused) { /* spawned ahead of time, still blank */
		unused->cr3 = cr3;
		unused->valid = true;
		unused->rw_n = 0;
		return unused;
	}
	if (empty && vm->uw_stub[0]) {
		char err[256];
		empty->mapped = calloc((1u << 20) / 8, 1);
		empty->regions = vm->view_regions;
		empty->uw = empty->mapped ? hd_uworld_spawn(vm->uw_stub, vm->ram_fd, err,
							    sizeof err) : NULL;
		if (!empty->uw) {
			free(empty->mapped);
			empty->mapped = NULL;
		}
		if (empty->uw) {
			vm->stats.de_world_spawns++;
			empty->cr3 = cr3;
			empty->valid = true;
			empty->rw_n = 0;
			return empty;
		}
	}
	vm->stats.de_world_evictions++;
	world_drop(lru, 0, 1u << 20);
	lru->rw_n = 0;
	lru->cr3 = cr3;
	lru->valid = true;
	return lru;
}

/* ---- the events ---- */

static void world_note(struct mon_world *w, uint32_t lpage)
{
	if (!world_has(w, lpage)) {
		w->mapped[lpage / 8] |= (uint8_t)(1u << (lpage % 8));
		w->n_mapped++;
		w->regions[lpage >> 10]++;
	}
}

/* The guest's tables allow the access: show the page in the U-view of
 * world (or view) w. False if a user-world process cannot: below
 * vm.mmap_min_addr (and the stub's UW_MIN_LINEAR) its accesses are
 * emulated, every time, rather than mapped and retried without end. (A
 * view's window lies high: it maps every page.) */
static bool world_map(struct mon_vm *vm, struct mon_world *w, uint32_t addr,
		      uint32_t frame, bool writable)
{
	if (!hd_uworld_base(w->uw) && (addr < UW_MIN_LINEAR || addr < hd_mmap_min_addr()))
		return false;
	hd_uworld_map(w->uw, addr & ~0xfffu, frame, 1, writable ? HD_PROT_RW : HD_PROT_READ);
	world_note(w, addr >> 12);
	if (writable)
		remember_writable(w, addr >> 12, frame);
	vm->stats.de_hidden_faults++;
	return true;
}

/* Deliver a ring-3 #PF at addr and remember the access: the guest's
 * handler will most likely make the page present and return to it, and
 * retry_map then maps the page before the access faults again. */
void mon_user_page_fault(struct mon_vm *vm, uint32_t addr, bool write, uint32_t err)
{
	struct mon_fault f = { 0 };
	uint32_t at = vm->vcpu.cpu->eip;
	mon_page_fault(&f, addr, err);
	mon_deliver_fault(vm, &f);
	vm->de_retry = (struct mon_de_retry){ .valid = true, .addr = addr, .write = write,
					      .cr3 = vm->vcpu.cr3, .eip = at };
}

/* Back in ring 3 in world or view w: if it is at the remembered access
 * and the guest's tables now allow it, map the page (true). */
static bool retry_map(struct mon_vm *vm, struct mon_world *w)
{
	struct mon_de_retry t = vm->de_retry;
	uint32_t frame = 0, err = 0;
	bool writable = false;
	vm->de_retry.valid = false;
	if (!t.valid || t.cr3 != vm->vcpu.cr3 || t.eip != vm->vcpu.cpu->eip ||
	    world_has(w, t.addr >> 12) ||
	    smm_world_fault(vm->smm, t.addr, t.write, mon_cpl(&vm->vcpu) == 3, &frame, &writable,
			    &err) != SMM_OK)
		return false;
	return world_map(vm, w, t.addr, frame, writable);
}

/* Guest code for hd_uw_decode: read as ring-3 code sees it. */
static bool read_user_code(void *ctx, uint32_t linear, uint8_t *buf, unsigned n)
{
	struct mon_vm *vm = ctx;
	struct mon_fault f = { 0 };
	return mon_read(vm, vm->vcpu.seg[SEG_CS].base + linear, buf, n, &f);
}

static void user_page_fault(struct mon_vm *vm, struct mon_world *w,
			    uint32_t addr, bool write)
{
	uint32_t frame = 0, err = 0;
	bool writable = false;
	enum smm_result r = smm_world_fault(vm->smm, addr, write, mon_cpl(&vm->vcpu) == 3,
					    &frame, &writable, &err);
	/* Guest kernel code (trap-emulate) writing its page tables or device
	 * memory: the monitor makes the access for it. */
	if ((r == SMM_PT_WRITE || r == SMM_UNBACKED) && mon_te_emulate(vm))
		return;
	switch (r) {
	case SMM_OK:
		if (!world_map(vm, w, addr, frame, writable))
			mon_emulate_memory(vm);
		break;
	case SMM_PAGE_FAULT:
		mon_user_page_fault(vm, addr, write, err);
		break;
	case SMM_CODE_WRITE:
		/* Ring-3 code writes a frame with translated code on it: drop
		 * the translations; the retry maps the page writable. */
		bt_invalidate_page(vm->bt, frame);
		break;
	case SMM_PT_WRITE:
		/* A page table the guest maps for ring 3: the write goes
		 * through the monitor, whose writes the shadow follows. */
		vm->stats.pt_writes_trapped++;
		mon_emulate_memory(vm);
		break;
	case SMM_UNBACKED: /* device memory: the emulator reaches the models */
		mon_emulate_memory(vm);
		break;
	}
}

/*
 * INT3, INT 3, INTO and INT 0x80 trap through the host's DPL-3 gates with
 * EIP past the instruction; the guest's own gate decides what happens,
 * and a DPL-0 one is #GP(vector * 8 + 2) at the instruction itself (a
 * fault of the delivery is raised at cpu->eip). Find where it began (CC,
 * CE or CD nn just before EIP). A prefix before it cannot be told from the
 * previous instruction's bytes: such a #GP points past the prefix; code
 * changed under it leaves EIP past the instruction.
 */
static void soft_int_trap(struct mon_vm *vm, uint8_t vector)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint32_t end = cpu->eip;
	uint8_t b[2] = { 0, 0 };
	uint8_t one = vector == EXC_BP ? 0xcc : vector == EXC_OF ? 0xce : 0;
	if (read_user_code(vm, end - 1, &b[1], 1) && one && b[1] == one)
		cpu->eip = end - 1;
	else if (b[1] == vector && read_user_code(vm, end - 2, &b[0], 1) && b[0] == 0xcd)
		cpu->eip = end - 2;
	mon_deliver(vm, vector, false, 0, end, true);
}

/*
 * A fast system-call instruction in ring-3 code: the host CPU's vendor
 * decided how it trapped (uw_decode.c); the guest gets what its virtual
 * CPU does, as translated code would: SYSENTER enters its kernel,
 * SYSEXIT at CPL 3 is #GP(0), SYSCALL and SYSRET are #UD (no SYSCALL in
 * its CPUID).
 */
static void vendor_dependent(struct mon_vm *vm, const struct hd_uw_event *ev)
{
	vm->stats.de_vendor_insns++;
	if (ev->insn == HD_UW_INSN_SYSENTER)
		mon_sysenter(vm); /* EIP may be gone: SYSENTER needs none */
	else
		mon_emulate(vm);  /* EIP is at the instruction */
}

static void user_fault(struct mon_vm *vm, struct mon_world *w,
		       const struct hd_uw_event *ev)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	switch (ev->trapno) {
	case EXC_PF:
		user_page_fault(vm, w, ev->addr, ev->err & PF_W);
		break;
	case EXC_GP:
		/* INT n whose host gate is not DPL 3: the host reports #GP
		 * with the IDT bit, EIP at the instruction (prefixes and
		 * all). The guest's own gate decides: emulate it. */
		if ((ev->err & (SEL_TI | ERR_IDT | ERR_EXT)) == ERR_IDT) {
			mon_emulate(vm);
			break;
		}
		/* At CPL 0 under trap-emulate the guest may run privileged
		 * and I/O instructions: emulated. Otherwise, what the
		 * translator would hand the emulator (far transfers, IRET,
		 * segment loads, privileged and I/O instructions) is emulated
		 * against the guest's own tables and flags: the host's
		 * selector errors, and its reasons for #GP, mean nothing to
		 * the guest. Anything else (a misaligned SSE operand...) is
		 * the guest's #GP(0). */
		if (mon_te_emulate(vm))
			break;
		if (mon_emulated_at_eip(vm))
			mon_emulate(vm);
		else
			mon_deliver(vm, EXC_GP, true, 0, cpu->eip, false);
		break;
	case EXC_OF: /* INTO with OF set (or INT 4): a trap, EIP already after it */
		soft_int_trap(vm, EXC_OF);
		break;
	case EXC_BR:
		mon_deliver(vm, EXC_BR, false, 0, cpu->eip, false);
		break;
	case EXC_SS:
		mon_deliver(vm, EXC_SS, true, 0, cpu->eip, false);
		break;
	case EXC_AC:
		/* The host's CR0.AM is set; while the guest's is clear, a
		 * misaligned access with EFLAGS.AC set is no fault of the
		 * guest's: it is done by the emulator, which checks nothing. */
		if (vm->vcpu.cr0 & CR0_AM)
			mon_deliver(vm, EXC_AC, true, 0, cpu->eip, false);
		else
			mon_emulate_memory(vm);
		break;
	default:
		mon_deliver(vm, EXC_GP, true, 0, cpu->eip, false);
		break;
	}
}

/* The user world died under the guest: an escape only if nothing but
 * escaped code could have done it. */
static void world_died(struct mon_vm *vm, const struct hd_uworld *uw)
{
	int how;
	uint32_t eip = vm->vcpu.cpu->eip;
	switch (hd_uworld_death(uw, &how)) {
	case HD_UW_DIED_SECCOMP:
		mon_stop(vm, MON_EXIT_ESCAPE,
			 "the user world was killed: guest ring-3 code left its code "
			 "segment and made a host system call (last EIP %#x)", eip);
		break;
	case HD_UW_DIED_FAULT:
		mon_stop(vm, MON_EXIT_ESCAPE,
			 "the user world crashed (signal %d, %s) outside guest code: "
			 "treated as an escape (last EIP %#x)", how, strsignal(how), eip);
		break;
	case HD_UW_DIED_EXITED:
		mon_stop(vm, MON_EXIT_ESCAPE,
			 "the user world exited by itself (status %d): guest ring-3 "
			 "code left its code segment (last EIP %#x)", how, eip);
		break;
	default:
		mon_stop(vm, MON_EXIT_SIGNAL,
			 "the user world was killed by signal %d (%s) from outside: a "
			 "host event, not the guest's; the VM is stopped", how, strsignal(how));
		break;
	}
}

void mon_de_run(struct mon_vm *vm)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	struct uw_regs r;
	struct hd_uw_event ev = { 0 };

	memcpy(r.gpr, cpu->gpr, sizeof r.gpr);
	r.eip = cpu->eip;
	r.eflags = cpu->eflags;
	r.fs_base = v->seg[SEG_FS].base;
	r.gs_base = v->seg[SEG_GS].base;
	struct mon_world *w = current_world(vm);
	w->last_use = ++vm->world_clock;
	/* Back at the access whose #PF the guest just handled: if its tables
	 * now allow it, map the page before the world runs rather than take
	 * the same fault again (the access comes next anyway: the walk's
	 * A/D updates are the ones the CPU would make). */
	if (vm->de_retry.valid && retry_map(vm, w))
		vm->stats.de_prefaults++;
	vm->uw_running = w->uw;
	uint64_t t0 = __rdtsc(); /* not the host clock: it shows, twice per system call */
	enum hd_uw_result res = hd_uworld_run(w->uw, &r, cpu->guest_fx, &ev,
						read_user_code, vm);
	uint64_t ran = __rdtsc() - t0;
	vm->stats.de_tsc += ran;
	vm->stats.de_guest_tsc += ev.ran_tsc;
	vm->uw_running = NULL;
	vm->stats.de_entries++;

	switch (res) {
	case HD_UW_DEAD:
		world_died(vm, w->uw);
		return;
	case HD_UW_EXTERNAL:
		mon_stop(vm, MON_EXIT_SIGNAL,
			 "the user world was sent signal %u (%s) by process %u: a host "
			 "event, not the guest's; the VM is stopped", ev.trapno,
			 strsignal((int)ev.trapno), ev.addr);
		return;
	case HD_UW_ESCAPE:
		mon_stop(vm, MON_EXIT_ESCAPE,
			 "guest ring-3 code left its code segment for host selector %#x "
			 "(an escape attempt) after EIP %#x; the VM is stopped",
			 ev.syscall_nr, cpu->eip);
		return;
	case HD_UW_FORGED:
		mon_stop(vm, MON_EXIT_ESCAPE,
			 "guest ring-3 code ran outside its code segment and came back "
			 "(an escape attempt: the user world reported what its stub "
			 "cannot) after EIP %#x; the VM is stopped", cpu->eip);
		return;
	case HD_UW_MAP_FAILED:
		mon_stop(vm, MON_EXIT_HOST,
			 "the user world could not map guest pages (host mappings "
			 "exhausted? see btvmm --check-host: max-map-count)");
		return;
	case HD_UW_BAD_STATE:
		MON_BUG(vm, "the user world refused the state at EIP %#x", cpu->eip);
		return;
	default:
		break;
	}
	if (vm->opt.de_adaptive) {
		if (!vm->adapt.ticks_per_us)
			adapt_learn_rate(vm);
		adapt_de_ran(&vm->adapt, mon_space_key(v), ran, res != HD_UW_PREEMPT);
	}
	/* Only guest-visible state comes back; the virtual flags stay. */
	memcpy(cpu->gpr, r.gpr, sizeof r.gpr);
	cpu->eip = r.eip;
	uint32_t native = BT_FL_LIVE | BT_FL_TF | BT_FL_AC | BT_FL_ID;
	cpu->eflags = (cpu->eflags & ~native) | (r.eflags & native);

	/* Segment registers ring-3 code loaded natively (see top): do the
	 * guest's load; a fault it caused is retried, not delivered. */
	static const uint16_t ours[4] = { UW_SEL_DATA, UW_SEL_DATA, UW_SEL_FS, UW_SEL_GS };
	static const int sreg[4] = { SEG_DS, SEG_ES, SEG_FS, SEG_GS };
	bool reloaded = false;
	for (int i = 0; i < 4; i++) {
		if (ev.sel[i] == ours[i])
			continue;
		struct mon_fault sf = { 0 };
		if (!mon_load_seg(vm, sreg[i], ev.sel[i], &sf)) {
			if (!vm->stop)
				mon_deliver_fault(vm, &sf);
			return;
		}
		reloaded = true;
		vm->stats.de_segment_loads++;
	}
	if (reloaded && res == HD_UW_FAULT)
		return;

	switch (res) {
	case HD_UW_FAULT:
		if (ev.insn != HD_UW_INSN_OTHER) /* SYSEXIT or SYSRET: #GP(0) on one vendor */
			vendor_dependent(vm, &ev);
		else
			user_fault(vm, w, &ev);
		break;
	case HD_UW_SYSCALL:
		vm->stats.de_syscalls++;
		if (ev.insn == HD_UW_INSN_INT80) /* EIP is already past it */
			soft_int_trap(vm, 0x80);
		else
			vendor_dependent(vm, &ev);
		break;
	case HD_UW_ILLEGAL:
		if (ev.insn != HD_UW_INSN_OTHER)
			vendor_dependent(vm, &ev);
		else
			mon_deliver(vm, EXC_UD, false, 0, cpu->eip, false);
		break;
	case HD_UW_FPE:
		mon_deliver(vm, hd_fpe_vector(ev.trapno), false, 0, cpu->eip, false);
		break;
	case HD_UW_TRAP:
		if (ev.trapno == EXC_BP) {
			soft_int_trap(vm, EXC_BP);
		} else {
			v->dr[6] |= 0x4000;
			mon_deliver(vm, EXC_DB, false, 0, cpu->eip, false);
		}
		break;
	default: /* HD_UW_PREEMPT: the run loop takes the interrupt */
		vm->stats.de_preempts++;
		break;
	}
}

/* ---- user views: in-monitor windows for translated CPL-3 code ---- */

/*
 * The same bookkeeping as a user world's U-view (world_map, world_drop and
 * the smm callbacks above keep them coherent), but the pages are mapped in
 * a 4 GiB window of the monitor's own address space that translated code
 * reaches through the host GS base (transition.c: mon_select_view). One window per
 * guest address space, as many as --user-worlds, least recently used
 * reused: a CR3 switch back to a cached space, and every CPL change, keeps
 * its mappings.
 */
static struct mon_world *current_view(struct mon_vm *vm)
{
	uint32_t cr3 = mon_space_key(&vm->vcpu);
	struct mon_world *lru = NULL;
	for (unsigned i = 0; i < vm->opt.user_worlds; i++) {
		struct mon_world *w = &vm->views[i];
		if (w->uw && w->valid && w->cr3 == cr3)
			return w;
		if (!w->uw) {
			w->mapped = calloc((1u << 20) / 8, 1);
			w->regions = vm->view_regions;
			w->uw = w->mapped ? hd_uworld_window(i, vm->ram_fd) : NULL;
			if (!w->uw) {
				free(w->mapped);
				w->mapped = NULL;
				return NULL;
			}
			lru = w;
			break;
		}
		if (!lru || w->last_use < lru->last_use)
			lru = w;
	}
	if (!lru)
		return NULL;
	vm->stats.view_assigns++;
	if (lru->valid) {
		vm->stats.view_evictions++;
		world_drop(lru, 0, 1u << 20);
	}
	lru->rw_n = 0;
	lru->cr3 = cr3;
	lru->valid = true;
	return lru;
}

uint64_t mon_user_view(struct mon_vm *vm)
{
	struct mon_world *w = current_view(vm);
	if (!w)
		return 0;
	w->last_use = ++vm->world_clock;
	vm->view_cur = w;
	return hd_uworld_base(w->uw);
}

/*
 * After a fill of the user view at linear: the other pages of its aligned
 * group that ring 3 may already read (the guest's own fault-around made
 * them present and accessed), read-only, a run of contiguous frames in one
 * host call. A later write to one faults as it would have anyway.
 */
#define VIEW_AROUND 16u
static void view_map_around(struct mon_vm *vm, struct mon_world *w, uint32_t linear)
{
	uint32_t first = (linear >> 12) & ~(VIEW_AROUND - 1);
	uint32_t run_l = 0, run_f = 0, run_n = 0;
	for (uint32_t l = first; l <= first + VIEW_AROUND; l++) {
		uint32_t frame = 0;
		bool ok = l < first + VIEW_AROUND && !world_has(w, l) &&
			  smm_user_ready(vm->smm, l, &frame);
		if (ok && run_n && frame == run_f + run_n && l == run_l + run_n) {
			run_n++;
			continue;
		}
		if (run_n) {
			hd_uworld_map(w->uw, run_l << 12, run_f, run_n, HD_PROT_READ);
			for (uint32_t i = 0; i < run_n; i++)
				world_note(w, run_l + i);
			vm->stats.view_around += run_n;
		}
		run_n = 0;
		if (ok)
			run_l = l, run_f = frame, run_n = 1;
	}
}

void mon_user_view_retry(struct mon_vm *vm)
{
	struct mon_world *w = vm->view_cur;
	if (!w || !w->valid || w->cr3 != (mon_space_key(&vm->vcpu))) {
		vm->de_retry.valid = false;
		return;
	}
	uint32_t addr = vm->de_retry.addr;
	if (retry_map(vm, w)) {
		vm->stats.de_hidden_faults--; /* world_map counts DE fills; this is a view fill */
		vm->stats.view_premaps++;
		view_map_around(vm, w, addr);
	}
}

void mon_user_view_map(struct mon_vm *vm, uint32_t linear, uint32_t frame, bool writable)
{
	struct mon_world *w = vm->view_cur;
	if (!w || !w->valid || w->cr3 != (mon_space_key(&vm->vcpu)))
		return; /* the access faults again, in the right view */
	world_map(vm, w, linear, frame, writable);
	vm->stats.de_hidden_faults--; /* world_map counts DE fills; this is a view fill */
	view_map_around(vm, w, linear);
}
