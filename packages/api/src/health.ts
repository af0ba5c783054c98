import { type Static, Type } from '@sinclair/typebox';

/** `GET /health`: public, cheap, for load balancers and `npm start`'s readiness check. */
export const HealthReport = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
    version: Type.String(),
    database: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
    schema: Type.Object({
      current: Type.Integer({ description: 'Highest migration applied to the database.' }),
      latest: Type.Integer({ description: 'Highest migration this engine knows.' }),
      pending: Type.Integer(),
    }),
  },
  { $id: 'HealthReport', description: 'Engine health' },
);
export type HealthReport = Static<typeof HealthReport>;
