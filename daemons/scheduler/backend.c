/*
 * backend.c - the scheduler's runtime backends (include/deis/backend.h),
 * by the name scheduler_runtime gives.  A second backend is one row.
 */
#include <string.h>

#include "deis/backend.h"
#include "scheduler.h"

const struct deis_backend_ops *const deis_backends[] = {
	&deis_backend_runc,
	&deis_backend_swarm,
	NULL,
};

const struct deis_backend_ops *deis_backend_find(const char *name)
{
	for (size_t k = 0; deis_backends[k]; k++)
		if (!strcmp(deis_backends[k]->name, name))
			return deis_backends[k];
	return NULL;
}
