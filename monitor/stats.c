/* monitor: --stats counters and the ring of recent exits for crash reports. */
#include <Zydis/Zydis.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "hostdriver.h"
#include "monitor.h"

void mon_ring_record(struct mon_vm *vm, uint32_t eip, unsigned reason, unsigned detail)
{
	struct mon_exit_record *r = &vm->stats.ring[vm->stats.ring_next++ % MON_RING];
	r->eip = eip;
	r->reason = (uint8_t)reason;
	r->detail = (uint8_t)detail;
}

void mon_print_ring(struct mon_vm *vm, FILE *out)
{
	unsigned n = vm->stats.ring_next < MON_RING ? vm->stats.ring_next : MON_RING;
	fprintf(out, "btvmm: last %u exits (oldest first):\n", n);
	for (unsigned i = 0; i < n; i++) {
		const struct mon_exit_record *r =
			&vm->stats.ring[(vm->stats.ring_next - n + i) % MON_RING];
		fprintf(out, "  eip %08x  %-8s %u\n", r->eip,
			bt_exit_name((enum bt_exit)r->reason), r->detail);
	}
}

void mon_count_site(struct mon_vm *vm, uint32_t eip, unsigned mnemonic, bool step)
{
	unsigned h = ((eip ^ (step ? 0x9e3779b9u : 0)) * 2654435761u) >> 21;
	for (unsigned i = 0; i < 16; i++) {
		struct mon_site *s = &vm->stats.sites[(h + i) % MON_SITES];
		if (s->eip1 == eip + 1 && s->step == step) {
			s->count++;
			return;
		}
		if (!s->eip1) {
			*s = (struct mon_site){ eip + 1, (uint16_t)mnemonic, step, 1 };
			return;
		}
	}
}

