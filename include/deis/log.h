/*
 * log.h - one logging call for every binary, with syslog levels.
 *
 * Lines go to stderr (or syslog when configured) as
 * "<time> <program>[pid]: <level>: message".  libfuse's own log is routed
 * here by deisfs.
 */
#ifndef DEIS_LOG_H
#define DEIS_LOG_H

#include <stdarg.h>
#include <syslog.h>

void deis_log_init(const char *program, int level, int use_syslog);
void deis_log_set_level(int level);
int deis_log_level_parse(const char *name);	/* -1 when unknown */
void deis_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void deis_vlog(int level, const char *fmt, va_list ap);

#endif
