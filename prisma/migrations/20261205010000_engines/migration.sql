-- Engines beyond ffmpeg: the detected kind of an input routes each unit to its engine's queue.
ALTER TABLE "inputs" ADD COLUMN "kind" TEXT;
ALTER TABLE "inputs" ADD COLUMN "format" TEXT;
ALTER TABLE "outputs" ADD COLUMN "engine" TEXT NOT NULL DEFAULT 'ffmpeg';
ALTER TABLE "outputs" ADD COLUMN "files" JSONB;
