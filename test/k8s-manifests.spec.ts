// The Kubernetes manifests under deploy/k8s, checked offline: every document against the Kubernetes
// (kubernetes-models) and KEDA (@kubernetes-models/keda) schemas, then what a schema cannot see —
// the references between the documents and to Kiln's own code: probe ports, Secret and ConfigMap
// keys, the configuration each app would start with, shutdown grace against
// terminationGracePeriodSeconds, pinned images, the non-root security context, and a ScaledObject
// that targets the converters and reads a value GET /metrics/queues really returns.
import 'reflect-metadata';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { configSchema, parseConfig, type KilnConfig } from '../libs/config/src';
import { QueueName } from '../libs/contracts/src';
import { KilnMetrics, QUEUE_STATES } from '../libs/observability/src';
import { MetricsController } from '../apps/api-gateway/src/metrics/metrics.controller';

const ROOT = path.resolve(__dirname, '..');
const DEPLOY = path.join(ROOT, 'deploy/k8s');
/** A worker exits by itself at most this long after its grace period (libs/worker-runtime worker-app.ts). */
const WORKER_EXIT_MARGIN_SECONDS = 15;

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked by the assertions
type Doc = Record<string, any>;
interface Loaded {
  file: string;
  doc: Doc;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(full);
    return /\.ya?ml$/.test(e.name) ? [full] : [];
  });
}

function loadDocs(files: string[]): Loaded[] {
  return files.flatMap((file) => {
    const docs = parseAllDocuments(readFileSync(file, 'utf8'), { prettyErrors: true });
    return docs
      .map((d) => {
        const problems = [...d.errors, ...d.warnings];
        if (problems.length)
          throw new Error(`${path.relative(ROOT, file)}: ${problems.map((p) => p.message).join('; ')}`);
        return { file: path.relative(DEPLOY, file), doc: d.toJS() as Doc };
      })
      .filter((l) => l.doc !== null);
  });
}

/** The model class of a document's apiVersion and kind, from kubernetes-models or its KEDA models. */
function modelOf(doc: Doc): (new (data: Doc) => { validate(): void }) | undefined {
  const apiVersion = String(doc.apiVersion);
  const module = apiVersion.startsWith('keda.sh/')
    ? require(`@kubernetes-models/keda/${apiVersion}`)
    : require(`kubernetes-models/${apiVersion}`);
  return module[doc.kind];
}

/**
 * Every property name the Kubernetes (incl. apimachinery's ObjectMeta) and KEDA schemas know. The schemas accept unknown fields (the API
 * server's strict field validation, kubectl's default, does not), so a misspelt field would pass
 * `.validate()`; a name no schema knows at all is caught here.
 */
function schemaVocabulary(): Set<string> {
  const names = new Set<string>();
  for (const pkg of ['kubernetes-models', '@kubernetes-models/apimachinery', '@kubernetes-models/keda']) {
    const schemas = path.join(ROOT, 'node_modules', pkg, '_schemas');
    for (const f of readdirSync(schemas).filter((n) => n.endsWith('.js'))) {
      for (const m of readFileSync(path.join(schemas, f), 'utf8').matchAll(/instancePath\+"\/([A-Za-z0-9_$-]+)"/g))
        names.add(m[1]);
    }
  }
  return names;
}

/** Maps whose keys are data, not fields (labels, ConfigMap data, resource names, scaler metadata …). */
function isFreeFormMap(kind: string, at: string): boolean {
  if (/(^|\.)(labels|annotations|matchLabels|data|stringData|limits|requests|nodeSelector)$/.test(at)) return true;
  if (kind === 'Service' && at === 'spec.selector') return true;
  if (kind === 'ScaledObject' && /^spec\.triggers\[\d+\]\.metadata$/.test(at)) return true;
  return false;
}

function unknownFields(doc: Doc, vocabulary: Set<string>): string[] {
  const found: string[] = [];
  const walk = (value: unknown, at: string) => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        walk(v, `${at}[${i}]`);
      });
      return;
    }
    if (!value || typeof value !== 'object' || isFreeFormMap(doc.kind, at)) return;
    for (const [k, v] of Object.entries(value)) {
      if (!vocabulary.has(k)) found.push(`${at ? `${at}.` : ''}${k}`);
      walk(v, at ? `${at}.${k}` : k);
    }
  };
  walk(doc, '');
  return found;
}

/** A Kubernetes quantity in base units (cores, bytes). */
function quantity(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(q));
  if (!m) throw new Error(`not a quantity: ${q}`);
  const unit: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(m[1]) * unit[m[2] ?? ''];
}

