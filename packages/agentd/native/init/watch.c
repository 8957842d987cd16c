/*
 * Directory watches (docs/protocol.md, "Directory watches"). One inotify instance per
 * WATCH; every directory of the tree (the root alone without `recursive`) gets a watch
 * descriptor, added through an fd of the directory itself (fchdir + "."), never by a path
 * the sandbox could swap for a symlink. Events are kept relative to the watched directory,
 * queued per watch (at most MAX_WATCH_QUEUE; beyond that they are counted and reported as
 * one OVERFLOW event, never dropped silently) and sent under event credit. While the queue
 * is full the inotify fd is not read, so a flood fills the kernel's queue instead, whose
 * own overflow (IN_Q_OVERFLOW) is reported the same way.
 */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_path.h"
#include "out.h"
#include "proto.h"

#define WATCH_MASK (IN_CREATE | IN_CLOSE_WRITE | IN_DELETE | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
/* Deeper trees are not watched below this depth (an UNWATCHED event with ELOOP says so). */
#define MAX_WATCH_DEPTH 128
#define MAX_EVENT_PATH 4095u
/* The inotify fd is read while at least this many queue slots are free. */
#define READ_ROOM 64u

struct wdir {
	int wd;
	char *rel; /* "" for the root */
};

struct wevent {
	uint8_t kind;
	uint8_t dir;
	uint64_t count;
	char *path;
	char *to;
};

struct dirwatch {
	uint32_t id;
	int fd;          /* inotify */
	char *root_path; /* as asked: opened again (beneath the init's root) for each new directory,
	                  * never held open, or its removal would not end the watch (an open
	                  * directory is not deleted, so no IN_DELETE_SELF, until it is closed) */
	bool recursive;
	int root_wd;
	struct wdir *dirs;
	size_t ndirs, capdirs;
	struct wevent *q;
	size_t qhead, qlen, qcap; /* live events are q[qhead..qlen) */
	uint64_t dropped;
	uint64_t credit;
	bool ending;
	int end_err;
	const char *end_msg;
	/* An IN_MOVED_FROM waiting for its IN_MOVED_TO (same cookie). */
	bool has_from;
	uint32_t from_cookie;
	bool from_dir;
	char *from_path;
};

/* ---------------------------------------------------------------- lookup */

bool watch_id_in_use(const struct agent *a, uint32_t id)
{
	for (size_t i = 0; i < a->nwatch; i++)
		if (a->watches[i]->id == id)
			return true;
	return false;
}

static struct dirwatch *find(struct agent *a, uint32_t id)
{
	for (size_t i = 0; i < a->nwatch; i++)
		if (a->watches[i]->id == id)
			return a->watches[i];
	return NULL;
}

static size_t queued(const struct dirwatch *w)
{
	return w->qlen - w->qhead;
}

int watch_poll_fd(const struct agent *a, size_t i)
{
	const struct dirwatch *w = a->watches[i];
	if (w->ending || queued(w) + READ_ROOM > MAX_WATCH_QUEUE)
		return -1;
	return w->fd;
}

uint32_t watch_id_at(const struct agent *a, size_t i)
{
	return a->watches[i]->id;
}

/* ---------------------------------------------------------------- queue */

static void free_event(struct wevent *e)
{
	free(e->path);
	free(e->to);
}

static char *join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	size_t n = a;
	if (a && b)
		p[n++] = '/';
	memcpy(p + n, name, b);
	p[n + b] = 0;
	return p;
}

static bool q_room(struct dirwatch *w, size_t n)
{
	if (queued(w) + n > MAX_WATCH_QUEUE)
		return false;
	if (w->qhead > 0 && w->qlen + n > w->qcap) {
		memmove(w->q, w->q + w->qhead, queued(w) * sizeof *w->q);
		w->qlen -= w->qhead;
		w->qhead = 0;
	}
	if (w->qlen + n > w->qcap) {
		size_t cap = w->qcap ? w->qcap * 2 : 64;
		while (cap < w->qlen + n)
			cap *= 2;
		struct wevent *q = realloc(w->q, cap * sizeof *q);
		if (!q)
			return false;
		w->q = q;
		w->qcap = cap;
	}
	return true;
}

