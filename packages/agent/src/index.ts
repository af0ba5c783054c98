export type { AgentRpcClientOptions } from './rpc/client';
export { AgentRpcClient, AgentRpcError } from './rpc/client';
