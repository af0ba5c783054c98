-- Adding a host by SSH deploy (ADR 015): the join token the deploy uses is bound to the host row
-- created by POST /hosts, the row pins the SSH host key it was installed over, and keeps the deploy
-- log so an administrator can read why an install failed. SSH credentials are never stored.

ALTER TABLE join_tokens ADD COLUMN host_id uuid;
ALTER TABLE hosts ADD COLUMN ssh_host_key_sha256 text;
ALTER TABLE hosts ADD COLUMN deploy_log jsonb;

INSERT INTO operation_types (name, description) VALUES
  ('host.deploy', 'Install the agent on a host over SSH and enroll it');
