/*
 * slug.c - the slug: a tar.gz of a built tree, written while streaming.
 *
 * A small POSIX tar (ustar) writer over zlib's gzip deflate.  Entries are
 * directories, regular files and symlinks (kept as symlinks: nothing is
 * followed, every open is O_NOFOLLOW relative to its directory's fd, so a
 * pushed symlink can never make the builder read a file of the host);
 * sockets, fifos and devices are skipped (git cannot hold them anyway).
 * Names and link targets longer than the 100 bytes of a ustar field go in
 * a pax extended header ("path=", "linkpath="), read by every current tar.
 * Every entry is under app/ (the layer goes on top of the stack, whose
 * /app it fills), app/ itself first with mode 0755.
 * Owner 10000:10000 "app", modes as on disk, every mtime the same (the
 * commit's), names sorted and the gzip header without a time stamp: the
 * same tree always makes the same bytes, so a re-push of a commit uploads
 * no new layer.  The compressed size is checked as it grows: a slug over
 * the limit stops at once with -EFBIG.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "deis/buf.h"
#include "builder.h"

#define BLOCK		512
#define IO_SIZE		(128 * 1024)
#define APP_ID		10000
#define MAX_DEPTH	256
#define OCTAL_MAX_11	077777777777LL	/* what 11 octal digits hold */
/* The layer goes over the stack's root: the tree is its /app. */
#define SLUG_TOP	"app/"

struct slug {
	int fd;
	z_stream z;
	unsigned char *out;		/* IO_SIZE bytes of compressed output */
	unsigned char *io;		/* IO_SIZE bytes for reading files */
	long long written;		/* compressed bytes so far */
	long long limit;
	time_t mtime;
	struct deis_error *err;
};

static int flush_out(struct slug *s, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(s->fd, s->out + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return deis_error_set(s->err, errno, "writing the slug: %s",
					      strerror(errno));
		off += (size_t)w;
	}
	s->written += (long long)n;
	if (s->written > s->limit)
		return deis_error_set(s->err, EFBIG, "the slug is larger than the limit "
				      "of %lld MB (builder_slug_limit)",
				      s->limit / (1024 * 1024));
	return 0;
}

/* Compresses len bytes (flush: Z_NO_FLUSH or Z_FINISH). */
static int put(struct slug *s, const void *data, size_t len, int flush)
{
	s->z.next_in = (unsigned char *)data;
	s->z.avail_in = (uInt)len;
	for (;;) {
		s->z.next_out = s->out;
		s->z.avail_out = IO_SIZE;
		int zr = deflate(&s->z, flush);
		if (zr == Z_STREAM_ERROR)
			return deis_error_set(s->err, EIO, "compressing the slug failed");
		size_t n = IO_SIZE - s->z.avail_out;
		if (n) {
			int r = flush_out(s, n);
			if (r < 0)
				return r;
		}
		if (flush == Z_FINISH ? zr == Z_STREAM_END : s->z.avail_out != 0)
			return 0;
	}
}

static int pad(struct slug *s, long long size)
{
	static const char zero[BLOCK];
	size_t rest = (size_t)(size % BLOCK);

	return rest ? put(s, zero, BLOCK - rest, Z_NO_FLUSH) : 0;
}

static void octal(char *field, size_t width, long long v)
{
	/* width - 1 digits and a NUL, as GNU tar writes them. */
	snprintf(field, width, "%0*llo", (int)width - 1, v);
}

