-- Per-key limits: open uploads and jobs in flight are counted per owner key and status.
-- CreateIndex
CREATE INDEX "jobs_owner_key_hash_status_idx" ON "jobs"("owner_key_hash", "status");

-- CreateIndex
CREATE INDEX "uploads_owner_key_hash_status_idx" ON "uploads"("owner_key_hash", "status");
