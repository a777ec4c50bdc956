-- PostgreSQL as the ledger: retention, converter heartbeats, the callback outbox.

-- AlterTable
ALTER TABLE "jobs" ADD COLUMN "expires_at" TIMESTAMPTZ(3),
ADD COLUMN "keep_data" BOOLEAN NOT NULL DEFAULT false;

-- CreateIndex
CREATE INDEX "jobs_finished_at_idx" ON "jobs"("finished_at");

-- AlterTable
ALTER TABLE "outputs" ADD COLUMN "heartbeat_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "deliveries" (
    "delivery_id" UUID NOT NULL,
    "job_id" UUID NOT NULL,
    "event" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "deliveries_pkey" PRIMARY KEY ("delivery_id")
);

-- CreateIndex
CREATE INDEX "deliveries_state_updated_at_idx" ON "deliveries"("state", "updated_at");

-- CreateIndex
CREATE INDEX "deliveries_job_id_idx" ON "deliveries"("job_id");

-- AddForeignKey
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Deliveries made before the outbox existed: their outcome, from the attempts recorded.
INSERT INTO "deliveries" ("delivery_id", "job_id", "event", "state", "attempts", "created_at", "updated_at")
SELECT "delivery_id", "job_id", "event",
       CASE WHEN bool_or("status_code" BETWEEN 200 AND 299) THEN 'delivered' ELSE 'failed' END,
       max("attempt"), min("at"), max("at")
FROM "callback_deliveries"
GROUP BY "delivery_id", "job_id", "event"
ON CONFLICT DO NOTHING;
