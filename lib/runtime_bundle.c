/*
 * runtime_bundle.c - an OCI runtime bundle on disk: the directory, its
 * config.json, and a rootfs skeleton whose /etc is the bundle's own
 * (passwd, group, hosts, hostname, nsswitch.conf, and copies of a few
 * host files), /bin /lib /lib64 /sbin symlinks into the host's /usr.
 * See include/deis/runtime.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deis/buf.h"
#include "deis/file.h"
#include "runtime_internal.h"

/* Host files copied into the bundle's /etc when they exist: none secret. */
static const char *const host_etc_files[] = {
	"resolv.conf", "ld.so.cache", "services", "protocols", NULL,
};

/* Debian 12 merged /usr. */
static const char *const usr_links[][2] = {
	{ "bin", "usr/bin" }, { "lib", "usr/lib" },
	{ "lib64", "usr/lib64" }, { "sbin", "usr/sbin" },
};

/* ------------------------------------------------------------ the bundle */

static int mkdir_p(const char *path, mode_t mode, struct deis_error *err)
{
	char tmp[PATH_MAX];
	size_t i, n = strlen(path);

	if (n >= sizeof(tmp))
		return deis_error_set(err, ENAMETOOLONG, "path too long");
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return deis_error_set(err, errno, "mkdir %s: %s", tmp,
					      strerror(errno));
		tmp[i] = i < n ? '/' : '\0';
	}
	return 0;
}

/* Copies a small regular host file (following symlinks); absent is fine. */
static int copy_host_file(const char *src, const char *dst,
			  struct deis_error *err)
{
	struct deis_buf b = DEIS_BUF_INIT;
	char block[8192];
	ssize_t n;
	int fd, r;

	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 :
			deis_error_set(err, errno, "reading %s: %s", src,
				       strerror(errno));
	while ((n = read(fd, block, sizeof(block))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || b.len > (16u << 20)) {
			int e = n < 0 ? errno : EFBIG;

			close(fd);
			deis_buf_release(&b);
			return deis_error_set(err, e, "reading %s: %s", src,
					      strerror(e));
		}
		deis_buf_add(&b, block, (size_t)n);
	}
	close(fd);
	r = deis_file_write(dst, deis_buf_str(&b), b.len, 0644, err);
	deis_buf_release(&b);
	return r;
}

static int make_symlink(const char *target, const char *path,
			struct deis_error *err)
{
	char cur[PATH_MAX];
	ssize_t n;

	if (symlink(target, path) == 0)
		return 0;
	if (errno == EEXIST) {
		n = readlink(path, cur, sizeof(cur) - 1);
		if (n >= 0) {
			cur[n] = '\0';
			if (!strcmp(cur, target))
				return 0;
		}
	}
	return deis_error_set(err, errno ? errno : EEXIST, "symlink %s: %s",
			      path, strerror(errno ? errno : EEXIST));
}

static int write_etc(const struct deis_container_spec *spec, const char *etc,
		     struct deis_error *err)
{
	const char *user = spec_user(spec);
	char hostbuf[HOSTNAME_MAX + 1];
	const char *host = runtime_hostname(spec, hostbuf);
	struct deis_buf b = DEIS_BUF_INIT;
	char path[PATH_MAX], src[PATH_MAX];
	size_t i;
	int r;

