/* monitor: the checks on a task switch's new TSS descriptor (pure: unit-tested on their own). */
#include "monitor.h"

/* System descriptor types 1, 3, 9 and 11 are TSSes: available 16-bit
 * plus the busy bit and the 32-bit bit. */
static struct mon_fault fault(uint8_t vector, uint16_t sel)
{
	return (struct mon_fault){ .raised = true, .vector = vector, .has_error = true,
				   .error = sel_error(sel) };
}

struct mon_fault mon_tss_check(uint64_t desc, uint16_t sel, enum mon_task_reason why)
{
	unsigned type = desc_type(desc);
	bool tss = !desc_s(desc) && (type & ~(SYS_TSS_BUSY | SYS_32BIT)) == SYS_TSS16;
	bool busy = type & SYS_TSS_BUSY;
	/* SDM vol. 2, IRET: the back-link must name a busy TSS, else #TS;
	 * CALL, JMP and task gates want an available one, else #GP. */
	if (why == MON_TASK_IRET && (!tss || !busy))
		return fault(EXC_TS, sel);
	if (why != MON_TASK_IRET && (!tss || busy))
		return fault(EXC_GP, sel);
	if (!desc_p(desc))
		return fault(EXC_NP, sel);
	uint32_t min = (type & SYS_32BIT) ? TSS32_MIN_LIMIT : TSS16_MIN_LIMIT;
	if ((sel & SEL_TI) || desc_byte_limit(desc) < min)
		return fault(EXC_TS, sel);
	return (struct mon_fault){ .raised = false };
}