/* Queues one event, taking ownership of path and to (either may be NULL = ""). */
static void q_push(struct dirwatch *w, uint8_t kind, bool dir, uint64_t count, char *path, char *to)
{
	bool long_path = (path && strlen(path) > MAX_EVENT_PATH) || (to && strlen(to) > MAX_EVENT_PATH);
	size_t need = w->dropped ? 2 : 1;
	if (long_path || !q_room(w, need)) {
		w->dropped++;
		free(path);
		free(to);
		return;
	}
	if (w->dropped) {
		w->q[w->qlen++] = (struct wevent){ .kind = WEV_OVERFLOW, .count = w->dropped };
		w->dropped = 0;
	}
	w->q[w->qlen++] = (struct wevent){ .kind = kind, .dir = dir, .count = count, .path = path, .to = to };
}

static void q_push_path(struct dirwatch *w, uint8_t kind, bool dir, uint64_t count, const char *base, const char *name)
{
	char *p = join(base, name ? name : "");
	if (!p) {
		w->dropped++;
		return;
	}
	q_push(w, kind, dir, count, p, NULL);
}

/* ---------------------------------------------------------------- ending */

static void free_watch(struct agent *a, struct dirwatch *w)
{
	for (size_t i = w->qhead; i < w->qlen; i++)
		free_event(&w->q[i]);
	free(w->q);
	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i].rel);
	if (a->watched_dirs >= w->ndirs)
		a->watched_dirs -= w->ndirs;
	else
		a->watched_dirs = 0;
	free(w->dirs);
	free(w->from_path);
	if (w->fd >= 0)
		close(w->fd);
	free(w->root_path);
	free(w);
}

/* Sends WATCH_END and frees the watch. */
static void end_now(struct agent *a, struct dirwatch *w, int err, const char *msg)
{
	struct wbuf b;
	wb_init(&b);
	wb_i32(&b, err);
	wb_str(&b, msg, strlen(msg));
	out_payload(&a->out, MSG_WATCH_END, w->id, &b);
	wb_free(&b);
	for (size_t i = 0; i < a->nwatch; i++) {
		if (a->watches[i] == w) {
			a->watches[i] = a->watches[--a->nwatch];
			break;
		}
	}
	free_watch(a, w);
}

void watch_free_all(struct agent *a)
{
	for (size_t i = 0; i < a->nwatch; i++)
		free_watch(a, a->watches[i]);
	free(a->watches);
	a->watches = NULL;
	a->nwatch = 0;
	a->watched_dirs = 0;
}

/* Sends queued events while credit lasts; ends a watch that is ending once all went out. Returns false if w was freed. */
static bool flush(struct agent *a, struct dirwatch *w)
{
	while (w->credit > 0) {
		if (queued(w) == 0 && w->dropped) {
			if (!q_room(w, 1))
				break;
			w->q[w->qlen++] = (struct wevent){ .kind = WEV_OVERFLOW, .count = w->dropped };
			w->dropped = 0;
		}
		if (queued(w) == 0)
			break;
		struct wbuf b;
		wb_init(&b);
		wb_u32(&b, 0); /* count, patched below */
		uint32_t n = 0;
		while (queued(w) > 0 && n < MAX_WATCH_BATCH && n < w->credit) {
			struct wevent *e = &w->q[w->qhead];
			size_t pl = e->path ? strlen(e->path) : 0, tl = e->to ? strlen(e->to) : 0;
			if (n > 0 && b.len + 1 + 1 + 8 + 4 + pl + 4 + tl > MAX_CHUNK)
				break;
			wb_u8(&b, e->kind);
			wb_u8(&b, e->dir);
			wb_u64(&b, e->count);
			wb_str(&b, e->path ? e->path : "", pl);
			wb_str(&b, e->to ? e->to : "", tl);
			free_event(e);
			w->qhead++;
			n++;
		}
		if (b.p && !b.oom)
			put_le32(b.p, n);
		out_payload(&a->out, MSG_WATCH_EVENT, w->id, &b);
		wb_free(&b);
		w->credit -= n;
		if (queued(w) == 0)
			w->qhead = w->qlen = 0;
	}
	if (w->ending && queued(w) == 0 && w->dropped == 0) {
		end_now(a, w, w->end_err, w->end_msg);
		return false;
	}
	return true;
}

static void begin_end(struct dirwatch *w, int err, const char *msg)
{
	if (w->ending)
		return;
	w->ending = true;
	w->end_err = err;
	w->end_msg = msg;
}