	deis_buf_addf(&b,
		"root:x:0:0:root:/root:/usr/sbin/nologin\n"
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
		"%s:x:%u:%u:%s:/app:/bin/sh\n",
		user, (unsigned)spec_uid(spec), (unsigned)spec_gid(spec), user);
	if ((r = join(path, sizeof(path), etc, "passwd", err)) < 0 ||
	    (r = deis_file_write(path, b.data, b.len, 0644, err)) < 0)
		goto out;
	deis_buf_reset(&b);
	deis_buf_addf(&b, "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n%s:x:%u:\n",
		      user, (unsigned)spec_gid(spec));
	if ((r = join(path, sizeof(path), etc, "group", err)) < 0 ||
	    (r = deis_file_write(path, b.data, b.len, 0644, err)) < 0)
		goto out;
	deis_buf_reset(&b);
	if (spec->address)
		deis_buf_addf(&b, "127.0.0.1\tlocalhost\n%s\t%s\n"
			      "::1\tlocalhost ip6-localhost ip6-loopback\n", spec->address, host);
	else
		deis_buf_addf(&b, "127.0.0.1\tlocalhost %s\n"
			      "::1\tlocalhost ip6-localhost ip6-loopback\n", host);
	if ((r = join(path, sizeof(path), etc, "hosts", err)) < 0 ||
	    (r = deis_file_write(path, b.data, b.len, 0644, err)) < 0)
		goto out;
	deis_buf_reset(&b);
	deis_buf_adds(&b, "passwd: files\ngroup: files\nshadow: files\n"
		      "hosts: files dns\nnetworks: files\nprotocols: files\n"
		      "services: files\n");
	if ((r = join(path, sizeof(path), etc, "nsswitch.conf", err)) < 0 ||
	    (r = deis_file_write(path, b.data, b.len, 0644, err)) < 0)
		goto out;
	deis_buf_reset(&b);
	deis_buf_addf(&b, "%s\n", host);
	if ((r = join(path, sizeof(path), etc, "hostname", err)) < 0 ||
	    (r = deis_file_write(path, b.data, b.len, 0644, err)) < 0)
		goto out;
	for (i = 0; host_etc_files[i]; i++) {
		if ((r = join(path, sizeof(path), etc, host_etc_files[i], err)) < 0 ||
		    (r = join(src, sizeof(src), "/etc", host_etc_files[i], err)) < 0 ||
		    (r = copy_host_file(src, path, err)) < 0)
			goto out;
	}
	r = 0;
out:
	deis_buf_release(&b);
	return r;
}

int deis_runtime_bundle(const struct deis_container_spec *spec,
			const char *dir, struct deis_error *err)
{
	static const char *const dirs[] = {
		"usr", "etc", "proc", "dev", "sys", "tmp", "app",
		NULL,
	};
	char rootfs[PATH_MAX], path[PATH_MAX];
	char *json = NULL;
	size_t i;
	int r;

	if (!dir || !*dir)
		return deis_error_set(err, EINVAL, "no bundle directory");
	json = deis_runtime_config_json(spec, err);
	if (!json)
		return -err->code;
	if ((r = mkdir_p(dir, 0711, err)) < 0 ||
	    (r = join(rootfs, sizeof(rootfs), dir, "rootfs", err)) < 0 ||
	    (r = mkdir_p(rootfs, 0755, err)) < 0)
		goto out;
	for (i = 0; dirs[i]; i++) {
		if ((r = join(path, sizeof(path), rootfs, dirs[i], err)) < 0 ||
		    (r = mkdir_p(path, 0755, err)) < 0)
			goto out;
	}
	for (i = 0; runtime_host_ro_dirs[i]; i++) {
		if ((r = join(path, sizeof(path), rootfs,
			      runtime_host_ro_dirs[i] + 1, err)) < 0 ||
		    (r = mkdir_p(path, 0755, err)) < 0)
			goto out;
	}
	for (i = 0; i < spec->n_mounts; i++) {
		const char *d = spec->mounts[i].destination;
		struct stat st;

		while (*d == '/')
			d++;
		if ((r = join(path, sizeof(path), rootfs, d, err)) < 0)
			goto out;
		/* a file is bound onto a file, a directory onto a directory */
		if (stat(spec->mounts[i].source, &st) == 0 && !S_ISDIR(st.st_mode)) {
			char *slash = strrchr(path, '/');

			*slash = '\0';
			r = mkdir_p(path, 0755, err);
			*slash = '/';
			if (r < 0 || (r = deis_file_write(path, "", 0, 0644, err)) < 0)
				goto out;
		} else if ((r = mkdir_p(path, 0755, err)) < 0) {
			goto out;
		}
	}
	for (i = 0; i < sizeof(usr_links) / sizeof(usr_links[0]); i++) {
		if ((r = join(path, sizeof(path), rootfs, usr_links[i][0], err)) < 0 ||
		    (r = make_symlink(usr_links[i][1], path, err)) < 0)
			goto out;
	}
	if ((r = join(path, sizeof(path), rootfs, "tmp", err)) < 0 ||
	    chmod(path, 01777) < 0) {
		if (r == 0)
			r = deis_error_set(err, errno, "chmod %s: %s", path,
					   strerror(errno));
		goto out;
	}
	if ((r = join(path, sizeof(path), rootfs, "etc", err)) < 0 ||
	    (r = write_etc(spec, path, err)) < 0)
		goto out;
	if ((r = join(path, sizeof(path), dir, "config.json", err)) < 0 ||
	    (r = deis_file_write(path, json, strlen(json), 0644, err)) < 0)
		goto out;
	r = 0;
out:
	free(json);
	if (r < 0)
		deis_error_prefix(err, "bundle for '%s'", spec->id);
	return r;
}