static int by_count(const void *a, const void *b)
{
	const struct mon_site *x = a, *y = b;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* The busiest emulation sites: where inline translation would pay. */
static void print_sites(struct mon_vm *vm, FILE *out)
{
	static struct mon_site sorted[MON_SITES];
	memcpy(sorted, vm->stats.sites, sizeof sorted);
	qsort(sorted, MON_SITES, sizeof sorted[0], by_count);
	fprintf(out, "  busiest emulation sites (EIP instruction count):");
	for (unsigned i = 0; i < 48 && sorted[i].count; i++)
		fprintf(out, "%s%08x %s %llu", i % 4 ? ", " : "\n    ", sorted[i].eip1 - 1,
			sorted[i].step ? "(step after STI/MOV SS)"
				       : ZydisMnemonicGetString((ZydisMnemonic)sorted[i].mnemonic),
			(unsigned long long)sorted[i].count);
	fprintf(out, "\n");
}

void mon_print_stats(struct mon_vm *vm, FILE *out)
{
	const struct bt_stats *s = bt_get_stats(vm->bt);
	struct dev_bus_stats io;
	struct smm_stats sm;
	dev_bus_get_stats(vm->bus, &io);
	smm_get_stats(vm->smm, &sm);
	double secs = (double)(hd_now_ns() - vm->stats.start_ns) / 1e9;
	static const char *const emu_names[EMU_CLASS_COUNT] = {
		"flags", "desctab", "segment", "far/int", "control", "io", "cpu",
		"legacy", "memory", "other",
	};
	static const char *const exc_names[32] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "9",
		"#TS", "#NP", "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM",
	};

	fprintf(out, "btvmm stats (%.3f s):\n", secs);
	fprintf(out, "  translation: %llu blocks, %llu guest insns, %llu TC bytes, "
		     "%llu flushes\n",
		(unsigned long long)s->blocks, (unsigned long long)s->insns,
		(unsigned long long)s->tc_bytes, (unsigned long long)s->flushes);
	fprintf(out, "  translated by class: ident %llu, stack %llu, branch %llu, "
		     "emulate %llu\n",
		(unsigned long long)s->class_count[BT_CLASS_IDENT],
		(unsigned long long)s->class_count[BT_CLASS_STACK],
		(unsigned long long)s->class_count[BT_CLASS_BRANCH],
		(unsigned long long)s->class_count[BT_CLASS_EMULATE]);
	const uint64_t *xl = s->sensitive;
	fprintf(out, "  sensitive forms translated (classify.def): exit %llu; inline: flags %llu, "
		     "segment %llu, CR2 %llu; callout: port %llu, transition %llu\n",
		(unsigned long long)xl[BT_XL_EXIT], (unsigned long long)xl[BT_XL_FLAGS],
		(unsigned long long)xl[BT_XL_SEG], (unsigned long long)xl[BT_XL_CR2],
		(unsigned long long)xl[BT_XL_PORT], (unsigned long long)xl[BT_XL_SYS]);
	fprintf(out, "  port I/O answered inside translated code: %llu; page-table stores by "
		     "the store callout: %llu; SYSENTER %llu, SYSEXIT %llu, IRETD %llu and INT n %llu "
		     "by their callout\n",
		(unsigned long long)s->inline_io, (unsigned long long)s->inline_stores,
		(unsigned long long)vm->stats.fast_sys[0], (unsigned long long)vm->stats.fast_sys[1],
		(unsigned long long)vm->stats.fast_sys[2], (unsigned long long)vm->stats.fast_sys[3]);
	fprintf(out, "  branches: %llu chained, %llu monitor lookups, "
		     "%llu indirect-table misses\n",
		(unsigned long long)s->chained, (unsigned long long)s->lookups,
		(unsigned long long)s->ibl_misses);
	fprintf(out, "  code writes: %llu faults, %llu blocks invalidated, "
		     "%llu page protects; %llu code pages remapped: %llu blocks set aside, "
		     "%llu of them taken back\n",
		(unsigned long long)vm->stats.smc_faults, (unsigned long long)s->invalidated,
		(unsigned long long)sm.protects, (unsigned long long)sm.code_pages_dropped,
		(unsigned long long)s->detached, (unsigned long long)s->reattached);
	fprintf(out, "  shadow paging: %llu hidden faults, %llu guest #PF, "
		     "%llu traced page-table writes, %llu pages mapped (%llu runs), %llu S-view drops "
		     "(+%llu keeping global pages; %llu global TLB flushes, %llu stale global pages "
		     "dropped by them), %llu for want of page-table snapshots\n",
		(unsigned long long)sm.hidden_faults, (unsigned long long)sm.guest_faults,
		(unsigned long long)sm.traced_writes, (unsigned long long)sm.pages_mapped,
		(unsigned long long)sm.runs_mapped,
		(unsigned long long)sm.flushes, (unsigned long long)sm.partial_drops,
		(unsigned long long)sm.global_flushes, (unsigned long long)sm.stale_globals,
		(unsigned long long)sm.snapshot_drops);
	fprintf(out, "  CR0.WP changes: %llu\n", (unsigned long long)sm.wp_toggles);
	fprintf(out, "  host mapping limit (vm.max_map_count): %llu S-view drops, "
		     "%llu shadow mappings dropped\n",
		(unsigned long long)sm.map_evictions,
		(unsigned long long)sm.map_evicted_pages);
	fprintf(out, "  page-table writes: %llu entries of other address spaces' tables (kept "
		     "in the S-view), %llu pages made present mapped ahead of their use, %llu tables "
		     "no longer traced (written over with no walk through them), %llu INVLPGs "
		     "of pages already showing their entry (kept)\n",
		(unsigned long long)sm.other_space_changes, (unsigned long long)sm.premapped,
		(unsigned long long)sm.untraced, (unsigned long long)sm.invlpg_kept);
	fprintf(out, "  page-table writes: %llu through a host fault, %llu by the "
		     "adaptive callout (+%llu of its stores to other memory; %llu instructions "
		     "made native again)\n",
		(unsigned long long)vm->stats.pt_writes_trapped,
		(unsigned long long)vm->stats.pt_writes_emulated, (unsigned long long)vm->stats.plain_stores,
		(unsigned long long)vm->stats.hot_demotions);
	fprintf(out, "  exits to the monitor:");
	for (int e = BT_EXIT_LOOKUP; e < BT_EXIT_COUNT; e++)
		fprintf(out, " %s %llu", bt_exit_name((enum bt_exit)e),
			(unsigned long long)s->exits[e]);
	fprintf(out, "\n  emulated sensitive instructions:");
	for (int c = 0; c < EMU_CLASS_COUNT; c++)
		fprintf(out, " %s %llu", emu_names[c],
			(unsigned long long)vm->stats.emu_count[c]);
	fprintf(out, "\n");
	print_sites(vm, out);
	fprintf(out, "  exceptions delivered:");
	unsigned any = 0;
	for (int v = 0; v < 32; v++)
		if (vm->stats.exc_count[v]) {
			any++;
			fprintf(out, " %s %llu", exc_names[v] ? exc_names[v] : "?",
				(unsigned long long)vm->stats.exc_count[v]);
		}
	fprintf(out, "%s\n", any ? "" : " none");
	uint64_t total = hd_now_ns() - vm->stats.start_ns;
	static const char *const act_names[ACT_COUNT] = {
		"run loop", "translated code", "emulation", "host faults", "single steps",
		"direct execution", "HLT",
	};
	double tsc_per_s = (double)(__rdtsc() - vm->run_tsc0) /
			   ((double)(hd_now_ns() - vm->run_ns0) / 1e9);
	fprintf(out, "  host time by activity (s):");
	for (int a = 0; a < ACT_COUNT; a++)
		fprintf(out, "%s %s %.3f", a ? "," : "", act_names[a],
			(double)vm->stats.activity_ticks[a] / tsc_per_s);
	fprintf(out, "\n");
	fprintf(out, "  direct execution: %.3f s of %.3f s in the user world, %.3f s of it running "
		     "guest code (%llu entries, %llu system calls, %llu preemptions, %llu U-view "
		     "fills, %llu of them ahead of a retried access)\n",
		(double)vm->stats.de_tsc / tsc_per_s, (double)total / 1e9,
		(double)vm->stats.de_guest_tsc / tsc_per_s,
		(unsigned long long)vm->stats.de_entries, (unsigned long long)vm->stats.de_syscalls,
		(unsigned long long)vm->stats.de_preempts, (unsigned long long)vm->stats.de_hidden_faults,
		(unsigned long long)vm->stats.de_prefaults);
	if (vm->opt.trap_emulate)
		fprintf(out, "  --mode=trap-emulate: %llu guest kernel traps emulated\n",
			(unsigned long long)vm->stats.te_emulated);
	if (vm->uw && vm->opt.de_adaptive)
		fprintf(out, "  --de auto: %llu address spaces measured; %llu times one went to the "
			     "translator (under %d us of ring 3 between exits), %llu times back to "
			     "direct execution; %u translated now\n",
			(unsigned long long)vm->adapt.spaces_seen,
			(unsigned long long)vm->adapt.to_bt, ADAPT_MIN_RUN_US,
			(unsigned long long)vm->adapt.to_de, adapt_translated(&vm->adapt));
	fprintf(out, "  ring-3 segment loads redone for the guest: %llu; fast system-call "
		     "instructions the host CPU trapped its own way: %llu\n",
		(unsigned long long)vm->stats.de_segment_loads, (unsigned long long)vm->stats.de_vendor_insns);
	fprintf(out, "  translated ring 3: %llu host GS base writes (to another user view), %llu "
		     "faults in the user views (+%llu pages mapped ahead, %llu around them), %llu user "
		     "views given an address space, %llu reused for another\n",
		(unsigned long long)vm->stats.view_switches, (unsigned long long)vm->stats.view_faults,
		(unsigned long long)vm->stats.view_premaps, (unsigned long long)vm->stats.view_around,
		(unsigned long long)vm->stats.view_assigns, (unsigned long long)vm->stats.view_evictions);
	fprintf(out, "  user worlds: %llu address spaces given one, %llu spawned, %llu reused "
		     "for another address space; %llu worlds and views emptied because their "
		     "page directory was written over\n",
		(unsigned long long)vm->stats.de_world_switches,
		(unsigned long long)vm->stats.de_world_spawns + (vm->uw ? 1 : 0),
		(unsigned long long)vm->stats.de_world_evictions, (unsigned long long)vm->stats.spaces_dropped);
	fprintf(out, "  interrupts: %llu delivered, %llu HLTs slept\n",
		(unsigned long long)vm->stats.irqs, (unsigned long long)vm->stats.halts);
	struct hd_mem_usage mu;
	if (hd_mem_usage(&mu))
		fprintf(out, "  memory: btvmm's own %.1f MiB resident (anonymous %.1f: translation "
			     "cache %.1f, metadata and tables; code %.1f), guest RAM mapped %.1f MiB, "
			     "peak resident %.1f MiB (guest RAM counted per mapping)\n",
			(double)(mu.anon_kib + mu.file_kib) / 1024, (double)mu.anon_kib / 1024,
			(double)s->tc_resident / (1 << 20), (double)mu.file_kib / 1024,
			(double)mu.shmem_kib / 1024, (double)mu.peak_kib / 1024);
	fprintf(out, "  port I/O: %llu reads, %llu writes, %llu unclaimed\n",
		(unsigned long long)io.reads, (unsigned long long)io.writes,
		(unsigned long long)io.unclaimed);
}