/* ---------------------------------------------------------------- directories */

static struct wdir *dir_by_wd(struct dirwatch *w, int wd)
{
	for (size_t i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd)
			return &w->dirs[i];
	return NULL;
}

static void drop_dir_at(struct agent *a, struct dirwatch *w, size_t i)
{
	free(w->dirs[i].rel);
	w->dirs[i] = w->dirs[--w->ndirs];
	if (a->watched_dirs > 0)
		a->watched_dirs--;
}

/* Watches the directory open as dirfd (relative path rel). 0, or an errno (an UNWATCHED event was queued). */
static int add_dir(struct agent *a, struct dirwatch *w, int dirfd, const char *rel)
{
	int err = 0;
	if (a->watched_dirs >= MAX_WATCH_DIRS)
		err = ENOSPC;
	int here = err ? -1 : open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!err && here < 0)
		err = errno;
	int wd = -1;
	if (!err) {
		/* By the directory's fd, not by a path: nothing can be swapped in between. */
		if (fchdir(dirfd) < 0)
			err = errno;
		else {
			wd = inotify_add_watch(w->fd, ".", WATCH_MASK);
			if (wd < 0)
				err = errno;
			if (fchdir(here) < 0)
				err = err ? err : errno;
		}
	}
	if (here >= 0)
		close(here);
	if (!err && !dir_by_wd(w, wd)) {
		if (w->ndirs == w->capdirs) {
			size_t cap = w->capdirs ? w->capdirs * 2 : 16;
			struct wdir *d = realloc(w->dirs, cap * sizeof *d);
			if (!d)
				err = ENOMEM;
			else {
				w->dirs = d;
				w->capdirs = cap;
			}
		}
		char *copy = err ? NULL : strdup(rel);
		if (!err && !copy)
			err = ENOMEM;
		if (!err) {
			w->dirs[w->ndirs++] = (struct wdir){ .wd = wd, .rel = copy };
			a->watched_dirs++;
		} else {
			inotify_rm_watch(w->fd, wd);
		}
	}
	if (err)
		q_push_path(w, WEV_UNWATCHED, true, (uint64_t)err, rel, NULL);
	return err;
}

/*
 * Watches every directory below dirfd (recursive watches), and with `creates` queues a
 * CREATE for every entry found: for a directory that appeared while the tree is watched,
 * whatever was made in it before its watch existed.
 */
static void scan(struct agent *a, struct dirwatch *w, int dirfd, const char *rel, bool creates, int depth)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		bool is_dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			is_dir = fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		}
		if (creates)
			q_push_path(w, WEV_CREATE, is_dir, 0, rel, de->d_name);
		if (!is_dir || !w->recursive)
			continue;
		char *sub = join(rel, de->d_name);
		if (!sub)
			continue;
		if (depth + 1 > MAX_WATCH_DEPTH) {
			q_push(w, WEV_UNWATCHED, true, ELOOP, sub, NULL);
			continue;
		}
		int sfd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd >= 0) {
			if (add_dir(a, w, sfd, sub) == 0)
				scan(a, w, sfd, sub, creates, depth + 1);
			close(sfd);
		}
		free(sub);
	}
	closedir(d);
}

/* Opens rel (components beneath the watched directory) without following any symlink in rel. */
static int open_rel(const struct agent *a, const struct dirwatch *w, const char *rel)
{
	int fd = fs_open(a, w->root_path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return -1;
	char *copy = strdup(rel);
	if (!copy) {
		close(fd);
		return -1;
	}
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		if (fd < 0)
			break;
	}
	free(copy);
	return fd;
}

/* A directory appeared in the tree (created or moved in): watch it and what it holds. */
static void new_dir(struct agent *a, struct dirwatch *w, const char *rel)
{
	int fd = open_rel(a, w, rel);
	if (fd < 0)
		return; /* gone again: its REMOVE follows */
	if (add_dir(a, w, fd, rel) == 0)
		scan(a, w, fd, rel, true, 1);
	close(fd);
}

static bool under(const char *rel, const char *dir, size_t dl)
{
	return strncmp(rel, dir, dl) == 0 && (rel[dl] == 0 || rel[dl] == '/');
}

