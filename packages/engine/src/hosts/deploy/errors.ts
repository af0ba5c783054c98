import { VireoError, type VireoErrorOptions } from '../../errors';

/** The coded ways an SSH deploy fails; each is also an API error code. */
export type DeployErrorCode =
  | 'ssh_connect_failed'
  | 'ssh_auth_failed'
  | 'hostkey_mismatch'
  | 'unsupported_os'
  | 'package_install_failed'
  | 'agent_start_failed';

/**
 * A deploy step failed. It is raised inside the host-install Operation, not by a request handler,
 * so the status only matters if a caller chooses to surface it directly: 502 says "the remote
 * machine, not this request, is at fault". `details` never holds secrets.
 */
export class DeployError extends VireoError {
  declare readonly code: DeployErrorCode;

  constructor(code: DeployErrorCode, message: string, options?: VireoErrorOptions) {
    super(502, code, message, options);
  }
}
