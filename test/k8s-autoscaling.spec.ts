// The converter autoscaling of deploy/k8s (KEDA): a ScaledObject that targets the converters, calls
// the gateway at GET /metrics/queues with the metrics token and reads a value that endpoint really
// returns; the Prometheus alternative reads series the gateway exports.
import 'reflect-metadata';
import type { KilnConfig } from '../libs/config/src';
import { type EngineName, QueueName, convertQueueFor } from '../libs/contracts/src';
import { KilnMetrics, QUEUE_STATES } from '../libs/observability/src';
import { MetricsController } from '../apps/api-gateway/src/metrics/metrics.controller';
import { type Doc, loadManifests } from './k8s-manifests';

describe('Kubernetes manifests (deploy/k8s)', () => {
  const { kustomizations, resources, one, secret, appOf } = loadManifests();

  describe('converter autoscaling (KEDA)', () => {
    const scaled = one('ScaledObject', 'kiln-converter');
    const trigger = scaled.spec.triggers[0];

    /** What GET /metrics/queues answers, from the gateway's own controller over these counts. */
    async function queuesBody(counts: Record<string, Partial<Record<string, number>>>): Promise<unknown> {
      const metrics = new KilnMetrics({ app: 'api-gateway' });
      metrics.watchQueues(Object.values(QueueName), async (q) => counts[q] ?? {});
      const token = secret.stringData.KILN_METRICS_TOKEN;
      const controller = new MetricsController(metrics, { KILN_METRICS_TOKEN: token } as KilnConfig);
      const req = {
        header: (name: string) => (name.toLowerCase() === 'authorization' ? `Bearer ${token}` : undefined),
      };
      return controller.queues(req as never, { setHeader: () => undefined } as never);
    }

    it('targets the converter Deployment, which leaves its replica count to KEDA', () => {
      expect(scaled.spec.scaleTargetRef).toMatchObject({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'kiln-converter',
      });
      const target = one('Deployment', scaled.spec.scaleTargetRef.name);
      expect(appOf(target.spec.template.spec.containers[0])).toBe('converter');
      expect(target.spec.replicas).toBeUndefined();
      expect(scaled.spec.minReplicaCount).toBeLessThanOrEqual(scaled.spec.maxReplicaCount);
      expect(Number(trigger.metadata.targetValue)).toBeGreaterThan(0);
    });

    it('calls the gateway Service at the route of GET /metrics/queues, with the metrics token from the Secret', () => {
      expect(trigger).toMatchObject({ type: 'metrics-api', metadata: { format: 'json', authMode: 'bearer' } });
      const url = new URL(trigger.metadata.url);
      const [service, namespace, svc] = url.hostname.split('.');
      expect(svc).toBe('svc');
      expect(namespace).toBe(kustomizations.find((k) => k.file === 'kustomization.yaml')!.doc.namespace);
      const port = (one('Service', service).spec.ports as Doc[]).find((p) => p.port === Number(url.port));
      expect(port?.targetPort).toBe('http');
      const route = `/${Reflect.getMetadata('path', MetricsController)}/${Reflect.getMetadata('path', MetricsController.prototype.queues)}`;
      expect(url.pathname).toBe(route);

      const auth = one('TriggerAuthentication', trigger.authenticationRef.name);
      expect(auth.spec.secretTargetRef).toEqual([
        { parameter: 'token', name: secret.metadata.name, key: 'KILN_METRICS_TOKEN' },
      ]);
      expect(secret.stringData.KILN_METRICS_TOKEN.length).toBeGreaterThanOrEqual(16);
    });

    it('reads a number the endpoint really returns, counting prioritized and running units', async () => {
      const body = await queuesBody({ convert: { waiting: 1, prioritized: 7, active: 2, delayed: 4, failed: 3 } });
      // GJSON dot path, as KEDA reads it.
      const value = (trigger.metadata.valueLocation as string)
        .split('.')
        .reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], body);
      expect(value).toBe(1 + 7 + 2);
    });

    it('scales each converter Deployment on exactly the queues of the engines it runs', async () => {
      const scaledObjects = resources.filter((l) => l.doc.kind === 'ScaledObject' && !l.file.includes('example'));
      const converters = resources.filter(
        (l) => l.doc.kind === 'Deployment' && appOf(l.doc.spec.template.spec.containers[0]) === 'converter',
      );
      // Every converter Deployment has its ScaledObject (their manifests leave the count to KEDA).
      expect(scaledObjects.map((l) => l.doc.spec.scaleTargetRef.name).sort()).toEqual(
        converters.map((l) => l.doc.metadata.name).sort(),
      );
      const body = await queuesBody({
        convert: { waiting: 1 },
        'convert-vips': { prioritized: 2 },
        'convert-office': { active: 3 },
      });
      for (const { doc } of scaledObjects) {
        const target = one('Deployment', doc.spec.scaleTargetRef.name);
        expect(target.spec.replicas).toBeUndefined();
        const env = target.spec.template.spec.containers[0].env as { name: string; value: string }[];
        const engines = env.find((e) => e.name === 'KILN_CONVERTER_ENGINES')!.value.split(',') as EngineName[];
        const queues = (doc.spec.triggers as Doc[]).map((t) => {
          const [root, queue, field] = (t.metadata.valueLocation as string).split('.');
          expect([root, field]).toEqual(['queues', 'demand']);
          expect(t.metadata.url).toBe(trigger.metadata.url);
          expect(t.authenticationRef).toEqual(trigger.authenticationRef);
          // A number the endpoint really returns for that queue.
          expect(typeof ((body as Doc).queues[queue] as Doc).demand).toBe('number');
          return queue;
        });
        expect({ deployment: doc.spec.scaleTargetRef.name, queues: queues.sort() }).toEqual({
          deployment: doc.spec.scaleTargetRef.name,
          queues: engines.map((e) => convertQueueFor(e)).sort(),
        });
      }
    });

    it('documents the Prometheus alternative on series the gateway exports', () => {
      const example = resources.find((l) => l.file === 'keda/scaledobject-prometheus.example.yaml')!.doc;
      expect(example.spec.scaleTargetRef).toEqual(scaled.spec.scaleTargetRef);
      const prom = example.spec.triggers[0];
      expect(prom.type).toBe('prometheus');
      expect(prom.metadata.threshold).toBe(trigger.metadata.targetValue);
      const registry = new KilnMetrics({ app: 'api-gateway' }).registry;
      const selectors = [...(prom.metadata.query as string).matchAll(/(kiln_[a-z_]+)\{([^}]*)\}/g)];
      expect(selectors.map((m) => m[1]).sort()).toEqual(['kiln_queue_backlog', 'kiln_queue_jobs']);
      for (const [, name, labels] of selectors) {
        expect(registry.getSingleMetric(name)).toBeDefined();
        for (const [, label, value] of labels.matchAll(/(\w+)="([^"]*)"/g)) {
          const allowed: readonly string[] =
            label === 'queue' ? Object.values(QueueName) : label === 'state' ? QUEUE_STATES : [];
          expect({ label, value, allowed: allowed.includes(value) }).toEqual({ label, value, allowed: true });
        }
      }
    });
  });
});
