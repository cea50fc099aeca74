/* bt: translator life cycle and the dispatch loop (lookup, translate, chain, run). */
#include "bt_private.h"

#include <stdlib.h>
#include <string.h>

#include "invariant.h"
#include "hostdriver.h"

#define BT_DEFAULT_TC (32u << 20)
#define BT_MIN_TC (16u << 10)


const char *bt_exit_name(enum bt_exit e)
{
	static const char *const names[BT_EXIT_COUNT] = {
		[BT_EXIT_NONE] = "none",       [BT_EXIT_LOOKUP] = "lookup",
		[BT_EXIT_EMULATE] = "emulate", [BT_EXIT_FAULT] = "fault",
		[BT_EXIT_POLL] = "poll",       [BT_EXIT_STEP] = "step",
		[BT_EXIT_IRQ] = "irq", [BT_EXIT_AWAY] = "away",
		[BT_EXIT_RUNLOOP] = "run loop", [BT_EXIT_BREAK] = "break",
	};
	return e < BT_EXIT_COUNT ? names[e] : "?";
}

/* FNINIT state plus the default MXCSR, in FXSAVE layout. */
static void init_fx(uint8_t *fx)
{
	memset(fx, 0, 512);
	fx[0] = 0x7f;  /* FCW = 0x037f */
	fx[1] = 0x03;
	uint32_t mxcsr = 0x1f80, mask = 0xffff;
	memcpy(fx + 24, &mxcsr, 4);
	memcpy(fx + 28, &mask, 4);
}

struct bt *bt_create(const struct bt_config *cfg, const struct bt_env *env,
		     struct bt_cpu **cpu_out, char *err, size_t errlen)
{
	struct bt *bt = calloc(1, sizeof *bt);
	if (!bt) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	bt->env = *env;
	bt->trace = cfg->trace;
	bt->perf_map = cfg->perf_map;
	bt->tc_size = cfg->tc_size ? cfg->tc_size : BT_DEFAULT_TC;
	if (bt->tc_size < BT_MIN_TC)
		bt->tc_size = BT_MIN_TC;
	bt->meta_size = bt->tc_size;
	bt->max_blocks = bt->tc_size / 32;
	bt->ram_pages = cfg->ram_pages;
	bt->cpu_mem_len = HD_PAGE_SIZE + ((sizeof(struct bt_cpu) + HD_PAGE_SIZE - 1) &
					  ~(size_t)(HD_PAGE_SIZE - 1));
	bt->cpu_mem = hd_alloc(bt->cpu_mem_len);
	bt->tc = hd_alloc_exec(bt->tc_size);
	bt->meta = hd_alloc(bt->meta_size);
	bt->ibl = hd_alloc(2 * BT_IBL_ENTRIES * sizeof(struct bt_ibl_entry));
	bt->blocks = calloc(bt->max_blocks, sizeof *bt->blocks);
	bt->page_head = calloc(bt->ram_pages ? bt->ram_pages : 1, sizeof *bt->page_head);
	bt->pending = calloc(BT_PENDING_MAX, sizeof *bt->pending);
	bt->pending_on = calloc(bt->ram_pages ? bt->ram_pages : 1, sizeof *bt->pending_on);
	if (!bt->cpu_mem || !bt->tc || !bt->meta || !bt->ibl || !bt->blocks ||
	    !bt->page_head || !bt->pending || !bt->pending_on) {
		snprintf(err, errlen, "cannot allocate the translation cache (%zu KiB)",
			 bt->tc_size >> 10);
		bt_destroy(bt);
		return NULL;
	}
	if (hd_page_set_readable(bt->cpu_mem, true)) {
		snprintf(err, errlen, "cannot set up the poll page");
		bt_destroy(bt);
		return NULL;
	}
	struct bt_cpu *cpu = (struct bt_cpu *)((uint8_t *)bt->cpu_mem + HD_PAGE_SIZE);
	bt->cpu = cpu;
	cpu->exit_common = (uint64_t)bt_exit_common;
	cpu->ibl = (uint64_t)bt_ibl;
	cpu->ibl_table = (uint64_t)bt->ibl;
	cpu->callout_in = (uint64_t)bt_callout_port;
	cpu->callout_back[1] = (uint64_t)bt_callout_refused;
	cpu->owner = (uint64_t)bt;
	cpu->eflags = 0x2;
	init_fx(cpu->guest_fx);
	for (size_t i = 0; i < 2 * BT_IBL_ENTRIES; i++) {
		bt->ibl[i].eip = 0xffffffffu;
		bt->ibl[i].host = (uint64_t)bt_ibl_miss;
	}
	bt_decoder_init(&bt->dec);
	ZydisFormatterInit(&bt->fmt, ZYDIS_FORMATTER_STYLE_INTEL);
	*cpu_out = cpu;
	return bt;
}

