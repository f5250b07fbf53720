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
#include <string.h>

#include "deis/validate.h"
#include "builder.h"

#define PROCFILE_MAX	(64 * 1024)

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