/* A directory left the tree: stop watching it and everything below it. */
static void forget_dirs(struct agent *a, struct dirwatch *w, const char *rel)
{
	size_t dl = strlen(rel);
	for (size_t i = 0; i < w->ndirs;) {
		if (w->dirs[i].wd != w->root_wd && under(w->dirs[i].rel, rel, dl)) {
			inotify_rm_watch(w->fd, w->dirs[i].wd);
			drop_dir_at(a, w, i);
			continue;
		}
		i++;
	}
}

/* A directory was renamed inside the tree: its watches now have other paths. */
static void rename_dirs(struct dirwatch *w, const char *from, const char *to)
{
	size_t fl = strlen(from);
	for (size_t i = 0; i < w->ndirs; i++) {
		if (w->dirs[i].wd == w->root_wd || !under(w->dirs[i].rel, from, fl))
			continue;
		char *p = join(to, w->dirs[i].rel + fl + (w->dirs[i].rel[fl] == '/' ? 1 : 0));
		if (p) {
			free(w->dirs[i].rel);
			w->dirs[i].rel = p;
		}
	}
}

/* ---------------------------------------------------------------- events */

/* An IN_MOVED_FROM whose IN_MOVED_TO never came: the entry left the tree. */
static void settle_from(struct agent *a, struct dirwatch *w)
{
	if (!w->has_from)
		return;
	w->has_from = false;
	if (w->from_dir && w->recursive)
		forget_dirs(a, w, w->from_path);
	q_push(w, WEV_REMOVE, w->from_dir, 0, w->from_path, NULL);
	w->from_path = NULL;
}

static void on_event(struct agent *a, struct dirwatch *w, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		settle_from(a, w);
		q_push(w, WEV_OVERFLOW, false, 0, NULL, NULL);
		return;
	}
	struct wdir *d = dir_by_wd(w, ev->wd);
	if (ev->mask & IN_IGNORED) {
		if (d) {
			bool root = d->wd == w->root_wd;
			drop_dir_at(a, w, (size_t)(d - w->dirs));
			if (root)
				begin_end(w, ENOENT, "the watched directory is gone");
		}
		return;
	}
	if (!d)
		return; /* a directory forgotten since */
	bool is_root = d->wd == w->root_wd;
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		if (is_root)
			begin_end(w, ENOENT, (ev->mask & IN_MOVE_SELF) ? "the watched directory was moved" : "the watched directory was removed");
		return;
	}
	const char *name = ev->len ? ev->name : "";
	bool dir = ev->mask & IN_ISDIR;
	if (!(ev->mask & IN_MOVED_TO) || !w->has_from || w->from_cookie != ev->cookie)
		settle_from(a, w);
	char *rel = join(d->rel, name);
	if (!rel) {
		w->dropped++;
		return;
	}
	if (ev->mask & IN_MOVED_FROM) {
		w->has_from = true;
		w->from_cookie = ev->cookie;
		w->from_dir = dir;
		w->from_path = rel;
		return;
	}
	if (ev->mask & IN_MOVED_TO) {
		if (w->has_from && w->from_cookie == ev->cookie) {
			w->has_from = false;
			if (dir && w->recursive)
				rename_dirs(w, w->from_path, rel);
			q_push(w, WEV_RENAME, dir, 0, w->from_path, strdup(rel));
			w->from_path = NULL;
		} else {
			q_push(w, WEV_CREATE, dir, 0, strdup(rel), NULL);
			if (dir && w->recursive)
				new_dir(a, w, rel);
		}
		free(rel);
		return;
	}
	if (ev->mask & IN_CREATE) {
		q_push(w, WEV_CREATE, dir, 0, strdup(rel), NULL);
		if (dir && w->recursive)
			new_dir(a, w, rel);
	} else if (ev->mask & IN_CLOSE_WRITE) {
		q_push(w, WEV_WRITE, false, 0, strdup(rel), NULL);
	} else if (ev->mask & IN_DELETE) {
		q_push(w, WEV_REMOVE, dir, 0, strdup(rel), NULL);
	} else if (ev->mask & IN_ATTRIB) {
		/* A subdirectory's own change also comes from its parent, with its name: once is enough. */
		if (ev->len || is_root)
			q_push(w, WEV_CHMOD, dir || !ev->len, 0, strdup(rel), NULL);
	}
	free(rel);
}

/* Reads what the inotify fd holds now; false when nothing was there. */
static bool read_events(struct agent *a, struct dirwatch *w)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	do
		n = read(w->fd, buf, sizeof buf);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	for (char *p = buf; p < buf + n;) {
		const struct inotify_event *ev = (const struct inotify_event *)p;
		on_event(a, w, ev);
		p += sizeof *ev + ev->len;
	}
	return true;
}