function labelsMatch(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The seconds a preStop hook waits (exec `sleep N` or the sleep action); 0 without one. */
function preStopSeconds(container: Doc): number {
  const hook = container.lifecycle?.preStop;
  if (!hook) return 0;
  if (hook.sleep) return Number(hook.sleep.seconds);
  const cmd: string[] = hook.exec?.command ?? [];
  if (cmd[0] === 'sleep' && cmd.length === 2 && /^\d+$/.test(cmd[1])) return Number(cmd[1]);
  throw new Error(`preStop of ${container.name} is neither a sleep nor exec sleep N: ${JSON.stringify(hook)}`);
}

describe('Kubernetes manifests (deploy/k8s)', () => {
  const files = yamlFiles(DEPLOY);
  const loaded = loadDocs(files);
  const kustomizations = loaded.filter((l) => l.doc.kind === 'Kustomization');
  const resources = loaded.filter((l) => l.doc.kind !== 'Kustomization');
  const of = (kind: string) =>
    resources.filter((l) => l.doc.kind === kind && !l.file.endsWith('.example.yaml')).map((l) => l.doc);
  /** The one applied (non-example) document of this kind and name. */
  const one = (kind: string, name: string) => {
    const found = resources.filter(
      (l) => l.doc.kind === kind && l.doc.metadata?.name === name && !l.file.endsWith('.example.yaml'),
    );
    if (found.length !== 1) throw new Error(`${found.length} ${kind} named ${name}`);
    return found[0].doc;
  };
  const deployments = of('Deployment');
  const workloads = [...deployments, ...of('Job')];
  const configMap = one('ConfigMap', 'kiln-config');
  const secret = resources.find((l) => l.file === 'secret.example.yaml')!.doc; // the Secret every app reads, as shipped
  const packageVersion = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;

  /** Every container of a Deployment or Job, with the workload it belongs to. */
  const containers = workloads.flatMap((w) =>
    [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers].map((c: Doc) => ({
      workload: w,
      pod: w.spec.template.spec,
      c,
    })),
  );

  /** The environment a container starts with: envFrom (ConfigMap, Secret), then env (which wins). */
  function environment(c: Doc): { env: Record<string, string>; names: string[] } {
    const env: Record<string, string> = {};
    const names: string[] = [];
    for (const from of c.envFrom ?? []) {
      const source = from.configMapRef
        ? one('ConfigMap', from.configMapRef.name).data
        : from.secretRef?.name === secret.metadata.name
          ? secret.stringData
          : undefined;
      if (!source) throw new Error(`${c.name}: envFrom of an unknown source ${JSON.stringify(from)}`);
      for (const [k, v] of Object.entries(source)) {
        env[k] = String(v);
        names.push(k);
      }
    }
    for (const e of c.env ?? []) {
      names.push(e.name);
      if (e.value !== undefined) env[e.name] = String(e.value);
      else if (e.valueFrom?.secretKeyRef) env[e.name] = secret.stringData[e.valueFrom.secretKeyRef.key];
      else if (e.valueFrom?.configMapKeyRef)
        env[e.name] = one('ConfigMap', e.valueFrom.configMapKeyRef.name).data[e.valueFrom.configMapKeyRef.key];
      else throw new Error(`${c.name}: env ${e.name} has no value this test understands`);
    }
    return { env, names };
  }
  /** The configuration a Kiln app container starts with (throws like the app would). */
  const configOf = (c: Doc): KilnConfig => parseConfig(environment(c).env);
  const appOf = (c: Doc): string => /^dist\/apps\/([^/]+)\/src\/main\.js$/.exec(c.args?.[1] ?? '')?.[1] ?? '';

  it('finds the manifests: a kustomization, the three apps, the migrate Job, the example Secret, the KEDA objects', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      'kiln-assembler',
      'kiln-converter',
      'kiln-gateway',
    ]);
    expect(of('Job').map((j) => j.metadata.name)).toEqual(['kiln-migrate']);
    expect(secret).toMatchObject({ kind: 'Secret', metadata: { name: 'kiln-secrets' } });
    expect(of('ScaledObject').map((s) => s.metadata.name)).toEqual(['kiln-converter']);
    expect(kustomizations.map((k) => k.file).sort()).toEqual(['keda/kustomization.yaml', 'kustomization.yaml']);
  });

  it('validates every document against the Kubernetes and KEDA schemas, with no field the schemas do not know', () => {
    const vocabulary = schemaVocabulary();
    expect(vocabulary.size).toBeGreaterThan(500);
    for (const { file, doc } of resources) {
      const Model = modelOf(doc);
      if (!Model) throw new Error(`${file}: no model for ${doc.apiVersion} ${doc.kind}`);
      try {
        new Model(doc).validate();
      } catch (err: unknown) {
        throw new Error(
          `${file}: ${doc.kind} ${doc.metadata?.name} is not valid: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      expect({ file, kind: doc.kind, unknown: unknownFields(doc, vocabulary) }).toEqual({
        file,
        kind: doc.kind,
        unknown: [],
      });
    }
  });

  it('lists every manifest in exactly one kustomization (examples in none), in one namespace, with a pinned image', () => {
    const listed = kustomizations.flatMap(({ file, doc }) =>
      (doc.resources as string[]).map((r) => {
        const target = path.join(path.dirname(file), r);
        expect({ r, exists: existsSync(path.join(DEPLOY, target)) }).toEqual({ r, exists: true });
        return target;
      }),
    );
    const manifests = [...new Set(resources.map((l) => l.file))];
    for (const file of manifests) {
      expect({ file, listed: listed.filter((l) => l === file).length }).toEqual({
        file,
        listed: file.endsWith('.example.yaml') ? 0 : 1,
      });
    }
    const namespaces = new Set(kustomizations.map((k) => k.doc.namespace));
    expect([...namespaces]).toEqual([one('Namespace', 'kiln').metadata.name]);
    expect(secret.metadata.namespace).toBe('kiln');
    const images = kustomizations.flatMap((k) => k.doc.images ?? []);
    expect(images).toEqual([{ name: 'kiln', newTag: packageVersion }]);
  });

  it('pins every image (no latest), one image for every app, and starts each app from a file the build makes', () => {
    for (const { c } of containers) {
      expect(c.image).toMatch(/^[^:@]+(:[\w.-]+|@sha256:[0-9a-f]{64})$/);
      expect(c.image).not.toMatch(/:latest$/);
      expect(c.image).toBe(`kiln:${packageVersion}`);
      // args, not command: the image's entrypoint (tini) reaps ffmpeg children and forwards signals.
      expect(c.command).toBeUndefined();
      expect(c.args[0]).toBe('node');
      const source = path.join(ROOT, c.args[1].replace(/^dist\//, '').replace(/\.js$/, '.ts'));
      expect({ args: c.args, source: existsSync(source) }).toEqual({ args: c.args, source: true });
    }
    expect(deployments.map((d) => appOf(d.spec.template.spec.containers[0])).sort()).toEqual([
      'api-gateway',
      'assembler',
      'converter',
    ]);
  });

  it('reads only Secret and ConfigMap keys that exist, sets only variables Kiln knows, and every app starts with that configuration', () => {
    const known = new Set(Object.keys(configSchema.shape));
    for (const { workload, c } of containers) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref)
          expect({ env: e.name, secret: ref.name, has: ref.key in secret.stringData }).toEqual({
            env: e.name,
            secret: secret.metadata.name,
            has: true,
          });
        expect(ref?.optional).toBeUndefined();
      }
      for (const from of c.envFrom ?? [])
        if (from.configMapRef) expect(from.configMapRef.name).toBe(configMap.metadata.name);
      const { env, names } = environment(c);
      for (const name of names) expect({ name, known: known.has(name) }).toEqual({ name, known: true });
      if (workload.kind === 'Job') {
        expect(names).toEqual(['DATABASE_URL']);
        expect(configSchema.shape.DATABASE_URL.safeParse(env.DATABASE_URL).success).toBe(true);
      } else {
        expect(() => configOf(c)).not.toThrow();
      }
    }
    // Every secret of the example is read by some app, and nothing secret sits in the ConfigMap.
    const read = new Set(
      containers.flatMap(({ c }) => (c.env ?? []).map((e: Doc) => e.valueFrom?.secretKeyRef?.key).filter(Boolean)),
    );
    expect([...read].sort()).toEqual(Object.keys(secret.stringData).sort());
    for (const key of Object.keys(configMap.data)) expect(key).not.toMatch(/KEY|SECRET|TOKEN|PASSWORD|DATABASE_URL/);
  });

  it('points every probe at a port the container declares and the app listens on', () => {
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      const config = configOf(c);
      const listens = appOf(c) === 'api-gateway' ? config.KILN_PORT : config.KILN_WORKER_HTTP_PORT;
      expect(listens).toBeGreaterThan(0);
      const ports: Doc[] = c.ports;
      expect(ports.map((p) => p.containerPort)).toEqual([listens]);
      for (const [probe, pathname] of [
        ['readinessProbe', '/health/ready'],
        ['livenessProbe', '/health/live'],
      ] as const) {
        const get = c[probe]?.httpGet;
        expect({ deployment: d.metadata.name, probe, path: get?.path }).toEqual({
          deployment: d.metadata.name,
          probe,
          path: pathname,
        });
        const port = ports.find((p) =>
          typeof get.port === 'number' ? p.containerPort === get.port : p.name === get.port,
        );
        expect({ deployment: d.metadata.name, probe, port: get.port, declared: !!port }).toEqual({
          deployment: d.metadata.name,
          probe,
          port: get.port,
          declared: true,
        });
      }
    }
  });

  it('gives every Pod time to drain: terminationGracePeriodSeconds > preStop + KILN_SHUTDOWN_GRACE_SECONDS + 15 s', () => {
    const grace: Record<string, number> = {};
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      const c = pod.containers[0];
      const shutdown = configOf(c).KILN_SHUTDOWN_GRACE_SECONDS;
      grace[appOf(c)] = shutdown;
      expect({
        deployment: d.metadata.name,
        ok: pod.terminationGracePeriodSeconds > preStopSeconds(c) + shutdown + WORKER_EXIT_MARGIN_SECONDS,
      }).toEqual({ deployment: d.metadata.name, ok: true });
    }
    // The gateway is behind a Service: it keeps answering while endpoints and proxies forget it.
    expect(preStopSeconds(one('Deployment', 'kiln-gateway').spec.template.spec.containers[0])).toBeGreaterThanOrEqual(
      5,
    );
    // Converters run the longest jobs and drain the longest.
    expect(grace.converter).toBeGreaterThan(grace['api-gateway']);
  });

  it('sets requests and limits, runs as non-root with a read-only root and writable emptyDirs (KILN_TMP_DIR on converters)', () => {
    for (const { workload, pod, c } of containers) {
      const where = `${workload.metadata.name}/${c.name}`;
      for (const resource of ['cpu', 'memory']) {
        const req = c.resources?.requests?.[resource];
        const lim = c.resources?.limits?.[resource];
        expect({ where, resource, set: req !== undefined && lim !== undefined }).toEqual({
          where,
          resource,
          set: true,
        });
        expect({ where, resource, ok: quantity(req) <= quantity(lim) }).toEqual({ where, resource, ok: true });
      }
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      const volumes = new Map<string, Doc>((pod.volumes ?? []).map((v: Doc) => [v.name, v]));
      for (const m of c.volumeMounts ?? [])
        expect({ where, mount: m.name, emptyDir: !!volumes.get(m.name)?.emptyDir }).toEqual({
          where,
          mount: m.name,
          emptyDir: true,
        });
      const mounted = (dir: string) => (c.volumeMounts ?? []).some((m: Doc) => m.mountPath === dir);
      if (workload.kind === 'Deployment') expect({ where, tmp: mounted('/tmp') }).toEqual({ where, tmp: true });
    }
    const converter = one('Deployment', 'kiln-converter').spec.template.spec.containers[0];
    const tmpDir = configOf(converter).KILN_TMP_DIR;
    expect(tmpDir).not.toBe('');
    expect((converter.volumeMounts as Doc[]).some((m) => m.mountPath === tmpDir)).toBe(true);
  });

  it('has a PodDisruptionBudget for each app and Services that select a Deployment and name its ports', () => {
    const podLabels = (d: Doc) => d.spec.template.metadata.labels;
    for (const d of deployments) {
      expect(labelsMatch(d.spec.selector.matchLabels, podLabels(d))).toBe(true);
      const pdbs = of('PodDisruptionBudget').filter((p) => labelsMatch(p.spec.selector.matchLabels, podLabels(d)));
      expect({ deployment: d.metadata.name, pdbs: pdbs.length }).toEqual({ deployment: d.metadata.name, pdbs: 1 });
      const budget = pdbs[0].spec;
      if (budget.minAvailable !== undefined) expect(budget.minAvailable).toBeLessThan(d.spec.replicas ?? 1);
      else expect(budget.maxUnavailable).toBeGreaterThanOrEqual(1);
    }
    for (const s of of('Service')) {
      const selected = deployments.filter((d) => labelsMatch(s.spec.selector, podLabels(d)));
      expect({ service: s.metadata.name, selects: selected.map((d) => d.metadata.name) }).toEqual({
        service: s.metadata.name,
        selects: [s.metadata.name],
      });
      const ports: Doc[] = selected[0].spec.template.spec.containers[0].ports;
      for (const p of s.spec.ports)
        expect({
          service: s.metadata.name,
          port: p.targetPort,
          named: ports.some((cp) => cp.name === p.targetPort),
        }).toEqual({ service: s.metadata.name, port: p.targetPort, named: true });
    }
  });

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
