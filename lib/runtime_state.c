/*
 * runtime_state.c - what runc says about containers: status names, the
 * JSON of `runc state` and `runc list`, and a container's cgroup files
 * found through runc's state.json.  See include/deis/runtime.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "runtime_internal.h"

/* ------------------------------------------------------------ state, list */

static const char *const status_names[] = {
	[DEIS_RT_UNKNOWN] = "unknown",
	[DEIS_RT_CREATING] = "creating",
	[DEIS_RT_CREATED] = "created",
	[DEIS_RT_RUNNING] = "running",
	[DEIS_RT_PAUSED] = "paused",
	[DEIS_RT_STOPPED] = "stopped",
};

const char *deis_runtime_status_name(enum deis_runtime_status s)
{
	if ((size_t)s >= sizeof(status_names) / sizeof(status_names[0]))
		return "unknown";
	return status_names[s];
}

static enum deis_runtime_status parse_status(const char *s)
{
	size_t i;

	for (i = 1; s && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (!strcmp(s, status_names[i]))
			return (enum deis_runtime_status)i;
	return DEIS_RT_UNKNOWN;
}

static int parse_one(json_t *o, struct deis_runtime_info *info,
		     struct deis_error *err)
{
	json_t *id = json_object_get(o, "id");
	json_t *st = json_object_get(o, "status");
	json_t *pid = json_object_get(o, "pid");
	json_t *bundle = json_object_get(o, "bundle");
	json_int_t p;

	if (!json_is_object(o) || !json_is_string(id) || !json_is_string(st) ||
	    (pid && !json_is_integer(pid)))
		return deis_error_set(err, EIO, "runc state: unexpected JSON");
	if (strlen(json_string_value(id)) > DEIS_RUNTIME_ID_MAX)
		return deis_error_set(err, EIO, "runc state: id too long");
	memset(info, 0, sizeof(*info));
	snprintf(info->id, sizeof(info->id), "%s", json_string_value(id));
	info->status = parse_status(json_string_value(st));
	p = pid ? json_integer_value(pid) : 0;
	info->pid = p > 0 && p <= INT_MAX ? (pid_t)p : 0;
	if (info->status == DEIS_RT_STOPPED)
		info->pid = 0;
	if (json_is_string(bundle)) {
		info->bundle = strdup(json_string_value(bundle));
		if (!info->bundle)
			return deis_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

int deis_runtime_parse_state(const char *json, enum deis_runtime_status *st,
			     pid_t *pid, struct deis_error *err)
{
	struct deis_runtime_info info;
	json_error_t je;
	json_t *o = json_loads(json ? json : "", 0, &je);
	int r;

	if (!o)
		return deis_error_set(err, EIO, "runc state: bad JSON: %s", je.text);
	r = parse_one(o, &info, err);
	json_decref(o);
	if (r < 0)
		return r;
	free(info.bundle);
	if (st)
		*st = info.status;
	if (pid)
		*pid = info.pid;
	return 0;
}

int deis_runtime_parse_list(const char *json, struct deis_runtime_list *out,
			    struct deis_error *err)
{
	json_error_t je;
	json_t *a;
	size_t i, n;
	int r = 0;

	out->items = NULL;
	out->n = 0;
	a = json_loads(json ? json : "", JSON_DECODE_ANY, &je);
	if (!a)
		return deis_error_set(err, EIO, "runc list: bad JSON: %s", je.text);
	if (json_is_null(a)) {
		json_decref(a);
		return 0;
	}
	if (!json_is_array(a)) {
		json_decref(a);
		return deis_error_set(err, EIO, "runc list: not an array");
	}
	n = json_array_size(a);
	if (n) {
		out->items = calloc(n, sizeof(*out->items));
		if (!out->items) {
			json_decref(a);
			return deis_error_set(err, ENOMEM, "out of memory");
		}
	}
	for (i = 0; i < n; i++) {
		r = parse_one(json_array_get(a, i), &out->items[i], err);
		if (r < 0)
			break;
		out->n++;
	}
	json_decref(a);
	if (r < 0)
		deis_runtime_list_free(out);
	return r;
}

void deis_runtime_list_free(struct deis_runtime_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		free(l->items[i].bundle);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

int deis_runtime_cgroup_read(const char *state_dir, const char *id,
			     const char *controller, const char *file,
			     char *buf, size_t len, struct deis_error *err)
{
	char path[PATH_MAX];
	json_error_t je;
	json_t *st, *paths, *p;
	ssize_t n;
	size_t off = 0;
	int fd, r;

	if ((r = check_state_dir(state_dir, err)) < 0 ||
	    (r = deis_runtime_check_id(id, err)) < 0)
		return r;
	if (!controller || !file || !*controller || !*file ||
	    strchr(controller, '/') || strchr(file, '/') || file[0] == '.' ||
	    controller[0] == '.' || len == 0)
		return deis_error_set(err, EINVAL, "bad cgroup controller or file");
	r = snprintf(path, sizeof(path), "%s/%s/state.json", state_dir, id);
	if (r < 0 || (size_t)r >= sizeof(path))
		return deis_error_set(err, ENAMETOOLONG, "path too long");
	st = json_load_file(path, 0, &je);
	if (!st)
		return deis_error_set(err, access(path, F_OK) ? ENOENT : EIO,
				      "container %s: %s", id, je.text);
	paths = json_object_get(st, "cgroup_paths");
	p = json_object_get(paths, controller);
	if (!json_is_string(p)) {
		json_decref(st);
		return deis_error_set(err, ENOENT, "container %s has no %s cgroup",
				      id, controller);
	}
	r = snprintf(path, sizeof(path), "%s/%s", json_string_value(p), file);
	json_decref(st);
	if (r < 0 || (size_t)r >= sizeof(path))
		return deis_error_set(err, ENAMETOOLONG, "path too long");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	while (off + 1 < len && (n = read(fd, buf + off, len - off - 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return deis_error_set(err, e, "%s: %s", path, strerror(e));
		}
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return 0;
}
