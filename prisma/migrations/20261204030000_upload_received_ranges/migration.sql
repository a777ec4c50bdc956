-- The received byte ranges of an upload, merged ([[start, end], …], inclusive), kept on its row.
ALTER TABLE "uploads" ADD COLUMN "received" JSONB NOT NULL DEFAULT '[]';

-- Backfill from the chunk rows: adjacent and overlapping ranges joined (gaps and islands).
WITH ordered AS (
  SELECT upload_id, "start", "end",
         MAX("end") OVER (PARTITION BY upload_id ORDER BY "start", "end"
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
  FROM "upload_chunks"
), marked AS (
  SELECT upload_id, "start", "end",
         SUM(CASE WHEN reach IS NULL OR "start" > reach + 1 THEN 1 ELSE 0 END)
           OVER (PARTITION BY upload_id ORDER BY "start", "end" ROWS UNBOUNDED PRECEDING) AS island
  FROM ordered
), islands AS (
  SELECT upload_id, MIN("start") AS s, MAX("end") AS e FROM marked GROUP BY upload_id, island
)
UPDATE "uploads" u
SET "received" = r.ranges
FROM (SELECT upload_id, jsonb_agg(jsonb_build_array(s, e) ORDER BY s) AS ranges FROM islands GROUP BY upload_id) r
WHERE u.id = r.upload_id;
