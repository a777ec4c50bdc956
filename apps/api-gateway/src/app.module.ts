import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import type { KilnConfig } from '@kiln/config';
import type { Logger } from '@kiln/observability';
import { AuthGuard } from './auth/auth.guard';
import { AuthFailures } from './auth/auth-failures.service';
import { KeyLimits } from './limits/key-limits.service';
import { KeyQuotas } from './limits/key-quotas.service';
import { RateLimitGuard } from './limits/rate-limit.guard';
import { CoreModule } from './core/core.module';
import { JobEventsController } from './events/job-events.controller';
import { DocsController } from './docs/docs.controller';
import { FormatsController } from './formats/formats.controller';
import { HealthController } from './health/health.controller';
import { ErrorFilter } from './http/error.filter';
import { JsonBodyInterceptor } from './http/json-body';
import { IdempotencyInterceptor } from './http/idempotency';
import { JobsController } from './jobs/jobs.controller';
import { OutputFilesController } from './jobs/output-files.controller';
import { JobsService } from './jobs/jobs.service';
import { JobWaitService } from './jobs/job-wait.service';
import { MetricsController } from './metrics/metrics.controller';
import { PresetsController } from './jobs/presets.controller';
import { PresetsService } from './jobs/presets.service';
import { metricsProvider } from './metrics/metrics.provider';
import { JobUploadController } from './uploads/job-upload.controller';
import { WholeFileUploadService } from './uploads/whole-file-upload.service';
import { JobChunkUploadService } from './uploads/job-chunk-upload.service';
import { UploadSessionsController } from './uploads/upload-sessions.controller';
import { UploadSessionsService } from './uploads/upload-sessions.service';
import { DirectUploadsService } from './uploads/direct-uploads.service';
import { uploadProviders } from './uploads/upload-providers';
import { TusController } from './tus/tus.controller';
import { TusPatchWriter } from './tus/tus-patch-writer';
import { TusConcat } from './tus/tus-concat';
import { TusService } from './tus/tus.service';
import { WebController } from './web/web.controller';
import { WebJobsController } from './web/web-jobs.controller';
import { UppyController } from './uppy/uppy.controller';
import { DIRECT_UPLOADS } from './uppy/uppy-s3';
import { STATIC_DIR, WebPage, originOf } from './web/web-page';
import { WebSessions } from './auth/web-sessions.service';
import { ApiKeys } from './auth/api-keys.service';
import { KeysController } from './keys/keys.controller';

@Module({})
export class AppModule {
  static forRoot(config: KilnConfig, logger?: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forRoot(config, logger)],
      controllers: [
        JobsController,
        OutputFilesController,
        JobEventsController,
        JobUploadController,
        UploadSessionsController,
        FormatsController,
        HealthController,
        DocsController,
        MetricsController,
        WebController,
        WebJobsController,
        TusController,
        PresetsController,
        KeysController,
        UppyController,
      ],
      providers: [
        JobsService,
        JobWaitService,
        WholeFileUploadService,
        JobChunkUploadService,
        UploadSessionsService,
        DirectUploadsService,
        TusService,
        TusPatchWriter,
        TusConcat,
        PresetsService,
        ...uploadProviders,
        KeyLimits,
        KeyQuotas,
        WebSessions,
        AuthFailures,
        ApiKeys,
        {
          provide: WebPage,
          // The page sends files straight to S3 (direct uploads): its public origin is in the CSP.
          useFactory: () => {
            const s3 = (config as { KILN_S3_PUBLIC_URL?: string }).KILN_S3_PUBLIC_URL ?? config.S3_PUBLIC_ENDPOINT;
            const origin = originOf(s3 ?? config.S3_ENDPOINT);
            return new WebPage(STATIC_DIR, origin ? [origin] : []);
          },
        },
        // The Uppy endpoints run on direct upload sessions.
        { provide: DIRECT_UPLOADS, useExisting: DirectUploadsService },
        metricsProvider,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
        // After both guards: JSON bodies are read only once the caller is authenticated and within its rate.
        { provide: APP_INTERCEPTOR, useClass: JsonBodyInterceptor },
        // After the body is read: the key's fingerprint covers the parsed body.
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        { provide: APP_FILTER, useClass: ErrorFilter },
      ],
    };
  }
}
