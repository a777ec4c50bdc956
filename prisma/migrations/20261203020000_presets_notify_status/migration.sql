-- Presets (named conversions per API key) and online-convert's notify_status on jobs.

-- AlterTable
ALTER TABLE "jobs" ADD COLUMN "notify_status" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "presets" (
    "id" UUID NOT NULL,
    "owner_key_hash" CHAR(64) NOT NULL,
    "name" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "options" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "presets_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "presets_owner_key_hash_name_key" ON "presets"("owner_key_hash", "name");
