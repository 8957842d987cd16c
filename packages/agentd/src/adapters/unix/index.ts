export { UnixListener, type UnixListenerOptions } from './listener.js';
