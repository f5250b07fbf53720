/*
 * spawn.c - posix_spawn with a clean signal state (spawn.h).
 */
#include <signal.h>

#include "deis/spawn.h"

void deis_spawnattr_init(posix_spawnattr_t *attr, short flags)
{
	sigset_t none, all;

	posix_spawnattr_init(attr);
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &all);
	posix_spawnattr_setflags(attr, (short)(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					       flags));
}
