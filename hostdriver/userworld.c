/* hostdriver: the monitor's side of the user world: spawn, map, run, preempt. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostdriver.h"
#include "invariant.h"

/* A window's unmaps wait for its next flush: up to this many ranges, each
 * of at most this many pages (a larger one is made at once). */
#define WINDOW_PENDING 64
#define WINDOW_PENDING_PAGES 1024u

extern char **environ;

struct hd_uworld {
	uint64_t window;       /* nonzero: an in-monitor window (hd_uworld_window) */
	int ram_fd;            /* for a window's mappings */
	pid_t pid;
	int status;            /* waitpid's, once dead */
	int shared_fd;
	struct uw_shared *sh;
	bool dead;
	int cpu;               /* the host CPU the world is kept on, -1: none */
	bool follow;           /* keep it on the monitor's CPU (see follow_cpu) */
	bool fx_known;         /* last_fx holds what the world has */
	uint32_t stub_errors;  /* the stub's count of failed maps, last seen */
	uint64_t migrations;   /* times it was moved to the monitor's CPU */
	uint64_t window_resets, window_errors;
	uint8_t last_fx[512];  /* the FP image last exchanged with it */
	/* A window's unmaps not yet made (pages: first, count), made at the
	 * next flush: no code runs in the window before it. */
	struct { uint32_t first, count; } pend[WINDOW_PENDING];
	unsigned n_pend;
};

/* Wait for the stub to hand the turn back: spin, then sleep on the futex
 * in slices, checking that the process is still alive. */
static bool wait_monitor_turn(struct hd_uworld *w)
{
	for (uint32_t i = 0; i < w->sh->spins; i++) {
		if (__atomic_load_n(&w->sh->turn, __ATOMIC_ACQUIRE) == UW_TURN_MONITOR)
			return true;
		__builtin_ia32_pause();
	}
	struct timespec slice = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
	bool alive = true;
	__atomic_store_n(&w->sh->monitor_sleeps, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&w->sh->turn, __ATOMIC_SEQ_CST) != UW_TURN_MONITOR) {
		syscall(SYS_futex, &w->sh->turn, FUTEX_WAIT, UW_TURN_WORLD, &slice, NULL, 0);
		if (__atomic_load_n(&w->sh->turn, __ATOMIC_ACQUIRE) == UW_TURN_MONITOR)
			break;
		int status;
		if (waitpid(w->pid, &status, WNOHANG) == w->pid) {
			w->status = status;
			w->pid = -1; /* reaped: its pid may be another's now */
			w->dead = true;
			alive = false;
			break;
		}
	}
	__atomic_store_n(&w->sh->monitor_sleeps, 0, __ATOMIC_RELAXED);
	return alive;
}

/*
 * Keep the world on the host CPU the monitor runs on. Every world switch
 * is then a hand-off between two tasks of one CPU -- a futex wake and a
 * context switch, ~1-3 us -- and never waits for another CPU to wake up or
 * be given back by whatever else runs there: measured at ~480 us per guest
 * system call (up to 1.5 ms) with one busy process on a 2-CPU nested VM,
 * against ~10 us on one CPU. The monitor itself stays free: the scheduler
 * moves it as it likes and the world follows at the next hand-off (the
 * check is a read of the CPU number, which glibc keeps in rseq).
 */
static void follow_cpu(struct hd_uworld *w)
{
	int cpu = sched_getcpu();
	if (!w->follow || cpu < 0 || cpu == w->cpu)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(w->pid, sizeof set, &set)) {
		/* Not allowed here (a cpuset, a seccomp'd sandbox...): fall
		 * back to spinning hand-offs between CPUs. */
		w->follow = false;
		w->sh->spins = hd_uworld_spin_budget(false);
		return;
	}
	w->cpu = cpu;
	w->migrations++;
}

static bool hand_over(struct hd_uworld *w, uint32_t cmd)
{
	if (w->dead)
		return false;
	follow_cpu(w);
	w->sh->cmd = cmd;
	__atomic_store_n(&w->sh->turn, UW_TURN_WORLD, __ATOMIC_SEQ_CST);
	/* A wake can only fail for bad arguments: a bug of ours. */
	if (__atomic_load_n(&w->sh->world_sleeps, __ATOMIC_SEQ_CST))
		BTVMM_CHECK(syscall(SYS_futex, &w->sh->turn, FUTEX_WAKE, 1, NULL, NULL, 0) >= 0);
	return wait_monitor_turn(w);
}

