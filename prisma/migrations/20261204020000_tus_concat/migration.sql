-- tus concatenation extension: partial and final uploads.
ALTER TABLE "uploads" ADD COLUMN "tus_concat" TEXT;
ALTER TABLE "uploads" ADD COLUMN "concat_final_id" UUID;
ALTER TABLE "uploads" ADD COLUMN "concat_parts" UUID[] NOT NULL DEFAULT ARRAY[]::UUID[];
ALTER TABLE "uploads" ADD COLUMN "scope_job_id" UUID;
CREATE INDEX "uploads_concat_final_id_idx" ON "uploads"("concat_final_id");
