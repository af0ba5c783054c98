import {
  Cluster,
  ClusterPage,
  DataCenter,
  DataCenterPage,
  ErrorBody,
  Event,
  EventPage,
  HealthReport,
  LoginResponse,
  Operation,
  OperationAccepted,
  OperationPage,
  StorageDomain,
  StorageDomainPage,
  Vm,
  VmPage,
  Whoami,
} from '@vireo/api';
import type { TSchema } from '@sinclair/typebox';

/**
 * Response schemas registered once with `app.addSchema` and referenced by `$ref` from routes, so
 * OpenAPI lists each under components/schemas instead of repeating it per route. Only response
 * schemas: request validation compiles inline schemas (see validation.ts).
 */
export const SHARED_SCHEMAS: TSchema[] = [
  ErrorBody,
  HealthReport,
  LoginResponse,
  Whoami,
  DataCenter,
  DataCenterPage,
  Cluster,
  ClusterPage,
  Vm,
  VmPage,
  StorageDomain,
  StorageDomainPage,
  Operation,
  OperationAccepted,
  OperationPage,
  Event,
  EventPage,
];
