/*
 * The init's whole state, created by main (or a fuzz harness) and passed to every
 * handler: output sink, frame splitter, process table, file root.
 */
#ifndef AGENTD_AGENT_H
#define AGENTD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "framer.h"
#include "out.h"

/* The oom_score_adj commands start with: the OOM killer charges them half the cgroup's limit
 * (or of the host's memory) more than their size, so it takes a command before the init or
 * bwrap in the same cgroup. */
#define COMMAND_OOM_SCORE_ADJ 500
#define COMMAND_OOM_SCORE_ADJ_TEXT "500"

/* One output stream of an exec. */
struct stream {
	int fd;          /* our read end; -1 once done */
	uint64_t credit; /* bytes the daemon allows us to send */
	bool draining;   /* leader reaped: read at most `budget` more bytes */
	uint64_t budget;
};

/* One queued STDIN frame (or, with `close`, a queued close). */
struct stdin_chunk {
	struct stdin_chunk *next;
	uint32_t req_id;
	bool close;
	bool quiet; /* answered by another chunk (a PTY's VEOF before its close): no OK of its own */
	size_t len;
	size_t off;
	uint8_t data[];
};

enum stdin_state { STDIN_NONE, STDIN_OPEN, STDIN_CLOSING, STDIN_CLOSED };

/* A running exec: from STARTED until its EXIT frame is sent. */
struct exec {
	uint32_t id;
	pid_t pid; /* the leader; also its process group and session id */
	/* The exec's shepherd: a child of the init, child subreaper of everything the command
	 * starts (orphans of the command are reparented to it, not to the init), which reports
	 * the leader's end on report_fd (exec_spawn.c). */
	pid_t shepherd;
	int report_fd; /* our read end; -1 once the shepherd closed it */
	bool reaped;
	int status;
	struct rusage ru;
	struct stream out;
	struct stream err; /* fd -1 from the start with MERGE_STDERR */
	int in_fd;
	enum stdin_state in_state;
	struct stdin_chunk *inq_head;
	struct stdin_chunk *inq_tail;
	size_t inq_bytes;
	/* PTY exec (EXEC_PTY): out.fd and in_fd are copies of the terminal's master side, pty_fd
	 * another one kept for RESIZE until the exec ends; err.fd is -1. -1 otherwise. */
	int pty_fd;
};

/* A process, identified against pid reuse by its start time (field 22 of /proc/PID/stat). */
struct member {
	pid_t pid;
	unsigned long long start;
};

/* A process group the init created; kept after its exec ended while members may live. */
struct group {
	pid_t pgid;
	pid_t shepherd; /* 0 once the init reaped it: then its tree is empty */
	uint32_t exec_id; /* 0 once the id was reused by a newer exec */
	bool running;     /* its exec has not sent EXIT yet */
	/* Every process the last tree SIGNAL found: later tree signals include the survivors
	 * even when they left the group (setsid) and lost their ancestors. */
	struct member *members;
	size_t nmembers;
};

struct dirwatch; /* watch.c */

struct agent_options {
	const char *fs_root; /* NULL = "/" */
	bool subreaper;
	/* --no-shepherd-subreaper: the shepherds do not make themselves child subreapers (a
	 * kernel that refuses PR_SET_CHILD_SUBREAPER below PID 1: gVisor's); a command's
	 * orphans are then reparented to the init, which must be PID 1 or a subreaper itself. */
	bool no_shepherd_subreaper;
	bool dry; /* fuzzing: never exec or signal anything, never exit */
};

struct agent {
	struct out out;
	int out_fd;
	struct framer framer;
	bool dry;
	bool stop;       /* leave the main loop */
	int exit_code;

	int root_fd;     /* O_PATH directory of --fs-root */
	char *cwd_rel;   /* the init's cwd relative to the root ("" = the root) */
	bool root_is_slash; /* --fs-root is "/": without openat2, plain openat is the same confinement */
	int devnull_fd;  /* stdin of execs without STDIN_PIPE; -1 if unavailable */

	struct exec **execs;
	size_t nexec;
	size_t cap_exec;
	struct group *groups;
	size_t ngroups;
	size_t cap_groups;

	uint8_t *iobuf; /* pipe read buffer */
	size_t iobuf_size;

	/* /proc/self/oom_score_adj, open while commands must start with a higher value than the
	 * init's own (exec_spawn.c); -1 otherwise. */
	int oom_fd;
	char oom_own[16]; /* the init's own value, as text, written back after each spawn */
	size_t oom_own_len;
	/* A shepherd died of a signal: its processes were reparented to the init and must go. */
	bool strays;
	/* The shepherds are child subreapers (the default); false with --no-shepherd-subreaper:
	 * an exec's processes are then its session, its process group and the shepherd's
	 * descendants, and the init's own non-shepherd children are orphans, not strays. */
	bool shepherd_subreaper;
	/* --fs-uid where the kernel has no setfsuid (gVisor's answers only the query): >= 0, the
	 * file operations and directory watches run with this effective uid and gid, taken
	 * before each and given back after it (agent_fs_ids); -1 otherwise. */
	long fs_euid;

	/* Directory watches (watch.c). */
	struct dirwatch **watches;
	size_t nwatch;
	size_t watched_dirs; /* inotify watches held by all of them, at most MAX_WATCH_DIRS */
	/* The network relay helper (net.c): its pid (0: none) and the write end of its request pipe. */
	pid_t netd_pid;
	int net_req_fd;
};

/* With fs_euid >= 0: takes that effective uid/gid (`enter`) or gives it back (never fails
 * silently: the init exits rather than run on with the wrong ids). Returns 0 or an errno. */
int agent_fs_ids(struct agent *a, bool enter);

/* Sets up the state; `sink` NULL = write frames to fd 1. Returns 0 or an errno. */
int agent_init(struct agent *a, const struct agent_options *opt, out_write_fn sink, void *sink_arg);
void agent_free(struct agent *a);

/* Feeds bytes read from stdin. Returns false once the init must stop (SHUTDOWN). */
bool agent_feed(struct agent *a, const uint8_t *data, size_t n);
/* Handles one whole frame (what the framer calls). */
bool agent_on_frame(struct agent *a, uint8_t type, uint32_t id, const uint8_t *payload, size_t n);

void agent_send_ready(struct agent *a);

/* Kills every process the init started (groups and descendants); no-op when dry. */
void agent_kill_all(struct agent *a);

#endif
