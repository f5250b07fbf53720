/*
 * net_tool.c - a small command-line client of lib/net.c, for
 * tests/security/t5000-network.sh, tests/bench/runtime.sh and trying the
 * containers' network by hand.
 *
 *   net_tool --bridge=NAME --subnet=CIDR --state=DIR [--nat=0|1] COMMAND
 *
 *   setup                  the bridge, /run/netns, the firewall
 *   attach ID [GROUP]      a namespace for ID; prints "NETNS IFNAME ADDRESS"
 *   detach ID [GROUP]      removes it
 *   list                   "ID ADDRESS" per address held
 *   ruleset                prints the firewall's nftables commands
 *   teardown               removes the firewall, namespaces, the bridge
 *   bench N [GROUP]        attach and detach N times in this process;
 *                          prints the median of each (ms)
 *
 * Errors go to stderr; the exit status is the errno, 64 for a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deis/net.h"
#include "tool.h"

static void usage(void)
{
	fprintf(stderr, "usage: net_tool --bridge=NAME --subnet=CIDR --state=DIR [--nat=0|1] "
		"setup | attach ID [GROUP] | detach ID [GROUP] | list | ruleset | teardown |\n"
		"  bench N [GROUP]\n");
	exit(64);
}

static void print_one(void *ctx, const char *id, const char *address)
{
	printf("%s %s\n", id, address);
}

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_net_conf c = { .nat = 1 };
	struct deis_net *n = NULL;
	int k = 1;

	for (; k < argc && !strncmp(argv[k], "--", 2); k++) {
		if (!strncmp(argv[k], "--bridge=", 9))
			c.bridge = argv[k] + 9;
		else if (!strncmp(argv[k], "--subnet=", 9))
			c.subnet = argv[k] + 9;
		else if (!strncmp(argv[k], "--state=", 8))
			c.state_dir = argv[k] + 8;
		else if (!strncmp(argv[k], "--nat=", 6))
			c.nat = atoi(argv[k] + 6);
		else
			usage();
	}
	if (k >= argc)
		usage();
	const char *cmd = argv[k++];
	if (!strcmp(cmd, "ruleset")) {
		struct deis_buf b = DEIS_BUF_INIT;
		if (deis_net_check_conf(&c, &err) < 0)
			return tool_fail(&err);
		deis_net_ruleset(&c, &b);
		fputs(deis_buf_str(&b), stdout);
		deis_buf_release(&b);
		return 0;
	}
	if (!strcmp(cmd, "teardown"))
		return deis_net_teardown(&c, &err) < 0 ? tool_fail(&err) : 0;
	if (deis_net_open(&c, !strcmp(cmd, "setup"), &n, &err) < 0)
		return tool_fail(&err);
	int r = 0;
	if (!strcmp(cmd, "setup")) {
		r = 0;
	} else if (!strcmp(cmd, "attach") && (argc - k == 1 || argc - k == 2)) {
		struct deis_net_endpoint ep;
		r = deis_net_attach(n, argv[k], argc - k == 2 ? argv[k + 1] : NULL, &ep, &err);
		if (r == 0)
			printf("%s %s %s\n", ep.netns, ep.ifname, ep.address);
	} else if (!strcmp(cmd, "detach") && (argc - k == 1 || argc - k == 2)) {
		r = deis_net_detach(n, argv[k], argc - k == 2 ? argv[k + 1] : NULL, NULL, &err);
	} else if (!strcmp(cmd, "bench") && (argc - k == 1 || argc - k == 2)) {
		int count = atoi(argv[k]);
		double *at = calloc((size_t)count + 1, sizeof(*at)),
		       *dt = calloc((size_t)count + 1, sizeof(*dt));
		for (int i = 0; r == 0 && i < count; i++) {
			struct deis_net_endpoint ep;
			char id[64];
			snprintf(id, sizeof(id), "bench.net.%d.%d", (int)getpid(), i);
			double t0 = tool_now_ms();
			r = deis_net_attach(n, id, argc - k == 2 ? argv[k + 1] : NULL, &ep, &err);
			double t1 = tool_now_ms();
			if (r == 0)
				r = deis_net_detach(n, id, argc - k == 2 ? argv[k + 1] : NULL,
						    ep.address, &err);
			at[i] = t1 - t0;
			dt[i] = tool_now_ms() - t1;
		}
		if (r == 0 && count > 0)
			printf("attach %.2f detach %.2f\n", tool_median(at, count), tool_median(dt, count));
		free(at);
		free(dt);
	} else if (!strcmp(cmd, "list") && argc == k) {
		r = deis_net_list(n, print_one, NULL, &err);
	} else {
		deis_net_close(n);
		usage();
	}
	deis_net_close(n);
	return r < 0 ? tool_fail(&err) : 0;
}
