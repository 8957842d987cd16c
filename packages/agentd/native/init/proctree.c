#include "proctree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec.h"
#include "proto.h"

struct pinfo {
	pid_t pid;
	pid_t ppid;
	pid_t pgid;
	pid_t sid;
	char state;
	unsigned long long start;
};

struct pidset {
	pid_t *v;
	size_t n;
	size_t cap;
};

static bool set_has(const struct pidset *s, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == pid)
			return true;
	return false;
}

static bool set_add(struct pidset *s, pid_t pid)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		pid_t *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return false;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = pid;
	return true;
}

/* Reads pid, ppid, pgid and state of one process; false if it is gone. */
static bool read_stat(int procfd, const char *name, struct pinfo *pi)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "%s/stat", name);
	int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	/* The command name may hold anything, including ") ": parse after the last ')'. */
	char *rp = strrchr(buf, ')');
	if (!rp)
		return false;
	char state;
	int ppid, pgid, sid;
	unsigned long long start;
	if (sscanf(rp + 1, " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &state, &ppid, &pgid, &sid, &start) != 5)
		return false;
	pi->pid = (pid_t)atoi(name);
	pi->ppid = ppid;
	pi->pgid = pgid;
	pi->sid = sid;
	pi->state = state;
	pi->start = start;
	return true;
}

/* Every process visible in /proc. */
static struct pinfo *scan(size_t *count)
{
	*count = 0;
	int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return NULL;
	DIR *d = fdopendir(procfd);
	if (!d) {
		close(procfd);
		return NULL;
	}
	struct pinfo *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		struct pinfo pi;
		if (!read_stat(dirfd(d), de->d_name, &pi))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 128;
			struct pinfo *nv = realloc(v, cap * sizeof *nv);
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = pi;
	}
	closedir(d);
	*count = n;
	return v;
}

/*
 * Adds to `set` every scanned process that is in `pgid` or session `pgid` (if > 0) or whose parent is in
 * the set or is `root` (if > 0), repeating until nothing changes. Zombies are skipped.
 * Returns the index in set->v where the new members start.
 */
static bool known(const struct member *m, size_t nm, const struct pinfo *p)
{
	for (size_t i = 0; i < nm; i++)
		if (m[i].pid == p->pid && m[i].start == p->start)
			return true;
	return false;
}

static size_t grow_set(struct pidset *set, const struct pinfo *ps, size_t n, pid_t pgid, pid_t root, pid_t self,
		       const struct member *m, size_t nm)
{
	size_t first_new = set->n;
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			const struct pinfo *p = &ps[i];
			if (p->pid == self || p->state == 'Z' || set_has(set, p->pid))
				continue;
			/* The leader's pid is its process group and its session (setsid): a process
			 * that left the group but not the session is the exec's too. */
			bool member = (pgid > 0 && (p->pgid == pgid || p->sid == pgid)) || (root > 0 && p->ppid == root) ||
				      set_has(set, p->ppid) || known(m, nm, p);
			if (member && set_add(set, p->pid))
				changed = true;
		}
	}
	return first_new;
}

/* The start time of a live process, or 0 if it is gone. */
static unsigned long long start_of(pid_t pid)
{
	char name[16];
	struct pinfo pi;
	snprintf(name, sizeof name, "%d", (int)pid);
	int procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return 0;
	bool ok = read_stat(procfd, name, &pi) && pi.state != 'Z';
	close(procfd);
	return ok ? pi.start : 0;
}

bool proc_members_alive(const struct group *g)
{
	for (size_t i = 0; i < g->nmembers; i++) {
		unsigned long long st = start_of(g->members[i].pid);
		if (st && st == g->members[i].start)
			return true;
	}
	return false;
}

void proc_kill_members(const struct group *g)
{
	for (size_t i = 0; i < g->nmembers; i++) {
		unsigned long long st = start_of(g->members[i].pid);
		if (st && st == g->members[i].start)
			kill(g->members[i].pid, SIGKILL);
	}
}

