/* monitor: the checks on a task switch's new TSS descriptor (pure: unit-tested on their own). */
#include "monitor.h"

/* System descriptor types 1, 3, 9 and 11 are TSSes: available 16-bit
 * plus the busy bit and the 32-bit bit. */
#define TSS_AVAILABLE16 0x1
#define TSS_BUSY 0x2
#define TSS_32BIT 0x8
#define TSS32_MIN_LIMIT 0x67
#define TSS16_MIN_LIMIT 0x2b

static struct mon_fault fault(uint8_t vector, uint16_t sel)
{
	return (struct mon_fault){ .raised = true, .vector = vector, .has_error = true,
				   .error = sel & 0xfffcu };
}

struct mon_fault mon_tss_check(uint64_t desc, uint16_t sel, enum mon_task_reason why)
{
	unsigned type = DESC_TYPE(desc);
	bool tss = !DESC_S(desc) && (type & ~(TSS_BUSY | TSS_32BIT)) == TSS_AVAILABLE16;
	bool busy = type & TSS_BUSY;
	/* SDM vol. 2, IRET: the back-link must name a busy TSS, else #TS;
	 * CALL, JMP and task gates want an available one, else #GP. */
	if (why == MON_TASK_IRET && (!tss || !busy))
		return fault(EXC_TS, sel);
	if (why != MON_TASK_IRET && (!tss || busy))
		return fault(EXC_GP, sel);
	if (!DESC_P(desc))
		return fault(EXC_NP, sel);
	uint32_t min = (type & TSS_32BIT) ? TSS32_MIN_LIMIT : TSS16_MIN_LIMIT;
	if ((sel & 4) || DESC_BYTE_LIMIT(desc) < min)
		return fault(EXC_TS, sel);
	return (struct mon_fault){ .raised = false };
}
