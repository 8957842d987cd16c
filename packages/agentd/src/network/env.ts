/**
 * The environment of every command in an allowlist sandbox: the common proxy variables (and
 * the tool settings that do not read them) point at agentd-init's proxy port on the
 * sandbox's own loopback. A tool that ignores them gets no network at all (no route).
 */
export function proxyEnv(port: number): Record<string, string> {
  const http = `http://127.0.0.1:${port}`;
  const socks = `socks5h://127.0.0.1:${port}`;
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: http,
    HTTPS_PROXY: http,
    ALL_PROXY: socks,
    NO_PROXY: noProxy,
    http_proxy: http,
    https_proxy: http,
    all_proxy: socks,
    no_proxy: noProxy,
    // pip reads PIP_PROXY as --proxy; npm reads npm_config_*; git: http.proxy through GIT_CONFIG_* (git >= 2.31).
    PIP_PROXY: http,
    npm_config_proxy: http,
    npm_config_https_proxy: http,
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.proxy',
    GIT_CONFIG_VALUE_0: http,
  };
}
