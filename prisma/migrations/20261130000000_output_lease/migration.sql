-- AlterTable
ALTER TABLE "outputs" ADD COLUMN     "attempt" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "lease" UUID;