size_t proc_signal_tree(struct group *g, int signo, pid_t self)
{
	/* A command may have stopped its shepherd: it must reap what this signal kills. */
	if (g->shepherd > 0 && signo != 0)
		kill(g->shepherd, SIGCONT);
	struct pidset set = { NULL, 0, 0 };
	/* Start times of the processes in `set`, in the same order. */
	struct member *found = NULL;
	size_t nfound = 0;
	/* Stop round after round until a scan finds nobody new: stopped processes cannot fork. */
	for (int round = 0; round < 64; round++) {
		size_t n;
		struct pinfo *ps = scan(&n);
		/* The shepherd's descendants are every process of the exec (exec_spawn.c); the
		 * group and the remembered members also count while the shepherd lives. */
		size_t first_new = grow_set(&set, ps, n, g->pgid, g->shepherd, self, g->members, g->nmembers);
		if (set.n > nfound) {
			struct member *nf = realloc(found, set.n * sizeof *nf);
			if (nf) {
				found = nf;
				for (size_t i = nfound; i < set.n; i++) {
					found[i] = (struct member){ .pid = set.v[i], .start = 0 };
					for (size_t k = 0; k < n; k++)
						if (ps[k].pid == set.v[i])
							found[i].start = ps[k].start;
				}
				nfound = set.n;
			}
		}
		free(ps);
		if (first_new == set.n || signo == 0)
			break; /* signal 0 only probes: nothing is stopped */
		for (size_t i = first_new; i < set.n; i++)
			kill(set.v[i], SIGSTOP);
	}
	free(g->members);
	g->members = found;
	g->nmembers = found ? nfound : 0;
	size_t hit = 0;
	for (size_t i = 0; i < set.n; i++)
		if (kill(set.v[i], signo) == 0)
			hit++;
	if (signo != 0 && signo != SIGKILL && signo != SIGSTOP)
		for (size_t i = 0; i < set.n; i++)
			kill(set.v[i], SIGCONT);
	free(set.v);
	return hit;
}

void proc_kill_descendants(pid_t self)
{
	struct pidset set = { NULL, 0, 0 };
	for (int round = 0; round < 64; round++) {
		size_t n;
		struct pinfo *ps = scan(&n);
		size_t first_new = grow_set(&set, ps, n, 0, self, self, NULL, 0);
		free(ps);
		if (first_new == set.n)
			break;
		/* A process with SIGKILL pending can no longer fork. */
		for (size_t i = first_new; i < set.n; i++)
			kill(set.v[i], SIGKILL);
	}
	free(set.v);
}

static bool is_shepherd(const struct agent *a, pid_t pid)
{
	for (size_t i = 0; i < a->ngroups; i++)
		if (a->groups[i].shepherd == pid)
			return true;
	return a->netd_pid != 0 && a->netd_pid == pid; /* the network helper (net.c) is the init's own */
}

void proc_kill_strays(struct agent *a)
{
	pid_t self = getpid();
	struct pidset set = { NULL, 0, 0 };
	for (int round = 0; round < 64; round++) {
		size_t n;
		struct pinfo *ps = scan(&n);
		size_t first_new = set.n;
		bool changed = true;
		while (changed) {
			changed = false;
			for (size_t i = 0; i < n; i++) {
				const struct pinfo *p = &ps[i];
				if (p->pid == self || p->state == 'Z' || set_has(&set, p->pid))
					continue;
				bool stray = (p->ppid == self && !is_shepherd(a, p->pid)) || set_has(&set, p->ppid);
				if (stray && set_add(&set, p->pid))
					changed = true;
			}
		}
		free(ps);
		if (first_new == set.n)
			break;
		for (size_t i = first_new; i < set.n; i++)
			kill(set.v[i], SIGKILL);
	}
	if (set.n > 0)
		fprintf(stderr, "agentd-init: a shepherd was killed: killed %zu process(es) it left behind\n", set.n);
	free(set.v);
}

void proc_handle_signal(struct agent *a, uint32_t id, struct rd *r)
{
	uint32_t exec_id = rd_u32(r);
	int32_t signo = rd_i32(r);
	uint8_t scope = rd_u8(r);
	if (rd_finish(r)) {
		if (signo < 0 || signo > SIGRTMAX)
			rd_fail(r, "signal number out of range");
		else if (scope > SCOPE_TREE)
			rd_fail(r, "scope must be 0, 1 or 2");
	}
	if (r->err) {
		out_error(&a->out, id, EINVAL, "SIGNAL: %s", r->err);
		return;
	}
	struct group *g = exec_find_group(a, exec_id);
	if (!g) {
		out_error(&a->out, id, ESRCH, "SIGNAL: no exec %u", exec_id);
		return;
	}
	if (a->dry) {
		out_error(&a->out, id, EPERM, "SIGNAL: disabled");
		return;
	}
	int rc = 0;
	if (scope == SCOPE_LEADER) {
		struct exec *e = exec_find(a, exec_id);
		if (!e || e->reaped) {
			out_error(&a->out, id, ESRCH, "SIGNAL: the leader of exec %u has exited", exec_id);
			return;
		}
		rc = kill(e->pid, signo);
	} else if (scope == SCOPE_GROUP) {
		rc = kill(-g->pgid, signo);
	} else {
		if (proc_signal_tree(g, signo, getpid()) == 0) {
			rc = -1;
			errno = ESRCH;
		}
	}
	if (rc < 0)
		out_error(&a->out, id, errno, "SIGNAL: exec %u: %s", exec_id, strerror(errno));
	else
		out_empty(&a->out, MSG_OK, id);
}
