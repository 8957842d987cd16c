export { createPodmanBackend, PodmanBackend, containerName, podmanImageName } from './backend.js';
export { PodmanOptionsSchema } from './options.js';
