/*
 * command.c - the only SSH commands deis-builder accepts.
 *
 * git sends "git-receive-pack '/hello.git'" for a push to
 * ssh://git@host:2222/hello.git (and "git-upload-pack ..." for a fetch).
 * Accepted: the service name, one space, then the repository, optionally in
 * single quotes, optionally with one leading '/' and a trailing ".git".  The
 * rest must be an app name (deis_valid_app_name): a DNS label, so no '/',
 * "..", quote, '$', ';', blank or leading '-' can ever reach a path, an
 * argument vector or SQL.  Nothing is unquoted beyond the one pair of
 * quotes: a quote inside the name is refused, not interpreted.
 */
#include <errno.h>
#include <string.h>

#include "deis/validate.h"
#include "builder.h"

#define CMD_MAX	1024

int builder_parse_command(const char *cmd, enum builder_service *service,
			  char app[BUILDER_APP_MAX], struct deis_error *err)
{
	static const struct {
		const char *name;
		enum builder_service service;
	} services[] = {
		{ "git-receive-pack ", BUILDER_RECEIVE_PACK },
		{ "git-upload-pack ", BUILDER_UPLOAD_PACK },
	};
	char shown[128];
	const char *arg = NULL;
	size_t len;

	app[0] = '\0';
	if (!cmd)
		return deis_error_set(err, EPERM, "no command");
	len = strnlen(cmd, CMD_MAX + 1);
	if (len > CMD_MAX)
		return deis_error_set(err, EPERM, "command too long");
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		size_t n = strlen(services[i].name);

		if (!strncmp(cmd, services[i].name, n)) {
			*service = services[i].service;
			arg = cmd + n;
			break;
		}
	}
	if (!arg)
		return deis_error_set(err, EPERM, "command '%s' is not git-receive-pack or "
				      "git-upload-pack",
				      deis_printable(shown, sizeof(shown), cmd, len));

	const char *p = arg;
	size_t n = len - (size_t)(arg - cmd);
	if (n >= 2 && p[0] == '\'' && p[n - 1] == '\'') {
		p++;
		n -= 2;
	}
	if (n && p[0] == '/') {
		p++;
		n--;
	}
	if (n > 4 && !memcmp(p + n - 4, ".git", 4))
		n -= 4;
	if (n == 0 || n >= BUILDER_APP_MAX || memchr(p, '\0', n))
		goto bad;
	memcpy(app, p, n);
	app[n] = '\0';
	if (!deis_valid_app_name(app))
		goto bad;
	return 0;
bad:
	app[0] = '\0';
	return deis_error_set(err, EINVAL, "'%s' is not a repository of an app: use "
			      "<app>.git, where <app> is lower-case letters, digits and '-'",
			      deis_printable(shown, sizeof(shown), arg,
					     len - (size_t)(arg - cmd)));
}