uint32_t hd_uworld_spin_budget(bool same_cpu)
{
	/* Both sides on one CPU: spinning only delays the side waited for. */
	if (same_cpu)
		return 0;
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < 2)
		return 0;
	return 20000;
}

bool hd_sibling_path(const char *name, char *out, size_t outlen)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return false;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = 0;
	return snprintf(out, outlen, "%s/%s", self, name) < (int)outlen;
}

struct hd_uworld *hd_uworld_spawn(const char *stub_path, int ram_fd,
				  char *err, size_t errlen)
{
	struct hd_uworld *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->shared_fd = memfd_create("btvmm-uworld", MFD_CLOEXEC);
	if (w->shared_fd < 0 || ftruncate(w->shared_fd, UW_SHARED_SIZE)) {
		snprintf(err, errlen, "cannot create the user world's shared page: %s",
			 strerror(errno));
		goto fail;
	}
	w->sh = mmap(NULL, UW_SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     w->shared_fd, 0);
	if (w->sh == MAP_FAILED) {
		w->sh = NULL;
		snprintf(err, errlen, "cannot map the shared page: %s", strerror(errno));
		goto fail;
	}
	w->sh->turn = UW_TURN_WORLD; /* the stub's until it reports ready */
	w->cpu = -1;
	w->follow = !getenv("BTVMM_HANDOFF_SPIN"); /* for comparison in bench/ */
	w->sh->spins = hd_uworld_spin_budget(w->follow);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ram_fd, UW_FD_RAM);
	posix_spawn_file_actions_adddup2(&fa, w->shared_fd, UW_FD_SHARED);
	char *argv[] = { (char *)"btvmm-userworld", NULL };
	char *envp[] = { NULL };
	int r = posix_spawn(&w->pid, stub_path, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (r) {
		snprintf(err, errlen, "cannot start the user world '%s': %s", stub_path,
			 strerror(r));
		goto fail;
	}
	if (!wait_monitor_turn(w) || w->sh->event != UW_EV_READY) {
		snprintf(err, errlen, "the user world '%s' did not start", stub_path);
		goto fail;
	}
	return w;
fail:
	hd_uworld_destroy(w);
	return NULL;
}

void hd_uworld_destroy(struct hd_uworld *w)
{
	if (!w)
		return;
	if (w->window) {
		/* Back to the reservation (inaccessible). */
		if (mmap((void *)w->window, HD_WINDOW_SIZE, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) ==
		    MAP_FAILED) /* the guest would keep pages it was denied */
			hd_host_failed("cannot take a user view's window back", errno);
		free(w);
		return;
	}
	if (w->pid > 0) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
	}
	if (w->sh)
		munmap(w->sh, UW_SHARED_SIZE);
	if (w->shared_fd >= 0)
		close(w->shared_fd);
	free(w);
}

/* A window's mapping, made at once (no process to hand it to). Out of
 * host mappings (vm.max_map_count), the window is emptied and the mapping
 * made again: the caller's bookkeeping then over-counts, which costs only
 * unmaps of pages that are not there. */
static void window_map(struct hd_uworld *w, uint32_t linear, uint32_t frame,
		       uint32_t pages, enum hd_prot prot);