void watch_on_readable(struct agent *a, uint32_t id)
{
	struct dirwatch *w = find(a, id);
	if (!w || w->ending)
		return;
	if (read_events(a, w) && w->has_from) {
		/* A MOVED_TO may follow in the next read: look once more before calling it a removal. */
		read_events(a, w);
	}
	settle_from(a, w);
	flush(a, w);
}

/* ---------------------------------------------------------------- requests */

void watch_handle_watch(struct agent *a, uint32_t id, struct rd *r)
{
	struct rstr path = rd_str(r);
	uint8_t recursive = rd_u8(r);
	uint32_t window = rd_u32(r);
	char *p = NULL;
	if (rd_finish(r)) {
		if (recursive > 1)
			rd_fail(r, "recursive must be 0 or 1");
		else if (!(p = rstr_dup(path)))
			rd_fail(r, "out of memory");
	}
	if (r->err) {
		out_error(&a->out, id, EINVAL, "WATCH: %s", r->err);
		free(p);
		return;
	}
	if (id == 0) {
		out_error(&a->out, id, EINVAL, "WATCH needs a non-zero request id (its frames carry it)");
		free(p);
		return;
	}
	if (a->nwatch >= MAX_WATCHES) {
		out_error(&a->out, id, EMFILE, "WATCH: at most %u watches at a time", MAX_WATCHES);
		free(p);
		return;
	}
	int rootfd = fs_open(a, p, O_RDONLY | O_DIRECTORY, 0);
	if (rootfd < 0) {
		out_error(&a->out, id, -rootfd, "%s: %s", p, strerror(-rootfd));
		free(p);
		return;
	}
	struct dirwatch *w = calloc(1, sizeof *w);
	struct dirwatch **v = w ? realloc(a->watches, (a->nwatch + 1) * sizeof *v) : NULL;
	if (!w || !v) {
		out_error(&a->out, id, ENOMEM, "WATCH: out of memory");
		free(w);
		close(rootfd);
		free(p);
		return;
	}
	a->watches = v;
	w->id = id;
	w->root_path = p;
	p = NULL;
	w->recursive = recursive;
	w->credit = window ? window : DEFAULT_WATCH_WINDOW;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		int err = errno;
		out_error(&a->out, id, err, "WATCH: inotify: %s", strerror(err));
		free_watch(a, w);
		close(rootfd);
		return;
	}
	int err = add_dir(a, w, rootfd, "");
	if (err) {
		/* its UNWATCHED event is dropped with the watch */
		out_error(&a->out, id, err, "%s: cannot watch: %s", w->root_path, strerror(err));
		free_watch(a, w);
		close(rootfd);
		return;
	}
	w->root_wd = w->dirs[0].wd;
	a->watches[a->nwatch++] = w;
	if (w->recursive)
		scan(a, w, rootfd, "", false, 0);
	close(rootfd);
	out_empty(&a->out, MSG_OK, id);
	flush(a, w);
}

void watch_handle_unwatch(struct agent *a, uint32_t id, struct rd *r)
{
	uint32_t wid = rd_u32(r);
	if (!rd_finish(r)) {
		out_error(&a->out, id, EINVAL, "UNWATCH: %s", r->err);
		return;
	}
	struct dirwatch *w = find(a, wid);
	if (!w) {
		out_error(&a->out, id, ESRCH, "UNWATCH: no watch %u", wid);
		return;
	}
	out_empty(&a->out, MSG_OK, id);
	end_now(a, w, 0, "unwatched");
}

void watch_handle_credit(struct agent *a, uint32_t id, struct rd *r)
{
	uint32_t wid = rd_u32(r);
	uint32_t events = rd_u32(r);
	if (!rd_finish(r)) {
		out_error(&a->out, id, EINVAL, "WATCH_CREDIT: %s", r->err);
		return;
	}
	struct dirwatch *w = find(a, wid);
	if (w && w->credit < UINT64_MAX / 2)
		w->credit += events;
	if (id != 0)
		out_empty(&a->out, MSG_OK, id);
	/* Like CREDIT, one for a watch that ended (it may cross the WATCH_END) is ignored. */
	if (w)
		flush(a, w);
}
