import type { StorageDomainConfig, StorageDriver, StorageDriverFactory } from './driver';
import { StorageError } from './errors';
import { LocalStorageDriver } from './local';

/**
 * Storage drivers by name. `local` is built in; other drivers (posix, nfs, iscsi…) register
 * themselves here, so the runtime never switches on a driver name.
 */
export class StorageDriverRegistry {
  private readonly factories = new Map<string, StorageDriverFactory>();

  register(kind: string, factory: StorageDriverFactory): this {
    if (this.factories.has(kind)) {
      throw new StorageError('invalid_storage_config', `storage driver "${kind}" is already registered`, {
        kind,
      });
    }
    this.factories.set(kind, factory);
    return this;
  }

  kinds(): string[] {
    return [...this.factories.keys()].sort();
  }

  /** Builds the driver for one domain; throws `unknown_storage_driver` for an unregistered kind. */
  create(config: StorageDomainConfig): StorageDriver {
    const factory = this.factories.get(config.driver);
    if (!factory) {
      throw new StorageError('unknown_storage_driver', `no storage driver "${config.driver}" on this host`, {
        driver: config.driver,
        available: this.kinds(),
      });
    }
    return factory(config);
  }
}

/** A registry with the drivers this agent ships. */
export function defaultStorageRegistry(): StorageDriverRegistry {
  return new StorageDriverRegistry().register('local', (config) => new LocalStorageDriver(config));
}
