import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { KilnError, findTarget, validateOptions, type ErrorDetail, type PresetView } from '@kiln/contracts';
import { PRISMA, type Preset, type PrismaClient } from '@kiln/database';
import type { Principal } from '../auth/principal';
import { parseOrThrow } from '../http/validation';
import { categoryProblem, type ConversionRequest, type ConversionSpec } from './jobs.schemas';
import { createPresetBody } from './presets.schemas';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function presetView(p: Preset): PresetView {
  return {
    id: p.id,
    name: p.name,
    target: p.target,
    category: p.category,
    options: p.options as Record<string, unknown>,
    created_at: p.createdAt.toISOString(),
  };
}

/**
 * Presets: named conversions of one API key (online-convert has them). A conversion that names one
 * gets its target and options, its own options overriding; what is stored on the conversion is the
 * result, so deleting or re-creating a preset changes no conversion already made.
 */
@Injectable()
export class PresetsService {
  constructor(@Inject(PRISMA) private readonly prisma: PrismaClient) {}

  async create(principal: Principal, body: unknown): Promise<PresetView> {
    const spec = parseOrThrow(createPresetBody, body);
    const target = findTarget(spec.target)!;
    const row = {
      id: randomUUID(),
      ownerKeyHash: principal.ownerKeyHash,
      name: spec.name,
      target: target.target,
      category: target.category,
      options: (spec.options ?? {}) as object,
    };
    // The unique (key, name) index decides, also between two requests at once.
    const { count } = await this.prisma.preset.createMany({ data: [row], skipDuplicates: true });
    if (!count) {
      throw new KilnError('conflict', `A preset named "${spec.name}" already exists for this API key.`, [
        { field: 'name', message: 'already used by another preset of this API key' },
      ]);
    }
    return presetView(await this.prisma.preset.findUniqueOrThrow({ where: { id: row.id } }));
  }

  async list(principal: Principal): Promise<PresetView[]> {
    const rows = await this.prisma.preset.findMany({
      where: { ownerKeyHash: principal.ownerKeyHash },
      orderBy: [{ name: 'asc' }],
    });
    return rows.map(presetView);
  }

  async get(principal: Principal, ref: string): Promise<PresetView> {
    const preset = await this.find(principal, ref);
    if (!preset) throw new KilnError('not_found', 'No such preset.');
    return presetView(preset);
  }

  async remove(principal: Principal, ref: string): Promise<void> {
    const preset = await this.find(principal, ref);
    const gone = preset
      ? await this.prisma.preset.deleteMany({ where: { id: preset.id, ownerKeyHash: principal.ownerKeyHash } })
      : { count: 0 };
    if (!gone.count) throw new KilnError('not_found', 'No such preset.');
  }

  /**
   * The conversions of a request with their presets applied, checked against the catalog; `prefix`
   * starts the field names in errors (`conversion.<i>.` inside POST /v1/jobs). Nothing is stored: a
   * refusal here leaves no row behind.
   */
  async resolveAll(
    principal: Principal,
    conversions: ConversionRequest[],
    prefix: (n: number) => string,
  ): Promise<ConversionSpec[]> {
    const refs = [...new Set(conversions.flatMap((c) => (c.preset === undefined ? [] : [c.preset])))];
    const found = refs.length ? await this.findMany(principal, refs) : [];
    const problems: ErrorDetail[] = [];
    const resolved = conversions.map((c, n) => {
      return this.resolve(c, found, (f, message) => problems.push({ field: `${prefix(n)}${f}`, message }));
    });
    if (problems.length) {
      const first = problems[0];
      throw new KilnError('invalid_input', `Invalid body: ${first.field}: ${first.message}`, problems);
    }
    return resolved as ConversionSpec[];
  }

  /** One conversion with its preset applied (none: as given); problems reported by field. */
  private resolve(
    c: ConversionRequest,
    presets: Preset[],
    problem: (field: string, message: string) => void,
  ): ConversionSpec | null {
    if (c.preset === undefined) return { target: c.target!, options: c.options };
    const preset = presets.find((p) => p.id === c.preset) ?? presets.find((p) => p.name === c.preset?.trim());
    if (!preset) {
      problem('preset', `no preset "${c.preset}" for this API key; see GET /v1/presets`);
      return null;
    }
    if (c.target !== undefined) {
      const own = findTarget(c.target);
      if (!own) {
        problem('target', `unknown target "${c.target}"; see GET /v1/formats`);
        return null;
      }
      if (own.target !== preset.target) {
        problem(
          'target',
          `the preset "${preset.name}" converts to ${preset.target}, not ${own.target}; leave target out or make them agree`,
        );
        return null;
      }
    }
    // The conversion's options override the preset's; an option set to null removes the preset's value.
    const merged: Record<string, unknown> = { ...(preset.options as Record<string, unknown>) };
    for (const [name, value] of Object.entries(c.options ?? {})) {
      if (value === null) delete merged[name];
      else merged[name] = value;
    }
    const spec = findTarget(preset.target);
    if (!spec) {
      problem('preset', `the preset "${preset.name}" converts to ${preset.target}, which this server no longer offers`);
      return null;
    }
    const wrongCategory = categoryProblem(c.category, spec);
    if (wrongCategory) problem('category', wrongCategory);
    const bad = validateOptions(spec, merged);
    for (const p of bad) problem(p.field, `${p.message} (with the preset "${preset.name}")`);
    return bad.length || wrongCategory ? null : { target: spec.target, options: merged };
  }

  private find(principal: Principal, ref: string): Promise<Preset | null> {
    const ownerKeyHash = principal.ownerKeyHash;
    return this.prisma.preset.findFirst({
      where: UUID.test(ref) ? { id: ref, ownerKeyHash } : { name: ref.trim(), ownerKeyHash },
    });
  }

  private findMany(principal: Principal, refs: string[]): Promise<Preset[]> {
    const ids = refs.filter((r) => UUID.test(r));
    const names = refs.filter((r) => !UUID.test(r)).map((r) => r.trim());
    return this.prisma.preset.findMany({
      where: {
        ownerKeyHash: principal.ownerKeyHash,
        OR: [...(ids.length ? [{ id: { in: ids } }] : []), ...(names.length ? [{ name: { in: names } }] : [])],
      },
    });
  }
}
