/** Authentication: providers, the chain, API keys, tenancy rules. */
export type { Principal, AuthRequest, AuthProvider, PeerCredentials } from './types.js';
export { ROLE_ADMIN, DEFAULT_TENANT } from './types.js';
export { AuthChain, unauthenticated } from './chain.js';
export { createAuthChain } from './factory.js';
export type { AuthConfig, AuthChainContext } from './factory.js';
export { ApiKeyService, apiKeyProvider, looksLikeApiKey } from './api-key.js';
export type { ApiKeyCreateInput, ApiKeyInfo, CreatedApiKey } from './api-key.js';
export { jwtProvider, JWT_ALGORITHMS } from './jwt.js';
export type { JwtProviderOptions } from './jwt.js';
export {
  signatureProvider,
  signRequest,
  signaturePayload,
  parseEd25519PublicKey,
  SIGNATURE_HEADERS,
  DEFAULT_SIGNATURE_WINDOW_S,
} from './signature.js';
export type { SigningKey, SignatureProviderOptions, SignRequestInput } from './signature.js';
export { ReplayCache } from './replay-cache.js';
export { SigningKeyService } from './signing-keys.js';
export type { SigningKeyRegisterInput } from './signing-keys.js';
export { peerCredsProvider } from './peer-creds.js';
export type { PeerCredsProviderOptions, PeerIdentity } from './peer-creds.js';
export { loadPeerCredReader } from './peercred-native.js';
export { allowAllProvider, ALLOW_ALL_REFUSED_PROFILES, isLoopbackAddress } from './allow-all.js';
export type { AllowAllOptions } from './allow-all.js';
export { assertSameTenant, hasRole, isAdmin, requireRole, canSeeAllTenants } from './tenancy.js';
export { header, bearerToken } from './headers.js';
