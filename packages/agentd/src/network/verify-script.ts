/**
 * The probes `agentd network verify` runs inside a sandbox (python3, as any code in the
 * sandbox could). Input: one JSON argument; output: one JSON line per probe
 * {name, result: held|broken|error, detail}. A probe is "broken" when it reached something it
 * must not reach. Direct probes use IP addresses only (no name is ever resolved directly);
 * names go only through the proxy, if the sandbox has one.
 */
export const VERIFY_SCRIPT = String.raw`
import json, os, socket, ssl, sys, errno
cfg = json.loads(sys.argv[1])
nonce = cfg['nonce']; sink = cfg['sink_port']; marker = ('AGENTD-VERIFY-' + nonce).encode()
proxy = os.environ.get('HTTPS_PROXY') or os.environ.get('https_proxy') or ''
def out(name, result, detail):
    print(json.dumps({'name': name, 'result': result, 'detail': detail[:300]}), flush=True)
def err(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__ + (': ' + str(e) if str(e) else '')
def hostport(s):
    h, _, p = s.rpartition(':')
    return h.strip('[]'), int(p)
def tcp(addr, port, timeout=3):
    fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(timeout); s.connect((addr, port)); return s
def direct(name, target, payload=b''):
    try:
        a, p = hostport(target)
        s = tcp(a, p)
        if payload: s.sendall(payload)
        s.close(); out(name, 'broken', 'connected to ' + target)
        return True
    except Exception as e:
        out(name, 'held', 'direct ' + target + ': ' + err(e)); return False
def recv_all(s, limit=4096):
    b = b''
    try:
        while len(b) < limit:
            c = s.recv(4096)
            if not c: break
            b += c
    except Exception:
        pass
    return b
def connect_proxy(host, port):
    if not proxy:
        return None, 'no proxy in this sandbox'
    ph, pp = hostport(proxy.split('://', 1)[-1].rstrip('/'))
    s = tcp(ph, pp, 10)
    s.sendall(('CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n' % (host, port, host, port)).encode())
    head = b''
    while b'\r\n\r\n' not in head:
        c = s.recv(4096)
        if not c: break
        head += c
    line = head.split(b'\r\n', 1)[0].decode('latin1')
    if ' 200 ' in line + ' ':
        return s, line
    s.close(); return None, line or 'connection closed'
def via_proxy(name, host, port, payload):
    try:
        s, line = connect_proxy(host, port)
        if s is None:
            out(name, 'held', 'CONNECT %s:%d: %s' % (host, port, line)); return
        s.sendall(payload); got = recv_all(s); s.close()
        out(name, 'broken', 'CONNECT %s:%d answered 200' % (host, port))
    except Exception as e:
        out(name, 'held', 'CONNECT %s:%d: %s' % (host, port, err(e)))
def http_via_proxy(url_host, port, path, tag):
    ph, pp = hostport(proxy.split('://', 1)[-1].rstrip('/'))
    s = tcp(ph, pp, 10)
    s.sendall(('GET http://%s:%d%s HTTP/1.1\r\nHost: %s:%d\r\nX-Probe: %s\r\n\r\n' % (url_host, port, path, url_host, port, tag)).encode())
    b = recv_all(s); s.close(); return b
t = cfg['targets']
probe = lambda n: ('probe=' + n + ';nonce=' + nonce + '\n').encode()
direct('direct-tcp-ip', t['tcp'], probe('direct-tcp-ip'))
direct('ipv6', t['tcp6'], probe('ipv6'))
try:
    a, p = hostport(t['dns'])
    u = socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)
    q = b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00' + b'\x07example\x03com\x00\x00\x01\x00\x01'
    u.sendto(q, (a, p))
    try:
        u.recvfrom(512); out('udp-dns', 'broken', 'a DNS answer came back from ' + t['dns'])
    except Exception:
        out('udp-dns', 'broken', 'a UDP datagram left the sandbox for ' + t['dns'])
except Exception as e:
    out('udp-dns', 'held', 'UDP to ' + t['dns'] + ': ' + err(e))
if proxy:
    via_proxy('doh', t['doh_host'], 443, b'\x16\x03\x01\x00\x00')
else:
    direct('doh', t['tcp'], probe('doh'))
via_proxy('connect-ip-literal', '127.0.0.1', sink, probe('connect-ip-literal')) if proxy else out('connect-ip-literal', 'held', 'no proxy in this sandbox')
via_proxy('connect-rebind', 'rebind.agentd-verify.invalid', sink, probe('connect-rebind')) if proxy else out('connect-rebind', 'held', 'no proxy in this sandbox')
if proxy:
    try:
        s, line = connect_proxy('sni.agentd-verify.invalid', sink)
        if s is None:
            out('sni-mismatch', 'error', 'the listed probe host was refused: ' + line)
        else:
            inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
            ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            obj = ctx.wrap_bio(inc, outg, server_hostname='other.agentd-verify.invalid')
            try: obj.do_handshake()
            except ssl.SSLWantReadError: pass
            s.sendall(outg.read()); got = recv_all(s); s.close()
            out('sni-mismatch', 'broken' if marker in got else 'held', 'a ClientHello for another name ' + ('got through' if marker in got else 'was cut'))
    except Exception as e:
        out('sni-mismatch', 'held', err(e))
else:
    out('sni-mismatch', 'held', 'no proxy in this sandbox')
if proxy:
    try:
        first = http_via_proxy('redirect.agentd-verify.invalid', sink, '/redirect', 'redirect')
        loc = [l for l in first.split(b'\r\n') if l.lower().startswith(b'location:')]
        if not loc:
            out('redirect', 'error', 'the listed probe host gave no redirect: ' + first[:80].decode('latin1'))
        else:
            target = loc[0].split(b':', 1)[1].strip().decode()
            h, p = hostport(target.split('://', 1)[1].split('/', 1)[0])
            second = http_via_proxy(h, p, '/followed', 'redirect-followed')
            out('redirect', 'broken' if marker in second else 'held', 'following the redirect to ' + target + ': ' + second.split(b'\r\n', 1)[0].decode('latin1'))
    except Exception as e:
        out('redirect', 'held', err(e))
else:
    out('redirect', 'held', 'no proxy in this sandbox')
if not direct('metadata', t['metadata'], probe('metadata')) and proxy:
    a, p = hostport(t['metadata'])
    try:
        s, line = connect_proxy(a, p)
        if s is not None:
            s.close(); out('metadata', 'broken', 'CONNECT ' + t['metadata'] + ' answered 200')
    except Exception:
        pass
hit = None
for p in cfg['daemon_ports']:
    for a in ('127.0.0.1', '::1'):
        try:
            tcp(a, p, 2).close(); hit = '%s:%d' % (a, p)
        except Exception:
            pass
    if proxy and not hit:
        s, line = connect_proxy('127.0.0.1', p)
        if s is not None:
            s.close(); hit = 'CONNECT 127.0.0.1:%d' % p
out('daemon-ports', 'broken' if hit else 'held', ('reached ' + hit) if hit else 'ports %s refused' % cfg['daemon_ports'])
res = []
for path in cfg['sockets']:
    try:
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); u.settimeout(2); u.connect(path); u.close(); res.append('connected to ' + path)
    except Exception as e:
        pass
out('daemon-socket', 'broken' if res else 'held', '; '.join(res) if res else 'no daemon socket reachable')
try:
    # Node binds an abstract name over the whole sun_path (NUL-padded to 108 bytes).
    name = cfg['abstract'].encode(); u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); u.settimeout(2)
    u.connect(b'\0' + name + b'\0' * (107 - len(name))); u.sendall(probe('abstract-unix')); u.close()
    out('abstract-unix', 'broken', "connected to the host's abstract socket @" + cfg['abstract'])
except Exception as e:
    out('abstract-unix', 'held', 'abstract socket: ' + err(e))
`;
