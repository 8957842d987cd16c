/*
 * relay.node: the daemon's egress relay (network/native-relay.ts). Once the egress proxy has
 * decided a connection and opened its upstream, both sockets are handed here:
 *
 *   relay(fdA, fdB, headA, headB, done)
 *
 * duplicates fdA and fdB (the caller then closes its own handles), writes headA to fdB and
 * headB to fdA first (bytes the caller already read from A / B), then moves the bytes both ways
 * with splice(2) on one background thread's epoll loop (init/splice_relay.c), never through
 * the JavaScript heap. When both directions ended, or either socket failed, both are closed
 * and done(errno, bytesAtoB, bytesBtoA) is called on the main thread (errno 0: both ended).
 * Throws (code set to the errno name) when the relay cannot be set up; nothing is owned then.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <node_api.h>

#include "../init/splice_relay.h"

/* The engine: one thread, one epoll, a pipe carrying new relays to it (a pointer per write). */
static struct {
	pthread_mutex_t lock;
	int started;
	int ep;
	int queue[2];
	napi_threadsafe_function tsfn;
	napi_env env; /* the one environment (the main thread) the engine serves */
} engine = { .lock = PTHREAD_MUTEX_INITIALIZER, .ep = -1, .queue = { -1, -1 } };

struct queue_src {
	int kind; /* RELAY_KIND_OTHER */
};
static struct queue_src queue_tag = { RELAY_KIND_OTHER };

/* What the main thread gets back for one relay. */
struct result {
	napi_ref done;
	int err;
	uint64_t moved[2];
};

struct pending {
	struct relay_conn *c;
	napi_ref done;
};

static void finish(struct relay_conn *c)
{
	struct result *r = c->user;
	r->err = c->err;
	r->moved[0] = c->moved[0];
	r->moved[1] = c->moved[1];
	relay_conn_free(c, engine.ep);
	napi_call_threadsafe_function(engine.tsfn, r, napi_tsfn_blocking);
}

#define MAX_EVENTS 64

static void *engine_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct epoll_event ev[MAX_EVENTS];
		int n = epoll_wait(engine.ep, ev, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		struct relay_conn *dead[MAX_EVENTS];
		int ndead = 0;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == &queue_tag) {
				struct relay_conn *c;
				while (read(engine.queue[0], &c, sizeof c) == (ssize_t)sizeof c) {
					if (relay_conn_register(c, engine.ep) < 0) {
						c->err = errno;
						finish(c);
					} else if (relay_conn_pump(c)) {
						finish(c);
					}
				}
				continue;
			}
			struct relay_end *e = ev[i].data.ptr;
			struct relay_conn *c = e->conn;
			if (!c->finished && relay_end_event(e, ev[i].events)) {
				c->finished = true;
				dead[ndead++] = c;
			}
		}
		for (int i = 0; i < ndead; i++)
			finish(dead[i]);
	}
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data)
{
	(void)js_cb;
	(void)context;
	struct result *r = data;
	if (env != NULL) {
		napi_value fn, global, argv[3];
		if (napi_get_reference_value(env, r->done, &fn) == napi_ok && fn != NULL) {
			napi_get_global(env, &global);
			napi_create_int32(env, r->err, &argv[0]);
			napi_create_double(env, (double)r->moved[0], &argv[1]);
			napi_create_double(env, (double)r->moved[1], &argv[2]);
			napi_call_function(env, global, fn, 3, argv, NULL);
		}
		napi_delete_reference(env, r->done);
	}
	free(r);
}

static const char *errno_name(int e)
{
	switch (e) {
	case EBADF: return "EBADF";
	case EMFILE: return "EMFILE";
	case ENFILE: return "ENFILE";
	case ENOMEM: return "ENOMEM";
	case EAGAIN: return "EAGAIN";
	case EXDEV: return "EXDEV";
	default: return "EIO";
	}
}

static napi_value throw_errno(napi_env env, const char *what, int e)
{
	char msg[160];
	snprintf(msg, sizeof msg, "relay: %s: %s", what, strerror(e));
	napi_throw_error(env, errno_name(e), msg);
	return NULL;
}

