/*
 * fsbench.c - per-syscall timing loops for tests/bench/run.
 *
 *   fsbench MODE ITERATIONS PATH
 *
 * Runs a few untimed warm-up iterations, then ITERATIONS timed ones, and
 * prints the mean cost of one iteration in nanoseconds, then the number of
 * directory entries seen by one iteration (0 for file modes):
 *
 *   stat     stat(PATH)
 *   cat      open(PATH) + read to EOF + close       (what cat does)
 *   readdir  opendir(PATH) + readdir to the end      (what ls does)
 *   ls       as readdir, plus lstat(PATH/name) of every entry other than
 *            . and ..                                 (what ls -l does)
 *   write    open(PATH, O_WRONLY|O_TRUNC) + write("v<pid>.<i>\n") + close,
 *            a new value each time                    (echo v > PATH)
 *
 * Any failing call ends the program with status 1 and a message, so a
 * benchmark never times errors.  Built by tests/bench/run with
 * cc -O2 -std=c11.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 16];

static void fail(const char *what, const char *path)
{
	fprintf(stderr, "fsbench: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long one_stat(const char *path, long i)
{
	struct stat st;

	(void)i;
	if (stat(path, &st) < 0)
		fail("stat", path);
	return 0;
}

static long one_cat(const char *path, long i)
{
	size_t total = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	(void)i;
	if (fd < 0)
		fail("open", path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	if (n < 0)
		fail("read", path);
	if (close(fd) < 0)
		fail("close", path);
	if (total == 0) {
		errno = ENODATA;
		fail("cat (empty file)", path);
	}
	return 0;
}

static long list_dir(const char *path, int with_lstat)
{
	char full[4096];
	struct dirent *de;
	struct stat st;
	long entries = 0;
	DIR *d = opendir(path);

	if (!d)
		fail("opendir", path);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		entries++;
		if (!with_lstat)
			continue;
		/* GNU ls -l stats "dir/name", a walk from the top each time */
		int len = snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (len < 0 || (size_t)len >= sizeof(full)) {
			errno = ENAMETOOLONG;
			fail("lstat", de->d_name);
		}
		if (lstat(full, &st) < 0)
			fail("lstat", full);
		errno = 0;
	}
	if (errno)
		fail("readdir", path);
	closedir(d);
	if (entries == 0) {
		errno = ENOENT;
		fail("readdir (no entries)", path);
	}
	return entries;
}

static long one_readdir(const char *path, long i)
{
	(void)i;
	return list_dir(path, 0);
}

static long one_ls(const char *path, long i)
{
	(void)i;
	return list_dir(path, 1);
}

static long one_write(const char *path, long i)
{
	char val[64];
	int len = snprintf(val, sizeof(val), "v%ld.%ld\n", (long)getpid(), i);
	int fd = open(path, O_WRONLY | O_TRUNC);

	if (fd < 0)
		fail("open", path);
	if (write(fd, val, (size_t)len) != len)
		fail("write", path);
	if (close(fd) < 0)
		fail("close", path);
	return 0;
}

static const struct {
	const char *name;
	long (*fn)(const char *path, long i);
	long warmup;
} modes[] = {
	{ "stat", one_stat, 100 },
	{ "cat", one_cat, 100 },
	{ "readdir", one_readdir, 10 },
	{ "ls", one_ls, 10 },
	{ "write", one_write, 2 },
};

int main(int argc, char **argv)
{
	long n, entries = 0, i = 0;
	char *end;

	if (argc != 4) {
		fprintf(stderr, "usage: fsbench stat|cat|readdir|ls|write ITERATIONS PATH\n");
		return 2;
	}
	n = strtol(argv[2], &end, 10);
	if (*end || n < 1) {
		fprintf(stderr, "fsbench: bad iteration count '%s'\n", argv[2]);
		return 2;
	}
	for (size_t m = 0; m < sizeof(modes) / sizeof(*modes); m++) {
		if (strcmp(modes[m].name, argv[1]))
			continue;
		for (; i < modes[m].warmup; i++)
			entries = modes[m].fn(argv[3], i);
		long long t0 = now_ns();
		for (long k = 0; k < n; k++, i++)
			entries = modes[m].fn(argv[3], i);
		long long t1 = now_ns();
		printf("%.1f %ld\n", (double)(t1 - t0) / (double)n, entries);
		return 0;
	}
	fprintf(stderr, "fsbench: unknown mode '%s'\n", argv[1]);
	return 2;
}
