-- CreateTable
CREATE TABLE "jobs" (
    "id" UUID NOT NULL,
    "owner_key_hash" CHAR(64) NOT NULL,
    "token" CHAR(32) NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'incomplete',
    "status_info" TEXT NOT NULL DEFAULT '',
    "process" BOOLEAN NOT NULL DEFAULT true,
    "callback" TEXT,
    "tag" TEXT,
    "progress" INTEGER NOT NULL DEFAULT 0,
    "errors" JSONB NOT NULL DEFAULT '[]',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "modified_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "inputs" (
    "id" UUID NOT NULL,
    "job_id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "source" TEXT,
    "filename" TEXT,
    "size" BIGINT,
    "content_type" TEXT,
    "checksum_sha256" CHAR(64),
    "object_key" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "error" TEXT,
    "media" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ready_at" TIMESTAMPTZ(3),

    CONSTRAINT "inputs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "conversions" (
    "id" UUID NOT NULL,
    "job_id" UUID NOT NULL,
    "target" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "options" JSONB NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL DEFAULT 'pending',
    "progress" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "conversions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "outputs" (
    "id" UUID NOT NULL,
    "job_id" UUID NOT NULL,
    "conversion_id" UUID NOT NULL,
    "input_id" UUID NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "progress" INTEGER NOT NULL DEFAULT 0,
    "error_code" TEXT,
    "error" TEXT,
    "object_key" TEXT,
    "filename" TEXT,
    "size" BIGINT,
    "content_type" TEXT,
    "checksum_sha256" CHAR(64),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "outputs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "callback_deliveries" (
    "id" UUID NOT NULL,
    "job_id" UUID NOT NULL,
    "delivery_id" UUID NOT NULL,
    "event" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "status_code" INTEGER,
    "error" TEXT,
    "duration_ms" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "callback_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "uploads" (
    "id" UUID NOT NULL,
    "owner_key_hash" CHAR(64) NOT NULL,
    "job_id" UUID,
    "input_id" UUID,
    "client_upload_id" TEXT,
    "filename" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "content_type" TEXT,
    "checksum_sha256" CHAR(64),
    "received_bytes" BIGINT NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'uploading',
    "error" TEXT,
    "object_key" TEXT,
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "uploads_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "upload_chunks" (
    "id" UUID NOT NULL,
    "upload_id" UUID NOT NULL,
    "start" BIGINT NOT NULL,
    "end" BIGINT NOT NULL,
    "sha256" CHAR(64) NOT NULL,
    "object_key" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "upload_chunks_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "jobs_token_key" ON "jobs"("token");

-- CreateIndex
CREATE INDEX "jobs_owner_key_hash_created_at_id_idx" ON "jobs"("owner_key_hash", "created_at" DESC, "id");

-- CreateIndex
CREATE INDEX "jobs_status_idx" ON "jobs"("status");

-- CreateIndex
CREATE INDEX "inputs_job_id_created_at_idx" ON "inputs"("job_id", "created_at");

-- CreateIndex
CREATE INDEX "conversions_job_id_created_at_idx" ON "conversions"("job_id", "created_at");

-- CreateIndex
CREATE INDEX "outputs_job_id_idx" ON "outputs"("job_id");

-- CreateIndex
CREATE UNIQUE INDEX "outputs_conversion_id_input_id_key" ON "outputs"("conversion_id", "input_id");

-- CreateIndex
CREATE INDEX "callback_deliveries_job_id_at_idx" ON "callback_deliveries"("job_id", "at");

-- CreateIndex
CREATE UNIQUE INDEX "callback_deliveries_delivery_id_attempt_key" ON "callback_deliveries"("delivery_id", "attempt");

-- CreateIndex
CREATE INDEX "uploads_status_expires_at_idx" ON "uploads"("status", "expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "uploads_job_id_client_upload_id_key" ON "uploads"("job_id", "client_upload_id");

-- CreateIndex
CREATE UNIQUE INDEX "upload_chunks_upload_id_start_end_key" ON "upload_chunks"("upload_id", "start", "end");

-- AddForeignKey
ALTER TABLE "inputs" ADD CONSTRAINT "inputs_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "conversions" ADD CONSTRAINT "conversions_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "outputs" ADD CONSTRAINT "outputs_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "outputs" ADD CONSTRAINT "outputs_conversion_id_fkey" FOREIGN KEY ("conversion_id") REFERENCES "conversions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "outputs" ADD CONSTRAINT "outputs_input_id_fkey" FOREIGN KEY ("input_id") REFERENCES "inputs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "callback_deliveries" ADD CONSTRAINT "callback_deliveries_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "uploads" ADD CONSTRAINT "uploads_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "uploads" ADD CONSTRAINT "uploads_input_id_fkey" FOREIGN KEY ("input_id") REFERENCES "inputs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "upload_chunks" ADD CONSTRAINT "upload_chunks_upload_id_fkey" FOREIGN KEY ("upload_id") REFERENCES "uploads"("id") ON DELETE CASCADE ON UPDATE CASCADE;
