/**
 * The commands that work without a daemon. Naming one skips loading the client commands (and
 * the SDK behind them). The bundled CLI (scripts/bundle-cli.mjs) routes by the same list: its
 * loader picks the bundle of the command named first (client commands, these, or `serve`).
 */
export const LOCAL_COMMANDS: ReadonlySet<string> = new Set(['serve', 'run', 'doctor', 'config', 'image']);
