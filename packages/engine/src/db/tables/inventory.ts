// Kysely row types for this area's tables (see migrations/).
// biome-ignore lint/suspicious/noEmptyInterface: filled in as the area's migrations land
export interface InventoryTables {}
