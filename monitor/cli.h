/* monitor: btvmm's command line (private header). */
#ifndef BTVMM_CLI_H
#define BTVMM_CLI_H

#include "monitor.h"

#define MAX_RAM_MIB 3584u   /* leave the top 512 MiB of the 4 GiB for devices */
#define MIN_RAM_MIB 2u
#define DEFAULT_RAM_MIB 128u

/* --de: what the user asked for. Unless it is "on", a host that cannot run
 * 32-bit code gets direct execution off, with a note. */
enum de_request { DE_AUTO, DE_ON, DE_OFF };

/* --accel: btvmm's binary translator, or the same machine on /dev/kvm. */
enum accel { ACCEL_BT, ACCEL_KVM };

/* What the command line asked for beyond struct mon_options. */
struct cli_request {
	enum de_request de;
	bool check_host;
	enum accel accel;
	const char *bt_option; /* an option given that only the translator has */
	bool ram_given;
};

/*
 * Read the command line into the options and the request. Bad usage ends
 * the run here: one line on stderr and status 2 (--help and --version:
 * their text and status 0).
 */
void mon_parse_args(int argc, char **argv, struct mon_options *o, struct cli_request *req);

#endif
