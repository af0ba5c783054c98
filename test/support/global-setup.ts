// Global test set-up shared by every package. Later parts (embedded PostgreSQL for the
// whole run, the test guest) hook in here so each starts once per run, not once per file.
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {};
}