/* One 512-byte header block; name and link must fit their fields. */
static int header(struct slug *s, const char *name, char type, mode_t mode,
		  long long size, const char *link)
{
	char h[BLOCK];
	unsigned sum = 0;

	memset(h, 0, sizeof(h));
	memcpy(h, name, strnlen(name, 100));
	octal(h + 100, 8, mode & 07777);
	octal(h + 108, 8, APP_ID);
	octal(h + 116, 8, APP_ID);
	octal(h + 124, 12, size);
	octal(h + 136, 12, s->mtime > 0 && s->mtime <= OCTAL_MAX_11 ? s->mtime : 0);
	memset(h + 148, ' ', 8);
	h[156] = type;
	if (link)
		memcpy(h + 157, link, strnlen(link, 100));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memcpy(h + 265, "app", 3);
	memcpy(h + 297, "app", 3);
	for (size_t i = 0; i < BLOCK; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	return put(s, h, sizeof(h), Z_NO_FLUSH);
}

/* "<len> key=value\n", where len counts the whole record. */
static void pax_record(struct deis_buf *b, const char *key, const char *value)
{
	size_t base = strlen(key) + strlen(value) + 3;	/* ' ', '=', '\n' */
	size_t len = base + 1;

	while (len != base + (size_t)snprintf(NULL, 0, "%zu", len))
		len = base + (size_t)snprintf(NULL, 0, "%zu", len);
	deis_buf_addf(b, "%zu %s=%s\n", len, key, value);
}

/* An entry: a pax header first when the name or the link is too long. */
static int entry(struct slug *s, const char *name, char type, mode_t mode,
		 long long size, const char *link)
{
	bool long_name = strlen(name) > 100, long_link = link && strlen(link) > 100;
	int r;

	if (long_name || long_link) {
		struct deis_buf rec = DEIS_BUF_INIT;

		if (long_name)
			pax_record(&rec, "path", name);
		if (long_link)
			pax_record(&rec, "linkpath", link);
		r = header(s, "././@PaxHeader", 'x', 0644, (long long)rec.len, NULL);
		if (r == 0)
			r = put(s, rec.data, rec.len, Z_NO_FLUSH);
		if (r == 0)
			r = pad(s, (long long)rec.len);
		deis_buf_release(&rec);
		if (r < 0)
			return r;
	}
	/* The ustar fields get the last 100 bytes: a reader without pax
	 * support still gets something near the name. */
	size_t nl = strlen(name);
	return header(s, nl > 100 ? name + nl - 100 : name, type, mode, size, link);
}

static int add_file(struct slug *s, int dfd, const char *dname, const char *path,
		    const struct stat *st)
{
	int fd = openat(dfd, dname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat fst;
	long long left;
	int r;

	if (fd < 0)
		return deis_error_set(s->err, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_size != st->st_size) {
		close(fd);
		return deis_error_set(s->err, EIO, "%s changed while the slug was made", path);
	}
	if (fst.st_size > OCTAL_MAX_11) {
		close(fd);
		return deis_error_set(s->err, EFBIG, "%s is larger than 8 GB", path);
	}
	r = entry(s, path, '0', fst.st_mode, fst.st_size, NULL);
	for (left = fst.st_size; r == 0 && left > 0;) {
		ssize_t n = read(fd, s->io, left < IO_SIZE ? (size_t)left : IO_SIZE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = deis_error_set(s->err, n < 0 ? errno : EIO, "reading %s: %s", path,
					   n < 0 ? strerror(errno) : "it shrank");
			break;
		}
		r = put(s, s->io, (size_t)n, Z_NO_FLUSH);
		left -= n;
	}
	close(fd);
	return r < 0 ? r : pad(s, fst.st_size);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the entries of the directory dfd (its path in the slug: prefix,
 * ending in '/'), recursing into subdirectories. */
static int add_dir(struct slug *s, int dfd, const char *prefix, int depth)
{
	struct deis_strlist names = DEIS_STRLIST_INIT;
	struct deis_buf path = DEIS_BUF_INIT;
	int r = 0;

	if (depth > MAX_DEPTH)
		return deis_error_set(s->err, ELOOP, "%s: directories nested too deep", prefix);
	int fd = dup(dfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return deis_error_set(s->err, errno, "%s: %s", *prefix ? prefix : ".",
				      strerror(errno));
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (depth == 0 && !strcmp(e->d_name, ".git"))
			continue;
		deis_strlist_add(&names, e->d_name);
	}
	closedir(d);
	if (names.n)
		qsort(names.items, names.n, sizeof(*names.items), cmp_names);
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		const char *name = names.items[i];
		struct stat st;

		deis_buf_reset(&path);
		deis_buf_addf(&path, "%s%s", prefix, name);
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = deis_error_set(s->err, errno, "%s: %s", path.data, strerror(errno));
		} else if (S_ISREG(st.st_mode)) {
			r = add_file(s, dfd, name, path.data, &st);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);

			if (n < 0)
				r = deis_error_set(s->err, errno, "%s: %s", path.data,
						   strerror(errno));
			else {
				target[n] = '\0';
				r = entry(s, path.data, '2', 0777, 0, target);
			}
		} else if (S_ISDIR(st.st_mode)) {
			deis_buf_addch(&path, '/');
			r = entry(s, path.data, '5', st.st_mode, 0, NULL);
			int sub = r < 0 ? -1 : openat(dfd, name, O_RDONLY | O_DIRECTORY |
						       O_NOFOLLOW | O_CLOEXEC);
			if (r == 0 && sub < 0)
				r = deis_error_set(s->err, errno, "%s: %s", path.data,
						   strerror(errno));
			if (r == 0) {
				r = add_dir(s, sub, path.data, depth + 1);
				close(sub);
			}
		}
	}
	deis_strlist_clear(&names);
	deis_buf_release(&path);
	return r;
}

int builder_slug_write(const char *dir, const char *path, time_t mtime,
		       long long limit, long long *size, struct deis_error *err)
{
	struct slug s = { .fd = -1, .limit = limit, .mtime = mtime, .err = err };
	static const char zero[2 * BLOCK];
	int r, dfd;

	if (deflateInit2(&s.z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return deis_error_set(err, ENOMEM, "zlib: cannot start compressing");
	s.out = malloc(IO_SIZE);
	s.io = malloc(IO_SIZE);
	if (!s.out || !s.io) {
		r = deis_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = deis_error_set(err, errno, "%s: %s", dir, strerror(errno));
		goto out;
	}
	s.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s.fd < 0) {
		r = deis_error_set(err, errno, "%s: %s", path, strerror(errno));
		close(dfd);
		goto out;
	}
	r = entry(&s, SLUG_TOP, '5', 0755, 0, NULL);
	if (r == 0)
		r = add_dir(&s, dfd, SLUG_TOP, 0);
	close(dfd);
	if (r == 0)
		r = put(&s, zero, sizeof(zero), Z_FINISH);
	if (close(s.fd) < 0 && r == 0)
		r = deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	if (r == 0 && size)
		*size = s.written;
out:
	deflateEnd(&s.z);
	free(s.out);
	free(s.io);
	return r;
}
