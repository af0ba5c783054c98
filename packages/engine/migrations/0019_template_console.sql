-- Templates keep the console type of the VM they were made from (issue 5 item 6, session 4):
-- VMs created from a template inherit it unless the request names one; OVF export/import and
-- domain registration carry it. Existing templates were made when every VM had a display: 'vnc'.

ALTER TABLE templates ADD COLUMN console_type text NOT NULL DEFAULT 'vnc'
  CONSTRAINT templates_console_type_check CHECK (console_type IN ('vnc', 'serial'));
