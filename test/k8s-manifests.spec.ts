// The Kubernetes manifests under deploy/k8s, checked offline: the inventory, every document against the
// Kubernetes (kubernetes-models) and KEDA (@kubernetes-models/keda) schemas with no field they do not
// know, and the kustomizations that list them. What a schema cannot see is checked beside this file:
// the workloads (k8s-workloads.spec.ts) and the converter autoscaling (k8s-autoscaling.spec.ts).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEPLOY, ROOT, type Doc, loadManifests } from './k8s-manifests';

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

describe('Kubernetes manifests (deploy/k8s)', () => {
  const { kustomizations, resources, of, one, deployments, secret, packageVersion } = loadManifests();

  it('finds the manifests: a kustomization, the three apps, the migrate Job, the example Secret, the KEDA objects', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      'kiln-assembler',
      'kiln-converter',
      'kiln-document-converter',
      'kiln-gateway',
    ]);
    expect(of('Job').map((j) => j.metadata.name)).toEqual(['kiln-migrate']);
    expect(secret).toMatchObject({ kind: 'Secret', metadata: { name: 'kiln-secrets' } });
    expect(of('ScaledObject').map((s) => s.metadata.name)).toEqual(['kiln-converter', 'kiln-document-converter']);
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
    expect(images).toEqual([
      { name: 'kiln', newTag: packageVersion },
      { name: 'kiln-document', newTag: packageVersion },
    ]);
  });
});
