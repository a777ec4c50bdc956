// Presets end to end: named conversions of one API key, used by name and by id in POST /v1/jobs and
// POST /v1/jobs/{id}/conversions, overridden per conversion, refused when unknown or invalid (with
// nothing stored), invisible to other keys, and deleted without touching the conversions made from
// them. Real gateway, assembler and converter processes, PostgreSQL, Redis, S3 and ffmpeg.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'pg';
import { probe } from '../libs/media/src/probe';
import { makeImage, makeTempDir } from '../libs/media/src/testing';
import { databaseOf } from '../test/e2e-helpers/deliveries';
import { jobEnded } from '../test/e2e-helpers/jobs';
import { Stack, json } from '../test/stack';

jest.setTimeout(300_000);

describe('presets', () => {
  const stack = new Stack();
  let tmp: { dir: string; remove: () => Promise<void> };
  let picture: string;
  let db: Client;
  /** The preset every test builds on: a 64×48 PNG. */
  let thumb: { id: string; name: string };
  /** A job converted with the preset (by name, and by id with an override). */
  let usedJob: string;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-presets-');
    picture = await makeImage({ path: path.join(tmp.dir, 'picture.png'), width: 320, height: 240 });
    await stack.start({ converters: 1 });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await tmp?.remove();
  });

  const post = (pathname: string, body: unknown, key?: string) =>
    stack.api(pathname, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      key,
    });

  const count = async (sql: string, ...params: unknown[]) =>
    Number((await db.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${sql}`, params)).rows[0].n);

  it('creates a preset (catalog-checked, unique per key), lists and gets it by id and by name', async () => {
    const res = await post('/v1/presets', { name: 'thumb', target: 'PNG', options: { width: 64, height: 48 } });
    expect(res.status).toBe(201);
    const created = await json(res);
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'thumb',
      target: 'png',
      category: 'image',
      options: { width: 64, height: 48 },
      created_at: expect.any(String),
    });
    thumb = created;
    const { rows } = await db.query('SELECT name, target, options FROM presets WHERE id = $1', [created.id]);
    expect(rows).toEqual([{ name: 'thumb', target: 'png', options: { width: 64, height: 48 } }]);

    expect(await json(stack.api('/v1/presets'))).toEqual([created]);
    expect(await json(stack.api(`/v1/presets/${created.id}`))).toEqual(created);
    expect(await json(stack.api('/v1/presets/thumb'))).toEqual(created);

    // The same name again: 409, and still one row.
    const dup = await post('/v1/presets', { name: 'thumb', target: 'jpg' });
    expect(dup.status).toBe(409);
    expect((await json(dup)).error).toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('"thumb"'),
      details: [{ field: 'name', message: expect.any(String) }],
    });
    expect(await count('presets')).toBe(1);
  });

  it('refuses an invalid preset with 400 naming the field, storing nothing', async () => {
    const cases: [unknown, string[]][] = [
      [{ name: 'bad', target: 'xyz' }, ['target']],
      [{ name: 'bad', target: 'png', options: { width: 5 } }, ['options.width']],
      [{ name: 'bad', target: 'mp3', options: { crf: 20 } }, ['options.crf']],
      [{ name: '  ', target: 'png' }, ['name']],
      [{ name: '0b7e8c1e-0000-4000-8000-000000000000', target: 'png' }, ['name']],
      [{ target: 'png' }, ['name']],
      [{ name: 'bad', target: 'png', extra: 1 }, ['extra']],
    ];
    for (const [body, fields] of cases) {
      const res = await post('/v1/presets', body);
      expect(res.status).toBe(400);
      const { error } = await json(res);
      expect(error.code).toBe('invalid_input');
      expect(error.details.map((d: { field: string }) => d.field)).toEqual(fields);
    }
    expect(await count('presets')).toBe(1);
  });

  it('converts with the preset by name and by id (own options override), and its options shape the output', async () => {
    const res = await post('/v1/jobs', {
      conversion: [{ preset: 'thumb' }, { preset: thumb.id, options: { width: 32, height: 24 } }],
    });
    expect(res.status).toBe(201);
    const job = await json(res);
    expect(job.conversion.map((c: { target: string; options: unknown }) => [c.target, c.options])).toEqual([
      ['png', { width: 64, height: 48 }],
      ['png', { width: 32, height: 24 }],
    ]);
    usedJob = job.id;
    const form = new FormData();
    form.append('file', new Blob([await readFile(picture)]), 'picture.png');
    expect((await stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form })).status).toBe(201);

    const done = await jobEnded(stack, job.id);
    expect(done.status.code).toBe('completed');
    const outputs = await json(stack.api(`/v1/jobs/${job.id}/output`));
    expect(outputs).toHaveLength(2);
    const sizes: Record<string, [number | null, number | null]> = {};
    for (const o of outputs) {
      const file = path.join(tmp.dir, `${o.id}.png`);
      await writeFile(file, Buffer.from(await (await fetch(o.uri)).arrayBuffer()));
      const info = await probe(file, { timeoutMs: 10_000 });
      expect(info.kind).toBe('image');
      sizes[o.conversion_id] = [info.width, info.height];
    }
    expect(sizes).toEqual({ [job.conversion[0].id]: [64, 48], [job.conversion[1].id]: [32, 24] });
  });

  it('resolves presets in POST /v1/jobs/{id}/conversions: target may restate it, a different target is 400', async () => {
    const job = await json(post('/v1/jobs', { process: false }));
    const same = await post(`/v1/jobs/${job.id}/conversions`, {
      preset: 'thumb',
      target: 'png',
      options: { width: 100 },
    });
    expect(same.status).toBe(201);
    // width overridden, height of the preset removed with null (the aspect ratio is kept).
    const noHeight = await post(`/v1/jobs/${job.id}/conversions`, { preset: 'thumb', options: { height: null } });
    expect(noHeight.status).toBe(201);
    expect([await json(same), await json(noHeight)].map((c) => c.options)).toEqual([
      { width: 100, height: 48 },
      { width: 64 },
    ]);

    const refusals: [unknown, string][] = [
      [{ preset: 'thumb', target: 'jpg' }, 'target'],
      [{ preset: 'thumb', options: { quality: 80 } }, 'options.quality'],
      [{ preset: 'no-such-preset' }, 'preset'],
      [{ options: { width: 64 } }, 'target'],
    ];
    for (const [body, field] of refusals) {
      const res = await post(`/v1/jobs/${job.id}/conversions`, body);
      expect(res.status).toBe(400);
      const { error } = await json(res);
      expect(error).toMatchObject({ code: 'invalid_input', details: [{ field, message: expect.any(String) }] });
    }
    expect(await count('conversions WHERE job_id = $1', job.id)).toBe(2);
  });

  it('refuses an unknown preset in POST /v1/jobs with 400 naming it, and no job row', async () => {
    const jobsBefore = await count('jobs');
    const inputsBefore = await count('inputs');
    const res = await post('/v1/jobs', {
      input: [{ type: 'upload' }],
      conversion: [{ target: 'jpg' }, { preset: 'missing-one' }],
    });
    expect(res.status).toBe(400);
    const { error } = await json(res);
    expect(error).toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('"missing-one"'),
      details: [{ field: 'conversion.1.preset', message: expect.stringContaining('"missing-one"') }],
    });
    expect(await count('jobs')).toBe(jobsBefore);
    expect(await count('inputs')).toBe(inputsBefore);
  });

  it('keeps presets to their key: another key neither sees, uses nor deletes them, and may reuse the name', async () => {
    const other = stack.otherKey;
    expect(await json(stack.api('/v1/presets', { key: other }))).toEqual([]);
    expect((await stack.api(`/v1/presets/${thumb.id}`, { key: other })).status).toBe(404);
    expect((await stack.api('/v1/presets/thumb', { key: other })).status).toBe(404);
    expect((await stack.api(`/v1/presets/${thumb.id}`, { method: 'DELETE', key: other })).status).toBe(404);
    const jobsBefore = await count('jobs');
    const use = await post('/v1/jobs', { conversion: [{ preset: thumb.id }] }, other);
    expect(use.status).toBe(400);
    expect((await json(use)).error.details).toEqual([{ field: 'conversion.0.preset', message: expect.any(String) }]);
    expect(await count('jobs')).toBe(jobsBefore);

    const own = await post('/v1/presets', { name: 'thumb', target: 'jpg', options: { quality: 50 } }, other);
    expect(own.status).toBe(201);
    expect(await count('presets WHERE name = $1', 'thumb')).toBe(2);
    expect((await json(stack.api('/v1/presets/thumb'))).id).toBe(thumb.id);
  });

  it('deletes a preset; conversions made from it keep their target and options', async () => {
    const before = await json(stack.api(`/v1/jobs/${usedJob}/conversions`));
    const del = await stack.api(`/v1/presets/${thumb.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(await count('presets WHERE id = $1', thumb.id)).toBe(0);
    expect((await stack.api(`/v1/presets/${thumb.id}`)).status).toBe(404);
    expect((await stack.api(`/v1/presets/${thumb.id}`, { method: 'DELETE' })).status).toBe(404);
    expect(await json(stack.api('/v1/presets'))).toEqual([]);
    // The other key's preset of the same name is untouched.
    expect(await json(stack.api('/v1/presets', { key: stack.otherKey }))).toHaveLength(1);

    const after = await json(stack.api(`/v1/jobs/${usedJob}/conversions`));
    expect(after).toEqual(before);
    expect(after.map((c: { options: unknown }) => c.options)).toEqual([
      { width: 64, height: 48 },
      { width: 32, height: 24 },
    ]);
    const reuse = await post('/v1/jobs', { conversion: [{ preset: 'thumb' }] });
    expect(reuse.status).toBe(400);
  });
});
