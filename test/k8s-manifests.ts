// The Kubernetes manifests under deploy/k8s, loaded for the manifest specs (k8s-manifests.spec.ts,
// k8s-workloads.spec.ts, k8s-autoscaling.spec.ts): every YAML document, and the context the checks
// share (documents by kind and name, containers, the environment and configuration each app starts with).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig, type KilnConfig } from '../libs/config/src';

export const ROOT = path.resolve(__dirname, '..');
export const DEPLOY = path.join(ROOT, 'deploy/k8s');

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked by the assertions
export type Doc = Record<string, any>;
export interface Loaded {
  file: string;
  doc: Doc;
}

export function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(full);
    return /\.ya?ml$/.test(e.name) ? [full] : [];
  });
}

export function loadDocs(files: string[]): Loaded[] {
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

/**
 * The manifests as one context: every document, the applied ones by kind and name, the workloads and
 * their containers, the shipped ConfigMap and Secret, and the environment and configuration each
 * container starts with.
 */
export function loadManifests() {
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
  return {
    kustomizations,
    resources,
    of,
    one,
    deployments,
    workloads,
    configMap,
    secret,
    packageVersion,
    containers,
    environment,
    configOf,
    appOf,
  };
}
