/*
 * backend.c - the scheduler's runtime backends (include/deis/backend.h),
 * by the name scheduler_runtime gives.  A second backend is one row.
 */
#include <string.h>

#include "deis/backend.h"
#include "scheduler.h"

static const struct deis_backend_ops *const backends[] = {
	&deis_backend_runc,
};

const struct deis_backend_ops *deis_backend_find(const char *name)
{
	for (size_t k = 0; k < sizeof(backends) / sizeof(backends[0]); k++)
		if (!strcmp(backends[k]->name, name))
			return backends[k];
	return NULL;
}
