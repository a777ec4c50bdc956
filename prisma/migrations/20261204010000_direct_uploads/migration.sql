-- Direct uploads: the client sends its bytes straight to S3 (a presigned POST form or presigned part PUTs).
ALTER TABLE "uploads" ADD COLUMN "direct_transfer" TEXT;
ALTER TABLE "uploads" ADD COLUMN "direct_part_size" BIGINT;
