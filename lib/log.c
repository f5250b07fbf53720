/*
 * log.c - see include/deis/log.h.
 *
 * One line per call, written with a single write(2) so lines from several
 * threads never interleave.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "deis/log.h"

static const char *log_program = "deis";
static int log_level = LOG_INFO;
static int log_syslog;

static const char *const level_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

void deis_log_init(const char *program, int level, int use_syslog)
{
	log_program = program;
	log_level = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(program, LOG_PID, LOG_DAEMON);
}

void deis_log_set_level(int level)
{
	log_level = level;
}

int deis_log_level_parse(const char *name)
{
	for (int i = 0; i < 8; i++)
		if (!strcasecmp(name, level_names[i]))
			return i;
	if (!strcasecmp(name, "err"))
		return LOG_ERR;
	if (!strcasecmp(name, "warn"))
		return LOG_WARNING;
	return -1;
}

void deis_vlog(int level, const char *fmt, va_list ap)
{
	char line[4096];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int r;

	if (level > log_level)
		return;
	if (log_syslog) {
		vsyslog(level, fmt, ap);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%06ldZ %s[%d]: %s: ",
		     (long)tv.tv_usec, log_program, (int)getpid(),
		     level_names[level & 7]);
	if (r > 0)
		n += (size_t)r;
	if (n < sizeof(line)) {
		r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (r > 0)
			n += (size_t)r;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	while (n > 0 && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

void deis_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	deis_vlog(level, fmt, ap);
	va_end(ap);
}
