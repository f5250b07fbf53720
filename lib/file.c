/* file.c - see include/deis/file.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deis/buf.h"
#include "deis/file.h"

int deis_file_install(int fd, const char *tmp, const char *path, mode_t mode,
		      int rc, struct deis_error *err)
{
	if (rc == 0 && fchmod(fd, mode) < 0)
		rc = deis_error_set(err, errno, "%s: %s", tmp, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = deis_error_set(err, errno, "%s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) < 0)
		rc = deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int deis_file_write(const char *path, const void *data, size_t len, mode_t mode,
		    struct deis_error *err)
{
	struct deis_buf tmp = DEIS_BUF_INIT;
	const char *p = data;
	size_t off = 0;
	int rc = 0;

	/* mkostemp: a name no other writer of the same path holds, opened
	 * with O_EXCL (never through a link someone put there). */
	deis_buf_addf(&tmp, "%s.tmp.XXXXXX", path);
	int fd = mkostemp(tmp.data, O_CLOEXEC);
	if (fd < 0) {
		rc = deis_error_set(err, errno, "%s: %s", tmp.data, strerror(errno));
		deis_buf_release(&tmp);
		return rc;
	}
	while (rc == 0 && off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;

			rc = deis_error_set(err, e, "writing %s: %s", tmp.data, strerror(e));
		} else {
			off += (size_t)w;
		}
	}
	rc = deis_file_install(fd, tmp.data, path, mode, rc, err);
	deis_buf_release(&tmp);
	return rc;
}

ssize_t deis_file_read_at(int dirfd, const char *path, void *buf, size_t len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, len);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

ssize_t deis_file_read_small(const char *path, char *buf, size_t len)
{
	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	ssize_t r = deis_file_read_at(AT_FDCWD, path, buf, len - 1);
	buf[r > 0 ? r : 0] = '\0';
	return r;
}