/* Starts the engine once (on the main thread: the threadsafe function is made here). */
static int engine_start(napi_env env)
{
	if (engine.started)
		return engine.env == env ? 0 : EXDEV; /* another thread's environment: the caller relays itself */
	napi_value name;
	napi_create_string_utf8(env, "agentd-relay", NAPI_AUTO_LENGTH, &name);
	if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, call_js, &engine.tsfn) != napi_ok)
		return EIO;
	/* The relays do not keep the daemon alive (its own handles and shutdown decide that). */
	napi_unref_threadsafe_function(env, engine.tsfn);
	engine.ep = epoll_create1(EPOLL_CLOEXEC);
	if (engine.ep < 0)
		return errno;
	if (pipe2(engine.queue, O_CLOEXEC | O_NONBLOCK) < 0)
		return errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &queue_tag };
	if (epoll_ctl(engine.ep, EPOLL_CTL_ADD, engine.queue[0], &ev) < 0)
		return errno;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_t t;
	int e = pthread_create(&t, &attr, engine_main, NULL);
	pthread_attr_destroy(&attr);
	if (e != 0)
		return e;
	engine.started = 1;
	engine.env = env;
	return 0;
}

static int get_fd(napi_env env, napi_value v, int32_t *fd)
{
	return napi_get_value_int32(env, v, fd) == napi_ok && *fd >= 0 ? 0 : -1;
}

/* A Buffer argument's bytes, or none for null/undefined. */
static int get_head(napi_env env, napi_value v, void **p, size_t *n)
{
	*p = NULL;
	*n = 0;
	napi_valuetype t;
	if (napi_typeof(env, v, &t) != napi_ok)
		return -1;
	if (t == napi_null || t == napi_undefined)
		return 0;
	bool is;
	if (napi_is_buffer(env, v, &is) != napi_ok || !is)
		return -1;
	return napi_get_buffer_info(env, v, p, n) == napi_ok ? 0 : -1;
}

static napi_value js_relay(napi_env env, napi_callback_info info)
{
	size_t argc = 5;
	napi_value argv[5];
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) {
		napi_throw_type_error(env, NULL, "relay(fdA, fdB, headA, headB, done)");
		return NULL;
	}
	int32_t fa, fb;
	void *ha, *hb;
	size_t na, nb;
	napi_valuetype ft;
	if (get_fd(env, argv[0], &fa) < 0 || get_fd(env, argv[1], &fb) < 0 || get_head(env, argv[2], &ha, &na) < 0 ||
	    get_head(env, argv[3], &hb, &nb) < 0 || napi_typeof(env, argv[4], &ft) != napi_ok || ft != napi_function) {
		napi_throw_type_error(env, NULL, "relay(fdA: number, fdB: number, headA: Buffer|null, headB: Buffer|null, done: function)");
		return NULL;
	}
	pthread_mutex_lock(&engine.lock);
	int e = engine_start(env);
	pthread_mutex_unlock(&engine.lock);
	if (e != 0)
		return throw_errno(env, "cannot start the relay thread", e);
	int da = fcntl(fa, F_DUPFD_CLOEXEC, 3);
	if (da < 0)
		return throw_errno(env, "dup", errno);
	int db = fcntl(fb, F_DUPFD_CLOEXEC, 3);
	if (db < 0) {
		e = errno;
		close(da);
		return throw_errno(env, "dup", e);
	}
	struct result *r = calloc(1, sizeof *r);
	/* headA goes to B: it is direction 0's head (read from A); headB direction 1's. */
	struct relay_conn *c = r ? relay_conn_new(da, db, ha, na, hb, nb) : NULL;
	if (!c) {
		e = errno ? errno : ENOMEM;
		free(r);
		close(da);
		close(db);
		return throw_errno(env, "cannot make the relay", e);
	}
	if (napi_create_reference(env, argv[4], 1, &r->done) != napi_ok) {
		free(r);
		relay_conn_free(c, -1);
		return throw_errno(env, "reference", ENOMEM);
	}
	c->user = r;
	if (write(engine.queue[1], &c, sizeof c) != (ssize_t)sizeof c) {
		e = errno ? errno : EIO;
		napi_delete_reference(env, r->done);
		free(r);
		relay_conn_free(c, -1);
		return throw_errno(env, "cannot queue the relay", e);
	}
	return NULL;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_value fn;
	if (napi_create_function(env, "relay", NAPI_AUTO_LENGTH, js_relay, NULL, &fn) != napi_ok)
		return NULL;
	if (napi_set_named_property(env, exports, "relay", fn) != napi_ok)
		return NULL;
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
