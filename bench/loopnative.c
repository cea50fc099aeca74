/* bench: runs one loop of loops.S natively in a 32-bit host process, for the harness to time. */

#include <stdio.h>
#include <stdlib.h>

#include "loops.h"

/*
 * Same words as the guest ("loop=reg|mem|spill iters=N", as one argument or
 * several) and the same output line, so the harness can check that the
 * guest computed what the host CPU computes.
 */

/* Its own page, as in the guest; zero like the guest's .bss. */
static uint32_t loop_mem_buf[4096 / sizeof(uint32_t)]
	__attribute__((aligned(4096)));
_Static_assert(sizeof(loop_mem_buf) / sizeof(uint32_t) >= LOOP_MEM_WORDS,
	       "loop_mem needs LOOP_MEM_WORDS words");

int main(int argc, char **argv)
{
	struct loop_args args = { .kind = LOOP_NONE };
	char line[LOOPS_RESULT_MAX];
	uint32_t result;
	int i;

	for (i = 1; i < argc; i++)
		loops_parse_line(argv[i], &args);
	if (args.bad || args.kind == LOOP_NONE || !args.have_iters) {
		fprintf(stderr, "usage: %s loop=reg|mem|spill iters=N\n", argv[0]);
		return 2;
	}

	if (args.kind == LOOP_REG)
		result = loop_reg(args.iters);
	else if (args.kind == LOOP_MEM)
		result = loop_mem(args.iters, loop_mem_buf);
	else
		result = loop_spill(args.iters, loop_mem_buf);

	loops_format_result(line, args.kind, args.iters, result);
	fputs(line, stdout);
	return 0;
}
