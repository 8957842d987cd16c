/*
 * Network relays of a sandbox (docs/network.md): a helper process ("netd", forked by the init,
 * never running foreign code) that
 *  - accepts connections on 127.0.0.1:PROXY_PORT inside the sandbox's network namespace and
 *    relays each, byte for byte, to the daemon's egress proxy at NET_DIR/egress.sock;
 *  - on NET_CONNECT (from the daemon, through the init), connects to 127.0.0.1:PORT inside
 *    the namespace and relays it to NET_DIR/ports.sock, introduced by the daemon's token.
 * NET_DIR is a daemon-owned folder bound read-only into the sandbox. The helper relays every
 * egress connection in its own epoll loop with splice(2) (splice_relay.c: no process per
 * connection, no copy through user memory); a port relay gets a forked child of its own,
 * which the helper does not reap (SIGCHLD ignored).
 */
#ifndef AGENTD_NET_H
#define AGENTD_NET_H

#include <stdint.h>

#include "agent.h"
#include "wire.h"

#define NET_TOKEN_BYTES 16u

struct net_options {
	const char *dir;     /* NULL: no relays at all */
	uint16_t proxy_port; /* 0: no egress listener */
};

/* Binds the egress listener and forks the helper. Returns 0 or an errno (nothing started). */
int net_start(struct agent *a, const struct net_options *opt);

/* NET_CONNECT: u32 port, bytes token (NET_TOKEN_BYTES). Answers OK once the helper has the request. */
void net_handle_connect(struct agent *a, uint32_t id, struct rd *r);

#endif
