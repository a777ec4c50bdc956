// The workloads of deploy/k8s against Kiln's own code: pinned images started from files the build
// makes, Secret and ConfigMap keys, the configuration each app would start with, probe ports, shutdown
// grace against terminationGracePeriodSeconds, resources and the non-root security context,
// PodDisruptionBudgets and the Services in front of the Deployments.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { configSchema } from '../libs/config/src';
import { ROOT, type Doc, loadManifests } from './k8s-manifests';

/** A worker exits by itself at most this long after its grace period (libs/worker-runtime worker-app.ts). */
const WORKER_EXIT_MARGIN_SECONDS = 15;

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
  const { of, one, deployments, configMap, secret, packageVersion, containers, environment, configOf, appOf } =
    loadManifests();

  it('pins every image (no latest), one image for every app, and starts each app from a file the build makes', () => {
    for (const { c } of containers) {
      expect(c.image).toMatch(/^[^:@]+(:[\w.-]+|@sha256:[0-9a-f]{64})$/);
      expect(c.image).not.toMatch(/:latest$/);
      // One image for every app, and the same image with LibreOffice (the Dockerfile's `document` target) for the document converter.
      expect(c.image).toBe(
        c.name === 'document-converter' ? `kiln-document:${packageVersion}` : `kiln:${packageVersion}`,
      );
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
});