static int cmp_pend(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Make a window's queued unmaps, adjacent and overlapping ranges as one. */
static void window_flush(struct hd_uworld *w)
{
	if (!w->n_pend)
		return;
	qsort(w->pend, w->n_pend, sizeof w->pend[0], cmp_pend);
	unsigned n = w->n_pend;
	w->n_pend = 0;
	for (unsigned i = 0; i < n;) {
		uint32_t first = w->pend[i].first, end = first + w->pend[i].count;
		for (i++; i < n && w->pend[i].first <= end; i++)
			if (w->pend[i].first + w->pend[i].count > end)
				end = w->pend[i].first + w->pend[i].count;
		window_map(w, first << 12, 0, end - first, HD_PROT_NONE);
	}
}

/* Queue an unmap of window pages [first, first + count); a mapping made
 * before the flush takes its page out of the queue (or, inside a longer
 * range, flushes the queue first). */
static void window_unmap_later(struct hd_uworld *w, uint32_t first, uint32_t count)
{
	if (w->n_pend == WINDOW_PENDING)
		window_flush(w);
	w->pend[w->n_pend].first = first;
	w->pend[w->n_pend].count = count;
	w->n_pend++;
}

/* Pages [lpage, lpage + pages) are mapped (or unmapped) now: queued unmaps
 * wholly inside are dropped; one that overlaps in part is made first. */
static void window_mapping_now(struct hd_uworld *w, uint32_t lpage, uint32_t pages)
{
	for (unsigned i = 0; i < w->n_pend; i++) {
		uint32_t f = w->pend[i].first, c = w->pend[i].count;
		if (lpage + pages <= f || lpage >= f + c)
			continue;
		if (lpage <= f && lpage + pages >= f + c) {
			/* Wholly remapped: the unmap is not needed. */
			w->pend[i--] = w->pend[--w->n_pend];
			continue;
		}
		window_flush(w);
		return;
	}
}

static void window_map(struct hd_uworld *w, uint32_t linear, uint32_t frame,
		       uint32_t pages, enum hd_prot prot)
{
	void *at = (void *)(w->window + linear);
	size_t len = (size_t)pages << 12;
	for (int attempt = 0; attempt < 2; attempt++) {
		void *p;
		if (prot == HD_PROT_NONE)
			p = mmap(at, len, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
		else
			p = mmap(at, len, prot == HD_PROT_RW ? PROT_READ | PROT_WRITE : PROT_READ,
				 MAP_SHARED | MAP_FIXED | hd_populate(len), w->ram_fd,
				 (off_t)frame << 12);
		if (p != MAP_FAILED)
			return;
		if (errno != ENOMEM || prot == HD_PROT_NONE)
			break;
		w->window_resets++;
		if (mmap((void *)w->window, HD_WINDOW_SIZE, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) ==
		    MAP_FAILED)
			break;
	}
	w->window_errors++; /* the access faults again, and the monitor stops it */
}

void hd_uworld_map(struct hd_uworld *w, uint32_t linear, uint32_t frame,
		   uint32_t pages, enum hd_prot prot)
{
	if (w->window) {
		if (prot == HD_PROT_NONE && pages <= WINDOW_PENDING_PAGES) {
			window_unmap_later(w, linear >> 12, pages);
			return;
		}
		window_mapping_now(w, linear >> 12, pages);
		window_map(w, linear, frame, pages, prot);
		return;
	}
	if (w->sh->n_maps == UW_MAX_MAPS)
		hd_uworld_flush(w);
	struct uw_map *m = &w->sh->maps[w->sh->n_maps++];
	m->linear = linear;
	m->frame = frame;
	m->pages = pages;
	m->prot = prot == HD_PROT_RW ? 3 : prot == HD_PROT_READ ? 1 : 0;
}

bool hd_uworld_unmaps_queued(const struct hd_uworld *w)
{
	return w->window && w->n_pend;
}

bool hd_uworld_flush(struct hd_uworld *w)
{
	if (w->window) {
		window_flush(w);
		return true;
	}
	if (!w->sh->n_maps)
		return !w->dead;
	return hand_over(w, UW_CMD_MAP);
}

/* MXCSR bits the host's FXRSTOR accepts (a guest FP image with others
 * would fault in the monitor when loaded). */
static uint32_t mxcsr_mask(void)
{
	static uint32_t mask;
	if (!mask) {
		uint8_t img[512] __attribute__((aligned(16)));
		__builtin_ia32_fxsave(img);
		memcpy(&mask, img + 28, 4);
		if (!mask)
			mask = 0xffbf; /* SDM vol. 1, 11.6.6 */
	}
	return mask;
}

/* Could a CPU have saved this FXSAVE image? */
static bool fx_plausible(const uint8_t fx[512])
{
	uint32_t mxcsr;
	memcpy(&mxcsr, fx + 24, 4);
	return !(mxcsr & ~mxcsr_mask());
}

enum hd_uw_result hd_uworld_run(struct hd_uworld *w, struct uw_regs *regs,
				uint8_t fx[512], struct hd_uw_event *ev,
				hd_code_reader *read, void *ctx)
{
	if (w->window)
		return HD_UW_BAD_STATE; /* a window runs nothing itself */
	w->sh->regs = *regs;
	if (w->fx_known && !memcmp(fx, w->last_fx, 512)) {
		w->sh->fx_same = UW_FX_TO_WORLD;
	} else {
		w->sh->fx_same = 0;
		memcpy(w->sh->fx, fx, 512);
		memcpy(w->last_fx, fx, 512);
	}
	if (!hand_over(w, UW_CMD_RUN)) {
		w->fx_known = false;
		return HD_UW_DEAD;
	}
	/* Everything below is read from the page once, and checked: the
	 * stub's process may run code that is not the stub's. */
	uint32_t event = w->sh->event, fx_same = w->sh->fx_same;
	uint32_t stub_errors = w->sh->stub_errors;
	*regs = w->sh->regs;
	if (fx_same & UW_FX_TO_MONITOR) {
		memcpy(fx, w->last_fx, 512);
	} else {
		memcpy(fx, w->sh->fx, 512);
		if (!fx_plausible(fx)) {
			memcpy(fx, w->last_fx, 512); /* never load it */
			w->fx_known = false;
			return HD_UW_FORGED;
		}
		memcpy(w->last_fx, fx, 512);
	}
	w->fx_known = true;
	ev->ran_tsc = w->sh->ran_tsc;
	memcpy(ev->sel, w->sh->sel, sizeof ev->sel);
	if (stub_errors != w->stub_errors) {
		w->stub_errors = stub_errors;
		return HD_UW_MAP_FAILED;
	}
	if (event == UW_EV_BAD_STATE)
		return HD_UW_BAD_STATE;
	if (event != UW_EV_SIGNAL || (fx_same & ~UW_FX_TO_MONITOR))
		return HD_UW_FORGED;
	struct uw_trap t = w->sh->trap; /* one copy */
	return hd_uw_decode(&t, regs, ev, read, ctx);
}

enum hd_uw_death hd_uworld_death(const struct hd_uworld *w, int *how)
{
	if (WIFEXITED(w->status)) {
		*how = WEXITSTATUS(w->status);
		return HD_UW_DIED_EXITED;
	}
	*how = WTERMSIG(w->status);
	switch (*how) {
	case SIGSYS:
		return HD_UW_DIED_SECCOMP;
	case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP:
		return HD_UW_DIED_FAULT;
	default:
		return HD_UW_DIED_EXTERNAL;
	}
}

void hd_uworld_preempt(struct hd_uworld *w)
{
	if (w && w->pid > 0 && !w->dead)
		kill(w->pid, SIGUSR1);
}

uint64_t hd_uworld_migrations(const struct hd_uworld *w)
{
	return w ? w->migrations : 0;
}

/* ---- windows: user views inside the monitor, for translated CPL-3 code ---- */

int hd_windows_reserve(unsigned n, char *err, size_t errlen)
{
	if (n == 0 || n > HD_MAX_WINDOWS) {
		snprintf(err, errlen, "bad number of windows %u", n);
		return -1;
	}
	uint64_t lo = HD_WINDOW(0), len = HD_WINDOW(n) - lo;
	void *p = mmap((void *)lo, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || (uint64_t)p != lo) {
		if (p != MAP_FAILED)
			munmap(p, len);
		snprintf(err, errlen, "cannot reserve host [%#llx, %#llx) for the user views: %s",
			 (unsigned long long)lo, (unsigned long long)(lo + len),
			 p == MAP_FAILED ? strerror(errno) : "taken");
		return -1;
	}
	return 0;
}

struct hd_uworld *hd_uworld_window(unsigned k, int ram_fd)
{
	if (k >= HD_MAX_WINDOWS)
		return NULL;
	struct hd_uworld *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->window = HD_WINDOW(k);
	w->ram_fd = ram_fd;
	w->pid = -1;
	w->shared_fd = -1;
	return w;
}

uint64_t hd_uworld_base(const struct hd_uworld *w)
{
	return w->window;
}
