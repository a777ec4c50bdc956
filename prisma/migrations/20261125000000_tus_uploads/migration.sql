-- AlterTable
ALTER TABLE "uploads" ADD COLUMN     "length_deferred" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "tus_metadata" TEXT;
