-- AlterTable
ALTER TABLE "upload_chunks" ADD COLUMN     "etag" TEXT,
ALTER COLUMN "sha256" DROP NOT NULL;
