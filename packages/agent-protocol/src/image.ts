import { type Static, Type } from '@sinclair/typebox';
import { DiskFormatSchema, HostPathString } from './vm-spec';

const strict = { additionalProperties: false } as const;

export const ImageCreateParamsSchema = Type.Object(
  {
    path: HostPathString,
    format: DiskFormatSchema,
    /** Virtual size; may be omitted for an overlay (it inherits the base's size). */
    size_bytes: Type.Optional(Type.Integer({ minimum: 512, maximum: 64 * 1024 ** 4 })),
    /** Thin overlay on a base image (qcow2 only); the base format is always explicit. */
    backing: Type.Optional(Type.Object({ path: HostPathString, format: DiskFormatSchema }, strict)),
  },
  strict,
);
export type ImageCreateParams = Static<typeof ImageCreateParamsSchema>;

export const ImageInfoParamsSchema = Type.Object(
  {
    path: HostPathString,
    /** The format the caller believes the image has; the agent never probes it. */
    format: DiskFormatSchema,
  },
  strict,
);
export type ImageInfoParams = Static<typeof ImageInfoParamsSchema>;

export const ImageInfoSchema = Type.Object(
  {
    path: Type.String(),
    format: DiskFormatSchema,
    virtual_size: Type.Integer({ minimum: 0 }),
    actual_size: Type.Integer({ minimum: 0 }),
    backing: Type.Union([
      Type.Object({ path: Type.String(), format: DiskFormatSchema }, strict),
      Type.Null(),
    ]),
  },
  strict,
);
export type ImageInfo = Static<typeof ImageInfoSchema>;
