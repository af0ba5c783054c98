export { DEFAULT_DEPLOY_PATHS, type DeployPaths } from './agent-service';
export {
  type DeployEnrollment,
  DeployFailure,
  type DeployOptions,
  type DeployResult,
  type DeployTarget,
  deployHost,
} from './deploy';
export { DeployError, type DeployErrorCode } from './errors';
export type { DeployLogLine } from './log';
export { HOST_DEB_PACKAGES } from './packages';
export { agentPayloadFor } from './payload-cache';
export { type AgentPayload, agentRuntimePackages, createAgentPayload, dependencyClosure } from './payload';
export {
  findSealApplianceSource,
  installSealAppliance,
  SEAL_APPLIANCE_FILES,
  type SealApplianceInstall,
  type SealApplianceSource,
} from './seal-appliance';
export { fingerprintOf, normalizeFingerprint, type SshAuth } from './ssh';
