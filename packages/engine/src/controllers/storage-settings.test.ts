import { describe, expect, it } from 'vitest';
import { localStorageWaitMsFromEnv } from './local-storage';
import { storageRefreshMsFromEnv } from './storage-domain-controller';

describe('storage settings from the environment', () => {
  it('reads VIREO_STORAGE_REFRESH_S in seconds, 5…3600, default 30 s', () => {
    expect(storageRefreshMsFromEnv({})).toBe(30_000);
    expect(storageRefreshMsFromEnv({ VIREO_STORAGE_REFRESH_S: '' })).toBe(30_000);
    expect(storageRefreshMsFromEnv({ VIREO_STORAGE_REFRESH_S: '5' })).toBe(5_000);
    for (const bad of ['4', '3601', '1.5', 'x', '-1']) {
      expect(() => storageRefreshMsFromEnv({ VIREO_STORAGE_REFRESH_S: bad })).toThrow(
        /VIREO_STORAGE_REFRESH_S/,
      );
    }
  });

  it('reads VIREO_LOCAL_STORAGE_WAIT_MS, 0…600000, default 10 s', () => {
    expect(localStorageWaitMsFromEnv({})).toBe(10_000);
    expect(localStorageWaitMsFromEnv({ VIREO_LOCAL_STORAGE_WAIT_MS: '0' })).toBe(0);
    for (const bad of ['600001', 'soon', '-5']) {
      expect(() => localStorageWaitMsFromEnv({ VIREO_LOCAL_STORAGE_WAIT_MS: bad })).toThrow(
        /VIREO_LOCAL_STORAGE_WAIT_MS/,
      );
    }
  });
});
