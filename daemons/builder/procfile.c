/*
 * procfile.c - Procfile parsing (Heroku's format).
 *
 *   web: ./server --port $PORT
 *   worker: bin/worker
 *
 * One "type: command" per line; blank lines and lines starting with '#'
 * are skipped; a CR before the newline is dropped.  The type must pass
 * deis_valid_proc_type() and appear once; the command is the rest of the
 * line after the colon, blanks trimmed, and may not be empty or hold
 * control characters (it is shown to the user and stored).  Errors name the
 * line.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deis/buf.h"

#include "deis/validate.h"
#include "builder.h"

#define PROCFILE_MAX	(64 * 1024)
#define PROCFILE_READ_MAX	(PROCFILE_MAX + 1)

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

int builder_procfile_parse(const char *text, size_t len,
			   struct deis_kvlist *out, struct deis_error *err)
{
	char shown[96], type[64];
	int lineno = 0;
	size_t pos = 0;

	if (len > PROCFILE_MAX)
		return deis_error_set(err, EINVAL, "Procfile is larger than %d KiB",
				      PROCFILE_MAX / 1024);
	if (memchr(text, '\0', len))
		return deis_error_set(err, EINVAL, "Procfile holds a NUL byte");
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;

		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n && line[n - 1] == '\r')
			n--;
		while (n && blank(line[0])) {
			line++;
			n--;
		}
		while (n && blank(line[n - 1]))
			n--;
		if (n == 0 || line[0] == '#')
			continue;
		const char *colon = memchr(line, ':', n);
		if (!colon)
			return deis_error_set(err, EINVAL, "Procfile line %d: '%s' is not "
					      "'type: command'", lineno,
					      deis_printable(shown, sizeof(shown), line, n));
		size_t tn = (size_t)(colon - line);
		while (tn && blank(line[tn - 1]))
			tn--;
		if (tn == 0 || tn >= sizeof(type))
			goto badtype;
		memcpy(type, line, tn);
		type[tn] = '\0';
		if (!deis_valid_proc_type(type))
			goto badtype;
		const char *cmd = colon + 1;
		size_t cn = n - (size_t)(cmd - line);
		while (cn && blank(cmd[0])) {
			cmd++;
			cn--;
		}
		if (cn == 0)
			return deis_error_set(err, EINVAL, "Procfile line %d: process type "
					      "'%s' has no command", lineno, type);
		for (size_t i = 0; i < cn; i++)
			if ((unsigned char)cmd[i] < 0x20 && cmd[i] != '\t')
				return deis_error_set(err, EINVAL, "Procfile line %d: the "
						      "command holds a control character",
						      lineno);
		if (deis_kvlist_get(out, type))
			return deis_error_set(err, EINVAL, "Procfile line %d: process type "
					      "'%s' is declared twice", lineno, type);
		deis_kvlist_setn(out, type, cmd, cn);
		continue;
badtype:
		return deis_error_set(err, EINVAL, "Procfile line %d: '%s' is not a valid "
				      "process type (a lower-case letter, then up to 29 "
				      "lower-case letters, digits, '-' or '_'; not 'run')",
				      lineno, deis_printable(shown, sizeof(shown), line, tn));
	}
	if (out->n == 0)
		return deis_error_set(err, EINVAL, "Procfile declares no process type");
	return 0;
}

/* Reads dir/Procfile: a regular file, never through a symlink (a pushed
 * symlink must not make the hook read a file of the host). */
static int read_procfile(const char *dir, struct deis_buf *out, struct deis_error *err)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return deis_error_set(err, errno, "%s: %s", dir, strerror(errno));
	int fd = openat(dfd, "Procfile", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int e = errno;
	close(dfd);
	if (fd < 0) {
		if (e == ENOENT)
			return deis_error_set(err, ENOENT, "no Procfile in the root of the "
					      "repository: add one with lines like "
					      "'web: ./server'");
		if (e == ELOOP)
			return deis_error_set(err, EINVAL, "the Procfile is a symbolic link: "
					      "make it a regular file");
		return deis_error_set(err, e, "Procfile: %s", strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return deis_error_set(err, EINVAL, "the Procfile is not a regular file");
	}
	for (;;) {
		deis_buf_grow(out, 8192);
		ssize_t n = read(fd, out->data + out->len, 8192);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			close(fd);
			return deis_error_set(err, e, "Procfile: %s", strerror(e));
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if (out->len > PROCFILE_READ_MAX)
			break;
	}
	close(fd);
	return 0;
}

int builder_procfile_read(const char *dir, struct deis_kvlist *out,
			  struct deis_error *err)
{
	struct deis_buf text = DEIS_BUF_INIT;
	int r = read_procfile(dir, &text, err);

	if (r == 0)
		r = builder_procfile_parse(deis_buf_str(&text), text.len, out, err);
	deis_buf_release(&text);
	return r;
}
