import type { Provider } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { PRISMA, type PrismaClient } from '@kiln/database';
import { KilnMetrics } from '@kiln/observability';
import { QueueProducer, REDIS, type RedisClient } from '@kiln/queue';
import { OBJECT_STORE, type ObjectStore } from '@kiln/storage';
import { ChunkStore, SegmentedWriter, UploadLocks } from '@kiln/uploads';
import { JobLifecycle } from '@kiln/workflow';

/** The upload machinery of @kiln/uploads (plain classes) built once from the gateway's clients. */
export const uploadProviders: Provider[] = [
  {
    provide: UploadLocks,
    useFactory: (redis: RedisClient, config: KilnConfig) => new UploadLocks(redis, config),
    inject: [REDIS, KILN_CONFIG],
  },
  {
    provide: ChunkStore,
    useFactory: (
      prisma: PrismaClient,
      store: ObjectStore,
      config: KilnConfig,
      producer: QueueProducer,
      lifecycle: JobLifecycle,
      metrics: KilnMetrics,
      locks: UploadLocks,
    ) => new ChunkStore(prisma, store, config, producer, lifecycle, metrics, locks),
    inject: [PRISMA, OBJECT_STORE, KILN_CONFIG, QueueProducer, JobLifecycle, KilnMetrics, UploadLocks],
  },
  {
    provide: SegmentedWriter,
    useFactory: (store: ObjectStore, chunks: ChunkStore, metrics: KilnMetrics) =>
      new SegmentedWriter(store, chunks, metrics),
    inject: [OBJECT_STORE, ChunkStore, KilnMetrics],
  },
];
