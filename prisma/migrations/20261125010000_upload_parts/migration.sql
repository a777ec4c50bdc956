-- AlterTable
ALTER TABLE "uploads" ADD COLUMN     "multipart_id" TEXT,
ADD COLUMN     "multipart_key" TEXT;

-- AlterTable
ALTER TABLE "upload_chunks" ADD COLUMN     "part_number" INTEGER,
ALTER COLUMN "object_key" DROP NOT NULL;