void bt_destroy(struct bt *bt)
{
	if (!bt)
		return;
	hd_free(bt->cpu_mem, bt->cpu_mem_len);
	hd_free(bt->tc, bt->tc_size);
	hd_free(bt->meta, bt->meta_size);
	hd_free(bt->ibl, 2 * BT_IBL_ENTRIES * sizeof(struct bt_ibl_entry));
	free(bt->blocks);
	free(bt->page_head);
	free(bt->pending);
	free(bt->pending_on);
	free(bt);
}

const struct bt_stats *bt_get_stats(const struct bt *bt)
{
	return &bt->stats;
}

/* From a signal handler: a refused mprotect is only noted here, and
 * reported by the next return from translated code. */
void bt_request_exit(struct bt *bt)
{
	int r = hd_page_set_readable(bt->cpu_mem, false);
	if (r)
		bt->kick_error = -r;
}

/* Find or translate the block at eip; NULL if eip cannot be fetched. */
static struct bt_block *block_for(struct bt *bt, uint32_t eip)
{
	struct bt_block *b = bt_lookup(bt, eip);
	if (b)
		return b;
	if ((b = bt_reattach(bt, eip)))
		return b;
	bool full;
	b = bt_translate(bt, eip, &full);
	if (!b && full) {
		bt_flush(bt);
		b = bt_translate(bt, eip, &full);
	}
	if (b && !b->cut)
		bt_insert(bt, b);
	return b;
}

static enum bt_exit unfetchable(struct bt_cpu *cpu)
{
	cpu->exit_reason = BT_EXIT_FAULT;
	cpu->exit_signo = 0;
	cpu->fault_code = 1;
	cpu->fault_addr = cpu->eip;
	return BT_EXIT_FAULT;
}

static enum bt_exit enter(struct bt *bt, const struct bt_block *b)
{
	struct bt_cpu *cpu = bt->cpu;
	enum bt_exit r = bt_enter(cpu, b->host);
	cpu->eflags = (cpu->eflags & ~BT_FL_LIVE) | ((uint32_t)cpu->rflags & BT_FL_LIVE);
	if (r < BT_EXIT_COUNT)
		bt->stats.exits[r]++;
	if (r == BT_EXIT_POLL) {
		int e = hd_page_set_readable(bt->cpu_mem, true);
		if (e)
			hd_host_failed("cannot make the CPU state page readable again", -e);
	}
	if (bt->kick_error)
		hd_host_failed("cannot make translated code leave", bt->kick_error);
	return r;
}

enum bt_exit bt_run(struct bt *bt)
{
	struct bt_cpu *cpu = bt->cpu;
	struct bt_block *b = block_for(bt, cpu->eip);
	if (!b)
		return unfetchable(cpu);
	for (;;) {
		enum bt_exit r = enter(bt, b);
		if (r != BT_EXIT_LOOKUP && r != BT_EXIT_AWAY)
			return r;
		uint64_t gen = bt->generation;
		uint8_t *site = (uint8_t *)cpu->exit_site;
		b = block_for(bt, cpu->eip);
		if (!b)
			return unfetchable(cpu);
		bt->stats.lookups++;
		if (r == BT_EXIT_AWAY)
			bt_take_chains(bt, b);
		if (b->cut)
			continue;
		if (site && gen == bt->generation)
			bt_chain(bt, site, b);
		else if (!site) {
			bt->stats.ibl_misses++;
			bt_ibl_insert(bt, b);
		}
	}
}

void bt_set_fp_trap(struct bt *bt, bool trap, bool xmm_off)
{
	if (bt->fp_trap == trap && bt->xmm_off == xmm_off)
		return;
	bt->fp_trap = trap;
	bt->xmm_off = xmm_off;
	bt_flush(bt);
}

void bt_set_user_view(struct bt *bt, bool user)
{
	bt->user = user;
	if (user && bt->n_pending)
		bt_settle(bt);
	bt->cpu->ibl_table = (uint64_t)bt_ibl_table(bt, user);
}

void bt_set_native_tsc(struct bt *bt, bool native)
{
	if (bt->native_tsc == native)
		return;
	bt->native_tsc = native;
	bt_flush(bt);
}

enum bt_exit bt_step(struct bt *bt)
{
	bool full;
	bt->single = true;
	struct bt_block *b = bt_translate(bt, bt->cpu->eip, &full);
	if (!b && full) {
		bt_flush(bt);
		b = bt_translate(bt, bt->cpu->eip, &full);
	}
	bt->single = false;
	if (!b)
		return unfetchable(bt->cpu);
	return enter(bt, b);
}
