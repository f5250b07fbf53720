/*
 * runtime_seccomp.c - the default seccomp profile of every container, as
 * the "seccomp" member of config.json (docs/runtime.md says why a
 * denylist).
 */
#include <errno.h>

#include <jansson.h>

#include "runtime_internal.h"

/*
 * The default seccomp profile: every system call is allowed except those
 * Docker's default profile refuses to a container without capabilities
 * (moby profiles/seccomp/default.json): the kernel's module, key,
 * accounting, clock, mount, namespace, tracing, BPF and io_uring
 * interfaces.  They fail with EPERM, as a missing capability would, so
 * programs that probe for them (libuv tries io_uring) fall back.  A
 * denylist rather than Docker's allowlist, so that a new harmless call of
 * a newer libc or runtime keeps working; the calls that reach new kernel
 * attack surface are the ones named here.
 */
static const char *const seccomp_denied[] = {
	"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
	"delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
	"get_kernel_syms", "get_mempolicy", "init_module", "io_uring_enter",
	"io_uring_register", "io_uring_setup", "ioperm", "iopl", "kcmp",
	"kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount",
	"mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl",
	"open_by_handle_at", "open_tree", "perf_event_open", "pivot_root",
	"process_vm_readv", "process_vm_writev", "query_module", "quotactl",
	"quotactl_fd", "reboot", "request_key", "set_mempolicy", "setns",
	"settimeofday", "stime", "swapoff", "swapon", "_sysctl", "sysfs", "syslog",
	"umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86",
	"vm86old", "fanotify_init", "vhangup", "sethostname", "setdomainname",
	"chroot", NULL,
};

/* clone() making any namespace: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
 * NEWUSER, NEWPID, NEWNET (so no `unshare -U`, no user namespace). */
static const unsigned long clone_ns_flags[] = {
	0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
	0x40000000,
};
#define ENOSYS_NUMBER 38

static json_t *seccomp_rule(const char *name, const char *action, int errno_ret)
{
	json_t *r = json_object(), *names = json_array();

	json_array_append_new(names, json_string(name));
	json_object_set_new(r, "names", names);
	json_object_set_new(r, "action", json_string(action));
	if (errno_ret)
		json_object_set_new(r, "errnoRet", json_integer(errno_ret));
	return r;
}

json_t *runtime_seccomp_json(void)
{
	static const char *const arches[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
					      "SCMP_ARCH_X32", NULL };
	json_t *s = json_object(), *calls = json_array(), *deny = json_array();
	size_t i;

	json_object_set_new(s, "defaultAction", json_string("SCMP_ACT_ALLOW"));
	json_object_set_new(s, "architectures", runtime_strarray(arches));
	for (i = 0; seccomp_denied[i]; i++)
		json_array_append_new(deny, json_string(seccomp_denied[i]));
	json_t *d = json_object();
	json_object_set_new(d, "names", deny);
	json_object_set_new(d, "action", json_string("SCMP_ACT_ERRNO"));
	json_object_set_new(d, "errnoRet", json_integer(EPERM));
	json_array_append_new(calls, d);
	/* One rule per flag: the rules of one call are or-ed. */
	for (i = 0; i < sizeof(clone_ns_flags) / sizeof(*clone_ns_flags); i++) {
		json_t *r = seccomp_rule("clone", "SCMP_ACT_ERRNO", EPERM);
		json_t *args = json_array(), *a = json_object();

		json_object_set_new(a, "index", json_integer(0));
		json_object_set_new(a, "value", json_integer((json_int_t)clone_ns_flags[i]));
		json_object_set_new(a, "valueTwo", json_integer((json_int_t)clone_ns_flags[i]));
		json_object_set_new(a, "op", json_string("SCMP_CMP_MASKED_EQ"));
		json_array_append_new(args, a);
		json_object_set_new(r, "args", args);
		json_array_append_new(calls, r);
	}
	/* clone3 passes its flags in memory, where seccomp cannot look:
	 * ENOSYS makes glibc fall back to clone(), which is filtered. */
	json_array_append_new(calls, seccomp_rule("clone3", "SCMP_ACT_ERRNO",
						  ENOSYS_NUMBER));
	json_object_set_new(s, "syscalls", calls);
	return s;
}
