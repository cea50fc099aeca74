/* devices: helpers shared by the firmware-table writers (firmware.c, firmware_acpi.c, firmware_aml.c) only. */
#ifndef BTVMM_FIRMWARE_INTERNAL_H
#define BTVMM_FIRMWARE_INTERNAL_H

#include <stdint.h>

#include "devices.h"

/*
 * The tables are written straight into the guest's RAM image at their
 * guest-physical addresses, little-endian, with no alignment assumed of
 * the host: every field goes through these.
 */
static inline void fw_put8(uint8_t *ram, uint32_t addr, uint8_t v)
{
	ram[addr] = v;
}

static inline void fw_put16(uint8_t *ram, uint32_t addr, uint16_t v)
{
	ram[addr] = (uint8_t)v;
	ram[addr + 1] = (uint8_t)(v >> 8);
}

static inline void fw_put32(uint8_t *ram, uint32_t addr, uint32_t v)
{
	fw_put16(ram, addr, (uint16_t)v);
	fw_put16(ram, addr + 2, (uint16_t)(v >> 16));
}

static inline void fw_put64(uint8_t *ram, uint32_t addr, uint64_t v)
{
	fw_put32(ram, addr, (uint32_t)v);
	fw_put32(ram, addr + 4, (uint32_t)(v >> 32));
}

/* Copy the `n` characters of `s` (no NUL) to guest address `addr`. */
void fw_put_chars(uint8_t *ram, uint32_t addr, const char *s, uint32_t n);

/* Store at `sum_at` the byte that makes [addr, addr + len) sum to 0 mod
 * 256; `sum_at` lies inside the range and is cleared first. */
void fw_checksum(uint8_t *ram, uint32_t addr, uint32_t len, uint32_t sum_at);

/*
 * The BIOS area as it fills up: tables go one after another from `next`.
 * Their sizes are fixed by the code, so running past `end` is a bug of
 * this file (an assertion), never a guest's or user's doing.
 */
struct fw_area {
	uint8_t *ram;
	uint32_t next, end;
};

/* Return the guest address of `size` bytes aligned to `align` (a power of
 * two) and advance past them. */
uint32_t fw_alloc(struct fw_area *area, uint32_t size, uint32_t align);

/* ---- ACPI (firmware_acpi.c) ---- */

/* Write the ACPI tables into `area`; the RSDP goes at `rsdp` (36 bytes,
 * 16-byte aligned, already reserved in the area by the caller). */
void fw_acpi_build(struct fw_area *area, uint32_t rsdp,
		   const struct dev_firmware_config *cfg);

/* ---- AML (firmware_aml.c) ---- */

/* Write the DSDT's AML body (no table header) at guest address `addr`, at
 * most `room` bytes; return its length. PCI memory is decoded from
 * `ram_end` (where RAM ends) up to the I/O APIC. */
uint32_t fw_dsdt_aml(uint8_t *ram, uint32_t addr, uint32_t room,
		     uint32_t ram_end);

#endif
