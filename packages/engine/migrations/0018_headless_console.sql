-- Headless VMs (session 3): a VM's console may be 'serial' — no VGA, no USB controller or tablet,
-- no VNC listener; the serial port (always present) is the way in. Under TCG the firmware
-- busy-waits on the xHCI controller a VNC console brings, so headless VMs also start cheaper.
-- The constraint is the one PostgreSQL named for 0007's inline column CHECK.

ALTER TABLE vms DROP CONSTRAINT vms_console_type_check;
ALTER TABLE vms ADD CONSTRAINT vms_console_type_check CHECK (console_type IN ('vnc', 'serial'));
