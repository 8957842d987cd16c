/*
 * peercred.node: a tiny N-API addon exposing getPeerCred(fd) -> {uid, gid, pid},
 * the credentials of the process at the other end of a connected Unix socket
 * (getsockopt SO_PEERCRED: filled in by the kernel at connect(), cannot be forged by the peer).
 * Errors are thrown as JS Errors with `code` set to the errno name ("EBADF", "ENOTSOCK", ...).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <node_api.h>

static const char *errno_name(int err) {
    switch (err) {
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EINVAL: return "EINVAL";
    case ENOTCONN: return "ENOTCONN";
    default: return "EIO";
    }
}

static napi_value throw_errno(napi_env env, int err) {
    char msg[128];
    snprintf(msg, sizeof msg, "getsockopt(SO_PEERCRED): %s", strerror(err));
    napi_throw_error(env, errno_name(err), msg);
    return NULL;
}

static int set_u32(napi_env env, napi_value obj, const char *name, uint32_t value) {
    napi_value v;
    if (napi_create_uint32(env, value, &v) != napi_ok) return -1;
    return napi_set_named_property(env, obj, name, v) == napi_ok ? 0 : -1;
}

static napi_value get_peer_cred(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
        napi_throw_type_error(env, NULL, "getPeerCred(fd): fd is required");
        return NULL;
    }
    int32_t fd;
    if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
        napi_throw_type_error(env, NULL, "getPeerCred(fd): fd must be a non-negative integer");
        return NULL;
    }
    struct ucred cred;
    socklen_t len = sizeof cred;
    memset(&cred, 0, sizeof cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, errno);
    if (len != sizeof cred) return throw_errno(env, EINVAL);

    napi_value out;
    if (napi_create_object(env, &out) != napi_ok) return NULL;
    if (set_u32(env, out, "uid", cred.uid) != 0 || set_u32(env, out, "gid", cred.gid) != 0 ||
        set_u32(env, out, "pid", (uint32_t)cred.pid) != 0) {
        return NULL;
    }
    return out;
}

static napi_value init(napi_env env, napi_value exports) {
    napi_value fn;
    if (napi_create_function(env, "getPeerCred", NAPI_AUTO_LENGTH, get_peer_cred, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, "getPeerCred", fn) != napi_ok) return NULL;
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
